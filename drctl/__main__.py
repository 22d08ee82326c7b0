"""`python -m drctl preview --stack NAME [--json]`: the offline preview; `budget` prints the RTO/RPO budget."""

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
    args = parser.parse_args(argv)

    from drctl.preview import PreviewConfigError, run_preview
    from drctl.stackfile import StackFileError
    from policies.levels import PolicyConfigError

    try:
        if args.command == "budget":
            return _budget(args.stack, args.stack_file)
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
    from drctl.render import render_budget
    from drctl.stackfile import load_stack_config

    raw, secret = decode_engine_config(*load_stack_config(PROJECT_DIR, stack, stack_file))
    try:
        cfg = parse_stack_config(raw, secret)
    except ConfigError as exc:
        raise PreviewConfigError(str(exc)) from None
    Console().print(render_budget(compute_budget(budget_inputs_from_config(cfg)).to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
