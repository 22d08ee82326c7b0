"""The drill's verdict on synthetic results (every exit-1 condition), its budget per scenario, and the figures it
computes from records."""

from __future__ import annotations

import pytest
from rich.console import Console

from components.budget import TRANSITION_ALLOWANCE_SECONDS, compute_budget
from drctl.drill.measure import (
    TrafficRecord,
    Transition,
    WriteRecord,
    first_acknowledged_write,
    first_served_every_user,
    first_served_request,
    first_status_change,
    first_transition,
    longest_write_gap,
    lost_writes,
    rpo_seconds,
    served_elsewhere,
    transitions_between,
)
from drctl.drill.report import render_table, report_json, scenario_json
from drctl.drill.verdict import (
    DrillTimers,
    Figure,
    ScenarioResult,
    budget_inputs,
    exit_code,
    scenario_budget,
    scenario_failures,
)

REGIONS = ("us-east-1", "us-east-2", "us-west-2")


def result(**overrides) -> ScenarioResult:
    values = dict(name="primary-fails", kind="primary-fails",
                  figures=(Figure("detectionSeconds", 3.0, 9), Figure("writeRtoSeconds", 4.0, 9),
                           Figure("trafficRtoSeconds", 5.0, 15), Figure("rpoSeconds", 0.0, 0.0)),
                  transitions=1, transitions_allowed=(1, 1), acknowledged=100, lost=0, strong=True)
    values.update(overrides)
    return ScenarioResult(**values)


def test_a_scenario_within_budget_passes_and_exits_0():
    assert scenario_failures(result()) == []
    assert exit_code([result(), result(name="failback", kind="failback")]) == 0


def test_a_figure_more_than_20_percent_over_its_budget_fails():
    within = result(figures=(Figure("writeRtoSeconds", 10.8, 9),))
    over = result(figures=(Figure("writeRtoSeconds", 10.9, 9),))
    assert scenario_failures(within) == []
    assert scenario_failures(over) == ["write RTO 10.90s exceeds its budget of 9s by more than 20%"]
    assert exit_code([result(), over]) == 1


def test_a_budgeted_figure_never_reached_fails_and_an_unbudgeted_one_is_only_shown():
    never = result(figures=(Figure("trafficRtoSeconds", None, 15), Figure("monitorDetectionSeconds", 99.0, None)))
    assert scenario_failures(never) == ["traffic RTO was not reached within the scenario (budget 15s)"]


def test_a_lost_acknowledged_write_fails_strong_mode_even_within_the_rpo_figure():
    lost = result(lost=1)
    assert scenario_failures(lost) == ["lost 1 acknowledged writes in strong mode (RPO must be 0)"]
    assert exit_code([lost]) == 1


def test_eventual_mode_may_lose_writes_within_its_rpo_budget_but_not_beyond():
    within = result(strong=False, lost=3, figures=(Figure("rpoSeconds", 0.4, 2.0),))
    beyond = result(strong=False, lost=30, figures=(Figure("rpoSeconds", 2.5, 2.0),))
    assert scenario_failures(within) == []
    assert scenario_failures(beyond) == ["RPO 2.50s exceeds its budget of 2s by more than 20%"]


def test_more_transitions_than_allowed_fail_and_so_do_fewer():
    flapping = result(name="flapping", kind="flapping", transitions_allowed=(0, 1), figures=())
    assert scenario_failures(flapping) == []
    assert scenario_failures(result(name="flapping", kind="flapping", transitions_allowed=(0, 1), figures=(),
                                    transitions=2)) == ["made 2 transitions; at most 1 allowed"]
    assert scenario_failures(result(transitions=0)) == ["made 0 transitions; 1 expected"]
    standby = result(name="standby-fails", kind="standby-fails", transitions_allowed=(0, 0), transitions=1,
                     figures=())
    assert exit_code([standby]) == 1


def test_other_problems_fail_the_scenario():
    crashed = result(problems=("no orchestrator crashed: the crash was never injected",))
    assert scenario_failures(crashed) == ["no orchestrator crashed: the crash was never injected"]


def test_the_drill_budget_comes_from_components_budget_for_the_scaled_timers():
    timers = DrillTimers()
    strong, eventual = budget_inputs(timers, REGIONS, True), budget_inputs(timers, REGIONS, False)
    budget = compute_budget(strong)
    assert (budget.detection_seconds, budget.traffic_rto_seconds, budget.write_rto_seconds) == (9, 15, 9)
    assert budget.rpo_seconds == 0 and compute_budget(eventual).rpo_seconds == timers.rpo_objective_seconds
    assert strong.alarm_evaluation_periods == 0 and strong.orchestrator_regions == REGIONS


