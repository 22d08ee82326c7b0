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
from failover import projection
from failover.settings import load_settings
from tests.runtime_env import PARAM, Clock, HealthServer, HungServer, build_world, sns_messages

# Timing-sensitive (loopback deadlines, a drill's measured figures): under pytest-xdist these modules share
# one worker, so two of them never compete for the cores at once.
pytestmark = pytest.mark.xdist_group("loopback-timing")

SIX = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"]


@pytest.fixture
def hung_world(moto_server, monkeypatch, request):
    regions = SIX[: request.param]
    requests.post(f"{moto_server}/moto-api/reset", timeout=10)
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": regions[1],
        "AWS_ENDPOINT_URL": moto_server,
    }.items():
        monkeypatch.setenv(k, v)
    hung = HungServer()
    servers = {r: HealthServer() for r in regions}
    world = build_world(
        servers, regions=regions, home=regions[1], DR_HEALTH_URLS=None, DR_RPO_SECONDS="5", DR_DATA_TABLE="orders"
    )
    import json

    urls = {r: s.url for r, s in servers.items()}
    world["env"]["DR_HEALTH_URLS"] = json.dumps(urls)  # before the outage: the failed region answers
    world["hung_urls"] = json.dumps({**urls, regions[0]: f"{hung.url}/health"})
    # two regions: the control table's witness region runs the third observer (a majority needs three)
    witness = ["us-west-2"] if len(regions) == 2 else []
    world["env"]["DR_OBSERVER_REGIONS"] = ",".join(regions + witness)
    world["voters"] = regions[2:] + witness
    world.update(regions=regions, hung=hung, failed=regions[0], target=regions[1])
    yield world
    hung.close()
    for s in servers.values():
        s.close()


def orchestrator(world, clock, failed_endpoint, **env):
    settings = load_settings({**os.environ, **world["env"], **env})
    return orch.Orchestrator(settings, clock=clock, sleep=clock.sleep, endpoints={world["failed"]: failed_endpoint})


@pytest.mark.parametrize("hung_world", [2, 6], indirect=True, ids=["2-regions", "6-regions"])
def test_a_hung_region_delays_neither_the_transition_nor_the_monitor_round(hung_world, moto_server):
    w, clock = hung_world, Clock(time.time())
    # Before the outage the monitor records replication lag (eventual consistency: the gate is on).
    boto3.client("cloudwatch", region_name=w["failed"]).put_metric_data(
        Namespace="AWS/DynamoDB",
        MetricData=[
            {
                "MetricName": "ReplicationLatency",
                "Value": 800.0,
                "Dimensions": [
                    {"Name": "TableName", "Value": "orders"},
                    {"Name": "ReceivingRegion", "Value": w["target"]},
                ],
            }
        ],
    )
    assert orchestrator(w, clock, moto_server).handle(orch.Request("monitor")).outcome == "noop"

    # The failed region hangs: its AWS endpoints and its health URL accept and never answer.
    clock.t += 10
    monitor = orchestrator(w, clock, w["hung"].url, DR_HEALTH_URLS=w["hung_urls"])
    start = time.monotonic()
    result = monitor.handle(orch.Request("monitor"))
    round_seconds = time.monotonic() - start
    assert result.outcome == "noop" and round_seconds < monitor.settings.probe_interval_seconds, round_seconds
    own = monitor.store.read_observations()[w["target"]][0]
    assert own.failures[w["failed"]] == 1 and all(own.successes[r] == 2 for r in w["regions"][1:])

    clock.t += 10
    alarm = orchestrator(w, clock, w["hung"].url, DR_HEALTH_URLS=w["hung_urls"])
    # The other observers have seen the failed region fail three rounds too (a majority must agree).
    for other in w["voters"]:
        alarm.store.claim_observer(other, "other")
        assert alarm.store.save_observation(
            orch.Observation(
                other,
                epoch=0,
                at=clock.t,
                seen_at=clock.t,
                failures={w["failed"]: 3},
                failing_since={w["failed"]: clock.t - 20},
                last_success={w["failed"]: clock.t - 30, w["target"]: clock.t},
                latest={w["failed"]: False, w["target"]: True},
            ),
            "other",
        )
    target_ssm = alarm.client("ssm", w["target"])
    real_put, written = target_ssm.put_parameter, []

    def timed_put(**kwargs):  # when the target's projection lands, writes have moved
        out = real_put(**kwargs)
        written.append(time.monotonic())
        return out

    target_ssm.put_parameter = timed_put
    start = time.monotonic()
    moved = alarm.handle(
        orch.Request(
            "alarm",
            alarm_region=w["failed"],
            alarm_state="ALARM",
            alarm_old_state="OK",
            alarm_at=clock.t,
            reason="alarm",
        )
    )
    returned = time.monotonic() - start
    assert moved.outcome == "transitioned" and moved.active_region == w["target"], moved
    settle = alarm.settings.client_lease_seconds
    call = orch.Timing().call_timeout_seconds
    # the budget's two fenced writes and the settle time cover writes moving (the projection lands with them);
    # the hung region's projection and notice then cost one more call, side by side
    assert written and written[0] - start < TRANSITION_ALLOWANCE_SECONDS + settle, written[0] - start
    assert returned < TRANSITION_ALLOWANCE_SECONDS + settle + call + 0.5, returned
    assert not moved.reason.endswith("still pending")  # the hung region's projection is its own orchestrator's job
    for region in w["regions"][1:]:
        ssm = boto3.client("ssm", region_name=region)
        assert projection.parse(ssm.get_parameter(Name=PARAM)["Parameter"]["Value"]) == projection.Projection(
            1, w["target"]
        )
    assert len(sns_messages({r: q for r, q in w["queues"].items() if r != w["failed"]})) == len(w["regions"]) - 1
