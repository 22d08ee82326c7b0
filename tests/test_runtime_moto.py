"""The runtime's safety rules (README, Runtime) against real boto3 calls on moto (in-process), with real HTTP
health endpoints."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from failover import orchestrator as orch
from failover.settings import load_settings
from failover.store import MAX_REASON_CHARS
from tests.runtime_env import (
    CONTROL,
    HOME,
    PARAM,
    REGIONS,
    Clock,
    HealthServer,
    make_moto_item_operations_atomic,
    alarm_event,
    build_world,
    parameter,
    sns_messages,
)


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
    make_moto_item_operations_atomic(monkeypatch)
    with mock_aws():
        w = build_world(servers)
        for k, v in w["env"].items():
            monkeypatch.setenv(k, v)
        w["servers"] = servers
        yield w


def make(clock=None, **env):
    """An orchestrator on the world's single control table (standing in for the global table's replicas)."""
    settings = load_settings({**os.environ, **env})
    clock = clock or Clock()
    return orch.Orchestrator(settings, clock=clock, sleep=clock.sleep, control_region=HOME)


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
    state = a.store.read()
    assert a.store.transition(state, "us-east-2", "a", 1.0, ["audit"], 90) is True
    assert b.store.transition(state, "us-west-2", "b", 2.0, ["audit"], 90) is False
    assert a.store.read().active_region == "us-east-2"


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
        clock.t += 10
        outcomes.append(o.handle(orch.Request("monitor")).outcome)
    assert "transitioned" not in outcomes
    primary.healthy = False
    for _ in range(3):
        clock.t += 10
        outcomes.append(o.handle(orch.Request("monitor")).outcome)
    # round 39 already failed once, so the third consecutive failure is the second of these rounds
    assert outcomes[-3:] == ["noop", "transitioned", "noop"]
    for i in range(20):  # the old primary flaps back and forth; failback is manual: nothing moves
        primary.healthy = i % 2 == 0
        clock.t += 10
        outcomes.append(o.handle(orch.Request("monitor")).outcome)
    assert outcomes.count("transitioned") == 1


def test_failback_is_manual_by_default(world):
    clock = Clock()
    o = make(clock)
    world["servers"]["us-east-1"].healthy = False
    assert o.handle(orch.parse_event(alarm_event("us-east-1"), o.settings)).outcome == "transitioned"
    world["servers"]["us-east-1"].healthy = True
    for _ in range(30):
        clock.t += 10
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
    for _ in range(70):
        clock.t += 10
        ticks.append(o.handle(orch.Request("monitor")).outcome)
    first = ticks.index("transitioned")
    # healthy from the first round (t0 + 10); needs 3 successes AND 600 s of health AND 600 s since the
    # failover: the round at t0 + 610 is the 61st
    assert first == 60, ticks
    assert ticks.count("transitioned") == 1
    assert o.store.read().active_region == "us-east-1"


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

    def flaky_client(self, service, region, timeout=orch.CALL_TIMEOUT_SECONDS):
        client = real_client(self, service, region, timeout)
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


def _metric(name, value, region="us-east-1", **dims):
    import datetime as dt

    dimensions = [{"Name": "TableName", "Value": "orders"}] + [{"Name": k, "Value": v} for k, v in dims.items()]
    boto3.client("cloudwatch", region_name=region).put_metric_data(Namespace="AWS/DynamoDB", MetricData=[{
        "MetricName": name, "Value": value, "Timestamp": dt.datetime.now(dt.timezone.utc), "Dimensions": dimensions}])


def test_replication_lag_gate(world):
    env = {"DR_RPO_SECONDS": "5", "DR_DATA_TABLE": "orders"}
    o = make(Clock(time.time()), **env)
    _metric("ConsumedWriteCapacityUnits", 12.0)  # the table took writes, but no latency datapoint
    refused = o.handle(orch.Request("failover", target="us-east-2", reason="drill"))
    assert refused.outcome == "refused" and "unknown while the table took writes" in refused.reason
    _metric("ReplicationLatency", 9000.0, ReceivingRegion="us-east-2")
    too_far = o.handle(orch.Request("failover", target="us-east-2", reason="drill"))
    assert too_far.outcome == "refused" and "9.0s exceeds" in too_far.reason
    forced = o.handle(orch.Request("failover", target="us-east-2", reason="drill", force=True))
    assert forced.outcome == "transitioned"


def test_a_quiet_table_can_be_promoted(world):
    """No ReplicationLatency datapoint and no write in the window: nothing can be lost, so the gate passes."""
    o = make(Clock(time.time()), DR_RPO_SECONDS="5", DR_DATA_TABLE="orders")
    assert o.measure_lag("us-east-1") == {r: orch.LagReading(None, False) for r in ("us-east-2", "us-west-2")}
    assert o.handle(orch.Request("failover", target="us-east-2", reason="drill")).outcome == "transitioned"


def test_lag_remembered_by_the_monitor_serves_when_the_source_is_gone(world, monkeypatch):
    clock = Clock(time.time())
    o = make(clock, DR_RPO_SECONDS="5", DR_DATA_TABLE="orders")
    _metric("ConsumedWriteCapacityUnits", 3.0)
    _metric("ReplicationLatency", 1200.0, ReceivingRegion="us-east-2")
    assert o.handle(orch.Request("monitor")).outcome == "noop"  # records the reading in its observer item

    def source_gone(self, source):
        raise EndpointConnectionError(endpoint_url=f"https://monitoring.{source}.amazonaws.com")

    monkeypatch.setattr(orch.Orchestrator, "measure_lag", source_gone)
    clock.t += 120
    o = make(clock, DR_RPO_SECONDS="5", DR_DATA_TABLE="orders")
    assert o.lag_for("us-east-1", "us-east-2") == orch.LagReading(1.2, True, source="memory")
    assert o.handle(orch.Request("failover", target="us-east-2", reason="drill")).outcome == "transitioned"
    clock.t += orch.LAG_MEMORY_SECONDS + 60  # too old to trust: unknown again
    assert make(clock, DR_RPO_SECONDS="5", DR_DATA_TABLE="orders").lag_for("us-east-2", "us-west-2") is None


def test_one_invocation_probes_every_interval_and_fails_over_within_it(world):
    """The monitor owns its window: with the primary down it fails over in its third round, 20 s in."""
    clock = Clock()
    o = make(clock, DR_MONITOR_WINDOW_SECONDS="75")
    world["servers"]["us-east-1"].healthy = False
    start = clock.t
    result = o.handle(orch.Request("monitor"))
    assert (result.outcome, result.active_region) == ("transitioned", "us-east-2")
    assert clock.t - start == 20
    healthy = make(Clock(), DR_MONITOR_WINDOW_SECONDS="75")
    world["servers"]["us-east-1"].healthy = True
    quiet = healthy.handle(orch.Request("monitor"))
    assert quiet.outcome == "noop" and quiet.reason.endswith("(8 rounds)")  # 0, 10, ... 70 s


def test_each_observer_keeps_its_own_counts(world):
    """Two orchestrators observe at once; neither overwrites the other's counts, and exactly one moves writes."""
    clock = Clock()
    east = make(clock, DR_HOME_REGION="us-east-2")
    west = make(clock, DR_HOME_REGION="us-west-2")
    world["servers"]["us-east-1"].healthy = False
    outcomes = []
    for _ in range(3):
        clock.t += 5
        outcomes.append(east.handle(orch.Request("monitor")).outcome)
        clock.t += 5
        outcomes.append(west.handle(orch.Request("monitor")).outcome)
    assert outcomes == ["noop", "noop", "noop", "noop", "transitioned", "noop"]
    assert east.store.read().epoch == 1
    observers = east.store.read_observations()
    assert set(observers) == {"us-east-2", "us-west-2"}
    assert observers["us-west-2"][0].epoch == 1 and observers["us-west-2"][0].failures == {
        "us-east-1": 1, "us-east-2": 0, "us-west-2": 0}  # counting afresh under the new epoch
    assert observers["us-east-2"][0].failures["us-east-1"] == 3


