"""A real HAProxy on loopback, with the rendered config, in front of two local HTTP servers and a backup.

Stopping one server: HAProxy marks it DOWN within inter x fall (+ SLACK_SECONDS, for a shared 2-core
machine) and serves from the other. Stopping both: the backup (the next region's HAProxy) serves, while the
health path (what Route 53 checks) answers 503 and the peer listener never bounces requests onward. The
stats page answers 401 without credentials and 200 with them. Every address is 127.0.0.1.
"""

from __future__ import annotations

import base64
import csv
import io
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from components.sites.ovh.haproxy_config import (
    APP_BACKEND,
    LOCAL_BACKEND,
    HaproxySite,
    HealthCheck,
    HostRuntime,
    Server,
    hash_stats_password,
    render_haproxy_config,
)
from tests.haproxy_env import PASSWORD, require_haproxy

# Timing-sensitive (loopback deadlines, a drill's measured figures): under pytest-xdist these modules share
# one worker, so two of them never compete for the cores at once.
pytestmark = pytest.mark.xdist_group("loopback-timing")

INTER_MS, RISE, FALL = 500, 2, 3
SLACK_SECONDS = 1.5
"""Allowance on top of inter x fall: the check scheduler, the first check's phase, and a busy shared CPU."""
HOST_HEADER = "api.example.test"
LOOPBACK = "127.0.0.1"


class _App(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, label: str) -> None:
        self.label = label
        self.health_hosts: list[str] = []
        super().__init__((LOOPBACK, 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request, client_address) -> None:
        pass  # HAProxy closes its check connections with a reset; that is not an error here

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        app: _App = self.server  # type: ignore[assignment]
        if self.path == "/health":
            app.health_hosts.append(self.headers.get("Host", ""))
        body = app.label.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _server_states(sock_path: Path) -> dict[str, str]:
    """`show stat` on HAProxy's stats socket: "backend/server" -> status (UP, DOWN, ...)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(sock_path))
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
    return {f"{r['pxname']}/{r['svname']}": r["status"] for r in rows if r["svname"] not in ("FRONTEND", "BACKEND")}


def _wait_for(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


@contextmanager
def _running_haproxy(config: str, workdir: Path, frontend_port: int):
    path = workdir / "haproxy.cfg"
    path.write_text(config)
    process = subprocess.Popen(
        [require_haproxy(), "-db", "-f", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:

        def ready():
            if process.poll() is not None:
                raise AssertionError(f"haproxy exited: {process.stdout.read() if process.stdout else ''}")
            try:
                with socket.create_connection((LOOPBACK, frontend_port), timeout=0.2):
                    return True
            except OSError:
                return False

        assert _wait_for(ready, 10), "haproxy did not listen within 10 s"
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def apps():
    started = [_App("a"), _App("b"), _App("backup")]
    try:
        yield started
    finally:
        for app in started:
            with suppress(OSError):
                app.stop()


def test_failover_inside_the_proxy(apps, tmp_path):
    a, b, backup = apps
    frontend, peer, stats = _free_port(), _free_port(), _free_port()
    sock = tmp_path / "admin.sock"
    site = HaproxySite(
        name="live",
        http_port=frontend,
        bind_address=LOOPBACK,
        peer_address=LOOPBACK,
        peer_port=peer,
        servers=(Server("app-a", LOOPBACK, a.port), Server("app-b", LOOPBACK, b.port)),
        backups=(Server("site_next", LOOPBACK, backup.port),),
        health_check=HealthCheck("/health", HOST_HEADER, 200, INTER_MS, RISE, FALL),
        stats_address=LOOPBACK,
        stats_port=stats,
        stats_user="admin",
    )
    runtime = HostRuntime(
        log_target="stdout format raw",
        chroot=None,
        user=None,
        group=None,
        stats_socket=str(sock),
        daemon=False,
        cert_dir=str(tmp_path),
    )
    config = render_haproxy_config(site, hash_stats_password(PASSWORD, "liveTestSalt0001"), runtime)
    base = f"http://{LOOPBACK}:{frontend}"
    down_within = INTER_MS * FALL / 1000 + SLACK_SECONDS

    with _running_haproxy(config, tmp_path, frontend):
        assert _wait_for(lambda: _server_states(sock).get(f"{APP_BACKEND}/app-a", "").startswith("UP"), 5)
        assert {_get(base + "/")[1] for _ in range(6)} == {"a", "b"}  # roundrobin over both
        assert _wait_for(lambda: a.health_hosts, 5) and set(a.health_hosts) == {HOST_HEADER}

        stopped = time.monotonic()
        a.stop()
        assert _wait_for(lambda: _server_states(sock)[f"{APP_BACKEND}/app-a"].startswith("DOWN"), down_within), (
            f"app-a not DOWN within {down_within:.1f} s"
        )
        print(f"app-a DOWN after {time.monotonic() - stopped:.2f} s (inter x fall = {INTER_MS * FALL / 1000} s)")
        states = _server_states(sock)
        assert states[f"{APP_BACKEND}/app-b"].startswith("UP")
        assert states[f"{LOCAL_BACKEND}/app-a"].startswith("DOWN")  # tracks the checked server
        assert {_get(base + "/")[1] for _ in range(6)} == {"b"}
        assert _get(base + "/health") == (200, "b")
        assert _get(base + "/health/route") == (200, "b")  # Route 53's path answers from the local servers too

        stopped = time.monotonic()
        b.stop()
        assert _wait_for(lambda: _server_states(sock)[f"{APP_BACKEND}/app-b"].startswith("DOWN"), down_within)
        print(f"app-b DOWN after {time.monotonic() - stopped:.2f} s")
        assert [_get(base + "/")[1] for _ in range(3)] == ["backup"] * 3
        assert _get(base + "/health")[0] == 503  # DNS sees the site itself is down
        assert _get(base + "/health/route")[0] == 503  # on the path Route 53 checks, too
        assert _get(f"http://{LOOPBACK}:{peer}/")[0] == 503  # overflow from other sites is never passed on

        stats_url = f"http://{LOOPBACK}:{stats}/"
        assert _get(stats_url)[0] == 401
        assert _get(stats_url, ("admin", PASSWORD + "x"))[0] == 401
        status, body = _get(stats_url, ("admin", PASSWORD))
        assert status == 200 and APP_BACKEND in body
