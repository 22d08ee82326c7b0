"""The drill's scenarios: what each does to a fresh world, what it must (and must not) lead to.

Every wait is bounded (by the production budget scaled, plus a margin), so a drill that goes wrong still ends.
Regions are named by role: the primary (`world.regions[0]`), the first standby and the last standby.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from drctl.drill.actors import Injection, http_status
from drctl.drill.aws import HoldRule
from drctl.drill.history import first_acknowledged_write, first_served_every_user
from drctl.drill.network import INTERNET
from drctl.drill.timescale import TimeScale
from drctl.drill.world import DrillWorld, WorldOptions


@dataclass
class Run:
    """What one part of a scenario did (a scenario may have parts: an outage, then the failback); the runner takes
    the history of [start, end] and judges it."""

    name: str
    start: float
    fault_at: float
    """The fault, or the operator's action: every figure is measured from here."""
    transitions: tuple[int, int]
    """(fewest, most) transitions allowed in this part; more are spurious."""
    failed: Optional[str] = None
    """The region the fault hit (its Route 53 detection is measured)."""
    targets: Optional[set[str]] = None
    """Where writes and traffic should move (None: they must not move)."""
    budget_kind: str = "none"
    """Which figures are budgeted: outage, manual, crash, none."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    end: float = 0.0
    present: Optional[set[str]] = None
    """The keys in the data table that takes writes at the end of the part (read straight from moto)."""
    checked_region: str = ""


def done(world: DrillWorld, run: Run) -> Run:
    """End a part: note when, and read the table that takes writes now (after the writes were recorded, so every
    write counted was acknowledged before the table was read)."""
    run.end = time.time()
    run.checked_region = world.authority().active_region
    run.present = world.keys_in(run.checked_region)
    return run


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    faults: tuple[str, ...]
    run: Callable[[DrillWorld], list[Run]]
    options: Callable[[TimeScale], WorldOptions] = lambda scale: WorldOptions()
    default: bool = False
    """Part of `make drill`'s default set."""


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(poll)
    return condition()


def _limit(world: DrillWorld, *figures: str) -> float:
    """How long to wait for an effect: the slowest budgeted figure (scaled), its tolerance, and a margin."""
    budget = world.scale.reference.budget
    worst = max(getattr(budget, f) for f in figures)
    return worst / world.scale.factor * 1.2 + 3 * world.scale.probe_interval


def warm_up(world: DrillWorld, seconds: Optional[float] = None) -> None:
    """Until the deployment is steady: every health check healthy, the active region's application acknowledging
    writes, every user served, and every monitor past its first rounds (so it has seen the active region healthy)."""
    s = world.scale
    began = time.time()
    time.sleep(seconds if seconds is not None else 2.5 * s.probe_interval)
    primary = world.regions[0]

    def steady() -> bool:
        writes = [w for w in world.writes if w.acked_at and w.acked_at >= began]
        served = all(any(r.served and r.at >= began for r in u.records) for u in world.users)
        return all(world.route53.healthy().values()) and any(w.region == primary for w in writes) and served
    wait_until(steady, timeout=20 * s.probe_interval)


def _moved(world: DrillWorld, since: float, regions: set[str]) -> bool:
    return (first_acknowledged_write(world.writes, since, regions) is not None
            and first_served_every_user([r for u in world.users for r in list(u.records)], since, regions) is not None)


def _settle(world: DrillWorld, rounds: float = 3.0) -> None:
    time.sleep(rounds * world.scale.probe_interval)


def _check_projections_converge(world: DrillWorld, run: Run, within: float, regions: Optional[list[str]] = None) -> None:
    """Every region's projection names the authority within `within` seconds (the repair's job)."""
    regions = regions or world.regions

    def converged() -> bool:
        active = world.authority().active_region
        return all(_projected_region(world.projection(r)) == active for r in regions)
    if not wait_until(converged, within):
        active = world.authority().active_region
        stale = {r: world.projection(r) for r in regions if _projected_region(world.projection(r)) != active}
        run.problems.append(f"the projection did not converge on {active} within {within * world.scale.factor:.0f}s "
                            f"(production): {stale}")


def _projected_region(value: Optional[str]) -> Optional[str]:
    """The region a projection value names (plain, or a JSON document with a region)."""
    if value is None:
        return None
    if value.startswith("{"):
        import json

        try:
            return json.loads(value).get("region")
        except ValueError:
            return None
    return value