def test_a_newer_monitor_invocation_takes_over_the_observer_record(world):
    older, newer = make(), make()
    older.store.claim_observer(HOME, "older")
    obs = orch.Observation(HOME, at=1.0)
    assert older.store.save_observation(obs, "older") is True
    newer.store.claim_observer(HOME, "newer")
    assert older.store.save_observation(obs, "older") is False  # the older loop stops at its next save
    assert newer.store.save_observation(obs, "newer") is True


def test_a_replicated_write_conflict_is_a_lost_race(world):
    from botocore.stub import Stubber

    o = make()
    state = o.store.read()
    with Stubber(o.store.db) as stub:
        stub.add_client_error("update_item", service_error_code="ReplicatedWriteConflictException",
                              service_message="concurrent write from another region")
        assert o.store.transition(state, "us-east-2", "race", 1.0, ["audit"], 90) is False
        stub.add_client_error("put_item", service_error_code="ReplicatedWriteConflictException")
        assert o.store.save_observation(orch.Observation(HOME), "me") is False


def test_huge_and_malformed_reasons_are_bounded_and_cleaned(world):
    for reason in ["x" * 500_000, "bad \ud800 surrogate \x00 and\nnewline", ""]:
        boto3.client("dynamodb", region_name=HOME).delete_item(TableName=CONTROL, Key={"pk": {"S": "control#orders"}})
        result = orch.handler({"action": "failover", "target": "us-east-2", "reason": reason})
        assert result["outcome"] == "transitioned", result
        assert len(result["reason"]) <= MAX_REASON_CHARS and "\ud800" not in result["reason"]
        stored = boto3.client("dynamodb", region_name=HOME).get_item(
            TableName=CONTROL, Key={"pk": {"S": "control#orders"}})["Item"]["reason"]["S"]
        assert len(stored) <= MAX_REASON_CHARS and stored.isprintable()
        for note in sns_messages(world["queues"]):
            assert len(json.dumps(note)) < 2_000
    assert orch.handler({"action": "failover", "target": "us-east-1", "reason": 42})["outcome"] == "rejected"


