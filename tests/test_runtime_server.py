"""End to end against the moto *server* on loopback: the handler talks HTTP to AWS endpoints,
health URLs are real local HTTP servers, notifications are counted through SQS."""

from __future__ import annotations

import os

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from failover import orchestrator as orch
from failover.settings import load_settings
from tests.runtime_env import REGIONS, HealthServer, alarm_event, build_world, parameter, sns_messages


@pytest.fixture
def server_world(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    requests.post(f"http://{host}:{port}/moto-api/reset", timeout=10)  # moto's server state is process-wide
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-2",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }.items():
        monkeypatch.setenv(k, v)
    servers = {r: HealthServer() for r in REGIONS}
    world = build_world(servers)
    for k, v in world["env"].items():
        monkeypatch.setenv(k, v)
    world["servers"] = servers
    yield world
    for s in servers.values():
        s.close()
    server.stop()


def test_alarm_storm_and_manual_failback_over_http(server_world):
    assert boto3.client("ssm", region_name="us-east-1").meta.endpoint_url.startswith("http://127.0.0.1")
    for region in ("us-east-2", "us-west-2"):  # two observers arm: they saw every region healthy
        settings = load_settings({**os.environ, "DR_HOME_REGION": region})
        assert orch.Orchestrator(settings).handle(orch.Request("monitor")).outcome == "noop"
    server_world["servers"]["us-east-1"].healthy = False
    results = [orch.handler(alarm_event("us-east-1")) for _ in range(3)]
    assert [r["outcome"] for r in results] == ["transitioned", "noop", "noop"]
    assert all(parameter(r) == ("us-east-2", 1, 2) for r in REGIONS)
    assert len(sns_messages(server_world["queues"])) == 3
    server_world["servers"]["us-east-1"].healthy = True
    back = orch.handler({"action": "failback", "reason": "region recovered"})
    assert (back["outcome"], back["activeRegion"], back["epoch"]) == ("transitioned", "us-east-1", 2)
    notes = sns_messages(server_world["queues"])
    assert {(n["previousRegion"], n["activeRegion"], n["reason"]) for n in notes} == {
        ("us-east-2", "us-east-1", "region recovered")
    }
    assert orch.handler({"action": "nonsense"})["outcome"] == "rejected"
