"""`python -m drctl deploy --stack prod [--preview] [--tier T ...]`: the tier stacks of a base stack through the
Pulumi Automation API (`pulumi.automation`), on this program's directory.

For each tier, in deploy order (the tiers of one wave in parallel, they never read each other): create or
select its stack, give it its base stack's config (`drctl.stacks.derive_config`: plain values with
`config set-all`, secrets copied with `config cp` so that no plaintext passes through an argument or our
output) and its `dr:tier` tag, then preview or update it with the policy pack (and the base stack's policy
config). The first failure stops the run: tiers already running finish, later ones do not start. A summary
table ends every run.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from drctl.stacks import POLICY_PACK, PROJECT_DIR, DeploymentPlan, PlanError, derive_config, plan_deployment

EXIT_OK = 0
EXIT_POLICY_VIOLATION = 1
"""The base stack's RTO/RPO budget misses its objectives (checked from config before any tier runs)."""
EXIT_CONFIG_ERROR = 2
"""Usage, stack file or config mistakes, or no pulumi CLI."""
EXIT_DEPLOY_FAILED = 3
"""A pulumi command failed (`CommandError`): a preview or update error, a mandatory policy violation."""
EXIT_CONCURRENT_UPDATE = 4
"""Another update holds a tier stack (`ConcurrentUpdateError`); retry when it has finished."""
INSTALL_HINT = (
    "the pulumi CLI is not installed: `curl -fsSL https://get.pulumi.com | sh` "
    "(see https://www.pulumi.com/docs/install/), then run this again"
)
DEFAULT_PARALLEL = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="base stack: reads Pulumi.<stack>.yaml")
    parser.add_argument(
        "--tier",
        action="append",
        dest="tiers",
        metavar="TIER",
        help="only this tier (repeatable, run in deploy order; default: every tier)",
    )
    parser.add_argument("--preview", action="store_true", help="preview each tier instead of updating it")
    parser.add_argument(
        "--configure-only",
        action="store_true",
        help="only create or select the tier stacks and set their config and tags",
    )
    parser.add_argument("--refresh", action="store_true", help="refresh each stack first (`--refresh`)")
    parser.add_argument(
        "--expect-no-changes",
        action="store_true",
        help="fail a tier whose preview or update has changes (drift detection)",
    )
    parser.add_argument("--org", help="Pulumi organization of the tier stacks (default: dr:organization)")
    parser.add_argument(
        "--suppress-outputs",
        action="store_true",
        help="do not print the stacks' outputs (CI logs; secrets are masked either way)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=DEFAULT_PARALLEL,
        help=f"tiers of one wave run at once (default {DEFAULT_PARALLEL}; 1: one at a time)",
    )


@dataclass
class TierRun:
    """What happened to one tier stack."""

    tier: str
    stack: str
    wave: int
    action: str
    result: str = "not run"
    """ok, failed, or not run (an earlier failure stopped the run)."""
    changes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""
    error: BaseException | None = None


@dataclass
class DeployOptions:
    preview: bool = False
    configure_only: bool = False
    refresh: bool = False
    expect_no_changes: bool = False
    parallel: int = DEFAULT_PARALLEL
    suppress_outputs: bool = False

    @property
    def action(self) -> str:
        return "configure" if self.configure_only else "preview" if self.preview else "up"


def _last_line(exc: BaseException) -> str:
    """The last line the CLI wrote to stderr (or the exception's last line): what went wrong, in one line."""
    text = str(exc)
    match = re.search(r"stderr: (.*)\Z", text, re.DOTALL)
    lines = [ln.strip() for ln in (match.group(1) if match else text).splitlines() if ln.strip()]
    return lines[-1][:200] if lines else type(exc).__name__


