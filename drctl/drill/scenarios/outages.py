"""Outages: the primary fails, hangs, refuses, is partitioned away or loses its application, in several ways at
once where production would; writes and traffic must move exactly once, within the budget (and back, when the
operator fails back)."""

from __future__ import annotations

import threading
import time

from drctl.drill.actors import http_status
from drctl.drill.aws import HoldRule
from drctl.drill.network import INTERNET
from drctl.drill.scenarios.common import (
    Run,
    check_projections_converge,
    done,
    limit,
    moved,
    settle_for,
    wait_until,
    warm_up,
)
from drctl.drill.timescale import TimeScale
from drctl.drill.world import DrillWorld, WorldOptions


def _outage(world: DrillWorld, name: str, mode: str = "hung", settle: float = 3.0) -> Run:
    start = time.time()
    warm_up(world)
    primary, others = world.regions[0], set(world.regions[1:])
    fault = world.fail_region(primary, mode)
    wait_until(lambda: moved(world, fault, others), timeout=limit(world, "write_rto_seconds", "traffic_rto_seconds"))
    settle_for(world, settle)
    return Run(name, start, fault, (1, 1), primary, others, "outage")


def primary_fails(world: DrillWorld) -> list[Run]:
    """The primary fails (and fails over); it recovers, and the operator fails back."""
    outage = done(world, _outage(world, "primary-fails"))
    return [outage, _failback(world)]


def _failback(world: DrillWorld) -> Run:
    primary = world.regions[0]
    start = recovered = world.recover_region(primary)
    run = Run("failback", start, start, (1, 1), None, {primary}, "manual")
    wait_until(lambda: http_status(world.app_urls[(INTERNET, primary)] + "/health", 1.0, 1.0) == 200, timeout=10)
    check_projections_converge(
        world, run, within=world.scale.schedule + 4 * world.scale.probe_interval, regions=[primary]
    )
    # the operator waits for replication to catch up before failing back
    pumps = world.pumps
    if pumps is not None and not wait_until(
        lambda: pumps.caught_up(recovered), timeout=30 * world.scale.probe_interval
    ):
        run.notes.append("replication had not caught up after the recovery")
    time.sleep(4 * world.scale.health_interval)  # traffic must stay with writes meanwhile
    early = [r for u in world.users for r in list(u.records) if recovered <= r.at and r.region == primary]
    if early:
        run.problems.append(
            f"traffic went back to {primary} {early[0].at - recovered:.2f}s after it recovered, "
            "before writes did (traffic must follow writes)"
        )
    # The worst moment: right after the old region's application confirmed its write permission (its lease then
    # runs longest past the epoch bump).
    old = world.authority().active_region
    if not wait_until(lambda: _just_confirmed(world, old), timeout=10 * world.scale.client_cache, poll=0.002):
        run.notes.append(f"{old}'s application was not seen confirming its write permission before the failback")
    run.fault_at = world.fault("operator: failback (just after the old region confirmed its write permission)")
    result = world.invoke(world.regions[-1], {"action": "failback", "reason": "drill: operator failback"})
    if result is not None and result.get("outcome") == "refused" and "replication lag" in result.get("reason", ""):
        run.notes.append(
            f"the lag gate refused the failback ({result['reason']}); replication had caught up, so "
            "the operator forced it"
        )
        result = world.invoke(world.regions[-1], {"action": "failback", "force": True})
    run.details["operator"] = {"outcome": (result or {}).get("outcome"), "reason": (result or {}).get("reason")}
    if (result or {}).get("outcome") != "transitioned":
        run.problems.append(
            f"the operator's failback was {(result or {}).get('outcome')}: {(result or {}).get('reason')}"
        )
    wait_until(lambda: moved(world, run.fault_at, {primary}), timeout=limit(world, "traffic_follows_writes_seconds"))
    settle_for(world)
    return run


def _just_confirmed(world: DrillWorld, region: str) -> bool:
    """`region`'s application confirmed its write permission within the last tenth of the client lease."""
    at = getattr(world.apps[region].resolver, "confirmed_at", None)
    return at is not None and time.time() - at < 0.1 * world.scale.client_cache


def partition(world: DrillWorld) -> list[Run]:
    """The primary is cut off from the other regions (its own AWS and its users still reach it), then healed."""
    start = time.time()
    warm_up(world)
    primary, others = world.regions[0], set(world.regions[1:])
    fault = world.partition(primary)
    run = Run("partition", start, fault, (1, 1), None, others, "outage")
    wait_until(lambda: moved(world, fault, others), timeout=limit(world, "write_rto_seconds", "traffic_rto_seconds"))
    settle_for(world, 4)
    world.heal()
    check_projections_converge(world, run, within=world.scale.schedule + 3 * world.scale.probe_interval)
    settle_for(world, 4)
    return [run]


def partition_refused(world: DrillWorld) -> list[Run]:
    """The primary is cut off from the other regions and every connection between them is refused at once (a route
    withdrawn): the primary's health endpoint answers fast, so only its failing closed takes its traffic away."""
    start = time.time()
    warm_up(world)
    primary, others = world.regions[0], set(world.regions[1:])
    fault = world.partition(primary, "refuse")
    run = Run("partition-refused", start, fault, (1, 1), None, others, "outage")
    wait_until(lambda: moved(world, fault, others), timeout=limit(world, "write_rto_seconds", "traffic_rto_seconds"))
    settle_for(world, 2)
    return [run]


