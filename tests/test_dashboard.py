"""The stack's dashboard: its body against CloudWatch's dashboard body structure, and every graphed metric against
what the stack declares (offline previews of prod, staging, do, ovh, and staging with streams replication)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from components.alarms import direction_key
from components.dashboard import DashboardInputs, Replicator, dashboard_body, dashboard_name
from failover import metrics
from failover.replication import LAG_METRIC, LAG_NAMESPACE

ROOT = Path(__file__).resolve().parent.parent
WIDGET_KEYS = {"type", "x", "y", "width", "height", "properties"}
STATS = {"Minimum", "Maximum", "Sum", "Average", "SampleCount"}
RENDERING = {"label", "color", "stat", "period", "visible", "yAxis", "id", "region"}


def structure_problems(body: dict) -> list[str]:
    """What CloudWatch's dashboard body structure refuses (or a reader could not use) in `body`."""
    problems = []
    widgets = body.get("widgets")
    if not isinstance(widgets, list) or len(widgets) > 500:
        return ["widgets is not an array of at most 500 widgets"]
    cells: dict[tuple[int, int], int] = {}
    for i, w in enumerate(widgets):
        if set(w) != WIDGET_KEYS:
            problems.append(f"widget {i} has keys {sorted(w)}")
            continue
        x, y, width, height = w["x"], w["y"], w["width"], w["height"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (x, y, width, height)):
            problems.append(f"widget {i}: position and size must be whole numbers")
            continue
        if not (x >= 0 and x + width <= 24 and width >= 1 and y >= 0 and 1 <= height <= 1000):
            problems.append(f"widget {i} lies outside the 24-column grid")
        for cx in range(x, x + width):
            for cy in range(y, y + height):
                if (cx, cy) in cells:
                    problems.append(f"widget {i} overlaps widget {cells[cx, cy]}")
                cells[cx, cy] = i
        props = w["properties"]
        if w["type"] == "text":
            if not isinstance(props.get("markdown"), str) or not props["markdown"]:
                problems.append(f"widget {i}: a text widget needs markdown")
        elif w["type"] == "metric":
            problems += [f"widget {i}: {p}" for p in _metric_problems(props)]
        else:
            problems.append(f"widget {i}: type {w['type']!r} is not one this dashboard uses")
    return problems


def _metric_problems(props: dict) -> list[str]:
    problems = []
    if not isinstance(props.get("region"), str) or not props["region"]:
        problems.append("no region")
    if props.get("stat") not in STATS or props.get("period", 60) % 60:
        problems.append(f"stat {props.get('stat')!r} / period {props.get('period')!r}")
    rows = props.get("metrics")
    if not isinstance(rows, list) or not 1 <= len(rows) <= 100:
        return [*problems, "metrics is not an array of 1 to 100 rows"]
    for row in rows:
        strings = row[:-1] if isinstance(row[-1], dict) else row
        if isinstance(row[-1], dict) and not set(row[-1]) <= RENDERING:
            problems.append(f"rendering options {sorted(row[-1])}")
        if len(strings) < 2 or len(strings) % 2 or not all(isinstance(s, str) and s for s in strings):
            problems.append(f"row {row} is not namespace, name, then dimension name/value pairs")
    return problems


def metric_rows(body: dict) -> list[tuple[str, str, str, dict[str, str]]]:
    """(widget region, namespace, metric name, dimensions) of every graphed metric."""
    out = []
    for w in body["widgets"]:
        if w["type"] != "metric":
            continue
        for row in w["properties"]["metrics"]:
            strings = row[:-1] if isinstance(row[-1], dict) else row
            dims = dict(zip(strings[2::2], strings[3::2], strict=True))
            out.append((w["properties"]["region"], strings[0], strings[1], dims))
    return out


# -- the body, as a plain function ------------------------------------------------------------------------------
def _inputs(regions: list[str], streams: bool, witness: str | None = None) -> DashboardInputs:
    return DashboardInputs(
        app="orders",
        stack="prod",
        regions=regions,
        sites={r: f"site-{i}" for i, r in enumerate(regions)},
        health_check_ids={r: f"check-{r}" for r in regions},
        table_name="orders-prod",
        orchestrator_function="orders-prod-dr-orchestrator",
        replication="streams" if streams else "global",
        replicators=[Replicator(s, r, f"fn-{s}-{r}", f"q-{s}-{r}") for s in regions for r in regions if s != r]
        if streams
        else [],
        observer_region=witness,
    )


