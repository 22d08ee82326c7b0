"""`drctl drill --live --stack NAME --region R [--action connectivity|replication|tasks]`: one FIS experiment
against one region's site in the user's own account, followed to its end and judged like the loopback drill.

Order: read and check the stack's config (user mistakes raise `LiveUsageError`, one line, exit 2), find the template
`dr:drill.fis` declared, ask the operator to confirm (`--yes` skips; without a terminal and without `--yes` it
refuses), start the experiment, poll until `live_run.step` says done (stopping the experiment when the drill has
what it waited for, or past its window), then write `drill-report.json`. Whatever interrupts the loop, a running
experiment is asked to stop."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from components.budget import budget_inputs_from_config, compute_budget
from components.config_base import ConfigError
from drctl.drill import live_aws
from drctl.drill.live_run import LiveObservation, LivePlan, LiveProgress, live_result, plan_live_drill, step
from drctl.drill.report import REPORT_NAME, part_json, render_table, report_json

POLL_SECONDS = 5.0
OVERRUN_SECONDS = 600.0
"""Past the drill's window by this much with FIS still not done, the drill gives up waiting (after a stop)."""


class LiveUsageError(Exception):
    """A user mistake: unknown stack, a region not in it, no template (dr:drill.fis off), no confirmation."""


def load_live_config(stack: str, region: str, action: str, stack_file: Path | None = None):
    """The stack's validated config, once it is known that a live drill of `action` in `region` can exist."""
    from components.config import decode_engine_config, parse_stack_config
    from drctl.preview import PROJECT_DIR
    from drctl.stackfile import StackFileError, load_stack_config

    try:
        raw, secret = decode_engine_config(*load_stack_config(PROJECT_DIR, stack, stack_file))
        cfg: Any = parse_stack_config(raw, secret)
    except (StackFileError, ConfigError) as exc:
        raise LiveUsageError(str(exc)) from None
    if region not in cfg.regions.all:
        raise LiveUsageError(f"--region {region}: not a region of stack {stack} (one of {', '.join(cfg.regions.all)})")
    if not cfg.drill.fis:
        raise LiveUsageError(
            f"stack {stack} declares no FIS templates: set dr:drill.fis: true and deploy it (docs/drill.md)"
        )
    if action == "replication" and cfg.table.replication != "global":
        raise LiveUsageError("--action replication: the data table is not a global table (table.replication: streams)")
    return cfg


def confirm(yes: bool, region: str, stack: str, action: str, stdin: IO[str], stdout: IO[str]) -> None:
    """Raise LiveUsageError unless the operator confirms (by typing the region) or passed --yes."""
    if yes:
        return
    if not stdin.isatty():
        raise LiveUsageError("a live drill injects a real fault: confirm it at a terminal, or pass --yes")
    stdout.write(f"This starts a real fault ({action}) on the {region} site of stack {stack}. Type {region} to go on: ")
    stdout.flush()
    if stdin.readline().strip() != region:
        raise LiveUsageError("not confirmed; nothing was started")


def _since(started: float, value: float | None) -> float | None:
    return None if value is None else value - started


def observe(aws: live_aws.LiveAws, ids: dict[str, str], experiment_id: str, cfg, stack: str, at: float, started: float):
    """One poll at `at` seconds; the control item's timestamps (wall clock) made relative to `started`."""
    from components.active_region import control_table_name_for

    status, reason = live_aws.experiment_state(aws.fis, experiment_id)
    control = live_aws.read_control(aws.dynamodb, control_table_name_for(cfg, stack), cfg.app.name)
    active = control.get("activeRegion") or cfg.regions.all[0]
    phase_active = control.get("phase", "active") == "active"
    return (
        LiveObservation(
            at=at,
            experiment=status,
            healthy=live_aws.health(aws.route53, ids),
            active_region=active,
            epoch=control.get("epoch", 0),
            transitioned_at=_since(started, control.get("lastTransitionAt")),
            activated_at=_since(started, control.get("activatedAt")) if phase_active else None,
        ),
        reason,
    )


def _plan(cfg, stack: str, region: str, action: str, aws: live_aws.LiveAws) -> LivePlan:
    from components.active_region import control_table_name_for

    control = live_aws.read_control(aws.dynamodb, control_table_name_for(cfg, stack), cfg.app.name)
    return plan_live_drill(
        stack=stack,
        region=region,
        action=action,  # type: ignore[arg-type]
        active_region=control.get("activeRegion") or cfg.regions.all[0],
        sites=tuple(cfg.regions.all),
        duration_minutes=cfg.drill.duration_minutes,
        budget=compute_budget(budget_inputs_from_config(cfg)),
        dns_ttl=float(cfg.dns_ttl),
    )


