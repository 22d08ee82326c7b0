"""The drill's Route 53 model: checkers and thresholds, the 18% rule, the failover record chain, the TTL cache."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drctl.drill.route53 import (
    CachedAnswer,
    CheckerView,
    HealthChecks,
    check_passed,
    checker_offsets,
    endpoint_healthy,
    failover_answer,
    record_check,
    resolve_cached,
)

REGIONS = ["us-east-1", "us-east-2", "us-west-2"]


def fold(results, threshold, view=CheckerView()):
    views = [view]
    for passed in results:
        views.append(record_check(views[-1], passed, threshold))
    return views


def test_a_checker_flips_after_threshold_consecutive_opposite_results_both_ways():
    views = fold([False, False, False, True, True, True], threshold=3)
    assert [v.healthy for v in views] == [True, True, True, False, False, False, True]
    assert views[2] == CheckerView(True, 2)


def test_an_agreeing_result_resets_the_streak():
    views = fold([False, False, True, False, False], threshold=3)
    assert all(v.healthy for v in views)
    assert views[-1].streak == 2


@given(st.lists(st.booleans(), max_size=60), st.integers(min_value=2, max_value=5))
def test_flapping_shorter_than_the_threshold_never_marks_a_healthy_endpoint_unhealthy(results, threshold):
    longest, run = 0, 0
    for passed in results:
        run = 0 if passed else run + 1
        longest = max(longest, run)
    views = fold(results, threshold)
    assert all(v.healthy for v in views) == (longest < threshold)


def test_threshold_one_follows_every_result():
    assert [v.healthy for v in fold([False, True, False], threshold=1)] == [True, False, True, False]
    with pytest.raises(ValueError):
        record_check(CheckerView(), False, 0)


@pytest.mark.parametrize(
    ("healthy_checkers", "checkers", "healthy"),
    [(1, 3, True), (0, 3, False), (3, 3, True), (2, 10, True), (1, 10, False), (1, 5, True), (0, 1, False)],
)
def test_an_endpoint_is_healthy_while_more_than_18_percent_of_checkers_say_so(healthy_checkers, checkers, healthy):
    views = [CheckerView(i < healthy_checkers) for i in range(checkers)]
    assert endpoint_healthy(views) is healthy


@pytest.mark.parametrize(
    ("status", "passed"), [(200, True), (204, True), (302, True), (404, False), (503, False), (None, False)]
)
def test_http_checks_pass_on_2xx_and_3xx_only(status, passed):
    assert check_passed(status) is passed


@pytest.mark.parametrize(
    ("health", "answer"),
    [
        ({"us-east-1": True, "us-east-2": True, "us-west-2": True}, "us-east-1"),
        ({"us-east-1": False, "us-east-2": True, "us-west-2": True}, "us-east-2"),
        ({"us-east-1": False, "us-east-2": False, "us-west-2": True}, "us-west-2"),
        ({"us-east-1": True, "us-east-2": False, "us-west-2": False}, "us-east-1"),
        ({"us-east-1": False, "us-east-2": True, "us-west-2": False}, "us-east-2"),
        ({"us-east-1": False, "us-east-2": False, "us-west-2": False}, "us-east-1"),  # fail-open: PRIMARY
    ],
)
def test_the_failover_chain_answers_like_route_53(health, answer):
    assert failover_answer(REGIONS, health) == answer


def test_two_regions_fail_open_to_the_primary():
    assert failover_answer(["eu-west-1", "eu-central-1"], {"eu-west-1": False, "eu-central-1": False}) == "eu-west-1"
    assert failover_answer(["eu-west-1", "eu-central-1"], {"eu-west-1": False, "eu-central-1": True}) == "eu-central-1"


@given(st.integers(min_value=2, max_value=6).flatmap(lambda n: st.lists(st.booleans(), min_size=n, max_size=n)))
def test_the_chain_answers_the_first_healthy_region_in_priority_or_the_primary_when_none_is(health_list):
    regions = [f"region-{i}" for i in range(len(health_list))]
    health = dict(zip(regions, health_list))
    healthy = [r for r in regions if health[r]]
    assert failover_answer(regions, health) == (healthy[0] if healthy else regions[0])


def test_health_checks_record_when_an_endpoint_changes_status():
    checks = HealthChecks(REGIONS, checkers=3, threshold=2)
    for t, checker in enumerate([0, 1, 2, 0, 1]):
        checks.record("us-east-1", checker, False, float(t))
    assert checks.healthy()["us-east-1"] is True  # checker 2 has one failure only
    assert checks.record("us-east-1", 2, False, 5.0) is True
    assert checks.healthy() == {"us-east-1": False, "us-east-2": True, "us-west-2": True}
    assert checks.changes == [(5.0, "us-east-1", False)]
    checks.record("us-east-1", 0, True, 6.0)
    assert checks.record("us-east-1", 0, True, 7.0) is True  # one checker of three is more than 18%
    assert checks.changes[-1] == (7.0, "us-east-1", True)


def test_checkers_spread_their_requests_over_the_interval():
    assert checker_offsets(4, 2.0) == [0.0, 0.5, 1.0, 1.5]
    with pytest.raises(ValueError):
        checker_offsets(0, 1.0)


def test_a_resolver_keeps_its_answer_for_the_ttl():
    asked = []

    def ask():
        asked.append(1)
        return "us-east-2" if len(asked) > 1 else "us-east-1"

    first = resolve_cached(None, 100.0, 6, ask)
    assert first == CachedAnswer("us-east-1", 106.0)
    assert resolve_cached(first, 105.9, 6, ask) is first and len(asked) == 1
    assert resolve_cached(first, 106.0, 6, ask) == CachedAnswer("us-east-2", 112.0)
