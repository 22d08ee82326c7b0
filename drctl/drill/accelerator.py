"""A model of AWS Global Accelerator's traffic (`dr:traffic.mode: accelerator`), as the drill's users see it.

What it follows (Global Accelerator developer guide, "How failover works for unhealthy endpoints", and Elastic Load
Balancing's target-group health checks, which Global Accelerator uses for load balancer endpoints):

- each region's entry (the NLB in front of its ALB) checks `<health path>/accelerator` every interval; its status
  flips after `threshold` consecutive results that disagree with it (2 both ways), and starts unhealthy, as a new
  target does;
- the edge learns a status change `propagation` seconds after it happens (AWS documents about 30 s);
- the traffic dials are the stack's (`components.accelerator.traffic_dials`: the primary 100, the others 0): a client
  goes to the nearest group with a dial above 0 whose endpoint is healthy; when there is none, to the nearest healthy
  group among the three closest, whatever its dial; when none of those is healthy, to its nearest group (fail open).
  There is no TTL: every request asks afresh.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from components.accelerator import traffic_dials
from drctl.drill.actors import TrafficClient, http_status, pause
from drctl.drill.network import INTERNET
from drctl.drill.route53 import CheckerView, HealthChecks, check_passed

FAILOVER_GROUPS = 3
"""Global Accelerator tries this many of the endpoint groups closest to a client before failing open."""
ACCELERATOR_PATH = "/health/accelerator"


def accelerator_answer(nearest_first: Sequence[str], healthy: Mapping[str, bool], dials: Mapping[str, int]) -> str:
    """The region Global Accelerator sends a client to, given the regions nearest it first, each entry's health as
    the edge knows it, and the traffic dials (0 or 100 here: a group with a dial above 0 takes its clients whole)."""
    for region in nearest_first:
        if dials.get(region, 0) > 0 and healthy.get(region):
            return region
    for region in nearest_first[:FAILOVER_GROUPS]:  # failover ignores the dials
        if healthy.get(region):
            return region
    return nearest_first[0]


def nearest_first(regions: Sequence[str], user: int) -> list[str]:
    """Users spread over the map: user i is nearest region i (mod the count), then the next ones."""
    i = user % len(regions)
    return [*regions[i:], *regions[:i]]


def edge_view(
    regions: Sequence[str], changes: Sequence[tuple[float, str, bool]], now: float, propagation: float
) -> dict[str, bool]:
    """Each endpoint's status as the edge knows it at `now`: every change `propagation` seconds late (all start
    unhealthy)."""
    view = dict.fromkeys(regions, False)
    for at, region, healthy in changes:
        if at + propagation <= now:
            view[region] = healthy
    return view


class AcceleratorEmulator:
    """Each region's entry checking the accelerator path, and the edge's answer for a client (`view(user)`); the
    regions in failover order, primary first (it alone has the dial 100)."""

    def __init__(
        self,
        regions: Sequence[str],
        urls: Mapping[str, str],
        interval: float,
        threshold: int,
        timeout: float,
        propagation: float,
        stop: threading.Event,
    ) -> None:
        self.regions = list(regions)
        self.urls = dict(urls)
        self.interval, self.timeout, self.propagation = interval, timeout, propagation
        self.dials = traffic_dials(self.regions)
        self.checks = HealthChecks(self.regions, 1, threshold)
        for region in self.regions:  # a new target is unhealthy until it passes `threshold` checks
            self.checks.views[region] = [CheckerView(healthy=False)]
        self.stop = stop
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=len(self.regions) * 4, thread_name_prefix="ga")
        self._thread = threading.Thread(target=self._schedule, name="accelerator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _schedule(self) -> None:
        at = time.time()
        while not pause(self.stop, at):
            for region in self.regions:
                self._pool.submit(self._check, region)
            at += self.interval
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _check(self, region: str) -> None:
        passed = check_passed(http_status(self.urls[region], self.timeout, self.timeout))
        with self._lock:
            self.checks.record(region, 0, passed, time.time())

    def changes(self) -> list[tuple[float, str, bool]]:
        with self._lock:
            return list(self.checks.changes)

    def edge(self, now: float) -> dict[str, bool]:
        """Each entry's health as the edge knows it at `now`."""
        return edge_view(self.regions, self.changes(), now, self.propagation)

    def answer_for(self, user: int) -> str:
        return accelerator_answer(nearest_first(self.regions, user), self.edge(time.time()), self.dials)

    def view(self, user: int) -> _UserView:
        return _UserView(self, user)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class _UserView:
    """What a `TrafficClient` asks instead of Route 53: the accelerator's answer for one user."""

    def __init__(self, emulator: AcceleratorEmulator, user: int) -> None:
        self.emulator, self.user = emulator, user

    def answer(self) -> str:
        return self.emulator.answer_for(self.user)


def accelerated_traffic(world, users: int) -> tuple[AcceleratorEmulator, list[TrafficClient]]:
    """The world's users reaching the regions through the accelerator (no TTL), and the started emulator."""
    s = world.scale
    emulator = AcceleratorEmulator(
        world.regions,
        {r: world.app_urls[(INTERNET, r)] + ACCELERATOR_PATH for r in world.regions},
        s.accelerator_interval,
        s.reference.accelerator_threshold,
        s.accelerator_timeout,
        s.accelerator_propagation,
        world.stop,
    )
    emulator.start()
    began = time.time()
    clients = [
        TrafficClient(
            emulator.view(i),  # type: ignore[arg-type]
            {r: world.app_urls[(INTERNET, r)] for r in world.regions},
            0.0,
            world.stop,
            user=i,
            first_expiry=began,
            period=s.health_interval / 5,
            timeout=s.checker_connect,
        )
        for i in range(users)
    ]
    return emulator, clients
