"""The drill's scenarios: what each does to a running world, and how its records become a `ScenarioResult`.

Every wait is bounded by the scenario's budget (plus a margin), so a drill that goes wrong still ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from components.budget import Budget, BudgetInputs
from drctl.drill.live import http_status
from drctl.drill.measure import (
    TrafficRecord,
    Transition,
    WriteRecord,
    first_acknowledged_write,
    first_served_every_user,
    first_served_request,
    first_status_change,
    first_transition,
    longest_write_gap,
    lost_writes,
    rpo_seconds,
    served_elsewhere,
    transitions_between,
)
from drctl.drill.verdict import DrillTimers, Figure, ScenarioKind, ScenarioResult, scenario_budget
from drctl.drill.world import DrillWorld

DESCRIPTIONS: dict[ScenarioKind, str] = {
    "primary-fails": "the active region fails: its application goes down, its AWS endpoints hang",
    "failback": "the old primary recovers; traffic stays with writes until the operator's failback moves both",
    "flapping": "the active region's AWS endpoints refuse for 1 s and answer for 2 s, in turns: each blip is "
                "shorter than the failure thresholds",
    "standby-fails": "a standby fails: application down, AWS endpoints refuse connections; nothing must move",
    "orchestrator-crash": "the active region fails and the orchestrator that bumps the epoch crashes before its "
                          "steps; the next invocation completes them once the crashed holder's lease expires",
}
TRANSITIONS_ALLOWED: dict[ScenarioKind, tuple[int, int]] = {
    "primary-fails": (1, 1), "failback": (1, 1), "flapping": (0, 1), "standby-fails": (0, 0),
    "orchestrator-crash": (1, 1),
}


@dataclass
class ScenarioRun:
    """Everything one scenario recorded (wall-clock times)."""

    name: str
    kind: ScenarioKind
    start: float
    fault_at: float
    """The fault, or the operator's action for failback: every figure is measured from here."""
    end: float
    failed: Optional[str]
    """The region the fault hit (None for failback)."""
    targets: Optional[set[str]]
    """Where writes and traffic should go after the fault (None: they should not move)."""
    checked_region: str
    """The region that takes writes at the end: acknowledged writes missing there are lost."""
    writes: list[WriteRecord]
    present: set[str]
    traffic: list[TrafficRecord]
    answers: list[tuple[float, str]]
    """Route 53's answer each time it changed."""
    user_answers: dict[int, list[tuple[float, str]]]
    """Each user's cached answer each time it changed."""
    health_changes: list[tuple[float, str, bool]]
    transitions: list[Transition]
    active: list[tuple[float, str]]
    states: list[tuple[float, str, str]]
    invocations: list[tuple[float, str, str, str]]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(poll)
    return condition()


def _active_now(world: DrillWorld) -> str:
    samples = world.sampler.samples
    return samples[-1][1] if samples else world.regions[0]


def _steady(world: DrillWorld, since: float) -> bool:
    """Every health check healthy, a write acknowledged and a request served since `since`."""
    active = _active_now(world)
    return (all(world.route53.healthy().values())
            and first_acknowledged_write(world.writer.records(), since, {active}) is not None
            and first_served_request(world.traffic(), since, world.regions) is not None)


def warm_up(world: DrillWorld, seconds: float) -> None:
    began = time.time()
    time.sleep(seconds)
    wait_until(lambda: _steady(world, began), timeout=10)


def collect(world: DrillWorld, name: str, kind: ScenarioKind, start: float, fault_at: float,
            failed: Optional[str], targets: Optional[set[str]]) -> ScenarioRun:
    """Take the records, then read the table that takes writes now (writes are read first, so every write
    counted was acknowledged before the table was read)."""
    writes = world.writer.records()
    checked = _active_now(world)
    present = world.keys_in(checked)
    end = time.time()
    details = ({"replicated": world.pumps.delivered(), "replicationErrors": world.pumps.errors()}
               if world.pumps is not None else {})
    return ScenarioRun(
        name=name, kind=kind, start=start, fault_at=fault_at, end=end, failed=failed, targets=targets,
        checked_region=checked, writes=writes, present=present, traffic=world.traffic(),
        answers=list(world.route53.answers), user_answers=world.user_answers(), health_changes=world.route53.changes(),
        transitions=list(world.sampler.transitions), active=[(t, a) for t, a, _, _ in world.sampler.samples],
        states=list(world.states), invocations=list(world.monitors.outcomes), details=details,
    )


