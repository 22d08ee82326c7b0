"""The pure decision logic: observers' rounds counted in time, arming, the quorum, alarms, the lag gate.

Hypothesis drives several observers through arbitrary probe histories (including rounds delivered twice and
handovers) and checks the safety rules hold whatever happens."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from failover.decisions import (
    Alarm,
    ControlState,
    LagReading,
    Observation,
    alarm_gate,
    decide_alarm,
    decide_manual,
    decide_monitor,
    is_armed,
    lag_gate,
    observe,
    quorum,
    settle_seconds,
    votes_failed,
)
from failover.settings import Settings

REGIONS = ("us-east-1", "us-east-2", "us-west-2")
I = 10.0  # probe interval


def cfg(**over) -> Settings:
    base = {
        "app": "a",
        "regions": REGIONS,
        "home_region": "us-east-2",
        "control_table": "t",
        "parameter_name": "/p",
        "health_urls": {r: f"http://{r}" for r in REGIONS},
        "alarm_regions": {},
        "failure_threshold": 3,
        "recovery_threshold": 3,
        "min_dwell_seconds": 300,
        "probe_interval_seconds": I,
    }
    base.update(over)
    return Settings(**base)


def rounds(
    observer: str,
    results: list[dict[str, bool]],
    start: float = 1000.0,
    step: float = I,
    epoch: int = 0,
    obs: Observation | None = None,
) -> Observation:
    obs = obs or Observation(observer)
    for i, probes in enumerate(results):
        obs = observe(obs, probes, start + i * step, epoch, I)
    return obs


UP = dict.fromkeys(REGIONS, True)
A_DOWN = {**UP, "us-east-1": False}


def test_three_counted_failures_make_a_vote_only_once_armed():
    s = cfg()
    armed = rounds("us-east-2", [UP] + [A_DOWN] * 3)
    assert armed.failures["us-east-1"] == 3 and is_armed(armed, "us-east-1")
    assert votes_failed(s, [armed], "us-east-1", 0, 1030.0) == ["us-east-2"]
    never_seen = rounds("us-east-2", [A_DOWN] * 6)  # a first deploy: the name does not resolve yet
    assert never_seen.failures["us-east-1"] == 6 and not is_armed(never_seen, "us-east-1")
    assert votes_failed(s, [never_seen], "us-east-1", 0, 1050.0) == []


def test_rounds_closer_than_the_interval_add_no_failure():
    """A handover or a duplicate delivery: a round 0.45 intervals after the last one is folded."""
    obs = rounds("us-east-2", [UP, A_DOWN])
    obs = observe(obs, A_DOWN, 1000 + I + 0.45 * I, 0, I)
    assert obs.failures["us-east-1"] == 1
    obs = observe(obs, A_DOWN, 1000 + 2 * I, 0, I)
    assert obs.failures["us-east-1"] == 2
    obs = observe(obs, {**A_DOWN, "us-east-1": True}, 1000 + 2.3 * I, 0, I)  # a success always resets
    assert obs.failures["us-east-1"] == 0 and obs.latest["us-east-1"] is True


def test_counts_restart_after_a_gap_or_a_transition_but_arming_is_kept():
    obs = rounds("us-east-2", [UP, A_DOWN, A_DOWN])
    after_gap = observe(obs, A_DOWN, 1000 + 2 * I + 3 * I, 0, I)
    assert after_gap.failures["us-east-1"] == 1
    after_transition = observe(obs, A_DOWN, 1000 + 3 * I, 1, I)
    assert after_transition.failures["us-east-1"] == 1 and after_transition.epoch == 1
    assert is_armed(after_transition, "us-east-1")


def test_one_observer_never_fails_over_however_long_it_sees_the_region_down():
    s = cfg()
    lonely = rounds("us-east-2", [UP] + [A_DOWN] * 30)
    others = [rounds(o, [UP] * 31) for o in ("us-east-1", "us-west-2")]
    d = decide_monitor(s, ControlState("us-east-1"), [lonely, *others], 1000 + 30 * I)
    assert d.kind == "noop" and "2 observers must agree" in d.reason


def test_the_judged_regions_own_view_is_one_voice_not_a_veto():
    """us-east-1 sees itself healthy through a hairpin; nobody else can reach it."""
    s = cfg()
    self_view = rounds("us-east-1", [UP] * 4)
    b = rounds("us-east-2", [UP] + [A_DOWN] * 3)
    c = rounds("us-west-2", [UP] + [A_DOWN] * 3)
    d = decide_monitor(s, ControlState("us-east-1"), [self_view, b, c], 1000 + 3 * I)
    assert (d.kind, d.target) == ("transition", "us-east-2")
    assert "us-east-2, us-west-2" in d.reason


def test_stale_observers_have_no_voice():
    s = cfg()
    b = rounds("us-east-2", [UP] + [A_DOWN] * 3)
    c = rounds("us-west-2", [UP] + [A_DOWN] * 3, start=1000 - 10 * I)  # last reported long ago
    d = decide_monitor(s, ControlState("us-east-1"), [b, c], 1000 + 3 * I)
    assert d.kind == "noop"


def test_the_target_needs_a_quorum_too():
    s = cfg()
    b_sees_b_down = {**A_DOWN, "us-east-2": False}
    b = rounds("us-east-2", [UP] + [b_sees_b_down] * 3)  # its own application fails
    c = rounds("us-west-2", [UP] + [A_DOWN] * 3)
    d = decide_monitor(s, ControlState("us-east-1"), [b, c], 1000 + 3 * I)
    assert (d.kind, d.target) == ("transition", "us-west-2")  # us-east-2 is seen healthy by one observer only
    all_down = dict.fromkeys(REGIONS, False)
    b2 = rounds("us-east-2", [UP] + [all_down] * 3)
    c2 = rounds("us-west-2", [UP] + [all_down] * 3)
    assert decide_monitor(s, ControlState("us-east-1"), [b2, c2], 1000 + 3 * I).kind == "refused"


def test_no_decision_while_a_transition_settles():
    s = cfg()
    b = rounds("us-east-2", [UP] + [{**UP, "us-east-2": False}] * 3)
    c = rounds("us-west-2", [UP] + [{**UP, "us-east-2": False}] * 3)
    state = ControlState("us-east-2", epoch=0, phase="demoting")
    assert decide_monitor(s, state, [b, c], 1000 + 3 * I).reason.endswith("is settling")


@st.composite
def histories(draw):
    """Per observer: a list of (time offset, probes) with arbitrary spacing (handovers, duplicates, gaps)."""
    out = {}
    for observer in REGIONS:
        n = draw(st.integers(1, 25))
        gaps = draw(st.lists(st.sampled_from([0.05 * I, 0.45 * I, I, I, I, 1.2 * I, 3 * I]), min_size=n, max_size=n))
        results = draw(st.lists(st.fixed_dictionaries({r: st.booleans() for r in REGIONS}), min_size=n, max_size=n))
        t, rows = 1000.0, []
        for gap, probes in zip(gaps, results):
            t += gap
            rows.append((t, probes))
        out[observer] = rows
    return out


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(2, 4))
def test_a_transition_needs_a_majority_of_observers_each_with_a_streak_spanning_time(history, threshold):
    s = cfg(failure_threshold=threshold)
    observations = {o: Observation(o) for o in REGIONS}
    for observer, rows in history.items():
        for t, probes in rows:
            observations[observer] = observe(observations[observer], probes, t, 0, I)
    now = max(t for rows in history.values() for t, _ in rows)
    d = decide_monitor(s, ControlState("us-east-1"), list(observations.values()), now)
    if d.kind == "transition":
        voters = [
            o
            for o in observations.values()
            if o.failures.get("us-east-1", 0) >= threshold and now - o.seen_at <= 3 * I and is_armed(o, "us-east-1")
        ]
        assert len(voters) >= quorum(s)
        for o in voters:  # every voter's streak spans at least (threshold - 1) spaced rounds
            assert o.at - o.failing_since["us-east-1"] >= (threshold - 1) * 0.8 * I - 1e-6
        healthy = [o for o in observations.values() if o.latest.get(d.target) and now - o.seen_at <= 3 * I]
        assert len(healthy) >= quorum(s) and d.target != "us-east-1"


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 1.99), st.floats(0.0, 0.99), st.lists(st.sampled_from([0.0, 0.45]), min_size=3, max_size=3))
def test_an_outage_shorter_than_two_intervals_never_fails_over_whatever_the_round_phases(length, phase, dup):
    """Every observer probes every interval (plus a duplicate round `dup` intervals later, as a handover makes);
    the primary is down for less than two intervals: no majority of streaks of three can form."""
    s = cfg()
    down_from, down_to = 1100.0, 1100.0 + length * I
    observations = []
    for k, observer in enumerate(REGIONS):
        obs = Observation(observer)
        times = sorted(
            {1000.0 + (phase + k / 3) * I + i * I for i in range(20)}
            | ({1000.0 + (phase + k / 3 + dup[k]) * I + i * I for i in range(20)} if dup[k] else set())
        )
        for t in times:
            obs = observe(obs, {**UP, "us-east-1": not down_from <= t < down_to}, t, 0, I)
            observations_now = [*list(observations), obs]
            assert decide_monitor(s, ControlState("us-east-1"), observations_now, t).kind != "transition"
        observations.append(obs)


def alarm(region="us-east-1", old="OK", new="ALARM", at=1000.0) -> Alarm:
    return Alarm(region, old, new, at)


def test_alarm_gate_drops_what_is_not_an_outage_of_the_active_region():
    s = cfg()
    state = ControlState("us-east-1", epoch=1, last_transition_at=0.0)
    assert "INSUFFICIENT_DATA -> ALARM" in alarm_gate(s, state, alarm(old="INSUFFICIENT_DATA"), 300, 1000).reason
    assert "dropped" in alarm_gate(s, state, alarm(at=1000 - 6 * 3600), 300, 1000).reason
    assert "unknown age" in alarm_gate(s, state, alarm(at=None), 300, 1000).reason
    assert "is OK" in alarm_gate(s, state, alarm(new="OK"), 300, 1000).reason
    assert "active region" in alarm_gate(s, state, alarm(region="us-east-2"), 300, 1000).reason
    assert "settling" in alarm_gate(s, ControlState("us-east-1", phase="demoting"), alarm(), 300, 1000).reason
    assert alarm_gate(s, state, alarm(), 300, 1000) is None


def test_alarm_needs_the_receivers_own_failed_probe_and_an_armed_observer():
    s = cfg()
    state = ControlState("us-east-1")
    mine_ok = rounds("us-east-2", [UP, UP])
    assert "probe from us-east-2 passed" in decide_alarm(s, state, alarm(), [mine_ok], "us-east-2", 300, 1010).reason
    never = rounds("us-east-2", [A_DOWN])
    assert "seen it healthy" in decide_alarm(s, state, alarm(at=1000), [never], "us-east-2", 300, 1000).reason
    mine_failed = rounds("us-east-2", [UP, A_DOWN])
    c = rounds("us-west-2", [UP, UP])
    d = decide_alarm(s, state, alarm(at=1005), [mine_failed, c], "us-east-2", 300, 1010)
    assert (d.kind, d.target) == ("transition", "us-east-2")


def test_alarm_with_five_observers_needs_a_third_voice():
    regions = ("r1", "r2", "r3", "r4", "r5")
    s = cfg(regions=regions, home_region="r2", health_urls={r: r for r in regions})
    up = dict.fromkeys(regions, True)
    mine = rounds("r2", [up, {**up, "r1": False}])
    d = decide_alarm(s, ControlState("r1"), alarm(region="r1", at=1005), [mine], "r2", 300, 1010)
    assert d.kind == "noop" and "2 voices, 3 needed" in d.reason


@given(st.sampled_from(REGIONS), st.booleans(), st.booleans(), st.sampled_from(["active", "demoting"]))
def test_manual(target, healthy, force, phase):
    s = cfg()
    state = ControlState("us-east-1", phase=phase)
    d = decide_manual(s, state, target, healthy, force)
    if target == "us-east-1":
        assert d.kind == "noop"
    elif not healthy and not force:
        assert d.kind == "refused"
    else:
        assert (d.kind, d.target) == ("transition", target)
    assert decide_manual(s, state, "eu-west-1", True, True).kind == "refused"


def test_lag_gate_counts_silence_while_writes_went_on():
    assert lag_gate(5, LagReading(0.4, True, stale_seconds=240.0), False).startswith("replication has been silent")
    assert lag_gate(5, LagReading(0.4, True), False) is None
    assert lag_gate(5, LagReading(6.0, True), False).startswith("replication lag 6.0s")
    assert lag_gate(5, LagReading(None, False), False) is None
    assert "unknown" in lag_gate(5, LagReading(None, None), False)
    assert lag_gate(5, LagReading(60.0, True), True) is None
    assert lag_gate(None, LagReading(60.0, True), False) is None


def test_settle_is_the_lease_or_the_recent_lag_within_the_rpo():
    assert settle_seconds(5.0, None, LagReading(9.0, True)) == 5.0
    assert settle_seconds(5.0, 10, LagReading(8.0, True)) == 8.0
    assert settle_seconds(5.0, 10, LagReading(30.0, True)) == 10.0
    assert settle_seconds(5.0, 10, None) == 5.0


def test_a_transition_decision_without_a_target_ends_in_a_known_outcome():
    """`Result.outcome` is one of transitioned/noop/refused/rejected/error: never the decision's own "transition"."""
    from failover.decisions import Decision
    from failover.transition import Transitions

    result = Transitions().apply(ControlState("us-east-1", epoch=4), Decision("transition"), force=False)
    assert (result.outcome, result.active_region, result.epoch) == ("error", "us-east-1", 4)
    noop = Transitions().apply(ControlState("us-east-1", epoch=4), Decision("noop", reason="why"), force=False)
    assert (noop.outcome, noop.reason) == ("noop", "why")
