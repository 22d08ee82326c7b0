"""`python -m drctl drill`: run the chosen scenarios, each in a fresh world on one moto server, then write the report
and the pictures. Exit 0 when every part passes, 1 otherwise."""

from __future__ import annotations

import datetime
import faulthandler
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from drctl.drill.moto_process import MotoProcess
from drctl.drill.report import REPORT_NAME, part_json, render_table, render_timeline, report_json, timeline_name
from drctl.drill.scenarios import BY_NAME
from drctl.drill.scenarios.common import Run, done
from drctl.drill.timescale import DEFAULT_FACTOR, Mode, TimeScale, load_reference
from drctl.drill.verdict import PartResult, judge
from drctl.drill.world import DrillWorld

RUNTIME_LOG = "runtime.log"
EMULATED = [
    "AWS: the moto server (its own process) behind a gate per (caller region -> region): partitions, hangs and "
    "refusals cut exactly the calls they would cut",
    "strongly consistent tables: one moto table for every replica; a replica that cannot reach a majority of the "
    "table's regions refuses item operations (HTTP 500), as an isolated MRSC replica refuses strongly consistent "
    "reads and writes",
    "eventually consistent control table: a table per region, changed items copied asynchronously while two regions "
    "reach each other (last arrival wins)",
    "eventual data: the project's streams replicator in every direction, fed by a poller standing in for Lambda's "
    "event source mapping",
    "Route 53: a model of three checkers per endpoint, the 18% rule, the failover record chain and resolvers' TTL "
    "caches; the health alarm: OK -> ALARM after its periods, delivered to every orchestrator at once",
    "applications: a thread per region (failover.health, failover.client), each writing its own table whenever the "
    "runtime lets it",
    "orchestrators: the real code, a fresh invocation per schedule tick, per alarm and per operator action",
    "scale-up: none (hot standbys); notices: moto's SNS, read back through SQS",
]


@contextmanager
def _runtime_log(path: Path) -> Iterator[None]:
    """The runtime's own log lines go to a file, not the terminal."""
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


def declared_control(regions: Sequence[str]) -> str:
    """How the program declares the control table for these regions (strongly consistent wherever it can)."""
    from components.active_region import control_table_consistency

    return control_table_consistency(list(regions))


def run_drill(
    selection: Sequence[str],
    mode: Mode,
    out: Path,
    *,
    factor: float = DEFAULT_FACTOR,
    stack: str = "prod",
    control: str | None = None,
    picture_format: str = "png",
    console: Console | None = None,
) -> tuple[dict, int]:
    """Run the scenarios named in `selection`; write the report and timelines into `out`; (report, exit code)."""
    console = console or Console(width=80 if not Console().is_terminal else None)
    scale = TimeScale(load_reference(mode, stack), factor)
    control = control or declared_control(scale.reference.regions)
    began, started_at = time.monotonic(), datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    out.mkdir(parents=True, exist_ok=True)
    results: list[tuple[PartResult, str]] = []
    moto = MotoProcess().start()
    try:
        with _runtime_log(out / RUNTIME_LOG):
            for name in selection:
                results.extend(_run_scenario(name, scale, moto, control, out, console, began, picture_format))
    finally:
        moto.stop()
    parts = [part_json(result, picture) for result, picture in results]
    report = report_json(
        time_scale=scale.to_json(),
        mode=mode,
        control=control,
        parts=parts,
        emulated=EMULATED,
        started_at=started_at,
        duration=time.monotonic() - began,
        selection=list(selection),
    )
    (out / REPORT_NAME).write_text(json.dumps(report, indent=2, default=str) + "\n")
    console.print(render_table(report))
    for failure in report["failures"]:
        console.print(f"[bold red]FAIL[/bold red] {failure}", soft_wrap=False)
    console.print(f"report: {out / REPORT_NAME}; timelines and the runtime's log ({RUNTIME_LOG}) beside it")
    return report, 0 if report["passed"] else 1


def _run_scenario(
    name: str,
    scale: TimeScale,
    moto: MotoProcess,
    control: str,
    out: Path,
    console: Console,
    began: float,
    picture_format: str = "png",
) -> list[tuple[PartResult, str]]:
    from drctl.drill.world import WorldOptions

    scenario = BY_NAME[name]
    scale = scenario.scale(scale)
    options = scenario.options(scale)
    options.control = control  # type: ignore[assignment]
    world = DrillWorld(scale, moto, options).start()
    write_gap = scale.health_interval / 4
    try:
        runs: list[Run] = scenario.run(world)
        if runs and not runs[-1].end:
            done(world, runs[-1])
        out_results = []
        for run in runs:
            if world.pumps is not None:
                run.details.setdefault(
                    "replication", {"delivered": world.pumps.delivered(), "errors": world.pumps.errors()}
                )
            history = world.history(run.start, run.end, run.checked_region, run.present)
            result = judge(
                scenario.name,
                scenario.description,
                scenario.faults,
                run,
                history,
                scale,
                strong=scale.reference.mode == "strong",
                write_gap=write_gap,
            )
            picture = timeline_name(run.name, picture_format)
            render_timeline(history, result, world.regions, scale.factor, out / picture, write_gap)
            out_results.append((result, picture))
            verdict = "pass" if result.passed else "FAIL"
            conflicts = f", {result.lost_as_conflicts} recorded as conflicts" if world.mode == "eventual" else ""
            console.print(
                f"[bold]{run.name}[/bold]: {verdict}, {result.transitions} transition(s), two writers "
                f"{result.dual_writer_seconds:.1f}s, {len(result.lost)} lost{conflicts} "
                f"({time.monotonic() - began:.0f}s)"
            )
        return out_results
    finally:
        world.close()
        assert isinstance(options, WorldOptions)


WATCHDOG_SECONDS_PER_SCENARIO = 120
"""Every wait is bounded; past this per scenario the drill prints every thread's stack and exits 1."""


def watchdog(scenarios: int) -> None:
    faulthandler.dump_traceback_later(60 + WATCHDOG_SECONDS_PER_SCENARIO * scenarios, exit=True)


def ensure_environment() -> None:
    """moto 5 with a current botocore: keep DynamoDB Streams calls on endpoints moto routes; never ask the
    instance-metadata address for credentials."""
    os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
