"""The stack's CloudWatch dashboard: what an operator looks at during an outage or a drill.

`dashboard_body` builds the body (CloudWatch's dashboard body structure: a `widgets` array on a 24-column grid, each
widget with type, x, y, width, height and properties; a metric widget's `metrics` rows are
`[namespace, metric name, dimension name, value, ..., {rendering options}]` and its `region` is where they live).
It is a plain function of plain values, tested directly; `Dashboard` only declares it.

Where it lives. Dashboards are global to an account (one name, whichever regional endpoint writes it); the
dashboard is declared through the alarm region's provider (us-east-1, `ROUTE53_METRICS_REGION`), by the plane in one
stack and by the traffic tier in per-tier stacks, not by an automation tier:
- it needs every site's Route 53 health check id, and the traffic tier declares those checks, after the
  automation tiers (an automation tier cannot read them: it deploys first);
- there is one dashboard per stack, and there are as many automation tiers as sites: only a tier that exists once
  may declare it, and the traffic tier is the one that already reaches beyond one region (us-east-1's alarms);
- us-east-1 is where Route 53's health metrics and alarms already are, so the dashboard adds no region to any tier.
Each widget names the region of its metrics, so the graphs of a surviving region still load while another region
is out (a widget of the failed region simply shows no data).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alarms import (
    DYNAMODB_NAMESPACE,
    FUNCTION_NAME,
    HEALTH_CHECK_ID,
    HEALTH_CHECK_STATUS,
    ITERATOR_AGE,
    LAMBDA_ERRORS,
    LAMBDA_NAMESPACE,
    QUEUE_DEPTH,
    QUEUE_NAME,
    RECEIVING_REGION,
    REPLICATION_LATENCY,
    ROUTE53_NAMESPACE,
    SQS_NAMESPACE,
    TABLE_NAME,
    direction_key,
)
from components.naming import DASHBOARD, aws_name
from components.providers import ROUTE53_METRICS_REGION
from failover import metrics
from failover.replication import lag_metric

GRID_COLUMNS = 24
PERIOD = 60
WIDGET_HEIGHT = 6
PER_LINE = 4


def dashboard_name(app: str, stack: str) -> str:
    return aws_name(DASHBOARD, f"{app}-{stack}-dr")


@dataclass(frozen=True)
class Replicator:
    """One direction of streams replication, as the dashboard shows it (in its source region)."""

    source: str
    receiving: str
    function_name: str
    queue_name: str


@dataclass(frozen=True)
class DashboardInputs:
    app: str
    stack: str
    regions: list[str]
    """The data regions in failover priority; each runs an orchestrator."""
    sites: Mapping[str, str]
    """Data region -> the site's name (what the health checks are named by)."""
    health_check_ids: Mapping[str, str]
    """Data region -> the site's Route 53 health check id."""
    table_name: str
    orchestrator_function: str
    """The orchestrator's function name, the same in every region (the `service` dimension of its metrics)."""
    replication: str = "global"
    """`global` (a global table: AWS/DynamoDB's ReplicationLatency) or `streams` (the replicators' own)."""
    replicators: list[Replicator] = field(default_factory=list)
    observer_region: str | None = None
    """The control table's witness region, whose observer publishes the same metrics (two regions only)."""


def _metric_row(namespace: str, name: str, dimensions: Mapping[str, str], **options: Any) -> list:
    row: list = [namespace, name]
    for key, value in dimensions.items():
        row += [key, value]
    return [*row, options] if options else row


def _graph(title: str, region: str, rows: list[list], stat: str, **extra: Any) -> dict:
    return {
        "type": "metric",
        "properties": {
            "title": title,
            "region": region,
            "metrics": rows,
            "stat": stat,
            "period": PERIOD,
            "view": "timeSeries",
            **extra,
        },
    }


def _site(inputs: DashboardInputs, region: str) -> str:
    """A site's label: its name, and its data region when that differs (`nyc3 (us-east-1)`)."""
    site = inputs.sites[region]
    return site if site == region else f"{site} ({region})"


def _health(inputs: DashboardInputs) -> dict:
    rows = [
        _metric_row(
            ROUTE53_NAMESPACE,
            HEALTH_CHECK_STATUS,
            {HEALTH_CHECK_ID: inputs.health_check_ids[r]},
            label=_site(inputs, r),
        )
        for r in inputs.regions
    ]
    return _graph(
        "Route 53 health per site (1 healthy, 0 failing)",
        ROUTE53_METRICS_REGION,
        rows,
        "Minimum",
        yAxis={"left": {"min": 0, "max": 1}},
    )


def _orchestrator_row(inputs: DashboardInputs, region: str) -> list[dict]:
    service = {metrics.SERVICE_DIMENSION: inputs.orchestrator_function}
    outcomes = [
        _metric_row(metrics.NAMESPACE, name, service, label=name)
        for name in (metrics.TRANSITIONS, metrics.REFUSALS, metrics.ERRORS, metrics.REJECTED)
    ]
    active = [
        _metric_row(
            metrics.NAMESPACE, metrics.ACTIVE_REGION, {**service, metrics.REGION_DIMENSION: r}, label=_site(inputs, r)
        )
        for r in inputs.regions
    ]
    epoch = [_metric_row(metrics.NAMESPACE, metrics.ACTIVE_EPOCH, service, label="epoch")]
    return [
        _graph(f"Orchestrator outcomes, {region}", region, outcomes, "Sum"),
        _graph(
            f"Active region as {region} reads it (1 active)",
            region,
            active,
            "Maximum",
            yAxis={"left": {"min": 0, "max": 1}},
        ),
        _graph(f"Epoch as {region} reads it", region, epoch, "Maximum"),
    ]


