"""Benchmark: latency of a failover transition and of a monitor tick against the moto server on loopback.

    venv/bin/python bench/runtime_bench.py [--runs 200]

Each transition run builds a fresh world (control table, SSM in 3 regions, ECS, SNS->SQS) on one
moto server, then times one `handler()` call for a health alarm; each monitor run times one
`{"action": "monitor"}` tick with all three health endpoints (real local HTTP servers) probed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")

import logging  # noqa: E402

import requests  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from failover import orchestrator as orch  # noqa: E402
from tests.runtime_env import REGIONS, HealthServer, alarm_event, build_world  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    orch.logger.setLevel("CRITICAL")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-2", "AWS_ENDPOINT_URL": url})
    servers = {r: HealthServer() for r in REGIONS}
    transitions, ticks = [], []
    try:
        for _ in range(args.runs):
            requests.post(f"{url}/moto-api/reset", timeout=10)
            world = build_world(servers)
            os.environ.update(world["env"])
            servers["us-east-1"].healthy = False
            start = time.perf_counter()
            result = orch.handler(alarm_event("us-east-1"))
            transitions.append(time.perf_counter() - start)
            assert result["outcome"] == "transitioned", result
            servers["us-east-1"].healthy = True
            start = time.perf_counter()
            orch.handler({"action": "monitor"})
            ticks.append(time.perf_counter() - start)
    finally:
        for s in servers.values():
            s.close()
        server.stop()
    for name, values in (("transition (alarm -> all steps done)", transitions), ("monitor tick (3 probes)", ticks)):
        print(f"{name}: n={len(values)} median {statistics.median(values) * 1000:.1f} ms, "
              f"p99 {pct(values, 0.99) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
