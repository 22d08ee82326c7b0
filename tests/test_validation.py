"""Classes of stack-config mistakes that AWS would reject, or that silently weaken DR, refused before anything
is declared: one line naming the key (`dr:...`), exit 2 from drctl, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components.config import ConfigError, parse_stack_config
from components.config_base import ENDPOINT_PREFIXES, REGION_SERVICES, commercial_regions, partition_regions
from components.powertools import LAYER_REGIONS
from components.sites.ecs.config import FARGATE_MEMORY_MIB
from components.stack_file import check_stack_file
from drctl.stackfile import MAX_VALUES, StackFileError, load_stack_config
from tests.stack_values import dr_values

ROOT = Path(__file__).resolve().parent.parent
SECRETS = frozenset({"appSecrets"})


def _error(mutate, stack="prod", secret_keys=frozenset()) -> ConfigError:
    values = dr_values(stack)
    mutate(values)
    with pytest.raises(ConfigError) as info:
        parse_stack_config(values, secret_keys)
    return info.value


def _set(path: str, value):
    """A mutation that sets `a.b.c` (creating objects on the way)."""

    def mutate(values):
        *parents, last = path.split(".")
        node = values
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value

    return mutate


CASES = [
    # regions: only the commercial partition, and only names that exist there
    (_set("regions.secondaries", ["us-gov-west-1"]), "dr:regions.secondaries[0]", "aws-us-gov partition"),
    (_set("regions.primary", "cn-north-1"), "dr:regions.primary", "aws-cn partition"),
    (_set("regions.primary", "us-east-7"), "dr:regions.primary", "not an AWS region of the commercial partition"),
    (_set("regions.primary", "us-eastt-1"), "dr:regions.primary", "did you mean us-east-1?"),
    # capacity the billing mode ignores
    (_set("table.readCapacity", 5), "dr:table.readCapacity", "ignored with billingMode PAY_PER_REQUEST"),
    (_set("table.writeCapacity", 5), "dr:table.writeCapacity", "ignored with billingMode PAY_PER_REQUEST"),
    # Fargate sizes that do not exist
    (lambda v: v["app"].update(cpu=256, memory=4096), "dr:app.memory", "does not offer 4096 MiB with cpu 256"),
    (lambda v: v["app"].update(cpu=1024, memory=1536), "dr:app.memory", "2048 to 8192 in steps of 1024"),
    (_set("app.cpu", 300), "dr:app.cpu", "Input should be"),
    # the same subnet twice
    (
        _set(
            "network",
            {"us-east-1": {"vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-01234567", "subnet-01234567"]}},
        ),
        "dr:network.us-east-1.subnetIds[1]",
        "subnet-01234567 is listed twice",
    ),
    # image references
    (_set("app.image", "Orders:1.4"), "dr:app.image", "must be lowercase"),
    (_set("app.image", "public.ecr.aws/example/orders:"), "dr:app.image", "not a container image reference"),
    (_set("app.image", "https://example.com/orders"), "dr:app.image", "not a container image reference"),
    (_set("app.image", "orders@sha256:abc"), "dr:app.image", "not a container image reference"),
    # a boolean, string or float where a number is expected (YAML `true` is not 1)
    (_set("app.port", True), "dr:app.port", "valid integer (got True)"),
    (_set("app.desiredCount", "6"), "dr:app.desiredCount", "valid integer (got '6')"),
    (_set("healthCheck.failureThreshold", True), "dr:healthCheck.failureThreshold", "valid integer"),
    (_set("objectives.rtoSeconds", 120.5), "dr:objectives.rtoSeconds", "valid integer"),
    (_set("protect", 0), "dr:protect", "valid boolean"),
    (_set("protect", "no"), "dr:protect", "valid boolean"),
    # health paths
    (_set("healthCheck.path", "health"), "dr:healthCheck.path", "absolute URL path"),
    (_set("healthCheck.path", "//evil.example.com/health"), "dr:healthCheck.path", "absolute URL path"),
    (_set("app.healthPath", "/he alth"), "dr:app.healthPath", "absolute URL path"),
    (_set("healthCheck.path", "/" + "h" * 255), "dr:healthCheck.path", "at most 255"),
    # CIDRs (a traceback and exit 1 before)
    (_set("network", {"us-east-2": {"cidr": "10.999.0.0/16"}}), "dr:network.us-east-2.cidr", "not an IPv4 network"),
    (_set("network", {"us-east-2": {"cidr": "10.20.0.1/16"}}), "dr:network.us-east-2.cidr", "host bits set"),
    (_set("network", {"us-east-2": {"cidr": "10.20.0.0/24"}}), "dr:network.us-east-2.cidr", "use /16 to /19"),
    (_set("network", {"us-east-2": {"cidr": "8.8.0.0/16"}}), "dr:network.us-east-2.cidr", "not a private range"),
    (
        _set("network", {"us-east-2": {"cidr": "10.10.128.0/19"}}),
        "dr:network.us-east-2.cidr",
        "overlaps 10.10.0.0/16 (us-east-1)",
    ),
    # certificates for only some regions
    (lambda v: v["dns"]["certificateArns"].pop("us-west-2"), "dr:dns.certificateArns.us-west-2", "no 443 listener"),
    # names the stack would derive past DNS limits
    (_set("dns.recordName", ".".join(["a" * 60] * 4) + ".com"), "dr:dns.recordName", "DNS names stop at 253"),
    # user variables that collide with the ones the stack sets
    (_set("app.environment.DR_TABLE", "mine"), "dr:app.environment.DR_TABLE", "set by the stack"),
    (_set("app.environment.AWS_REGION", "eu-west-1"), "dr:app.environment.AWS_REGION", "set by the stack or by ECS"),
    (_set("app.environment.bad-name", "x"), "dr:app.environment.bad-name", "not an environment variable name"),
    # keys that no longer exist are mistakes like any other unknown key
    (_set("failover.powertoolsLayerVersion", 27), "dr:failover.powertoolsLayerVersion", "unknown key"),
]


@pytest.mark.parametrize("mutate, key, words", CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_each_class_of_mistake_names_its_key(mutate, key, words):
    err = _error(mutate)
    assert err.key == key, str(err)
    assert words in err.message, str(err)
    assert "\n" not in str(err)


def test_secrets_collide_and_never_echo_their_value():
    err = _error(_set("appSecrets", {"DR_APP": "not-shown-1"}), secret_keys=SECRETS)
    assert err.key == "dr:appSecrets.DR_APP" and "not-shown-1" not in str(err)
    err = _error(
        lambda v: (
            v["app"]["environment"].__setitem__("API_TOKEN", "x"),
            v.__setitem__("appSecrets", {"API_TOKEN": "not-shown-2"}),
        ),
        secret_keys=SECRETS,
    )
    assert err.key == "dr:app.environment.API_TOKEN" and "also in dr:appSecrets" in err.message
    err = _error(_set("appSecrets", {"API_TOKEN": 424242}), secret_keys=SECRETS)
    assert err.key == "dr:appSecrets.API_TOKEN" and "424242" not in str(err)


def test_production_is_read_from_config():
    assert parse_stack_config(dr_values("prod")).production is True
    assert parse_stack_config(dr_values("staging")).production is False
    values = dr_values("staging")
    values.pop("production")
    assert parse_stack_config(values).production is True  # a stack is production unless it says otherwise


def test_fargate_pairs_accepted_exactly_as_offered():
    for cpu, sizes in FARGATE_MEMORY_MIB.items():
        for memory in (sizes[0], sizes[-1]):
            values = dr_values("prod")
            values["app"].update(cpu=cpu, memory=memory)
            assert parse_stack_config(values).app.memory == memory
        values = dr_values("prod")
        values["app"].update(cpu=cpu, memory=sizes[-1] + 1024)
        with pytest.raises(ConfigError):
            parse_stack_config(values)


INTEGER_KEYS = [
    "app.port",
    "app.cpu",
    "app.memory",
    "app.desiredCount",
    "app.standbyDesiredCount",
    "healthCheck.interval",
    "healthCheck.failureThreshold",
    "failover.monitorIntervalMinutes",
    "failover.failureThreshold",
    "failover.minDwellSeconds",
    "failover.clientCacheSeconds",
    "objectives.rtoSeconds",
    "objectives.rpoSeconds",
]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(INTEGER_KEYS), st.sampled_from([True, False, "1", 1.5, None]))
def test_no_number_key_takes_a_boolean_string_or_fraction(path, value):
    err = _error(_set(path, value))
    assert err.key == "dr:" + path, str(err)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(commercial_regions() & LAYER_REGIONS)))
def test_every_commercial_region_with_the_powertools_layer_is_accepted(region):
    values = dr_values("staging")
    values["regions"] = {"primary": region, "secondaries": ["us-east-1" if region != "us-east-1" else "us-east-2"]}
    values.pop("network")
    values["failover"]["mode"] = "manual"  # regions of different sets: no strongly consistent control table
    values["failover"]["failback"] = "manual"
    assert parse_stack_config(values).regions.primary == region


def test_the_region_lists_are_what_botocore_s_session_answers():
    """The config reads botocore's endpoint data directly (the session loads every service model); same answers."""
    import botocore.session

    session = botocore.session.get_session()
    for service in (*REGION_SERVICES, "ec2"):
        prefix = session.get_service_data(service)["metadata"]["endpointPrefix"]
        assert ENDPOINT_PREFIXES.get(service, service) == prefix, service
    expected = {
        p: frozenset(session.get_available_regions("ec2", partition_name=p)) for p in session.get_available_partitions()
    }
    assert partition_regions() == expected and len(expected["aws-us-gov"]) >= 2
    commercial = set(expected["aws"])
    for service in REGION_SERVICES:
        commercial &= set(session.get_available_regions(service, partition_name="aws"))
    assert commercial_regions() == commercial and {"us-east-1", "eu-west-1", "ap-northeast-3"} <= commercial


