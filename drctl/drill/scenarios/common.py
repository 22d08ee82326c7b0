"""What every scenario is written with: the part it reports (`Run`), bounded waits, the warm-up, and the checks
that writes and traffic moved and that the projections converged.

Every wait is bounded (by the production budget scaled, plus a margin), so a drill that goes wrong still ends.
Regions are named by role: the primary (`world.regions[0]`), the first standby and the last standby.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from drctl.drill.history import first_acknowledged_write, first_served_every_user
from drctl.drill.world import DrillWorld


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
    failed: str | None = None
    """The region the fault hit (its Route 53 detection is measured)."""
    targets: set[str] | None = None
    """Where writes and traffic should move (None: they must not move)."""
    budget_kind: str = "none"
    """Which figures are budgeted: outage, manual, crash, none."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    end: float = 0.0
    present: set[str] | None = None
    """The keys in the data table that takes writes at the end of the part (read straight from moto)."""
    checked_region: str = ""


def done(world: DrillWorld, run: Run) -> Run:
    """End a part: note when, and read the table that takes writes now (after the writes were recorded, so every
    write counted was acknowledged before the table was read)."""
    run.end = time.time()
    run.checked_region = world.authority().active_region
    run.present = world.keys_in(run.checked_region)
    return run


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(poll)
    return condition()


def limit(world: DrillWorld, *figures: str) -> float:
    """How long to wait for an effect: the slowest budgeted figure (scaled), its tolerance, and a margin."""
    budget = world.scale.reference.budget
    worst = max(getattr(budget, f) for f in figures)
    return worst / world.scale.factor * 1.2 + 3 * world.scale.probe_interval


def warm_up(world: DrillWorld, seconds: float | None = None) -> None:
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


def moved(world: DrillWorld, since: float, regions: set[str]) -> bool:
    return (
        first_acknowledged_write(world.writes, since, regions) is not None
        and first_served_every_user([r for u in world.users for r in list(u.records)], since, regions) is not None
    )


def settle_for(world: DrillWorld, rounds: float = 3.0) -> None:
    time.sleep(rounds * world.scale.probe_interval)


def check_projections_converge(world: DrillWorld, run: Run, within: float, regions: list[str] | None = None) -> None:
    """Every region's projection names the authority within `within` seconds (the repair's job)."""
    regions = regions or world.regions

    def converged() -> bool:
        active = world.authority().active_region
        return all(projected_region(world.projection(r)) == active for r in regions)

    if not wait_until(converged, within):
        active = world.authority().active_region
        stale = {r: world.projection(r) for r in regions if projected_region(world.projection(r)) != active}
        run.problems.append(
            f"the projection did not converge on {active} within {within * world.scale.factor:.0f}s "
            f"(production): {stale}"
        )


def projected_region(value: str | None) -> str | None:
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