# -- outages -------------------------------------------------------------------------------------------------------
def _outage(world: DrillWorld, name: str, mode: str = "hung", settle: float = 3.0) -> Run:
    start = time.time()
    warm_up(world)
    primary, others = world.regions[0], set(world.regions[1:])
    fault = world.fail_region(primary, mode)
    wait_until(lambda: _moved(world, fault, others), timeout=_limit(world, "write_rto_seconds", "traffic_rto_seconds"))
    _settle(world, settle)
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
    _check_projections_converge(world, run, within=world.scale.schedule + 4 * world.scale.probe_interval,
                                regions=[primary])
    if world.pumps is not None:  # the operator waits for replication to catch up before failing back
        if not wait_until(lambda: world.pumps.caught_up(recovered), timeout=30 * world.scale.probe_interval):
            run.notes.append("replication had not caught up after the recovery")
    time.sleep(4 * world.scale.health_interval)  # traffic must stay with writes meanwhile
    early = [r for u in world.users for r in list(u.records) if recovered <= r.at and r.region == primary]
    if early:
        run.problems.append(f"traffic went back to {primary} {early[0].at - recovered:.2f}s after it recovered, "
                            "before writes did (traffic must follow writes)")
    # The worst moment: right after the old region's application confirmed its write permission (its lease then
    # runs longest past the epoch bump).
    old = world.authority().active_region
    if not wait_until(lambda: _just_confirmed(world, old), timeout=10 * world.scale.client_cache, poll=0.002):
        run.notes.append(f"{old}'s application was not seen confirming its write permission before the failback")
    run.fault_at = world.fault("operator: failback (just after the old region confirmed its write permission)")
    result = world.invoke(world.regions[-1], {"action": "failback", "reason": "drill: operator failback"})
    if result is not None and result.get("outcome") == "refused" and "replication lag" in result.get("reason", ""):
        run.notes.append(f"the lag gate refused the failback ({result['reason']}); replication had caught up, so "
                         "the operator forced it")
        result = world.invoke(world.regions[-1], {"action": "failback", "force": True})
    run.details["operator"] = {"outcome": (result or {}).get("outcome"), "reason": (result or {}).get("reason")}
    if (result or {}).get("outcome") != "transitioned":
        run.problems.append(f"the operator's failback was {(result or {}).get('outcome')}: "
                            f"{(result or {}).get('reason')}")
    wait_until(lambda: _moved(world, run.fault_at, {primary}), timeout=_limit(world, "traffic_follows_writes_seconds"))
    _settle(world)
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
    wait_until(lambda: _moved(world, fault, others), timeout=_limit(world, "write_rto_seconds", "traffic_rto_seconds"))
    _settle(world, 4)
    world.heal()
    _check_projections_converge(world, run, within=world.scale.schedule + 3 * world.scale.probe_interval)
    _settle(world, 4)
    return [run]


