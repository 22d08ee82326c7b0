"""Conflicts of streams replication: the rule (which replaced write is a lost acknowledged write), and the
replicator recording them on moto's streams: concurrent writers, a plain echo, retries, TTL, a failing record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from failover.conflicts import (
    DAY_SECONDS,
    FAILED_METRIC,
    RECORDED_METRIC,
    Conflict,
    conflict_item,
    conflict_loser,
    create_table_arguments,
    key_text,
    parse_record,
)
from failover.replication import Stamp, with_stamp
from failover.replicator import Replicator
from failover.settings import ReplicatorSettings, load_replicator_settings
from tests.replication_env import EAST, TABLE, WEST, FakeContext, StreamReader, create_table

ROOT = Path(__file__).resolve().parent.parent
NOW = float(int(time.time()))  # EMF timestamps must be recent


def conflicts_name(source: str, receiving: str) -> str:
    return f"conflicts-{source}-{receiving}"


@pytest.fixture
def regions(monkeypatch):
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": EAST,
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        readers = {r: StreamReader(r, create_table(r)) for r in (EAST, WEST)}
        for source, receiving in ((EAST, WEST), (WEST, EAST)):
            boto3.client("dynamodb", region_name=source).create_table(
                **create_table_arguments(conflicts_name(source, receiving))
            )
        yield readers


def put(region: str, pk: str, version: int, **attrs: str) -> None:
    item = {"pk": {"S": pk}, **{k: {"S": v} for k, v in attrs.items()}}
    boto3.client("dynamodb", region_name=region).put_item(
        TableName=TABLE, Item=with_stamp(item, Stamp(version, region))
    )


def stored(region: str, pk: str) -> dict:
    return boto3.client("dynamodb", region_name=region).get_item(TableName=TABLE, Key={"pk": {"S": pk}})["Item"]


def recorded(source: str, receiving: str) -> list[dict]:
    items = boto3.client("dynamodb", region_name=source).scan(TableName=conflicts_name(source, receiving))["Items"]
    return sorted(items, key=lambda i: (i["key"]["S"], i["loser"]["S"]))


class Direction:
    """One direction's replicator with its conflicts table, a fixed clock and the EMF documents it emitted."""

    def __init__(self, source: str, receiving: str, table: str | None = None) -> None:
        self.metrics: list[dict] = []
        settings = ReplicatorSettings(
            source_region=source,
            receiving_region=receiving,
            receiving_table=TABLE,
            workers=1,
            conflicts_table=conflicts_name(source, receiving) if table is None else table,
        )
        self.replicator = Replicator(settings, clock=lambda: NOW, emit=self.metrics.append)

    def deliver(self, records: list[dict]) -> dict:
        return self.replicator.handle({"Records": records}, FakeContext())


# -- the rule ------------------------------------------------------------------------------------------------------
def _image(stamp: Stamp | None) -> dict | None:
    return None if stamp is None else with_stamp({"pk": {"S": "a"}}, stamp)


def test_a_replaced_local_write_the_winner_never_saw_is_the_loser():
    local = Stamp(5, EAST)
    assert conflict_loser(_image(local), None, EAST) == local  # the winner's writer had nothing
    assert conflict_loser(_image(local), _image(Stamp(4, EAST, "1".zfill(40))), EAST) == local  # an older copy
    assert conflict_loser(_image(local), _image(Stamp(3, WEST)), EAST) == local  # its own older write


def test_a_replaced_write_the_winner_had_seen_or_did_not_make_here_is_no_conflict():
    local = Stamp(5, EAST)
    assert conflict_loser(_image(local), _image(Stamp(5, EAST, "7".zfill(40))), EAST) is None  # its replicated copy
    assert conflict_loser(_image(Stamp(5, WEST, "7".zfill(40))), None, EAST) is None  # a copy of the winner's region
    assert conflict_loser(None, None, EAST) is None  # nothing replaced
    assert conflict_loser({"pk": {"S": "a"}, "n": {"N": "1"}}, None, EAST) is None  # unstamped: not ordered


stamps = st.builds(Stamp, st.integers(0, 5), st.sampled_from([EAST, WEST]), st.sampled_from(["", "1".zfill(40)]))


@given(replaced=st.one_of(st.none(), stamps), seen=st.one_of(st.none(), stamps))
def test_the_loser_is_exactly_a_receiving_region_write_newer_than_what_the_winner_saw(replaced, seen):
    loser = conflict_loser(_image(replaced), _image(seen), EAST)
    expected = (
        replaced is not None
        and replaced.origin == EAST
        and (seen is None or (seen.version, seen.origin) < (replaced.version, replaced.origin))
    )
    assert (loser == replaced) if expected else loser is None


