"""Benchmark: failover transition and monitor round latency against the moto server on loopback,
with every region healthy, and with the failed region hung (accepts connections, never answers).

    venv/bin/python bench/runtime_bench.py [--runs 50] [--hung-runs 5]

Healthy: each run builds a fresh world (control table, SSM in 3 regions, ECS, SNS->SQS) on one moto
server, arms two observers (a monitor round each), then times one `handler()` call for a health alarm (both
fenced writes and every step done; the settle wait set to 0, so the figure is the runtime's own work), and one
monitor round (3 real local HTTP health endpoints probed, observer record saved).

Hung: the primary's AWS endpoints and health URL point at a loopback socket that never answers, with
eventual consistency (so the lag gate reads CloudWatch in the hung region); the other observers' votes are
recorded; timed are one monitor round and the alarm transition, for 2 regions (and the witness region's
observer) and 6.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")

import requests
from moto.server import ThreadedMotoServer

from failover import orchestrator as orch
from failover.settings import load_settings
from tests.runtime_env import REGIONS, Clock, HealthServer, HungServer, alarm_event, build_world

SIX = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, values: list[float]) -> None:
    print(
        f"{name}: n={len(values)} median {statistics.median(values) * 1000:.0f} ms, "
        f"p99 {pct(values, 0.99) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
    )


def healthy_runs(url: str, runs: int) -> None:
    servers = {r: HealthServer() for r in REGIONS}
    transitions, rounds = [], []
    try:
        for _ in range(runs):
            requests.post(f"{url}/moto-api/reset", timeout=10)
            world = build_world(servers, DR_LEASE_SECONDS="0")
            os.environ.update(world["env"])
            for observer in ("us-east-2", "us-west-2"):  # armed: they saw every region healthy
                orch.Orchestrator(load_settings({**os.environ, "DR_HOME_REGION": observer})).handle(
                    orch.Request("monitor")
                )
            servers["us-east-1"].healthy = False
            start = time.perf_counter()
            result = orch.handler(alarm_event("us-east-1"))
            transitions.append(time.perf_counter() - start)
            assert result["outcome"] == "transitioned", result
            servers["us-east-1"].healthy = True
            start = time.perf_counter()
            assert orch.handler({"action": "monitor"})["outcome"] == "noop"
            rounds.append(time.perf_counter() - start)
    finally:
        for s in servers.values():
            s.close()
    report("healthy, 3 regions: transition (alarm -> both fenced writes and every step; no settle wait)", transitions)
    report("healthy, 3 regions: monitor round (3 probes, observer saved)", rounds)


def hung_runs(url: str, count: int, runs: int) -> None:
    regions = SIX[:count]
    rounds, transitions, target_written = [], [], []
    for _ in range(runs):
        requests.post(f"{url}/moto-api/reset", timeout=10)
        hung, servers = HungServer(), {r: HealthServer() for r in regions[1:]}
        try:
            os.environ["AWS_DEFAULT_REGION"] = regions[1]
            witness = ["us-west-2"] if count == 2 else []
            world = build_world(
                servers,
                regions=regions,
                home=regions[1],
                DR_RPO_SECONDS="5",
                DR_DATA_TABLE="orders",
                DR_LEASE_SECONDS="0",
                DR_OBSERVER_REGIONS=",".join(regions + witness),
            )
            urls = {r: s.url for r, s in servers.items()}
            urls[regions[0]] = f"{hung.url}/health"
            env = {**os.environ, **world["env"], "DR_HEALTH_URLS": json.dumps(urls)}
            clock = Clock(time.time())

            def make(endpoint):
                return orch.Orchestrator(
                    load_settings(env),
                    clock=clock,
                    sleep=clock.sleep,
                    monotonic=clock,
                    endpoints={regions[0]: endpoint},
                )

            armed = make(url)
            armed.store.claim_observer(regions[1], "bench")
            armed.store.save_observation(
                orch.Observation(
                    regions[1], at=clock.t - 10, seen_at=clock.t - 10, last_success={regions[0]: clock.t - 10}
                ),
                "bench",
            )
            make(url).handle(orch.Request("monitor"))  # records lag before the outage (a quiet table)
            clock.t += 10
            start = time.perf_counter()
            make(hung.url).handle(orch.Request("monitor"))
            rounds.append(time.perf_counter() - start)
            clock.t += 10
            o = make(hung.url)
            written: list[float] = []
            real_activate = o.store.activate

            def timed_activate(*args, **kwargs):  # the second fenced write: the target's clients may write
                out = real_activate(*args, **kwargs)
                written.append(time.perf_counter())
                return out

            o.store.activate = timed_activate
            for other in regions[2:] + witness:  # the other observers saw the region fail too
                o.store.claim_observer(other, "bench")
                o.store.save_observation(
                    orch.Observation(
                        other,
                        at=clock.t,
                        seen_at=clock.t,
                        failures={regions[0]: 3},
                        failing_since={regions[0]: clock.t - 20},
                        last_success={regions[0]: clock.t - 30},
                        latest={regions[0]: False, regions[1]: True},
                    ),
                    "bench",
                )
            start = time.perf_counter()
            result = o.handle(
                orch.Request(
                    "alarm",
                    alarm_region=regions[0],
                    alarm_state="ALARM",
                    alarm_old_state="OK",
                    alarm_at=clock.t,
                    reason="bench",
                )
            )
            transitions.append(time.perf_counter() - start)
            target_written.append(written[0] - start)
            assert result.outcome == "transitioned", result
        finally:
            hung.close()
            for s in servers.values():
                s.close()
    report(f"hung primary, {count} regions: monitor round", rounds)
    report(f"hung primary, {count} regions: transition, target activated (writes may move)", target_written)
    report(
        f"hung primary, {count} regions: transition, handler returned (the hung region's calls abandoned)", transitions
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--hung-runs", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    orch.logger.setLevel("CRITICAL")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-2",
            "AWS_ENDPOINT_URL": url,
        }
    )
    try:
        healthy_runs(url, args.runs)
        for count in (2, 6):
            hung_runs(url, count, args.hung_runs)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
