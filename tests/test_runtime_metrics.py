"""The orchestrator's outcome metrics (failover.metrics): EMF lines on standard output, captured the way Powertools'
own tests capture them (capsys, one JSON object per line), from real invocations of the handler on moto."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from failover import metrics
from failover import orchestrator as orch
from tests.runtime_env import REGIONS, Clock, alarm_event
from tests.test_runtime_moto import arm, servers, world  # noqa: F401 (fixtures)

FUNCTION = "orders-test-dr-orchestrator"


def emf_lines(capsys) -> list[dict]:
    """Every EMF object the invocation printed (other output, if any, is not EMF and is skipped)."""
    out = []
    for line in capsys.readouterr().out.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            out.append(doc)
    return out


def v(doc: dict, name: str) -> float:
    """A metric's value in an EMF object (Powertools writes each as a list of the values added)."""
    [value] = doc[name]
    return value


def directive(doc: dict) -> dict:
    [d] = doc["_aws"]["CloudWatchMetrics"]
    return d


@pytest.fixture
def named(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)


def test_a_transition_flushes_its_counts_once_and_the_active_region_per_region(world, named, capsys):
    arm(Clock(time.time()))
    capsys.readouterr()
    world["servers"]["us-east-1"].healthy = False
    assert orch.handler(alarm_event("us-east-1"))["outcome"] == "transitioned"
    docs = emf_lines(capsys)
    counts = [d for d in docs if metrics.INVOCATIONS in d]
    assert len(counts) == 1  # flushed once for the invocation
    [c] = counts
    assert directive(c)["Namespace"] == "DynamoDR/Orchestrator"
    assert directive(c)["Dimensions"] == [["service"]] and c["service"] == FUNCTION
    assert {m["Name"]: m["Unit"] for m in directive(c)["Metrics"]} == {
        "Invocations": "Count",
        "Transitions": "Count",
        "Refusals": "Count",
        "Errors": "Count",
        "Rejected": "Count",
        "ActiveEpoch": "Count",
    }
    assert tuple(v(c, m) for m in ("Transitions", "Refusals", "Errors", "ActiveEpoch")) == (1.0, 0.0, 0.0, 1.0)
    gauges = {d["Region"]: v(d, "ActiveRegion") for d in docs if metrics.ACTIVE_REGION in d}
    assert gauges == {"us-east-1": 0.0, "us-east-2": 1.0, "us-west-2": 0.0}
    assert all(directive(d)["Dimensions"] == [["Region", "service"]] for d in docs if "Region" in d)
    assert len(docs) == 1 + len(REGIONS)


def test_a_refusal_and_a_rejected_event_are_counted(world, named, capsys):
    world["servers"]["us-west-2"].healthy = False
    assert orch.handler({"action": "failover", "target": "us-west-2", "reason": "drill"})["outcome"] == "refused"
    [refused] = [d for d in emf_lines(capsys) if metrics.INVOCATIONS in d]
    assert tuple(v(refused, m) for m in ("Refusals", "Transitions", "ActiveEpoch")) == (1.0, 0.0, 0.0)
    assert orch.handler({"action": "explode"})["outcome"] == "rejected"
    docs = emf_lines(capsys)
    assert [(v(d, "Rejected"), v(d, "Errors")) for d in docs] == [(1.0, 0.0)]  # nothing read: no epoch, no gauge
    assert "ActiveEpoch" not in docs[0]


def test_an_unreachable_control_table_counts_an_error(world, named, capsys, monkeypatch):
    monkeypatch.setenv("DR_CONTROL_TABLE", "no-such-table")
    assert orch.handler({"action": "status"})["outcome"] == "error"
    [doc] = emf_lines(capsys)
    assert (v(doc, "Errors"), v(doc, "Invocations")) == (1.0, 1.0)


