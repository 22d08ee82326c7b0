"""dr:traffic.mode accelerator: users reach the regions through Global Accelerator (`drctl.drill.accelerator`): the
primary's group has the dial 100, the others 0, and the entries check `/health/accelerator`, which passes in the active
region and, while the primary is active, in its successor. When the primary hangs, traffic moves to the successor on
health alone, possibly before writes do (the successor refuses writes until its lease confirms it active); judged
against the accelerator budget (`components.budget.AcceleratorTraffic`)."""

from __future__ import annotations

import time

from drctl.drill.history import first_acknowledged_write, first_served_every_user
from drctl.drill.scenarios.common import Run, limit, moved, settle_for, wait_until, warm_up
from drctl.drill.world import DrillWorld


def _edge_healthy(world: DrillWorld) -> set[str]:
    """The regions whose entry the accelerator's edge sees healthy now."""
    return {r for r, healthy in world.accelerator.edge(time.time()).items() if healthy}


def accelerator_outage(world: DrillWorld) -> list[Run]:
    """The primary hangs: every user moves to the successor (its entry healthy beforehand), writes move there once."""
    start = time.time()
    warm_up(world)
    primary, successor = world.regions[0], world.regions[1]
    s = world.scale
    steady = s.accelerator_interval * (s.reference.accelerator_threshold + 1) + s.accelerator_propagation
    problems, notes = [], []
    if not wait_until(lambda: _edge_healthy(world) == {primary, successor}, 3 * steady):
        problems.append(
            f"before the fault the edge saw {sorted(_edge_healthy(world))} healthy, not the primary {primary} and "
            f"its successor {successor}"
        )
    if not wait_until(lambda: all(u.records and u.records[-1].region == primary for u in world.users), 3 * steady):
        notes.append(f"not every user was on {primary} (dial 100) through the accelerator before the fault")
    fault = world.fail_region(primary, "hung")
    wait_until(lambda: world.authority().active_region != primary, timeout=limit(world, "write_rto_seconds"))
    target = world.authority().active_region
    if target != successor:
        problems.append(f"writes moved to {target}, not to the successor {successor} that traffic moves to")
    run = Run("accelerator", start, fault, (1, 1), primary, {target}, "outage", problems=problems, notes=notes)
    wait_until(lambda: moved(world, fault, {target}), timeout=limit(world, "traffic_rto_seconds"))
    settle_for(world, 3)
    reached = first_served_every_user([r for u in world.users for r in list(u.records)], fault, {successor})
    wrote = first_acknowledged_write(world.writes, fault, {successor})
    if reached is not None and wrote is not None:
        run.notes.append(
            f"every user reached {successor} {reached * s.factor:.1f} s after the fault, its first write was "
            f"acknowledged at {wrote * s.factor:.1f} s (production seconds): traffic "
            f"{'before' if reached < wrote else 'after'} writes"
        )
    if _edge_healthy(world) != {target}:
        run.problems.append(f"after the failover the edge saw {sorted(_edge_healthy(world))} healthy, not {target}")
    return [run]
