"""Each component under Pulumi's mocks: assertions read the RegisterResource requests the engine would get."""

from __future__ import annotations

import itertools
import json

import pytest

from components import iam
from components.active_region import ActiveRegion, ActiveRegionArgs
from components.control import control_placement
from components.global_table import GlobalTable, GlobalTableArgs
from components.iam import orchestrator_policy
from components.orchestrator import Orchestrator, OrchestratorArgs
from components.providers import regional_providers
from components.sites.ecs.service import RegionalService, RegionalServiceArgs
from components.traffic import Endpoint, EndpointHealth, FailoverDns, TrafficArgs, failover_chain

REGIONS = ["us-east-1", "us-east-2", "us-west-2"]


def _table_args(**over):
    base = {
        "name": "orders",
        "primary_region": "us-east-1",
        "replica_regions": ["us-east-2", "us-west-2"],
        "hash_key": "pk",
        "attributes": {"pk": "S"},
        "strong_consistency": True,
        "protect": True,
    }
    base.update(over)
    return GlobalTableArgs(**base)


def test_global_table_hardens_every_replica(recorder):
    def declare():
        providers = regional_providers(REGIONS, app="orders", stack="test")
        table = GlobalTable("data", _table_args(), provider=providers["us-east-1"])
        return table.arns

    rec = recorder(declare)
    table = rec.one("aws:dynamodb/table:Table")
    assert table.region == "us-east-1"
    assert table.protect is True
    assert table.inputs["pointInTimeRecovery"] == {"enabled": True}
    assert table.inputs["serverSideEncryption"] == {"enabled": True}
    assert table.inputs["deletionProtectionEnabled"] is True
    assert table.inputs["streamEnabled"] is True
    replicas = table.inputs["replicas"]
    assert [r["regionName"] for r in replicas] == ["us-east-2", "us-west-2"]
    for r in replicas:
        assert r["pointInTimeRecovery"] is True and r["deletionProtectionEnabled"] is True
        assert r["consistencyMode"] == "STRONG"
    assert rec.value == {region: f"arn:aws:dynamodb:{region}:123456789012:table/orders" for region in REGIONS}


def test_eventual_unprotected_table(recorder):
    rec = recorder(
        lambda: GlobalTable(
            "data",
            _table_args(strong_consistency=False, protect=False, replica_regions=["us-west-2"]),
            provider=regional_providers(["us-east-1"], app="a", stack="s")["us-east-1"],
        )
    )
    table = rec.one("aws:dynamodb/table:Table")
    assert table.protect is False
    assert table.inputs["replicas"][0]["consistencyMode"] == "EVENTUAL"


def test_apply_assertions_run(recorder):
    """Guard against the classic mock pitfall: an apply whose assertion silently never runs."""
    ran = []

    def declare():
        table = GlobalTable(
            "data", _table_args(), provider=regional_providers(["us-east-1"], app="a", stack="s")["us-east-1"]
        )

        def check(arns):
            ran.append(arns)
            assert set(arns) == set(REGIONS)

        return table.arns.apply(check)

    recorder(declare)
    assert len(ran) == 1


def test_active_region_parameter_everywhere_and_ignored(recorder):
    def declare():
        providers = regional_providers(REGIONS, app="orders", stack="prod")
        return ActiveRegion(
            "ctl",
            ActiveRegionArgs(
                app="orders",
                stack="prod",
                regions=REGIONS,
                placement=control_placement(REGIONS),
                table_name="orders-prod-dr-control",
            ),
            providers=providers,
        )

    rec = recorder(declare)
    params = rec.of_type("aws:ssm/parameter:Parameter")
    assert sorted(p.region for p in params) == sorted(REGIONS)
    for p in params:
        assert p.inputs["name"] == "/orders/prod/active_region"
        assert p.inputs["insecureValue"] == '{"epoch":0,"region":"us-east-1"}'
        assert p.ignore_changes == ["insecureValue"]
    control = rec.one("aws:dynamodb/table:Table")
    assert control.inputs["hashKey"] == "pk" and control.protect
    assert {r["regionName"]: r["consistencyMode"] for r in control.inputs["replicas"]} == {
        "us-east-2": "STRONG",
        "us-west-2": "STRONG",
    }


