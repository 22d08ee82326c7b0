"""A model of Route 53 DNS failover, as plain functions: health checkers, the failover record chain, a TTL cache.

What it follows (Route 53 Developer Guide, "How Route 53 determines whether a health check is healthy" and
"How Route 53 chooses records when health checking is configured"):

- every checker sends a request each request interval; a check passes on an HTTP 2xx or 3xx status received
  within the connection (4 s) and response (2 s) limits;
- a checker changes its view of an endpoint after `failure_threshold` consecutive results that disagree with
  its current view (the same threshold both ways);
- the endpoint is healthy while more than 18% of the checkers see it healthy;
- failover records come in PRIMARY/SECONDARY pairs, chained for more than two regions exactly as the stack
  declares them (`components.traffic.failover_chain`): a pair answers with its PRIMARY while that record's
  health check is healthy, else with its SECONDARY if that is healthy; a SECONDARY that aliases the next pair
  (evaluate target health) is healthy when any record of that pair is; when no record of a pair is healthy,
  Route 53 treats them all as healthy and answers with the PRIMARY (fail-open);
- a resolver keeps an answer for the record's TTL.

The drill's live part (`drctl.drill.live.Route53Emulator`) runs the checks over HTTP and feeds the results here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from components.budget import CHECKER_CONNECT_SECONDS, CHECKER_RESPONSE_SECONDS
from components.traffic import FailoverLink, failover_chain

HEALTHY_CHECKER_FRACTION = 0.18
"""An endpoint is healthy while more than this fraction of the checkers report it healthy."""

__all__ = [
    "CHECKER_CONNECT_SECONDS",
    "CHECKER_RESPONSE_SECONDS",
    "CachedAnswer",
    "CheckerView",
    "HealthChecks",
    "check_passed",
    "checker_offsets",
    "endpoint_healthy",
    "failover_answer",
    "record_check",
    "resolve_cached",
]


def check_passed(status: int | None) -> bool:
    """An HTTP check passes on 2xx or 3xx; None (no answer within the limits, refused, reset) fails."""
    return status is not None and 200 <= status < 400


@dataclass(frozen=True)
class CheckerView:
    """One checker's view of one endpoint."""

    healthy: bool = True
    streak: int = 0
    """Consecutive results that disagree with `healthy` (the view flips when it reaches the threshold)."""


def record_check(view: CheckerView, passed: bool, threshold: int) -> CheckerView:
    """Fold one check result into a checker's view: `threshold` consecutive opposite results flip it."""
    if threshold < 1:
        raise ValueError("the failure threshold must be at least 1")
    if passed == view.healthy:
        return CheckerView(view.healthy, 0)
    streak = view.streak + 1
    return CheckerView(passed, 0) if streak >= threshold else CheckerView(view.healthy, streak)


def endpoint_healthy(views: Sequence[CheckerView]) -> bool:
    """Healthy while more than 18% of the checkers see it healthy (no checker yet: healthy)."""
    if not views:
        return True
    return sum(1 for v in views if v.healthy) > HEALTHY_CHECKER_FRACTION * len(views)


def checker_offsets(checkers: int, interval: float) -> list[float]:
    """Checkers run independently from many places, so their requests are spread over the interval."""
    if checkers < 1:
        raise ValueError("at least one checker")
    return [interval * i / checkers for i in range(checkers)]


@dataclass
class HealthChecks:
    """Every endpoint's checker views and the times its status changed (state only, no I/O)."""

    regions: Sequence[str]
    checkers: int
    threshold: int
    views: dict[str, list[CheckerView]] = field(default_factory=dict)
    changes: list[tuple[float, str, bool]] = field(default_factory=list)
    """(time, region, healthy) each time an endpoint's status flipped."""

    def __post_init__(self) -> None:
        for region in self.regions:
            self.views.setdefault(region, [CheckerView() for _ in range(self.checkers)])

    def record(self, region: str, checker: int, passed: bool, now: float) -> bool:
        """Record one check; True when the endpoint's status changed."""
        before = endpoint_healthy(self.views[region])
        views = self.views[region]
        views[checker] = record_check(views[checker], passed, self.threshold)
        after = endpoint_healthy(views)
        if after != before:
            self.changes.append((now, region, after))
        return after != before

    def healthy(self) -> dict[str, bool]:
        return {region: endpoint_healthy(views) for region, views in self.views.items()}


def failover_answer(regions: Sequence[str], healthy: Mapping[str, bool]) -> str:
    """The region Route 53 answers with for the failover record chain over `regions` (priority order)."""
    links = failover_chain("drill.example.com", list(regions))
    by_name = {link.name: link for link in links}

    def secondary_healthy(link: FailoverLink) -> bool:
        if link.secondary_region is not None:
            return bool(healthy.get(link.secondary_region))
        return pair_has_healthy(by_name[link.next_link()])

    def pair_has_healthy(link: FailoverLink) -> bool:  # alias target health (evaluate target health)
        return bool(healthy.get(link.primary_region)) or secondary_healthy(link)

    def answer(link: FailoverLink) -> str:
        if healthy.get(link.primary_region):
            return link.primary_region
        if secondary_healthy(link):
            return link.secondary_region if link.secondary_region is not None else answer(by_name[link.next_link()])
        return link.primary_region  # no healthy record in the pair: all count as healthy, PRIMARY wins

    return answer(links[0])


@dataclass(frozen=True)
class CachedAnswer:
    region: str
    expires_at: float


def resolve_cached(cache: CachedAnswer | None, now: float, ttl: float, ask: Callable[[], str]) -> CachedAnswer:
    """A resolver's answer: the cached one until its TTL runs out, then a fresh answer from Route 53."""
    if cache is not None and now < cache.expires_at:
        return cache
    return CachedAnswer(ask(), now + ttl)
