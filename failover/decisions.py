"""Pure decision logic: what a monitor round, an alarm or a manual request should do.

No I/O here, so every safety rule (hysteresis, dwell, never onto an unhealthy target, manual
failback by default, observers combined explicitly) is tested directly with property-based tests.

Several orchestrators (one per standby region) observe at once. Each keeps its *own* consecutive
counts in its own record (`Observation`), so no observer overwrites another's; a decision combines
them explicitly: the deciding observer must have seen the threshold of consecutive failures, and no
other observer that reported recently may have seen the region healthy since that failure streak began.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Mapping, Optional, Sequence

from failover.settings import Settings

DecisionKind = Literal["transition", "noop", "refused"]


@dataclass(frozen=True)
class ControlState:
    """The control item: the authority on which region takes writes."""

    active_region: str
    epoch: int = 0
    last_transition_at: float = 0.0
    pending: tuple[str, ...] = ()
    """Steps of the latest transition not yet done (completed by the next invocation)."""
    previous_region: Optional[str] = None
    reason: str = ""


@dataclass(frozen=True)
class Observation:
    """One observer's memory of consecutive probe results, per observed region."""

    observer: str
    """The region the observing orchestrator runs in."""
    epoch: int = 0
    """The control epoch the counts were taken under; a transition starts them afresh."""
    at: float = 0.0
    """When the observer last recorded a round."""
    failures: Mapping[str, int] = field(default_factory=dict)
    successes: Mapping[str, int] = field(default_factory=dict)
    failing_since: Mapping[str, float] = field(default_factory=dict)
    """Start of the current failure streak (the first failed probe of it)."""
    healthy_since: Mapping[str, float] = field(default_factory=dict)
    last_success: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    target: Optional[str] = None
    reason: str = ""


def observe(obs: Observation, probes: Mapping[str, bool], now: float, epoch: int, max_gap: float) -> Observation:
    """Fold one round of probe results into the observer's consecutive counts.

    Counts restart when the epoch changed (a transition happened) or when the previous round is older
    than `max_gap` (the rounds were not consecutive: the observer was not running)."""
    if obs.epoch != epoch or now - obs.at > max_gap:
        obs = Observation(observer=obs.observer, epoch=epoch, last_success=dict(obs.last_success))
    failures, successes = dict(obs.failures), dict(obs.successes)
    failing, healthy, last_ok = dict(obs.failing_since), dict(obs.healthy_since), dict(obs.last_success)
    for region, ok in probes.items():
        if ok:
            failures[region] = 0
            failing.pop(region, None)
            if successes.get(region, 0) == 0:
                healthy[region] = now
            successes[region] = successes.get(region, 0) + 1
            last_ok[region] = now
        else:
            successes[region] = 0
            healthy.pop(region, None)
            if failures.get(region, 0) == 0:
                failing[region] = now
            failures[region] = failures.get(region, 0) + 1
    return replace(obs, epoch=epoch, at=now, failures=failures, successes=successes, failing_since=failing,
                   healthy_since=healthy, last_success=last_ok)


def contradicted_by(decider: Observation, others: Sequence[Observation], region: str, now: float,
                    freshness: float) -> Optional[str]:
    """The first recently reporting observer that saw `region` healthy after the decider's failure streak
    began (a partial outage seen from one place only), else None."""
    started = decider.failing_since.get(region)
    if started is None:
        return None
    for other in others:
        if other.observer == decider.observer or now - other.at > freshness:
            continue
        if other.last_success.get(region, float("-inf")) > started:
            return other.observer
    return None


def first_healthy_standby(settings: Settings, active: str, healthy: Mapping[str, bool]) -> Optional[str]:
    """The highest-priority region other than the active one whose probe passed."""
    for region in settings.regions:
        if region != active and healthy.get(region):
            return region
    return None


def dwell_remaining(settings: Settings, state: ControlState, now: float) -> float:
    if state.epoch == 0:
        return 0.0
    return max(0.0, settings.min_dwell_seconds - (now - state.last_transition_at))


