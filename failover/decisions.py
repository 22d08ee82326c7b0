"""Pure decision logic: what a monitor round, an alarm or an operator's request should do.

No I/O here, so every safety rule is tested directly (with property-based tests):

- *Observers*: an orchestrator in every region (and, for two regions, one in the control table's witness region)
  probes every region each round and keeps its own record (`Observation`). A round counts only if it comes at
  least 0.8 probe intervals after the last counted one: a monitor handover or a duplicate schedule delivery adds a
  round of evidence no faster than time passes. A success always resets the failure streak.
- *Armed*: an observer votes that a region failed only after it has seen that region healthy (a first deploy whose
  names do not resolve yet, or whose applications are still starting, fails nothing).
- *Quorum*: the active region is failed over only when a majority of all observers, each fresh (reported within
  three probe intervals), vote it failed. The judged region's own observer is one voice like any other: never a
  veto, and never enough alone. The target must be seen healthy by a majority too.
- *Alarm*: Route 53's alarm is one voice. It counts only for a change OK -> ALARM (a new or replaced health check
  goes INSUFFICIENT_DATA -> ALARM), only while fresh (Lambda's async queue can deliver it hours late), only for the
  active region, and only when the receiving orchestrator's own probe of that region fails too.
- *Dwell*: automatic transitions are at least `min_dwell_seconds` apart; failback is manual unless configured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from failover.settings import Settings

DecisionKind = Literal["transition", "noop", "refused"]
Phase = Literal["demoting", "active"]
ROUND_SPACING = 0.8
"""A round counts when it comes at least this many probe intervals after the last counted round."""
CONSECUTIVE_GAP = 2.5
"""Rounds further apart than this many probe intervals are not consecutive (the observer was not running)."""
FRESH_INTERVALS = 3.0
"""An observer whose latest round is older than this many probe intervals has no voice."""


@dataclass(frozen=True)
class ControlState:
    """The control item: the authority on which region takes writes.

    A transition is two fenced writes: the epoch bump names the new region with phase `demoting` (nobody may write:
    the old region's clients stop at their next confirmation, and their write permission runs out within the
    client lease), then, `settle_seconds` later, the activation sets phase `active` (the new region may write)."""

    active_region: str
    epoch: int = 0
    last_transition_at: float = 0.0
    pending: tuple[str, ...] = ()
    """Steps of the latest transition not yet done (completed by the next invocation)."""
    previous_region: str | None = None
    reason: str = ""
    phase: Phase = "active"
    nonce: str = ""
    """Names the transition: its activation is conditional on it, so no other transition's write can be activated."""
    settle_seconds: float = 0.0
    """How long after the epoch bump the new region may be activated (the clients' lease, or more)."""

    @property
    def writable_region(self) -> str | None:
        """The region whose applications may write now (None while a transition settles)."""
        return self.active_region if self.phase == "active" else None


@dataclass(frozen=True)
class Observation:
    """One observer's memory of its probe rounds, per observed region."""

    observer: str
    """The region the observing orchestrator runs in."""
    epoch: int = 0
    """The control epoch the counts were taken under; a transition starts them afresh."""
    at: float = 0.0
    """The last counted round."""
    seen_at: float = 0.0
    """The last round of any kind (what freshness is measured from)."""
    failures: Mapping[str, int] = field(default_factory=dict)
    successes: Mapping[str, int] = field(default_factory=dict)
    failing_since: Mapping[str, float] = field(default_factory=dict)
    """The first failed round of the current failure streak."""
    healthy_since: Mapping[str, float] = field(default_factory=dict)
    last_success: Mapping[str, float] = field(default_factory=dict)
    """The last time the region passed a probe (kept across epochs: it arms the observer)."""
    latest: Mapping[str, bool] = field(default_factory=dict)
    """The latest probe result per region."""


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    target: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Alarm:
    """A CloudWatch alarm state change, as the orchestrator received it."""

    region: str
    old_state: str | None
    new_state: str
    at: float | None
    """When the state changed (seconds since the epoch), or None when the event did not say."""


def observe(obs: Observation, probes: Mapping[str, bool], now: float, epoch: int, interval: float) -> Observation:
    """Fold one round of probe results into the observer's record (see the module docstring)."""
    if obs.epoch != epoch or now - obs.seen_at > CONSECUTIVE_GAP * interval:
        obs = Observation(observer=obs.observer, epoch=epoch, last_success=dict(obs.last_success))
    counted = obs.at == 0 or now - obs.at >= ROUND_SPACING * interval
    failures, successes = dict(obs.failures), dict(obs.successes)
    failing, healthy = dict(obs.failing_since), dict(obs.healthy_since)
    last_ok, latest = dict(obs.last_success), dict(obs.latest)
    for region, ok in probes.items():
        latest[region] = ok
        if ok:
            last_ok[region] = now
            failures[region] = 0
            failing.pop(region, None)
            if counted:
                if successes.get(region, 0) == 0:
                    healthy[region] = now
                successes[region] = successes.get(region, 0) + 1
        else:
            successes[region] = 0
            healthy.pop(region, None)
            if counted:
                if failures.get(region, 0) == 0:
                    failing[region] = now
                failures[region] = failures.get(region, 0) + 1
    return replace(
        obs,
        epoch=epoch,
        at=now if counted else obs.at,
        seen_at=now,
        failures=failures,
        successes=successes,
        failing_since=failing,
        healthy_since=healthy,
        last_success=last_ok,
        latest=latest,
    )


