"""The drill's live parts one by one: a region's gate on loopback, the crash it injects into the real orchestrator
(moto in-process), the timeline picture, and the command's usage errors."""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from moto import mock_aws

from drctl.__main__ import main
from drctl.drill.live import CrashingOrchestrator, CrashSwitch, SimulatedCrash, http_status
from drctl.drill.loopback import Gate
from drctl.drill.measure import TrafficRecord, Transition, WriteRecord
from drctl.drill.report import render_timeline
from drctl.drill.scenarios import ScenarioRun
from drctl.drill.verdict import Figure, ScenarioResult
from failover import orchestrator as orch
from failover.settings import load_settings
from tests.runtime_env import HOME, PARAM, REGIONS, Clock, HealthServer, build_world, parameter


class KeepAliveServer:
    """HTTP/1.1 on loopback: one connection carries several requests, as botocore's pooled connections do."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = ("127.0.0.1", self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream():
    server = KeepAliveServer()
    yield server
    server.close()


def test_a_gate_relays_hangs_refuses_and_relays_again(upstream):
    gate = Gate("test", upstream.address)
    try:
        url = gate.url + "/health"
        assert http_status(url, 1.0, 1.0) == 200
        gate.set_mode("hung")
        began = time.monotonic()
        assert http_status(url, 1.0, 0.5) is None
        assert time.monotonic() - began >= 0.45  # connected, then no answer: it waited out the response limit
        gate.set_mode("refuse")
        began = time.monotonic()
        assert http_status(url, 1.0, 2.0) is None
        assert time.monotonic() - began < 0.5  # reset at once, like a closed port
        gate.set_mode("up")
        assert http_status(url, 1.0, 1.0) == 200
    finally:
        gate.close()


def test_a_connection_open_when_the_gate_is_cut_stops_being_answered(upstream):
    gate = Gate("test", upstream.address)
    conn = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=0.5)
    try:
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"ok"
        conn.request("GET", "/")  # same connection, still relayed
        assert conn.getresponse().read() == b"ok"
        gate.set_mode("hung")
        conn.request("GET", "/")
        with pytest.raises(TimeoutError):
            conn.getresponse()
    finally:
        conn.close()
        gate.close()


@pytest.fixture
def moto_world(monkeypatch):
    servers = {r: HealthServer() for r in REGIONS}
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": HOME}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        world = build_world(servers)
        world["servers"] = servers
        yield world
    for server in servers.values():
        server.close()


def test_the_injected_crash_leaves_the_epoch_bumped_and_the_next_invocation_completes_the_steps(moto_world):
    settings = load_settings(moto_world["env"])
    clock, switch = Clock(time.time()), CrashSwitch()
    moto_world["servers"]["us-east-1"].healthy = False
    switch.arm()
    crashing = CrashingOrchestrator(settings, clock=clock, sleep=clock.sleep, control_region=HOME, crash=switch)
    with pytest.raises(SimulatedCrash):
        crashing.handle(orch.Request("alarm", alarm_region="us-east-1", alarm_state="ALARM", reason="drill"))
    assert [(region, epoch) for _, region, epoch in switch.crashes] == [(HOME, 1)]
    assert switch.take() is False  # one crash per arming

    def fresh() -> orch.Orchestrator:
        return orch.Orchestrator(settings, clock=clock, sleep=clock.sleep, control_region=HOME)

    status = fresh().handle(orch.Request("status"))
    assert (status.active_region, status.epoch) == ("us-east-2", 1)
    assert "ssm:us-east-2" in status.reason  # the crashed holder's lease keeps the steps pending
    assert parameter("us-east-2")[0] == "us-east-1"
    clock.t += orch.LEASE_SECONDS + 1
    done = fresh().handle(orch.Request("status"))
    assert done.reason == "status"  # nothing pending any more
    assert {r: boto3.client("ssm", region_name=r).get_parameter(Name=PARAM)["Parameter"]["Value"]
            for r in REGIONS} == {r: "us-east-2" for r in REGIONS}


def test_the_timeline_picture_is_a_png(tmp_path):
    start = 1000.0
    run = ScenarioRun(
        name="primary-fails", kind="primary-fails", start=start, fault_at=start + 3, end=start + 12,
        failed="us-east-1", targets={"us-east-2", "us-west-2"}, checked_region="us-east-2",
        writes=[WriteRecord(i, f"w#{i}", "us-east-1" if i < 30 else "us-east-2", start + i * 0.1,
                            None if 30 <= i < 60 else start + i * 0.1 + 0.05) for i in range(100)],
        present={f"w#{i}" for i in range(100) if i != 29},
        traffic=[TrafficRecord(start + i * 0.1, "us-east-1" if i < 70 else "us-east-2", i < 30 or i >= 70)
                 for i in range(120)],
        answers=[(start, "us-east-1"), (start + 6, "us-east-2")],
        user_answers={0: [(start, "us-east-1"), (start + 7, "us-east-2")], 1: [(start, "us-east-1"),
                                                                               (start + 9, "us-east-2")]},
        health_changes=[(start + 6, "us-east-1", False)],
        transitions=[Transition(start + 6.2, 1, "us-east-1", "us-east-2")],
        active=[(start, "us-east-1"), (start + 6.3, "us-east-2")],
        states=[(start - 1, r, "up") for r in ("us-east-1", "us-east-2", "us-west-2")] + [(start + 3, "us-east-1",
                                                                                          "down")],
        invocations=[], details={"crash": {"at": 3.2, "region": "us-east-2", "epoch": 1}})
    result = ScenarioResult("primary-fails", "primary-fails", (Figure("writeRtoSeconds", 6.1, 9.0),), 1, (1, 1),
                            70, 1, True, details={"lostKeys": ["w#29"]})
    path = tmp_path / "timeline.png"
    render_timeline(run, result, "strong", path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_drill_usage_errors_exit_2_with_one_line(tmp_path, capsys):
    not_a_folder = tmp_path / "report"
    not_a_folder.write_text("x")
    assert main(["drill", "--out", str(not_a_folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --out {not_a_folder}:") and "\n" not in err
    with pytest.raises(SystemExit) as bad_mode:
        main(["drill", "--mode", "quantum"])
    assert bad_mode.value.code == 2


class FakeRegion:
    """A region's table as the strong-mode replication sees it: takes writes unless down."""

    def __init__(self) -> None:
        self.down = False
        self.items: list[dict] = []

    def put_item(self, TableName=None, Item=None):  # noqa: N803 - boto3's argument names
        if self.down:
            raise ConnectionError("region down")
        self.items.append(Item)

    def batch_write_item(self, RequestItems):  # noqa: N803
        for request in RequestItems["orders-drill"]:
            self.put_item(Item=request["PutRequest"]["Item"])


