"""The drill's outside world, running: Route 53's checkers and the alarm on them, and users behind resolver caches.
Each is a bounded loop that stops when its `stop` event is set; everything it observes goes into plain records
(`drctl.drill.history`). The runtime's side (invocations on their schedule, the authority) is in
`drctl.drill.invocations`."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from drctl.drill.history import TrafficRecord
from drctl.drill.route53 import (
    CachedAnswer,
    HealthChecks,
    check_passed,
    checker_offsets,
    failover_answer,
    resolve_cached,
)


def pause(stop: threading.Event, until: float) -> bool:
    """Sleep until `until` (wall clock) or until `stop` is set; True when stopped."""
    return stop.wait(max(0.0, until - time.time()))


def http_status(url: str, connect_timeout: float, response_timeout: float) -> int | None:
    """GET `url`; the status, or None when there is no answer within the limits (refused, reset, silent, slow)."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname is None:
        raise ValueError(f"{url!r} names no host")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=connect_timeout)
    deadline = time.monotonic() + connect_timeout + response_timeout
    try:
        conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(response_timeout)
        conn.request("GET", parts.path or "/")
        response = conn.getresponse()
        response.read()
        return response.status if time.monotonic() <= deadline else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


class Route53Emulator:
    """Route 53's checkers over each region's route-health URL, and its failover answer (recorded in `answers`
    each time it changes). Every checker of every endpoint sends one request per interval, offset from the others;
    a check that gets no answer holds only its own worker."""

    def __init__(
        self,
        regions: Sequence[str],
        urls: Mapping[str, str],
        interval: float,
        threshold: int,
        checkers: int,
        connect_limit: float,
        response_limit: float,
        stop: threading.Event,
    ) -> None:
        self.regions = list(regions)
        self.urls = dict(urls)
        self.interval = interval
        self.threshold = threshold
        self.checkers = checkers
        self.connect_limit = connect_limit
        self.response_limit = response_limit
        self.checks = HealthChecks(self.regions, checkers, threshold)
        self.stop = stop
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=len(self.regions) * checkers * 4, thread_name_prefix="r53")
        self._offsets = checker_offsets(checkers, interval)
        self._thread = threading.Thread(target=self._schedule, name="route53", daemon=True)
        self.answers: list[tuple[float, str]] = [(time.time(), failover_answer(self.regions, self.checks.healthy()))]
        self.listeners: list[Callable[[float, str, bool], None]] = []

    def start(self) -> None:
        self._thread.start()

    def replace_checks(self, region: str) -> None:
        """A health check replaced (its type or interval changed): new checkers, no history."""
        with self._lock:
            self.checks.views[region] = [type(v)() for v in self.checks.views[region]]

    def _schedule(self) -> None:
        start = time.time()
        due = {(region, i): start + offset for region in self.regions for i, offset in enumerate(self._offsets)}
        while not self.stop.is_set():
            (region, checker), at = min(due.items(), key=lambda item: item[1])
            if pause(self.stop, at):
                break
            self._pool.submit(self._check, region, checker)
            due[(region, checker)] = at + self.interval
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _check(self, region: str, checker: int) -> None:
        passed = check_passed(http_status(self.urls[region], self.connect_limit, self.response_limit))
        with self._lock:
            changed = self.checks.record(region, checker, passed, time.time())
            healthy = self.checks.healthy()[region]
            if changed:
                answer = failover_answer(self.regions, self.checks.healthy())
                if answer != self.answers[-1][1]:
                    self.answers.append((time.time(), answer))
        if changed:
            for listener in self.listeners:
                listener(time.time(), region, healthy)

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
    """A user: resolves the public name through a resolver that caches for the TTL, then sends a request to the
    region the answer names, every `period` seconds."""

    def __init__(
        self,
        route53: Route53Emulator,
        app_urls: Mapping[str, str],
        ttl: float,
        stop: threading.Event,
        user: int,
        first_expiry: float,
        period: float,
        timeout: float,
    ) -> None:
        self.route53 = route53
        self.user = user
        self.first_expiry = first_expiry
        self.app_urls = dict(app_urls)
        self.ttl = ttl
        self.period = period
        self.timeout = timeout
        self.stop = stop
        self.records: list[TrafficRecord] = []
        self.answers: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._run, name=f"user-{user}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        cache: CachedAnswer | None = CachedAnswer(self.route53.answer(), self.first_expiry)
        while not self.stop.is_set():
            now = time.time()
            cache = resolve_cached(cache, now, self.ttl, self.route53.answer)
            if not self.answers or self.answers[-1][1] != cache.region:
                self.answers.append((now, cache.region))
            status = http_status(self.app_urls[cache.region] + "/", self.timeout, self.timeout)
            self.records.append(TrafficRecord(now, cache.region, status == 200, self.user))
            if pause(self.stop, now + self.period):
                break

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


