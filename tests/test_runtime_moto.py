"""The runtime's safety rules (docs/runtime.md) against real boto3 calls on moto (in-process), with real HTTP
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
from failover import projection
from failover.settings import SettingsError, load_settings
from failover.store import MAX_REASON_CHARS
from tests.runtime_env import (
    CONTROL,
    HOME,
    PARAM,
    REGIONS,
    Clock,
    HealthServer,
    alarm_event,
    build_world,
    iso,
    make_moto_item_operations_atomic,
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
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": HOME,
    }.items():
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
    """An orchestrator on the world's single control table (DR_CONTROL_REGIONS: the home region's, standing in for
    every replica); its waits advance the test's clock."""
    settings = load_settings({**os.environ, **env})
    clock = clock or Clock()
    return orch.Orchestrator(settings, clock=clock, sleep=clock.sleep, monotonic=clock)


def observers(clock):
    """The three regions' orchestrators, each observing from its own region."""
    return {r: make(clock, DR_HOME_REGION=r) for r in REGIONS}


def arm(clock, fleet=None):
    """One healthy round from every observer: each has seen every region healthy (a monitor arms itself so)."""
    fleet = fleet or observers(clock)
    for o in fleet.values():
        assert o.handle(orch.Request("monitor")).outcome == "noop"
    return fleet


def ecs_desired(region: str) -> int:
    return boto3.client("ecs", region_name=region).describe_services(cluster="orders-test", services=["orders"])[
        "services"
    ][0]["desiredCount"]


def test_status_with_no_control_item(world):
    assert orch.handler({"action": "status"}) == {
        "outcome": "noop",
        "activeRegion": "us-east-1",
        "epoch": 0,
        "reason": "status: active",
    }


def test_the_same_alarm_three_times_makes_one_transition_and_one_notice_per_topic(world):
    arm(Clock(time.time()))
    world["servers"]["us-east-1"].healthy = False
    outcomes = [orch.handler(alarm_event("us-east-1"))["outcome"] for _ in range(3)]
    assert outcomes == ["transitioned", "noop", "noop"]
    assert orch.handler({"action": "status"})["epoch"] == 1
    for region in REGIONS:
        assert parameter(region) == ("us-east-2", 1, 2)  # exactly one new version per region, with the epoch
    messages = sns_messages(world["queues"])
    assert len(messages) == 3  # one message on each region's topic, no more
    assert {(m["previousRegion"], m["activeRegion"], m["epoch"]) for m in messages} == {("us-east-1", "us-east-2", 1)}
    assert ecs_desired("us-east-2") == 4 and ecs_desired("us-west-2") == 1


def test_an_alarm_fanned_out_to_every_orchestrator_at_once_makes_one_transition(world):
    arm(Clock(time.time()))
    world["servers"]["us-east-1"].healthy = False
    event = alarm_event("us-east-1")

    def invoke(region):
        os_env = {**os.environ, "DR_HOME_REGION": region}
        settings = load_settings(os_env)
        return orch.Orchestrator(settings).handle(orch.parse_event(event, settings)).to_dict()

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(invoke, REGIONS * 2))
    assert sorted(r["outcome"] for r in results) == ["noop"] * 5 + ["transitioned"]
    assert {r["epoch"] for r in results} == {1}
    assert len(sns_messages(world["queues"])) == 3


def test_alarms_that_are_not_an_outage_change_nothing(world):
    arm(Clock(time.time()))
    world["servers"]["us-east-1"].healthy = False
    stale = orch.handler(alarm_event("us-east-1", at=time.time() - 6 * 3600))
    assert stale["outcome"] == "noop" and "dropped" in stale["reason"]
    new_check = orch.handler(alarm_event("us-east-1", old="INSUFFICIENT_DATA"))
    assert new_check["outcome"] == "noop" and "INSUFFICIENT_DATA -> ALARM" in new_check["reason"]
    world["servers"]["us-east-1"].healthy = True
    passed = orch.handler(alarm_event("us-east-1"))
    assert passed["outcome"] == "noop" and "probe from us-east-2 passed" in passed["reason"]
    assert orch.handler({"action": "status"})["epoch"] == 0 and sns_messages(world["queues"]) == []


def test_an_alarm_on_a_first_deploy_never_moves_writes(world):
    """No observer has seen the primary healthy yet (its name does not resolve, its tasks are starting)."""
    world["servers"]["us-east-1"].healthy = False
    result = orch.handler(alarm_event("us-east-1"))
    assert result["outcome"] == "noop" and "seen it healthy" in result["reason"]


