"""The drill's running parts: Route 53's checkers and a user's resolver, the writer, strong-mode replication,
the orchestrators' monitors, and a sampler of the control item. Each is a bounded loop on loopback that stops
when its `stop` event is set; everything it observes goes into plain records (`drctl.drill.measure`)."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Mapping, Optional, Sequence

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from drctl.drill.measure import TrafficRecord, Transition, WriteRecord
from drctl.drill.route53 import (
    CHECKER_CONNECT_SECONDS,
    CHECKER_RESPONSE_SECONDS,
    CachedAnswer,
    HealthChecks,
    check_passed,
    checker_offsets,
    failover_answer,
    resolve_cached,
)
from failover import orchestrator as orch
from failover.client import ActiveRegionResolver
from failover.decisions import ControlState
from failover.store import parse_control_item

_SERIALIZE = TypeSerializer().serialize
_DESERIALIZE = TypeDeserializer().deserialize


def pause(stop: threading.Event, until: float, clock: Callable[[], float] = time.time) -> bool:
    """Sleep until `until` (wall clock) or until `stop` is set; True when stopped."""
    return stop.wait(max(0.0, until - clock()))


def http_status(url: str, connect_timeout: float, response_timeout: float) -> Optional[int]:
    """GET `url`; the status, or None when there is no answer within the limits (refused, reset, silent)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=connect_timeout)
    try:
        conn.connect()
        conn.sock.settimeout(response_timeout)
        conn.request("GET", parts.path or "/")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


class Route53Emulator:
    """Route 53's checkers over each region's route-health URL (`/health/route`), and its failover answer
    (recorded in `answers` each time it changes).

    Every checker of every endpoint sends one request per interval, offset from the others; a check that gets
    no answer holds only its own worker, so a hung endpoint delays no other check."""

    def __init__(self, regions: Sequence[str], urls: Mapping[str, str], interval: float, threshold: int,
                 checkers: int, stop: threading.Event, clock: Callable[[], float] = time.time) -> None:
        self.regions = list(regions)
        self.urls = dict(urls)
        self.interval = interval
        self.checks = HealthChecks(self.regions, checkers, threshold)
        self.stop = stop
        self.clock = clock
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=len(self.regions) * checkers * 4, thread_name_prefix="r53")
        self._offsets = checker_offsets(checkers, interval)
        self._thread = threading.Thread(target=self._schedule, name="route53", daemon=True)
        self.answers: list[tuple[float, str]] = [(clock(), failover_answer(self.regions, self.checks.healthy()))]

    def start(self) -> None:
        self._thread.start()

    def _schedule(self) -> None:
        start = self.clock()
        due = {(region, i): start + offset for region in self.regions for i, offset in enumerate(self._offsets)}
        while not self.stop.is_set():
            (region, checker), at = min(due.items(), key=lambda item: item[1])
            if pause(self.stop, at, self.clock):
                break
            self._pool.submit(self._check, region, checker)
            due[(region, checker)] = at + self.interval
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _check(self, region: str, checker: int) -> None:
        passed = check_passed(http_status(self.urls[region], CHECKER_CONNECT_SECONDS, CHECKER_RESPONSE_SECONDS))
        with self._lock:
            if self.checks.record(region, checker, passed, self.clock()):
                answer = failover_answer(self.regions, self.checks.healthy())
                if answer != self.answers[-1][1]:
                    self.answers.append((self.clock(), answer))

    def healthy(self) -> dict[str, bool]:
        with self._lock:
            return self.checks.healthy()

    def answer(self) -> str:
        return failover_answer(self.regions, self.healthy())

    def changes(self) -> list[tuple[float, str, bool]]:
        with self._lock:
            return list(self.checks.changes)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class TrafficClient:
    """A user: resolves the public name through a resolver that caches for the record's TTL, then sends a
    request to the application of the region the answer names, every `period` seconds. `first_expiry` is when
    the answer the resolver already holds at the start runs out: users' caches expire at different times."""

    def __init__(self, route53: Route53Emulator, app_urls: Mapping[str, str], ttl: float, stop: threading.Event,
                 user: int = 0, first_expiry: float = 0.0, period: float = 0.2,
                 clock: Callable[[], float] = time.time) -> None:
        self.route53 = route53
        self.user = user
        self.first_expiry = first_expiry
        self.app_urls = dict(app_urls)
        self.ttl = ttl
        self.period = period
        self.stop = stop
        self.clock = clock
        self.records: list[TrafficRecord] = []
        self.answers: list[tuple[float, str]] = []
        """(time, region) each time the cached answer changed."""
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        cache: Optional[CachedAnswer] = CachedAnswer(self.route53.answer(), self.first_expiry)
        while not self.stop.is_set():
            now = self.clock()
            cache = resolve_cached(cache, now, self.ttl, self.route53.answer)
            if not self.answers or self.answers[-1][1] != cache.region:
                self.answers.append((now, cache.region))
            status = http_status(self.app_urls[cache.region] + "/", 0.5, 1.0)
            self.records.append(TrafficRecord(now, cache.region, status == 200, self.user))
            if pause(self.stop, now + self.period, self.clock):
                break

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


