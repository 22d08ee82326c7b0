"""`drctl drill`'s command line: its arguments, and the dispatch to the loopback drill, its self-test or a live
drill. Kept beside the drill so the CLI's entry module stays a table of subcommands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from drctl.arguments import float_between

EXIT_FAILED = 1
EXIT_USAGE = 2


def add_drill_parser(sub) -> None:
    """`drctl drill`: the loopback drill, its self-test, and --live in the user's account."""
    drill = sub.add_parser(
        "drill", help="run the DR drill on loopback: faults, a history checker, RTO/RPO against the production budget"
    )
    which = drill.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every scenario (default: the default set)")
    which.add_argument(
        "--scenario", action="append", metavar="NAME", help="run this scenario (repeatable); `--list` shows them"
    )
    which.add_argument("--list", action="store_true", help="list the scenarios and exit")
    which.add_argument(
        "--self-test",
        action="store_true",
        help="inject known defects into a copy of the runtime; exit 0 only if the drill catches each",
    )
    which.add_argument(
        "--live",
        action="store_true",
        help="run one FIS experiment (dr:drill.fis) against one region's site in your account; needs --stack and "
        "--region",
    )
    drill.add_argument(
        "--mode",
        choices=("strong", "eventual"),
        default="strong",
        help="the data table: strongly consistent, or eventual with the streams replicator",
    )
    drill.add_argument(
        "--control",
        choices=("strong", "eventual"),
        help="the control table's consistency (default: what the stack declares)",
    )
    drill.add_argument(
        "--stack", help="the reference stack whose timers are scaled (default prod); --live: the deployed stack"
    )
    drill.add_argument("--region", help="--live: the region whose site takes the fault")
    drill.add_argument(
        "--action",
        choices=("connectivity", "replication", "tasks"),
        default="connectivity",
        help="--live: cut the site's subnets off, pause the data table's replica, or stop the site's tasks",
    )
    drill.add_argument("--yes", action="store_true", help="--live: start without asking (needed without a terminal)")
    drill.add_argument("--stack-file", type=Path, help="--live: read the config from this file instead")
    drill.add_argument("--factor", type=_time_factor, default=None, help="time scale: production / drill (10)")
    drill.add_argument("--defect", action="append", metavar="NAME", help="--self-test: only these defects")
    drill.add_argument("--svg", action="store_true", help="draw the timelines as SVG (text) instead of PNG")
    drill.add_argument(
        "--out",
        type=Path,
        default=Path("drill-out"),
        help="folder for drill-report.json and the timelines (default: drill-out)",
    )


_time_factor = float_between(2, 20, "{text!r} is not a time scale between 2 and 20")


def run_drill_command(args: argparse.Namespace) -> int:
    """Exit 0 when every scenario passes, 1 when one does not, 2 for a usage error."""
    from drctl.drill.scenarios import BY_NAME, DEFAULT, SCENARIOS

    if args.live:
        return _drill_live(args)
    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name}{' (default)' if scenario.default else ''}: {scenario.description}")
        return 0
    unknown = [n for n in (args.scenario or []) if n not in BY_NAME]
    if unknown:
        print(f"error: --scenario {unknown[0]}: unknown; one of {', '.join(BY_NAME)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: --out {args.out}: cannot create the folder ({exc.strerror})", file=sys.stderr)
        return EXIT_USAGE
    if not args.out.is_dir():
        print(f"error: --out {args.out}: not a folder", file=sys.stderr)
        return EXIT_USAGE
    from drctl.drill.runner import ensure_environment, run_drill, watchdog
    from drctl.drill.timescale import DEFAULT_FACTOR

    ensure_environment()
    factor = args.factor or DEFAULT_FACTOR
    if args.self_test:
        from drctl.drill.selftest import run_self_test

        return run_self_test(args.out, defects=args.defect, factor=factor)
    selection = [s.name for s in SCENARIOS] if args.all else (args.scenario or list(DEFAULT))
    watchdog(len(selection))
    _, code = run_drill(
        selection,
        args.mode,
        args.out,
        factor=factor,
        stack=args.stack or "prod",
        control=args.control,
        picture_format="svg" if args.svg else "png",
    )
    return code


def _drill_live(args: argparse.Namespace) -> int:
    """Exit 0 when the live drill passes, 1 when it does not, 2 for a usage error (nothing started)."""
    if not args.stack or not args.region:
        print("error: --live needs --stack and --region", file=sys.stderr)
        return EXIT_USAGE
    from botocore.exceptions import BotoCoreError, ClientError

    from drctl.drill.live_cli import LiveUsageError, run_live

    try:
        _, code = run_live(
            args.stack,
            args.region,
            args.action,
            args.out,
            yes=args.yes,
            stdin=sys.stdin,
            stdout=sys.stdout,
            stack_file=args.stack_file,
        )
    except LiveUsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (BotoCoreError, ClientError) as exc:  # credentials, permissions, throttling: a running experiment is stopped
        print(f"error: AWS: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted; a running experiment was asked to stop", file=sys.stderr)
        return EXIT_FAILED
    return code