def test_the_fence_stops_a_stale_writer(world):
    """Two orchestrators read the same epoch; the second conditional write fails and changes nothing."""
    a, b = make(), make()
    state = a.store.read()
    assert a.store.transition(state, "us-east-2", "a", 1.0, ["audit"], 90, "nonce-a", 5.0) is True
    assert b.store.transition(state, "us-west-2", "b", 2.0, ["audit"], 90, "nonce-b", 5.0) is False
    now = a.store.read()
    assert (now.active_region, now.phase, now.nonce) == ("us-east-2", "demoting", "nonce-a")
    assert b.store.activate(1, "nonce-b", 3.0) is False  # another transition's activation never applies
    assert a.store.activate(1, "nonce-a", 3.0) is True and a.store.read().phase == "active"
    assert a.store.activate(1, "nonce-a", 4.0) is False  # once only


def test_a_transition_demotes_then_activates_after_the_client_lease(world):
    clock = Clock()
    o = make(clock, DR_LEASE_SECONDS="5")
    seen = []
    o.after_fenced_write = lambda state: seen.append((state.phase, state.settle_seconds, clock.t))
    start = clock.t
    result = o.handle(orch.Request("failover", target="us-east-2", reason="drill"))
    assert result.outcome == "transitioned"
    assert seen == [("demoting", 5.0, start)]
    state = o.store.read()
    assert (state.phase, state.pending) == ("active", ())
    assert clock.t - start >= 5.0  # activated no sooner than the lease after the epoch bump
    assert parameter("us-west-2") == ("us-east-2", 1, 2)


def test_unhealthy_target_is_refused(world):
    world["servers"]["us-west-2"].healthy = False
    result = orch.handler({"action": "failover", "target": "us-west-2", "reason": "drill"})
    assert result["outcome"] == "refused" and "health probe" in result["reason"]
    assert parameter("us-east-1") == ("us-east-1", 0, 1)
    forced = orch.handler({"action": "failover", "target": "us-west-2", "reason": "drill", "force": True})
    assert forced["outcome"] == "transitioned" and parameter("us-west-2")[:2] == ("us-west-2", 1)


def test_an_outage_with_no_healthy_target_keeps_the_active_region(world):
    clock = Clock()
    fleet = arm(clock)
    for s in world["servers"].values():
        s.healthy = False
    outcomes = []
    for _ in range(4):
        clock.t += 10
        outcomes += [o.handle(orch.Request("monitor")) for o in fleet.values()]
    assert {r.outcome for r in outcomes} <= {"noop", "refused"} and any(r.outcome == "refused" for r in outcomes)
    assert fleet[HOME].store.read().active_region == "us-east-1"
    assert sns_messages(world["queues"]) == []


def test_a_real_outage_needs_two_observers_and_fails_over_once(world):
    clock = Clock()
    fleet = arm(clock)
    world["servers"]["us-east-1"].healthy = False
    outcomes = []
    for _ in range(4):
        clock.t += 10
        outcomes.append({r: o.handle(orch.Request("monitor")).outcome for r, o in fleet.items()})
    flat = [v for round_ in outcomes for v in round_.values()]
    assert flat.count("transitioned") == 1
    assert fleet[HOME].store.read().active_region == "us-east-2"


def test_one_observer_alone_never_fails_over_a_region_the_others_see_healthy(world):
    """us-east-2 cannot reach us-east-1; us-west-2 and us-east-1 itself can."""
    clock = Clock()
    fleet = arm(clock)
    bad = make(
        clock,
        DR_HOME_REGION="us-east-2",
        DR_HEALTH_URLS=json.dumps({**json.loads(os.environ["DR_HEALTH_URLS"]), "us-east-1": "http://127.0.0.1:9"}),
    )
    for _ in range(20):
        clock.t += 10
        assert bad.handle(orch.Request("monitor")).outcome == "noop"
        for region in ("us-east-1", "us-west-2"):
            assert fleet[region].handle(orch.Request("monitor")).outcome == "noop"
    assert bad.store.read().epoch == 0


def test_flapping_health_makes_no_transition(world):
    clock = Clock()
    fleet = arm(clock)
    primary = world["servers"]["us-east-1"]
    for i in range(30):
        primary.healthy = i % 3 == 2  # fail, fail, ok, ... never three in a row
        clock.t += 10
        for o in fleet.values():
            assert o.handle(orch.Request("monitor")).outcome == "noop"
    assert fleet[HOME].store.read().epoch == 0