# -- the replicator on moto's streams ------------------------------------------------------------------------------
def test_concurrent_writers_record_the_loser_once_with_both_stamps_and_a_ttl(regions):
    put(EAST, "order#1", 10, status="paid")  # acknowledged in us-east-1 ...
    put(WEST, "order#1", 20, status="cancelled")  # ... and, concurrently, in us-west-2: the later stamp wins
    east_west, west_east = Direction(EAST, WEST), Direction(WEST, EAST)
    assert east_west.deliver(regions[EAST].fetch()) == {"batchItemFailures": []}
    assert east_west.replicator.outcomes == {"superseded": 1}  # refused where the winner is: not judged there
    assert west_east.deliver(regions[WEST].fetch()) == {"batchItemFailures": []}
    assert west_east.replicator.outcomes == {"replicated": 1} and west_east.replicator.conflicts == {"recorded": 1}
    assert stored(EAST, "order#1")["status"] == {"S": "cancelled"}
    (record,) = recorded(WEST, EAST)
    facts = parse_record(record)
    assert facts["key"] == {"pk": {"S": "order#1"}}
    assert facts["loser"] == {"version": 10, "origin": EAST, "sequence": ""}
    assert facts["winner"]["version"] == 20 and facts["winner"]["origin"] == WEST and facts["winner"]["sequence"]
    assert (facts["sourceRegion"], facts["destinationRegion"], facts["table"]) == (WEST, EAST, TABLE)
    assert facts["recordedAt"] == NOW and facts["expiresAt"] == NOW + 14 * DAY_SECONDS
    assert record["expiresAt"] == {"N": str(int(NOW) + 14 * DAY_SECONDS)}
    assert (west_east.metrics[0][RECORDED_METRIC], west_east.metrics[0][FAILED_METRIC]) == ([1.0], [0.0])
    (emf,) = west_east.metrics[0]["_aws"]["CloudWatchMetrics"]
    assert emf["Namespace"] == "DynamoDR/Replication" and emf["Dimensions"] == [["TableName", "SourceRegion"]]
    assert {m["Name"] for m in emf["Metrics"]} == {RECORDED_METRIC, FAILED_METRIC}
    assert recorded(EAST, WEST) == [] and east_west.metrics == []  # one record per conflict, no empty metrics


def test_a_write_over_a_replicated_copy_is_the_normal_echo_not_a_conflict(regions):
    put(EAST, "order#2", 10, status="paid")
    east_west, west_east = Direction(EAST, WEST), Direction(WEST, EAST)
    east_west.deliver(regions[EAST].fetch())  # us-west-2 now holds us-east-1's write ...
    put(WEST, "order#2", 20, status="shipped")  # ... and writes over it, having seen it
    west_east.deliver(regions[WEST].fetch())
    east_west.deliver(regions[EAST].fetch())  # the replicated write comes back around as an echo
    assert west_east.replicator.outcomes == {"echo": 1, "replicated": 1}  # us-east-1's write came back as an echo
    assert east_west.replicator.outcomes == {"echo": 1}
    assert recorded(WEST, EAST) == [] and recorded(EAST, WEST) == []
    assert stored(EAST, "order#2")["status"] == stored(WEST, "order#2")["status"] == {"S": "shipped"}


def test_a_retried_batch_or_call_records_a_conflict_once(regions):
    put(EAST, "order#3", 10)
    put(WEST, "order#3", 20)
    west_east = Direction(WEST, EAST)
    records = regions[WEST].fetch()
    west_east.deliver(records)
    west_east.deliver(records)  # the batch again (Lambda retries from a failed record on): the put is refused
    assert west_east.replicator.outcomes == {"superseded": 1} and len(recorded(WEST, EAST)) == 1
    conflict = Conflict({"pk": {"S": "order#3"}}, Stamp(10, EAST), Stamp(20, WEST, "9"), WEST, EAST, TABLE)
    assert west_east.replicator.record(conflict) == "duplicate"  # a retried PutItem that had landed
    assert len(recorded(WEST, EAST)) == 1
    assert recorded(WEST, EAST)[0]["key"] == {"S": key_text({"pk": {"S": "order#3"}})}


def test_a_conflict_that_cannot_be_recorded_is_counted_and_the_batch_goes_on(regions):
    put(EAST, "order#4", 10)
    put(WEST, "order#4", 20)
    put(WEST, "order#5", 21)
    west_east = Direction(WEST, EAST, table="no-such-table")
    assert west_east.deliver(regions[WEST].fetch()) == {"batchItemFailures": []}
    assert west_east.replicator.outcomes == {"replicated": 2} and west_east.replicator.conflicts == {"failed": 1}
    assert stored(EAST, "order#4")["_dr_version"] == {"N": "20"}  # replication itself went on
    assert (west_east.metrics[0][RECORDED_METRIC], west_east.metrics[0][FAILED_METRIC]) == ([0.0], [1.0])