def partition_refused(world: DrillWorld) -> list[Run]:
    """The primary is cut off from the other regions and every connection between them is refused at once (a route
    withdrawn): the primary's health endpoint answers fast, so only its failing closed takes its traffic away."""
    start = time.time()
    warm_up(world)
    primary, others = world.regions[0], set(world.regions[1:])
    fault = world.partition(primary, "refuse")
    run = Run("partition-refused", start, fault, (1, 1), None, others, "outage")
    wait_until(lambda: _moved(world, fault, others), timeout=_limit(world, "write_rto_seconds", "traffic_rto_seconds"))
    _settle(world, 2)
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
    bumps = world.hold(HoldRule("dynamodb", "UpdateItem", seconds=0.75 * world.scale.call_timeout, times=3,
                                contains="SET activeRegion = :target"),
                       "network: the next three epoch bumps are delayed (within their deadline)")
    world.fault("alarm OK -> ALARM fanned out to every orchestrator; operator failover to the last standby")
    operator = threading.Thread(target=world.invoke, args=(world.regions[-1], {
        "action": "failover", "target": world.regions[-1], "reason": "drill: operator during the alarm"}))
    delivery = world.alarms.publish(primary, "OK", "ALARM")
    operator.start()
    operator.join(10)
    wait_until(lambda: _moved(world, fault, others), timeout=_limit(world, "write_rto_seconds", "traffic_rto_seconds"))
    _settle(world)
    run = Run("alarm-fanout", start, fault, (1, 1), primary, others, "outage")
    run.details["delayedBumps"] = [{"heldSeconds": round(h[1] - h[0], 3), "caller": h[2], "target": h[3]}
                                   for h in bumps.held]
    run.details["alarmReached"] = list(delivery.regions)
    if len(delivery.regions) < len(world.regions):
        run.problems.append(f"the alarm reached {len(delivery.regions)} of {len(world.regions)} orchestrators: it was "
                            "never fanned out")
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
    hold = world.hold(HoldRule("ssm", "PutParameter", target=last, seconds=15 * world.scale.call_timeout),
                      f"network: the next projection write to {last} is held")
    world.fault(f"operator 1: failover to {first}")
    operator = threading.Thread(target=world.invoke, args=(first, {"action": "failover", "target": first,
                                                                  "reason": "drill: first failover"}), daemon=True)
    operator.start()
    wait_until(lambda: bool(hold.holding), timeout=10 * world.scale.call_timeout)
    fault = world.fault(f"operator 2: failover to {last} while a write of the first is held")
    world.invoke(last, {"action": "failover", "target": last, "reason": "drill: second failover"})
    wait_until(lambda: bool(hold.held), timeout=20 * world.scale.call_timeout)
    operator.join(10)
    wait_until(lambda: _moved(world, fault, {last}), timeout=_limit(world, "traffic_follows_writes_seconds"))
    _settle(world, 2)
    run = Run("late-write", start, fault, (2, 2), None, {last}, "manual")
    run.details["held"] = [{"heldSeconds": round(h[1] - h[0], 3), "caller": h[2], "target": h[3]} for h in hold.held]
    if not hold.holding:
        run.problems.append("no projection write was held: the fault was never injected")
    _check_projections_converge(world, run, within=world.scale.schedule + 3 * world.scale.probe_interval)
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
    wait_until(lambda: _moved(world, fault, {first}), timeout=_limit(world, "write_rto_seconds", "traffic_rto_seconds"))
    _settle(world)
    return [Run("trickle", start, fault, (1, 1), primary, {first}, "outage")]


def primary_refuses(world: DrillWorld) -> list[Run]:
    return [_outage(world, "primary-refuses", "refuse")]


def clock_skew(world: DrillWorld) -> list[Run]:
    """Each region's orchestrator clock is off by a few seconds (see the options); then the primary hangs."""
    return [_outage(world, "clock-skew")]


# -- nothing must move ---------------------------------------------------------------------------------------------
def asymmetric_probes(world: DrillWorld) -> list[Run]:
    """The first standby loses its path to the primary's application (only its probes fail)."""
    start = time.time()
    warm_up(world)
    primary, first = world.regions[0], world.regions[1]
    fault = world.fault(f"{first} can no longer reach {primary}'s application")
    world.network.cut(first, primary, "hung", kind="app")
    time.sleep(_limit(world, "write_rto_seconds") + 2 * world.scale.schedule)
    return [Run("asymmetric-probes", start, fault, (0, 0))]


def standby_partitioned(world: DrillWorld) -> list[Run]:
    """The first standby is cut off from the other regions: the healthy primary must stay."""
    start = time.time()
    warm_up(world)
    fault = world.partition(world.regions[1])
    time.sleep(_limit(world, "write_rto_seconds") + world.scale.schedule)
    world.heal()
    _settle(world)
    return [Run("standby-partitioned", start, fault, (0, 0))]


def standby_fails(world: DrillWorld) -> list[Run]:
    start = time.time()
    warm_up(world)
    fault = world.fail_region(world.regions[1], "refuse")
    time.sleep(_limit(world, "detection_seconds") + world.scale.schedule)
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
    _settle(world)
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
    time.sleep(_limit(world, "write_rto_seconds"))
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
    time.sleep(_limit(world, "write_rto_seconds"))
    return [Run("first-deploy", start, fault, (0, 0))]


