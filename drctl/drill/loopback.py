"""Loopback plumbing for the drill: a gate per region in front of AWS (the moto server) and of the application,
a boto3 session that reaches each region through its gate, and the application of one region.

A region fails when its gates are cut: `hung` accepts connections and never answers (what a region in trouble
usually does), `refuse` resets every connection at once (a closed port). Connections open when the gate is cut
stop being relayed too, so pooled connections of the clients fail like new ones.
"""

from __future__ import annotations

import functools
import json
import select
import socket
import struct
import threading
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Callable, Iterator, Literal, Mapping, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import boto3
from botocore.config import Config

from failover.client import ActiveRegionResolver
from failover.health import wsgi_app

GateMode = Literal["up", "hung", "refuse"]
LOOPBACK = "127.0.0.1"

# Ceilings on every AWS call a drill client makes: the drill scales time down, so a call to a hung region must
# not hold a thread longer than the runtime's own per-call deadline (1 s connect, 2 s read).
MAX_CONNECT_SECONDS = 1.0
MAX_READ_SECONDS = 2.0
APPLICATION_CALLS = Config(connect_timeout=0.5, read_timeout=1.0, retries={"total_max_attempts": 1, "mode": "standard"})
"""Calls the drill's applications (writer, health endpoints) make: short deadlines, one attempt."""


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the peer sees a reset at once, like a port with nobody behind it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Gate:
    """A TCP relay on 127.0.0.1 in front of one upstream (host, port), which the drill can cut and restore."""

    def __init__(self, name: str, upstream: Optional[tuple[str, int]]) -> None:
        self.name = name
        self.upstream = upstream
        self.mode: GateMode = "up"
        self._generation = 0
        self._lock = threading.Lock()
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._listener = socket.create_server((LOOPBACK, 0), backlog=256)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name=f"gate-{name}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def set_mode(self, mode: GateMode, upstream: Optional[tuple[str, int]] = None) -> None:
        """Cut (`hung`, `refuse`) or restore (`up`) the gate; connections held while it was cut are reset."""
        with self._lock:
            if upstream is not None:
                self.upstream = upstream
            if mode == self.mode and upstream is None:
                return
            self.mode = mode
            self._generation += 1
            held, self._held = self._held, []
        if mode != "hung":
            for sock in held:
                _reset(sock)

    def _hold(self, *socks: socket.socket) -> None:
        with self._lock:
            if self.mode == "hung":
                self._held.extend(socks)
                return
        for sock in socks:
            _reset(sock)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                mode, upstream, generation = self.mode, self.upstream, self._generation
            if mode == "refuse" or upstream is None:
                _reset(conn)
            elif mode == "hung":
                self._hold(conn)
            else:
                threading.Thread(target=self._relay, args=(conn, upstream, generation), daemon=True,
                                 name=f"relay-{self.name}").start()

    def _relay(self, client: socket.socket, upstream: tuple[str, int], generation: int) -> None:
        try:
            server = socket.create_connection(upstream, timeout=1.0)
        except OSError:
            _reset(client)
            return
        pair = {client: server, server: client}
        try:
            while not self._stop.is_set():
                if self._generation != generation:  # cut meanwhile: stop relaying, like the region
                    self._hold(client, server)
                    return
                # A cut takes effect on the next byte either way: the generation is checked on every wake-up.
                readable, _, _ = select.select(list(pair), [], [], 1.0)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        client.close()
                        server.close()
                        return
                    pair[sock].sendall(data)
        except OSError:
            _reset(client)
            _reset(server)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._listener.close()
        with self._lock:
            held, self._held = self._held, []
        for sock in held:
            _reset(sock)


def _capped(config: Optional[Config], default: Config) -> Config:
    base = config or default
    return base.merge(Config(connect_timeout=min(base.connect_timeout, MAX_CONNECT_SECONDS),
                             read_timeout=min(base.read_timeout, MAX_READ_SECONDS),
                             account_id_endpoint_mode="disabled"))