def test_each_scenario_budgets_its_own_figures():
    timers = DrillTimers()
    inputs = budget_inputs(timers, REGIONS, True)
    budget = compute_budget(inputs)
    failover = scenario_budget("primary-fails", budget, inputs, timers)
    assert failover == {"detectionSeconds": 9, "monitorDetectionSeconds": 3.5, "writeRtoSeconds": 9,
                        "trafficRtoSeconds": 15, "rpoSeconds": 0.0}
    crash = scenario_budget("orchestrator-crash", budget, inputs, timers)
    assert crash["writeRtoSeconds"] == 9 + timers.lease_seconds
    assert crash["trafficRtoSeconds"] == 15
    back = scenario_budget("failback", budget, inputs, timers)
    assert back["writeRtoSeconds"] == TRANSITION_ALLOWANCE_SECONDS + timers.client_cache_seconds
    assert back["trafficRtoSeconds"] == back["writeRtoSeconds"] + 3 + timers.dns_ttl_seconds
    assert back["detectionSeconds"] is None
    standby = scenario_budget("standby-fails", budget, inputs, timers)
    assert standby["writeRtoSeconds"] is None and standby["trafficRtoSeconds"] is None
    assert standby["detectionSeconds"] == 9
    assert set(v for k, v in scenario_budget("flapping", budget, inputs, timers).items() if k != "rpoSeconds") == {None}
    with pytest.raises(ValueError):
        scenario_budget("meteor", budget, inputs, timers)


def writes() -> list[WriteRecord]:
    return [
        WriteRecord(1, "w#1", "us-east-1", 9.0, 9.05),
        WriteRecord(2, "w#2", "us-east-1", 9.9, 9.95),
        WriteRecord(3, "w#3", "us-east-1", 10.1, None, "ReadTimeoutError"),
        WriteRecord(4, "w#4", "us-east-2", 13.0, 13.2),
        WriteRecord(5, "w#5", "us-east-2", 13.1, 13.3),
    ]


def test_figures_from_records():
    fault = 10.0
    assert first_acknowledged_write(writes(), fault, {"us-east-2", "us-west-2"}) == pytest.approx(3.2)
    assert first_acknowledged_write(writes(), fault, {"us-west-2"}) is None
    traffic = [TrafficRecord(10.5, "us-east-1", False), TrafficRecord(14.0, "us-east-2", False),
               TrafficRecord(14.5, "us-east-2", True)]
    assert first_served_request(traffic, fault, {"us-east-2"}) == pytest.approx(4.5)
    assert served_elsewhere(traffic, fault, 20.0, "us-east-1") == 2
    changes = [(5.0, "us-east-1", False), (12.5, "us-east-2", False), (13.0, "us-east-1", False)]
    assert first_status_change(changes, fault, "us-east-1") == pytest.approx(3.0)
    assert first_status_change(changes, fault, "us-east-1", healthy=True) is None
    moves = [Transition(13.1, 1, "us-east-1", "us-east-2"), Transition(30.0, 2, "us-east-2", "us-east-1")]
    assert first_transition(moves, fault) == pytest.approx(3.1)
    assert first_transition(moves, fault, {"us-east-1"}) == pytest.approx(20.0)
    assert transitions_between(moves, 0.0, 20.0) == 1


def test_the_traffic_rto_is_the_slowest_users():
    traffic = [TrafficRecord(11.0, "us-east-2", True, user=0), TrafficRecord(12.0, "us-east-1", False, user=1),
               TrafficRecord(16.0, "us-east-2", True, user=1)]
    assert first_served_every_user(traffic, 10.0, {"us-east-2"}) == pytest.approx(6.0)
    assert first_served_every_user(traffic[:2], 10.0, {"us-east-2"}) is None  # user 1 never got there
    assert first_served_every_user([], 10.0, {"us-east-2"}) is None


def test_lost_writes_are_acknowledged_ones_missing_afterwards_and_the_rpo_spans_them():
    lost = lost_writes(writes(), present_keys={"w#1", "w#4", "w#5"})
    assert [w.key for w in lost] == ["w#2"]  # w#3 was never acknowledged: not lost
    assert rpo_seconds(lost, reference=10.0) == pytest.approx(0.05)
    assert rpo_seconds([], reference=10.0) == 0.0
    in_flight = [WriteRecord(6, "w#6", "us-east-1", 9.99, 10.02), WriteRecord(7, "w#7", "us-east-1", 9.99, 10.03)]
    assert rpo_seconds(in_flight, reference=10.0) == pytest.approx(0.01)  # acknowledged as the region failed


def test_the_longest_write_gap():
    assert longest_write_gap(writes(), 10.0, 14.0) == pytest.approx(3.2)
    assert longest_write_gap([], 0.0, 5.0) == 5.0


def test_the_report_and_its_table_show_each_failure():
    failing = result(name="standby-fails", kind="standby-fails", transitions_allowed=(0, 0), transitions=1)
    documents = [scenario_json(result(), "the active region fails"), scenario_json(failing, "a standby fails")]
    report = report_json(mode="strong", short=True, regions=REGIONS, timers=DrillTimers().to_json(), budget={},
                         scenarios=documents, emulated=["AWS: moto"], started_at="now", duration=1.0)
    assert report["ok"] is False
    assert report["failures"] == ["standby-fails: made 1 transitions; at most 0 allowed"]
    assert documents[0]["figures"]["writeRtoSeconds"] == {"measured": 4.0, "budget": 9, "ratio": 0.444, "ok": True}
    assert report["timers"]["probeIntervalSeconds"] == 1.0
    console = Console(record=True, width=200)
    console.print(render_table(report))
    text = console.export_text()
    assert "4.0s / 9s" in text and "1 (0)" in text and "FAIL" in text and "pass" in text
