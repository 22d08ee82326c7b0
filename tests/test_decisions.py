"""Property-based tests of the pure decision logic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from failover.decisions import ControlState, decide_alarm, decide_manual, decide_monitor, lag_gate, observe
from failover.settings import Settings

REGIONS = ("us-east-1", "us-east-2", "us-west-2")


def cfg(**over) -> Settings:
    base = dict(app="a", regions=REGIONS, home_region="us-east-2", control_table="t", parameter_name="/p",
                health_urls={r: f"http://{r}" for r in REGIONS}, alarm_regions={}, failure_threshold=3,
                recovery_threshold=3, min_dwell_seconds=300)
    base.update(over)
    return Settings(**base)


health_rounds = st.lists(st.fixed_dictionaries({r: st.booleans() for r in REGIONS}), min_size=1, max_size=60)


def simulate(s: Settings, rounds, start_active="us-east-1", tick=60.0):
    state, now, transitions = ControlState(active_region=start_active), 1000.0, []
    for probes in rounds:
        now += tick
        state = observe(state, probes, now)
        d = decide_monitor(s, state, probes, now)
        if d.kind == "transition":
            assert probes[d.target], "never onto a target whose probe failed"
            assert d.target != state.active_region
            transitions.append((now, state.active_region, d.target, state.failures.get(state.active_region, 0)))
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


@given(st.one_of(st.none(), st.integers(0, 60)), st.one_of(st.none(), st.floats(0, 120)), st.booleans())
def test_lag_gate(rpo, lag, force):
    refusal = lag_gate(rpo, lag, force)
    allowed = rpo is None or force or (lag is not None and lag <= rpo)
    assert (refusal is None) == allowed
