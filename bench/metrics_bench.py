"""Benchmark: what publishing the orchestrator's outcome metrics (`failover.metrics.publish_outcome`, EMF through
Powertools) costs one invocation, and how many bytes of log it writes.

    venv/bin/python bench/metrics_bench.py [--runs 7] [--calls 1000]

Standard output is captured in memory (in Lambda it goes to the log group); 3 regions, so 4 EMF lines a call.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from failover.metrics import publish_outcome

REGIONS = ("us-east-1", "us-east-2", "us-west-2")
RESULT = {"outcome": "noop", "activeRegion": "us-east-1", "epoch": 4, "reason": "observed (7 rounds)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("AWS_LAMBDA_FUNCTION_NAME", "orders-prod-dr-orchestrator")
    per_call, size = [], 0.0
    for _ in range(args.runs):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            start = time.perf_counter()
            for _ in range(args.calls):
                publish_outcome(RESULT, REGIONS)
            per_call.append((time.perf_counter() - start) / args.calls)
        size = len(out.getvalue()) / args.calls
    print(
        f"publish_outcome, 3 regions: median {statistics.median(per_call) * 1e3:.3f} ms a call "
        f"(max {max(per_call) * 1e3:.3f} ms), {size:.0f} bytes of EMF a call"
    )


if __name__ == "__main__":
    main()
