"""The drill's history checker: plain functions over records, each check able to fail."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drctl.drill.history import (
    Invocation,
    Notice,
    Observed,
    TrafficRecord,
    Transition,
    WriteRecord,
    acceptance_spans,
    contradictory_notices,
    dual_writers,
    fencing_violations,
    first_acknowledged_write,
    first_served_every_user,
    lost_write_facts,
    lost_writes,
    regressions,
    rpo_seconds,
    writes_of_part,
)


def w(region: str, sent: float, acked: float | None, seq: int = 0) -> WriteRecord:
    return WriteRecord(seq, f"{region}#{seq}#{sent}", region, sent, acked)


def run_of(region: str, start: float, end: float, step: float = 0.05, latency: float = 0.01) -> list[WriteRecord]:
    out, t, i = [], start, 0
    while t <= end:
        out.append(w(region, t, t + latency, i))
        t += step
        i += 1
    return out


def test_one_writer_after_another_with_a_gap_is_no_dual_writing():
    writes = run_of("a", 0.0, 5.0) + run_of("b", 5.6, 9.0)
    result = dual_writers(writes, gap=0.25)
    assert (result.seconds, result.writes) == (0.0, 0)
    assert acceptance_spans(writes, 0.25) == {"a": [(0.0, writes[100].acked_at)], "b": [(5.6, writes[-1].acked_at)]}


def test_overlapping_writers_are_measured_and_named():
    writes = run_of("a", 0.0, 5.0) + run_of("b", 4.5, 9.0)
    result = dual_writers(writes, gap=0.25)
    assert 0.45 < result.seconds < 0.6 and result.writes > 5
    assert "acknowledged by" in result.examples[0]


def test_a_single_stray_write_inside_another_regions_span_is_caught():
    writes = [*run_of("b", 0.0, 5.0), w("a", 2.0, 2.01, 999)]
    result = dual_writers(writes, gap=0.25)
    assert result.writes == 1 and result.examples[0].startswith("a#999")


def test_refused_writes_never_count_as_accepted():
    writes = run_of("a", 0.0, 5.0) + [w("b", t / 10, None, i) for i, t in enumerate(range(50))]
    assert dual_writers(writes, gap=0.25).seconds == 0.0


@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 100), st.floats(0.001, 2)), max_size=40))
def test_commits_out_of_order_between_regions_always_show(raw):
    """Soundness: if some write of one region committed after a later-starting write of another region finished
    committing... any interleaving of two regions' intervals is measured as overlap or a dual write."""
    writes = [w(r, s, s + d, i) for i, (r, s, d) in enumerate(raw)]
    result = dual_writers(writes, gap=0.0)
    overlapping = any(
        x.region != y.region and x.sent_at < y.acked_at and y.sent_at < x.acked_at for x in writes for y in writes
    )
    if overlapping:
        assert result.seconds > 0 or result.writes > 0


def test_regressions_by_epoch_and_by_the_authoritys_history():
    assert regressions([Observed(1, "a", "projection", "r2", 2), Observed(2, "a", "projection", "r1", 1)], []) == [
        "a's projection went back from epoch 2 to 1 (r1) at 2.000"
    ]
    assert regressions([Observed(1, "a", "projection", "r2", 2), Observed(2, "a", "projection", "r2", 2)], []) == []
    history = [Transition(1.0, 1, "r1", "r2"), Transition(2.0, 2, "r2", "r3")]
    without_epochs = [Observed(2.5, "a", "projection", "r3"), Observed(3.0, "a", "projection", "r2")]
    assert len(regressions(without_epochs, history)) == 1
    forward = [Observed(1.5, "a", "projection", "r2"), Observed(2.5, "a", "projection", "r3")]
    assert regressions(forward, history) == []


def test_two_invocations_winning_one_epoch_is_a_fencing_violation():
    invs = [
        Invocation(1, "b", "alarm", "transitioned", "b", 1, ""),
        Invocation(1, "c", "failover", "transitioned", "c", 1, ""),
        Invocation(2, "c", "monitor", "noop", "b", 1, ""),
    ]
    assert fencing_violations(invs) == ["2 invocations each transitioned to epoch 1: b -> b, c -> c"]
    assert fencing_violations(invs[:1] + invs[2:]) == []


def test_notices_must_be_one_per_topic_and_epoch_and_agree():
    good = [Notice("r1", 1, "r2", "r1"), Notice("r2", 1, "r2", "r1")]
    assert contradictory_notices(good) == []
    twice = [*good, Notice("r1", 1, "r2", "r1")]
    assert contradictory_notices(twice) == ["the r1 topic got 2 notices for epoch 1"]
    crossed = [*good, Notice("r3", 1, "r3", "r1")]
    assert contradictory_notices(crossed) == ["notices for epoch 1 name different regions: r2, r3"]


def test_lost_writes_and_the_rpo_span():
    writes = [w("a", 1.0, 1.1, 1), w("a", 2.0, 2.1, 2), w("a", 3.0, None, 3)]
    lost = lost_writes(writes, {writes[0].key})
    assert [x.seq for x in lost] == [2]
    assert rpo_seconds(lost, reference=3.0) == 3.0 - 2.1
    assert rpo_seconds([], 3.0) == 0.0


def test_each_lost_write_says_whether_it_was_recorded_as_a_conflict():
    writes = [w("a", 1.0, 1.1, 1), w("b", 2.0, 2.1, 2)]
    assert lost_write_facts(writes, {writes[1].key}) == [
        {"key": "a#1#1.0", "region": "a", "ackedAt": 1.1, "recordedAsConflict": False},
        {"key": "b#2#2.0", "region": "b", "ackedAt": 2.1, "recordedAsConflict": True},
    ]


def test_figures():
    writes = [w("a", 1.0, 1.1, 1), w("b", 5.0, 5.2, 2)]
    assert first_acknowledged_write(writes, 2.0, {"b"}) == 5.2 - 2.0
    traffic = [TrafficRecord(3.0, "b", True, 0), TrafficRecord(4.0, "b", True, 1), TrafficRecord(3.5, "a", True, 1)]
    assert first_served_every_user(traffic, 2.0, {"b"}) == 2.0
    assert first_served_every_user(traffic[:1], 2.0, {"b"}) == 1.0
    assert first_served_every_user([TrafficRecord(3.0, "a", True, 0)], 2.0, {"b"}) is None


def test_a_write_still_in_flight_when_the_part_ends_is_judged_by_no_part():
    """Its commit may come after the table was read: counting it would report a loss that never happened."""
    settled = WriteRecord(1, "a", "us-east-1", 9.0, 9.5)
    in_flight = WriteRecord(2, "b", "us-east-1", 9.8, 10.2)
    refused = WriteRecord(3, "c", "us-east-1", 9.9, None, "refused")
    before = WriteRecord(4, "d", "us-east-1", 0.5, 1.5)
    part = writes_of_part([settled, in_flight, refused, before], start=1.0, end=10.0)
    assert part == [settled, refused]
    assert lost_writes(part, present_keys={"a"}) == []
