"""What a drill recorded, and the history checker: plain functions over the records.

Every time is wall-clock seconds (`time.time()`) of the drill's process (regions' skewed clocks are the runtime's
business; the history is read on one clock).

The checks, each a function of the records only:
- `dual_writers`: the regions that accepted application writes over time. A write commits at some instant between
  sending it and its acknowledgement, so each acknowledged write is the interval [sent, acked]; a region's writes
  close together form one span of acceptance. Two regions' spans that overlap are time with two writers; a write of
  one region inside another region's span is a dual write. Sound: a real reordering of commits always shows as an
  overlap (commits lie inside the intervals).
- `lost_writes`: acknowledged writes missing from the table that takes writes at the end; `lost_write_facts` says
  of each whether the streams replicators recorded it as a conflict.
- `regressions`: an application (or health endpoint) that saw the authority's newer answer and then an older one.
- `fencing_violations`: two invocations each reporting a transition to the same epoch.
- `contradictory_notices`: more than one notice per topic for an epoch, or notices naming different regions.
- figures: detection, decision, write RTO, traffic RTO, RPO.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WriteRecord:
    """One write a region's application attempted through `failover.client`."""

    seq: int
    key: str
    region: str
    """The region whose table the application wrote (its own)."""
    sent_at: float
    acked_at: float | None = None
    """When the write was acknowledged; None when refused, failed or timed out."""
    error: str | None = None
    epoch: int | None = None
    """The epoch the client held its write permission under (runtimes that say)."""

    @property
    def acknowledged(self) -> bool:
        return self.acked_at is not None


@dataclass(frozen=True)
class TrafficRecord:
    at: float
    region: str
    served: bool
    user: int = 0


@dataclass(frozen=True)
class Transition:
    """A change of the authority (control item) as the sampler saw it."""

    at: float
    """The control item's own transition time (the fenced write), or when the sampler first saw it."""
    epoch: int
    from_region: str | None
    to_region: str
    replica: str | None = None
    """Eventually consistent control table: the replica the change was first seen in."""


@dataclass(frozen=True)
class Observed:
    """What an application saw of the active region: from the projection, or confirmed with the authority."""

    at: float
    region: str
    """The application's region."""
    source: str
    value: str
    epoch: int | None = None


@dataclass(frozen=True)
class Invocation:
    at: float
    region: str
    action: str
    outcome: str
    active: str | None
    epoch: int | None
    reason: str


@dataclass(frozen=True)
class Notice:
    topic_region: str
    epoch: int | None
    active: str | None
    previous: str | None


# -- writers -------------------------------------------------------------------------------------------------------
def acceptance_spans(writes: Iterable[WriteRecord], gap: float) -> dict[str, list[tuple[float, float]]]:
    """Per region, the spans over which it accepted writes: acknowledged write intervals [sent, acked] merged when
    less than `gap` apart."""
    by_region: dict[str, list[tuple[float, float]]] = {}
    for w in sorted((w for w in writes if w.acked_at is not None), key=lambda w: w.sent_at):
        spans = by_region.setdefault(w.region, [])
        assert w.acked_at is not None
        if spans and w.sent_at - spans[-1][1] < gap:
            spans[-1] = (spans[-1][0], max(spans[-1][1], w.acked_at))
        else:
            spans.append((w.sent_at, w.acked_at))
    return by_region


@dataclass(frozen=True)
class DualWriters:
    seconds: float
    """Total time during which two or more regions' acceptance spans overlap."""
    writes: int
    """Acknowledged writes of one region lying inside another region's acceptance span."""
    examples: tuple[str, ...] = ()


def dual_writers(writes: Sequence[WriteRecord], gap: float) -> DualWriters:
    spans = acceptance_spans(writes, gap)
    events: list[tuple[float, int]] = []
    for region_spans in spans.values():
        for start, end in region_spans:
            events.extend([(start, 1), (end, -1)])
    events.sort(key=lambda e: (e[0], e[1]))
    seconds, open_spans, last = 0.0, 0, None
    for at, delta in events:
        if open_spans >= 2 and last is not None:
            seconds += at - last
        open_spans += delta
        last = at
    inside = 0
    examples: list[str] = []
    for w in writes:
        if w.acked_at is None:
            continue
        for region, region_spans in spans.items():
            if region == w.region:
                continue
            hit = next(((s, e) for s, e in region_spans if s < w.sent_at and w.acked_at < e), None)
            if hit:
                inside += 1
                if len(examples) < 5:
                    examples.append(
                        f"{w.key} acknowledged by {w.region} at {w.acked_at:.3f} while {region} "
                        f"accepted writes from {hit[0]:.3f} to {hit[1]:.3f}"
                    )
                break
    return DualWriters(round(seconds, 3), inside, tuple(examples))


