"""The replication rules as plain functions: stamps, the conflict rule, the plan for each stream record, the lag;
and property tests on an in-memory model of two regions built from the same functions."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failover.replication import (
    MAX_ITEM_BYTES,
    Stamp,
    StreamChange,
    UnreplicableRecord,
    batch_lag_milliseconds,
    is_newer,
    is_tombstone,
    item_size,
    lag_metric,
    padded_sequence,
    plan_replication,
    stamp_of,
    tombstone,
    with_stamp,
)
from failover.settings import SettingsError, load_replicator_settings

E, W = "us-east-1", "us-west-2"
SEQ = "1100000000017454423009"
PSEQ = "000000000000000000" + SEQ  # 40 digits


def change(event, new=None, old=None, created=1_700_000_000.25, seq=SEQ, key="k"):
    return StreamChange(event, {"pk": {"S": key}}, new, old, created, seq)


def item(key="k", n=1, stamp=None):
    base = {"pk": {"S": key}, "n": {"N": str(n)}}
    return with_stamp(base, stamp) if stamp else base


def test_stamps_order_by_version_then_origin_then_sequence():
    assert is_newer(Stamp(2, E), Stamp(1, W))
    assert is_newer(Stamp(1, W), Stamp(1, E))  # tie on version: the greater region name wins
    assert not is_newer(Stamp(1, E), Stamp(1, W))
    assert is_newer(Stamp(1, E, "2".zfill(40)), Stamp(1, E, "1".zfill(40)))
    assert is_newer(Stamp(1, E, "1".zfill(40)), Stamp(1, E))  # a stamp without sequence is the lowest
    assert not is_newer(Stamp(1, E), Stamp(1, E))  # equal: a duplicate, not newer
    assert is_newer(Stamp(0, ""), None)


def test_stamp_of_reads_the_wire_format():
    assert stamp_of({"pk": {"S": "k"}}) is None
    assert stamp_of(None) is None
    assert stamp_of({"_dr_version": {"N": "7"}, "_dr_origin": {"S": W}, "_dr_seq": {"S": PSEQ}}) == Stamp(7, W, PSEQ)
    assert stamp_of({"_dr_version": {"N": "7"}}) == Stamp(7, "", "")


@given(st.integers(0, 10**40 - 1), st.integers(0, 10**40 - 1))
def test_padded_sequences_compare_like_numbers(a, b):
    assert (padded_sequence(str(a)) < padded_sequence(str(b))) == (a < b)
    assert len(padded_sequence(str(a))) == 40


@pytest.mark.parametrize("bad", ["", "12a", "-1", "1" * 41])
def test_padded_sequence_rejects_what_is_not_a_sequence_number(bad):
    with pytest.raises(ValueError):
        padded_sequence(bad)


def test_a_stamped_local_write_keeps_its_version_and_gains_the_sequence():
    plan = plan_replication(change("INSERT", new=item(stamp=Stamp(42, E))), E)
    assert plan.outcome == "replicate"
    assert plan.stamp == Stamp(42, E, PSEQ)
    assert plan.item == {
        "pk": {"S": "k"},
        "n": {"N": "1"},
        "_dr_version": {"N": "42"},
        "_dr_origin": {"S": E},
        "_dr_seq": {"S": PSEQ},
    }


def test_an_item_the_stamp_pushes_over_the_size_limit_cannot_be_replicated():
    fits = {"pk": {"S": "k"}, "v": {"S": "x" * (MAX_ITEM_BYTES - 10)}}
    assert item_size(fits) <= MAX_ITEM_BYTES
    plan = plan_replication(change("INSERT", new=fits), E)
    assert (plan.outcome, plan.item) == ("oversize", None) and plan.size > MAX_ITEM_BYTES
    small = plan_replication(change("INSERT", new={"pk": {"S": "k"}, "v": {"S": "x"}}), E)
    assert small.outcome == "replicate" and small.size == item_size(small.item)


def test_an_unstamped_write_is_versioned_by_the_stream_time():
    plan = plan_replication(change("INSERT", new=item()), E)
    assert plan.stamp == Stamp(1_700_000_000_250_000, E, PSEQ)
    assert plan.item["n"] == {"N": "1"}


def test_an_unstamped_update_of_a_local_item_wins_by_its_later_sequence():
    old = item(stamp=Stamp(1_800_000_000_000_000, E))  # the writer's clock ran ahead of the stream's
    first = plan_replication(change("INSERT", new=old), E)
    later = plan_replication(change("MODIFY", new={**old, "n": {"N": "2"}}, old=old, seq="1100000000017454423010"), E)
    assert later.stamp == Stamp(1_800_000_000_000_000, E, "1100000000017454423010".zfill(40))
    assert is_newer(later.stamp, first.stamp)


def test_an_unstamped_update_of_a_replicated_item_is_never_older_than_it():
    old = item(stamp=Stamp(1_800_000_000_000_000, W, PSEQ))
    plan = plan_replication(change("MODIFY", new={**old, "n": {"N": "2"}}, old=old), E)
    assert plan.stamp == Stamp(1_800_000_000_000_001, E, PSEQ)


def test_what_a_replicator_wrote_is_an_echo():
    stored = item(stamp=Stamp(5, E))
    replicated = item(n=9, stamp=Stamp(6, W, PSEQ))
    assert plan_replication(change("MODIFY", new=replicated, old=stored), E).outcome == "echo"
    assert plan_replication(change("INSERT", new=replicated), E).outcome == "echo"
    assert plan_replication(change("MODIFY", new=replicated, old=None), E).outcome == "echo"  # NEW_IMAGE streams


def test_an_unstamped_update_of_a_replicated_item_is_a_local_write():
    replicated = item(stamp=Stamp(6, W, PSEQ))
    updated = {**replicated, "n": {"N": "3"}}  # the application did not restamp: the stamp is unchanged
    plan = plan_replication(change("MODIFY", new=updated, old=replicated, seq="1100000000017454423010"), E)
    assert plan.outcome == "replicate"
    assert plan.stamp == Stamp(1_700_000_000_250_000, E, "1100000000017454423010".zfill(40))
    assert plan.item["n"] == {"N": "3"}


def test_a_hard_delete_becomes_a_tombstone_newer_than_the_deleted_item():
    old = item(stamp=Stamp(1_900_000_000_000_000, W, PSEQ))
    plan = plan_replication(change("REMOVE", old=old), E)
    assert plan.stamp == Stamp(1_900_000_000_000_001, E, PSEQ)
    assert plan.item == {
        "pk": {"S": "k"},
        "_dr_deleted": {"BOOL": True},
        "_dr_version": {"N": "1900000000000001"},
        "_dr_origin": {"S": E},
        "_dr_seq": {"S": PSEQ},
    }
    assert is_tombstone(plan.item)


def test_an_expired_tombstone_is_not_replicated():
    assert (
        plan_replication(change("REMOVE", old=tombstone({"pk": {"S": "k"}}, Stamp(3, E))), E).outcome
        == "expired-tombstone"
    )


def test_a_client_tombstone_replicates_as_a_put():
    plan = plan_replication(
        change("MODIFY", new=tombstone({"pk": {"S": "k"}}, Stamp(8, E)), old=item(stamp=Stamp(7, E))), E
    )
    assert plan.outcome == "replicate" and is_tombstone(plan.item) and plan.stamp == Stamp(8, E, PSEQ)


def test_records_that_cannot_be_replicated_say_why():
    with pytest.raises(UnreplicableRecord, match="NEW_AND_OLD_IMAGES"):
        plan_replication(change("MODIFY", new=None), E)
    with pytest.raises(UnreplicableRecord, match="eventName"):
        plan_replication(change("TRUNCATE", new=item()), E)


def test_lag_is_measured_from_the_oldest_record_in_milliseconds():
    assert batch_lag_milliseconds([100.0, 99.5, 100.2], now=101.0) == 1500.0
    assert batch_lag_milliseconds([], now=1.0) is None
    assert batch_lag_milliseconds([102.0], now=101.0) == 0.0  # clock skew never reports a negative lag
    assert lag_metric("orders", E) == {
        "Namespace": "DynamoDR/Replication",
        "MetricName": "ReplicationLatency",
        "Dimensions": [{"Name": "TableName", "Value": "orders"}, {"Name": "SourceRegion", "Value": E}],
    }


# -- settings ---------------------------------------------------------------------------------------------
GOOD_ENV = {"AWS_REGION": E, "DR_RECEIVING_REGION": W, "DR_RECEIVING_TABLE": "orders"}


def test_replicator_settings_defaults():
    s = load_replicator_settings(GOOD_ENV)
    assert (s.source_region, s.receiving_region, s.receiving_table, s.workers) == (E, W, "orders", 8)
    assert load_replicator_settings({**GOOD_ENV, "DR_SOURCE_REGION": "eu-west-1"}).source_region == "eu-west-1"


@pytest.mark.parametrize(
    "change_env, words",
    [
        ({"DR_RECEIVING_REGION": ""}, "DR_RECEIVING_REGION is not set"),
        ({"DR_RECEIVING_TABLE": None}, "DR_RECEIVING_TABLE is not set"),
        ({"AWS_REGION": None}, "DR_SOURCE_REGION is not set"),
        ({"DR_RECEIVING_REGION": E}, "DR_RECEIVING_REGION must differ from the source region us-east-1"),
        ({"DR_REPLICATOR_WORKERS": "many"}, "DR_REPLICATOR_WORKERS must be a whole number, got 'many'"),
        ({"DR_REPLICATOR_WORKERS": "0"}, "DR_REPLICATOR_WORKERS must be at least 1"),
        ({"DR_REPLICATOR_WORKERS": "65"}, "DR_REPLICATOR_WORKERS must be at most 64"),
    ],
)
def test_replicator_settings_errors_name_the_variable(change_env, words):
    env = {k: v for k, v in {**GOOD_ENV, **change_env}.items() if v is not None}
    with pytest.raises(SettingsError) as err:
        load_replicator_settings(env)
    assert words in str(err.value)


# -- an in-memory model of two regions, built from the same rules -------------------------------------------
@dataclass
class Region:
    """One region's table and stream, with the conditional semantics DynamoDB applies to our writes."""

    name: str
    items: dict = field(default_factory=dict)
    stream: list = field(default_factory=list)
    clock: float = 1_700_000_000.0

    def conditional_put(self, new: dict) -> bool:
        key = new["pk"]["S"]
        old = self.items.get(key)
        if not is_newer(stamp_of(new), stamp_of(old)):
            return False
        self._write(key, old, new)
        return True

    def unconditional(self, key: str, new) -> None:
        """An application that does not stamp: a plain PutItem (new) or DeleteItem (None)."""
        old = self.items.get(key)
        if old is None and new is None:
            return
        self._write(key, old, new)

    def _write(self, key, old, new):
        if new is None:
            del self.items[key]
        else:
            self.items[key] = new
        self.clock += 0.001
        event = "REMOVE" if new is None else ("INSERT" if old is None else "MODIFY")
        self.stream.append(
            StreamChange(
                event, {"pk": {"S": key}}, new, old, self.clock, str(1100000000017454423009 + len(self.stream))
            )
        )


