"""The orchestrator's outcomes as CloudWatch metrics: the names (which the stack's dashboard and alarms import from
here, so the two sides cannot drift) and their publication, once per invocation, through Powertools' Metrics in the
embedded metric format (EMF).

EMF is a JSON line on the function's standard output: Lambda sends it to the function's log group and CloudWatch
extracts the metrics from it, in the function's region. No CloudWatch API call is made and no permission beyond the
log group's (`logs:PutLogEvents`, which the role has) is needed. Publishing never fails an invocation: a failover
that happened is not undone, nor reported as failed, because its metrics could not be written.

Every metric has the dimension `service`, the function's name (`<app>-<stack>-dr-orchestrator`, the same in
every region and unique to the stack); `ActiveRegion` has `Region` too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from failover.logs import logger

NAMESPACE = "DynamoDR/Orchestrator"
SERVICE_DIMENSION = "service"
REGION_DIMENSION = "Region"

INVOCATIONS = "Invocations"
TRANSITIONS = "Transitions"
REFUSALS = "Refusals"
ERRORS = "Errors"
REJECTED = "Rejected"
ACTIVE_EPOCH = "ActiveEpoch"
"""The control item's epoch as this invocation read it (absent when it read none)."""
ACTIVE_REGION = "ActiveRegion"
"""Per region (dimension `Region`): 1 for the region that takes writes as this invocation saw it, 0 for the others."""

OUTCOME_METRICS: dict[str, str] = {
    "transitioned": TRANSITIONS,
    "refused": REFUSALS,
    "error": ERRORS,
    "rejected": REJECTED,
}
"""Outcome (`failover.transition.Outcome`) -> the count it adds 1 to; `noop` counts only as an invocation."""

COUNTS = (INVOCATIONS, *OUTCOME_METRICS.values())

FUNCTION_NAME_VARIABLE = "AWS_LAMBDA_FUNCTION_NAME"
"""Set by Lambda in every function's environment: the `service` dimension's value."""


def service_name(environ: Mapping[str, str] | None = None) -> str:
    """The `service` dimension: the function's name in Lambda, else Powertools' service name (drills, scripts)."""
    env = os.environ if environ is None else environ
    return env.get(FUNCTION_NAME_VARIABLE) or env.get("POWERTOOLS_SERVICE_NAME") or "dr-orchestrator"


def outcome_values(result: Mapping[str, Any], regions: Iterable[str]) -> tuple[dict[str, float], dict[str, float]]:
    """What one invocation publishes: (the counts and the epoch, by metric name; the active-region gauge by region).
    The gauges only when the invocation read which region is active."""
    outcome = result.get("outcome")
    values: dict[str, float] = dict.fromkeys(COUNTS, 0.0)
    values[INVOCATIONS] = 1.0
    if outcome in OUTCOME_METRICS:
        values[OUTCOME_METRICS[outcome]] = 1.0
    epoch = result.get("epoch")
    if isinstance(epoch, int) and not isinstance(epoch, bool):
        values[ACTIVE_EPOCH] = float(epoch)
    active = result.get("activeRegion")
    gauges = {r: float(r == active) for r in regions} if isinstance(active, str) and active else {}
    return values, gauges


def publish_outcome(result: Mapping[str, Any], regions: Iterable[str], service: str | None = None) -> bool:
    """Flush this invocation's metrics: one EMF line for the counts and the epoch, one per region for the gauge.
    Returns whether they were written; never raises."""
    try:
        from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
    except ImportError:  # pragma: no cover - only without the layer (the application side never calls this)
        return False
    try:
        values, gauges = outcome_values(result, regions)
        name = service or service_name()
        # EphemeralMetrics: its own metric set (Metrics shares one per process), flushed here and nowhere else.
        counts = EphemeralMetrics(namespace=NAMESPACE, service=name)
        for metric, value in values.items():
            counts.add_metric(name=metric, unit=MetricUnit.Count, value=value)
        counts.flush_metrics()
        for region, value in gauges.items():
            gauge = EphemeralMetrics(namespace=NAMESPACE, service=name)
            gauge.add_dimension(name=REGION_DIMENSION, value=region)
            gauge.add_metric(name=ACTIVE_REGION, unit=MetricUnit.Count, value=value)
            gauge.flush_metrics()
        return True
    except Exception as exc:
        logger.warning("metrics not published", extra={"error": f"{type(exc).__name__}: {exc}"})
        return False
