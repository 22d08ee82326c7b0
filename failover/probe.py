"""HTTP health probes of the regional endpoints (stdlib only: the Lambda zip carries no dependencies).

Each probe has its own wall-clock deadline covering everything: the name lookup, the connection, TLS, and the whole
response. urllib's timeout bounds each socket operation only, so an endpoint that answers one byte at a time holds
a plain request for as long as it likes; here a probe runs in its own thread, the caller waits for it at most the
deadline, and at the deadline its socket is shut down so the thread ends too. One slow endpoint fails its own probe
and nobody else's.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping

READ_CHUNK = 4096
MAX_BODY = 64 * 1024
"""A health endpoint's answer is small: reading more is pointless (and could be a way to hold the probe)."""


class _Probe:
    """One GET with a deadline; `result` is the status (None: no complete answer in time)."""

    def __init__(self, url: str, deadline: float, context: ssl.SSLContext | None) -> None:
        self.url = url
        self.deadline = deadline
        self.context = context
        self.result: int | None = None
        self.conn: http.client.HTTPConnection | None = None
        self.done = threading.Event()

    def left(self) -> float:
        return max(0.001, self.deadline - time.monotonic())

    def run(self) -> None:
        try:
            parts = urllib.parse.urlsplit(self.url)
            host = parts.hostname or ""
            if parts.scheme == "https":
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, parts.port, timeout=self.left(), context=self.context or ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(host, parts.port, timeout=self.left())
            self.conn = conn
            conn.connect()
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("GET", path, headers={"User-Agent": "dr-orchestrator-probe", "Connection": "close"})
            response = conn.getresponse()
            read = 0
            while read < MAX_BODY and time.monotonic() < self.deadline:
                chunk = response.read1(READ_CHUNK) if hasattr(response, "read1") else response.read(READ_CHUNK)
                if not chunk:
                    break
                read += len(chunk)
            if time.monotonic() <= self.deadline:
                self.result = response.status
        except (OSError, http.client.HTTPException, ValueError):
            self.result = None
        finally:
            self.done.set()
            self.close()

    def close(self) -> None:
        conn = self.conn
        sock = getattr(conn, "sock", None) if conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading a slow answer
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()


def probe_status(
    url: str, timeout: float, context: ssl.SSLContext | None = None, clock: Callable[[], float] = time.monotonic
) -> int | None:
    """The HTTP status of GET `url` if the whole answer arrives within `timeout` seconds, else None."""
    probe = _Probe(url, clock() + timeout, context)
    thread = threading.Thread(target=probe.run, name="probe", daemon=True)
    thread.start()
    if not probe.done.wait(timeout):
        probe.close()  # the thread ends at its next socket operation; its result is not waited for
        return None
    return probe.result


def probe(url: str, timeout: float) -> bool:
    """Healthy means HTTP 200, the whole answer within `timeout` seconds; anything else is not."""
    return probe_status(url, timeout) == 200


def probe_all(urls: Mapping[str, str], timeout: float) -> dict[str, bool]:
    """Probe every region at once, each with its own deadline: one dead or slow region costs one time-out and
    decides nothing about the others."""
    probes = {region: _Probe(url, time.monotonic() + timeout, None) for region, url in urls.items()}
    for region, p in probes.items():
        threading.Thread(target=p.run, name=f"probe-{region}", daemon=True).start()
    results = {}
    for region, p in probes.items():
        if not p.done.wait(max(0.0, p.deadline - time.monotonic())):
            p.close()
        results[region] = p.done.is_set() and p.result == 200
    return results