def test_a_global_table_dashboard():
    body = dashboard_body(_inputs(["us-east-1", "us-west-2"], streams=False, witness="us-east-2"))
    assert structure_problems(body) == []
    rows = metric_rows(body)
    health = [(reg, d) for reg, ns, name, d in rows if (ns, name) == ("AWS/Route53", "HealthCheckStatus")]
    assert health == [
        ("us-east-1", {"HealthCheckId": "check-us-east-1"}),
        ("us-east-1", {"HealthCheckId": "check-us-west-2"}),
    ]
    latency = sorted((reg, d["ReceivingRegion"]) for reg, ns, name, d in rows if name == "ReplicationLatency")
    assert latency == [("us-east-1", "us-west-2"), ("us-west-2", "us-east-1")]  # per direction, in its source
    outcomes = {(reg, name) for reg, ns, name, d in rows if ns == metrics.NAMESPACE}
    for region in ("us-east-1", "us-west-2", "us-east-2"):  # every orchestrator, the witness's observer too
        for name in ("Transitions", "Refusals", "Errors", "Rejected", "ActiveRegion", "ActiveEpoch"):
            assert (region, name) in outcomes
    assert not any(ns in ("AWS/Lambda", "AWS/SQS") for _, ns, _, _ in rows)  # no replicator to show


