"""The drill's network: who can reach whom, and the gates that make it so.

Every connection the drill's actors open goes through a *gate*: a TCP relay on 127.0.0.1 for one path
(caller region -> target region, AWS or application). The `Network` says what each path does right now:

- `up`: bytes are relayed;
- `hung`: the connection is accepted and nothing is ever answered (packets dropped: what a region in trouble,
  or a partition, usually looks like); connections already open stop being relayed too;
- `refuse`: the connection is reset at once (a closed port);
- `trickle`: the target answers one byte at a time (a slow endpoint), so each read finishes within any
  per-read timeout while the whole response takes much longer.

A region can fail as a whole (every path into it), be partitioned from the other regions while users on the
internet still reach it, or lose single paths (an asymmetric probe failure). All gates run on one asyncio loop
in one thread, so hundreds of pooled connections cost no thread each.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

PathMode = Literal["up", "hung", "refuse", "trickle"]
Kind = Literal["aws", "app"]
INTERNET = "internet"
"""The caller that is not a region: users and Route 53's checkers."""
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Cut:
    mode: PathMode
    kind: Kind | None = None
    """None: both kinds of path."""


class Network:
    """What every path does now. Changes bump `version`, which open relays check on every chunk."""

    def __init__(self, regions: list[str]) -> None:
        self.regions = list(regions)
        self._lock = threading.Lock()
        self._down: dict[str, PathMode] = {}
        self._cuts: dict[tuple[str, str], Cut] = {}
        self._trickle: set[str] = set()
        self.version = 0
        self._listeners: list[Callable[[], object]] = []

    # -- reading ------------------------------------------------------------------------------------------------
    def path(self, source: str, target: str, kind: Kind) -> PathMode:
        with self._lock:
            if target in self._down:
                return self._down[target]
            if source in self._down and source != INTERNET:
                return self._down[source]  # a failed region's callers reach nothing either
            cut = self._cuts.get((source, target))
            if cut is not None and (cut.kind is None or cut.kind == kind):
                return cut.mode
            if kind == "app" and target in self._trickle:
                return "trickle"
            return "up"

    def reaches(self, source: str, target: str) -> bool:
        """Whether `source` can talk to `target`'s AWS endpoints now."""
        return self.path(source, target, "aws") == "up"

    def is_down(self, region: str) -> bool:
        with self._lock:
            return region in self._down

    def describe(self) -> dict:
        with self._lock:
            return {
                "down": dict(self._down),
                "cuts": {f"{s}->{t}": c.mode + (f" ({c.kind})" if c.kind else "") for (s, t), c in self._cuts.items()},
                "trickle": sorted(self._trickle),
            }

    # -- faults -------------------------------------------------------------------------------------------------
    def on_change(self, listener: Callable[[], object]) -> None:
        """`listener` is called after every change (what it returns is ignored)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        self.version += 1
        for listener in list(self._listeners):
            listener()

    def fail(self, region: str, mode: PathMode = "hung") -> None:
        """The whole region fails: every path into it hangs or refuses."""
        with self._lock:
            self._down[region] = mode
        self._changed()

    def recover(self, region: str) -> None:
        with self._lock:
            self._down.pop(region, None)
        self._changed()

    def partition(self, region: str, mode: PathMode = "hung") -> None:
        """`region` and every other region lose each other (AWS calls, probes, replication), both ways; the
        internet still reaches it and it still reaches itself."""
        with self._lock:
            for other in self.regions:
                if other != region:
                    self._cuts[(region, other)] = Cut(mode)
                    self._cuts[(other, region)] = Cut(mode)
        self._changed()

    def heal(self, region: str | None = None) -> None:
        """Remove every cut touching `region` (all cuts when None)."""
        with self._lock:
            for key in [k for k in self._cuts if region is None or region in k]:
                del self._cuts[key]
        self._changed()

    def fail_application(self, region: str, mode: PathMode = "hung") -> None:
        """`region`'s application stops answering anyone (users, checkers, every probe); its AWS still answers."""
        with self._lock:
            for source in (INTERNET, *self.regions):
                self._cuts[(source, region)] = Cut(mode, "app")
        self._changed()

    def cut(self, source: str, target: str, mode: PathMode = "hung", kind: Kind | None = None) -> None:
        """One direction of one path, e.g. one observer's probes of one region."""
        with self._lock:
            self._cuts[(source, target)] = Cut(mode, kind)
        self._changed()

    def trickle(self, region: str, on: bool = True) -> None:
        """`region`'s application answers one byte at a time, to every caller."""
        with self._lock:
            (self._trickle.add if on else self._trickle.discard)(region)
        self._changed()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0): the peer sees a reset at once, like a port with nobody behind it."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