class LoopbackSession:
    """Stands in for `boto3.Session` wherever the runtime takes one: every client reaches its region through
    that region's gate (or the endpoint the caller passes), with dummy credentials, and no call waits longer
    than the runtime's own per-call deadline. Clients and resources are made under a lock (a boto3 session
    is not thread-safe); those asked for without a config are reused per (service, region, endpoint), resources
    per thread too, since `ActiveRegionResolver.table()` asks for a resource on every write."""

    def __init__(self, endpoint_for: Callable[[str], str], default_config: Config = APPLICATION_CALLS) -> None:
        self.endpoint_for = endpoint_for
        self.default_config = default_config
        self._session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                      region_name="us-east-1")
        self._lock = threading.Lock()
        self._made: dict[tuple, object] = {}

    def _make(self, kind: str, service: str, region_name: Optional[str], config: Optional[Config],
              endpoint_url: Optional[str], **kwargs):
        region = region_name or "us-east-1"
        endpoint = endpoint_url or self.endpoint_for(region)
        factory = self._session.client if kind == "client" else self._session.resource
        with self._lock:
            if config is not None or kwargs:  # the caller keeps what it asked for with its own config
                return factory(service, region_name=region, endpoint_url=endpoint,
                               config=_capped(config, self.default_config), **kwargs)
            # boto3 resources are not thread-safe: one per thread; clients are shared
            key = (kind, service, region, endpoint, threading.get_ident() if kind == "resource" else None)
            if key not in self._made:
                self._made[key] = factory(service, region_name=region, endpoint_url=endpoint,
                                          config=_capped(None, self.default_config))
            return self._made[key]

    def client(self, service: str, region_name: Optional[str] = None, config: Optional[Config] = None,
               endpoint_url: Optional[str] = None, **kwargs):
        return self._make("client", service, region_name, config, endpoint_url, **kwargs)

    def resource(self, service: str, region_name: Optional[str] = None, config: Optional[Config] = None,
                 endpoint_url: Optional[str] = None, **kwargs):
        return self._make("resource", service, region_name, config, endpoint_url, **kwargs)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # a drill prints its own report, not access logs
        pass


class RegionApplication:
    """One region's application, on its own HTTP server thread: `failover.health` at /health and /health/route
    (its resolver reads the active region like any application), and `/` for user traffic.

    A thread rather than a process: the application's own code is the same either way, a thread starts in
    milliseconds where a process pays boto3's import on a shared 2-core machine, and going down is made real by
    shutting its server and refusing its port (the gate in front of it), so nothing reaches it."""

    def __init__(self, region: str, regions: list[str], session: LoopbackSession, parameter: str, table: str,
                 cache_seconds: float) -> None:
        self.region = region
        self.resolver = ActiveRegionResolver(parameter_name=parameter, local_region=region, regions=regions,
                                             table_name=table, cache_seconds=cache_seconds, session=session)
        self.health = wsgi_app(self.resolver, session.client("dynamodb", region_name=region))
        self.gate = Gate(f"app-{region}", None)
        self._server: Optional[_ThreadingWSGIServer] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        """Where Route 53, the monitors and users reach this region's application (its gate)."""
        return self.gate.url

    def _app(self, environ, start_response):
        if environ.get("PATH_INFO") == "/":
            body = json.dumps({"servedBy": self.region}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return self.health(environ, start_response)

    def start(self) -> None:
        self._server = make_server(LOOPBACK, 0, self._app, server_class=_ThreadingWSGIServer,
                                   handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"app-{self.region}", daemon=True)
        self._thread.start()
        self.gate.set_mode("up", upstream=(LOOPBACK, self._server.server_address[1]))

    def stop(self) -> None:
        """The application goes down: its port refuses, its server stops."""
        self.gate.set_mode("refuse")
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self.stop()
        self.gate.close()


_ITEM_OPERATIONS = ("get_item", "put_item", "update_item", "delete_item", "batch_get_item", "batch_write_item",
                    "transact_write_items")


@contextmanager
def atomic_moto_items() -> Iterator[None]:
    """moto applies an UpdateItem attribute by attribute, so a concurrent read can see half an item and two
    racing conditional writes can both pass; DynamoDB is atomic per item. The drill runs several orchestrators
    at once, so it serialises moto's item operations to measure DynamoDB's behaviour, not moto's."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    originals: Mapping[str, Callable] = {name: getattr(DynamoDBBackend, name) for name in _ITEM_OPERATIONS
                                         if hasattr(DynamoDBBackend, name)}

    def atomic(original: Callable) -> Callable:
        @functools.wraps(original)
        def run(self, *args, **kwargs):
            with lock:
                return original(self, *args, **kwargs)
        return run

    for name, original in originals.items():
        setattr(DynamoDBBackend, name, atomic(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)