class Deployer:
    """Runs the tier stacks of `plan` with `command` (a `pulumi.automation.PulumiCommand`)."""

    def __init__(
        self,
        plan: DeploymentPlan,
        document: dict,
        command,
        options: DeployOptions,
        work_dir: Path = PROJECT_DIR,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.plan = plan
        self.document = document
        self.command = command
        self.options = options
        self.work_dir = work_dir
        self._echo = echo
        self._lock = threading.Lock()
        self._workspace_lock = threading.Lock()
        """Held while a tier's stack is created or selected and configured: `pulumi stack select/init` rewrite
        the one workspace file of this directory (and the CLI's config writes are not meant to run concurrently
        in one project), so tiers of a wave take turns there; their previews and updates, which name their
        stack with `--stack`, still run in parallel."""

    def echo(self, line: str) -> None:
        with self._lock:
            self._echo(line)

    def policy_args(self) -> dict[str, list[str]]:
        """The policy pack and the base stack's levels, as paths relative to the program's directory."""
        config = self.plan.policy_config(self.work_dir)
        return {
            "policy_packs": [POLICY_PACK],
            "policy_pack_configs": [str(config.relative_to(self.work_dir))] if config else [],
        }

    def configure(self, tier: str):
        """Create or select the tier's stack; give it its config and tags (one tier at a time in this work
        directory). Returns the automation Stack."""
        with self._workspace_lock:
            return self._configure(tier)

    def _configure(self, tier: str):
        from pulumi import automation as auto

        workspace = auto.LocalWorkspace(work_dir=str(self.work_dir), pulumi_command=self.command)
        name = self.plan.qualified(tier)
        stack = auto.Stack.create_or_select(name, workspace)
        derived = derive_config(self.document, self.plan, tier)
        current = self._current_keys(name)
        if current:  # start from nothing, so a key removed from the base stack file leaves the tier too
            stack.remove_all_config(current)
        if derived.path_values:
            stack.set_all_config({k: auto.ConfigValue(v) for k, v in derived.path_values.items()}, path=True)
        stack.set_all_config({k: auto.ConfigValue(v) for k, v in derived.whole_values.items()})
        base = self.plan.qualified_base()
        for key in derived.secret_keys:
            self.command.run(["config", "cp", key, "--stack", base, "--dest", name], str(self.work_dir), {})
        for key, value in self.plan.stack_tags(tier).items():
            stack.set_tag(key, value)
        return stack

    def _current_keys(self, name: str) -> list[str]:
        """The tier stack's config keys (values masked: secrets are never read back)."""
        import json

        result = self.command.run(["config", "--json", "--stack", name], str(self.work_dir), {})
        keys = list(json.loads(result.stdout or "{}"))
        return sorted(keys)

    def run_tier(self, run: TierRun) -> TierRun:
        started = time.monotonic()
        try:
            stack = self.configure(run.tier)
            opts = self.options

            def printer(line: str, tier: str = run.tier) -> None:
                self.echo(f"[{tier}] {line}")

            if opts.configure_only:
                pass
            elif opts.preview:
                result = stack.preview(
                    on_output=printer,
                    refresh=opts.refresh or None,
                    expect_no_changes=opts.expect_no_changes or None,
                    suppress_outputs=opts.suppress_outputs or None,
                    **self.policy_args(),
                )
                run.changes = {str(k): int(v) for k, v in (result.change_summary or {}).items()}
            else:
                result = stack.up(
                    on_output=printer,
                    refresh=opts.refresh or None,
                    expect_no_changes=opts.expect_no_changes or None,
                    show_secrets=False,
                    suppress_outputs=opts.suppress_outputs or None,
                    **self.policy_args(),
                )
                run.changes = {str(k): int(v) for k, v in (result.summary.resource_changes or {}).items()}
            run.result = "ok"
        except Exception as exc:
            run.result, run.error, run.note = "failed", exc, _last_line(exc)
        run.seconds = time.monotonic() - started
        return run

    def run(self, tiers: list[str] | None = None) -> list[TierRun]:
        """Every wave in order; within one, up to `parallel` tiers at once. Stops after the first failure."""
        waves = self.plan.waves(tiers)
        runs = [TierRun(t.name, self.plan.qualified(t.name), t.wave, self.options.action) for w in waves for t in w]
        by_tier = {r.tier: r for r in runs}
        failed = False
        for wave in waves:
            if failed:
                break
            with ThreadPoolExecutor(max_workers=max(1, self.options.parallel)) as pool:
                pending: set[Future] = {pool.submit(self.run_tier, by_tier[t.name]) for t in wave}
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    if any(not f.cancelled() and f.result().result == "failed" for f in done):
                        failed = True
                        for f in pending:
                            f.cancel()  # not started yet: stays "not run"; running ones finish
        return runs


def exit_code(runs: list[TierRun]) -> int:
    from pulumi.automation import ConcurrentUpdateError

    errors = [r.error for r in runs if r.result == "failed"]
    if any(isinstance(e, ConcurrentUpdateError) for e in errors):
        return EXIT_CONCURRENT_UPDATE
    return EXIT_DEPLOY_FAILED if errors else EXIT_OK


def render_summary(runs: list[TierRun], plan: DeploymentPlan):
    from rich.table import Table

    prefix = plan.qualified(plan.tiers[0].name).rsplit("/", 1)[0]
    table = Table(title=f"drctl deploy --stack {plan.base}: {len(runs)} tier stack(s) in {prefix}")
    for col in ("wave", "tier", "action", "result", "changes", "s", "note"):
        table.add_column(col, justify="right" if col in ("wave", "s") else "left", no_wrap=col in ("tier", "result"))
    style = {"ok": "green", "failed": "bold red", "not run": "dim"}
    for r in runs:
        changes = " ".join(f"{op}={n}" for op, n in sorted(r.changes.items()) if n) or "-"
        table.add_row(
            str(r.wave),
            r.tier,
            r.action,
            f"[{style[r.result]}]{r.result}[/]",
            changes,
            f"{r.seconds:.1f}" if r.result != "not run" else "",
            r.note,
        )
    return table


def _budget_misses(config: dict[str, str], secret_keys: list[str]) -> dict | None:
    from components.budget import budget_inputs_from_config, compute_budget
    from components.config import decode_engine_config, parse_stack_config

    budget = compute_budget(budget_inputs_from_config(parse_stack_config(*decode_engine_config(config, secret_keys))))
    return budget.to_json() if budget.misses() else None


def main(
    args: argparse.Namespace, command_factory: Callable[[], object] | None = None, work_dir: Path = PROJECT_DIR
) -> int:
    """The CLI: exit codes EXIT_* above."""
    from rich.console import Console

    from drctl.render import render_budget
    from drctl.stackfile import StackFileError, load_stack_config, load_stack_document

    console = Console(width=None if sys.stdout.isatty() else 160)  # CI logs: one summary line per tier
    if args.preview and args.configure_only:
        print("error: --preview and --configure-only: give one or the other", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    try:
        document = load_stack_document(work_dir, args.stack)
        config, secret_keys = load_stack_config(work_dir, args.stack)
        plan = plan_deployment(args.stack, config, secret_keys, organization=args.org, require_organization=True)
    except (StackFileError, PlanError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    unknown = [t for t in args.tiers or [] if t not in plan.by_name]
    if unknown:
        print(
            f"error: --tier {unknown[0]}: not a tier of {args.stack}; its tiers are "
            f"{', '.join(t.name for t in plan.tiers)}",
            file=sys.stderr,
        )
        return EXIT_CONFIG_ERROR
    missed = _budget_misses(config, secret_keys)
    if missed:
        console.print(render_budget(missed))
        print(f"error: the RTO/RPO budget of {args.stack} misses its objectives; no tier was run", file=sys.stderr)
        return EXIT_POLICY_VIOLATION
    try:
        command = (command_factory or _installed_command)()
    except FileNotFoundError:
        print(f"error: {INSTALL_HINT}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    options = DeployOptions(
        preview=args.preview,
        configure_only=args.configure_only,
        refresh=args.refresh,
        expect_no_changes=args.expect_no_changes,
        parallel=args.parallel,
        suppress_outputs=args.suppress_outputs,
    )
    runs = Deployer(plan, document, command, options, work_dir=work_dir, echo=print).run(args.tiers)
    console.print(render_summary(runs, plan))
    return exit_code(runs)


def _installed_command():
    """The pulumi CLI on PATH (FileNotFoundError when there is none)."""
    from pulumi.automation import PulumiCommand

    return PulumiCommand()
