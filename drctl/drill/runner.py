"""`python -m drctl drill`: run the scenarios, each group in a fresh world, then write the report and pictures."""

from __future__ import annotations

import datetime
import faulthandler
import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from rich.console import Console

from components.budget import compute_budget
from drctl.drill.report import REPORT_NAME, render_table, render_timeline, report_json, scenario_json, timeline_name
from drctl.drill.scenarios import DESCRIPTIONS, evaluate, failback, flapping, primary_fails, standby_fails
from drctl.drill.verdict import TOLERANCE, DrillTimers, ScenarioKind, budget_inputs, exit_code, scenario_budget
from drctl.drill.world import REGIONS, DrillWorld, Mode

FULL_PLAN: tuple[tuple[ScenarioKind, ...], ...] = (
    ("primary-fails", "failback"), ("flapping",), ("standby-fails",), ("orchestrator-crash",))
SHORT_PLAN: tuple[tuple[ScenarioKind, ...], ...] = (("primary-fails", "failback"),)
"""Each group runs in a fresh world; failback needs the failover before it."""

EMULATED = {
    "strong": ["replication: emulated synchronously (a write goes to every region's table and is acknowledged "
               "once the active region and a majority have it; a region that missed writes gets them before it "
               "serves again), standing in for multi-region strong consistency"],
    "eventual": ["replication: the streams replicator (failover.replicator) in each direction, fed by a poller "
                 "of the source table's stream standing in for Lambda's event source mapping"],
}
EMULATED_ALWAYS = [
    "AWS: the moto server on 127.0.0.1, one gate per region in front of it; a failed region's gate hangs or "
    "refuses connections",
    "the global control table: one moto table each orchestrator reaches through its own region's gate",
    "Route 53: a model of its checkers (request interval, failure threshold, >18% of checkers, 4 s/2 s limits), "
    "of the failover record chain the stack declares (PRIMARY/SECONDARY, evaluate target health, fail-open) and "
    "of a resolver's TTL cache; no real DNS",
    "applications: one thread per region with its own HTTP server (failover.health, failover.client)",
    "the orchestrator: the real code, invoked on a schedule per region; its step lease (a module constant) is "
    "scaled with the function timeout",
    "scale-up: none (hot standbys), notifications to moto's SNS",
]


RUNTIME_LOG = "runtime.log"


@contextmanager
def _runtime_log(path: Path) -> Iterator[None]:
    """The runtime's own log lines (the orchestrators', the replicators') go to a file, not the terminal."""
    from failover import orchestrator as orch

    handlers = [getattr(orch.logger, "registered_handler", None)]
    try:
        from failover import replicator

        handlers.append(getattr(replicator.logger, "registered_handler", None))
    except ImportError:
        pass
    with path.open("w") as stream:
        previous = [(h, h.setStream(stream)) for h in handlers if isinstance(h, logging.StreamHandler)]
        try:
            yield
        finally:
            for handler, old in previous:
                handler.setStream(old)


def _run_groups(mode: Mode, short: bool, timers: DrillTimers, budget, inputs, strong: bool, console: Console,
                began: float, runs: list, results: list) -> None:
    for group in (SHORT_PLAN if short else FULL_PLAN):
        world = DrillWorld(mode, timers).start()
        try:
            for kind in group:
                values = scenario_budget(kind, budget, inputs, timers, failed=REGIONS[0])
                run = _RUNNERS[kind](world, short, values)
                result = evaluate(run, budget, inputs, timers, strong)
                runs.append(run)
                results.append(result)
                console.print(f"[bold]{kind}[/bold]: {result.transitions} transition(s), "
                              f"{result.acknowledged} writes acknowledged, {result.lost} lost "
                              f"({time.monotonic() - began:.0f}s)")
        finally:
            world.close()


def _limit(values: dict, *names: str) -> float:
    """How long a scenario waits for its effect: the slowest budgeted figure, its tolerance, and a margin."""
    return max(values[n] for n in names if values[n] is not None) * (1 + TOLERANCE) + 3.0


def run_drill(mode: Mode, short: bool, out: Path, console: Optional[Console] = None,
              timers: Optional[DrillTimers] = None) -> tuple[dict, int]:
    """Run every scenario, write `drill-report.json` and the timelines into `out`; return (report, exit code)."""
    console = console or Console(width=None if _is_terminal() else 150)
    timers = timers or DrillTimers()
    strong = mode == "strong"
    inputs = budget_inputs(timers, REGIONS, strong)
    budget = compute_budget(inputs)
    began, started_at = time.monotonic(), datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    runs, results = [], []
    out.mkdir(parents=True, exist_ok=True)
    with _runtime_log(out / RUNTIME_LOG):
        _run_groups(mode, short, timers, budget, inputs, strong, console, began, runs, results)
    documents = []
    for run, result in zip(runs, results):
        picture = timeline_name(run.name)
        render_timeline(run, result, mode, out / picture)
        documents.append(scenario_json(result, DESCRIPTIONS[run.kind], timeline=picture))
    report = report_json(mode=mode, short=short, regions=REGIONS, timers=timers.to_json(), budget=budget.to_json(),
                         scenarios=documents, emulated=EMULATED[mode] + EMULATED_ALWAYS, started_at=started_at,
                         duration=time.monotonic() - began)
    (out / REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n")
    console.print(render_table(report))
    for failure in report["failures"]:
        console.print(f"[bold red]FAIL[/bold red] {failure}")
    console.print(f"report: {out / REPORT_NAME}; timelines: {', '.join(str(out / d['timeline']) for d in documents)}; "
                  f"the runtime's log: {out / RUNTIME_LOG}")
    return report, exit_code(results)


_RUNNERS: dict[ScenarioKind, Callable] = {
    "primary-fails": lambda w, short, b: primary_fails(w, short, _limit(b, "writeRtoSeconds", "trafficRtoSeconds")),
    "orchestrator-crash": lambda w, short, b: primary_fails(w, short, _limit(b, "writeRtoSeconds",
                                                                             "trafficRtoSeconds"), crash=True),
    "failback": lambda w, short, b: failback(w, short, _limit(b, "writeRtoSeconds", "trafficRtoSeconds")),
    "flapping": lambda w, short, b: flapping(w, short),
    "standby-fails": lambda w, short, b: standby_fails(w, short, _limit(b, "detectionSeconds")),
}


WATCHDOG_SECONDS = {True: 150, False: 300}
"""Short and full runs end well within these; past them the drill prints every thread's stack and exits 1."""


def watchdog(short: bool) -> None:
    """The drill stops by itself: every wait is bounded, and should anything still hang (a call without a
    deadline in a library, a thread that cannot be joined at exit), this prints where and ends the process."""
    faulthandler.dump_traceback_later(WATCHDOG_SECONDS[short], exit=True)


def _is_terminal() -> bool:
    return Console().is_terminal


def ensure_environment() -> None:
    """moto 5 with a current botocore: keep DynamoDB Streams calls on endpoints moto routes."""
    os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
