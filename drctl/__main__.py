"""`python -m drctl preview --stack NAME [--tier T | --all-tiers] [--json]`: the offline preview, of one stack or
of tier stacks; `stacks` lists a base stack's tier stacks in deploy order; `deploy` runs the tier stacks through
the Automation API; `budget` prints the RTO/RPO budget; `verify` checks a live deployment against its stack; `status` shows its live
state (`--watch` redraws it); `diagram` draws a stack's topology;
`haproxy --stack NAME --site SITE` prints one OVHcloud site's haproxy.cfg as it would be deployed;
`conflicts --stack NAME [--since T]` lists the conflicts the streams replicators recorded;
`drill [--all | --scenario NAME] [--mode strong|eventual] [--self-test]` runs the DR drill on loopback;
`drill --live --stack NAME --region R [--action A]` runs one FIS experiment in the stack's own account."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

from drctl.arguments import float_between
from drctl.drill.command import add_drill_parser, run_drill_command

EXIT_POLICY_VIOLATION = 1
# A command's heap is mostly the SDKs' modules and classes, which live as long as the process: with Python's
# default thresholds (700, 10, 10) the collector walks them hundreds of times (a fifth of the offline preview's
# CPU), and once more, whole, when the interpreter shuts down (another quarter). `python -m drctl` collects 70
# times less often and freezes the heap before it exits; `main()` called in a process of its own (the tests)
# leaves the collector alone.
GC_THRESHOLD = (50_000, 20, 100)
EXIT_CONFIG_ERROR = 2
DESCRIPTION = (
    "Operator CLI for the DynamoDB DR stacks: preview a stack offline and print its RTO/RPO budget, list "
    "and deploy its tier stacks, verify a live deployment and show its live state, draw a stack's topology, "
    "print an OVHcloud site's haproxy.cfg, and run the DR drill."
)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one subcommand; its exit code (2 for usage and config errors)."""
    parser = argparse.ArgumentParser(prog="drctl", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        _add_preview,
        _add_stacks,
        _add_deploy,
        _add_budget,
        _add_verify,
        _add_status,
        _add_diagram,
        _add_conflicts,
        _add_haproxy,
        add_drill_parser,
    ):
        add(sub)
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


# -- the subcommands' parsers, in the order `--help` lists them ----------------------------------------------------
def _add_preview(sub) -> None:
    preview = sub.add_parser("preview", help="preview a stack offline, under Pulumi's mocks")
    preview.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    preview.add_argument("--json", action="store_true", help="print one JSON document")
    preview.add_argument("--stack-file", type=Path, help="read the config from this file instead")
    preview.add_argument(
        "--policy-config", type=Path, help="policy levels JSON (default: policies/config.<stack>.json when present)"
    )
    preview.add_argument(
        "--tier",
        action="append",
        dest="tiers",
        metavar="TIER",
        help="preview this tier's stack (repeatable; see `drctl stacks`), its StackReferences "
        "answered by the offline previews of the tiers it reads",
    )
    preview.add_argument("--all-tiers", action="store_true", help="preview every tier's stack, in deploy order")
    preview.add_argument("--org", help="Pulumi organization naming the StackReferences (default: dr:organization)")


def _add_stacks(sub) -> None:
    stacks = sub.add_parser("stacks", help="list a base stack's tier stacks in deploy order (JSON for a CI matrix)")
    stacks.add_argument(
        "--stack",
        action="append",
        dest="stacks",
        metavar="STACK",
        help="base stack (repeatable): reads Pulumi.<stack>.yaml",
    )
    stacks.add_argument("--all", action="store_true", help="every base stack file of the project")
    stacks.add_argument("--json", action="store_true", help='print {"include": [...]} for `fromJSON` in a matrix')
    stacks.add_argument(
        "--wave", type=int, help="only the tiers of this wave (0 data, 1 sites, 2 automation, 3 traffic)"
    )
    stacks.add_argument("--org", help="Pulumi organization (default: dr:organization of each base stack)")
    stacks.add_argument(
        "--production",
        choices=["true", "false"],
        help="only the base stacks whose dr:production is this (CI previews production stacks from main only)",
    )
    stacks.add_argument(
        "--moves",
        choices=["to-tiers", "to-single"],
        help="print the `pulumi state move` commands that move one base stack's resources into its "
        "tier stacks, or back",
    )


def _add_deploy(sub) -> None:
    from drctl.deploy import add_arguments as add_deploy_arguments

    add_deploy_arguments(
        sub.add_parser(
            "deploy", help="preview or update the tier stacks in order (Pulumi Automation API; needs the pulumi CLI)"
        )
    )


def _add_budget(sub) -> None:
    budget = sub.add_parser("budget", help="print a stack's RTO/RPO budget from its config alone")
    budget.add_argument("--stack", required=True)
    budget.add_argument("--stack-file", type=Path, help="read the config from this file instead")