def test_a_defect_is_counted_as_an_error_and_still_raised(world, named, capsys, monkeypatch):
    def broken(self, request):
        raise RuntimeError("a defect")

    monkeypatch.setattr(orch.Orchestrator, "handle", broken)
    with pytest.raises(RuntimeError, match="a defect"):
        orch.handler({"action": "status"})
    [doc] = emf_lines(capsys)
    assert v(doc, "Errors") == 1.0


def test_metrics_that_cannot_be_written_never_fail_the_failover(world, named, capsys, monkeypatch):
    from aws_lambda_powertools.metrics import EphemeralMetrics

    def broken(self, *args, **kwargs):
        raise OSError("stdout is gone")

    monkeypatch.setattr(EphemeralMetrics, "flush_metrics", broken)
    result = orch.handler({"action": "failover", "target": "us-east-2", "reason": "drill"})
    assert result["outcome"] == "transitioned" and result["epoch"] == 1
    assert emf_lines(capsys) == []
    assert metrics.publish_outcome(result, REGIONS) is False


@given(
    outcome=st.sampled_from(["transitioned", "noop", "refused", "rejected", "error", "unknown"]),
    active=st.one_of(st.none(), st.sampled_from(REGIONS)),
    epoch=st.one_of(st.none(), st.integers(0, 10**6), st.booleans()),
)
def test_an_invocation_counts_once_and_names_at_most_one_active_region(outcome, active, epoch):
    values, gauges = metrics.outcome_values({"outcome": outcome, "activeRegion": active, "epoch": epoch}, REGIONS)
    assert values[metrics.INVOCATIONS] == 1.0
    assert sum(values[m] for m in metrics.OUTCOME_METRICS.values()) == (
        1.0 if outcome in metrics.OUTCOME_METRICS else 0.0
    )
    assert (metrics.ACTIVE_EPOCH in values) == (isinstance(epoch, int) and not isinstance(epoch, bool))
    assert sum(gauges.values()) == (1.0 if active else 0.0)
    assert set(gauges) == (set(REGIONS) if active else set())


def test_the_service_dimension_is_the_functions_name():
    assert metrics.service_name({"AWS_LAMBDA_FUNCTION_NAME": FUNCTION, "POWERTOOLS_SERVICE_NAME": "x"}) == FUNCTION
    assert metrics.service_name({"POWERTOOLS_SERVICE_NAME": "orders-dr-orchestrator"}) == "orders-dr-orchestrator"


def test_publishing_calls_no_aws_api_and_needs_no_permission_beyond_the_log_group(monkeypatch, capsys):
    from botocore.client import BaseClient

    from components.iam import orchestrator_policy

    def no_call(self, operation, params):
        raise AssertionError(f"{operation} called")

    monkeypatch.setattr(BaseClient, "_make_api_call", no_call)
    assert metrics.publish_outcome({"outcome": "noop", "activeRegion": "us-east-1", "epoch": 2}, REGIONS) is True
    assert len(emf_lines(capsys)) == 1 + len(REGIONS)
    log_group = "arn:aws:logs:us-east-2:123456789012:log-group:/aws/lambda/orders-test-dr-orchestrator"
    doc = orchestrator_policy(
        control_table_arns=["arn:aws:dynamodb:us-east-2:123456789012:table/c"],
        parameter_arns=["arn:aws:ssm:us-east-2:123456789012:parameter/orders/test/active_region"],
        scale_statements=[],
        topic_arns=["arn:aws:sns:us-east-2:123456789012:t"],
        topic_key_arns=["arn:aws:kms:us-east-2:123456789012:key/k"],
        log_group_arn=log_group,
    )
    actions = {a for s in doc["Statement"] for a in s["Action"]}
    assert not any(a.startswith("cloudwatch:Put") for a in actions)  # EMF is log lines, not PutMetricData
    [logs] = [s for s in doc["Statement"] if s["Sid"] == "Logs"]
    assert (logs["Action"], logs["Resource"]) == (["logs:CreateLogStream", "logs:PutLogEvents"], [log_group + ":*"])
