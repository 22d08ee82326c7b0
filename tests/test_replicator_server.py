"""Both directions of replication against the moto *server* on loopback: the handler, the client and the stream
reader talk HTTP to AWS endpoints, as they would to DynamoDB."""

from __future__ import annotations

import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer

from failover.client import VersionedTable
from tests.replication_env import EAST, TABLE, WEST, FakeContext, StreamReader, create_table, replicator, scan


@pytest.fixture
def server(monkeypatch):
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    url = f"http://{host}:{port}"
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": EAST,
        "AWS_ENDPOINT_URL": url,
    }.items():
        monkeypatch.setenv(k, v)
    reset = lambda: urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10)  # noqa: E731
    reset()  # every ThreadedMotoServer in a process shares one state
    yield url
    reset()
    moto.stop()


def test_both_directions_over_http_converge_and_publish_their_lag(server):
    readers = {r: StreamReader(r, create_table(r)) for r in (EAST, WEST)}
    assert readers[EAST].streams.meta.endpoint_url.startswith("http://127.0.0.1")
    tables = {r: VersionedTable(boto3.resource("dynamodb", region_name=r).Table(TABLE), region=r) for r in readers}
    tables[EAST].put({"pk": "order#1", "total": 10}, version=100)
    tables[WEST].put({"pk": "order#1", "total": 99}, version=100)  # same version: us-west-2 > us-east-1 wins
    tables[EAST].put({"pk": "order#2", "total": 20}, version=101)
    tables[WEST].delete({"pk": "order#2"}, version=102)
    tables[WEST].put({"pk": "order#3", "total": 30}, version=103)
    reps = {EAST: replicator(EAST, WEST, workers=4), WEST: replicator(WEST, EAST, workers=4)}
    for _ in range(2):  # the second round carries only echoes
        for source in (EAST, WEST):
            records = readers[source].fetch()
            if records:
                assert reps[source].handle({"Records": records}, FakeContext()) == {"batchItemFailures": []}
    assert scan(EAST) == scan(WEST)
    assert tables[EAST].get({"pk": "order#1"})["total"] == 99
    assert tables[EAST].get({"pk": "order#2"}) is None and tables[WEST].get({"pk": "order#2"}) is None
    assert tables[EAST].get({"pk": "order#3"})["total"] == 30
    for receiving, source in ((WEST, EAST), (EAST, WEST)):
        metrics = boto3.client("cloudwatch", region_name=receiving).list_metrics(Namespace="DynamoDR/Replication")
        assert {tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in metrics["Metrics"]} == {
            (("SourceRegion", source), ("TableName", TABLE))
        }
