"""Pure decision logic: what a monitor tick, an alarm or a manual request should do.

No I/O here, so every safety rule (hysteresis, dwell, never onto an unhealthy target, manual
failback by default) is tested directly with property-based tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Optional

from failover.settings import Settings


@dataclass(frozen=True)
class ControlState:
    """The control item: the authority on which region takes writes, plus the monitor's memory."""

    active_region: str
    epoch: int = 0
    last_transition_at: float = 0.0
    failures: Mapping[str, int] = field(default_factory=dict)
    successes: Mapping[str, int] = field(default_factory=dict)
    healthy_since: Mapping[str, float] = field(default_factory=dict)
    pending: tuple[str, ...] = ()
    """Steps of the latest transition not yet done (completed by the next invocation)."""
    previous_region: Optional[str] = None
    reason: str = ""


@dataclass(frozen=True)
class Decision:
    kind: str
    """'transition', 'noop' or 'refused'."""
    target: Optional[str] = None
    reason: str = ""


def observe(state: ControlState, probes: Mapping[str, bool], now: float) -> ControlState:
    """Fold one round of probe results into the consecutive failure/success counts."""
    failures, successes, since = dict(state.failures), dict(state.successes), dict(state.healthy_since)
    for region, healthy in probes.items():
        if healthy:
            failures[region] = 0
            if successes.get(region, 0) == 0:
                since[region] = now
            successes[region] = successes.get(region, 0) + 1
        else:
            successes[region] = 0
            since.pop(region, None)
            failures[region] = failures.get(region, 0) + 1
    return replace(state, failures=failures, successes=successes, healthy_since=since)


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


def decide_monitor(settings: Settings, state: ControlState, probes: Mapping[str, bool], now: float) -> Decision:
    """After `observe`: fail over when the active region reached the failure threshold, or fail back
    automatically when configured and the home region has been healthy long enough."""
    active = state.active_region
    if not settings.automatic:
        return Decision("noop", reason="automatic failover is off (DR_AUTOMATIC_FAILOVER=false)")
    if state.failures.get(active, 0) >= settings.failure_threshold:
        return _move_off_active(settings, state, probes, now,
                                f"{active} failed {state.failures[active]} consecutive health probes")
    home = settings.home
    if settings.failback == "automatic" and active != home and probes.get(home):
        enough = state.successes.get(home, 0) >= settings.recovery_threshold
        stable_for = now - state.healthy_since.get(home, now)
        if enough and stable_for >= settings.min_dwell_seconds and dwell_remaining(settings, state, now) == 0:
            return Decision("transition", home, f"automatic failback: {home} healthy for {state.successes[home]} probes")
    return Decision("noop", reason=f"{active} stays active")


def decide_alarm(settings: Settings, state: ControlState, alarm_region: str, alarm_state: str,
                 probes: Mapping[str, bool], now: float) -> Decision:
    """A health alarm went to ALARM: it already encodes N failed checks, so act on it at once
    (after the dwell), but only for the active region and only onto a healthy target."""
    active = state.active_region
    if alarm_state != "ALARM":
        return Decision("noop", reason=f"alarm for {alarm_region} is {alarm_state}; failback is decided by the monitor or an operator")
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


def decide_manual(settings: Settings, state: ControlState, target: str, target_healthy: bool, force: bool) -> Decision:
    """An operator's failover or failback: no dwell, but still never onto an unhealthy target unless forced."""
    if target not in settings.regions:
        return Decision("refused", reason=f"{target!r} is not one of {', '.join(settings.regions)}")
    if target == state.active_region:
        return Decision("noop", target, f"{target} is already active")
    if not target_healthy and not force:
        return Decision("refused", target, f"{target} failed its health probe (set force to override)")
    return Decision("transition", target, "")


def lag_gate(rpo_seconds: Optional[int], lag_seconds: Optional[float], force: bool) -> Optional[str]:
    """None when promotion may proceed; else why not. Unknown lag counts as too much (unless forced)."""
    if rpo_seconds is None or force:
        return None
    if lag_seconds is None:
        return f"replication lag is unknown and the RPO objective is {rpo_seconds}s (set force to override)"
    if lag_seconds > rpo_seconds:
        return f"replication lag {lag_seconds:.1f}s exceeds the RPO objective of {rpo_seconds}s (set force to override)"
    return None