def decide_monitor(settings: Settings, state: ControlState, own: Observation, others: Sequence[Observation],
                   probes: Mapping[str, bool], now: float) -> Decision:
    """After `observe`: fail over when the active region reached the failure threshold (and no fresh
    observer contradicts it), or fail back automatically when configured and the home region has been
    healthy long enough."""
    active = state.active_region
    if not settings.automatic:
        return Decision("noop", reason="automatic failover is off (DR_AUTOMATIC_FAILOVER=false)")
    failed = own.failures.get(active, 0)
    if failed >= settings.failure_threshold:
        witness = contradicted_by(own, others, active, now, freshness=2.5 * settings.probe_interval_seconds)
        if witness:
            return Decision("noop", reason=f"{active} failed {failed} probes from {own.observer}, "
                                           f"but {witness} saw it healthy since: not a regional outage")
        return _move_off_active(settings, state, probes, now, f"{active} failed {failed} consecutive health probes")
    home = settings.home
    if settings.failback == "automatic" and active != home and probes.get(home):
        count = own.successes.get(home, 0)
        stable_for = now - own.healthy_since.get(home, now)
        if (count >= settings.recovery_threshold and stable_for >= settings.min_dwell_seconds
                and dwell_remaining(settings, state, now) == 0):
            return Decision("transition", home, f"automatic failback: {home} healthy for {count} probes")
    return Decision("noop", reason=f"{active} stays active")


def decide_alarm(settings: Settings, state: ControlState, alarm_region: str, alarm_state: str,
                 probes: Mapping[str, bool], now: float) -> Decision:
    """A health alarm went to ALARM: it already encodes N failed checks, so act on it at once
    (after the dwell), but only for the active region and only onto a healthy target."""
    active = state.active_region
    if alarm_state != "ALARM":
        return Decision("noop", reason=f"alarm for {alarm_region} is {alarm_state}; "
                                       "failback is decided by the monitor or an operator")
    if alarm_region != active:
        return Decision("noop", reason=f"alarm for {alarm_region}, but {active} is the active region")
    if not settings.automatic:
        return Decision("noop", reason="automatic failover is off (DR_AUTOMATIC_FAILOVER=false)")
    return _move_off_active(settings, state, probes, now, f"health alarm for {active}")


def _move_off_active(settings: Settings, state: ControlState, probes: Mapping[str, bool], now: float,
                     why: str) -> Decision:
    """The active region is judged down: respect the dwell, then pick the first healthy standby or stay."""
    active = state.active_region
    wait = dwell_remaining(settings, state, now)
    if wait > 0:
        return Decision("noop", reason=f"{why}, but the last transition was too recent ({wait:.0f}s of dwell left)")
    target = first_healthy_standby(settings, active, probes)
    if target is None:
        return Decision("refused", reason=f"{why} and no other region is healthy; staying on {active}")
    return Decision("transition", target, why)


def decide_manual(settings: Settings, state: ControlState, target: str, target_healthy: bool,
                  force: bool) -> Decision:
    """An operator's failover or failback: no dwell, but still never onto an unhealthy target unless forced."""
    if target not in settings.regions:
        return Decision("refused", reason=f"{target!r} is not one of {', '.join(settings.regions)}")
    if target == state.active_region:
        return Decision("noop", target, f"{target} is already active")
    if not target_healthy and not force:
        return Decision("refused", target, f"{target} failed its health probe (set force to override)")
    return Decision("transition", target, "")


@dataclass(frozen=True)
class LagReading:
    """What is known of replication from the active region towards one target.

    `lag_seconds` is the worst replication latency seen recently (None: no datapoint). `writes_seen` says
    whether the source table took any write in the same window (None: not known either)."""

    lag_seconds: Optional[float]
    writes_seen: Optional[bool]
    source: str = "cloudwatch"


def lag_gate(rpo_seconds: Optional[int], reading: Optional[LagReading], force: bool) -> Optional[str]:
    """None when promotion may proceed; else why not.

    - strong consistency (no RPO gate) or forced: proceed;
    - a measured lag: proceed when it is within the RPO objective;
    - no lag datapoint and no write in the window: nothing can be lost, proceed;
    - otherwise the lag is unknown while writes happened: refuse."""
    if rpo_seconds is None or force:
        return None
    if reading is not None and reading.lag_seconds is not None:
        if reading.lag_seconds > rpo_seconds:
            return (f"replication lag {reading.lag_seconds:.1f}s exceeds the RPO objective of {rpo_seconds}s "
                    "(set force to override)")
        return None
    if reading is not None and reading.writes_seen is False:
        return None
    return (f"replication lag is unknown while the table took writes, and the RPO objective is {rpo_seconds}s "
            "(set force to override)")