def quorum(settings: Settings) -> int:
    """A majority of every observer the stack runs (not only of those that answer)."""
    return len(settings.observer_regions) // 2 + 1


def is_fresh(obs: Observation, settings: Settings, now: float) -> bool:
    return now - obs.seen_at <= FRESH_INTERVALS * settings.probe_interval_seconds


def is_armed(obs: Observation, region: str) -> bool:
    """The observer saw `region` healthy before its current failure streak began."""
    last_ok, since = obs.last_success.get(region), obs.failing_since.get(region)
    return last_ok is not None and (since is None or last_ok < since)


def votes_failed(
    settings: Settings, observations: Sequence[Observation], region: str, epoch: int, now: float
) -> list[str]:
    """The fresh, armed observers that saw `region` fail the threshold of counted rounds at this epoch."""
    return [
        o.observer
        for o in observations
        if o.epoch == epoch
        and is_fresh(o, settings, now)
        and is_armed(o, region)
        and o.failures.get(region, 0) >= settings.failure_threshold
    ]


def votes_healthy(settings: Settings, observations: Sequence[Observation], region: str, now: float) -> list[str]:
    """The fresh observers whose latest probe of `region` passed."""
    return [o.observer for o in observations if is_fresh(o, settings, now) and o.latest.get(region) is True]


def healthy_target(settings: Settings, observations: Sequence[Observation], current: str, now: float) -> str | None:
    """The highest-priority region other than `current` that a majority of fresh observers see healthy."""
    need = quorum(settings)
    for region in settings.regions:
        if region != current and len(votes_healthy(settings, observations, region, now)) >= need:
            return region
    return None


def dwell_remaining(settings: Settings, state: ControlState, now: float) -> float:
    if state.epoch == 0:
        return 0.0
    return max(0.0, settings.min_dwell_seconds - (now - state.last_transition_at))


def decide_monitor(
    settings: Settings, state: ControlState, observations: Sequence[Observation], now: float
) -> Decision:
    """After this observer's round is saved: fail over when a quorum of fresh observers saw the active region
    fail; fail back automatically when configured and a quorum has seen the home region healthy long enough."""
    active = state.active_region
    if not settings.automatic:
        return Decision("noop", reason="automatic failover is off (DR_AUTOMATIC_FAILOVER=false)")
    if state.phase != "active":
        return Decision("noop", reason=f"the transition to {active} is settling")
    need = quorum(settings)
    failed = votes_failed(settings, observations, active, state.epoch, now)
    if len(failed) >= need:
        why = (
            f"{active} failed {settings.failure_threshold} consecutive probes as seen by "
            f"{', '.join(sorted(failed))} ({len(failed)} of {len(settings.observer_regions)} observers)"
        )
        return _move_off_active(settings, state, observations, now, why)
    if failed:
        return Decision(
            "noop", reason=f"{active} failed as seen by {', '.join(sorted(failed))} only: {need} observers must agree"
        )
    home = settings.home
    if settings.failback == "automatic" and active != home:
        stable = [
            o
            for o in observations
            if is_fresh(o, settings, now)
            and o.latest.get(home) is True
            and o.successes.get(home, 0) >= settings.recovery_threshold
            and now - o.healthy_since.get(home, now) >= settings.min_dwell_seconds
        ]
        if len(stable) >= need and dwell_remaining(settings, state, now) == 0:
            return Decision(
                "transition",
                home,
                f"automatic failback: {home} healthy for at least "
                f"{settings.min_dwell_seconds}s as seen by {len(stable)} observers",
            )
    return Decision("noop", reason=f"{active} stays active")


def alarm_gate(settings: Settings, state: ControlState, alarm: Alarm, max_age: float, now: float) -> Decision | None:
    """The checks an alarm must pass before anything is probed: a noop saying why, or None to go on."""
    active = state.active_region
    if alarm.new_state != "ALARM":
        return Decision(
            "noop",
            reason=f"alarm for {alarm.region} is {alarm.new_state}; failback is decided by the monitor or an operator",
        )
    if alarm.old_state == "INSUFFICIENT_DATA":
        return Decision(
            "noop",
            reason=f"alarm for {alarm.region} went INSUFFICIENT_DATA -> ALARM: a new or "
            "replaced health check, not an outage",
        )
    if alarm.at is None or now - alarm.at > max_age:
        age = "of unknown age" if alarm.at is None else f"{now - alarm.at:.0f}s old"
        return Decision("noop", reason=f"alarm for {alarm.region} is {age} (at most {max_age:.0f}s): dropped")
    if alarm.region != active:
        return Decision("noop", reason=f"alarm for {alarm.region}, but {active} is the active region")
    if not settings.automatic:
        return Decision("noop", reason="automatic failover is off (DR_AUTOMATIC_FAILOVER=false)")
    if state.phase != "active":
        return Decision("noop", reason=f"the transition to {active} is settling")
    return None