# -- the stack file -----------------------------------------------------------------------------------
def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(text)
    return path


def test_duplicate_keys_are_refused_naming_the_line(tmp_path):
    """The last one used to win: a second `dr:protect: false` unprotected the tables."""
    path = _write(tmp_path, "config:\n  dr:layout: aws\n  dr:protect: true\n  dr:protect: false\n")
    with pytest.raises(StackFileError) as info:
        load_stack_config(ROOT, "x", path)
    assert str(info.value) == (
        "Pulumi.x.yaml line 4: duplicate key 'dr:protect'; keys must be unique (the last one would silently win)"
    )
    nested = _write(tmp_path, "config:\n  dr:app:\n    name: a\n    name: b\n")
    with pytest.raises(StackFileError, match="line 4: duplicate key 'name'"):
        load_stack_config(ROOT, "x", nested)


def test_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ["lol: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    text = "config:\n  dr:bomb:\n" + "\n".join("    " + line for line in lines) + "\n"
    assert len(text) < 1300  # the 1.2 KB file that took 58 s and 3 GB
    with pytest.raises(StackFileError, match=f"expands to more than {MAX_VALUES} values"):
        load_stack_config(ROOT, "x", _write(tmp_path, text))


def test_yaml_1_2_like_the_cli(tmp_path):
    """`yes` is a string for the Pulumi CLI (YAML 1.2): it must not become true here."""
    config, _ = load_stack_config(ROOT, "x", _write(tmp_path, "config:\n  dr:protect: yes\n  dr:app: {a: on}\n"))
    assert config["dr:protect"] == "yes" and json.loads(config["dr:app"]) == {"a": "on"}


def test_plain_value_beside_secure_ones_is_refused(tmp_path):
    text = (
        "config:\n  dr:appSecrets:\n    API_TOKEN:\n      secure: v1:AAAAdummy\n"
        "    DB_URL: postgres://u:plain-dummy@h/db\n"
    )
    path = _write(tmp_path, text)
    with pytest.raises(StackFileError) as info:
        load_stack_config(ROOT, "x", path)
    assert str(info.value).startswith("dr:appSecrets.DB_URL: is plain text in Pulumi.x.yaml beside secure values")
    assert "plain-dummy" not in str(info.value)
    with pytest.raises(ConfigError) as program_side:  # the same check in the program, under the real CLI
        check_stack_file(path)
    assert program_side.value.key == "dr:appSecrets.DB_URL"
    check_stack_file(tmp_path / "Pulumi.absent.yaml")  # no stack file where the CLI keeps it: nothing to check


def drctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drctl", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "mutate, line",
    [
        (
            lambda c: c.__setitem__("dr:network", {"us-east-2": {"cidr": "10.999.0.0/16"}}),
            "error: dr:network.us-east-2.cidr: '10.999.0.0/16' is not an IPv4 network in CIDR notation",
        ),
        (lambda c: c["dr:app"].__setitem__("port", True), "error: dr:app.port: Input should be a valid integer"),
    ],
)
def test_preview_exits_2_with_one_line(tmp_path, mutate, line):
    doc = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    mutate(doc["config"])
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(yaml.safe_dump(doc))
    run = drctl("preview", "--stack", "broken", "--stack-file", str(path))
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and run.stderr.startswith(line), run.stderr
    assert run.stdout == ""