def writes_of_part(writes: Iterable[WriteRecord], start: float, end: float) -> list[WriteRecord]:
    """The writes a part judges: sent from `start`, and settled (acknowledged, or given up) by `end`. A write still
    in flight at `end` may commit after the part's table was read, so it belongs to no part."""
    return [w for w in writes if start <= w.sent_at and (w.acked_at if w.acked_at is not None else w.sent_at) <= end]


def lost_writes(writes: Iterable[WriteRecord], present_keys: Collection[str]) -> list[WriteRecord]:
    """Acknowledged writes whose item is not in `present_keys` (the table that takes writes at the end)."""
    return [w for w in writes if w.acknowledged and w.key not in present_keys]


def lost_write_facts(lost: Iterable[WriteRecord], conflicts: Collection[str]) -> list[dict]:
    """Each lost write: its key, the region that acknowledged it, and whether it was recorded as a conflict (its
    item overwritten by a concurrent write) rather than never replicated."""
    return [
        {"key": w.key, "region": w.region, "ackedAt": w.acked_at, "recordedAsConflict": w.key in conflicts}
        for w in lost
    ]


def rpo_seconds(lost: Sequence[WriteRecord], reference: float) -> float:
    """The span of acknowledged data lost: from the oldest lost write's acknowledgement to the fault, or to the
    newest lost one when that came later; 0 if none was lost."""
    acks = [w.acked_at for w in lost if w.acked_at is not None]
    if not acks:
        return 0.0
    return max(reference, max(acks)) - min(acks)


# -- what applications saw -----------------------------------------------------------------------------------------
def regressions(observed: Iterable[Observed], transitions: Sequence[Transition]) -> list[str]:
    """Each time an application's view went back: it saw the authority's region of a later epoch, then the region of
    an earlier epoch while the authority had not returned there. With epochs recorded, a lower epoch after a
    higher one is a regression by itself."""
    out: list[str] = []
    order = sorted(transitions, key=lambda t: t.at)
    per_app: dict[tuple[str, str], list[Observed]] = {}
    for o in sorted(observed, key=lambda o: o.at):
        per_app.setdefault((o.region, o.source), []).append(o)
    for (region, source), views in per_app.items():
        best_epoch: int | None = None
        best_rank = -1
        for view in views:
            if view.epoch is not None:
                if best_epoch is not None and view.epoch < best_epoch:
                    out.append(
                        f"{region}'s {source} went back from epoch {best_epoch} to {view.epoch} "
                        f"({view.value}) at {view.at:.3f}"
                    )
                best_epoch = view.epoch if best_epoch is None else max(best_epoch, view.epoch)
                continue
            rank = _authority_rank(order, view.value, view.at)
            if rank is None:
                continue
            if rank < best_rank:
                out.append(
                    f"{region}'s {source} went back to {view.value} at {view.at:.3f} after seeing a newer active region"
                )
            best_rank = max(best_rank, rank)
    return out


def _authority_rank(transitions: Sequence[Transition], value: str, at: float) -> int | None:
    """The index of the newest transition, up to `at`, that made `value` active (-1: the initial region)."""
    rank: int | None = None
    for i, t in enumerate(transitions):
        if t.at <= at and t.to_region == value:
            rank = i
    return rank


# -- the orchestrators ---------------------------------------------------------------------------------------------
def fencing_violations(invocations: Iterable[Invocation]) -> list[str]:
    """Two invocations that each report having made the transition to one epoch: the fence did not hold."""
    by_epoch: dict[int, list[Invocation]] = {}
    for inv in invocations:
        if inv.outcome == "transitioned" and inv.epoch is not None:
            by_epoch.setdefault(inv.epoch, []).append(inv)
    return [
        f"{len(invs)} invocations each transitioned to epoch {epoch}: "
        + ", ".join(f"{i.region} -> {i.active}" for i in invs)
        for epoch, invs in sorted(by_epoch.items())
        if len(invs) > 1
    ]


