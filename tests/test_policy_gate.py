"""The policy gate's holes, closed: the policy-config file is validated like the CLI does (and unknown policy
names too), secrets are found by value as well as by name, and remediate blocks like mandatory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from policies.levels import PolicyConfigError, effective_levels, load_policy_config, parse_policy_config
from policies.offline import Violation, levels_for
from policies.pack import build_policies
from tests.test_policies import run_resource_policy

ROOT = Path(__file__).resolve().parent.parent
NAMES = [p.name for p in build_policies()]


def _parse(text: str) -> dict:
    return parse_policy_config(text, NAMES, "cfg.json")


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '{"dns-failover-ttl": "mandtory"}',
            "cfg.json: 'dns-failover-ttl': 'mandtory' is not an enforcement level (advisory, mandatory, remediate, "
            "disabled); did you mean mandatory?",
        ),
        ('{"all": "off"}', "cfg.json: 'all': 'off' is not an enforcement level"),
        (
            '{"dns-failover-tll": "advisory"}',
            "cfg.json: 'dns-failover-tll' is not a policy of this pack (did you mean dns-failover-ttl? policies:",
        ),
        ('{"dns-failover-ttl": {"enforcementLevel": "advisary"}}', "cfg.json: 'dns-failover-ttl': 'advisary' is not"),
        ('{"dns-failover-ttl": {"level": "advisory"}}', "cfg.json: 'dns-failover-ttl': unknown property 'level'"),
        ('{"dns-failover-ttl": {}}', "cfg.json: 'dns-failover-ttl': the object has no 'enforcementLevel'"),
        ('{"dns-failover-ttl": 3}', "cfg.json: 'dns-failover-ttl': 3 is neither an enforcement level nor an object"),
        ('{"dns-failover-ttl": "advisory",}', "cfg.json line 1 column 33: not valid JSON"),
        ('["dns-failover-ttl"]', "cfg.json: must be a JSON object of policy name -> enforcement level"),
    ],
)
def test_policy_config_mistakes_are_one_line(text, message):
    with pytest.raises(PolicyConfigError) as info:
        _parse(text)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_policy_config_levels_apply_in_the_clis_order():
    defaults = dict.fromkeys(NAMES, "mandatory")
    assert _parse("  \n") == {}  # an empty file is an empty config, as for the CLI
    overrides = _parse('{"all": "advisory", "rto-rpo-budget": {"enforcementLevel": "remediate"}}')
    levels = effective_levels(defaults, overrides)
    assert levels["rto-rpo-budget"] == "remediate" and levels["dns-failover-ttl"] == "advisory"
    assert set(levels) == set(NAMES)


def test_missing_file_given_explicitly_is_an_error(tmp_path):
    with pytest.raises(PolicyConfigError, match="no such policy config file"):
        load_policy_config(tmp_path / "absent.json", NAMES)
    with pytest.raises(PolicyConfigError, match="no such policy config file"):
        levels_for("prod", build_policies(), tmp_path / "absent.json")
    assert set(levels_for("nostack", build_policies()).values()) == {"mandatory"}  # no default file: defaults


@pytest.mark.parametrize("path", sorted((ROOT / "policies").glob("config.*.json")), ids=lambda p: p.name)
def test_shipped_policy_configs_are_valid(path):
    assert load_policy_config(path, NAMES)


def test_the_cli_tells_where_a_level_is_set():
    """The Pulumi CLI prints a policy's description with each violation."""
    for policy in build_policies():
        assert policy.description.endswith("is set in the file given as --policy-pack-config."), policy.name


def test_remediate_blocks_like_mandatory():
    assert Violation("p", "remediate", None, "m").blocking and Violation("p", "mandatory", None, "m").blocking
    assert not Violation("p", "advisory", None, "m").blocking


def drctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drctl", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "content, words",
    [
        ('{"dynamodb-protected-in-prod": "mandtory"}', "is not an enforcement level"),
        ("{not json", "not valid JSON"),
        (None, "no such policy config file"),
    ],
)
def test_preview_refuses_a_bad_policy_config_before_running(tmp_path, content, words):
    path = tmp_path / "policy.json"
    if content is not None:
        path.write_text(content)
    run = drctl("preview", "--stack", "staging", "--policy-config", str(path))
    assert run.returncode == 2 and run.stdout == "", run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and words in run.stderr and "Traceback" not in run.stderr


# -- no-plaintext-secrets, by value ---------------------------------------------------------------------
FN = "aws:lambda/function:Function"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
# Well-known documentation dummies, never real credentials.
CREDENTIALS = [
    ("CONFIG", "AKIAIOSFODNN7EXAMPLE", "AWS Access Key"),
    ("DATABASE_URL", "postgres://admin:hunter2dummy@db.example.com:5432/orders", "Basic Auth Credentials"),
    (
        "FEATURE",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "JSON Web Token",
    ),
    ("CERT", "-----BEGIN RSA PRIVATE KEY-----", "Private Key"),
    ("OPAQUE", "q8Xz3LmN0pR7sT2vW9yB4dF6hJ1kQ5uE", "High Entropy String"),
]


@pytest.mark.parametrize("name, value, kind", CREDENTIALS, ids=[c[0] for c in CREDENTIALS])
def test_credential_values_are_found_under_innocent_names(name, value, kind):
    lam = run_resource_policy("no-plaintext-secrets", FN, {"environment": {"variables": {name: value}}})
    containers = json.dumps([{"environment": [{"name": name, "value": value}]}])
    task = run_resource_policy("no-plaintext-secrets", TASK, {"containerDefinitions": containers})
    for messages in (lam, task):
        assert len(messages) == 1 and name in messages[0] and kind in messages[0], messages
        assert value not in messages[0]


def test_the_stacks_own_values_are_not_credentials():
    env = {
        "DR_TOPIC_ARNS": json.dumps(
            {"us-east-1": "arn:aws:sns:us-east-1:123456789012:orders-notify-us-east-1-topic-1a2b3c4"}
        ),
        "DR_HEALTH_URLS": json.dumps({"us-east-1": "https://us-east-1.api.orders.example.com/health"}),
        "DR_SERVICES": json.dumps({"us-east-1": {"cluster": "orders-prod", "service": "orders", "desiredCount": 6}}),
        "DR_REGIONS": "us-east-1,us-east-2,us-west-2",
        "LOG_LEVEL": "info",
        "DR_CACHE_SECONDS": "5",
        "IMAGE": "public.ecr.aws/example/orders:1.4.2",
        "DR_ACTIVE_REGION_PARAMETER": "/orders/prod/active_region",
    }
    assert run_resource_policy("no-plaintext-secrets", FN, {"environment": {"variables": env}}) == []


def test_a_named_secret_is_reported_once():
    messages = run_resource_policy(
        "no-plaintext-secrets", FN, {"environment": {"variables": {"API_TOKEN": "AKIAIOSFODNN7EXAMPLE"}}}
    )
    assert len(messages) == 1 and "API_TOKEN looks like a secret" in messages[0]


def test_preview_refuses_a_plain_value_beside_secure_ones(tmp_path):
    text = (ROOT / "Pulumi.prod.yaml").read_text() + (
        "  dr:appSecrets:\n    API_TOKEN:\n      secure: v1:AAAAdummy\n    DB_PASSWORD: plain-dummy-value\n"
    )
    path = tmp_path / "Pulumi.mixed.yaml"
    path.write_text(text)
    run = drctl("preview", "--stack", "mixed", "--stack-file", str(path))
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("error: dr:appSecrets.DB_PASSWORD: is plain text in Pulumi.mixed.yaml")
    assert "plain-dummy-value" not in run.stderr + run.stdout
