"""The orchestrator itself fails: the invocation that makes the fenced write crashes right after it, or freezes past
its lease while an operator moves writes on; the next invocations must finish or supersede its steps."""

from __future__ import annotations

import time

from drctl.drill.invocations import Injection
from drctl.drill.scenarios.common import (
    Run,
    check_projections_converge,
    limit,
    moved,
    settle_for,
    wait_until,
    warm_up,
)
from drctl.drill.world import DrillWorld


def crash_after_bump(world: DrillWorld) -> list[Run]:
    start = time.time()
    warm_up(world)
    injection = world.injection = Injection("crash", armed=True)
    primary, others = world.regions[0], set(world.regions[1:])
    fault = world.fail_region(primary)
    wait_until(
        lambda: moved(world, fault, others),
        timeout=limit(world, "write_rto_seconds") + world.scale.lease + world.scale.schedule,
    )
    settle_for(world)
    run = Run("crash-after-bump", start, fault, (1, 1), primary, others, "crash")
    if not injection.hits:
        run.problems.append("no orchestrator crashed: the crash was never injected")
    run.details["crash"] = [{"region": r, "epoch": e} for _, r, e in injection.hits]
    return [run]


def pause_past_lease(world: DrillWorld) -> list[Run]:
    """The primary hangs; the orchestrator that makes the transition freezes right after its fenced write for twice
    the step lease; meanwhile the operator moves writes on to the last standby; then the frozen one resumes."""
    start = time.time()
    warm_up(world)
    s = world.scale
    injection = world.injection = Injection("pause", pause=2 * s.lease + s.schedule, armed=True)
    primary, last = world.regions[0], world.regions[-1]
    fault = world.fail_region(primary)
    wait_until(lambda: bool(injection.hits), timeout=limit(world, "write_rto_seconds"))
    time.sleep(s.lease + s.probe_interval)
    world.fault(f"operator: failover to {last} while the transition's orchestrator is frozen")
    world.invoke(last, {"action": "failover", "target": last, "reason": "drill: operator while frozen"})
    if injection.hits:
        time.sleep(max(0.0, injection.hits[0][0] + injection.pause - time.time()))
    world.fault("the frozen orchestrator resumes")
    settle_for(world, 4)
    run = Run("pause-past-lease", start, fault, (2, 2), primary, set(world.regions[1:]), "crash")
    if not injection.hits:
        run.problems.append("no orchestrator paused: the pause was never injected")
    check_projections_converge(
        world, run, within=s.schedule + 3 * s.probe_interval, regions=[r for r in world.regions if r != primary]
    )
    return [run]