def contradictory_notices(notices: Iterable[Notice]) -> list[str]:
    """More than one notice per topic for one epoch, or notices of one epoch naming different regions."""
    per_topic: dict[tuple[str, int | None], int] = {}
    named: dict[int | None, set] = {}
    for n in notices:
        per_topic[(n.topic_region, n.epoch)] = per_topic.get((n.topic_region, n.epoch), 0) + 1
        named.setdefault(n.epoch, set()).add(n.active)
    out = [
        f"the {region} topic got {count} notices for epoch {epoch}"
        for (region, epoch), count in sorted(per_topic.items(), key=str)
        if count > 1
    ]
    out.extend(
        f"notices for epoch {epoch} name different regions: {', '.join(sorted(map(str, regions)))}"
        for epoch, regions in sorted(named.items(), key=str)
        if len(regions) > 1
    )
    return out


def transitions_between(transitions: Iterable[Transition], start: float, end: float) -> list[Transition]:
    return [t for t in transitions if start <= t.at <= end]


# -- figures -------------------------------------------------------------------------------------------------------
def first_acknowledged_write(writes: Iterable[WriteRecord], since: float, regions: Collection[str]) -> float | None:
    times = [w.acked_at for w in writes if w.acked_at is not None and w.acked_at >= since and w.region in regions]
    return min(times) - since if times else None


def first_served_request(requests: Iterable[TrafficRecord], since: float, regions: Collection[str]) -> float | None:
    times = [r.at for r in requests if r.served and r.at >= since and r.region in regions]
    return min(times) - since if times else None


def first_served_every_user(requests: Iterable[TrafficRecord], since: float, regions: Collection[str]) -> float | None:
    """Seconds from `since` until every user has been served by one of `regions` (the slowest user decides)."""
    by_user: dict[int, list[TrafficRecord]] = {}
    for r in requests:
        by_user.setdefault(r.user, []).append(r)
    firsts = [first_served_request(records, since, regions) for records in by_user.values()]
    if not firsts or any(f is None for f in firsts):
        return None
    return max(f for f in firsts if f is not None)


def first_status_change(
    changes: Iterable[tuple[float, str, bool]], since: float, region: str, healthy: bool = False
) -> float | None:
    times = [t for t, r, h in changes if r == region and h == healthy and t >= since]
    return min(times) - since if times else None


def first_transition(
    transitions: Iterable[Transition], since: float, to_regions: Collection[str] | None = None
) -> float | None:
    times = [t.at for t in transitions if t.at >= since and (to_regions is None or t.to_region in to_regions)]
    return min(times) - since if times else None


def served_elsewhere(requests: Iterable[TrafficRecord], start: float, end: float, region: str) -> int:
    return sum(1 for r in requests if start <= r.at <= end and r.region != region)


def longest_write_gap(writes: Iterable[WriteRecord], start: float, end: float) -> float:
    acks = sorted(w.acked_at for w in writes if w.acked_at is not None and start <= w.acked_at <= end)
    points = [start, *acks, end]
    return max(b - a for a, b in itertools.pairwise(points))


@dataclass
class History:
    """Everything one scenario recorded."""

    start: float
    end: float
    writes: list[WriteRecord] = field(default_factory=list)
    traffic: list[TrafficRecord] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    observed: list[Observed] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    health_changes: list[tuple[float, str, bool]] = field(default_factory=list)
    answers: list[tuple[float, str]] = field(default_factory=list)
    user_answers: dict[int, list[tuple[float, str]]] = field(default_factory=dict)
    active: list[tuple[float, str, int]] = field(default_factory=list)
    """(time, active region, epoch) as the sampler read the authority."""
    faults: list[tuple[float, str]] = field(default_factory=list)
    """(time, what the drill did)."""
    present: set[str] = field(default_factory=set)
    conflicts: set[str] = field(default_factory=set)
    """Eventual mode: the keys the streams replicators recorded as conflicts (an acknowledged write lost to a
    concurrent one), read from every direction's conflicts table at the end."""
    checked_region: str = ""
    projections: dict[str, str | None] = field(default_factory=dict)
    """Each region's projection at the end, as read straight from moto."""
