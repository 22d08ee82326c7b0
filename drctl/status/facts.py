"""What `drctl status` knows of a live deployment, as plain data: the authority (the control item, read strongly
consistent in every replica), each observer's record, the projection in every region, the lag readings the
observers keep, the last transitions from the audit records; and the findings drawn from them (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from failover.decisions import FRESH_INTERVALS, ControlState, Observation

TRANSITIONS_SHOWN = 5
"""How many audit records (the newest epochs) status reads."""


@dataclass(frozen=True)
class AuthorityReading:
    """The control item as one replica answered (or why it did not)."""

    region: str
    active_region: str | None = None
    epoch: int | None = None
    phase: str | None = None
    pending: tuple[str, ...] = ()
    previous_region: str | None = None
    reason: str = ""
    last_transition_at: float | None = None
    error: str | None = None
    unreachable: bool = False

    @classmethod
    def of(cls, region: str, state: ControlState) -> AuthorityReading:
        return cls(
            region,
            state.active_region,
            state.epoch,
            state.phase,
            tuple(state.pending),
            state.previous_region,
            state.reason,
            state.last_transition_at or None,
        )


@dataclass(frozen=True)
class ObserverView:
    """One observer's record: when it last ran a round, and what it saw of each region."""

    region: str
    found: bool = False
    seen_at: float | None = None
    age_seconds: float | None = None
    fresh: bool = False
    epoch: int | None = None
    latest: Mapping[str, bool] = field(default_factory=dict)
    """region -> its latest probe passed"""
    failures: Mapping[str, int] = field(default_factory=dict)
    """region -> failed rounds in a row"""


@dataclass(frozen=True)
class LagView:
    """The newest replication-lag reading an observer keeps for one target (from the active region)."""

    target: str
    observer: str
    lag_seconds: float | None
    writes_seen: bool | None
    stale_seconds: float
    age_seconds: float | None


@dataclass(frozen=True)
class ProjectionView:
    """One region's SSM parameter."""

    region: str
    value: str | None = None
    active_region: str | None = None
    epoch: int | None = None
    agrees: bool = False
    error: str | None = None
    unreachable: bool = False


@dataclass(frozen=True)
class TransitionRecord:
    epoch: int
    from_region: str
    to_region: str
    reason: str
    at: float | None


@dataclass
class StatusFacts:
    stack: str
    regions: tuple[str, ...]
    """The stack's regions in failover order (the first is home)."""
    checked_at: float
    authority: AuthorityReading | None
    """The newest well-formed control item any replica answered (highest epoch), or None."""
    replicas: list[AuthorityReading]
    observers: list[ObserverView]
    projections: list[ProjectionView]
    lag: list[LagView]
    transitions: list[TransitionRecord]
    unreachable: list[str]
    """Regions that did not answer in time (asked once, then left alone)."""
    rpo_seconds: float | None = None
    findings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["ok"] = self.ok
        return doc


def exit_code(facts: StatusFacts) -> int:
    """0 when nothing needs attention, 1 for a finding (as `drctl verify`)."""
    return 0 if facts.ok else 1


def observer_view(region: str, record: tuple[Observation, dict] | None, interval: float, now: float) -> ObserverView:
    """An observer's record as shown: fresh while its last round is at most FRESH_INTERVALS probe intervals old
    (the rule that gives it a voice in `failover.decisions`)."""
    if record is None:
        return ObserverView(region)
    obs, _ = record
    age = max(0.0, now - obs.seen_at) if obs.seen_at else None
    fresh = age is not None and age <= FRESH_INTERVALS * interval
    return ObserverView(region, True, obs.seen_at or None, age, fresh, obs.epoch, dict(obs.latest), dict(obs.failures))


def newest_lag(records: Mapping[str, tuple[Observation, dict]], now: float) -> list[LagView]:
    """Per target, the newest reading any observer keeps (lag memory: target -> (seconds, writes, at, stale))."""
    best: dict[str, LagView] = {}
    for observer, (_, memory) in sorted(records.items()):
        for target, (seconds, writes, at, stale) in memory.items():
            age = max(0.0, now - at) if at else None
            view = LagView(target, observer, seconds, writes, stale, age)
            held = best.get(target)
            if held is None or (age is not None and (held.age_seconds is None or age < held.age_seconds)):
                best[target] = view
    return [best[t] for t in sorted(best)]


def transition_record(epoch: int, item: Mapping[str, Any]) -> TransitionRecord:
    """An audit item (`failover.store.ControlStore.put_audit`: every field a string)."""
    try:
        at: float | None = float(item.get("at", ""))
    except (TypeError, ValueError):
        at = None
    return TransitionRecord(
        epoch, str(item.get("from", "-")), str(item.get("to", "-")), str(item.get("reason", "-")), at
    )


def findings(facts: StatusFacts) -> list[str]:
    """What needs attention, one line each, in a fixed order."""
    out = [f"{r}: did not answer in time" for r in facts.unreachable]
    out += [f"control item in {r.region}: {r.error}" for r in facts.replicas if r.error and not r.unreachable]
    auth = facts.authority
    if auth is None:
        out.append("no replica of the control table answered with a well-formed control item")
        return out
    for r in facts.replicas:
        if r.error is None and (r.active_region, r.epoch) != (auth.active_region, auth.epoch):
            out.append(f"control item in {r.region}: epoch {r.epoch} ({r.active_region}), behind epoch {auth.epoch}")
    if auth.pending:
        out.append(f"transition to {auth.active_region} (epoch {auth.epoch}) pending: {', '.join(auth.pending)}")
    if auth.phase == "demoting":
        out.append(f"no region takes writes: {auth.active_region} is not activated yet")
    for o in facts.observers:
        if not o.found:
            out.append(f"observer {o.region}: no record")
        elif not o.fresh:
            out.append(f"observer {o.region}: stale (last round {_age(o.age_seconds)} ago)")
        else:
            failing = sorted(r for r, ok in o.latest.items() if not ok)
            out += [f"observer {o.region} sees {r} failing ({o.failures.get(r, 0)} rounds)" for r in failing]
    for p in facts.projections:
        if p.unreachable:
            continue
        if p.error:
            out.append(f"projection in {p.region}: {p.error}")
        elif not p.agrees:
            out.append(
                f"projection in {p.region}: {p.active_region} (epoch {p.epoch}), the authority says "
                f"{auth.active_region} (epoch {auth.epoch})"
            )
    if facts.rpo_seconds is not None:
        for lag in facts.lag:
            worst = max(lag.lag_seconds or 0.0, lag.stale_seconds)
            if worst > facts.rpo_seconds:
                out.append(f"replication to {lag.target}: {worst:g} s behind, over the RPO of {facts.rpo_seconds:g} s")
    return out


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