def deliver(record: StreamChange, source: Region, receiving: Region) -> None:
    plan = plan_replication(record, source.name)
    if plan.item is not None:
        receiving.conditional_put(plan.item)


def content(item):
    """What readers see of an item: its data and stamp (version, origin), without the sequence."""
    return {k: v for k, v in item.items() if k != "_dr_seq"}


KEYS = st.sampled_from(["k0", "k1", "k2"])
WRITES = st.tuples(st.sampled_from([0, 1]), KEYS, st.integers(1, 4), st.booleans(), st.integers(0, 9))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_two_writers_converge_whatever_the_deliveries(data):
    """Both regions write (puts and tombstone deletes, versions chosen to collide); records are delivered in any
    order, any number of times, interleaved with the writes. Both sides end equal, holding for each key the
    write with the greatest (version, region)."""
    regions = [Region(E), Region(W)]
    delivered = [set(), set()]
    attempted = {}
    for _ in range(data.draw(st.integers(1, 25), label="steps")):
        if data.draw(st.booleans(), label="write?"):
            side, key, version, deleted, n = data.draw(WRITES, label="write")
            region = regions[side]
            stamp = Stamp(version, region.name)
            new = tombstone({"pk": {"S": key}}, stamp) if deleted else item(key, n, stamp)
            attempted.setdefault(key, []).append((stamp, new))
            region.conditional_put(new)
        else:
            side = data.draw(st.sampled_from([0, 1]), label="direction")
            source, receiving = regions[side], regions[1 - side]
            if source.stream:
                i = data.draw(st.integers(0, len(source.stream) - 1), label="record")
                deliver(source.stream[i], source, receiving)
                delivered[side].add(i)
    # Lambda eventually delivers every record (and the echoes the deliveries caused), in any order.
    for _ in range(4):  # an echo settles in one round; writes that bounce back and forth never settle
        for side in (0, 1):
            pending = [i for i in range(len(regions[side].stream)) if i not in delivered[side]]
            for i in data.draw(st.permutations(pending), label="final order"):
                deliver(regions[side].stream[i], regions[side], regions[1 - side])
                delivered[side].add(i)
    assert all(len(delivered[s]) == len(regions[s].stream) for s in (0, 1)), "replication never settles"
    east = {k: content(v) for k, v in regions[0].items.items()}
    assert east == {k: content(v) for k, v in regions[1].items.items()}
    for key, writes in attempted.items():
        best = max(writes, key=lambda w: w[0])  # max keeps the first of equals, as the conditional write does
        assert east[key] == best[1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(KEYS, st.one_of(st.none(), st.integers(0, 9))), min_size=1, max_size=20), st.data())
def test_one_unstamped_writer_is_copied_exactly_under_lambda_redeliveries(writes, data):
    """An application that never stamps (plain puts and hard deletes) in one region: Lambda delivers the stream
    in order but replays from a failed record any number of times. The receiving side ends with the same
    visible items; hard deletes are tombstones there."""
    source, receiving = Region(E), Region(W)
    for key, n in writes:
        source.unconditional(key, None if n is None else item(key, n))
    position = 0
    while position < len(source.stream):
        end = data.draw(st.integers(position + 1, len(source.stream)), label="batch end")
        for record in source.stream[position:end]:
            deliver(record, source, receiving)
        failed_at = data.draw(st.one_of(st.none(), st.integers(position, end - 1)), label="first failure")
        position = end if failed_at is None else failed_at
    visible = {
        k: {a: v for a, v in i.items() if not a.startswith("_dr_")}
        for k, i in receiving.items.items()
        if not is_tombstone(i)
    }
    assert visible == source.items
