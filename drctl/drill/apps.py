"""One region's application: its HTTP server (`failover.health` at /health and /health/route, `/` for users) and
its writer, both built on the runtime's application side (`failover.client`) exactly as an application uses it.

The writer is what makes dual writes observable: every region's application tries to write its own table all the
time, and writes only when `ensure_writable()` lets it, so the history shows which regions accepted writes when.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from drctl.drill.history import Observed, WriteRecord
from drctl.drill.network import LOOPBACK
from failover import client as runtime_client
from failover.health import wsgi_app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address) -> None:
        """A caller that gave up (reset, timed out) is part of the drill, not an error to print."""


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # the drill prints its own report, not access logs
        pass


def make_resolver(
    region: str,
    regions: list[str],
    session: Any,
    *,
    parameter: str,
    table: str,
    control_table: str,
    app: str,
    cache_seconds: float,
    control_regions: list[str],
    log: Callable[[Observed], None],
):
    """The runtime's resolver for `region`, recording each (region, epoch) it reports. Keyword arguments the
    runtime's resolver does not take are left out (the drill runs against older runtimes too)."""
    base = runtime_client.ActiveRegionResolver
    wanted = {
        "parameter_name": parameter,
        "local_region": region,
        "regions": regions,
        "table_name": table,
        "cache_seconds": cache_seconds,
        "session": session,
        "control_table": control_table,
        "app": app,
        "control_regions": control_regions,
    }
    accepted = inspect.signature(base).parameters
    kwargs = {k: v for k, v in wanted.items() if k in accepted}

    class Recording(base):  # type: ignore[misc, valid-type]
        """Records what the application believes the projection says (region and epoch), each time it changes."""

        _last: tuple | None = None
        confirmed_at: float | None = None
        """When the application last confirmed its view with the authority (scenarios time faults by it)."""

        if hasattr(base, "confirm"):

            def confirm(self):
                view = super().confirm()
                self.confirmed_at = time.time()
                return view

        def active_region(self) -> str:
            value = super().active_region()
            believed = getattr(self, "_projection", None)  # the runtime's own memory of the projection, if it has one
            seen = (
                (believed.region, believed.epoch)
                if believed is not None and hasattr(believed, "epoch")
                else (value, None)
            )
            if seen != self._last:
                self._last = seen
                log(Observed(time.time(), region, "projection", seen[0], seen[1]))
            return value

    return Recording(**kwargs)


class Application:
    """`start()` serves on a free port; `stop()` closes it (the gates then refuse). `upstream()` is where the
    gates relay to. The writer runs while the application runs."""

    def __init__(
        self,
        region: str,
        resolver: Any,
        dynamodb: Any,
        table: Any,
        *,
        versioned: bool,
        write_period: float,
        write_records: list,
        lock: threading.Lock,
    ) -> None:
        self.region = region
        self.resolver = resolver
        self.health = wsgi_app(resolver, dynamodb)
        self.table = table
        self.versioned = versioned
        self.write_period = write_period
        self.records = write_records
        self._lock = lock
        self._server: _Server | None = None
        self._serving: threading.Thread | None = None
        self._running = threading.Event()
        self._writer: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix=f"write-{region}")
        self._slots = threading.Semaphore(6)
        self._seq = 0
        self.started_at: float | None = None

    # -- serving -------------------------------------------------------------------------------------------------
    def _app(self, environ, start_response):
        if environ.get("PATH_INFO") == "/":
            body = json.dumps({"servedBy": self.region}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return self.health(environ, start_response)

    def upstream(self) -> tuple[str, int] | None:
        server = self._server
        return None if server is None else (LOOPBACK, server.server_address[1])

    @property
    def running(self) -> bool:
        return self._running.is_set()

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = make_server(LOOPBACK, 0, self._app, server_class=_Server, handler_class=_Quiet)
        self._serving = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"app-{self.region}", daemon=True
        )
        self._serving.start()
        self._running.set()
        self.started_at = time.time()
        self._writer = threading.Thread(target=self._write_loop, name=f"writer-{self.region}", daemon=True)
        self._writer.start()

    def stop(self) -> None:
        self._running.clear()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    # -- writing -------------------------------------------------------------------------------------------------
    def _write_loop(self) -> None:
        while self._running.is_set():
            at = time.time()
            if self._slots.acquire(blocking=False):
                self._seq += 1
                self._pool.submit(self._write, self._seq, at)
            time.sleep(max(0.0, at + self.write_period - time.time()))

    def _write(self, seq: int, sent_at: float) -> None:
        key = f"w#{self.region}#{seq:06d}"
        try:
            try:
                self.resolver.ensure_writable()
            except (runtime_client.NotActiveRegion, runtime_client.ActiveRegionUnknown) as exc:
                self._note(WriteRecord(seq, key, self.region, sent_at, None, f"refused: {type(exc).__name__}"))
                return
            epoch = getattr(self.resolver, "write_epoch", None)
            item = {"pk": key, "seq": seq, "writer": self.region}
            sent = time.time()
            if self.versioned:
                acked = runtime_client.VersionedTable(self.table, region=self.region).put(item)
            else:
                self.table.put_item(Item=item)
                acked = True
            self._note(
                WriteRecord(
                    seq,
                    key,
                    self.region,
                    sent,
                    time.time() if acked else None,
                    None if acked else "superseded",
                    epoch=epoch,
                )
            )
        except Exception as exc:
            self._note(WriteRecord(seq, key, self.region, sent_at, None, type(exc).__name__))
        finally:
            self._slots.release()

    def _note(self, record: WriteRecord) -> None:
        with self._lock:
            self.records.append(record)

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
