"""The `diagram` subcommand: preview the stack offline, build its topology, write the DOT text or let Graphviz's
`dot` draw it; the format comes from the file's extension."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

EXIT_USAGE = 2
FORMATS = {".svg": "svg", ".png": "png", ".dot": "dot"}
DOT_TIMEOUT_SECONDS = 60


class DiagramError(Exception):
    """The picture cannot be written; the message is the one line to show."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="FILE",
        help="the picture: FILE.svg or FILE.png (drawn by Graphviz dot), or FILE.dot",
    )
    parser.add_argument("--stack-file", type=Path, help="read the config from this file instead")


def output_format(path: Path) -> str:
    """`svg`, `png` or `dot`, from the file's extension; DiagramError for any other."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DiagramError(f"--out {path}: unknown extension {path.suffix or '(none)'!r}; use .svg, .png or .dot")
    return fmt


def draw(dot_text: str, out: Path, fmt: str) -> None:
    """Write `dot_text` to `out` as `fmt`: the text itself, or Graphviz's drawing of it."""
    if fmt == "dot":
        out.write_text(dot_text, encoding="utf-8")
        return
    dot = shutil.which("dot")
    if dot is None:
        raise DiagramError("Graphviz `dot` is not installed (Debian's graphviz; `make test` installs it)")
    done = subprocess.run(
        [dot, f"-T{fmt}", "-o", str(out)], input=dot_text.encode(), capture_output=True, timeout=DOT_TIMEOUT_SECONDS
    )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise DiagramError(f"dot failed ({done.returncode}): {message[0] if message else 'no message'}")


def stack_topology(stack: str, stack_file: Path | None = None):
    """The offline preview and the validated config of `stack`, as a Topology."""
    from components.config import ConfigError, decode_engine_config, parse_stack_config
    from drctl.diagram.topology import topology_from
    from drctl.preview import PROJECT_DIR, PreviewConfigError, as_json, run_preview
    from drctl.stackfile import load_stack_config

    document = as_json(run_preview(stack, stack_file=stack_file))
    raw, secret = decode_engine_config(*load_stack_config(PROJECT_DIR, stack, stack_file))
    try:
        cfg = parse_stack_config(raw, secret)
    except ConfigError as exc:
        raise PreviewConfigError(str(exc)) from None
    return topology_from(document, cfg)


def main(args: argparse.Namespace) -> int:
    """Exit 0 when the picture is written, 2 for usage, config or Graphviz errors (one line on stderr)."""
    from drctl.diagram.dot import to_dot
    from drctl.preview import PreviewConfigError
    from drctl.stackfile import StackFileError

    try:
        fmt = output_format(args.out)
        if not args.out.parent.is_dir():
            raise DiagramError(f"--out {args.out}: no such folder {args.out.parent}")
        if fmt != "dot" and shutil.which("dot") is None:
            draw("", args.out, fmt)  # says dot is missing, before the preview's few seconds
        draw(to_dot(stack_topology(args.stack, args.stack_file)), args.out, fmt)
    except (DiagramError, StackFileError, PreviewConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {args.out}")
    return 0