def test_failback_is_manual_by_default(world):
    clock = Clock()
    fleet = arm(clock)
    world["servers"]["us-east-1"].healthy = False
    assert (
        fleet[HOME].handle(orch.parse_event(alarm_event("us-east-1", at=clock.t), fleet[HOME].settings)).outcome
        == "transitioned"
    )
    world["servers"]["us-east-1"].healthy = True
    for _ in range(30):
        clock.t += 10
        for o in fleet.values():
            assert o.handle(orch.Request("monitor")).outcome == "noop"
    assert orch.handler({"action": "failback"})["activeRegion"] == "us-east-1"
    assert parameter("us-west-2")[:2] == ("us-east-1", 2)


def test_automatic_failback_waits_for_a_quorum_healthy_for_the_dwell(world):
    clock = Clock()
    env = {"DR_FAILBACK": "automatic", "DR_MIN_DWELL_SECONDS": "600", "DR_RECOVERY_THRESHOLD": "3"}
    fleet = {r: make(clock, DR_HOME_REGION=r, **env) for r in REGIONS}
    arm(clock, fleet)
    world["servers"]["us-east-1"].healthy = False
    assert (
        fleet[HOME].handle(orch.parse_event(alarm_event("us-east-1", at=clock.t), fleet[HOME].settings)).outcome
        == "transitioned"
    )
    failed_over_at = clock.t
    world["servers"]["us-east-1"].healthy = True
    transitions = []
    for _ in range(70):
        clock.t += 10
        for o in fleet.values():
            if o.handle(orch.Request("monitor")).outcome == "transitioned":
                transitions.append(clock.t)
    assert len(transitions) == 1 and transitions[0] - failed_over_at >= 600
    assert fleet[HOME].store.read().active_region == "us-east-1"


def test_bad_events_change_nothing(world):
    before = [parameter(r) for r in REGIONS]
    nested = "[" * 100_000 + "]" * 100_000
    for event in [
        None,
        [],
        {},
        {"action": "explode"},
        {"action": "failover"},
        {"action": "failover", "target": "eu-west-9"},
        {"action": "failover", "target": "us-east-2", "force": "yes"},
        {"Records": "x"},
        {"Records": [{"Sns": {"Message": "not json"}}]},
        {"Records": [{"Sns": {"Message": nested}}]},
        {"Records": [{"Sns": {"Message": json.dumps({"AlarmName": "other", "NewStateValue": "ALARM"})}}]},
        {"detail-type": "CloudWatch Alarm State Change", "detail": {}},
    ]:
        result = orch.handler(event)
        assert result["outcome"] == "rejected", (event, result)
    assert [parameter(r) for r in REGIONS] == before
    assert boto3.client("dynamodb", region_name=HOME).scan(TableName="orders-test-dr-control")["Count"] == 0


def test_eventbridge_alarm_event(world):
    arm(Clock(time.time()))
    world["servers"]["us-east-1"].healthy = False
    event = {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "detail": {
            "alarmName": "orders-test-us-east-1-unhealthy",
            "state": {"value": "ALARM", "timestamp": iso(time.time())},
            "previousState": {"value": "OK"},
        },
    }
    assert orch.handler(event)["outcome"] == "transitioned"


def test_steps_left_undone_by_a_crash_are_completed_by_the_next_invocation(world):
    """The transitioning invocation dies right after its epoch bump; the next one, once the lease has run out,
    waits the settle time from when it saw the bump, activates, and does every step."""
    clock = Clock()
    crashing = make(clock)

    def crash(state):
        raise RuntimeError("killed after the epoch bump")

    crashing.after_fenced_write = crash
    with pytest.raises(RuntimeError):
        crashing.handle(orch.Request("failover", target="us-east-2", reason="drill"))
    state = crashing.store.read()
    assert (state.phase, set(state.pending)) == ("demoting", {"activate", "scale", "notify", "audit"})
    assert parameter("us-west-2")[:2] == ("us-east-1", 0)
    assert (
        make(clock).handle(orch.Request("status")).reason == "status: demoting; pending: activate, audit, notify, scale"
    )  # the lease still holds
    clock.t += orch.Timing().lease_seconds + 1
    before = clock.t
    status = make(clock).handle(orch.Request("status"))
    assert status.reason == "status: active" and status.epoch == 1
    assert clock.t - before >= 0.05  # waited the settle time from its own read of the bump
    assert parameter("us-west-2") == ("us-east-2", 1, 2) and ecs_desired("us-east-2") == 4
    assert len(sns_messages(world["queues"])) == 3