def test_plain_values_are_found_at_any_depth_of_the_secret_keys():
    """The engine marks a whole key secret when any value inside it is secure: only the stack file shows a plain
    value beside them, two levels down in dr:siteSecrets, or a whole plain site entry."""
    from components.stack_file import plain_values_under_secret_keys

    secure = {"secure": "v1:ZHVtbXk="}
    config = {
        "dr:siteSecrets": {
            "gra": {"statsPassword": secure, "sshPrivateKey": "dummy"},
            "rbx": {"statsPassword": "dummy-password", "sshPrivateKey": "dummy"},
            "sbg": "dummy",
        },
        "dr:appSecrets": {"A": secure, "B": "dummy"},
        "digitalocean:token": "dummy",
        "ovh:consumerKey": secure,
    }
    assert plain_values_under_secret_keys(config) == [
        "dr:appSecrets.B",
        "dr:siteSecrets.gra.sshPrivateKey",
        "dr:siteSecrets.rbx.statsPassword",
        "dr:siteSecrets.rbx.sshPrivateKey",
        "dr:siteSecrets.sbg",
        "digitalocean:token",
    ]
    # all plain: the engine does not mark the key secret, and parse_stack_config refuses it
    assert plain_values_under_secret_keys({"dr:siteSecrets": {"gra": {"statsPassword": "x"}}}) == []