def test_two_regions_get_a_control_table_with_a_witness_and_regions_of_two_sets_none(recorder):
    two = ["eu-west-1", "eu-central-1"]
    placement = control_placement(two)
    assert (placement.replicas, placement.witness, placement.observers) == (
        ("eu-west-1", "eu-central-1"),
        "eu-west-2",
        ("eu-west-1", "eu-central-1", "eu-west-2"),
    )

    def declare():
        providers = regional_providers(two, app="orders", stack="staging")
        return ActiveRegion(
            "ctl",
            ActiveRegionArgs(
                app="orders",
                stack="staging",
                regions=two,
                placement=placement,
                table_name="orders-staging-dr-authority",
            ),
            providers=providers,
        )

    control = recorder(declare).one("aws:dynamodb/table:Table")
    assert control.inputs["globalTableWitness"] == {"regionName": "eu-west-2"}
    assert control.inputs["replicas"] == [
        {
            "regionName": "eu-central-1",
            "consistencyMode": "STRONG",
            "deletionProtectionEnabled": True,
            "pointInTimeRecovery": True,
            "propagateTags": True,
        }
    ]
    apart = control_placement(["eu-west-1", "us-east-1"])
    assert (apart.consistency, apart.witness) == ("eventual", None)
    four = control_placement(["eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"])
    assert (four.replicas, four.observers[-1]) == (("eu-west-1", "eu-west-2", "eu-west-3"), "eu-central-1")


def _service_args(**over):
    base = {
        "app": "orders",
        "stack": "prod",
        "region": "us-east-2",
        "image": "example/orders:1",
        "port": 8080,
        "health_path": "/health",
        "cpu": 512,
        "memory": 1024,
        "desired_count": 2,
        "environment": {"A": "b"},
        "table_arns": ["arn:aws:dynamodb:us-east-2:123456789012:table/orders"],
        "parameter_arns": ["arn:aws:ssm:us-east-2:123456789012:parameter/orders/prod/active_region"],
        "vpc_cidr": "10.11.0.0/16",
    }
    base.update(over)
    return RegionalServiceArgs(**base)


def test_regional_service_wiring(recorder):
    cert = "arn:aws:acm:us-east-2:123456789012:certificate/abc"
    rec = recorder(
        lambda: RegionalService(
            "svc",
            _service_args(certificate_arn=cert),
            provider=regional_providers(["us-east-2"], app="orders", stack="prod")["us-east-2"],
        )
    )
    service = rec.one("aws:ecs/service:Service")
    assert service.region == "us-east-2"
    assert service.ignore_changes == ["desiredCount"]
    assert service.inputs["desiredCount"] == 2
    assert service.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service.inputs["launchType"] == "FARGATE"
    listener = rec.one("aws:lb/listener:Listener")
    assert listener.urn in service.depends_on
    assert (listener.inputs["port"], listener.inputs["protocol"], listener.inputs["certificateArn"]) == (
        443,
        "HTTPS",
        cert,
    )
    tg = rec.one("aws:lb/targetGroup:TargetGroup")
    assert tg.inputs["healthCheck"]["path"] == "/health" and tg.inputs["targetType"] == "ip"
    containers = json.loads(rec.one("aws:ecs/taskDefinition:TaskDefinition").inputs["containerDefinitions"])
    assert containers[0]["portMappings"][0]["containerPort"] == 8080
    assert {"name": "A", "value": "b"} in containers[0]["environment"]
    assert len(rec.of_type("aws:ec2/subnet:Subnet")) == 2
    assert {s.inputs["availabilityZone"] for s in rec.of_type("aws:ec2/subnet:Subnet")} == {"us-east-2a", "us-east-2b"}


def test_regional_service_in_existing_vpc_over_http(recorder):
    rec = recorder(
        lambda: RegionalService(
            "svc",
            _service_args(vpc_id="vpc-0123456789abcdef0", subnet_ids=["subnet-01234567", "subnet-89abcdef"]),
            provider=regional_providers(["us-east-2"], app="orders", stack="prod")["us-east-2"],
        )
    )
    assert rec.of_type("aws:ec2/vpc:Vpc") == []
    listener = rec.one("aws:lb/listener:Listener")
    assert (listener.inputs["port"], listener.inputs["protocol"]) == (80, "HTTP")
    assert rec.one("aws:lb/loadBalancer:LoadBalancer").inputs["subnets"] == ["subnet-01234567", "subnet-89abcdef"]


