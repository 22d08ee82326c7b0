"""RTO/RPO budget arithmetic, checked by hand and by properties."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from components.budget import BudgetInputs, budget_inputs_from_config, compute_budget
from components.config import parse_stack_config
from tests.stack_values import dr_values

BASE = BudgetInputs(
    health_interval_seconds=10, health_failure_threshold=3, dns_ttl_seconds=60, alarm_evaluation_periods=1,
    monitor_interval_seconds=60, monitor_failure_threshold=3, client_cache_seconds=5, strong_consistency=True,
    rpo_gate_seconds=0, automatic_failover=True, objective_rto_seconds=120, objective_rpo_seconds=0,
)


def test_prod_defaults_by_hand():
    b = compute_budget(BASE)
    assert b.detection_seconds == 10 * 3 + 4 + 2
    assert b.traffic_rto_seconds == 36 + 60
    # the alarm path (36 + 60) beats the monitor path (180); + 10 s transition + 5 s client cache
    assert b.write_rto_seconds == 96 + 10 + 5
    assert (b.rto_seconds, b.rpo_seconds, b.meets_rto, b.meets_rpo) == (111, 0, True, True)


def test_seed_settings_are_far_slower():
    # The seeds: 30 s x 3 checks, alarm 60 s x 3 periods, no faster monitor. The published example's "about 330 s"
    # is 90 + 180 + 60 (TTL); with the checker time-outs, transition and client cache the write path
    # alone is 96 + 180 + 10 + 5.
    seed = replace(BASE, health_interval_seconds=30, alarm_evaluation_periods=3, monitor_interval_seconds=600)
    b = compute_budget(seed)
    assert b.traffic_rto_seconds == 156
    assert b.write_rto_seconds == 291 and not b.meets_rto
    assert compute_budget(BASE).rto_seconds < b.rto_seconds - 150


def test_eventual_rpo_is_the_lag_gate_and_manual_failover_never_meets_rto():
    b = compute_budget(replace(BASE, strong_consistency=False, rpo_gate_seconds=5, automatic_failover=False))
    assert b.rpo_seconds == 5 and not b.meets_rpo
    assert not b.meets_rto


def test_shipped_prod_stack_meets_its_objectives_and_beats_the_seed():
    b = compute_budget(budget_inputs_from_config(parse_stack_config(dr_values("prod"))))
    assert b.meets_rto and b.meets_rpo
    assert b.rto_seconds < 330 / 2


@given(
    interval=st.sampled_from([10, 30]), threshold=st.integers(1, 10), periods=st.integers(1, 5),
    monitor=st.integers(1, 60), monitor_threshold=st.integers(1, 10), cache=st.integers(0, 300),
)
def test_budget_is_monotonic_and_write_never_beats_detection(interval, threshold, periods, monitor, monitor_threshold, cache):
    i = replace(BASE, health_interval_seconds=interval, health_failure_threshold=threshold,
                alarm_evaluation_periods=periods, monitor_interval_seconds=monitor * 60,
                monitor_failure_threshold=monitor_threshold, client_cache_seconds=cache)
    b = compute_budget(i)
    slower = compute_budget(replace(i, health_failure_threshold=threshold + 1))
    assert slower.traffic_rto_seconds > b.traffic_rto_seconds
    assert slower.write_rto_seconds >= b.write_rto_seconds
    assert b.traffic_rto_seconds == b.detection_seconds + 60
    assert b.write_rto_seconds >= min(b.detection_seconds + 60 * periods, monitor * 60 * monitor_threshold)
