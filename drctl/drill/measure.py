"""What a drill records, and the figures computed from it (plain functions over the records).

Every time is wall-clock seconds (`time.time()`), the clock the orchestrator stamps the control item with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Iterable, Optional, Sequence


@dataclass(frozen=True)
class WriteRecord:
    """One write the drill's writer attempted through `failover.client`."""

    seq: int
    key: str
    region: Optional[str]
    """The active region the client resolved and wrote to (None: it could not resolve one)."""
    sent_at: float
    acked_at: Optional[float] = None
    """When the write was acknowledged; None when it failed or timed out."""
    error: Optional[str] = None

    @property
    def acknowledged(self) -> bool:
        return self.acked_at is not None


@dataclass(frozen=True)
class TrafficRecord:
    """One request the traffic client sent to the region its cached DNS answer named."""

    at: float
    region: str
    served: bool
    user: int = 0
    """Which user (resolver) sent it: each user's resolver caches the answer on its own schedule."""


@dataclass(frozen=True)
class Transition:
    """A change of the control item's epoch, as the drill's sampler saw it."""

    at: float
    """The control item's lastTransitionAt (when the fenced epoch bump was made)."""
    epoch: int
    from_region: Optional[str]
    to_region: str


def first_acknowledged_write(writes: Iterable[WriteRecord], since: float, regions: Collection[str]) -> Optional[float]:
    """Seconds from `since` to the first write acknowledged at or after it by one of `regions`."""
    times = [w.acked_at for w in writes if w.acked_at is not None and w.acked_at >= since and w.region in regions]
    return min(times) - since if times else None


def first_served_request(requests: Iterable[TrafficRecord], since: float, regions: Collection[str]) -> Optional[float]:
    """Seconds from `since` to the first request at or after it that one of `regions` served."""
    times = [r.at for r in requests if r.served and r.at >= since and r.region in regions]
    return min(times) - since if times else None


def first_served_every_user(requests: Iterable[TrafficRecord], since: float,
                            regions: Collection[str]) -> Optional[float]:
    """Seconds from `since` until every user has been served by one of `regions` (the slowest user's resolver
    cache decides; None when some user never was)."""
    by_user: dict[int, list[TrafficRecord]] = {}
    for r in requests:
        by_user.setdefault(r.user, []).append(r)
    firsts = [first_served_request(records, since, regions) for records in by_user.values()]
    if not firsts or any(f is None for f in firsts):
        return None
    return max(firsts)


def first_status_change(changes: Iterable[tuple[float, str, bool]], since: float, region: str,
                        healthy: bool = False) -> Optional[float]:
    """Seconds from `since` to the first time `region`'s health check became `healthy` (Route 53's view)."""
    times = [t for t, r, h in changes if r == region and h == healthy and t >= since]
    return min(times) - since if times else None


def first_transition(transitions: Iterable[Transition], since: float,
                     to_regions: Optional[Collection[str]] = None) -> Optional[float]:
    """Seconds from `since` to the first epoch bump at or after it (onto one of `to_regions` when given)."""
    times = [t.at for t in transitions if t.at >= since and (to_regions is None or t.to_region in to_regions)]
    return min(times) - since if times else None


def transitions_between(transitions: Iterable[Transition], start: float, end: float) -> int:
    return sum(1 for t in transitions if start <= t.at <= end)


def lost_writes(writes: Iterable[WriteRecord], present_keys: Collection[str]) -> list[WriteRecord]:
    """Acknowledged writes whose item is not in `present_keys` (the table that takes writes afterwards)."""
    return [w for w in writes if w.acknowledged and w.key not in present_keys]


def rpo_seconds(lost: Sequence[WriteRecord], reference: float) -> float:
    """The span of acknowledged data lost: from the oldest lost write's acknowledgement to the fault, or to the
    newest lost one when that came later (a write in flight as the region failed); 0 if none was lost."""
    acks = [w.acked_at for w in lost if w.acked_at is not None]
    if not acks:
        return 0.0
    return max(reference, max(acks)) - min(acks)


def longest_write_gap(writes: Iterable[WriteRecord], start: float, end: float) -> float:
    """The longest stretch within [start, end] without an acknowledged write (what users of writes felt)."""
    acks = sorted(w.acked_at for w in writes if w.acked_at is not None and start <= w.acked_at <= end)
    points = [start, *acks, end]
    return max(b - a for a, b in zip(points, points[1:]))


def served_elsewhere(requests: Iterable[TrafficRecord], start: float, end: float, region: str) -> int:
    """Requests within [start, end] that went to a region other than `region`."""
    return sum(1 for r in requests if start <= r.at <= end and r.region != region)