@pytest.mark.parametrize("item, words", [
    ({"activeRegion": {"S": "eu-west-9"}, "epoch": {"N": "3"}}, "names 'eu-west-9' as active"),
    ({"epoch": {"N": "3"}}, "has no activeRegion"),
    ({"activeRegion": {"S": "us-east-1"}, "epoch": {"S": "three"}}, "epoch 'three' is not a whole number"),
])
def test_bad_control_state_is_reported_as_an_outcome_and_changes_nothing(world, item, words):
    ddb = boto3.client("dynamodb", region_name=HOME)
    ddb.put_item(TableName=CONTROL, Item={"pk": {"S": "control#orders"}, **item})
    before = [parameter(r) for r in REGIONS]
    world["servers"]["us-east-1"].healthy = False
    for event in ({"action": "status"}, {"action": "monitor"}, alarm_event("us-east-1"),
                  {"action": "failover", "target": "us-east-2"}):
        result = orch.handler(event)
        assert result["outcome"] == "error" and words in result["reason"], (event, result)
    assert [parameter(r) for r in REGIONS] == before
    assert ddb.get_item(TableName=CONTROL, Key={"pk": {"S": "control#orders"}})["Item"] == {
        "pk": {"S": "control#orders"}, **item}


def test_a_wrong_control_table_is_an_error_outcome(world, monkeypatch):
    monkeypatch.setenv("DR_CONTROL_TABLE", "no-such-table")
    result = orch.handler({"action": "status"})
    assert result["outcome"] == "error" and "no-such-table in us-east-2 is unavailable" in result["reason"]


def test_the_monitor_repairs_a_projection_that_disagrees(world):
    boto3.client("ssm", region_name="us-west-2").put_parameter(Name=PARAM, Value="us-east-2", Type="String",
                                                              Overwrite=True)
    assert make().handle(orch.Request("monitor")).outcome == "noop"
    assert parameter("us-west-2")[0] == "us-east-1"


def test_deadline_comes_from_the_lambda_context():
    class Context:
        def get_remaining_time_in_millis(self):
            return 9_000

    deadline = orch.Deadline.from_context(Context())
    assert 7.0 < deadline.remaining() <= 9.0 - orch.SAFETY_MARGIN_SECONDS
    assert deadline.call_timeout() == orch.CALL_TIMEOUT_SECONDS
    assert orch.Deadline(0.3).call_timeout() <= 0.3


def test_missing_setting_is_reported_by_name(world, monkeypatch):
    monkeypatch.delenv("DR_CONTROL_TABLE")
    assert orch.handler({"action": "status"}) == {"outcome": "rejected", "activeRegion": None, "epoch": None,
                                                  "reason": "DR_CONTROL_TABLE is not set"}
    monkeypatch.setenv("DR_CONTROL_TABLE", "x")
    monkeypatch.setenv("DR_HEALTH_URLS", "{not json")
    assert orch.handler({"action": "status"})["reason"].startswith("DR_HEALTH_URLS is not valid JSON")
