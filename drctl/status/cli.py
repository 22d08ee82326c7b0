"""The `status` subcommand: its arguments and its run (exit codes as `drctl verify`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from drctl.arguments import float_between

EXIT_USAGE = 2
DEFAULT_WATCH_SECONDS = 5.0


_watch_seconds = float_between(1, 3600, "expected seconds between 1 and 3600, got {text!r}")


def add_arguments(parser: argparse.ArgumentParser, timeout_type) -> None:
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--stack-file", type=Path, help="read the config from this file instead")
    parser.add_argument(
        "--watch",
        nargs="?",
        type=_watch_seconds,
        const=DEFAULT_WATCH_SECONDS,
        metavar="SECONDS",
        help=f"redraw in place every SECONDS (default {DEFAULT_WATCH_SECONDS:g}) until interrupted",
    )
    parser.add_argument(
        "--timeout", type=timeout_type, default=None, help="read deadline of each AWS call in seconds (default 3)"
    )


def main(args: argparse.Namespace) -> int:
    """Exit 0 when nothing needs attention, 1 for a finding, 2 for usage, config or credential errors."""
    import boto3

    from drctl.preview import PreviewConfigError, as_json, run_preview
    from drctl.stackfile import StackFileError
    from drctl.status.gather import gather_status
    from drctl.status.view import render_status, watch_live
    from drctl.verify import (
        DEFAULT_READ_TIMEOUT_SECONDS,
        VerifyUsageError,
        check_credentials,
        declared_from_document,
        session_clients,
    )

    if args.json and args.watch:
        print("error: --json and --watch: give one or the other", file=sys.stderr)
        return EXIT_USAGE
    try:
        session = boto3.Session()
        check_credentials(session)  # before the preview's few seconds
        declared = declared_from_document(as_json(run_preview(args.stack, stack_file=args.stack_file)))
        timeout = args.timeout or DEFAULT_READ_TIMEOUT_SECONDS
        client = session_clients(session, timeout)  # made once: a watch reuses them

        def gather():
            return gather_status(declared, session=session, client=client, read_timeout=timeout)

        from rich.console import Console

        console = Console()
        if args.watch:
            return watch_live(gather, console, args.watch)
        facts = gather()
    except (StackFileError, PreviewConfigError, VerifyUsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        json.dump(facts.to_json(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        console.print(render_status(facts, console.width), crop=False)
    return 0 if facts.ok else 1