def _add_verify(sub) -> None:
    verify = sub.add_parser("verify", help="check a live deployment against what its stack declares (read-only)")
    verify.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    verify.add_argument("--json", action="store_true", help="print one JSON document")
    verify.add_argument("--stack-file", type=Path, help="read the config from this file instead")
    verify.add_argument(
        "--timeout", type=_positive_seconds, default=None, help="read deadline of each AWS call in seconds (default 3)"
    )


def _add_status(sub) -> None:
    from drctl.status.cli import add_arguments

    add_arguments(sub.add_parser("status", help="show a live deployment's state (read-only)"), _positive_seconds)


def _add_diagram(sub) -> None:
    from drctl.diagram.cli import add_arguments

    add_arguments(sub.add_parser("diagram", help="draw a stack's topology as SVG or PNG (Graphviz dot)"))


def _add_conflicts(sub) -> None:
    from drctl.conflicts import add_arguments

    add_arguments(
        sub.add_parser(
            "conflicts", help="list the writes the streams replicators recorded as lost to a concurrent write"
        ),
        _positive_seconds,
    )


def _add_haproxy(sub) -> None:
    haproxy = sub.add_parser("haproxy", help="print one ovh-hybrid site's haproxy.cfg as it would be deployed")
    haproxy.add_argument("--stack", required=True)
    haproxy.add_argument("--site", required=True, help="site name (dr:sites[].name, e.g. gra)")
    haproxy.add_argument("--stack-file", type=Path, help="read the config from this file instead")
    haproxy.add_argument("--salt", help="the deployed salt (the site's statsSalt output); default: the preview's")
    haproxy.add_argument("--password-stdin", action="store_true", help="read the stats password from stdin")


_positive_seconds = float_between(0, 60, "expected seconds between 0 and 60, got {text!r}", above_low=True)


# -- the subcommands ---------------------------------------------------------------------------------------------
def _config_errors() -> tuple[type[Exception], ...]:
    """What a stack file, its config or the policy config can raise: one line, exit 2."""
    from drctl.preview import PreviewConfigError
    from drctl.stackfile import StackFileError
    from policies.levels import PolicyConfigError

    return StackFileError, PreviewConfigError, PolicyConfigError


