"""The drill's scenarios: what each does to a fresh world, what it must (and must not) lead to. One module per kind:
`outages` (writes must move once), `steady` (nothing must move), `orchestrator_faults` (the orchestrator itself
fails), on the vocabulary of `common`; this module is the registry the CLI and the runner read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from drctl.drill.scenarios.accelerator import accelerator_outage
from drctl.drill.scenarios.common import Run, done
from drctl.drill.scenarios.orchestrator_faults import crash_after_bump, pause_past_lease
from drctl.drill.scenarios.outages import (
    alarm_fanout,
    clock_skew,
    late_write,
    partition,
    partition_refused,
    primary_fails,
    primary_refuses,
    skewed,
    trickle,
)
from drctl.drill.scenarios.steady import (
    asymmetric_probes,
    duplicate_deliveries,
    first_deploy,
    flapping,
    standby_fails,
    standby_partitioned,
)
from drctl.drill.timescale import TimeScale, with_accelerator
from drctl.drill.world import DrillWorld, WorldOptions


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    faults: tuple[str, ...]
    run: Callable[[DrillWorld], list[Run]]
    options: Callable[[TimeScale], WorldOptions] = lambda scale: WorldOptions()
    default: bool = False
    """Part of `make drill`'s default set."""
    scale: Callable[[TimeScale], TimeScale] = lambda scale: scale
    """The time scale (and budget) the scenario is judged on, from the drill's."""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "primary-fails",
        "the primary hangs (accepts, never answers); later it recovers and the operator fails back",
        ("primary black-holes", "recovery", "operator failback"),
        primary_fails,
        default=True,
    ),
    Scenario(
        "partition",
        "the primary is cut off from the other regions while its users still reach it; healed later",
        ("partition of the primary",),
        partition,
        default=True,
    ),
    Scenario(
        "partition-refused",
        "the primary is cut off from the other regions, connections between them refused "
        "at once; its users still reach it",
        ("partition of the primary (refused)",),
        partition_refused,
    ),
    Scenario(
        "alarm-fanout",
        "the primary's application hangs; its alarm reaches every orchestrator at once while an "
        "operator fails over elsewhere",
        ("primary application hangs", "alarm fanned out", "concurrent operator", "delayed epoch bumps"),
        alarm_fanout,
        default=True,
    ),
    Scenario(
        "late-write",
        "two operator failovers in a row; the first one's projection write is held and lands after the second",
        ("held cross-region write",),
        late_write,
        default=True,
    ),
    Scenario(
        "asymmetric-probes",
        "one standby loses its path to the primary's application only",
        ("asymmetric probe failure",),
        asymmetric_probes,
        default=True,
    ),
    Scenario(
        "first-deploy",
        "a first deploy: no application answers yet, alarms INSUFFICIENT_DATA -> ALARM, a "
        "stale alarm, a health check replaced",
        ("first deploy", "stale alarm", "health check replaced"),
        first_deploy,
        options=lambda scale: WorldOptions(start_applications=False, initial_alarm_state="INSUFFICIENT_DATA"),
        default=True,
    ),
    Scenario(
        "trickle",
        "a standby answers one byte at a time, then the primary hangs",
        ("trickling endpoint", "primary black-holes"),
        trickle,
    ),
    Scenario(
        "primary-refuses",
        "the primary's endpoints refuse connections (closed ports)",
        ("primary refuses",),
        primary_refuses,
    ),
    Scenario("standby-fails", "a standby fails (refuses); nothing must move", ("standby refuses",), standby_fails),
    Scenario(
        "standby-partitioned",
        "a standby is cut off from the other regions; nothing must move",
        ("partition of a standby",),
        standby_partitioned,
    ),
    Scenario(
        "flapping",
        "the primary's endpoints refuse for one probe interval and answer for two, five times",
        ("flapping",),
        flapping,
    ),
    Scenario(
        "duplicate-deliveries",
        "every monitor invocation delivered three times; a blip shorter than the threshold at a handover",
        ("duplicate schedule deliveries", "monitor handover"),
        duplicate_deliveries,
        options=lambda scale: WorldOptions(duplicates=3, duplicate_delay=0.45, schedule_spread=0.0),
    ),
    Scenario(
        "crash-after-bump",
        "the primary hangs; the orchestrator that makes the fenced write crashes right after it",
        ("primary black-holes", "orchestrator crash"),
        crash_after_bump,
    ),
    Scenario(
        "pause-past-lease",
        "the primary hangs; the orchestrator that makes the fenced write freezes past its "
        "lease while the operator moves writes on, then resumes",
        ("primary black-holes", "paused orchestrator", "concurrent operator"),
        pause_past_lease,
    ),
    Scenario(
        "clock-skew",
        "regions' orchestrator clocks off by +3 s and -3 s; the primary hangs",
        ("clock skew", "primary black-holes"),
        clock_skew,
        options=skewed,
    ),
    Scenario(
        "accelerator",
        "dr:traffic.mode accelerator: users reach the regions through Global Accelerator (dials primary 100, others "
        "0; entries on /health/accelerator; no TTL); the primary hangs",
        ("primary black-holes", "Global Accelerator traffic"),
        accelerator_outage,
        options=lambda scale: WorldOptions(traffic="accelerator"),
        scale=with_accelerator,
    ),
)
BY_NAME = {s.name: s for s in SCENARIOS}
DEFAULT = tuple(s.name for s in SCENARIOS if s.default)

__all__ = ["BY_NAME", "DEFAULT", "SCENARIOS", "Run", "Scenario", "done"]