Put = Callable[[Any, str, dict], bool]
"""(boto3 Table of the active region, that region, item) -> acknowledged?"""


class Writer:
    """An application writing continuously through `failover.client`: every `period` seconds a new item goes
    to the table of the region the resolver names; several writes may be in flight, so one stuck on a hung
    region does not stop the next."""

    def __init__(self, resolver: ActiveRegionResolver, put: Put, stop: threading.Event, period: float = 0.1,
                 max_in_flight: int = 24, clock: Callable[[], float] = time.time) -> None:
        self.resolver = resolver
        self.put = put
        self.stop = stop
        self.period = period
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="writer")
        self._slots = threading.Semaphore(max_in_flight)
        self._lock = threading.Lock()
        self._records: list[WriteRecord] = []
        self._thread = threading.Thread(target=self._run, name="writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def records(self) -> list[WriteRecord]:
        with self._lock:
            return list(self._records)

    def _run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            at = self.clock()
            if self._slots.acquire(blocking=False):
                seq += 1
                self._pool.submit(self._write, seq, at)
            if pause(self.stop, at + self.period, self.clock):
                break
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _write(self, seq: int, sent_at: float) -> None:
        key = f"w#{seq:07d}"
        region: Optional[str] = None
        try:
            table = self.resolver.table()
            region = table.meta.client.meta.region_name
            acked = self.put(table, region, {"pk": key, "seq": seq})
            record = WriteRecord(seq, key, region, sent_at, self.clock() if acked else None,
                                 None if acked else "not acknowledged")
        except Exception as exc:  # noqa: BLE001 - a failed write is a measurement, whatever the cause
            record = WriteRecord(seq, key, region, sent_at, None, type(exc).__name__)
        finally:
            self._slots.release()
        with self._lock:
            self._records.append(record)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class SynchronousReplication:
    """Strong mode's stand-in for multi-region strong consistency (MRSC): a write goes to every region's table
    at once and is acknowledged only when the active region's copy and a majority of the regions have it. A
    region that missed copies gets them back before it serves again (`repair`), as an MRSC replica catches up."""

    def __init__(self, regions: Sequence[str], table: str, client_for: Callable[[str], Any]) -> None:
        self.regions = list(regions)
        self.table = table
        self.client_for = client_for
        self.majority = len(self.regions) // 2 + 1
        self._pool = ThreadPoolExecutor(max_workers=48, thread_name_prefix="mrsc")
        self._lock = threading.Lock()
        self._missed: dict[str, list[dict]] = {r: [] for r in self.regions}

    def _copy(self, region: str, item: dict) -> None:
        self.client_for(region).put_item(TableName=self.table, Item=item)

    def put(self, active_table: Any, active: str, item: dict) -> bool:
        """Write `item` through the application's table handle (in the caller's thread) and copy it to the other
        regions at once; True once the active region and a majority have it."""
        wire = {k: _SERIALIZE(v) for k, v in item.items()}
        futures: dict[Future, str] = {}
        for region in self.regions:
            if region != active:
                future = self._pool.submit(self._copy, region, wire)
                future.add_done_callback(lambda f, region=region: self._note(f, region, wire))
                futures[future] = region
        active_table.put_item(Item=item)  # raises when the active region does not take it: not acknowledged
        copies, pending = 1, set(futures)
        while pending and copies < self.majority:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            copies += sum(1 for future in done if future.exception() is None)
        return copies >= self.majority

    def _note(self, future: Future, region: str, wire: dict) -> None:
        if future.cancelled() or future.exception() is not None:
            with self._lock:
                self._missed[region].append(wire)

    def missed(self, region: str) -> int:
        with self._lock:
            return len(self._missed[region])

    def repair(self, region: str, rounds: int = 5) -> int:
        """Copy into `region` every item it missed; returns how many. Copies that were in flight when the region
        came back fail (their connections are reset) and join the list a moment later, hence the short waits."""
        total = 0
        for _ in range(rounds):
            time.sleep(0.3)
            with self._lock:
                batch, self._missed[region] = self._missed[region], []
            if not batch:
                break
            client = self.client_for(region)
            for i in range(0, len(batch), 25):
                client.batch_write_item(RequestItems={self.table: [{"PutRequest": {"Item": it}}
                                                                   for it in batch[i:i + 25]]})
            total += len(batch)
        return total

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class InvocationStopped(Exception):
    """The region an orchestrator invocation runs in went down (or the drill ended): the invocation stops."""


class SimulatedCrash(Exception):
    """The drill kills an invocation after its epoch bump, before any step (a Lambda crash or timeout)."""


class CrashSwitch:
    """Armed once: the first orchestrator that transitions afterwards crashes after its fenced epoch bump."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed = False
        self.crashes: list[tuple[float, str, int]] = []
        """(time, region, epoch) of each crash."""

    def arm(self) -> None:
        with self._lock:
            self._armed = True

    def take(self) -> bool:
        with self._lock:
            armed, self._armed = self._armed, False
            return armed


class CrashingOrchestrator(orch.Orchestrator):
    """The real orchestrator, killed between the epoch bump and its steps when the drill's switch is armed."""

    def __init__(self, *args, crash: CrashSwitch, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._crash = crash
        self._transitioning = False

    def apply(self, state, decision, force, live_lag=None):
        self._transitioning = True
        try:
            return super().apply(state, decision, force, live_lag=live_lag)
        finally:
            self._transitioning = False

    def complete_pending(self, state):
        if self._transitioning and self._crash.take():
            self._crash.crashes.append((time.time(), self.settings.home_region, state.epoch))
            raise SimulatedCrash(f"crashed after the bump to epoch {state.epoch}, before its steps")
        return super().complete_pending(state)


class MonitorFleet:
    """One orchestrator per region, invoked on a schedule like the stack's EventBridge rule: each invocation
    is a fresh `Orchestrator` that probes for the monitor window; invocations overlap and the newer one takes
    over the observer record, as in production. A region that is down runs no invocation, and an invocation
    running when its region goes down stops at its next sleep."""

    def __init__(self, regions: Sequence[str], build: Callable[[str, Callable[[float], None]], orch.Orchestrator],
                 alive: Callable[[str], bool], period: float, stop: threading.Event) -> None:
        self.regions = list(regions)
        self.build = build
        self.alive = alive
        self.period = period
        self.stop = stop
        self.outcomes: list[tuple[float, str, str, str]] = []
        """(time, region, outcome, reason) of each invocation."""
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        start = time.time()
        for i, region in enumerate(self.regions):
            offset = self.period * i / len(self.regions)
            thread = threading.Thread(target=self._schedule, args=(region, start + offset), daemon=True,
                                      name=f"monitor-{region}")
            self._threads.append(thread)
            thread.start()

    def sleeper(self, region: str) -> Callable[[float], None]:
        def sleep(seconds: float) -> None:
            end = time.monotonic() + seconds
            while True:
                if self.stop.is_set() or not self.alive(region):
                    raise InvocationStopped(region)
                left = end - time.monotonic()
                if left <= 0:
                    return
                time.sleep(min(0.05, left))
        return sleep

    def _schedule(self, region: str, first: float) -> None:
        at = first
        while not pause(self.stop, at):
            if self.alive(region):
                threading.Thread(target=self.invoke, args=(region,), daemon=True, name=f"invoke-{region}").start()
            at += self.period

    def invoke(self, region: str, request: Optional[orch.Request] = None) -> Optional[orch.Result]:
        try:
            result = self.build(region, self.sleeper(region)).handle(request or orch.Request("monitor"))
            self._note(region, result.outcome, result.reason)
            return result
        except InvocationStopped:
            self._note(region, "stopped", "its region went down or the drill ended")
        except SimulatedCrash as exc:
            self._note(region, "crashed", str(exc))
        return None

    def _note(self, region: str, outcome: str, reason: str) -> None:
        with self._lock:
            self.outcomes.append((time.time(), region, outcome, reason))

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)


class ControlSampler:
    """Reads the control item every `period` seconds, straight from the control table: which region takes
    writes over time, each epoch bump (with the item's own transition time), and the pending steps."""

    def __init__(self, client: Any, table: str, key: str, regions: Sequence[str], stop: threading.Event,
                 period: float = 0.2) -> None:
        self.client = client
        self.table = table
        self.key = key
        self.regions = tuple(regions)
        self.stop = stop
        self.period = period
        self.samples: list[tuple[float, str, int, tuple[str, ...]]] = []
        """(time, active region, epoch, pending steps)."""
        self.transitions: list[Transition] = []
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def read(self):
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": self.key}},
                                    ConsistentRead=True).get("Item")
        if not item:  # no transition yet: the first region, epoch 0 (as the orchestrator reads it)
            return ControlState(active_region=self.regions[0])
        return parse_control_item({k: _DESERIALIZE(v) for k, v in item.items()}, self.regions)

    def _run(self) -> None:
        last_epoch: Optional[int] = None
        while not self.stop.is_set():
            now = time.time()
            try:
                state = self.read()
            except Exception:  # noqa: BLE001 - a missed sample is retried next period
                state = None
            if state is not None:
                self.samples.append((now, state.active_region, state.epoch, state.pending))
                if last_epoch is not None and state.epoch > last_epoch:
                    for epoch in range(last_epoch + 1, state.epoch + 1):
                        self.transitions.append(Transition(state.last_transition_at, epoch,
                                                           state.previous_region, state.active_region))
                last_epoch = state.epoch
            if pause(self.stop, now + self.period):
                break

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