def _replication_row(inputs: DashboardInputs) -> list[dict]:
    """Lag per direction: AWS/DynamoDB's, in the source region (global tables), or the replicators' own metric, in
    the receiving region (streams), where the failover's lag gate reads it."""
    if inputs.replication == "streams":
        return [
            _graph(
                f"Replication lag into {receiving} (ms)",
                receiving,
                [
                    _metric_row(
                        m["Namespace"],
                        m["MetricName"],
                        {d["Name"]: d["Value"] for d in m["Dimensions"]},
                        label=f"from {source}",
                    )
                    for source in inputs.regions
                    if source != receiving
                    for m in [lag_metric(inputs.table_name, source)]
                ],
                "Maximum",
            )
            for receiving in inputs.regions
        ]
    return [
        _graph(
            f"Replication latency from {source} (ms)",
            source,
            [
                _metric_row(
                    DYNAMODB_NAMESPACE,
                    REPLICATION_LATENCY,
                    {TABLE_NAME: inputs.table_name, RECEIVING_REGION: receiving},
                    label=f"to {receiving}",
                )
                for receiving in inputs.regions
                if receiving != source
            ],
            "Maximum",
        )
        for source in inputs.regions
    ]


def _replicator_row(inputs: DashboardInputs, source: str) -> list[dict]:
    mine = [r for r in inputs.replicators if r.source == source]

    def rows(namespace: str, name: str, dimension: str, attribute: str) -> list[list]:
        return [
            _metric_row(namespace, name, {dimension: getattr(r, attribute)}, label=f"to {r.receiving}") for r in mine
        ]

    return [
        _graph(
            f"Replicator iterator age from {source} (ms)",
            source,
            rows(LAMBDA_NAMESPACE, ITERATOR_AGE, FUNCTION_NAME, "function_name"),
            "Maximum",
        ),
        _graph(
            f"Replicator errors from {source}",
            source,
            rows(LAMBDA_NAMESPACE, LAMBDA_ERRORS, FUNCTION_NAME, "function_name"),
            "Sum",
        ),
        _graph(
            f"Failure queue depth from {source} (batches to resync)",
            source,
            rows(SQS_NAMESPACE, QUEUE_DEPTH, QUEUE_NAME, "queue_name"),
            "Maximum",
        ),
    ]


def _header(inputs: DashboardInputs) -> dict:
    sites = ", ".join(_site(inputs, r) for r in inputs.regions)
    text = (
        f"# {inputs.app} ({inputs.stack}): disaster recovery\n"
        f"Sites in failover priority: {sites}. Replication: {inputs.replication}. "
        "Declared by the stack's Pulumi program: edits made here are undone by the next `pulumi up`."
    )
    return {"type": "text", "properties": {"markdown": text}}


def _place(rows: list[list[dict]]) -> list[dict]:
    """Each row's widgets side by side, sharing the 24 columns (at most `PER_LINE` a line); rows stacked."""
    placed, y = [], 0
    lines = [row[i : i + PER_LINE] for row in rows for i in range(0, len(row), PER_LINE)]
    for line in lines:
        height = 2 if all(w["type"] == "text" for w in line) else WIDGET_HEIGHT
        width = GRID_COLUMNS // len(line)
        for i, widget in enumerate(line):
            placed.append({**widget, "x": i * width, "y": y, "width": width, "height": height})
        y += height
    return placed


def dashboard_body(inputs: DashboardInputs) -> dict:
    """The dashboard body: a header, Route 53 health per site, per orchestrator region its outcomes, the active region
    and the epoch it reads, the replication lag per direction, and (streams) each replicator's iterator age, errors
    and failure queue depth."""
    rows: list[list[dict]] = [[_header(inputs)], [_health(inputs)]]
    observers = [*inputs.regions, *([inputs.observer_region] if inputs.observer_region else [])]
    rows += [_orchestrator_row(inputs, region) for region in observers]
    rows.append(_replication_row(inputs))
    if inputs.replication == "streams":
        rows += [_replicator_row(inputs, source) for source in inputs.regions]
    return {"start": "-PT3H", "periodOverride": "inherit", "widgets": _place(rows)}


class Dashboard(pulumi.ComponentResource):
    """The stack's dashboard (through the alarm region's provider: see the module's docstring)."""

    dashboard_name: str

    def __init__(
        self,
        name: str,
        *,
        inputs: pulumi.Output[DashboardInputs],
        app: str,
        stack: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dr:observe:Dashboard", name, None, opts)
        self.dashboard_name = dashboard_name(app, stack)
        aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=self.dashboard_name,
            dashboard_body=inputs.apply(lambda i: json.dumps(dashboard_body(i), sort_keys=True)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"dashboardName": self.dashboard_name})


def replicators_from(
    regions: list[str], function_names: Mapping[tuple[str, str], str], queue_names: Mapping[str, str]
) -> list[Replicator]:
    """The replicators of every direction, from their function names and the failure queue names by direction key."""
    return [
        Replicator(s, r, function_names[s, r], queue_names[direction_key(s, r)])
        for s in regions
        for r in regions
        if s != r
    ]