@dataclass
class AlarmDelivery:
    at: float
    alarm: str
    old: str
    new: str
    regions: list[str]
    """The orchestrator regions it reached."""


class AlarmModel:
    """The stack's CloudWatch alarm on each region's Route 53 health check, in the alarm region: OK -> ALARM once the
    check has been unhealthy for `periods` metric periods (back to OK when healthy for one), each state change
    published to the alarm topic and from there to every orchestrator at once (fan-out), as long as the alarm
    region is up and reaches the orchestrator's region."""

    def __init__(
        self,
        regions: Sequence[str],
        names: Mapping[str, str],
        alarm_region: str,
        period: float,
        periods: int,
        deliver: Callable[[str, dict], None],
        reachable: Callable[[str, str], bool],
        orchestrator_regions: Sequence[str],
        stop: threading.Event,
        initial: str = "OK",
    ) -> None:
        self.regions = list(regions)
        self.names = dict(names)
        self.alarm_region = alarm_region
        self.period = period
        self.periods = periods
        self.deliver = deliver
        self.reachable = reachable
        self.orchestrator_regions = list(orchestrator_regions)
        self.stop = stop
        self.state = dict.fromkeys(self.regions, initial)
        self.unhealthy_since: dict[str, float | None] = dict.fromkeys(self.regions)
        self.deliveries: list[AlarmDelivery] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="alarms", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def health_changed(self, at: float, region: str, healthy: bool) -> None:
        with self._lock:
            self.unhealthy_since[region] = None if healthy else at

    def _run(self) -> None:
        while not self.stop.wait(self.period / 4):
            now = time.time()
            with self._lock:
                changes = []
                for region in self.regions:
                    since = self.unhealthy_since[region]
                    target = "ALARM" if since is not None and now - since >= self.period * self.periods else "OK"
                    if since is None and self.state[region] == "INSUFFICIENT_DATA":
                        target = "OK"
                    if target != self.state[region]:
                        changes.append((region, self.state[region], target))
                        self.state[region] = target
            for region, old, new in changes:
                self.publish(region, old, new)

    def publish(self, region: str, old: str, new: str, timestamp: float | None = None) -> AlarmDelivery:
        """Publish one state change of `region`'s alarm to every reachable orchestrator, concurrently."""
        at = time.time() if timestamp is None else timestamp
        event = sns_alarm_event(self.names[region], old, new, at)
        reached = [r for r in self.orchestrator_regions if self.reachable(self.alarm_region, r)]
        delivery = AlarmDelivery(time.time(), self.names[region], old, new, reached)
        self.deliveries.append(delivery)
        for target in reached:
            threading.Thread(target=self.deliver, args=(target, event), daemon=True, name=f"alarm-{target}").start()
        return delivery

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def sns_alarm_event(alarm: str, old: str, new: str, at: float) -> dict:
    """The event SNS hands a Lambda subscriber for one CloudWatch alarm state change."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"
    message = {
        "AlarmName": alarm,
        "OldStateValue": old,
        "NewStateValue": new,
        "StateChangeTime": stamp.replace("Z", "+0000"),
        "NewStateReason": "drill",
        "Region": "US East (N. Virginia)",
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": f"drill-{at:.6f}",
                    "Subject": f"ALARM: {alarm}",
                    "Message": json.dumps(message),
                    "Timestamp": stamp,
                },
            }
        ]
    }
