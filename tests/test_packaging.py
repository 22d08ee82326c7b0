"""The orchestrator as shipped: a deterministic archive of only the .py files, the Powertools layer of exactly
the pinned library, the Logger's service name from POWERTOOLS_SERVICE_NAME, IAM actions that the runtime
really calls (recorded from real boto3 calls on moto), and key policies that grant services only what they use."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import botocore.client

from components import iam
from components.notifications import NotificationTopic
from components.orchestrator import (
    FAILOVER_SOURCE,
    code_sha256,
    lambda_code_files,
    pinned_powertools_version,
    powertools_layer_parameter,
)
from components.providers import regional_providers
from failover import orchestrator as orch
from tests.test_runtime_moto import Clock, make, servers, world  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent


# -- the archive -----------------------------------------------------------------------------------------
def _copy_sources(to: Path) -> Path:
    shutil.copytree(FAILOVER_SOURCE, to, ignore=shutil.ignore_patterns("__pycache__"))
    return to


def test_archive_holds_only_the_packages_python_files():
    files = lambda_code_files()
    assert "failover/orchestrator.py" in files and "failover/__init__.py" in files
    assert all(name.startswith("failover/") and name.endswith(".py") for name in files)
    assert list(files) == sorted(files)
    expected = sorted(p.name for p in FAILOVER_SOURCE.glob("*.py"))
    assert sorted(name.split("/", 1)[1] for name in files) == expected


def test_code_hash_is_the_same_on_every_machine(tmp_path):
    """A checkout where tests ran (bytecode caches, stray files, other times and modes) archives the same."""
    clean = _copy_sources(tmp_path / "clean")
    used = _copy_sources(tmp_path / "used")
    (used / "__pycache__").mkdir()
    (used / "__pycache__" / "orchestrator.cpython-311.pyc").write_bytes(b"\x00compiled")
    (used / "notes.txt").write_text("scratch")
    os.utime(used / "store.py", (1, 1))
    os.chmod(used / "client.py", 0o600)
    a, b = lambda_code_files(clean), lambda_code_files(used)
    assert list(a) == list(b)
    assert code_sha256(a) == code_sha256(b)
    (used / "store.py").write_text((used / "store.py").read_text() + "\n# changed\n")
    assert code_sha256(a) != code_sha256(lambda_code_files(used))  # the digest does look at the bytes


def test_python_sources_are_checked_out_with_lf():
    """The archive hashes bytes: `.gitattributes` keeps a Windows checkout from turning LF into CRLF."""
    attributes = (ROOT / ".gitattributes").read_text()
    assert re.search(r"^\*\.py\s+text\s+eol=lf$", attributes, re.MULTILINE)
    assert all(b"\r\n" not in p.read_bytes() for p in lambda_code_files().values())


def test_function_code_is_the_archive_of_python_files(recorder):
    from tests.test_deploy_order import _orchestrator

    rec = _orchestrator(recorder)
    assets = rec.one("aws:lambda/function:Function").inputs["code"]["archive"]["assets"]
    assert sorted(assets) == sorted(lambda_code_files())
    assert all(a["asset"]["path"].endswith(name.split("/", 1)[1]) for name, a in assets.items())


# -- the Powertools layer --------------------------------------------------------------------------------
def _pinned(requirement: str) -> str:
    match = re.search(rf"^{re.escape(requirement)}==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert match, requirement
    return match.group(1)


def test_layer_is_the_one_aws_publishes_for_the_pinned_powertools(recorder):
    from tests.conftest import MONITOR
    from tests.test_deploy_order import _orchestrator

    pinned = _pinned("aws-lambda-powertools")
    assert pinned_powertools_version() == pinned  # the venv holds what requirements.txt pins
    rec = _orchestrator(recorder)
    asked = [
        (args["name"], region)
        for token, args, region in MONITOR.aws_mocks.calls
        if token == "aws:ssm/getParameter:getParameter"
    ]
    assert asked == [(f"/aws/service/powertools/python/x86_64/python3.12/{pinned}", "us-east-2")]
    fn = rec.one("aws:lambda/function:Function")
    assert fn.inputs["layers"] == [
        "arn:aws:lambda:us-east-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:0"
    ]
    assert (fn.inputs["runtime"], fn.inputs["architectures"]) == ("python3.12", ["x86_64"])
    assert (
        powertools_layer_parameter("3.1.0", "python3.13", "arm64")
        == "/aws/service/powertools/python/arm64/python3.13/3.1.0"
    )


def test_logger_service_name_comes_from_the_environment():
    code = "from failover.orchestrator import logger; print(logger.service)"
    env = {**os.environ, "POWERTOOLS_SERVICE_NAME": "orders-dr-orchestrator"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "orders-dr-orchestrator", out.stderr


# -- IAM: exactly what the runtime calls ---------------------------------------------------------------
# Used on the runtime's behalf, not called by it: SNS needs these from a publisher to an encrypted topic,
# and the Lambda service writes the function's logs.
IMPLICIT_ACTIONS = {"kms:Decrypt", "kms:GenerateDataKey", "logs:CreateLogStream", "logs:PutLogEvents"}


def _policy_actions() -> set[str]:
    doc = iam.orchestrator_policy(
        control_table_arns=["c"],
        parameter_arns=["p"],
        scale_statements=iam.ecs_scale_statements(["s"]),
        topic_arns=["t"],
        topic_key_arns=["k"],
        log_group_arn="l",
    )
    return {a for s in doc["Statement"] for a in s["Action"]}


def test_orchestrator_role_allows_exactly_the_calls_the_runtime_makes(world, monkeypatch):
    called: set[str] = set()
    real = botocore.client.BaseClient._make_api_call

    def recording(self, operation, params):
        called.add(f"{self.meta.service_model.service_id.lower().replace(' ', '')}:{operation}")
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    world["servers"]["us-east-1"].healthy = False
    assert orch.handler({"action": "monitor"})["outcome"] in ("noop", "transitioned")
    assert orch.handler({"action": "failover", "target": "us-east-2"})["outcome"] == "transitioned"
    lagging = make(Clock(2_000_000.0), DR_RPO_SECONDS="5", DR_DATA_TABLE="orders")
    lagging.handle(orch.Request("monitor"))  # reads ReplicationLatency
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", real)
    assert called == _policy_actions() - IMPLICIT_ACTIONS, (sorted(called), sorted(_policy_actions()))


# -- key policies: services only where they publish, and only for this account's alarms ----------------
def _key_policy(recorder, **kwargs) -> dict:
    rec = recorder(
        lambda: NotificationTopic(
            "notify",
            account_id="123456789012",
            emails=[],
            provider=regional_providers(["us-east-1"], app="orders", stack="prod")["us-east-1"],
            **kwargs,
        )
    )
    return json.loads(rec.one("aws:kms/key:Key").inputs["policy"])


def test_topic_keys_grant_no_service_that_does_not_publish(recorder):
    doc = _key_policy(recorder)
    assert [s["Sid"] for s in doc["Statement"]] == ["AccountAdministers"]
    assert "events.amazonaws.com" not in json.dumps(doc)


def test_alarm_topic_key_is_conditioned_on_this_accounts_alarms(recorder):
    doc = _key_policy(recorder, alarm_name_pattern="orders-prod-*-unhealthy")
    service = [s for s in doc["Statement"] if "Service" in s["Principal"]]
    assert len(service) == 1 and service[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert service[0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:orders-prod-*-unhealthy"},
    }


def test_cloudwatch_uses_a_topic_key_only_for_the_alarms_that_publish_there(recorder):
    from components.config import parse_stack_config
    from components.layouts.aws import build
    from tests.stack_values import dr_values

    rec = recorder(lambda: build(parse_stack_config(dr_values("prod")), "prod"))
    keys = {k.name: (k.region, json.loads(k.inputs["policy"])) for k in rec.of_type("aws:kms/key:Key")}
    # a notice topic per region, and the alarm topic (us-east-1, where Route 53's metrics are)
    assert sorted(keys) == [
        "orders-alarms-key",
        "orders-notify-us-east-1-key",
        "orders-notify-us-east-2-key",
        "orders-notify-us-west-2-key",
    ]
    patterns = {}
    for name, (region, doc) in keys.items():
        principals = [s["Principal"] for s in doc["Statement"]]
        assert principals == [{"AWS": "arn:aws:iam::123456789012:root"}, {"Service": "cloudwatch.amazonaws.com"}]
        source = doc["Statement"][1]["Condition"]["ArnLike"]["aws:SourceArn"]
        assert source.startswith(f"arn:aws:cloudwatch:{region}:123456789012:alarm:"), name
        patterns[name] = re.compile(source.rsplit(":", 1)[1].replace("*", "[a-z0-9-]+"))
    assert keys["orders-alarms-key"][0] == "us-east-1"
    # the health alarms match only the alarm topic's pattern; the operator alarms only the notice topics'
    alarms = {a.inputs["name"]: a.inputs["namespace"] for a in rec.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert sorted(set(alarms.values())) == ["AWS/Route53", "DynamoDR/Orchestrator"]
    for alarm, namespace in alarms.items():
        matched = sorted(name for name, pattern in patterns.items() if pattern.fullmatch(alarm))
        if namespace == "AWS/Route53":
            assert matched == ["orders-alarms-key"], alarm
        else:
            assert matched == sorted(n for n in patterns if n != "orders-alarms-key"), alarm


DESIGN_DOC = "DESIGN" + ".md"  # spelled in two parts so this test does not itself cite the file


def test_no_file_cites_a_missing_design_doc():
    """The project stands on its own: nothing refers to a design document that is not in the repository."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert DESIGN_DOC not in tracked
    citing = [
        p
        for p in tracked
        if p.endswith((".py", ".md", ".yaml", ".yml", ".json", ".txt", ".toml", ".ini"))
        and DESIGN_DOC in (ROOT / p).read_text(errors="replace")
    ]
    assert citing == []
