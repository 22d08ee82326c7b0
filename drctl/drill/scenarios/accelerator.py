"""dr:traffic.mode accelerator: users reach the regions through Global Accelerator (`drctl.drill.accelerator`), so
traffic follows the one healthy endpoint, the active region's, with no DNS TTL; judged against the accelerator
budget (`components.budget.AcceleratorTraffic`)."""

from __future__ import annotations

import time

from drctl.drill.scenarios.common import Run, limit, moved, settle_for, wait_until, warm_up
from drctl.drill.world import DrillWorld


def accelerator_outage(world: DrillWorld) -> list[Run]:
    """The primary hangs: writes move once, then every user is served by the region that took them."""
    start = time.time()
    warm_up(world)
    primary = world.regions[0]
    s = world.scale
    steady = s.accelerator_interval * (s.reference.accelerator_threshold + 1) + s.accelerator_propagation
    run_notes = []
    if not wait_until(lambda: all(u.records and u.records[-1].region == primary for u in world.users), 3 * steady):
        run_notes.append(f"not every user was on {primary} through the accelerator before the fault")
    fault = world.fail_region(primary, "hung")
    wait_until(lambda: world.authority().active_region != primary, timeout=limit(world, "write_rto_seconds"))
    target = world.authority().active_region
    run = Run("accelerator", start, fault, (1, 1), primary, {target}, "outage", notes=run_notes)
    wait_until(lambda: moved(world, fault, {target}), timeout=limit(world, "traffic_rto_seconds"))
    settle_for(world, 3)
    return [run]
