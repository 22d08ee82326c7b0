"""`drctl verify` against the moto server on loopback, with a deployment of the prod stack the tests build.

moto 5.2.5 does not implement DynamoDB global tables version 2019.11.21: UpdateTable ignores
`ReplicaUpdates` and DescribeTable never has `Replicas`. The tests therefore create the table in every
region themselves, and where a test needs DynamoDB's replica listing, `replica_listing` adds the
`Replicas` field to moto's DescribeTable answer as DynamoDB documents it (botocore's after-call event,
in the test's own session). Everything else verify reads is moto's state. Plain moto (no listing) is
tested too: verify then says the table is not global.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
import zipfile
from pathlib import Path

import boto3
import pytest

from drctl.verify import (
    GLOBAL,
    TOTAL_MAX_ATTEMPTS,
    Check,
    DeclaredTopic,
    Outcome,
    VerifyUsageError,
    client_config,
    control_state_problems,
    declared_from_document,
    exit_code,
    resolve_topic,
    session_clients,
    verify_declared,
)
from failover import projection
from failover.decisions import ControlState

ROOT = Path(__file__).resolve().parent.parent
PRIMARY, STANDBYS = "us-east-1", ("us-east-2", "us-west-2")
REGIONS = (PRIMARY, *STANDBYS)
DATA, CONTROL = "orders-prod", "orders-prod-dr-control"
PARAM = "/orders/prod/active_region"
FUNCTION = "orders-prod-dr-orchestrator"
CONTROL_KEY = {"pk": {"S": "control#orders"}}


def drctl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "drctl", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture(scope="module")
def prod_document() -> dict:
    run = drctl("preview", "--stack", "prod", "--json")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def declared(prod_document):
    return declared_from_document(prod_document)


@pytest.fixture
def aws(moto_server, monkeypatch):
    """A clean moto server (its state is global: reset before each test) and credentials for it."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": PRIMARY,
        "AWS_ENDPOINT_URL": moto_server,
    }.items():
        monkeypatch.setenv(key, value)
    return moto_server


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buf.getvalue()