def test_a_streams_dashboard_shows_each_replicator_in_its_source_region():
    body = dashboard_body(_inputs(["eu-west-1", "eu-central-1"], streams=True))
    assert structure_problems(body) == []
    rows = metric_rows(body)
    lag = sorted((reg, d["SourceRegion"]) for reg, ns, name, d in rows if (ns, name) == (LAG_NAMESPACE, LAG_METRIC))
    assert lag == [("eu-central-1", "eu-west-1"), ("eu-west-1", "eu-central-1")]  # read where it is published
    assert not any(name == "ReplicationLatency" and ns == "AWS/DynamoDB" for _, ns, name, _ in rows)
    by = {
        (ns, name): sorted((reg, *d.values()) for reg, n2, m2, d in rows if (n2, m2) == (ns, name))
        for ns, name in (
            ("AWS/Lambda", "IteratorAge"),
            ("AWS/Lambda", "Errors"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        )
    }
    assert by["AWS/Lambda", "IteratorAge"] == [
        ("eu-central-1", "fn-eu-central-1-eu-west-1"),
        ("eu-west-1", "fn-eu-west-1-eu-central-1"),
    ]
    assert by["AWS/Lambda", "Errors"] == by["AWS/Lambda", "IteratorAge"]
    assert by["AWS/SQS", "ApproximateNumberOfMessagesVisible"] == [
        ("eu-central-1", "q-eu-central-1-eu-west-1"),
        ("eu-west-1", "q-eu-west-1-eu-central-1"),
    ]


def test_the_structure_check_can_fail():
    body = dashboard_body(_inputs(["us-east-1", "us-west-2"], streams=False))
    broken = json.loads(json.dumps(body))
    broken["widgets"][1]["x"] = 20  # now off the grid and over its neighbour's cells
    del broken["widgets"][2]["properties"]["region"]
    broken["widgets"][3]["properties"]["metrics"][0] = ["DynamoDR/Orchestrator", "Errors", "service"]
    problems = structure_problems(broken)
    assert any("outside the 24-column grid" in p for p in problems)
    assert any("no region" in p for p in problems)
    assert any("dimension name/value pairs" in p for p in problems)


@given(
    count=st.integers(2, 6),
    streams=st.booleans(),
    witness=st.booleans(),
)
def test_any_number_of_regions_makes_a_valid_dashboard(count, streams, witness):
    regions = [f"r-{i}" for i in range(count)]
    body = dashboard_body(_inputs(regions, streams, "r-witness" if witness else None))
    assert structure_problems(body) == []
    health = [d["HealthCheckId"] for _, _, name, d in metric_rows(body) if name == "HealthCheckStatus"]
    assert health == [f"check-{r}" for r in regions]


# -- against what the stacks declare ----------------------------------------------------------------------------
def _preview(stack: str, stack_file: Path | None = None) -> dict:
    args = [sys.executable, "-m", "drctl", "preview", "--stack", stack, "--json"]
    if stack_file is not None:
        args += ["--stack-file", str(stack_file)]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def previews(tmp_path_factory) -> dict[str, dict]:
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    doc["config"]["dr:table"]["replication"] = "streams"
    path = tmp_path_factory.mktemp("streams") / "Pulumi.streams.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = {stack: _preview(stack) for stack in ("prod", "staging", "do", "ovh")}
    out["streams"] = _preview("streams", path)
    return out


def _functions(doc: dict, handler: str) -> list[dict]:
    return [
        r
        for r in doc["resources"]
        if r["type"] == "aws:lambda/function:Function" and r["inputs"]["handler"] == f"failover.{handler}.handler"
    ]


def _declared(doc: dict) -> dict[str, set[str]]:
    """Dimension name -> every value the stack declares for it."""
    out = doc["outputs"]
    orchestrators = _functions(doc, "orchestrator")
    replicators = _functions(doc, "replicator")
    env = orchestrators[0]["inputs"]["environment"]["variables"]
    regions = set(out["regions"])
    return {
        "HealthCheckId": set(out["healthCheckIds"].values()),
        "TableName": {out["tableName"]},
        "service": {f["inputs"]["name"] for f in orchestrators},
        "Region": regions,
        "ReceivingRegion": regions,
        "SourceRegion": regions,
        "FunctionName": {f["inputs"]["name"] for f in replicators},
        "QueueName": {
            f["inputs"]["environment"]["variables"]["DR_FAILURE_QUEUE_URL"].rsplit("/", 1)[1] for f in replicators
        },
        "widget regions": {f["region"] for f in orchestrators}
        | {"us-east-1"}
        | set(env["DR_OBSERVER_REGIONS"].split(",")),
    }


ORCHESTRATOR_METRICS = {*metrics.COUNTS, metrics.ACTIVE_EPOCH, metrics.ACTIVE_REGION}
AWS_METRICS = {
    ("AWS/Route53", "HealthCheckStatus"),
    ("AWS/DynamoDB", "ReplicationLatency"),
    (LAG_NAMESPACE, LAG_METRIC),
    ("AWS/Lambda", "IteratorAge"),
    ("AWS/Lambda", "Errors"),
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
}


@pytest.mark.parametrize("stack", ["prod", "staging", "do", "ovh", "streams"])
def test_every_graphed_metric_is_one_the_stack_declares(previews, stack):
    doc = previews[stack]
    [board] = [r for r in doc["resources"] if r["type"] == "aws:cloudwatch/dashboard:Dashboard"]
    assert board["region"] == "us-east-1" and board["inputs"]["dashboardName"] == doc["outputs"]["dashboardName"]
    assert board["inputs"]["dashboardName"] == dashboard_name("orders", stack)
    body = json.loads(board["inputs"]["dashboardBody"])
    assert structure_problems(body) == []
    declared = _declared(doc)
    rows = metric_rows(body)
    for region, namespace, name, dims in rows:
        assert region in declared["widget regions"], (region, name)
        if namespace == metrics.NAMESPACE:
            assert name in ORCHESTRATOR_METRICS
        else:
            assert (namespace, name) in AWS_METRICS
        for key, value in dims.items():
            assert value in declared[key], (name, key, value)
    # everything worth seeing is there: every health check, every replicator and its queue
    for key in ("HealthCheckId", "FunctionName", "QueueName"):
        assert {v for *_, d in rows for k, v in d.items() if k == key} == declared[key], key
    assert doc["policies"]["violations"] == []


@pytest.mark.parametrize("stack", ["prod", "staging", "do", "ovh", "streams"])
def test_every_alarm_is_graphed_on_the_dashboard_and_tells_someone(previews, stack):
    doc = previews[stack]
    [board] = [r for r in doc["resources"] if r["type"] == "aws:cloudwatch/dashboard:Dashboard"]
    graphed = {
        (ns, name, tuple(sorted(d.items())))
        for _, ns, name, d in metric_rows(json.loads(board["inputs"]["dashboardBody"]))
    }
    alarms = [r for r in doc["resources"] if r["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm"]
    assert alarms
    for a in alarms:
        i = a["inputs"]
        assert (i["namespace"], i["metricName"], tuple(sorted(i["dimensions"].items()))) in graphed, i["name"]
        assert i["alarmActions"], i["name"]


def test_a_streams_stack_alarms_on_each_replicator_to_its_source_regions_notices(previews):
    doc = previews["streams"]
    notices = json.loads(_functions(doc, "orchestrator")[0]["inputs"]["environment"]["variables"]["DR_TOPIC_ARNS"])
    alarms = {
        a["inputs"]["name"]: a
        for a in doc["resources"]
        if a["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm"
        and a["inputs"]["namespace"] in ("AWS/Lambda", "AWS/SQS")
    }
    directions = [("eu-west-1", "eu-central-1"), ("eu-central-1", "eu-west-1")]
    assert sorted(alarms) == sorted(
        f"orders-streams-ops-replication-{what}-{s}-to-{r}" for s, r in directions for what in ("stalled", "failures")
    )
    for s, r in directions:
        stalled = alarms[f"orders-streams-ops-replication-stalled-{s}-to-{r}"]
        failures = alarms[f"orders-streams-ops-replication-failures-{s}-to-{r}"]
        for alarm in (stalled, failures):
            assert alarm["region"] == s and alarm["inputs"]["alarmActions"] == [notices[s]]
        assert stalled["inputs"]["metricName"] == "IteratorAge" and stalled["inputs"]["threshold"] == 300_000
        assert failures["inputs"]["dimensions"]["QueueName"] in _declared(doc)["QueueName"]
    assert direction_key("eu-west-1", "eu-central-1") == "eu-west-1->eu-central-1"