def _moved(world: DrillWorld, since: float, regions: set[str]) -> bool:
    return (first_acknowledged_write(world.writer.records(), since, regions) is not None
            and first_served_every_user(world.traffic(), since, regions) is not None)


def primary_fails(world: DrillWorld, short: bool, limit: float, crash: bool = False) -> ScenarioRun:
    kind: ScenarioKind = "orchestrator-crash" if crash else "primary-fails"
    start = time.time()
    warm_up(world, 2.0 if short else 3.0)
    primary, others = world.regions[0], set(world.regions[1:])
    if crash:
        world.crash.arm()
    fault = time.time()
    world.fail_region(primary, "hung")
    wait_until(lambda: _moved(world, fault, others), timeout=limit)
    time.sleep(1.5 if short else 2.5)
    run = collect(world, kind, kind, start, fault, primary, others)
    if crash:
        _check_crash_completed(world, run)
    return run


def _check_crash_completed(world: DrillWorld, run: ScenarioRun) -> None:
    crashes = list(world.crash.crashes)
    if not crashes:
        run.problems.append("no orchestrator crashed: the crash was never injected")
        return
    at, region, epoch = crashes[0]
    run.details["crash"] = {"at": round(at - run.fault_at, 3), "region": region, "epoch": epoch}
    state = world.sampler.read()
    survivors = [r for r in world.regions if r != run.failed]
    stale = [r for r in survivors if world.parameter(r) != state.active_region]
    run.details["pendingAfter"] = list(state.pending)
    if stale:
        run.problems.append(f"steps left undone after the crash: the active-region parameter in {', '.join(stale)} "
                            f"does not name {state.active_region}")
    left = [s for s in state.pending if s not in (f"ssm:{run.failed}",)]
    if left:
        run.problems.append(f"steps still pending after the crash: {', '.join(left)}")


def failback(world: DrillWorld, short: bool, limit: float) -> ScenarioRun:
    primary = world.regions[0]
    start = time.time()
    world.recover_region(primary)
    recovered = time.time()
    wait_until(lambda: http_status(world.apps[primary].url + "/health", 1.0, 1.0) == 200, timeout=10)
    caught_up, run_notes = True, []
    if world.pumps is not None:  # the operator waits for replication to catch up before failing back
        caught_up = wait_until(lambda: world.pumps.caught_up(recovered), timeout=15)
        if not caught_up:
            run_notes.append("replication had not caught up 15 s after the recovery")
    time.sleep(3.0 if short else 4.0)  # meanwhile traffic must stay where writes are (3 checks would move it)
    action = time.time()
    event = {"action": "failback", "reason": "drill: operator failback"}
    result = world.operator(event)
    for _ in range(2):  # an operator reads the refusal and acts on it; the figures count from the first try
        if result is None or result.outcome != "refused":
            break
        if "replication lag" in result.reason and caught_up:
            # The gate keeps the worst lag of its window, which still holds the catch-up after the recovery. The
            # operator has seen every direction caught up, so does what the refusal says: force it.
            run_notes.append(f"the lag gate refused the failback ({result.reason}); replication had caught up, "
                             "so the operator forced it")
            result = world.operator({**event, "force": True})
        elif "health probe" in result.reason:
            run_notes.append(f"the failback was refused ({result.reason}); the operator tried again 1 s later")
            time.sleep(1.0)
            result = world.operator(event)
        else:
            break
    wait_until(lambda: _moved(world, action, {primary}), timeout=limit)
    time.sleep(1.5 if short else 2.5)
    run = collect(world, "failback", "failback", start, action, None, {primary})
    run.notes.extend(run_notes)
    early = [r for r in run.traffic if recovered <= r.at < action and r.region == primary]
    if early:
        run.problems.append(f"traffic went back to {primary} {early[0].at - recovered:.1f}s after it recovered, "
                            "before writes did (traffic must follow writes)")
    outcome = result.outcome if result is not None else "no result"
    run.details["operator"] = {"outcome": outcome, "reason": result.reason if result is not None else ""}
    if outcome != "transitioned":
        run.problems.append(f"the operator's failback was {outcome}: {run.details['operator']['reason']}")
    return run


