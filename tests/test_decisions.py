"""Property-based tests of the pure decision logic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from failover.decisions import (
    ControlState,
    LagReading,
    Observation,
    contradicted_by,
    decide_alarm,
    decide_manual,
    decide_monitor,
    lag_gate,
    observe,
)
from failover.settings import Settings

REGIONS = ("us-east-1", "us-east-2", "us-west-2")


def cfg(**over) -> Settings:
    base = dict(app="a", regions=REGIONS, home_region="us-east-2", control_table="t", parameter_name="/p",
                health_urls={r: f"http://{r}" for r in REGIONS}, alarm_regions={}, failure_threshold=3,
                recovery_threshold=3, min_dwell_seconds=300)
    base.update(over)
    return Settings(**base)


health_rounds = st.lists(st.fixed_dictionaries({r: st.booleans() for r in REGIONS}), min_size=1, max_size=60)


def simulate(s: Settings, rounds, start_active="us-east-1", tick=10.0):
    state, now, transitions = ControlState(active_region=start_active), 1000.0, []
    own = Observation("us-east-2")
    for probes in rounds:
        now += tick
        own = observe(own, probes, now, state.epoch, max_gap=2.5 * tick)
        d = decide_monitor(s, state, own, [], probes, now)
        if d.kind == "transition":
            assert probes[d.target], "never onto a target whose probe failed"
            assert d.target != state.active_region
            transitions.append((now, state.active_region, d.target, own.failures.get(state.active_region, 0)))
            state = ControlState(active_region=d.target, epoch=state.epoch + 1, last_transition_at=now)
    return state, transitions


@settings(max_examples=300, deadline=None)
@given(health_rounds, st.sampled_from(["manual", "automatic"]), st.integers(1, 5), st.integers(0, 900))
def test_monitor_safety(rounds, failback, threshold, dwell):
    s = cfg(failback=failback, failure_threshold=threshold, min_dwell_seconds=dwell)
    state, transitions = simulate(s, rounds)
    assert state.active_region in REGIONS  # never zero active regions
    for first, second in zip(transitions, transitions[1:]):
        assert second[0] - first[0] >= dwell  # minimum dwell between transitions
    if failback == "manual":
        # with manual failback, writes only ever move away from a region that kept failing
        assert all(failures >= threshold for *_, failures in transitions)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.integers(1, 50))
def test_flapping_never_transitions(threshold, rounds):
    """Health that never fails `threshold` times in a row never moves writes."""
    s = cfg(failure_threshold=threshold)
    pattern = ([False] * (threshold - 1) + [True]) * rounds
    _, transitions = simulate(s, [{**{r: True for r in REGIONS}, "us-east-1": ok} for ok in pattern])
    assert transitions == []


@given(st.integers(1, 6))
def test_exactly_threshold_failures_transition(threshold):
    s = cfg(failure_threshold=threshold)
    rounds = [{"us-east-1": False, "us-east-2": True, "us-west-2": True}] * threshold
    _, transitions = simulate(s, rounds)
    assert [t[2] for t in transitions] == ["us-east-2"]
    assert transitions[0][3] == threshold


def test_automatic_off_never_transitions():
    s = cfg(automatic=False)
    _, transitions = simulate(s, [{"us-east-1": False, "us-east-2": True, "us-west-2": True}] * 10)
    assert transitions == []


@given(st.sampled_from(REGIONS), st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"]),
       st.fixed_dictionaries({r: st.booleans() for r in REGIONS}))
def test_alarm_only_moves_off_the_active_region_onto_a_healthy_one(alarm_region, alarm_state, probes):
    state = ControlState(active_region="us-east-1")
    d = decide_alarm(cfg(), state, alarm_region, alarm_state, probes, 5000.0)
    if d.kind == "transition":
        assert alarm_state == "ALARM" and alarm_region == "us-east-1"
        assert probes[d.target] and d.target != "us-east-1"
        assert d.target == next(r for r in REGIONS if r != "us-east-1" and probes[r])
    else:
        assert d.target is None


@given(st.sampled_from(REGIONS + ("eu-west-9",)), st.booleans(), st.booleans())
def test_manual(target, healthy, force):
    d = decide_manual(cfg(), ControlState(active_region="us-east-1"), target, healthy, force)
    if target == "eu-west-9":
        assert d.kind == "refused"
    elif target == "us-east-1":
        assert d.kind == "noop"
    else:
        assert d.kind == ("transition" if healthy or force else "refused")


@given(st.one_of(st.none(), st.integers(0, 60)), st.one_of(st.none(), st.floats(0, 120)),
       st.sampled_from([None, True, False]), st.booleans())
def test_lag_gate(rpo, lag, writes, force):
    refusal = lag_gate(rpo, LagReading(lag, writes), force)
    quiet = lag is None and writes is False
    allowed = rpo is None or force or (lag is not None and lag <= rpo) or quiet
    assert (refusal is None) == allowed


def test_lag_gate_reasons():
    assert lag_gate(5, None, False).startswith("replication lag is unknown while the table took writes")
    assert lag_gate(5, LagReading(None, True), False).startswith("replication lag is unknown")
    assert lag_gate(5, LagReading(None, False), False) is None  # a quiet table has nothing to lose
    assert "9.0s exceeds the RPO objective of 5s" in lag_gate(5, LagReading(9.0, True), False)


def test_counts_restart_after_a_gap_or_a_transition():
    obs = Observation("us-east-2")
    down = {"us-east-1": False}
    for t in (10.0, 20.0):
        obs = observe(obs, down, t, epoch=0, max_gap=25)
    assert obs.failures["us-east-1"] == 2 and obs.failing_since["us-east-1"] == 10.0
    assert observe(obs, down, 60.0, epoch=0, max_gap=25).failures["us-east-1"] == 1  # not consecutive: a gap
    assert observe(obs, down, 30.0, epoch=1, max_gap=25).failures["us-east-1"] == 1  # a transition happened


def _observer(name, rounds, start=0.0, epoch=0):
    obs, t = Observation(name), start
    for probes in rounds:
        obs = observe(obs, probes, t, epoch, max_gap=25)
        t += 10
    return obs


def test_a_fresh_observer_that_saw_the_region_healthy_vetoes_the_failover():
    s = cfg(failure_threshold=3)
    state = ControlState(active_region="us-east-1")
    down = {"us-east-1": False, "us-east-2": True, "us-west-2": True}
    up = {"us-east-1": True, "us-east-2": True, "us-west-2": True}
    decider = _observer("us-east-2", [up, down, down, down])  # streak began at t=10, last round t=30
    witness = _observer("us-west-2", [up, up, up, up], start=5.0)  # saw us-east-1 healthy at t=35
    d = decide_monitor(s, state, decider, [witness], down, 36.0)
    assert d.kind == "noop" and "us-west-2 saw it healthy since" in d.reason
    assert contradicted_by(decider, [witness], "us-east-1", 36.0, freshness=25) == "us-west-2"
    stale = _observer("us-west-2", [up], start=-100.0)  # stopped reporting long ago: ignored
    assert decide_monitor(s, state, decider, [stale], down, 36.0).kind == "transition"
    agreeing = _observer("us-west-2", [up, down, down], start=5.0)  # its last success predates the streak
    assert decide_monitor(s, state, decider, [agreeing], down, 36.0).target == "us-east-2"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=40))
def test_two_observers_never_fail_over_a_region_one_of_them_kept_seeing_healthy(rounds):
    """Two standbys observe the primary; a transition happens only when the decider saw N consecutive
    failures and the other observer saw no success since that streak began."""
    s = cfg(failure_threshold=3)
    state = ControlState(active_region="us-east-1")
    a, b = Observation("us-east-2"), Observation("us-west-2")
    for i, (seen_by_a, seen_by_b) in enumerate(rounds):
        t = 1000.0 + 10 * i
        a = observe(a, {"us-east-1": seen_by_a, "us-east-2": True, "us-west-2": True}, t, 0, 25)
        b = observe(b, {"us-east-1": seen_by_b, "us-east-2": True, "us-west-2": True}, t + 5, 0, 25)
        d = decide_monitor(s, state, a, [b], {"us-east-1": seen_by_a, "us-east-2": True, "us-west-2": True}, t + 6)
        if d.kind == "transition":
            streak_start = a.failing_since["us-east-1"]
            assert a.failures["us-east-1"] >= 3
            assert b.last_success.get("us-east-1", float("-inf")) <= streak_start
            break