TRAFFIC = TrafficArgs(
    app="orders",
    stack="prod",
    zone_id="Z0123456789EXAMPLE",
    record_name="api.example.com",
    health_path="/health",
    interval=10,
    failure_threshold=3,
    alarm_evaluation_periods=1,
)


def test_endpoint_health_alarm_lives_in_us_east_1(recorder):
    def declare():
        providers = regional_providers(["us-west-2"], app="orders", stack="prod")
        return EndpointHealth(
            "h",
            fqdn="us-west-2.api.example.com",
            scheme="https",
            args=TRAFFIC,
            region="us-west-2",
            alarm_topic_arn="arn:aws:sns:us-east-1:123456789012:alarms",
            global_provider=providers["us-west-2"],
            metrics_provider=providers["us-east-1"],
        )

    rec = recorder(declare)
    check = rec.one("aws:route53/healthCheck:HealthCheck")
    assert (check.inputs["requestInterval"], check.inputs["failureThreshold"]) == (10, 3)
    assert (check.inputs["type"], check.inputs["port"], check.inputs["resourcePath"]) == ("HTTPS", 443, "/health")
    alarm = rec.one("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarm.region == "us-east-1"
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/Route53", "HealthCheckStatus")
    assert alarm.inputs["dimensions"] == {
        "HealthCheckId": check.outputs["id"] if "id" in check.outputs else alarm.inputs["dimensions"]["HealthCheckId"]
    }
    assert alarm.inputs["alarmActions"] == ["arn:aws:sns:us-east-1:123456789012:alarms"]
    assert alarm.inputs["treatMissingData"] == "notBreaching"  # a new alarm goes OK, never straight to ALARM


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_failover_chain_covers_every_region_once(n):
    regions = [f"r{i}" for i in range(n)]
    links = failover_chain("api.example.com", regions)
    assert len(links) == n - 1 and links[0].name == "api.example.com"
    served = [link.primary_region for link in links] + [links[-1].secondary_region]
    assert served == regions
    for a, b in itertools.pairwise(links):
        assert a.secondary_chain == a.next_link() == b.name
    with pytest.raises(ValueError, match=f"the secondary is r{n - 1}, not a next link"):
        links[-1].next_link()


def test_failover_chain_rejects_one_region():
    with pytest.raises(ValueError):
        failover_chain("api.example.com", ["us-east-1"])


def test_failover_dns_records(recorder):
    def declare():
        provider = regional_providers(["us-east-1"], app="orders", stack="prod")["us-east-1"]
        endpoints = {
            r: Endpoint(region=r, dns_name=f"alb.{r}.elb.amazonaws.com", zone_id="ZALB", scheme="https")
            for r in REGIONS
        }
        return FailoverDns(
            "dns",
            args=TRAFFIC,
            endpoints=endpoints,
            health_check_ids={r: f"hc-{r}" for r in REGIONS},
            regions=REGIONS,
            provider=provider,
        )

    rec = recorder(declare)
    records = rec.of_type("aws:route53/record:Record")
    failover = [r for r in records if r.inputs.get("failoverRoutingPolicies")]
    by_name = {}
    for r in failover:
        by_name.setdefault(r.inputs["name"], {})[r.inputs["failoverRoutingPolicies"][0]["type"]] = r
    assert set(by_name) == {"api.example.com", "failover-1.api.example.com"}
    top = by_name["api.example.com"]
    assert top["PRIMARY"].inputs["healthCheckId"] == "hc-us-east-1"
    assert top["SECONDARY"].inputs["aliases"][0]["name"] == "failover-1.api.example.com"
    assert by_name["failover-1.api.example.com"]["SECONDARY"].inputs["healthCheckId"] == "hc-us-west-2"
    for r in failover:
        assert r.inputs["aliases"][0]["evaluateTargetHealth"] is True
        assert "ttl" not in r.inputs  # alias records: Route 53 answers with the ALB's 60 s TTL
    regional = {r.inputs["name"] for r in records if not r.inputs.get("failoverRoutingPolicies")}
    assert regional == {f"{r}.api.example.com" for r in REGIONS}


POLICY_ARNS = {
    "control_table_arns": ["arn:aws:dynamodb:us-east-1:123456789012:table/ctl"],
    "parameter_arns": ["arn:aws:ssm:us-east-1:123456789012:parameter/orders/prod/active_region"],
    "scale_statements": iam.ecs_scale_statements(["arn:aws:ecs:us-east-1:123456789012:service/orders-prod/orders"]),
    "topic_arns": ["arn:aws:sns:us-east-1:123456789012:t"],
    "topic_key_arns": ["arn:aws:kms:us-east-1:123456789012:key/k"],
}


def test_orchestrator_wiring_and_least_privilege(recorder):
    def declare():
        providers = regional_providers(["us-east-2"], app="orders", stack="prod")
        return Orchestrator(
            "orch",
            OrchestratorArgs(
                app="orders",
                stack="prod",
                region="us-east-2",
                environment={"DR_APP": "orders"},
                policy_arns=POLICY_ARNS,
                alarm_topic_arn="arn:aws:sns:us-east-1:123456789012:alarms",
                reserved_concurrency=2,
            ),
            provider=providers["us-east-2"],
            alarm_provider=providers["us-east-1"],
        )

    rec = recorder(declare)
    fn = rec.one("aws:lambda/function:Function")
    assert fn.region == "us-east-2"
    assert fn.inputs["handler"] == "failover.orchestrator.handler"
    assert fn.inputs["reservedConcurrentExecutions"] == 2
    assert fn.inputs["environment"]["variables"] == {"DR_APP": "orders", "DR_HOME_REGION": "us-east-2"}
    # the monitor loops for a little more than the minute between invocations, within the function's timeout
    assert fn.inputs["timeout"] == 100
    assets = fn.inputs["code"]["archive"]["assets"]
    assert "failover/orchestrator.py" in assets and all(name.endswith(".py") for name in assets)
    assert fn.inputs["layers"] == [
        "arn:aws:lambda:us-east-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:0"
    ]
    rule = rec.one("aws:cloudwatch/eventRule:EventRule")
    assert rule.inputs["scheduleExpression"] == "rate(1 minute)"
    assert json.loads(rec.one("aws:cloudwatch/eventTarget:EventTarget").inputs["input"]) == {"action": "monitor"}
    sub = rec.one("aws:sns/topicSubscription:TopicSubscription")
    assert sub.region == "us-east-1" and sub.inputs["protocol"] == "lambda"
    principals = sorted(p.inputs["principal"] for p in rec.of_type("aws:lambda/permission:Permission"))
    assert principals == ["events.amazonaws.com", "sns.amazonaws.com"]
    doc = json.loads(rec.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    for stmt in doc["Statement"]:
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        assert all("*" not in a for a in actions), stmt
        if stmt["Resource"] == "*":
            assert actions == ["cloudwatch:GetMetricData"]
    writes = {a: s["Resource"] for s in doc["Statement"] for a in s["Action"]}
    assert writes["ssm:PutParameter"] == POLICY_ARNS["parameter_arns"]
    assert writes["ecs:UpdateService"] == ["arn:aws:ecs:us-east-1:123456789012:service/orders-prod/orders"]
    assert writes["dynamodb:UpdateItem"] == POLICY_ARNS["control_table_arns"]
    assert doc == orchestrator_policy(**POLICY_ARNS, log_group_arn=doc["Statement"][5]["Resource"][0][:-2])


def test_sites_scale_statements_merge_into_one_per_sid():
    """Each ECS site hands the plane its own statement; the orchestrator gets one per Sid, as before the split."""
    a = iam.ecs_scale_statements(["arn:aws:ecs:us-east-2:1:service/c/b"])
    b = iam.ecs_scale_statements(["arn:aws:ecs:us-east-1:1:service/c/a"])
    assert iam.merge_statements(a + b + iam.ecs_scale_statements([])) == [
        {
            "Sid": "ScaleTarget",
            "Effect": "Allow",
            "Action": ["ecs:UpdateService"],
            "Resource": ["arn:aws:ecs:us-east-1:1:service/c/a", "arn:aws:ecs:us-east-2:1:service/c/b"],
        }
    ]