def flapping(world: DrillWorld, short: bool) -> ScenarioRun:
    primary = world.regions[0]
    start = time.time()
    warm_up(world, 2.0 if short else 3.0)
    fault = time.time()
    for _ in range(3 if short else 5):  # each blip spans at most two probes; a probe passes between blips
        world.impair(primary, True)
        time.sleep(1.0)
        world.impair(primary, False)
        time.sleep(2.0)
    time.sleep(2.0 if short else 3.0)
    run = collect(world, "flapping", "flapping", start, fault, primary, None)
    flips = [c for c in run.health_changes if c[1] == primary and c[0] >= fault]
    run.details["healthCheckChanges"] = len(flips)
    run.details["requestsServedElsewhere"] = served_elsewhere(run.traffic, fault, run.end, primary)
    return run


def standby_fails(world: DrillWorld, short: bool, observe: float) -> ScenarioRun:
    primary, standby = world.regions[0], world.regions[1]
    start = time.time()
    warm_up(world, 2.0 if short else 3.0)
    fault = time.time()
    world.fail_region(standby, "refuse")
    time.sleep(observe)
    run = collect(world, "standby-fails", "standby-fails", start, fault, standby, None)
    elsewhere = served_elsewhere(run.traffic, fault, run.end, primary)
    if elsewhere:
        run.problems.append(f"{elsewhere} requests left {primary} although only the standby {standby} failed")
    run.details["longestWriteGapSeconds"] = round(longest_write_gap(run.writes, fault, run.end), 3)
    return run


def evaluate(run: ScenarioRun, budget: Budget, inputs: BudgetInputs, timers: DrillTimers,
             strong: bool) -> ScenarioResult:
    """The scenario's figures against its budget (plain function of the records)."""
    budgets = scenario_budget(run.kind, budget, inputs, timers, failed=run.failed)
    lost = lost_writes(run.writes, run.present)
    measured: dict[str, Optional[float]] = {
        "detectionSeconds": (first_status_change(run.health_changes, run.fault_at, run.failed)
                             if run.failed and budgets["detectionSeconds"] is not None else None),
        "monitorDetectionSeconds": (first_transition(run.transitions, run.fault_at, run.targets)
                                    if budgets["monitorDetectionSeconds"] is not None else None),
        "writeRtoSeconds": (first_acknowledged_write(run.writes, run.fault_at, run.targets)
                            if run.targets and budgets["writeRtoSeconds"] is not None else None),
        "trafficRtoSeconds": (first_served_every_user(run.traffic, run.fault_at, run.targets)
                              if run.targets and budgets["trafficRtoSeconds"] is not None else None),
        "rpoSeconds": rpo_seconds(lost, run.fault_at),
    }
    figures = tuple(Figure(name, measured[name], budgets[name]) for name in measured)
    transitions = transitions_between(run.transitions, run.start, run.end)
    details = dict(run.details)
    outcomes: dict[str, int] = {}
    for at, _, outcome, _ in run.invocations:
        if run.start <= at <= run.end:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    details["invocations"] = outcomes
    details["lostKeys"] = [w.key for w in lost[:20]]
    details["checkedRegion"] = run.checked_region
    return ScenarioResult(
        name=run.name, kind=run.kind, figures=figures, transitions=transitions,
        transitions_allowed=TRANSITIONS_ALLOWED[run.kind],
        acknowledged=sum(1 for w in run.writes if w.acknowledged and run.start <= w.acked_at <= run.end),
        lost=len(lost), strong=strong, problems=tuple(run.problems), notes=tuple(run.notes), details=details,
    )