def build_deployment(declared) -> dict:
    """Create on moto what `pulumi up` of the prod stack leaves behind; returns the physical names."""
    world = {"topics": {}, "functions": {}, "health_checks": {}}
    for topic in declared.topics:  # Pulumi auto-names topics `<logical>-<7 hex>`
        sns = boto3.client("sns", region_name=topic.region)
        world["topics"][topic.urn] = sns.create_topic(
            Name=f"{topic.logical_name}-0a1b2c3", Attributes={"KmsMasterKeyId": "alias/aws/sns"}
        )["TopicArn"]
    # the same logical name from another stack in this account: verify must pick the one this stack uses
    world["decoy"] = boto3.client("sns", region_name=PRIMARY).create_topic(
        Name="orders-notify-us-east-1-topic-ffff000"
    )["TopicArn"]
    for table in declared.tables:
        for replica in table.replicas:
            ddb = boto3.client("dynamodb", region_name=replica.region)
            ddb.create_table(
                TableName=table.name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                SSESpecification={"Enabled": True},
                DeletionProtectionEnabled=True,
            )
            ddb.update_continuous_backups(
                TableName=table.name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
    primary = declared.regions[0]
    for replica in declared.control_table.replicas:  # no replication on moto: one item per region's table
        boto3.client("dynamodb", region_name=replica.region).put_item(
            TableName=declared.control_table.name,
            Item={**CONTROL_KEY, "activeRegion": {"S": primary}, "epoch": {"N": "4"}},
        )
    for region in declared.parameter_regions:
        boto3.client("ssm", region_name=region).put_parameter(
            Name=declared.parameter_name, Value=projection.render(primary, 4), Type="String"
        )
    _build_orchestrators(declared, world)
    _build_health_checks_and_alarms(declared, world)
    return world


def _build_orchestrators(declared, world: dict) -> None:
    role = boto3.client("iam", region_name=PRIMARY).create_role(
        RoleName="orders-orchestrator", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    topics_by_region = {t.region: world["topics"][t.urn] for t in declared.topics}
    for fn in declared.functions:
        env = dict(fn.environment, DR_TOPIC_ARNS=json.dumps(topics_by_region, sort_keys=True))
        lam = boto3.client("lambda", region_name=fn.region)
        arn = lam.create_function(
            FunctionName=fn.name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": _zip()},
            Environment={"Variables": env},
        )["FunctionArn"]
        world["functions"][fn.urn] = arn
        events = boto3.client("events", region_name=fn.region)
        for schedule in (s for s in declared.schedules if s.function_urn == fn.urn):
            rule = events.put_rule(
                Name=f"orders-orchestrator-{fn.region}-monitor-1234abc", ScheduleExpression=schedule.expression
            )["RuleArn"]
            events.put_targets(
                Rule=rule.rsplit("/", 1)[-1], Targets=[{"Id": "fn", "Arn": arn, "Input": schedule.input}]
            )
            lam.add_permission(
                FunctionName=fn.name,
                StatementId="schedule",
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=rule,
            )
        for sub in (s for s in declared.subscriptions if s.function_urn == fn.urn):
            topic = world["topics"][sub.topic_urn]
            boto3.client("sns", region_name=topic.split(":")[3]).subscribe(
                TopicArn=topic, Protocol="lambda", Endpoint=arn
            )
            lam.add_permission(
                FunctionName=fn.name,
                StatementId="alarms",
                Action="lambda:InvokeFunction",
                Principal="sns.amazonaws.com",
                SourceArn=topic,
            )


def _build_health_checks_and_alarms(declared, world: dict) -> None:
    route53 = boto3.client("route53", region_name=PRIMARY)
    for i, hc in enumerate(declared.health_checks):
        created = route53.create_health_check(CallerReference=f"hc-{i}", HealthCheckConfig=dict(hc.config))
        hc_id = created["HealthCheck"]["Id"]
        route53.change_tags_for_resource(
            ResourceType="healthcheck", ResourceId=hc_id, AddTags=[{"Key": "Name", "Value": hc.tag_name}]
        )
        world["health_checks"][hc.urn] = hc_id
    for alarm in declared.alarms:
        topic = world["topics"][alarm.topic_urns[0]]
        if alarm.health_check_urn is None:  # an operator alarm (components.alarms): verify checks its actions only
            metric = {"Namespace": "DynamoDR/Orchestrator", "MetricName": "Errors", "Dimensions": []}
        else:
            health_check = world["health_checks"][alarm.health_check_urn]
            metric = {
                "Namespace": "AWS/Route53",
                "MetricName": "HealthCheckStatus",
                "Dimensions": [{"Name": "HealthCheckId", "Value": health_check}],
            }
        boto3.client("cloudwatch", region_name=alarm.region).put_metric_alarm(
            AlarmName=alarm.name,
            **metric,
            Statistic="Minimum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="LessThanThreshold",
            TreatMissingData="breaching",
            AlarmActions=[topic],
            OKActions=[topic],
        )


def replica_listing(
    session: boto3.Session, declared, status: dict | None = None, consistency: str | None = None
) -> None:
    """Stand-in for what moto cannot represent: DynamoDB's `Replicas` list on DescribeTable (see the module
    docstring). Every region of a declared table is listed ACTIVE unless `status[(table, region)]` says
    otherwise; the consistency is the declared one unless `consistency` says otherwise."""
    status, tables = status or {}, {t.name: t for t in declared.tables}

    def add(parsed, **_):
        table = parsed.get("Table")
        if table and table.get("TableName") in tables:
            declared_table = tables[table["TableName"]]
            table["Replicas"] = [
                {"RegionName": r.region, "ReplicaStatus": status.get((table["TableName"], r.region), "ACTIVE")}
                for r in declared_table.replicas
            ]
            table["MultiRegionConsistency"] = consistency or ("STRONG" if declared_table.strong else "EVENTUAL")

    session.events.register("after-call.dynamodb.DescribeTable", add)


def verify(declared, listed: bool = True, **listing) -> tuple[list[Check], int]:
    session = boto3.Session()
    if listed:
        replica_listing(session, declared, **listing)
    report = verify_declared(declared, session=session, read_timeout=3)
    return report.checks, exit_code(report)


def failures(checks: list[Check]) -> dict[tuple[str, str], str]:
    return {(c.what, c.where): c.detail for c in checks if not c.ok}


def row(checks: list[Check], what: str, where: str) -> Check:
    found = [c for c in checks if (c.what, c.where) == (what, where)]
    assert len(found) == 1, f"expected one row {what} @ {where}, got {found}"
    return found[0]


# --- what the stack declares -------------------------------------------------------------------------


def test_declared_from_the_prod_preview(declared):
    assert declared.stack == "prod" and declared.regions == REGIONS
    assert {t.name for t in declared.tables} == {DATA, CONTROL}
    for table in declared.tables:
        assert table.primary == PRIMARY and table.strong and table.kms
        assert [(r.region, r.point_in_time_recovery, r.deletion_protection) for r in table.replicas] == [
            (r, True, True) for r in REGIONS
        ]
    assert declared.control_table.name == CONTROL
    assert declared.parameter_name == PARAM and sorted(declared.parameter_regions) == sorted(REGIONS)
    assert sorted((f.name, f.region) for f in declared.functions) == [(FUNCTION, r) for r in sorted(REGIONS)]
    assert [s.expression for s in declared.schedules] == ["rate(1 minute)"] * 3
    assert {json.loads(s.input)["action"] for s in declared.schedules} == {"monitor"}
    topics = {t.urn: t for t in declared.topics}
    assert sorted((t.logical_name, t.region, t.kms) for t in topics.values()) == [
        ("orders-alarms-topic", PRIMARY, True)
    ] + [(f"orders-notify-{r}-topic", r, True) for r in sorted(REGIONS)]
    assert {topics[s.topic_urn].region for s in declared.subscriptions} == {PRIMARY}  # the alarm topic
    assert sorted(h.tag_name for h in declared.health_checks) == [f"orders-prod-{r}" for r in sorted(REGIONS)]
    hc = next(h for h in declared.health_checks if h.tag_name == "orders-prod-us-west-2")
    assert hc.config == {
        "Type": "HTTPS",
        "FullyQualifiedDomainName": "us-west-2.api.orders.example.com",
        "Port": 443,
        "ResourcePath": "/health/route",
        "RequestInterval": 10,
        "FailureThreshold": 3,
    }
    health_by_urn = {h.urn: h for h in declared.health_checks}
    health_alarms = [a for a in declared.alarms if a.health_check_urn is not None]
    assert sorted((a.name, a.region, health_by_urn[a.health_check_urn].tag_name) for a in health_alarms) == [
        (f"orders-prod-{r}-unhealthy", PRIMARY, f"orders-prod-{r}") for r in sorted(REGIONS)
    ]
    assert all(topics[a.topic_urns[0]].region == PRIMARY and a.has_ok_actions for a in health_alarms)
    # each orchestrator's errors alarm, to its own region's notice topic
    ops = sorted(
        (a.name, a.region, topics[a.topic_urns[0]].logical_name) for a in declared.alarms if a not in health_alarms
    )
    assert ops == [(f"orders-prod-ops-orchestrator-errors-{r}", r, f"orders-notify-{r}-topic") for r in sorted(REGIONS)]


def test_a_stack_without_orchestrator_cannot_be_verified(prod_document):
    doc = dict(
        prod_document, resources=[r for r in prod_document["resources"] if r["type"] != "aws:lambda/function:Function"]
    )
    with pytest.raises(VerifyUsageError, match="declares no failover orchestrator"):
        declared_from_document(doc)


# --- against moto -------------------------------------------------------------------------------------


def test_a_healthy_deployment_passes_every_check(aws, declared):
    world = build_deployment(declared)
    checks, code = verify(declared)
    assert failures(checks) == {} and code == 0
    # 2 tables x 3 regions x 4 checks, 3 control items, 3 parameters, 3 orchestrators x 3 rows, 3 notice
    # topics + the alarm topic, 3 health checks x 2 rows, 3 health alarms and 3 orchestrator errors alarms
    assert len(checks) == 24 + 3 + 3 + 9 + 4 + 6 + 3 + 3
    assert row(checks, "alarm orders-prod-ops-orchestrator-errors-us-west-2", "us-west-2").ok
    assert row(checks, f"SSM {PARAM}", "us-west-2").detail == "us-east-1 (epoch 4), as the control item says"
    assert row(checks, "control item control#orders", "us-east-2").detail == "active us-east-1, epoch 4"
    assert row(checks, f"table {DATA}", "us-west-2").detail == "ACTIVE, strong consistency"
    assert row(checks, f"table {DATA}: deletion protection", "us-west-2").detail == "on"
    alarm_topic = next(world["topics"][s.topic_urn] for s in declared.subscriptions)
    assert row(checks, "topic orders-alarms-topic", PRIMARY).detail.startswith(alarm_topic)
    assert world["decoy"] not in json.dumps([c.detail for c in checks])
    assert row(checks, f"trigger: alarm topic -> {FUNCTION}", "us-west-2").detail == f"subscribed to {alarm_topic}"
    assert row(checks, f"trigger: schedule -> {FUNCTION}", "us-east-2").detail.startswith("rate(1 minute) via ")
    # moto's Route 53 always answers one "Success" observation: only presence and shape are exercised here
    assert row(checks, "health check status orders-prod-us-east-2", GLOBAL).detail == "1/1 checkers report success"


def test_a_healthy_staging_deployment_passes_too(aws):
    run = drctl("preview", "--stack", "staging", "--json")
    assert run.returncode == 0, run.stderr
    staging = declared_from_document(json.loads(run.stdout))
    assert staging.regions == ("eu-west-1", "eu-central-1")
    build_deployment(staging)
    checks, code = verify(staging)
    assert failures(checks) == {} and code == 0
    # 2 tables x 2 regions x 4, 2 control items, 2 parameters, 2 orchestrators x 3 and the witness region's
    # observer x 2 (it has no alarm trigger), 2 notice topics + the alarm topic, 2 x 2 health, 2 health alarms
    # and 2 orchestrator errors alarms (none for the observer: no notice topic in its region)
    assert len(checks) == 16 + 2 + 2 + 6 + 2 + 3 + 4 + 2 + 2
    assert row(checks, "table orders-staging", "eu-central-1").detail == "ACTIVE, eventual consistency"
    assert row(checks, "table orders-staging-dr-authority", "eu-central-1").detail == "ACTIVE, strong consistency"
    assert {c.where for c in checks} == {"eu-west-1", "eu-central-1", "eu-west-2", "us-east-1", GLOBAL}


def test_plain_moto_has_no_replica_listing_and_verify_says_not_global(aws, declared):
    build_deployment(declared)
    checks, code = verify(declared, listed=False)
    assert code == 1
    assert set(failures(checks)) == {(f"table {t}", r) for t in (DATA, CONTROL) for r in REGIONS}
    assert failures(checks)[(f"table {DATA}", "us-east-2")] == (
        "us-east-1 lists no replicas: not a global table (version 2019.11.21)"
    )


def test_unprotected_strong_replica_and_a_disagreeing_parameter_are_reported(aws, declared):
    build_deployment(declared)
    boto3.client("dynamodb", region_name="us-west-2").update_table(TableName=DATA, DeletionProtectionEnabled=False)
    boto3.client("ssm", region_name="us-east-2").put_parameter(
        Name=PARAM, Value=projection.render("us-west-2", 3), Type="String", Overwrite=True
    )
    checks, code = verify(declared)
    assert code == 1
    failed = failures(checks)
    assert set(failed) == {(f"table {DATA}: deletion protection", "us-west-2"), (f"SSM {PARAM}", "us-east-2")}
    protection = failed[(f"table {DATA}: deletion protection", "us-west-2")]
    assert "known provider defect: strong-consistency replicas are created without it" in protection
    assert (
        "aws dynamodb update-table --region us-west-2 --table-name orders-prod --deletion-protection-enabled"
        in protection
    )
    assert failed[(f"SSM {PARAM}", "us-east-2")].startswith(
        "us-west-2 (epoch 3), but the control item says us-east-1 (epoch 4)"
    )


def test_a_malformed_control_item_is_reported_and_the_projection_compared_with_a_good_one(aws, declared):
    build_deployment(declared)
    boto3.client("dynamodb", region_name="us-east-2").put_item(
        TableName=CONTROL, Item={**CONTROL_KEY, "epoch": {"N": "5"}}
    )  # no activeRegion
    boto3.client("dynamodb", region_name="us-west-2").put_item(
        TableName=CONTROL, Item={**CONTROL_KEY, "activeRegion": {"S": "mars-1"}, "epoch": {"N": "5"}}
    )
    checks, code = verify(declared)
    assert code == 1
    failed = failures(checks)
    assert set(failed) == {("control item control#orders", "us-east-2"), ("control item control#orders", "us-west-2")}
    assert failed[("control item control#orders", "us-east-2")] == "malformed: the control item has no activeRegion"
    assert failed[("control item control#orders", "us-west-2")] == (
        "malformed: the control item names 'mars-1' as active, which is not one of us-east-1, us-east-2, us-west-2"
    )
    assert row(checks, f"SSM {PARAM}", "us-west-2").ok  # compared with the well-formed item in us-east-1


def test_a_replica_behind_the_newest_epoch_fails(aws, declared):
    build_deployment(declared)
    boto3.client("dynamodb", region_name="us-east-2").put_item(
        TableName=CONTROL, Item={**CONTROL_KEY, "activeRegion": {"S": "us-east-2"}, "epoch": {"N": "5"}}
    )
    checks, _ = verify(declared)
    failed = failures(checks)
    assert failed[("control item control#orders", "us-east-1")] == (
        "active us-east-1, epoch 4; behind epoch 5 (us-east-2) seen elsewhere"
    )
    assert failed[(f"SSM {PARAM}", "us-east-1")].startswith(
        "us-east-1 (epoch 4), but the control item says us-east-2 (epoch 5)"
    )
    assert row(checks, "control item control#orders", "us-east-2").ok


def test_replica_state_pitr_and_encryption_problems(aws, declared):
    build_deployment(declared)
    boto3.client("dynamodb", region_name="us-east-2").update_continuous_backups(
        TableName=CONTROL, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    west = boto3.client("dynamodb", region_name="us-west-2")
    west.update_table(TableName=CONTROL, DeletionProtectionEnabled=False)
    west.delete_table(TableName=CONTROL)
    west.create_table(
        TableName=CONTROL,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        DeletionProtectionEnabled=True,
    )  # no KMS, no PITR
    west.put_item(TableName=CONTROL, Item={**CONTROL_KEY, "activeRegion": {"S": PRIMARY}, "epoch": {"N": "4"}})
    checks, _ = verify(declared, status={(DATA, "us-east-2"): "CREATING"})
    failed = failures(checks)
    assert set(failed) == {
        (f"table {DATA}", "us-east-2"),
        (f"table {CONTROL}: point-in-time recovery", "us-east-2"),
        (f"table {CONTROL}: point-in-time recovery", "us-west-2"),
        (f"table {CONTROL}: encryption", "us-west-2"),
    }
    assert failed[(f"table {DATA}", "us-east-2")] == "replica status in us-east-1: CREATING"
    assert failed[(f"table {CONTROL}: encryption", "us-west-2")].startswith("not KMS-encrypted as declared")
    assert (
        "update-continuous-backups --region us-east-2"
        in failed[(f"table {CONTROL}: point-in-time recovery", "us-east-2")]
    )


def test_eventual_consistency_reported_for_a_strong_stack_fails(aws, declared):
    build_deployment(declared)
    checks, _ = verify(declared, consistency="EVENTUAL")
    assert failures(checks)[(f"table {DATA}", PRIMARY)] == (
        "multi-region consistency EVENTUAL, the stack declares STRONG"
    )


def test_missing_triggers_alarm_actions_and_health_check_drift_are_reported(aws, declared):
    world = build_deployment(declared)
    east2_fn = next(f for f in declared.functions if f.region == "us-east-2")
    events = boto3.client("events", region_name="us-east-2")
    events.remove_targets(Rule="orders-orchestrator-us-east-2-monitor-1234abc", Ids=["fn"])
    alarm_topic = next(world["topics"][s.topic_urn] for s in declared.subscriptions)
    sns = boto3.client("sns", region_name=PRIMARY)
    for sub in sns.list_subscriptions_by_topic(TopicArn=alarm_topic)["Subscriptions"]:
        if ":us-west-2:" in sub["Endpoint"]:
            sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    boto3.client("cloudwatch", region_name=PRIMARY).disable_alarm_actions(
        AlarmNames=["orders-prod-us-east-2-unhealthy"]
    )
    west_hc = next(h for h in declared.health_checks if h.tag_name == "orders-prod-us-west-2")
    boto3.client("route53", region_name=PRIMARY).update_health_check(
        HealthCheckId=world["health_checks"][west_hc.urn], FailureThreshold=5
    )
    checks, code = verify(declared)
    assert code == 1
    failed = failures(checks)
    assert set(failed) == {
        (f"trigger: schedule -> {FUNCTION}", "us-east-2"),
        (f"trigger: alarm topic -> {FUNCTION}", "us-west-2"),
        ("alarm orders-prod-us-east-2-unhealthy", PRIMARY),
        ("health check orders-prod-us-west-2", GLOBAL),
    }
    assert failed[(f"trigger: schedule -> {FUNCTION}", "us-east-2")] == (
        f"no EventBridge rule with rate(1 minute) targets {world['functions'][east2_fn.urn]}"
    )
    assert failed[(f"trigger: alarm topic -> {FUNCTION}", "us-west-2")] == f"not subscribed to {alarm_topic}"
    assert failed[("alarm orders-prod-us-east-2-unhealthy", PRIMARY)] == "actions are disabled"
    assert failed[("health check orders-prod-us-west-2", GLOBAL)] == "differs: FailureThreshold 5 (declared 3)"


def test_missing_resources_are_reported(aws, declared):
    world = build_deployment(declared)
    boto3.client("lambda", region_name="us-west-2").delete_function(FunctionName=FUNCTION)
    boto3.client("ssm", region_name="us-east-1").delete_parameter(Name=PARAM)
    boto3.client("sns", region_name="us-west-2").delete_topic(
        TopicArn=next(world["topics"][t.urn] for t in declared.topics if t.region == "us-west-2")
    )
    boto3.client("cloudwatch", region_name=PRIMARY).delete_alarms(AlarmNames=["orders-prod-us-west-2-unhealthy"])
    checks, _ = verify(declared)
    failed = failures(checks)
    assert failed == {
        (f"orchestrator {FUNCTION}", "us-west-2"): "missing",
        (f"SSM {PARAM}", PRIMARY): "missing",
        (
            "topic orders-notify-us-west-2-topic",
            "us-west-2",
        ): "no topic named orders-notify-us-west-2-topic-<7 hex> (Pulumi's auto-name) in us-west-2",
        ("alarm orders-prod-us-west-2-unhealthy", PRIMARY): "missing",
    }


class HungEndpoint:
    """Accepts connections on loopback and never answers; counts them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.connections: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.connections.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for c in self.connections:
            c.close()


@pytest.mark.parametrize("hung_region", ["us-west-2", PRIMARY])
def test_a_hung_region_is_asked_once_and_the_others_are_still_checked(aws, declared, hung_region):
    build_deployment(declared)
    hung = HungEndpoint()
    session = boto3.Session()
    replica_listing(session, declared)
    normal = session_clients(session, read_timeout=0.5)
    config, lock = client_config(0.5), threading.Lock()

    def client(service: str, region: str):
        if region == hung_region:
            with lock:
                return session.client(service, region_name=region, endpoint_url=hung.url, config=config)
        return normal(service, region)

    try:
        report = verify_declared(declared, session=session, client=client, read_timeout=0.5)
    finally:
        hung.close()
    failed = failures(report.checks)
    # the test routes Route 53 (signed for us-east-1) to the hung endpoint too when us-east-1 hangs
    hung_fences = {hung_region, GLOBAL} if hung_region == PRIMARY else {hung_region}
    # each fenced region: the first call (identity, or Route 53's count) and its one retry, then nothing
    assert 1 <= len(hung.connections) <= TOTAL_MAX_ATTEMPTS * len(hung_fences)
    hung_rows = {(c.what, c.where) for c in report.checks if c.where in hung_fences}
    assert hung_rows and hung_rows <= set(failed)
    assert all(failed[k].startswith(f"not checked: {k[1]} did not answer") for k in hung_rows)
    # elsewhere only what lives in the hung region fails: with us-east-1 down, the alarm topic that the
    # standbys' orchestrators subscribe to
    elsewhere = {k: d for k, d in failed.items() if k[1] not in hung_fences}
    if hung_region == PRIMARY:
        assert elsewhere == {
            (
                f"trigger: alarm topic -> {FUNCTION}",
                r,
            ): "alarm topic: not checked: us-east-1 did not answer (ReadTimeoutError)"
            for r in STANDBYS
        }
        assert row(report.checks, f"table {DATA}", "us-west-2").detail == (
            "ACTIVE, strong consistency (listed by us-west-2: us-east-1 did not answer)"
        )
    else:
        assert elsewhere == {}
    assert row(report.checks, f"SSM {PARAM}", "us-east-2").ok and row(report.checks, f"table {DATA}", "us-east-2").ok


# --- the command line ------------------------------------------------------------------------------


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent/config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        }
    )
    env.update(extra)
    return env


def test_cli_without_credentials_exits_2_with_one_line():
    run = drctl("verify", "--stack", "prod", env=_env())
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("error: no AWS credentials found") and run.stderr.count("\n") == 1


def test_cli_with_an_unreachable_endpoint_exits_2_with_one_line():
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again before the run: connections are refused
    run = drctl(
        "verify",
        "--stack",
        "staging",
        "--timeout",
        "1",
        env=_env(
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}"
        ),
    )
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith(f"error: cannot reach AWS at http://127.0.0.1:{port}")
    assert run.stderr.count("\n") == 1


def test_cli_json_against_moto(aws, declared):
    build_deployment(declared)
    run = drctl(
        "verify",
        "--stack",
        "prod",
        "--json",
        env=_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=aws),
    )
    assert run.returncode == 1, run.stderr  # plain moto: no replica listing, so the tables are not global
    doc = json.loads(run.stdout)
    assert doc["stack"] == "prod" and doc["ok"] is False
    assert all(set(c) == {"what", "where", "ok", "detail"} for c in doc["checks"])
    assert {(c["what"], c["where"]) for c in doc["checks"] if not c["ok"]} == {
        (f"table {t}", r) for t in (DATA, CONTROL) for r in REGIONS
    }


def test_cli_table_output(aws, declared):
    build_deployment(declared)
    run = drctl(
        "verify",
        "--stack",
        "prod",
        env=_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=aws, COLUMNS="200"),
    )
    assert run.returncode == 1, run.stderr
    assert "drctl verify prod: 55 checks, 6 failed" in run.stdout  # 3 of them the orchestrators' errors alarms
    assert "us-east-1 lists no replicas" in run.stdout


def test_usage_errors_exit_2(tmp_path):
    run = drctl(
        "verify",
        "--stack",
        "nope",
        "--stack-file",
        str(tmp_path / "Pulumi.nope.yaml"),
        env=_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"),
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "no such stack file" in run.stderr
    assert drctl("verify", "--stack", "prod", "--timeout", "0").returncode == 2


# --- plain functions ------------------------------------------------------------------------------------


def test_control_state_problems():
    regions = ("a-1", "b-1")
    assert control_state_problems(ControlState(active_region="a-1", epoch=3), regions) == []
    assert control_state_problems(ControlState(active_region="c-1", epoch=-1, previous_region="z-9"), regions) == [
        "activeRegion 'c-1' is not one of a-1, b-1",
        "epoch -1 is negative",
        "previousRegion 'z-9' is not one of a-1, b-1",
    ]


def test_resolve_topic_prefers_the_one_this_stack_uses():
    topic = DeclaredTopic("urn:t", "orders-notify-us-east-1-topic", "us-east-1", None, True)
    mine = "arn:aws:sns:us-east-1:111111111111:orders-notify-us-east-1-topic-1a2b3c4"
    other = "arn:aws:sns:us-east-1:111111111111:orders-notify-us-east-1-topic-9f8e7d6"
    unrelated = "arn:aws:sns:us-east-1:111111111111:orders-notify-us-east-1-topic-extra"
    listed = Outcome(value=[other, mine, unrelated])
    assert resolve_topic(topic, listed, {mine}).value == mine
    assert resolve_topic(topic, Outcome(value=[mine, unrelated]), set()).value == mine
    assert "2 topics match" in resolve_topic(topic, listed, set()).error
    named = DeclaredTopic("urn:t", "x", "us-east-1", "orders-notify-us-east-1-topic-extra", True)
    assert resolve_topic(named, listed, set()).value == unrelated
    assert resolve_topic(topic, Outcome(error="no answer"), {mine}).error == "no answer"


def test_client_config_is_short():
    config = client_config(3)
    assert (config.connect_timeout, config.read_timeout) == (2.0, 3)
    assert config.retries == {"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS}