def follow(
    aws: live_aws.LiveAws,
    plan: LivePlan,
    experiment_id: str,
    started: float,
    observe_once: Callable[[float], tuple[LiveObservation, str]],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    poll_seconds: float = POLL_SECONDS,
) -> tuple[LiveProgress, list[dict]]:
    """Poll until the drill is done; stop the experiment when asked to (and, whatever happens, if still running)."""
    progress, timeline, stop_sent = LiveProgress(), [], False
    try:
        while progress.phase != "done":
            obs, reason = observe_once(clock() - started)
            progress = step(plan, progress, obs)
            timeline.append(
                {
                    "at": round(obs.at, 1),
                    "experiment": obs.experiment,
                    "healthy": dict(obs.healthy),
                    "activeRegion": obs.active_region,
                    "epoch": obs.epoch,
                    **({"reason": reason} if reason else {}),
                }
            )
            if progress.stop_requested and not stop_sent:
                live_aws.stop_experiment(aws.fis, experiment_id)
                stop_sent = True
            if progress.phase != "done" and obs.at > plan.window_seconds + OVERRUN_SECONDS:
                late = "FIS did not end the experiment in time; the drill stopped waiting"
                progress = replace(progress, phase="done", notes=(*progress.notes, late))
                break
            if progress.phase != "done":
                sleep(poll_seconds)
    finally:
        if progress.ended is None and not stop_sent:
            live_aws.stop_experiment(aws.fis, experiment_id)
    return progress, timeline


def run_live(
    stack: str,
    region: str,
    action: str,
    out: Path,
    *,
    yes: bool,
    stdin: IO[str],
    stdout: IO[str],
    client: live_aws.ClientFactory | None = None,
    stack_file: Path | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = POLL_SECONDS,
    console: Console | None = None,
) -> tuple[dict, int]:
    """Run one live drill; (report, exit code 0 passed / 1 failed). Raises LiveUsageError for user mistakes."""
    from components.active_region import control_table_name_for
    from components.control import control_placement
    from components.traffic import health_check_tag_name

    cfg = load_live_config(stack, region, action, stack_file)
    client = client or _boto3_client
    aws = live_aws.LiveAws(client, region, control_placement(cfg.regions.all).replicas)
    template = live_aws.find_template(aws.fis, stack, region, action)
    if template is None:
        raise LiveUsageError(
            f"no FIS template for stack {stack}, region {region}, action {action}: deploy with dr:drill.fis: true"
        )
    names = {s: health_check_tag_name(cfg.app.name, stack, s) for s in cfg.regions.all}
    ids = live_aws.health_check_ids(aws.route53, names)
    plan = _plan(cfg, stack, region, action, aws)
    confirm(yes, region, stack, action, stdin, stdout)
    began = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    experiment_id, start_time = live_aws.start_experiment(aws.fis, template["id"], uuid.uuid4().hex)
    # Polls are timed by this machine's clock, the orchestrator's timestamps against FIS's start time: a skewed
    # local clock shifts neither.
    local_start = clock()
    started = start_time.timestamp() if start_time else local_start
    progress, timeline = follow(
        aws,
        plan,
        experiment_id,
        local_start,
        lambda at: observe(aws, ids, experiment_id, cfg, stack, at, started),
        clock,
        sleep,
        poll_seconds,
    )
    first = (progress.start_epoch or 0) + 1
    audits = live_aws.read_audits(
        aws.dynamodb, control_table_name_for(cfg, stack), cfg.app.name, range(first, first + progress.transitions)
    )
    details = {
        "experimentId": experiment_id,
        "templateId": template["id"],
        "healthCheckIds": ids,
        "audit": audits,
        "polls": timeline,
    }
    result = live_result(plan, progress, details)
    budget = compute_budget(budget_inputs_from_config(cfg))
    report = report_json(
        time_scale={"factor": 1.0, "reference": stack, "live": True, "budget": budget.to_json()},
        mode=cfg.table.consistency,
        control="strong" if control_placement(cfg.regions.all).strong else "eventual",
        parts=[part_json(result, None)],
        emulated=[],
        started_at=began,
        duration=clock() - local_start,
        selection=[f"live-{action}"],
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_NAME).write_text(json.dumps(report, indent=2, default=str) + "\n")
    console = console or Console()
    console.print(render_table(report))
    for failure in report["failures"]:
        console.print(f"[bold red]FAIL[/bold red] {failure}", soft_wrap=False)
    console.print(f"report: {out / REPORT_NAME}")
    return report, 0 if report["passed"] else 1


def _boto3_client(service: str, region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service, region_name=region, config=Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3})
    )
