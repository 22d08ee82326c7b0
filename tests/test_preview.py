"""The offline preview as a user runs it: a subprocess of `python -m drctl preview`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def drctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drctl", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def prod() -> dict:
    run = drctl("preview", "--stack", "prod", "--json")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_prod_document_shape(prod):
    assert (prod["stack"], prod["layout"]) == ("prod", "aws")
    assert set(prod["budget"]) >= {
        "detectionSeconds",
        "trafficRtoSeconds",
        "writeRtoSeconds",
        "rpoSeconds",
        "objectives",
    }
    assert prod["budget"]["objectives"] == {"rtoSeconds": 120, "rpoSeconds": 0}
    for r in prod["resources"]:
        assert set(r) == {"urn", "type", "name", "parent", "region", "inputs", "options"}
        assert set(r["options"]) == {"protect", "ignoreChanges", "dependsOn"}


def test_prod_topology(prod):
    res = prod["resources"]
    by_type = Counter(r["type"] for r in res)
    assert by_type["pulumi:providers:aws"] == 3
    assert by_type["aws:ecs/service:Service"] == 3 and by_type["aws:route53/healthCheck:HealthCheck"] == 3
    fns = [r for r in res if r["type"] == "aws:lambda/function:Function"]
    # every region observes the others, so whichever region is active when it fails, another one detects it
    assert sorted(f["region"] for f in fns) == ["us-east-1", "us-east-2", "us-west-2"]
    all_alarms = [r for r in res if r["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm"]
    alarms = [a for a in all_alarms if a["inputs"]["metricName"] == "HealthCheckStatus"]
    assert {a["region"] for a in alarms} == {"us-east-1"} and len(alarms) == 3
    # besides the health alarms, one per region on its orchestrator's errors, to that region's notice topic
    errors = [a for a in all_alarms if a not in alarms]
    assert sorted((a["region"], a["inputs"]["namespace"], a["inputs"]["metricName"]) for a in errors) == [
        (r, "DynamoDR/Orchestrator", "Errors") for r in ("us-east-1", "us-east-2", "us-west-2")
    ]
    tables = [r for r in res if r["type"] == "aws:dynamodb/table:Table"]
    assert all(t["options"]["protect"] for t in tables)
    data = next(t for t in tables if t["inputs"]["name"] == "orders-prod")
    assert {r["consistencyMode"] for r in data["inputs"]["replicas"]} == {"STRONG"}
    env = fns[0]["inputs"]["environment"]["variables"]
    assert env["DR_REGIONS"] == "us-east-1,us-east-2,us-west-2"
    assert "DR_RPO_SECONDS" not in env  # MRSC: RPO 0 by construction, no lag gate
    assert json.loads(env["DR_HEALTH_URLS"])["us-west-2"] == "https://us-west-2.api.orders.example.com/health"
    assert set(json.loads(env["DR_ALARM_REGIONS"]).values()) == {"us-east-1", "us-east-2", "us-west-2"}
    assert prod["outputs"]["activeRegionParameter"] == "/orders/prod/active_region"
    assert set(prod["outputs"]["orchestratorFunctionArns"]) == {"us-east-1", "us-east-2", "us-west-2"}
    # Route 53 checks the route path (traffic follows writes); the monitor probes the plain health path
    checks = [r for r in res if r["type"] == "aws:route53/healthCheck:HealthCheck"]
    assert {c["inputs"]["resourcePath"] for c in checks} == {"/health/route"}
    # alarms publish to their own topic, which only the orchestrators and people subscribe to; transition
    # notices go to the per-region topics, so a notice never re-invokes an orchestrator
    alarm_topic = prod["outputs"]["alarmTopicArn"]
    assert {a["inputs"]["alarmActions"][0] for a in alarms} == {alarm_topic}
    assert alarm_topic not in json.loads(env["DR_TOPIC_ARNS"]).values()
    notices = json.loads(env["DR_TOPIC_ARNS"])
    assert {a["region"]: a["inputs"]["alarmActions"] for a in errors} == {r: [arn] for r, arn in notices.items()}
    subs = [
        r
        for r in res
        if r["type"] == "aws:sns/topicSubscription:TopicSubscription" and r["inputs"]["protocol"] == "lambda"
    ]
    assert len(subs) == 3 and {s["inputs"]["topic"] for s in subs} == {alarm_topic}
    # hot standby: full size everywhere, nothing to scale
    assert {r["inputs"]["desiredCount"] for r in res if r["type"] == "aws:ecs/service:Service"} == {6}
    assert {t["kind"] for t in json.loads(env["DR_SCALE_TARGETS"]).values()} == {"none"}
    assert prod["budget"]["writeRtoSeconds"] <= 45 and prod["budget"]["writePath"] == "monitor"
    # every AWS resource has its region's explicit provider
    assert all(r["region"] for r in res if r["type"].startswith("aws:"))


def test_the_runtime_parses_what_the_program_writes(prod):
    from failover.settings import load_settings

    for fn in (r for r in prod["resources"] if r["type"] == "aws:lambda/function:Function"):
        settings = load_settings(fn["inputs"]["environment"]["variables"])
        assert settings.home_region == fn["region"]
        assert settings.regions == ("us-east-1", "us-east-2", "us-west-2")
        assert (settings.probe_interval_seconds, settings.probe_timeout_seconds, settings.failure_threshold) == (
            10,
            3,
            3,
        )
        assert settings.monitor_window_seconds == 75 and fn["inputs"]["timeout"] > 75
        assert set(settings.alarm_regions.values()) == set(settings.regions)
        assert {t.kind for t in settings.scale_targets.values()} == {"none"}


def test_human_preview_shows_tree_counts_and_budget():
    run = drctl("preview", "--stack", "staging")
    assert run.returncode == 0, run.stderr
    for words in ("stack staging", "dr:compute:RegionalService", "resources by type", "RTO/RPO budget", "meets"):
        assert words in run.stdout


def test_staging_is_eventual_and_unprotected():
    run = drctl("preview", "--stack", "staging", "--json")
    doc = json.loads(run.stdout)
    tables = [r for r in doc["resources"] if r["type"] == "aws:dynamodb/table:Table"]
    assert tables and not any(t["options"]["protect"] for t in tables)
    assert doc["budget"]["rpoSeconds"] == 5
    fn = next(r for r in doc["resources"] if r["type"] == "aws:lambda/function:Function")
    assert fn["inputs"]["environment"]["variables"]["DR_RPO_SECONDS"] == "5"
    assert fn["inputs"]["environment"]["variables"]["DR_FAILBACK"] == "automatic"
    # warm standby: the standby runs 1 task and the orchestrator scales it to desiredCount on failover
    targets = json.loads(fn["inputs"]["environment"]["variables"]["DR_SCALE_TARGETS"])
    assert targets["eu-central-1"] == {
        "kind": "ecs",
        "cluster": "orders-staging",
        "service": "orders",
        "desiredCount": 2,
    }
    services = {
        r["region"]: r["inputs"]["desiredCount"] for r in doc["resources"] if r["type"] == "aws:ecs/service:Service"
    }
    assert services == {"eu-west-1": 2, "eu-central-1": 1}
    assert doc["budget"]["scaleUpSeconds"] == 90 and doc["budget"]["trafficRtoSeconds"] == 156


def _write_stack(tmp_path: Path, mutate) -> Path:
    doc = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    mutate(doc["config"])
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_config_error_exits_2_with_one_line(tmp_path):
    path = _write_stack(tmp_path, lambda c: c["dr:regions"]["secondaries"].__setitem__(0, "us-east-1"))
    run = drctl("preview", "--stack", "broken", "--stack-file", str(path), "--json")
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        "error: dr:regions.secondaries[0]: us-east-1 is already the primary region"
    ]
    assert "Traceback" not in run.stderr


def test_app_secrets_stay_secret_end_to_end(tmp_path):
    path = _write_stack(tmp_path, lambda c: c.__setitem__("dr:appSecrets", {"API_TOKEN": {"secure": "v1:AAAAdummy"}}))
    run = drctl("preview", "--stack", "broken", "--stack-file", str(path), "--json")
    assert run.returncode == 0, run.stderr
    assert "preview-placeholder-secret" not in run.stdout and "AAAAdummy" not in run.stdout
    doc = json.loads(run.stdout)
    versions = [r for r in doc["resources"] if r["type"] == "aws:secretsmanager/secretVersion:SecretVersion"]
    assert len(versions) == 3 and all(v["inputs"]["secretString"] == "[secret]" for v in versions)
    task = next(r for r in doc["resources"] if r["type"] == "aws:ecs/taskDefinition:TaskDefinition")
    container = json.loads(task["inputs"]["containerDefinitions"])[0]
    assert container["secrets"][0]["name"] == "API_TOKEN"
    assert container["secrets"][0]["valueFrom"].startswith("arn:aws:secretsmanager:")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda c: c["dr:app"]["environment"].__setitem__("API_TOKEN", {"secure": "v1:AAAAdummy"}),
            "error: dr:app: holds a secret, but this key is plain configuration",
        ),
        (
            lambda c: c.__setitem__("dr:appSecrets", {"API_TOKEN": "plain-dummy"}),
            "error: dr:appSecrets: must be set with `pulumi config set --secret",
        ),
    ],
)
def test_secrets_only_where_they_belong(tmp_path, mutate, message):
    run = drctl("preview", "--stack", "broken", "--stack-file", str(_write_stack(tmp_path, mutate)))
    assert run.returncode == 2 and run.stderr.startswith(message), run.stderr
    assert "AAAAdummy" not in run.stderr + run.stdout


def test_unknown_stack_and_bad_yaml(tmp_path):
    run = drctl("preview", "--stack", "nope")
    assert run.returncode == 2 and "Pulumi.nope.yaml: no such stack file" in run.stderr
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  dr:layout: [aws\n")
    run = drctl("preview", "--stack", "bad", "--stack-file", str(bad))
    assert run.returncode == 2 and "not valid YAML" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_the_aws_layout_declares_exactly_its_golden_resource_set(stack):
    """The aws layout's resources, inputs and options, URN by URN, against tests/golden/<stack>.json: a
    refactoring (such as the shared DR plane) must not replace or change anything in an existing stack."""
    from tests.golden_resources import GOLDEN, resource_set

    golden = json.loads((GOLDEN / f"{stack}.json").read_text())
    current = resource_set(stack)
    assert sorted(set(golden) - set(current)) == [] and sorted(set(current) - set(golden)) == []
    changed = sorted(urn for urn in golden if golden[urn] != current[urn])
    assert changed == []


def test_the_offline_preview_sends_no_stack_traces_and_puts_pulumi_s_capture_back(offline_preview, monkeypatch):
    """Offline, source positions are skipped (the mock monitor records none); afterwards Pulumi captures them again.
    The attribute is Pulumi's own: a Pulumi release that renames it fails here, not silently slower."""
    from pulumi.runtime import resource as pulumi_resource

    real = pulumi_resource._get_stack_trace
    traces = []
    monkeypatch.setattr(pulumi_resource, "_get_stack_trace", lambda: traces.append(1) or real())
    patched = pulumi_resource._get_stack_trace
    result = offline_preview("staging")
    assert len(result.resources) > 50 and traces == [1]  # only the root stack's, registered before the program
    assert pulumi_resource._get_stack_trace is patched
