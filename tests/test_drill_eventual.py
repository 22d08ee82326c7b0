"""Eventual mode's replication in the drill: the real streams replicator in both directions, fed by the drill's
stand-in for the event source mapping, on the moto server behind the regions' gates (a partition stops it)."""

from __future__ import annotations

import threading
import time
from datetime import UTC

import boto3
import pytest
from botocore.config import Config

from drctl.drill.aws import AwsModel, RegionSession, direct_client
from drctl.drill.eventual import (
    StreamPumps,
    as_lambda_record,
    create_conflict_tables,
    recorded_conflict_keys,
    split_at_first_failure,
)
from drctl.drill.moto_process import MotoProcess
from drctl.drill.network import Gates, Network
from failover.client import VersionedTable

# Timing-sensitive (loopback deadlines, a drill's measured figures): under pytest-xdist these modules share
# one worker, so two of them never compete for the cores at once.
pytestmark = pytest.mark.xdist_group("loopback-timing")

EAST, WEST = "us-east-1", "us-west-2"
TABLE = "orders-drill"


def records(*sequences: str) -> list[dict]:
    return [{"dynamodb": {"SequenceNumber": s}} for s in sequences]


def test_delivery_resumes_at_the_first_reported_failure():
    batch = records("100", "200", "300", "400")
    assert split_at_first_failure(batch, {"batchItemFailures": []}) == (4, [])
    done, again = split_at_first_failure(
        batch, {"batchItemFailures": [{"itemIdentifier": "400"}, {"itemIdentifier": "200"}]}
    )
    assert done == 1 and [r["dynamodb"]["SequenceNumber"] for r in again] == ["200", "300", "400"]


def test_a_get_records_record_takes_lambdas_shape():
    from datetime import datetime

    created = datetime(2026, 1, 1, tzinfo=UTC)
    record = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1", "ApproximateCreationDateTime": created}}
    shaped = as_lambda_record(record, "arn:stream", EAST)
    assert shaped["dynamodb"]["ApproximateCreationDateTime"] == 1767225600.0
    assert (shaped["eventSourceARN"], shaped["awsRegion"]) == ("arn:stream", EAST)


@pytest.fixture
def regions():
    moto = MotoProcess().start()
    moto.reset()
    network = Network([EAST, WEST])
    gates = Gates(network)
    urls = {
        (c, t): f"http://127.0.0.1:{gates.add(c, t, 'aws', lambda: moto.address)}"
        for c in (EAST, WEST)
        for t in (EAST, WEST)
    }
    model = AwsModel(network, lambda c, t: urls[(c, t)], Config(connect_timeout=1, read_timeout=2))
    sessions = {r: RegionSession(r, model) for r in (EAST, WEST)}
    for region in (EAST, WEST):
        direct_client(moto.url, "dynamodb", region).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
    yield network, sessions, moto.url
    gates.close()
    moto.stop()


def keys(url: str, region: str) -> set[str]:
    client = boto3.client(
        "dynamodb", region_name=region, endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return {i["pk"]["S"] for i in client.scan(TableName=TABLE, ConsistentRead=True)["Items"]}


def wait_for(condition, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_both_directions_replicate_and_a_cut_region_catches_up_when_it_returns(regions):
    network, sessions, url = regions
    stop = threading.Event()
    pumps = StreamPumps([EAST, WEST], TABLE, sessions, stop)
    tables = {r: VersionedTable(sessions[r].resource("dynamodb", r).Table(TABLE), region=r) for r in sessions}
    pumps.start()
    try:
        for i in range(5):
            assert tables[EAST].put({"pk": f"east#{i}"}) and tables[WEST].put({"pk": f"west#{i}"})
        written = time.time()
        assert wait_for(lambda: pumps.caught_up(written), 10)
        both = {f"east#{i}" for i in range(5)} | {f"west#{i}" for i in range(5)}
        assert keys(url, EAST) == both and keys(url, WEST) == both
        network.partition(EAST)  # us-east-1 cut off: what us-west-2 takes waits for it
        for i in range(5, 10):
            assert tables[WEST].put({"pk": f"west#{i}"})
        cut_written = time.time()
        time.sleep(1.0)  # every direction polled since, but the ones through us-east-1 deliver nothing
        assert not pumps.caught_up(cut_written) and "west#9" not in keys(url, EAST)
        network.heal()
        back = time.time()
        assert wait_for(lambda: pumps.caught_up(back), 15)
        assert keys(url, EAST) == keys(url, WEST) == both | {f"west#{i}" for i in range(5, 10)}
        assert pumps.delivered()[f"{WEST}->{EAST}"] >= 10
    finally:
        stop.set()
        pumps.join(5)


def test_concurrent_writes_across_a_partition_record_the_loser_as_a_conflict(regions):
    """Both regions write one key while cut off from each other; after the heal last writer wins everywhere and the
    loser, an acknowledged write, is recorded once; a key written on one side only records nothing."""
    network, sessions, url = regions
    direct = {r: direct_client(url, "dynamodb", r) for r in (EAST, WEST)}
    create_conflict_tables([EAST, WEST], TABLE, direct.__getitem__)
    stop = threading.Event()
    pumps = StreamPumps([EAST, WEST], TABLE, sessions, stop)
    tables = {r: VersionedTable(sessions[r].resource("dynamodb", r).Table(TABLE), region=r) for r in sessions}
    pumps.start()
    try:
        network.partition(EAST)
        assert tables[EAST].put({"pk": "both", "by": "east"}, version=10)
        assert tables[WEST].put({"pk": "both", "by": "west"}, version=20)
        assert tables[WEST].put({"pk": "west-only"}, version=21)
        time.sleep(0.5)
        network.heal()
        back = time.time()
        assert wait_for(lambda: pumps.caught_up(back), 15)
        assert tables[EAST].get({"pk": "both"})["by"] == tables[WEST].get({"pk": "both"})["by"] == "west"
        assert recorded_conflict_keys([EAST, WEST], TABLE, direct.__getitem__) == {"both"}
        (record,) = direct[WEST].scan(TableName=f"{TABLE}-conflicts-{WEST}-{EAST}")["Items"]
        assert (record["loserOrigin"], record["winnerOrigin"]) == ({"S": EAST}, {"S": WEST})
        assert direct[EAST].scan(TableName=f"{TABLE}-conflicts-{EAST}-{WEST}")["Items"] == []
    finally:
        stop.set()
        pumps.join(5)
