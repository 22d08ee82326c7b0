"""Nothing must move: a standby fails or is cut off, one observer loses its path, the primary flaps or blips across a
monitor handover, a first deploy sends every alarm the wrong way. The healthy primary keeps writes and traffic."""

from __future__ import annotations

import time

from drctl.drill.scenarios.common import Run, limit, settle_for, warm_up
from drctl.drill.world import DrillWorld


def asymmetric_probes(world: DrillWorld) -> list[Run]:
    """The first standby loses its path to the primary's application (only its probes fail)."""
    start = time.time()
    warm_up(world)
    primary, first = world.regions[0], world.regions[1]
    fault = world.fault(f"{first} can no longer reach {primary}'s application")
    world.network.cut(first, primary, "hung", kind="app")
    time.sleep(limit(world, "write_rto_seconds") + 2 * world.scale.schedule)
    return [Run("asymmetric-probes", start, fault, (0, 0))]


def standby_partitioned(world: DrillWorld) -> list[Run]:
    """The first standby is cut off from the other regions: the healthy primary must stay."""
    start = time.time()
    warm_up(world)
    fault = world.partition(world.regions[1])
    time.sleep(limit(world, "write_rto_seconds") + world.scale.schedule)
    world.heal()
    settle_for(world)
    return [Run("standby-partitioned", start, fault, (0, 0))]


def standby_fails(world: DrillWorld) -> list[Run]:
    start = time.time()
    warm_up(world)
    fault = world.fail_region(world.regions[1], "refuse")
    time.sleep(limit(world, "detection_seconds") + world.scale.schedule)
    return [Run("standby-fails", start, fault, (0, 0), world.regions[1], None, "detection")]


def flapping(world: DrillWorld) -> list[Run]:
    """The primary's AWS endpoints refuse for one probe interval, then answer for two, five times."""
    start = time.time()
    warm_up(world)
    primary = world.regions[0]
    fault = world.fault(f"{primary} flaps")
    for _ in range(5):
        world.network.fail(primary, "refuse")
        time.sleep(world.scale.probe_interval)
        world.network.recover(primary)
        time.sleep(2 * world.scale.probe_interval)
    settle_for(world)
    return [Run("flapping", start, fault, (0, 0))]


def duplicate_deliveries(world: DrillWorld) -> list[Run]:
    """Every scheduled monitor invocation is delivered three times (0.45 probe intervals apart), every region's
    schedule fires at once, and the primary blips for 1.5 probe intervals starting just before a handover. Counted
    no faster than time passes (0.8 intervals apart), at most two failed rounds fit in a blip shorter than 1.6
    intervals, whatever the invocations do; every round counted, the copies' first rounds make the threshold."""
    start = time.time()
    warm_up(world)
    primary = world.regions[0]
    s = world.scale
    handover = world.monitors_started + s.schedule
    while handover < time.time() + s.probe_interval:
        handover += s.schedule
    time.sleep(max(0.0, handover - time.time() - 0.1 * s.probe_interval))
    fault = world.fault(f"{primary} blips for 1.5 probe intervals across the monitors' handover")
    world.network.fail(primary, "refuse")
    time.sleep(1.5 * s.probe_interval)
    world.network.recover(primary)
    time.sleep(limit(world, "write_rto_seconds"))
    return [Run("duplicate-deliveries", start, fault, (0, 0))]


def first_deploy(world: DrillWorld) -> list[Run]:
    """A first deploy: the orchestrators start before any application answers (its name does not resolve yet), the
    standbys' applications come up before the primary's, every new alarm goes INSUFFICIENT_DATA -> ALARM, a stale
    ALARM hours old arrives from the retry queue, and later a health check is replaced (INSUFFICIENT_DATA -> ALARM
    again). Nothing must move."""
    s = world.scale
    start = fault = world.fault("first deploy: orchestrators running, no application answering yet")
    for region in world.regions:
        world.alarms.publish(region, "INSUFFICIENT_DATA", "ALARM")
    time.sleep(4 * s.probe_interval)
    world.fault("the standbys' applications answer")
    for region in world.regions[1:]:
        world.apps[region].start()
    time.sleep(5 * s.probe_interval)
    primary = world.regions[0]
    world.fault("the primary's application answers")
    world.apps[primary].start()
    time.sleep(4 * s.probe_interval)
    world.fault("a stale ALARM (6 hours old) delivered again by the retry queue")
    world.alarms.publish(primary, "OK", "ALARM", timestamp=time.time() - 6 * 3600)
    time.sleep(2 * s.probe_interval)
    world.fault(f"{primary}'s health check replaced: its alarm goes INSUFFICIENT_DATA -> ALARM")
    world.route53.replace_checks(primary)
    world.alarms.publish(primary, "INSUFFICIENT_DATA", "ALARM")
    time.sleep(limit(world, "write_rto_seconds"))
    return [Run("first-deploy", start, fault, (0, 0))]
