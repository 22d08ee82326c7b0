"""`python -m drctl preview --stack NAME [--json]`: the offline preview; `budget` prints the RTO/RPO budget;
`verify` checks a live deployment against its stack;
`haproxy --stack NAME --site SITE` prints one OVHcloud site's haproxy.cfg as it would be deployed;
`drill [--short] [--mode strong|eventual] [--out DIR]` runs the DR drill on loopback."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_POLICY_VIOLATION = 1
EXIT_CONFIG_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drctl", description="Operator CLI for the DynamoDB DR stacks.")
    sub = parser.add_subparsers(dest="command", required=True)
    preview = sub.add_parser("preview", help="preview a stack offline, under Pulumi's mocks")
    preview.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    preview.add_argument("--json", action="store_true", help="print one JSON document")
    preview.add_argument("--stack-file", type=Path, help="read the config from this file instead")
    preview.add_argument("--policy-config", type=Path,
                         help="policy levels JSON (default: policies/config.<stack>.json when present)")
    budget = sub.add_parser("budget", help="print a stack's RTO/RPO budget from its config alone")
    budget.add_argument("--stack", required=True)
    budget.add_argument("--stack-file", type=Path, help="read the config from this file instead")
    verify = sub.add_parser("verify", help="check a live deployment against what its stack declares (read-only)")
    verify.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    verify.add_argument("--json", action="store_true", help="print one JSON document")
    verify.add_argument("--stack-file", type=Path, help="read the config from this file instead")
    verify.add_argument("--timeout", type=_positive_seconds, default=None,
                        help="read deadline of each AWS call in seconds (default 3)")
    haproxy = sub.add_parser("haproxy", help="print one ovh-hybrid site's haproxy.cfg as it would be deployed")
    haproxy.add_argument("--stack", required=True)
    haproxy.add_argument("--site", required=True, help="site name (dr:sites[].name, e.g. gra)")
    haproxy.add_argument("--stack-file", type=Path, help="read the config from this file instead")
    haproxy.add_argument("--salt", help="the deployed salt (the site's statsSalt output); default: the preview's")
    haproxy.add_argument("--password-stdin", action="store_true", help="read the stats password from stdin")
    drill = sub.add_parser("drill", help="run the DR drill on loopback: measure detection, RTO and RPO end to end")
    drill.add_argument("--short", action="store_true", help="fewer, shorter scenarios (what the tests run)")
    drill.add_argument("--mode", choices=("strong", "eventual"), default="strong",
                       help="replication: emulated synchronously (strong) or the streams replicator (eventual)")
    drill.add_argument("--out", type=Path, default=Path("drill-out"),
                       help="folder for drill-report.json and the timelines (default: drill-out)")
    args = parser.parse_args(argv)

    if args.command == "drill":
        return _drill(args)

    from drctl.preview import PROJECT_DIR, PreviewConfigError, run_preview
    from drctl.stackfile import StackFileError
    from policies.levels import PolicyConfigError

    if args.command == "verify":
        return _verify(args)
    try:
        if args.command == "budget":
            return _budget(args.stack, args.stack_file)
        if args.command == "haproxy":
            from drctl import haproxy as haproxy_command

            try:
                return haproxy_command.main(args.stack, args.site, args.stack_file, args.salt, args.password_stdin,
                                            PROJECT_DIR)
            except haproxy_command.HaproxyCommandError as exc:
                raise PreviewConfigError(str(exc)) from None
        result = run_preview(args.stack, stack_file=args.stack_file, policy_config=args.policy_config)
    except (StackFileError, PreviewConfigError, PolicyConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR

    from drctl.render import as_json, print_human

    if args.json:
        json.dump(as_json(result), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        from rich.console import Console

        print_human(result, Console())
    return EXIT_POLICY_VIOLATION if result.blocked else 0


def _budget(stack: str, stack_file: Path | None) -> int:
    """The budget straight from the validated config, without declaring any resource."""
    from rich.console import Console

    from components.budget import budget_inputs_from_config, compute_budget
    from components.config import ConfigError, decode_engine_config, parse_stack_config
    from drctl.preview import PROJECT_DIR, PreviewConfigError
    from drctl.render import budget_misses, render_budget
    from drctl.stackfile import load_stack_config

    raw, secret = decode_engine_config(*load_stack_config(PROJECT_DIR, stack, stack_file))
    try:
        cfg = parse_stack_config(raw, secret)
    except ConfigError as exc:
        raise PreviewConfigError(str(exc)) from None
    budget = compute_budget(budget_inputs_from_config(cfg)).to_json()
    Console().print(render_budget(budget))
    return EXIT_POLICY_VIOLATION if budget_misses(budget) else 0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"expected seconds between 0 and 60, got {text!r}")
    return value


def _verify(args: argparse.Namespace) -> int:
    """Exit 0 when every check passes, 1 when one fails, 2 for usage, config or credential errors."""
    from drctl.preview import PreviewConfigError
    from drctl.stackfile import StackFileError
    from drctl.verify import DEFAULT_READ_TIMEOUT_SECONDS, VerifyUsageError, exit_code, render_report, run_verify

    try:
        report = run_verify(args.stack, stack_file=args.stack_file,
                            read_timeout=args.timeout or DEFAULT_READ_TIMEOUT_SECONDS)
    except (StackFileError, PreviewConfigError, VerifyUsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from rich.console import Console

        Console().print(render_report(report))
    return exit_code(report)


def _drill(args: argparse.Namespace) -> int:
    """Exit 0 when every scenario is within budget, 1 when one is not, 2 for a usage error."""
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: --out {args.out}: cannot create the folder ({exc.strerror})", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if not args.out.is_dir():
        print(f"error: --out {args.out}: not a folder", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    from drctl.drill.runner import ensure_environment, run_drill, watchdog

    ensure_environment()
    watchdog(args.short)
    _, code = run_drill(args.mode, args.short, args.out)
    return code


if __name__ == "__main__":
    sys.exit(main())