def test_a_newer_transition_never_waits_for_an_older_ones_steps(world):
    clock = Clock()
    first = make(clock)
    first.after_fenced_write = lambda state: (_ for _ in ()).throw(RuntimeError("frozen"))
    with pytest.raises(RuntimeError):
        first.handle(orch.Request("failover", target="us-east-2", reason="first"))
    result = make(clock).handle(orch.Request("failover", target="us-west-2", reason="second", force=True))
    assert (result.outcome, result.epoch) == ("transitioned", 2)
    assert make(clock).store.read().phase == "active"
    assert make(clock).store.activate(1, "anything", clock.t) is False


def _metric(name, value, region="us-east-1", at=None, **dims):
    import datetime as dt

    dimensions = [{"Name": "TableName", "Value": "orders"}] + [{"Name": k, "Value": v} for k, v in dims.items()]
    stamp = dt.datetime.fromtimestamp(at, dt.UTC) if at else dt.datetime.now(dt.UTC)
    boto3.client("cloudwatch", region_name=region).put_metric_data(
        Namespace="AWS/DynamoDB",
        MetricData=[{"MetricName": name, "Value": value, "Timestamp": stamp, "Dimensions": dimensions}],
    )


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


def test_a_replicator_silent_for_minutes_while_writes_go_on_is_lag(world):
    """The last latency datapoint (0.4 s) is four minutes old; the source took writes since."""
    now = time.time()
    o = make(Clock(now), DR_RPO_SECONDS="5", DR_DATA_TABLE="orders")
    _metric("ReplicationLatency", 400.0, at=now - 240, ReceivingRegion="us-east-2")
    _metric("ConsumedWriteCapacityUnits", 5.0, at=now - 30)
    refused = o.handle(orch.Request("failover", target="us-east-2", reason="drill"))
    assert refused.outcome == "refused" and refused.reason.startswith("replication has been silent")


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
    clock.t += orch.Timing().lag_memory_seconds + 60  # too old to trust: unknown again
    assert make(clock, DR_RPO_SECONDS="5", DR_DATA_TABLE="orders").lag_for("us-east-2", "us-west-2") is None


def test_one_invocation_probes_every_interval_for_its_window(world):
    healthy = make(Clock(), DR_MONITOR_WINDOW_SECONDS="75")
    quiet = healthy.handle(orch.Request("monitor"))
    assert quiet.outcome == "noop" and quiet.reason.endswith("(8 rounds)")  # 0, 10, ... 70 s


def test_each_observer_keeps_its_own_counts(world):
    clock = Clock()
    fleet = arm(clock)
    world["servers"]["us-east-1"].healthy = False
    for _ in range(2):
        clock.t += 10
        for region in ("us-east-2", "us-west-2"):
            fleet[region].handle(orch.Request("monitor"))
    records = fleet[HOME].store.read_observations()
    assert set(records) == set(REGIONS)
    assert records["us-east-2"][0].failures["us-east-1"] == 2 and records["us-west-2"][0].failures["us-east-1"] == 2
    assert records["us-east-1"][0].failures.get("us-east-1", 0) == 0


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
        stub.add_client_error(
            "update_item",
            service_error_code="ReplicatedWriteConflictException",
            service_message="concurrent write from another region",
        )
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
            TableName=CONTROL, Key={"pk": {"S": "control#orders"}}
        )["Item"]["reason"]["S"]
        assert len(stored) <= MAX_REASON_CHARS and stored.isprintable()
        for note in sns_messages(world["queues"]):
            assert len(json.dumps(note)) < 2_000
    assert orch.handler({"action": "failover", "target": "us-east-1", "reason": 42})["outcome"] == "rejected"


@pytest.mark.parametrize(
    "item, words",
    [
        ({"activeRegion": {"S": "eu-west-9"}, "epoch": {"N": "3"}}, "names 'eu-west-9' as active"),
        ({"epoch": {"N": "3"}}, "has no activeRegion"),
        ({"activeRegion": {"S": "us-east-1"}, "epoch": {"S": "three"}}, "epoch 'three' is not a whole number"),
        ({"activeRegion": {"S": "us-east-1"}, "epoch": {"N": "1"}, "phase": {"S": "maybe"}}, "phase 'maybe'"),
    ],
)
def test_bad_control_state_is_reported_as_an_outcome_and_changes_nothing(world, item, words):
    ddb = boto3.client("dynamodb", region_name=HOME)
    ddb.put_item(TableName=CONTROL, Item={"pk": {"S": "control#orders"}, **item})
    before = [parameter(r) for r in REGIONS]
    world["servers"]["us-east-1"].healthy = False
    for event in (
        {"action": "status"},
        {"action": "monitor"},
        alarm_event("us-east-1"),
        {"action": "failover", "target": "us-east-2"},
    ):
        result = orch.handler(event)
        assert result["outcome"] == "error" and words in result["reason"], (event, result)
    assert [parameter(r) for r in REGIONS] == before
    assert ddb.get_item(TableName=CONTROL, Key={"pk": {"S": "control#orders"}})["Item"] == {
        "pk": {"S": "control#orders"},
        **item,
    }


