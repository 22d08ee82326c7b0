"""A region that accepts connections and never answers, on loopback: the transition and the monitor round
keep their deadlines, the hung region's step stays pending, and nothing else waits for it.

These bound a deadline (a behavioural property: without deadlines one alarm transition took 25 s and a
monitor tick over a minute), not speed; the runtime benchmark measures the figures.
"""

from __future__ import annotations

import os
import time

import boto3
import pytest
import requests

from components.budget import TRANSITION_ALLOWANCE_SECONDS
from failover import orchestrator as orch
from failover.settings import load_settings
from tests.runtime_env import PARAM, Clock, HealthServer, HungServer, build_world, sns_messages

SIX = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"]


@pytest.fixture
def hung_world(moto_server, monkeypatch, request):
    regions = SIX[: request.param]
    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": regions[1],
                 "AWS_ENDPOINT_URL": moto_server}.items():
        monkeypatch.setenv(k, v)
    hung = HungServer()
    servers = {r: HealthServer() for r in regions[1:]}
    world = build_world(servers, regions=regions, home=regions[1],
                        DR_HEALTH_URLS=None, DR_RPO_SECONDS="5", DR_DATA_TABLE="orders")
    urls = {r: s.url for r, s in servers.items()}
    urls[regions[0]] = f"{hung.url}/health"
    import json

    world["env"]["DR_HEALTH_URLS"] = json.dumps(urls)
    world.update(regions=regions, hung=hung, failed=regions[0], target=regions[1])
    yield world
    hung.close()
    for s in servers.values():
        s.close()


def orchestrator(world, clock, failed_endpoint):
    settings = load_settings({**os.environ, **world["env"]})
    return orch.Orchestrator(settings, clock=clock, sleep=clock.sleep, endpoints={world["failed"]: failed_endpoint})


@pytest.mark.parametrize("hung_world", [2, 6], indirect=True, ids=["2-regions", "6-regions"])
def test_a_hung_region_delays_neither_the_transition_nor_the_monitor_round(hung_world, moto_server):
    w, clock = hung_world, Clock(time.time())
    # Before the outage the monitor records replication lag (eventual consistency: the gate is on).
    boto3.client("cloudwatch", region_name=w["failed"]).put_metric_data(Namespace="AWS/DynamoDB", MetricData=[{
        "MetricName": "ReplicationLatency", "Value": 800.0, "Dimensions": [
            {"Name": "TableName", "Value": "orders"}, {"Name": "ReceivingRegion", "Value": w["target"]}]}])
    assert orchestrator(w, clock, moto_server).handle(orch.Request("monitor")).outcome == "noop"

    # The failed region hangs: its AWS endpoints and its health URL accept and never answer.
    clock.t += 10
    monitor = orchestrator(w, clock, w["hung"].url)
    start = time.monotonic()
    result = monitor.handle(orch.Request("monitor"))
    round_seconds = time.monotonic() - start
    assert result.outcome == "noop" and round_seconds < monitor.settings.probe_interval_seconds, round_seconds
    own = monitor.store.read_observations()[w["target"]][0]
    assert own.failures[w["failed"]] == 2 and all(own.successes[r] == 2 for r in w["regions"][1:])

    clock.t += 10
    alarm = orchestrator(w, clock, w["hung"].url)
    target_ssm = alarm.client("ssm", w["target"])
    real_put, written = target_ssm.put_parameter, []

    def timed_put(**kwargs):  # when the target's projection lands, writes have moved
        out = real_put(**kwargs)
        written.append(time.monotonic())
        return out

    target_ssm.put_parameter = timed_put
    start = time.monotonic()
    moved = alarm.handle(orch.Request("alarm", alarm_region=w["failed"], alarm_state="ALARM", reason="alarm"))
    returned = time.monotonic() - start
    assert moved.outcome == "transitioned" and moved.active_region == w["target"], moved
    # the budget's transition allowance covers writes moving; the hung region's step then costs one more call
    assert written and written[0] - start < TRANSITION_ALLOWANCE_SECONDS, written[0] - start
    assert returned < TRANSITION_ALLOWANCE_SECONDS + orch.CALL_TIMEOUT_SECONDS, returned
    assert moved.reason.endswith(f"still pending: ssm:{w['failed']}")  # left for a later invocation
    for region in w["regions"][1:]:
        ssm = boto3.client("ssm", region_name=region)
        assert ssm.get_parameter(Name=PARAM)["Parameter"]["Value"] == w["target"]
    assert len(sns_messages({r: q for r, q in w["queues"].items() if r != w["failed"]})) == len(w["regions"]) - 1
