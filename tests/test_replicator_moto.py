"""The replicator against moto in-process: real tables with streams in two regions, real stream records read with
GetRecords and fed to the Lambda handler, the lag metric read back from CloudWatch, the client's versioned writes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from failover import replicator as replicator_module
from failover.client import NOT_DELETED, PartialUpdateRefused, VersionClock, VersionedTable, hide_tombstones
from failover.replication import Stamp, is_newer, item_size, newer_condition, stamp_of, with_stamp
from failover.replicator import KeyOrderedBatchProcessor
from failover.settings import ReplicatorSettings
from tests.replication_env import EAST, TABLE, WEST, FakeContext, StreamReader, create_table, replicator, scan

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def aws(monkeypatch):
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": EAST,
        "POWERTOOLS_SERVICE_NAME": "orders-dr-replicator",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def two_regions(aws):
    streams = {EAST: create_table(EAST), WEST: create_table(WEST)}
    readers = {r: StreamReader(r, arn) for r, arn in streams.items()}
    tables = {r: VersionedTable(boto3.resource("dynamodb", region_name=r).Table(TABLE), region=r) for r in streams}
    return readers, tables


def raw(region: str):
    return boto3.client("dynamodb", region_name=region)


def lag_datapoints(region: str, source: str) -> list[float]:
    now = dt.datetime.now(dt.UTC)
    data = boto3.client("cloudwatch", region_name=region).get_metric_data(
        MetricDataQueries=[
            {
                "Id": "lag",
                "ReturnData": True,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "DynamoDR/Replication",
                        "MetricName": "ReplicationLatency",
                        "Dimensions": [
                            {"Name": "TableName", "Value": TABLE},
                            {"Name": "SourceRegion", "Value": source},
                        ],
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                    "Unit": "Milliseconds",
                },
            }
        ],
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=1),
    )
    return data["MetricDataResults"][0]["Values"]


# -- the application's versioned writes ------------------------------------------------------------------------
def test_versioned_writes_stamp_hide_tombstones_and_refuse_older_versions(two_regions):
    _, tables = two_regions
    east = tables[EAST]
    assert east.put({"pk": "a", "n": 1}, version=10)
    assert east.get({"pk": "a"}) == {"pk": "a", "n": 1, "_dr_version": 10, "_dr_origin": EAST}
    assert east.put({"pk": "a", "n": 0}, version=9) is False  # older than what is stored: superseded
    assert east.delete({"pk": "a"}, version=11)
    assert east.get({"pk": "a"}) is None
    stored = raw(EAST).get_item(TableName=TABLE, Key={"pk": {"S": "a"}})["Item"]
    assert stored == {
        "pk": {"S": "a"},
        "_dr_deleted": {"BOOL": True},
        "_dr_version": {"N": "11"},
        "_dr_origin": {"S": EAST},
    }
    assert east.put({"pk": "a", "n": 2}, version=10) is False  # a late, older write does not resurrect it
    assert east.put({"pk": "b", "n": 5})
    assert [i["pk"] for i in east.table.scan(FilterExpression=NOT_DELETED)["Items"]] == ["b"]
    assert [i["pk"] for i in hide_tombstones(east.table.scan()["Items"])] == ["b"]
    assert east.update_unsafe({"pk": "a"}, {"n": 3}, version=12)  # an update of a deleted item brings it back
    assert east.get({"pk": "a"}) == {"pk": "a", "n": 3, "_dr_version": 12, "_dr_origin": EAST}
    assert east.update_unsafe({"pk": "a"}, {"n": 4}, version=12) is False
    assert east.get({"pk": "a"})["n"] == 3  # the refused update changed nothing


def test_partial_updates_are_refused_because_replication_would_drop_a_concurrent_one(two_regions):
    """Concurrent updates of different attributes in two regions: replication copies whole items, last writer
    wins, so one of the two updates vanishes everywhere. The client refuses partial updates for that reason;
    `update_unsafe` shows the loss it would hide."""
    readers, tables = two_regions
    east, west = tables[EAST], tables[WEST]
    assert east.put({"pk": "order", "status": "new", "total": 10}, version=1)
    replicator(EAST, WEST).handle({"Records": readers[EAST].fetch()}, FakeContext())
    with pytest.raises(PartialUpdateRefused, match="read the item, change it and put it whole"):
        east.update({"pk": "order"}, {"status": "paid"})
    assert east.update_unsafe({"pk": "order"}, {"status": "paid"}, version=2)
    assert west.update_unsafe({"pk": "order"}, {"total": 12}, version=3)
    for source, receiving in ((EAST, WEST), (WEST, EAST)):
        replicator(source, receiving).handle({"Records": readers[source].fetch()}, FakeContext())
    both = [{k: v for k, v in t.get({"pk": "order"}).items() if k != "_dr_seq"} for t in (east, west)]
    assert both[0] == both[1] and (both[0]["status"], both[0]["total"]) == ("new", 12)  # "paid" is gone


def test_an_item_too_big_to_stamp_goes_to_the_failure_queue_and_the_shard_moves_on(two_regions, monkeypatch):
    readers, tables = two_regions
    sqs = boto3.client("sqs", region_name=EAST)
    queue = sqs.create_queue(QueueName="failures")["QueueUrl"]
    # fits as written; the replicator's stamp pushes it over (moto's limit is 405,000 bytes, DynamoDB's 409,600:
    # here DynamoDB's refusal is the path taken; test_replication checks the replicator's own size count)
    big = "x" * (405_000 - 60)
    raw(EAST).put_item(TableName=TABLE, Item={"pk": {"S": "big"}, "v": {"S": big}})
    tables[EAST].put({"pk": "small", "n": 1})
    rep = replicator_module.Replicator(
        ReplicatorSettings(source_region=EAST, receiving_region=WEST, receiving_table=TABLE, failure_queue_url=queue)
    )
    response = rep.handle({"Records": readers[EAST].fetch()}, FakeContext())
    assert response == {"batchItemFailures": []} and rep.outcomes == {"oversize": 1, "replicated": 1}
    assert tables[WEST].get({"pk": "small"})["n"] == 1 and tables[WEST].get({"pk": "big"}) is None
    body = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert body["keys"] == {"pk": {"S": "big"}} and "Item size has exceeded" in body["reason"]
    no_queue = replicator(EAST, WEST)  # without a queue the record is retried rather than dropped
    raw(EAST).put_item(TableName=TABLE, Item={"pk": {"S": "big2"}, "v": {"S": big}})
    tables[EAST].put({"pk": "small2", "n": 2})
    records = readers[EAST].fetch()
    failed = no_queue.handle({"Records": records}, FakeContext())
    assert failed == {"batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]}


def test_item_size_counts_names_and_values_as_dynamodb_does():
    assert item_size({"pk": {"S": "abc"}}) == 5
    assert item_size({"n": {"N": "12345"}}) == 1 + 4
    assert item_size({"m": {"M": {"a": {"BOOL": True}}}}) == 1 + 3 + 1 + 1 + 1
    assert item_size({"l": {"L": [{"S": "x"}, {"NULL": True}]}}) == 1 + 3 + 2 + 2
    assert item_size({"ss": {"SS": ["ab", "c"]}}) == 2 + 3


def test_version_clock_is_strictly_increasing_even_when_the_clock_stands_still():
    versions = VersionClock(clock=lambda: 1_700_000_000.0)
    assert [versions() for _ in range(3)] == [1_700_000_000_000_000, 1_700_000_000_000_001, 1_700_000_000_000_002]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stored=st.one_of(
        st.none(),
        st.tuples(
            st.integers(0, 3), st.sampled_from(["", EAST, WEST]), st.sampled_from(["", "1".zfill(40), "2".zfill(40)])
        ),
    ),
    incoming=st.tuples(st.integers(0, 3), st.sampled_from([EAST, WEST]), st.sampled_from(["", "1".zfill(40)])),
)
def test_the_condition_expression_is_the_conflict_rule(aws, stored, incoming):
    """What DynamoDB (moto) accepts under `newer_condition` is exactly what `is_newer` says."""
    ddb = raw(EAST)
    if TABLE not in ddb.list_tables()["TableNames"]:
        create_table(EAST)
    key = {"pk": {"S": "cond"}}
    ddb.delete_item(TableName=TABLE, Key=key)
    stored_stamp = None
    if stored is not None:
        item = {**key, "_dr_version": {"N": str(stored[0])}}
        if stored[1]:
            item["_dr_origin"] = {"S": stored[1]}
        if stored[2]:
            item["_dr_seq"] = {"S": stored[2]}
        ddb.put_item(TableName=TABLE, Item=item)
        stored_stamp = Stamp(*stored)
    stamp = Stamp(*incoming)
    expression, names, values = newer_condition(stamp)
    serial = {k: ({"N": str(v)} if isinstance(v, int) else {"S": v}) for k, v in values.items()}
    try:
        ddb.put_item(
            TableName=TABLE,
            Item=with_stamp(key, stamp),
            ConditionExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serial,
        )
        accepted = True
    except ddb.exceptions.ConditionalCheckFailedException:
        accepted = False
    assert accepted == is_newer(stamp, stored_stamp)


# -- the handler on real stream records ---------------------------------------------------------------------------
def test_handler_copies_puts_updates_deletes_and_plain_writes_and_publishes_the_lag(two_regions, monkeypatch):
    readers, tables = two_regions
    east = tables[EAST]
    east.put({"pk": "a", "n": 1})
    east.put({"pk": "b", "n": 2})
    east.update_unsafe({"pk": "a"}, {"n": 10, "s": "x"})
    east.delete({"pk": "b"})
    raw(EAST).put_item(
        TableName=TABLE, Item={"pk": {"S": "plain"}, "blob": {"B": b"\x00\x01"}, "ns": {"NS": ["1", "2"]}}
    )
    raw(EAST).put_item(TableName=TABLE, Item={"pk": {"S": "gone"}, "n": {"N": "1"}})
    raw(EAST).delete_item(
        TableName=TABLE, Key={"pk": {"S": "gone"}}
    )  # a hard delete, by an application that does not stamp
    monkeypatch.setenv("AWS_REGION", EAST)
    monkeypatch.setenv("DR_RECEIVING_REGION", WEST)
    monkeypatch.setenv("DR_RECEIVING_TABLE", TABLE)
    monkeypatch.setattr(replicator_module, "_replicator", None)
    records = readers[EAST].fetch()
    assert [r["eventName"] for r in records] == ["INSERT", "INSERT", "MODIFY", "MODIFY", "INSERT", "INSERT", "REMOVE"]

    assert replicator_module.handler({"Records": records}, FakeContext()) == {"batchItemFailures": []}
    west = scan(WEST)
    assert {k: v for k, v in west.items() if k not in ("plain", "gone")} == {
        k: v for k, v in scan(EAST).items() if k not in ("plain", "gone")
    }
    assert tables[WEST].get({"pk": "a"})["n"] == 10 and tables[WEST].get({"pk": "b"}) is None
    assert west["plain"]["blob"] == {"B": b"\x00\x01"} and west["plain"]["ns"] == {"NS": ["1", "2"]}
    assert west["plain"]["_dr_origin"] == {"S": EAST}
    assert west["gone"]["_dr_deleted"] == {"BOOL": True}  # the hard delete left a tombstone on the receiving side
    assert replicator_module._replicator.outcomes == {"replicated": 7}

    lags = lag_datapoints(WEST, EAST)
    assert len(lags) == 1 and 0 <= lags[0] < 60_000
    assert lag_datapoints(EAST, EAST) == []  # published in the receiving region only

    # Lambda redelivers the batch: nothing changes; the receiving side's records are echoes going back.
    assert replicator_module.handler({"Records": records[::-1]}, FakeContext()) == {"batchItemFailures": []}
    assert replicator_module._replicator.outcomes == {"superseded": 7}
    assert scan(WEST) == west
    back = replicator(WEST, EAST)
    before = scan(EAST)
    assert back.handle({"Records": readers[WEST].fetch()}, FakeContext()) == {"batchItemFailures": []}
    assert back.outcomes == {"echo": 7}
    assert scan(EAST) == before


def test_a_failing_record_is_reported_alone_and_a_failing_batch_raises_for_bisection(two_regions):
    readers, tables = two_regions
    for i in range(3):
        tables[EAST].put({"pk": f"k{i}", "n": i})
    records = readers[EAST].fetch()
    poisoned = [dict(r, dynamodb=dict(r["dynamodb"])) for r in records]
    bad = poisoned[1]["dynamodb"]
    bad["NewImage"] = {**bad["NewImage"], "pk": {"N": "1"}}  # the receiving table's key is a string
    out = replicator(EAST, WEST).handle({"Records": poisoned}, FakeContext())
    assert out == {"batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]}
    assert sorted(scan(WEST)) == ["k0", "k2"]
    with pytest.raises(replicator_module.BatchProcessingError):
        replicator(EAST, WEST).handle({"Records": [poisoned[1]]}, FakeContext())


def test_an_unreachable_receiving_region_fails_the_rest_of_the_batch_at_once(two_regions):
    readers, tables = two_regions
    for i in range(3):
        tables[EAST].put({"pk": f"k{i}", "n": i})
    rep = replicator(EAST, WEST)
    rep.db = boto3.client(
        "dynamodb",
        region_name=WEST,
        endpoint_url="http://127.0.0.1:9",  # nothing listens there
        config=Config(connect_timeout=1, retries={"max_attempts": 1, "mode": "standard"}),
    )
    attempts = []
    rep.db.meta.events.register("before-send.dynamodb.PutItem", lambda **kw: attempts.append(1))
    with pytest.raises(EndpointConnectionError):
        rep.db.put_item(TableName=TABLE, Item={"pk": {"S": "probe"}})
    one_call = len(attempts)
    with pytest.raises(replicator_module.BatchProcessingError):
        rep.handle({"Records": readers[EAST].fetch()}, FakeContext())
    assert len(attempts) == 2 * one_call  # the probe and the batch's first record; the others never connect
    assert rep.unreachable.startswith("us-west-2 unreachable: Could not connect")
    assert [type(e[1]).__name__ for e in rep.processor.exceptions] == [
        "EndpointConnectionError",
        "ReceivingUnreachable",
        "ReceivingUnreachable",
    ]
    assert lag_datapoints(WEST, EAST) == []  # no lag published into the region that could not be reached


def test_bad_configuration_reports_every_record_failed_and_names_the_variable(two_regions, monkeypatch, caplog):
    readers, tables = two_regions
    tables[EAST].put({"pk": "a", "n": 1})
    records = readers[EAST].fetch()
    monkeypatch.setenv("AWS_REGION", EAST)
    monkeypatch.delenv("DR_RECEIVING_REGION", raising=False)
    monkeypatch.setattr(replicator_module, "_replicator", None)
    out = replicator_module.handler({"Records": records}, FakeContext())
    assert out == {"batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]}
    assert [r.getMessage().split(": ")[-1] for r in caplog.records if r.levelname == "ERROR"] == [
        "DR_RECEIVING_REGION is not set"
    ]
    assert scan(WEST) == {}
    assert replicator(EAST, WEST).handle({"nothing": 1}, FakeContext()) == {"batchItemFailures": []}


def test_the_logger_takes_its_service_name_from_the_environment():
    run = subprocess.run(
        [sys.executable, "-c", "from failover.replicator import logger; print(logger.service)"],
        cwd=ROOT,
        env={**os.environ, "POWERTOOLS_SERVICE_NAME": "orders-dr-replicator-east-west"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.strip() == "orders-dr-replicator-east-west", run.stderr


def test_a_cloudwatch_failure_does_not_fail_the_batch(two_regions):
    readers, tables = two_regions
    tables[EAST].put({"pk": "a", "n": 1})
    rep = replicator(EAST, WEST, clock=lambda: time.time() + 2.0)
    with Stubber(rep.cloudwatch) as stub:
        stub.add_client_error("put_metric_data", service_error_code="Throttling", http_status_code=400)
        assert rep.handle({"Records": readers[EAST].fetch()}, FakeContext()) == {"batchItemFailures": []}
        stub.assert_no_pending_responses()
    assert sorted(scan(WEST)) == ["a"]


def test_records_of_one_item_keep_their_order_while_items_run_concurrently():
    seen, threads, lock = [], set(), threading.Lock()

    def record_handler(record):
        with lock:
            seen.append((record.dynamodb.keys["pk"], int(record.dynamodb.sequence_number)))
            threads.add(threading.get_ident())
        time.sleep(0.002)
        if record.dynamodb.sequence_number == "13":
            raise RuntimeError("this one fails")
        return "ok"

    records = [
        {"eventName": "MODIFY", "dynamodb": {"Keys": {"pk": {"S": f"k{i % 4}"}}, "SequenceNumber": str(i)}}
        for i in range(10, 30)
    ]
    processor = KeyOrderedBatchProcessor(workers=4)
    out = replicator_module.process_partial_response({"Records": records}, record_handler, processor)
    assert out == {"batchItemFailures": [{"itemIdentifier": "13"}]}
    assert sorted(seen) == sorted((f"k{i % 4}", i) for i in range(10, 30))
    for key in ("k0", "k1", "k2", "k3"):
        order = [s for k, s in seen if k == key]
        assert order == sorted(order)
    assert len(threads) > 1


# -- property: two writers, real streams, any deliveries -------------------------------------------------------
OPS = st.tuples(
    st.sampled_from([EAST, WEST]),
    st.sampled_from(["k0", "k1"]),
    st.integers(1, 3),
    st.sampled_from(["put", "delete", "update"]),
    st.integers(0, 9),
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_two_writers_on_moto_streams_converge_whatever_the_deliveries(aws, data):
    """Writes and deletes from both regions through the client, stream records delivered to the handler in
    batches drawn with duplicates and in any order, interleaved with the writes: both tables end equal, each key
    holding the write with the greatest (version, region)."""
    for name in list(raw(EAST).list_tables()["TableNames"]):
        raw(EAST).delete_table(TableName=name)
    for name in list(raw(WEST).list_tables()["TableNames"]):
        raw(WEST).delete_table(TableName=name)
    readers = {r: StreamReader(r, create_table(r)) for r in (EAST, WEST)}
    tables = {r: VersionedTable(boto3.resource("dynamodb", region_name=r).Table(TABLE), region=r) for r in readers}
    reps = {EAST: replicator(EAST, WEST), WEST: replicator(WEST, EAST)}
    fetched = {EAST: [], WEST: []}
    delivered = {EAST: set(), WEST: set()}
    winners = {}

    def deliver(source, indexes):
        batch = [fetched[source][i] for i in indexes]
        assert reps[source].handle({"Records": batch}, FakeContext()) == {"batchItemFailures": []}
        delivered[source].update(indexes)

    for _ in range(data.draw(st.integers(1, 12), label="steps")):
        if data.draw(st.booleans(), label="write?"):
            region, key, version, op, n = data.draw(OPS, label="write")
            table = tables[region]
            stored = raw(region).get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
            if op == "update" and stored is None:
                op = "put"  # moto emits a spurious key-only INSERT for an upsert; real DynamoDB does not
            ok = {
                "put": lambda: table.put({"pk": key, "n": n}, version=version),
                "delete": lambda: table.delete({"pk": key}, version=version),
                "update": lambda: table.update_unsafe({"pk": key}, {"n": n}, version=version),
            }[op]()
            stamp = Stamp(version, region)
            assert ok == is_newer(stamp, stamp_of(stored))  # local writes follow the same rule
            if key not in winners or is_newer(stamp, winners[key]):
                winners[key] = stamp
        else:
            source = data.draw(st.sampled_from([EAST, WEST]), label="source")
            fetched[source] += readers[source].fetch()
            if fetched[source]:
                indexes = data.draw(
                    st.lists(st.integers(0, len(fetched[source]) - 1), min_size=1, max_size=4), label="batch"
                )
                deliver(source, indexes)
    for _ in range(4):
        for source in (EAST, WEST):
            fetched[source] += readers[source].fetch()
            pending = [i for i in range(len(fetched[source])) if i not in delivered[source]]
            if pending:
                deliver(source, data.draw(st.permutations(pending), label="final order"))
    assert all(len(delivered[s]) == len(fetched[s]) for s in (EAST, WEST)), "replication never settles"
    east, west = scan(EAST), scan(WEST)
    assert east == west
    assert {k: (int(v["_dr_version"]["N"]), v["_dr_origin"]["S"]) for k, v in east.items()} == {
        k: tuple(s[:2]) for k, s in winners.items()
    }


def test_the_handler_runs_without_a_lambda_context_and_leaves_out_records_that_are_not_objects(
    two_regions, monkeypatch
):
    readers, tables = two_regions
    monkeypatch.setenv("AWS_REGION", EAST)
    monkeypatch.setenv("DR_RECEIVING_REGION", WEST)
    monkeypatch.setenv("DR_RECEIVING_TABLE", TABLE)
    monkeypatch.setattr(replicator_module, "_replicator", None)
    tables[EAST].put({"pk": "a", "n": 1})
    records = readers[EAST].fetch()
    assert replicator_module.handler({"Records": ["junk", 7, *records]}) == {"batchItemFailures": []}
    assert tables[WEST].get({"pk": "a"})["n"] == 1
    assert replicator_module.handler({"Records": ["junk"]}) == {"batchItemFailures": []}