def _config_error(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return EXIT_CONFIG_ERROR


def _preview(args: argparse.Namespace) -> int:
    """Exit 1 when a mandatory policy blocks the stack, 2 for config errors."""
    if args.tiers or args.all_tiers:
        return _preview_tiers(args)
    from drctl.preview import run_preview

    try:
        result = run_preview(args.stack, stack_file=args.stack_file, policy_config=args.policy_config)
    except _config_errors() as exc:
        return _config_error(exc)
    if args.json:
        from drctl.preview import as_json

        json.dump(as_json(result), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        from rich.console import Console

        from drctl.render import print_human

        print_human(result, Console())
    return EXIT_POLICY_VIOLATION if result.blocked else 0


def _deploy(args: argparse.Namespace) -> int:
    from drctl.deploy import main as deploy_main

    return deploy_main(args)


def _haproxy(args: argparse.Namespace) -> int:
    from drctl import haproxy as haproxy_command
    from drctl.preview import PROJECT_DIR

    try:
        return haproxy_command.main(args.stack, args.site, args.stack_file, args.salt, args.password_stdin, PROJECT_DIR)
    except haproxy_command.HaproxyCommandError as exc:
        return _config_error(exc)
    except _config_errors() as exc:
        return _config_error(exc)


def _preview_tiers(args: argparse.Namespace) -> int:
    """Exit 1 when a mandatory policy blocks one of the tiers, 2 for usage or config errors."""
    from drctl.preview import PreviewConfigError, as_json, run_tier_previews
    from drctl.render import print_human
    from drctl.stackfile import StackFileError

    if args.tiers and args.all_tiers:
        print("error: --tier and --all-tiers: give one or the other", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    try:
        results = run_tier_previews(
            args.stack,
            None if args.all_tiers else args.tiers,
            stack_file=args.stack_file,
            policy_config=args.policy_config,
            organization=args.org,
        )
    except (StackFileError, PreviewConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.json:
        docs = [as_json(r) for r in results.values()]
        doc = docs[0] if len(docs) == 1 and not args.all_tiers else {"stack": args.stack, "tiers": docs}
        json.dump(doc, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        from rich.console import Console, Group

        from drctl.text import prose

        console = Console()
        for result in results.values():
            console.print(
                Group(*prose(f"=== tier {result.tier}: stack {result.stack}", console.width, style="bold")), crop=False
            )
            print_human(result, console)
    return EXIT_POLICY_VIOLATION if any(r.blocked for r in results.values()) else 0


def _stacks(args: argparse.Namespace) -> int:
    """Exit 0, or 2 naming the stack file or key that is wrong."""
    from drctl.preview import PROJECT_DIR
    from drctl.stackfile import StackFileError, base_stack_names, load_stack_config
    from drctl.stacks import PlanError, dumps, matrix, plan_deployment, render_matrix

    names = base_stack_names(PROJECT_DIR) if args.all else list(args.stacks or [])
    if not names:
        print("error: name a base stack with --stack (or --all)", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    plans = []
    try:
        for name in names:
            config, secret_keys = load_stack_config(PROJECT_DIR, name)
            try:
                plans.append(
                    plan_deployment(name, config, secret_keys, organization=args.org, require_organization=True)
                )
            except PlanError as exc:
                raise StackFileError(f"Pulumi.{name}.yaml: {exc}") from None
    except StackFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.production is not None:
        plans = [p for p in plans if p.production == (args.production == "true")]
    if args.moves:
        return _moves(args, plans)
    document = matrix(plans, wave=args.wave)
    if args.json:
        sys.stdout.write(dumps(document) + "\n")
    else:
        from rich.console import Console

        console = Console()
        console.print(render_matrix(document, console.width), crop=False)
    return 0


def _moves(args: argparse.Namespace, plans: list) -> int:
    from drctl.preview import PreviewConfigError, run_tier_previews
    from drctl.stacks import migration_script

    if len(plans) != 1:
        print("error: --moves: name exactly one base stack with --stack", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    plan = plans[0]
    try:
        previews = run_tier_previews(plan.base, organization=plan.organization)
    except PreviewConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    sys.stdout.write(migration_script(plan, {t: r.resources for t, r in previews.items()}, args.moves))
    return 0


def _budget(args: argparse.Namespace) -> int:
    """Exit 1 when the budget misses an objective, 2 for config errors."""
    try:
        return _print_budget(args.stack, args.stack_file)
    except _config_errors() as exc:
        return _config_error(exc)


def _print_budget(stack: str, stack_file: Path | None) -> int:
    """The budget straight from the validated config, without declaring any resource."""
    from rich.console import Console

    from components.budget import budget_inputs_from_config, compute_budget
    from components.config import ConfigError, decode_engine_config, parse_stack_config
    from drctl.preview import PROJECT_DIR, PreviewConfigError
    from drctl.render import render_budget
    from drctl.stackfile import load_stack_config

    raw, secret = decode_engine_config(*load_stack_config(PROJECT_DIR, stack, stack_file))
    try:
        cfg = parse_stack_config(raw, secret)
    except ConfigError as exc:
        raise PreviewConfigError(str(exc)) from None
    budget = compute_budget(budget_inputs_from_config(cfg))
    Console().print(render_budget(budget.to_json()))
    return EXIT_POLICY_VIOLATION if budget.misses() else 0


def _verify(args: argparse.Namespace) -> int:
    """Exit 0 when every check passes, 1 when one fails, 2 for usage, config or credential errors."""
    from drctl.preview import PreviewConfigError
    from drctl.stackfile import StackFileError
    from drctl.verify import DEFAULT_READ_TIMEOUT_SECONDS, VerifyUsageError, exit_code, render_report, run_verify

    try:
        report = run_verify(
            args.stack, stack_file=args.stack_file, read_timeout=args.timeout or DEFAULT_READ_TIMEOUT_SECONDS
        )
    except (StackFileError, PreviewConfigError, VerifyUsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from rich.console import Console

        console = Console()
        console.print(render_report(report, console.width), crop=False)
    return exit_code(report)


def _conflicts(args: argparse.Namespace) -> int:
    from drctl.conflicts import main as conflicts_main

    return conflicts_main(args)


def _status(args: argparse.Namespace) -> int:
    from drctl.status.cli import main as status_main

    return status_main(args)


def _diagram(args: argparse.Namespace) -> int:
    from drctl.diagram.cli import main as diagram_main

    return diagram_main(args)


COMMANDS = {
    "preview": _preview,
    "stacks": _stacks,
    "deploy": _deploy,
    "budget": _budget,
    "verify": _verify,
    "status": _status,
    "diagram": _diagram,
    "conflicts": _conflicts,
    "haproxy": _haproxy,
    "drill": run_drill_command,
}


def run_as_process(argv: list[str] | None = None) -> int:
    """`python -m drctl`: `main()` with the collector tuned for a short-lived process (`GC_THRESHOLD`)."""
    gc.set_threshold(*GC_THRESHOLD)
    code = main(argv)
    gc.freeze()  # nothing is collected at exit: the process ends, and its memory with it
    return code


if __name__ == "__main__":
    sys.exit(run_as_process())