def test_a_malformed_stamp_on_the_replaced_item_is_counted_and_the_write_stays_done(regions):
    boto3.client("dynamodb", region_name=EAST).put_item(
        TableName=TABLE, Item={"pk": {"S": "odd"}, "_dr_version": {"N": "1.5"}, "_dr_origin": {"S": EAST}}
    )
    put(WEST, "odd", 20)
    west_east = Direction(WEST, EAST)
    assert west_east.deliver(regions[WEST].fetch()) == {"batchItemFailures": []}
    assert west_east.replicator.outcomes == {"replicated": 1} and west_east.replicator.conflicts == {"failed": 1}
    assert stored(EAST, "odd")["_dr_version"] == {"N": "20"} and recorded(WEST, EAST) == []


def test_the_conflicts_table_and_its_retention_come_from_the_environment():
    assert load_replicator_settings(
        {"DR_SOURCE_REGION": EAST, "DR_RECEIVING_REGION": WEST, "DR_RECEIVING_TABLE": TABLE}
    ) == ReplicatorSettings(EAST, WEST, TABLE, conflicts_table="", conflict_retention_days=14)
    env = {"DR_SOURCE_REGION": EAST, "DR_RECEIVING_REGION": WEST, "DR_RECEIVING_TABLE": TABLE}
    settings = load_replicator_settings({**env, "DR_CONFLICTS_TABLE": "c", "DR_CONFLICT_RETENTION_DAYS": "3"})
    assert (settings.conflicts_table, settings.conflict_retention_days) == ("c", 3)


# -- drctl conflicts on the moto server ----------------------------------------------------------------------------
def test_since_takes_iso_times_and_durations():
    from drctl.conflicts import ConflictsUsageError, parse_since

    assert parse_since("2h", 10_000.0) == 2_800.0 and parse_since("90s", 100.0) == 10.0
    assert parse_since("2026-05-01T12:00:00Z", 0.0) == 1_777_636_800.0
    assert parse_since("2026-05-01T12:00:00", 0.0) == 1_777_636_800.0  # no zone: UTC
    with pytest.raises(ConflictsUsageError, match="--since 'yesterday': not an ISO-8601 time"):
        parse_since("yesterday", 0.0)


@pytest.fixture
def streams_stack(tmp_path):
    import yaml

    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    doc["config"]["dr:table"]["replication"] = "streams"
    path = tmp_path / "Pulumi.streams.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _drctl(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "drctl", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


def test_drctl_conflicts_lists_every_directions_records_on_the_moto_server(moto_server, streams_stack, monkeypatch):
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10)
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_EC2_METADATA_DISABLED": "true",
        "COLUMNS": "200",
    }
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(k, env[k])
    west, central = "eu-west-1", "eu-central-1"
    for source, receiving in ((west, central), (central, west)):
        boto3.client("dynamodb", region_name=source).create_table(
            **create_table_arguments(f"orders-streams-conflicts-{source}-{receiving}")
        )
    now = time.time()
    for source, receiving, pk, at in ((central, west, "order#1", now - 7200), (west, central, "order#2", now - 60)):
        item = conflict_item(
            Conflict(
                {"pk": {"S": pk}}, Stamp(10, receiving), Stamp(20, source, "5".zfill(40)), source, receiving, TABLE
            ),
            at,
            14,
        )
        boto3.client("dynamodb", region_name=source).put_item(
            TableName=f"orders-streams-conflicts-{source}-{receiving}", Item=item
        )
    args = ("conflicts", "--stack", "streams", "--stack-file", str(streams_stack))
    listed = _drctl(*args, "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert [(c["key"], c["loser"]["origin"], c["winner"]["origin"]) for c in doc["conflicts"]] == [
        ({"pk": {"S": "order#2"}}, central, west),  # newest first
        ({"pk": {"S": "order#1"}}, west, central),
    ]
    assert doc["unread"] == {} and doc["conflicts"][0]["recordedIn"] == west
    recent = json.loads(_drctl(*args, "--since", "1h", "--json", env=env).stdout)
    assert [c["key"]["pk"]["S"] for c in recent["conflicts"]] == ["order#2"]
    text = _drctl(*args, "--since", "1h", env=env)
    assert text.returncode == 0 and "1 recorded since" in text.stdout
    assert "pk=order#2" in text.stdout and f"{central} v10" in text.stdout and f"{west} v20" in text.stdout
    bad = _drctl(*args, "--since", "soon", env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --since 'soon'") and len(bad.stderr.splitlines()) == 1
    global_stack = _drctl("conflicts", "--stack", "staging", env=env)
    assert global_stack.returncode == 2 and "global table" in global_stack.stderr
    boto3.client("dynamodb", region_name=west).delete_table(TableName=f"orders-streams-conflicts-{west}-{central}")
    run = _drctl(*args, "--json", env=env)
    partial = json.loads(run.stdout)
    assert run.returncode == 1  # a table not read: said, and the exit code says it too
    assert partial["unread"] == {f"orders-streams-conflicts-{west}-{central} ({west})": "missing"}
    assert [c["key"]["pk"]["S"] for c in partial["conflicts"]] == ["order#1"]