def decide_alarm(
    settings: Settings,
    state: ControlState,
    alarm: Alarm,
    observations: Sequence[Observation],
    own: str,
    max_age: float,
    now: float,
) -> Decision:
    """A Route 53 health alarm changed state. `observations` include this orchestrator's own record (`own`),
    updated with the round it has just probed."""
    gate = alarm_gate(settings, state, alarm, max_age, now)
    if gate is not None:
        return gate
    active = state.active_region
    mine = next((o for o in observations if o.observer == own), None)
    if mine is None or mine.latest.get(active) is not False:
        return Decision("noop", reason=f"alarm for {active}, but its probe from {own} passed")
    if not any(o.last_success.get(active) is not None for o in observations):
        return Decision("noop", reason=f"alarm for {active}, but no observer has seen it healthy yet")
    others = [o for o in votes_failed(settings, observations, active, state.epoch, now) if o != own]
    votes = 2 + len(others)  # Route 53's checkers, this orchestrator's own probe, and fresh observers
    need = quorum(settings)
    if votes < need:
        return Decision("noop", reason=f"alarm for {active}: {votes} voices, {need} needed")
    return _move_off_active(
        settings,
        state,
        observations,
        now,
        f"health alarm for {active}, confirmed by {own}'s probe"
        + (f" and by {', '.join(sorted(others))}" if others else ""),
    )


def _move_off_active(
    settings: Settings, state: ControlState, observations: Sequence[Observation], now: float, why: str
) -> Decision:
    """The active region is judged down: respect the dwell, then pick the first standby a quorum sees healthy."""
    active = state.active_region
    wait = dwell_remaining(settings, state, now)
    if wait > 0:
        return Decision("noop", reason=f"{why}, but the last transition was too recent ({wait:.0f}s of dwell left)")
    target = healthy_target(settings, observations, active, now)
    if target is None:
        return Decision(
            "refused",
            reason=f"{why}, and no other region is seen healthy by {quorum(settings)} observers; staying on {active}",
        )
    return Decision("transition", target, why)


def decide_manual(settings: Settings, state: ControlState, target: str, target_healthy: bool, force: bool) -> Decision:
    """An operator's failover or failback: no dwell, but still never onto an unhealthy target unless forced."""
    if target not in settings.regions:
        return Decision("refused", reason=f"{target!r} is not one of {', '.join(settings.regions)}")
    if target == state.active_region:
        return Decision(
            "noop",
            target,
            f"{target} is already active" if state.phase == "active" else f"{target} is already becoming active",
        )
    if not target_healthy and not force:
        return Decision("refused", target, f"{target} failed its health probe (set force to override)")
    return Decision("transition", target, "")


@dataclass(frozen=True)
class LagReading:
    """What is known of replication from the active region towards one target.

    `lag_seconds`: the worst replication latency reported recently (None: no datapoint). `stale_seconds`: how long
    replication has been silent while the source took writes (the newest datapoint's age then counts as lag).
    `writes_seen`: whether the source took any write in the window (None: unknown, e.g. the source is down)."""

    lag_seconds: float | None
    writes_seen: bool | None
    source: str = "cloudwatch"
    stale_seconds: float = 0.0

    @property
    def effective_seconds(self) -> float | None:
        if self.lag_seconds is None:
            return self.stale_seconds or None
        return max(self.lag_seconds, self.stale_seconds)


def lag_gate(rpo_seconds: float | None, reading: LagReading | None, force: bool) -> str | None:
    """None when promotion may proceed; else why not.

    - strong consistency (no RPO gate) or forced: proceed;
    - a measured lag (the worst recent latency, or how long replication has been silent while writes went on):
      proceed when it is within the RPO objective;
    - no lag datapoint and no write in the window: nothing can be lost, proceed;
    - otherwise the lag is unknown while writes happened: refuse."""
    if rpo_seconds is None or force:
        return None
    effective = reading.effective_seconds if reading is not None else None
    if effective is not None:
        if effective > rpo_seconds:
            what = (
                "replication has been silent"
                if reading and reading.stale_seconds >= (reading.lag_seconds or 0)
                else "replication lag"
            )
            return f"{what} {effective:.1f}s exceeds the RPO objective of {rpo_seconds:g}s (set force to override)"
        return None
    if reading is not None and reading.writes_seen is False:
        return None
    return (
        f"replication lag is unknown while the table took writes, and the RPO objective is {rpo_seconds:g}s "
        "(set force to override)"
    )


def settle_seconds(client_lease: float, rpo_seconds: float | None, reading: LagReading | None) -> float:
    """How long after the epoch bump the new region may take writes: the clients' lease (the old region's writers
    have stopped by then), and with eventual consistency at least the recent replication lag (what the old region
    wrote last has arrived), which the lag gate bounds by the RPO objective."""
    wait = client_lease
    if rpo_seconds is not None and reading is not None and reading.effective_seconds is not None:
        wait = max(wait, min(reading.effective_seconds, float(rpo_seconds)))
    return wait
