"""Benchmark: wall time of the offline preview of a deployment's tier stacks against its one-stack preview.

    venv/bin/python bench/tier_preview_bench.py [--runs 3] [--stacks prod do]

Each run is a fresh process, as a user runs it: `drctl preview --stack S --json` (one stack) and
`drctl preview --stack S --all-tiers --json` (every tier stack, each tier's StackReferences answered by the
previews of the tiers it reads), and `drctl preview --stack S --tier traffic --json` (the tier that reads all
the others, so it previews every tier before it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stacks", nargs="+", default=["prod", "staging", "do", "ovh"])
    args = parser.parse_args()
    preview = [sys.executable, "-m", "drctl", "preview", "--json", "--stack"]
    print(f"{'stack':8} {'one stack':>10} {'all tiers':>10} {'traffic':>10}   (median of {args.runs} runs, seconds)")
    for stack in args.stacks:
        figures = []
        for extra in ([], ["--all-tiers"], ["--tier", "traffic"]):
            figures.append(statistics.median(timed([*preview, stack, *extra]) for _ in range(args.runs)))
        print(f"{stack:8} {figures[0]:10.2f} {figures[1]:10.2f} {figures[2]:10.2f}")


if __name__ == "__main__":
    main()
