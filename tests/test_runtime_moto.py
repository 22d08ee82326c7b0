"""The runtime's safety rules (README, Runtime) against real boto3 calls on moto (in-process), with real HTTP
health endpoints."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from failover import orchestrator as orch
from failover.settings import load_settings
from tests.runtime_env import HOME, REGIONS, HealthServer, alarm_event, build_world, parameter, sns_messages


@pytest.fixture
def servers():
    s = {r: HealthServer() for r in REGIONS}
    yield s
    for server in s.values():
        server.close()


@pytest.fixture
def world(servers, monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": HOME}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        w = build_world(servers)
        for k, v in w["env"].items():
            monkeypatch.setenv(k, v)
        w["servers"] = servers
        yield w


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(clock=None, **env):
    settings = load_settings({**os.environ, **env})
    return orch.Orchestrator(settings, clock=clock or Clock())


def ecs_desired(region: str) -> int:
    return boto3.client("ecs", region_name=region).describe_services(cluster="orders-test", services=["orders"])["services"][0]["desiredCount"]


def test_status_with_no_control_item(world):
    assert orch.handler({"action": "status"}) == {"outcome": "noop", "activeRegion": "us-east-1", "epoch": 0, "reason": "status"}


def test_same_alarm_three_times_makes_one_transition(world):
    world["servers"]["us-east-1"].healthy = False
    outcomes = [orch.handler(alarm_event("us-east-1"))["outcome"] for _ in range(3)]
    assert outcomes == ["transitioned", "noop", "noop"]
    assert orch.handler({"action": "status"})["epoch"] == 1
    for region in REGIONS:
        assert parameter(region) == ("us-east-2", 2)  # exactly one new version per region
    messages = sns_messages(world["queues"])
    assert len(messages) == 3  # one message on each region's topic, no more
    assert {(m["previousRegion"], m["activeRegion"], m["epoch"]) for m in messages} == {("us-east-1", "us-east-2", 1)}
    assert ecs_desired("us-east-2") == 4 and ecs_desired("us-west-2") == 1


def test_five_concurrent_invocations_make_one_transition(world):
    world["servers"]["us-east-1"].healthy = False
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: orch.handler(alarm_event("us-east-1")), range(5)))
    assert sorted(r["outcome"] for r in results) == ["noop"] * 4 + ["transitioned"]
    assert {r["epoch"] for r in results} == {1}
    for region in REGIONS:
        assert parameter(region) == ("us-east-2", 2)
    assert len(sns_messages(world["queues"])) == 3


def test_fenced_stale_writer_stops(world):
    """Two orchestrators read the same epoch; the second conditional write fails and changes nothing."""
    a, b = make(), make()
    state, _ = a.store.read()
    assert a.store.transition(state, "us-east-2", "a", 1.0, ["audit"], 90) is True
    assert b.store.transition(state, "us-west-2", "b", 2.0, ["audit"], 90) is False
    assert a.store.read()[0].active_region == "us-east-2"


def test_unhealthy_target_is_refused(world):
    world["servers"]["us-west-2"].healthy = False
    result = orch.handler({"action": "failover", "target": "us-west-2", "reason": "drill"})
    assert result["outcome"] == "refused" and "health probe" in result["reason"]
    assert parameter("us-east-1") == ("us-east-1", 1)
    forced = orch.handler({"action": "failover", "target": "us-west-2", "reason": "drill", "force": True})
    assert forced["outcome"] == "transitioned" and parameter("us-west-2")[0] == "us-west-2"


def test_alarm_with_no_healthy_target_keeps_the_active_region(world):
    for s in world["servers"].values():
        s.healthy = False
    result = orch.handler(alarm_event("us-east-1"))
    assert result["outcome"] == "refused" and result["activeRegion"] == "us-east-1"
    assert sns_messages(world["queues"]) == []


def test_flapping_health_makes_at_most_one_transition(world):
    clock = Clock()
    o = make(clock)
    primary = world["servers"]["us-east-1"]
    outcomes = []
    for i in range(40):
        primary.healthy = (i % 3 == 2)  # fail, fail, ok, fail, fail, ok ... never 3 in a row
        clock.t += 60
        outcomes.append(o.handle(orch.Request("monitor")).outcome)
    assert "transitioned" not in outcomes
    primary.healthy = False
    for _ in range(3):
        clock.t += 60
        outcomes.append(o.handle(orch.Request("monitor")).outcome)
    assert outcomes[-3:].count("transitioned") == 1  # the failure streak reaches 3 within these ticks
    for i in range(20):  # the old primary flaps back and forth; failback is manual: nothing moves
        primary.healthy = i % 2 == 0
        clock.t += 60
        outcomes.append(o.handle(orch.Request("monitor")).outcome)
    assert outcomes.count("transitioned") == 1


def test_failback_is_manual_by_default(world):
    clock = Clock()
    o = make(clock)
    world["servers"]["us-east-1"].healthy = False
    assert o.handle(orch.parse_event(alarm_event("us-east-1"), o.settings)).outcome == "transitioned"
    world["servers"]["us-east-1"].healthy = True
    for _ in range(30):
        clock.t += 60
        assert o.handle(orch.Request("monitor")).outcome == "noop"
    assert orch.handler({"action": "failback"})["activeRegion"] == "us-east-1"
    assert parameter("us-west-2") == ("us-east-1", 3)


def test_automatic_failback_waits_for_recovery_threshold_and_dwell(world):
    clock = Clock()
    o = make(clock, DR_FAILBACK="automatic", DR_MIN_DWELL_SECONDS="600", DR_RECOVERY_THRESHOLD="3")
    world["servers"]["us-east-1"].healthy = False
    assert o.handle(orch.parse_event(alarm_event("us-east-1"), o.settings)).outcome == "transitioned"
    world["servers"]["us-east-1"].healthy = True
    ticks = []
    for _ in range(15):
        clock.t += 60
        ticks.append(o.handle(orch.Request("monitor")).outcome)
    first = ticks.index("transitioned")
    # healthy from the first tick; needs 3 successes AND 600 s of health AND 600 s since the failover
    assert first == 10, ticks
    assert ticks.count("transitioned") == 1
    assert o.store.read()[0].active_region == "us-east-1"


def test_bad_events_change_nothing(world):
    before = [parameter(r) for r in REGIONS]
    for event in [None, [], {}, {"action": "explode"}, {"action": "failover"}, {"action": "failover", "target": "eu-west-9"},
                  {"action": "failover", "target": "us-east-2", "force": "yes"}, {"Records": "x"},
                  {"Records": [{"Sns": {"Message": "not json"}}]}, alarm_event("us-east-1") | {"Records": [{"Sns": {"Message": json.dumps({"AlarmName": "other", "NewStateValue": "ALARM"})}}]},
                  {"detail-type": "CloudWatch Alarm State Change", "detail": {}}]:
        result = orch.handler(event)
        assert result["outcome"] == "rejected", (event, result)
    assert [parameter(r) for r in REGIONS] == before
    assert boto3.client("dynamodb", region_name=HOME).scan(TableName="orders-test-dr-control")["Count"] == 0


def test_eventbridge_alarm_event(world):
    world["servers"]["us-east-1"].healthy = False
    event = {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
             "detail": {"alarmName": "orders-test-us-east-1-unhealthy", "state": {"value": "ALARM"}}}
    assert orch.handler(event)["outcome"] == "transitioned"


def test_failure_after_epoch_bump_is_completed_next_time(world, monkeypatch):
    real_client = orch.Orchestrator.client
    broken = {"us-west-2"}

    def flaky_client(self, service, region):
        client = real_client(self, service, region)
        if service == "ssm" and region in broken:
            def fail(**kwargs):
                raise EndpointConnectionError(endpoint_url=f"https://ssm.{region}.amazonaws.com")
            client.put_parameter = fail
        return client

    monkeypatch.setattr(orch.Orchestrator, "client", flaky_client)
    world["servers"]["us-east-1"].healthy = False
    result = orch.handler(alarm_event("us-east-1"))
    assert result["outcome"] == "transitioned" and "ssm:us-west-2" in result["reason"]
    assert parameter("us-west-2") == ("us-east-1", 1)
    status = orch.handler({"action": "status"})
    assert "ssm:us-west-2" in status["reason"]  # still unreachable: still pending, nothing half-forgotten
    broken.clear()
    status = orch.handler({"action": "status"})
    assert status["reason"] == "status" and status["epoch"] == 1
    assert parameter("us-west-2") == ("us-east-2", 2)
    assert len(sns_messages(world["queues"])) == 3


def test_replication_lag_gate(world):
    env = {"DR_RPO_SECONDS": "5", "DR_DATA_TABLE": "orders"}
    o = make(Clock(), **env)
    refused = o.handle(orch.Request("failover", target="us-east-2", reason="drill"))
    assert refused.outcome == "refused" and "unknown" in refused.reason
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    import datetime as dt
    now = dt.datetime.now(dt.timezone.utc)
    cw.put_metric_data(Namespace="AWS/DynamoDB", MetricData=[{
        "MetricName": "ReplicationLatency", "Value": 9000.0, "Unit": "Milliseconds", "Timestamp": now,
        "Dimensions": [{"Name": "TableName", "Value": "orders"}, {"Name": "ReceivingRegion", "Value": "us-east-2"}]}])
    o = make(lambda: now.timestamp(), **env)
    too_far = o.handle(orch.Request("failover", target="us-east-2", reason="drill"))
    assert too_far.outcome == "refused" and "9.0s exceeds" in too_far.reason
    forced = o.handle(orch.Request("failover", target="us-east-2", reason="drill", force=True))
    assert forced.outcome == "transitioned"


def test_missing_setting_is_reported_by_name(world, monkeypatch):
    monkeypatch.delenv("DR_CONTROL_TABLE")
    assert orch.handler({"action": "status"}) == {"outcome": "rejected", "activeRegion": None, "epoch": None,
                                                  "reason": "DR_CONTROL_TABLE is not set"}
    monkeypatch.setenv("DR_CONTROL_TABLE", "x")
    monkeypatch.setenv("DR_HEALTH_URLS", "{not json")
    assert orch.handler({"action": "status"})["reason"].startswith("DR_HEALTH_URLS is not valid JSON")