# -- the orchestrator itself fails ---------------------------------------------------------------------------------
def crash_after_bump(world: DrillWorld) -> list[Run]:
    start = time.time()
    warm_up(world)
    injection = world.injection = Injection("crash", armed=True)
    primary, others = world.regions[0], set(world.regions[1:])
    fault = world.fail_region(primary)
    wait_until(lambda: _moved(world, fault, others), timeout=_limit(world, "write_rto_seconds") +
               world.scale.lease + world.scale.schedule)
    _settle(world)
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
    wait_until(lambda: bool(injection.hits), timeout=_limit(world, "write_rto_seconds"))
    time.sleep(s.lease + s.probe_interval)
    world.fault(f"operator: failover to {last} while the transition's orchestrator is frozen")
    world.invoke(last, {"action": "failover", "target": last, "reason": "drill: operator while frozen"})
    if injection.hits:
        time.sleep(max(0.0, injection.hits[0][0] + injection.pause - time.time()))
    world.fault("the frozen orchestrator resumes")
    _settle(world, 4)
    run = Run("pause-past-lease", start, fault, (2, 2), primary, set(world.regions[1:]), "crash")
    if not injection.hits:
        run.problems.append("no orchestrator paused: the pause was never injected")
    _check_projections_converge(world, run, within=s.schedule + 3 * s.probe_interval,
                                regions=[r for r in world.regions if r != primary])
    return [run]


def _skewed(scale: TimeScale) -> WorldOptions:
    offsets = (0.0, 3.0, -3.0)
    return WorldOptions(skew={r: offsets[i % 3] / scale.factor for i, r in enumerate(scale.reference.regions)})


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("primary-fails", "the primary hangs (accepts, never answers); later it recovers and the operator fails "
             "back", ("primary black-holes", "recovery", "operator failback"), primary_fails, default=True),
    Scenario("partition", "the primary is cut off from the other regions while its users still reach it; healed "
             "later", ("partition of the primary",), partition, default=True),
    Scenario("partition-refused", "the primary is cut off from the other regions, connections between them refused "
             "at once; its users still reach it", ("partition of the primary (refused)",), partition_refused),
    Scenario("alarm-fanout", "the primary's application hangs; its alarm reaches every orchestrator at once while an "
             "operator fails over elsewhere", ("primary application hangs", "alarm fanned out", "concurrent operator",
                                               "delayed epoch bumps"),
             alarm_fanout, default=True),
    Scenario("late-write", "two operator failovers in a row; the first one's projection write is held and lands "
             "after the second", ("held cross-region write",), late_write, default=True),
    Scenario("asymmetric-probes", "one standby loses its path to the primary's application only",
             ("asymmetric probe failure",), asymmetric_probes, default=True),
    Scenario("first-deploy", "a first deploy: no application answers yet, alarms INSUFFICIENT_DATA -> ALARM, a "
             "stale alarm, a health check replaced", ("first deploy", "stale alarm", "health check replaced"),
             first_deploy, options=lambda scale: WorldOptions(start_applications=False,
                                                              initial_alarm_state="INSUFFICIENT_DATA"),
             default=True),
    Scenario("trickle", "a standby answers one byte at a time, then the primary hangs",
             ("trickling endpoint", "primary black-holes"), trickle),
    Scenario("primary-refuses", "the primary's endpoints refuse connections (closed ports)", ("primary refuses",),
             primary_refuses),
    Scenario("standby-fails", "a standby fails (refuses); nothing must move", ("standby refuses",), standby_fails),
    Scenario("standby-partitioned", "a standby is cut off from the other regions; nothing must move",
             ("partition of a standby",), standby_partitioned),
    Scenario("flapping", "the primary's endpoints refuse for one probe interval and answer for two, five times",
             ("flapping",), flapping),
    Scenario("duplicate-deliveries", "every monitor invocation delivered three times; a blip shorter than the "
             "threshold at a handover", ("duplicate schedule deliveries", "monitor handover"), duplicate_deliveries,
             options=lambda scale: WorldOptions(duplicates=3, duplicate_delay=0.45, schedule_spread=0.0)),
    Scenario("crash-after-bump", "the primary hangs; the orchestrator that makes the fenced write crashes right "
             "after it", ("primary black-holes", "orchestrator crash"), crash_after_bump),
    Scenario("pause-past-lease", "the primary hangs; the orchestrator that makes the fenced write freezes past its "
             "lease while the operator moves writes on, then resumes",
             ("primary black-holes", "paused orchestrator", "concurrent operator"), pause_past_lease),
    Scenario("clock-skew", "regions' orchestrator clocks off by +3 s and -3 s; the primary hangs",
             ("clock skew", "primary black-holes"), clock_skew, options=_skewed),
)
BY_NAME = {s.name: s for s in SCENARIOS}
DEFAULT = tuple(s.name for s in SCENARIOS if s.default)
