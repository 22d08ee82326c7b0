"""The `diagram` subcommand."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True)


def main(args: argparse.Namespace) -> int:
    return 2