def test_a_wrong_control_table_is_an_error_outcome(world, monkeypatch):
    monkeypatch.setenv("DR_CONTROL_TABLE", "no-such-table")
    result = orch.handler({"action": "status"})
    assert result["outcome"] == "error" and "no-such-table unavailable from us-east-2" in result["reason"]


def test_each_monitor_round_repairs_its_own_regions_projection_even_a_late_older_epoch(world):
    clock = Clock()
    o = make(clock)
    assert o.handle(orch.Request("failover", target="us-west-2", reason="drill")).outcome == "transitioned"
    # a late write of the older epoch lands in us-east-2 after the newer one
    boto3.client("ssm", region_name=HOME).put_parameter(
        Name=PARAM, Value=projection.render("us-east-1", 0), Type="String", Overwrite=True
    )
    assert o.handle(orch.Request("monitor")).outcome == "noop"
    assert parameter(HOME)[:2] == ("us-west-2", 1)


def test_deadline_comes_from_the_lambda_context():
    class Context:
        def get_remaining_time_in_millis(self):
            return 9_000

    timing = orch.Timing()
    deadline = orch.Deadline.from_context(Context())
    assert 7.0 < deadline.remaining() <= 9.0 - timing.safety_margin_seconds
    assert deadline.call_timeout() == timing.call_timeout_seconds
    assert orch.Deadline(0.3).call_timeout() <= 0.3


def test_missing_setting_is_reported_by_name(world, monkeypatch):
    monkeypatch.delenv("DR_CONTROL_TABLE")
    assert orch.handler({"action": "status"}) == {
        "outcome": "rejected",
        "activeRegion": None,
        "epoch": None,
        "reason": "DR_CONTROL_TABLE is not set",
    }
    monkeypatch.setenv("DR_CONTROL_TABLE", "x")
    monkeypatch.setenv("DR_HEALTH_URLS", "{not json")
    assert orch.handler({"action": "status"})["reason"].startswith("DR_HEALTH_URLS is not valid JSON")


def test_json_python_refuses_past_its_syntax_is_named_not_a_traceback():
    """json.loads raises a plain ValueError (no .msg, no .pos) for an integer over Python's 4300-digit limit."""
    env = {"DR_REGIONS": "us-east-1,us-east-2", "DR_HOME_REGION": "us-east-2"}
    env["DR_HEALTH_URLS"] = '{"us-east-1": ' + "1" * 5000 + "}"
    with pytest.raises(SettingsError, match=r"^DR_HEALTH_URLS is not valid JSON \(Exceeds the limit"):
        load_settings(env)


def test_a_round_whose_call_times_out_is_lost_not_the_rest_of_the_window(world, monkeypatch):
    """A control-table call that does not answer in time costs one round; the invocation keeps probing."""
    from botocore.exceptions import ReadTimeoutError

    o = make(Clock(), DR_MONITOR_WINDOW_SECONDS="40")
    real_read, calls = o.store.read, []

    def flaky_read():
        calls.append(1)
        if len(calls) == 2:
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-2.amazonaws.com")
        return real_read()

    monkeypatch.setattr(o.store, "read", flaky_read)
    result = o.handle(orch.Request("monitor"))
    assert result.outcome == "noop" and result.reason.endswith("(3 rounds)")  # 4 rounds, the second lost
    assert len(calls) == 4
    dead = make(Clock(), DR_MONITOR_WINDOW_SECONDS="20")
    monkeypatch.setattr(
        dead.store,
        "read",
        lambda: (_ for _ in ()).throw(ReadTimeoutError(endpoint_url="https://dynamodb.us-east-2.amazonaws.com")),
    )
    lost = dead.handle(orch.Request("monitor"))
    assert lost.outcome == "error" and "for 2 rounds" in lost.reason  # cut off: every round fails, said so