def alarm_fanout(world: DrillWorld) -> list[Run]:
    """The primary's application hangs (its AWS still answers, so the health alarm in us-east-1 is delivered); the
    alarm reaches every orchestrator at once while an operator fails over to the last standby from there: one of
    them must win, the others must see they lost. The primary's writer keeps writing whenever the runtime lets it."""
    start = time.time()
    warm_up(world)
    primary, others = world.regions[0], set(world.regions[1:])
    fault = world.fail_application(primary)
    time.sleep(world.scale.probe_timeout * 1.5)
    # The racers' epoch bumps are slowed in the network (each still answers within its call deadline), so every
    # racer reads the authority before any bump lands: only the condition on the epoch read can pick one winner.
    bumps = world.hold(
        HoldRule(
            "dynamodb",
            "UpdateItem",
            seconds=0.75 * world.scale.call_timeout,
            times=3,
            contains="SET activeRegion = :target",
        ),
        "network: the next three epoch bumps are delayed (within their deadline)",
    )
    world.fault("alarm OK -> ALARM fanned out to every orchestrator; operator failover to the last standby")
    operator = threading.Thread(
        target=world.invoke,
        args=(
            world.regions[-1],
            {"action": "failover", "target": world.regions[-1], "reason": "drill: operator during the alarm"},
        ),
    )
    delivery = world.alarms.publish(primary, "OK", "ALARM")
    operator.start()
    operator.join(10)
    wait_until(lambda: moved(world, fault, others), timeout=limit(world, "write_rto_seconds", "traffic_rto_seconds"))
    settle_for(world)
    run = Run("alarm-fanout", start, fault, (1, 1), primary, others, "outage")
    run.details["delayedBumps"] = [
        {"heldSeconds": round(h[1] - h[0], 3), "caller": h[2], "target": h[3]} for h in bumps.held
    ]
    run.details["alarmReached"] = list(delivery.regions)
    if len(delivery.regions) < len(world.regions):
        run.problems.append(
            f"the alarm reached {len(delivery.regions)} of {len(world.regions)} orchestrators: it was never fanned out"
        )
    if len(bumps.held) < 2:
        run.problems.append(f"{len(bumps.held)} epoch bump(s) raced: the race was never forced")
    return [run]


def late_write(world: DrillWorld) -> list[Run]:
    """An operator fails over to the first standby; that transition's write of the last standby's projection is
    held in the network; meanwhile a second operator fails over to the last standby; the held write lands after
    it. Measured from the second failover."""
    start = time.time()
    warm_up(world)
    first, last = world.regions[1], world.regions[-1]
    hold = world.hold(
        HoldRule("ssm", "PutParameter", target=last, seconds=15 * world.scale.call_timeout),
        f"network: the next projection write to {last} is held",
    )
    world.fault(f"operator 1: failover to {first}")
    operator = threading.Thread(
        target=world.invoke,
        args=(first, {"action": "failover", "target": first, "reason": "drill: first failover"}),
        daemon=True,
    )
    operator.start()
    wait_until(lambda: bool(hold.holding), timeout=10 * world.scale.call_timeout)
    fault = world.fault(f"operator 2: failover to {last} while a write of the first is held")
    world.invoke(last, {"action": "failover", "target": last, "reason": "drill: second failover"})
    wait_until(lambda: bool(hold.held), timeout=20 * world.scale.call_timeout)
    operator.join(10)
    wait_until(lambda: moved(world, fault, {last}), timeout=limit(world, "traffic_follows_writes_seconds"))
    settle_for(world, 2)
    run = Run("late-write", start, fault, (2, 2), None, {last}, "manual")
    run.details["held"] = [{"heldSeconds": round(h[1] - h[0], 3), "caller": h[2], "target": h[3]} for h in hold.held]
    if not hold.holding:
        run.problems.append("no projection write was held: the fault was never injected")
    check_projections_converge(world, run, within=world.scale.schedule + 3 * world.scale.probe_interval)
    return [run]


def trickle(world: DrillWorld) -> list[Run]:
    """The last standby's application answers one byte at a time (nothing must move), then the primary hangs
    (writes must move to the first standby, whose probes pass)."""
    start = time.time()
    warm_up(world)
    primary, first, last = world.regions[0], world.regions[1], world.regions[-1]
    world.fault(f"{last}'s application trickles (one byte at a time)")
    world.network.trickle(last)
    time.sleep(6 * world.scale.probe_interval)
    fault = world.fail_region(primary)
    wait_until(lambda: moved(world, fault, {first}), timeout=limit(world, "write_rto_seconds", "traffic_rto_seconds"))
    settle_for(world)
    return [Run("trickle", start, fault, (1, 1), primary, {first}, "outage")]


def primary_refuses(world: DrillWorld) -> list[Run]:
    return [_outage(world, "primary-refuses", "refuse")]


def clock_skew(world: DrillWorld) -> list[Run]:
    """Each region's orchestrator clock is off by a few seconds (see the options); then the primary hangs."""
    return [_outage(world, "clock-skew")]


def skewed(scale: TimeScale) -> WorldOptions:
    """Each region's orchestrator clock off by 0, +3 or -3 production seconds (the clock-skew scenario)."""
    offsets = (0.0, 3.0, -3.0)
    return WorldOptions(skew={r: offsets[i % 3] / scale.factor for i, r in enumerate(scale.reference.regions)})
