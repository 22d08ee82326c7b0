"""Benchmark: items per second the streams replicator copies, against a raw BatchWriteItem of the same items,
both into the same moto server on loopback.

    venv/bin/python bench/replicator_bench.py [--items 1000] [--runs 3] [--workers 1 8] [--in-process]

The source table (us-east-1) is filled and its stream read with GetRecords beforehand (not timed). Timed:
(a) BatchWriteItem of the new images, 25 per call, into a fresh table in us-west-2; (b) the same conditional
PutItem the replicator sends, one at a time, without the handler (the floor for one worker); (c) the
replicator's `handle()` on the same records in Lambda's default batches of 100, for each worker count, into a
fresh table.
The replicator does one conditional PutItem per record (BatchWriteItem cannot carry conditions) plus one
PutMetricData per batch. By default the moto server runs in its own process, so that the client's threads do
not share a GIL with the server; `--in-process` uses moto's ThreadedMotoServer instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")

import boto3  # noqa: E402

from failover import replicator as replicator_module  # noqa: E402
from failover.replication import Stamp, newer_condition, stamp_of, with_stamp  # noqa: E402
from failover.replicator import Replicator  # noqa: E402
from failover.settings import ReplicatorSettings  # noqa: E402
from tests.replication_env import EAST, WEST, FakeContext, StreamReader, create_table  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(in_process: bool):
    """(endpoint URL, stop function) of a moto server on loopback."""
    if in_process:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        return f"http://{host}:{port}", server.stop
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("the moto server did not start") from None
            time.sleep(0.2)

    def stop():
        proc.terminate()
        proc.wait(timeout=10)

    return url, stop


def fill_source(items: int) -> list[dict]:
    """Stamped items written to us-east-1's table; returns its stream records as Lambda delivers them."""
    reader = StreamReader(EAST, create_table(EAST, "bench-source"))
    ddb = boto3.client("dynamodb", region_name=EAST)
    payload = {"S": "x" * 200}
    for start in range(0, items, 25):
        requests = [
            {
                "PutRequest": {
                    "Item": with_stamp(
                        {"pk": {"S": f"item#{i:07d}"}, "payload": payload, "n": {"N": str(i)}},
                        Stamp(1_700_000_000_000_000 + i, EAST),
                    )
                }
            }
            for i in range(start, min(items, start + 25))
        ]
        ddb.batch_write_item(RequestItems={"bench-source": requests})
    records = reader.fetch()
    assert len(records) == items, (len(records), items)
    return records


def raw_batch_write(records: list[dict], table: str) -> float:
    create_table(WEST, table)
    ddb = boto3.client("dynamodb", region_name=WEST)
    images = [r["dynamodb"]["NewImage"] for r in records]
    start = time.perf_counter()
    for i in range(0, len(images), 25):
        pending = {table: [{"PutRequest": {"Item": item}} for item in images[i : i + 25]]}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None
    return time.perf_counter() - start


def conditional_puts(records: list[dict], table: str) -> float:
    """The replicator's writes without the handler: one conditional PutItem per record, one at a time."""
    create_table(WEST, table)
    ddb = boto3.client("dynamodb", region_name=WEST)
    writes = [(r["dynamodb"]["NewImage"], stamp_of(r["dynamodb"]["NewImage"])) for r in records]
    start = time.perf_counter()
    for item, stamp in writes:
        expression, names, values = newer_condition(stamp)
        ddb.put_item(
            TableName=table,
            Item=item,
            ConditionExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                k: ({"N": str(v)} if isinstance(v, int) else {"S": v}) for k, v in values.items()
            },
        )
    return time.perf_counter() - start


def replicate(records: list[dict], table: str, workers: int) -> float:
    create_table(WEST, table)
    rep = Replicator(
        ReplicatorSettings(source_region=EAST, receiving_region=WEST, receiving_table=table, workers=workers)
    )
    start = time.perf_counter()
    for i in range(0, len(records), 100):
        out = rep.handle({"Records": records[i : i + 100]}, FakeContext())
        assert out == {"batchItemFailures": []}, out
    elapsed = time.perf_counter() - start
    count = boto3.client("dynamodb", region_name=WEST).scan(TableName=table, Select="COUNT")["Count"]
    assert count == len(records), (count, len(records))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    replicator_module.logger.setLevel("CRITICAL")
    url, stop = start_server(args.in_process)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": EAST,
            "AWS_ENDPOINT_URL": url,
        }
    )
    rates: dict[str, list[float]] = {"BatchWriteItem (25 per call)": [], "conditional PutItem, no handler": []}
    rates.update({f"replicator, {w} worker{'s' if w > 1 else ''}": [] for w in args.workers})
    try:
        records = fill_source(args.items)
        for run in range(args.runs):
            rates["BatchWriteItem (25 per call)"].append(args.items / raw_batch_write(records, f"raw-{run}"))
            rates["conditional PutItem, no handler"].append(args.items / conditional_puts(records, f"put-{run}"))
            for w in args.workers:
                label = f"replicator, {w} worker{'s' if w > 1 else ''}"
                rates[label].append(args.items / replicate(records, f"rep-{w}-{run}", w))
    finally:
        stop()
    baseline = statistics.median(rates["BatchWriteItem (25 per call)"])
    server = "ThreadedMotoServer in this process" if args.in_process else "moto server in its own process"
    print(f"{args.items} items of ~260 bytes, median of {args.runs} runs, {server}, 127.0.0.1")
    for label, values in rates.items():
        median = statistics.median(values)
        print(
            f"  {label:<30} {median:8.0f} items/s  ({median / baseline:.2f} x BatchWriteItem; "
            f"runs: {', '.join(f'{v:.0f}' for v in values)})"
        )


if __name__ == "__main__":
    main()