def test_strong_mode_acknowledges_on_a_majority_and_repairs_a_region_that_missed_writes():
    from drctl.drill.live import SynchronousReplication

    tables = {r: FakeRegion() for r in REGIONS}
    replication = SynchronousReplication(REGIONS, "orders-drill", lambda region: tables[region])
    try:
        active = tables["us-east-1"]
        assert replication.put(active, "us-east-1", {"pk": "w#1"}) is True
        tables["us-east-2"].down = True
        assert replication.put(active, "us-east-1", {"pk": "w#2"}) is True  # us-east-1 + us-west-2: a majority
        tables["us-west-2"].down = True
        assert replication.put(active, "us-east-1", {"pk": "w#3"}) is False  # the active region alone
        active.down = True
        with pytest.raises(ConnectionError):
            replication.put(active, "us-east-1", {"pk": "w#4"})
        time.sleep(0.2)
        assert replication.missed("us-east-2") == 3 and replication.missed("us-west-2") == 2
        tables["us-east-2"].down = False
        assert replication.repair("us-east-2") == 3
        assert [i["pk"] for i in tables["us-east-2"].items] == [{"S": "w#1"}, {"S": "w#2"}, {"S": "w#3"},
                                                                 {"S": "w#4"}]
        assert replication.missed("us-east-2") == 0
    finally:
        replication.close()