Upstream = Callable[[], tuple[str, int] | None]
"""Where the target listens now (None: nothing listens; the gate then refuses)."""


class Gates:
    """Every gate, on one asyncio loop in a daemon thread."""

    def __init__(self, network: Network, trickle_delay: float = 0.05) -> None:
        self.network = network
        self.trickle_delay = trickle_delay
        self.loop = asyncio.new_event_loop()
        self._changed: asyncio.Event | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._run, name="gates", daemon=True)
        self._ready = threading.Event()
        self._thread.start()
        self._ready.wait(5)
        network.on_change(lambda: self.loop.call_soon_threadsafe(self._notify))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.set_exception_handler(lambda loop, context: None)  # a relay cut mid-way is the drill's doing
        self._changed = asyncio.Event()
        self._ready.set()
        self.loop.run_forever()

    def _notify(self) -> None:
        assert self._changed is not None
        self._changed.set()
        self._changed = asyncio.Event()

    def add(self, source: str, target: str, kind: Kind, upstream: Upstream) -> int:
        """Open a gate for the path; returns its port on 127.0.0.1."""

        async def start() -> int:
            server = await asyncio.start_server(
                lambda r, w: self._handle(r, w, source, target, kind, upstream), LOOPBACK, 0, backlog=512
            )
            self._servers.append(server)
            return server.sockets[0].getsockname()[1]

        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    async def _hold(self, *writers: asyncio.StreamWriter, source: str, target: str, kind: Kind) -> None:
        """Answer nothing until the path changes; then reset (a connection that lost packets is broken)."""
        while self.network.path(source, target, kind) == "hung":
            assert self._changed is not None
            await self._changed.wait()
        for writer in writers:
            _reset(writer)

    async def _handle(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        source: str,
        target: str,
        kind: Kind,
        upstream: Upstream,
    ) -> None:
        self._writers.add(writer)
        try:
            mode = self.network.path(source, target, kind)
            where = upstream()
            if mode == "refuse" or where is None:
                _reset(writer)
                return
            if mode == "hung":
                await self._hold(writer, source=source, target=target, kind=kind)
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*where), 2.0)
            except (TimeoutError, OSError):
                _reset(writer)
                return
            self._writers.add(up_writer)
            try:
                await asyncio.gather(
                    self._pipe(reader, up_writer, writer, up_writer, source, target, kind, towards_caller=False),
                    self._pipe(up_reader, writer, writer, up_writer, source, target, kind, towards_caller=True),
                )
            finally:
                self._writers.discard(up_writer)
                up_writer.close()
        except (ConnectionError, OSError):
            _reset(writer)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        out: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
        server: asyncio.StreamWriter,
        source: str,
        target: str,
        kind: Kind,
        towards_caller: bool,
    ) -> None:
        while True:
            data = await reader.read(65536)
            if not data:
                with contextlib.suppress(OSError, RuntimeError):
                    out.write_eof()
                return
            mode = self.network.path(source, target, kind)
            if mode == "hung":
                await self._hold(client, server, source=source, target=target, kind=kind)
                return
            if mode == "refuse":
                _reset(client)
                _reset(server)
                return
            if mode == "trickle" and towards_caller:
                for i in range(len(data)):
                    out.write(data[i : i + 1])
                    await out.drain()
                    await asyncio.sleep(self.trickle_delay)
            else:
                out.write(data)
                await out.drain()

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            for writer in list(self._writers):
                _reset(writer)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
