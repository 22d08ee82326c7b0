"""RTO/RPO budget arithmetic, checked by hand and by properties."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from components.budget import BudgetInputs, budget_inputs_from_config, compute_budget
from components.config import parse_stack_config
from tests.stack_values import dr_values

PROD_REGIONS = ("us-east-1", "us-east-2", "us-west-2")
BASE = BudgetInputs(
    regions=PROD_REGIONS,
    orchestrator_regions=PROD_REGIONS,
    health_interval_seconds=10,
    health_failure_threshold=3,
    dns_ttl_seconds=60,
    alarm_evaluation_periods=1,
    probe_interval_seconds=10,
    probe_timeout_seconds=3,
    monitor_failure_threshold=3,
    client_cache_seconds=5,
    strong_consistency=True,
    rpo_gate_seconds=0,
    automatic_failover=True,
    objective_rto_seconds=120,
    objective_rpo_seconds=0,
)


def test_prod_defaults_by_hand():
    b = compute_budget(BASE)
    assert b.detection_seconds == 10 * 3 + 4 + 2
    assert b.traffic_rto_seconds == 36 + 60
    # us-east-1 hosts the alarms: its failure leaves the monitor path, 3 probes x 10 s + a 3 s timeout,
    # + 5 s transition + 5 s client cache
    assert (b.write_rto_seconds, b.write_path, b.worst_failure) == (43, "monitor", "us-east-1")
    assert (b.rto_seconds, b.rpo_seconds, b.meets_rto, b.meets_rpo) == (96, 0, True, True)
    assert b.misses() == []


def test_the_alarm_path_does_not_count_when_its_region_is_the_one_that_fails():
    slow_monitor = replace(BASE, probe_interval_seconds=60)
    b = compute_budget(slow_monitor)
    # were the alarm path counted, writes would take 96 + 5 + 5 = 106 s; us-east-1 failing takes it away
    assert (b.write_rto_seconds, b.write_path, b.worst_failure) == (60 * 3 + 3 + 10, "monitor", "us-east-1")
    elsewhere = compute_budget(
        replace(slow_monitor, regions=("eu-west-1", "eu-central-1"), orchestrator_regions=("eu-west-1", "eu-central-1"))
    )
    assert (elsewhere.write_rto_seconds, elsewhere.write_path) == (96 + 10, "alarm")


def test_no_surviving_orchestrator_means_no_automated_rto():
    b = compute_budget(replace(BASE, orchestrator_regions=("us-east-1",)))
    assert (b.write_path, b.worst_failure, b.meets_rto) == ("none", "us-east-1", False)
    assert "no detection path survives the failure of us-east-1" in b.misses()[0]


def test_warm_standby_adds_the_scale_up_to_traffic():
    b = compute_budget(replace(BASE, scale_up_seconds=90))
    assert b.traffic_rto_seconds == 33 + 4 + 90  # the scale-up starts with the epoch bump
    assert b.misses() == [
        "traffic RTO 127s exceeds the RTO objective of 120s (traffic 127s, writes 43s via the "
        "monitor path when us-east-1 fails)"
    ]


def test_seed_settings_are_far_slower():
    # The seeds: 30 s x 3 checks, alarm 60 s x 3 periods, a once-a-minute monitor needing 3 ticks.
    seed = replace(BASE, health_interval_seconds=30, alarm_evaluation_periods=3, probe_interval_seconds=60)
    b = compute_budget(seed)
    assert b.traffic_rto_seconds == 156
    assert b.write_rto_seconds == 193 and not b.meets_rto
    assert compute_budget(BASE).rto_seconds < b.rto_seconds - 90


def test_eventual_rpo_is_the_lag_gate_and_manual_failover_never_meets_rto():
    b = compute_budget(replace(BASE, strong_consistency=False, rpo_gate_seconds=5, automatic_failover=False))
    assert b.rpo_seconds == 5 and not b.meets_rpo
    assert not b.meets_rto
    assert b.misses() == [
        "failover is manual: no automated RTO can be guaranteed",
        "RPO 5s exceeds the RPO objective of 0s",
    ]


def test_shipped_prod_stack_meets_its_objectives_on_the_surviving_path():
    b = compute_budget(budget_inputs_from_config(parse_stack_config(dr_values("prod"))))
    assert b.meets_rto and b.meets_rpo
    assert b.write_rto_seconds <= 45 and b.write_path == "monitor"


@given(
    interval=st.sampled_from([10, 30]),
    threshold=st.integers(1, 10),
    periods=st.integers(0, 5),
    probe=st.integers(5, 60),
    monitor_threshold=st.integers(1, 10),
    cache=st.integers(0, 300),
    scale=st.sampled_from([0, 60, 90]),
)
def test_budget_is_monotonic_and_never_beats_its_surviving_path(
    interval, threshold, periods, probe, monitor_threshold, cache, scale
):
    i = replace(
        BASE,
        health_interval_seconds=interval,
        health_failure_threshold=threshold,
        alarm_evaluation_periods=periods,
        probe_interval_seconds=probe,
        monitor_failure_threshold=monitor_threshold,
        client_cache_seconds=cache,
        scale_up_seconds=scale,
    )
    b = compute_budget(i)
    slower = compute_budget(replace(i, health_failure_threshold=threshold + 1))
    assert slower.traffic_rto_seconds > b.traffic_rto_seconds or scale
    assert slower.write_rto_seconds >= b.write_rto_seconds
    assert b.traffic_rto_seconds >= b.detection_seconds + 60
    # us-east-1 is in every prod-like stack: writes never rest on the alarm path alone
    assert b.write_path == "monitor"
    # detection, two fenced writes (4 s), the settle (the client lease, strong consistency), the pickup (lease / 5)
    assert b.write_rto_seconds == -(-(probe * monitor_threshold + 3 + 4 + cache + cache / 5) // 1)


def test_drctl_budget_exits_1_when_an_objective_is_missed():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent

    def budget(*args):
        return subprocess.run(
            [sys.executable, "-m", "drctl", "budget", *args], cwd=root, capture_output=True, text=True, timeout=120
        )

    ok = budget("--stack", "prod")
    assert ok.returncode == 0 and "meets" in ok.stdout and "misses" not in ok.stdout
    slow = budget("--stack", "slow-rto", "--stack-file", str(root / "tests" / "stacks" / "Pulumi.slow-rto.yaml"))
    assert slow.returncode == 1 and "misses" in slow.stdout
