"""What a first real `pulumi up` needs that mocks cannot show by themselves: creation order (asserted on the
recorded `dependsOn` of the RegisterResource requests) and names AWS accepts (checked against AWS's limits)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.config import parse_stack_config
from components.naming import (
    AUTONAME_SUFFIX_LENGTH,
    dns_name_problem,
    fit_name,
    logical_name,
)
from components.orchestrator import Orchestrator, OrchestratorArgs
from components.providers import regional_providers
from components.sites.ecs.service import RegionalService, RegionalServiceArgs
from components.traffic import Endpoint, FailoverDns, TrafficArgs
from tests.stack_values import dr_values

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


def _dns(regions):
    def declare():
        provider = regional_providers(["us-east-1"], app="orders", stack="prod")["us-east-1"]
        endpoints = {
            r: Endpoint(region=r, dns_name=f"alb.{r}.elb.amazonaws.com", zone_id="ZALB", scheme="https")
            for r in regions
        }
        return FailoverDns(
            "dns",
            args=TRAFFIC,
            endpoints=endpoints,
            health_check_ids={r: f"hc-{r}" for r in regions},
            regions=regions,
            provider=provider,
        )

    return declare


@pytest.mark.parametrize(
    "regions",
    [
        ["us-east-1", "us-east-2", "us-west-2"],
        ["us-east-1", "us-east-2", "us-west-2", "eu-west-1"],
    ],
)
def test_chain_alias_waits_for_the_records_it_points_at(recorder, regions):
    """Route 53 refuses an alias to a same-zone name that does not exist yet (first real deploy)."""
    rec = recorder(_dns(regions))
    links = len(regions) - 1
    for i in range(links - 1):  # every link but the last aliases the next one
        secondary = rec.named(f"dns-link{i}-secondary")
        assert secondary.inputs["aliases"][0]["name"] == f"failover-{i + 1}.api.example.com"
        target = {rec.named(f"dns-link{i + 1}-primary").urn, rec.named(f"dns-link{i + 1}-secondary").urn}
        assert target <= set(secondary.depends_on), (i, secondary.depends_on)
    last = rec.named(f"dns-link{links - 1}-secondary")
    assert not any("-link" in urn for urn in last.depends_on)  # aliases an ALB: nothing of the chain to wait for


def test_two_regions_have_no_chain_to_wait_for(recorder):
    rec = recorder(_dns(["us-east-1", "us-east-2"]))
    records = [r for r in rec.of_type("aws:route53/record:Record") if r.inputs.get("failoverRoutingPolicies")]
    assert len(records) == 2 and all(not r.depends_on for r in records)


def _service(recorder, **over):
    args = {
        "app": "orders",
        "stack": "prod",
        "region": "us-east-2",
        "image": "example/orders:1",
        "port": 8080,
        "health_path": "/health",
        "cpu": 512,
        "memory": 1024,
        "desired_count": 2,
        "environment": {},
        "table_arns": ["arn:aws:dynamodb:us-east-2:123456789012:table/orders"],
        "parameter_arns": ["arn:aws:ssm:us-east-2:123456789012:parameter/orders/prod/active_region"],
        "vpc_cidr": "10.11.0.0/16",
    }
    args.update(over)
    return recorder(
        lambda: RegionalService(
            "svc",
            RegionalServiceArgs(**args),
            provider=regional_providers(["us-east-2"], app="orders", stack="prod")["us-east-2"],
        )
    )


def test_public_load_balancer_and_service_wait_for_the_internet_route(recorder):
    """An internet-facing ALB (and tasks with public IPs) in a VPC with no attached, routed gateway fails:
    `InvalidSubnet: ... has no internet gateway`."""
    rec = _service(recorder)
    igw = rec.one("aws:ec2/internetGateway:InternetGateway")
    routes = rec.one("aws:ec2/routeTable:RouteTable")
    associations = rec.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    assert len(associations) == 2
    assert routes.inputs["routes"][0]["cidrBlock"] == "0.0.0.0/0" and igw.urn in routes.depends_on
    needed = {igw.urn, routes.urn, *(a.urn for a in associations)}
    for consumer in (rec.one("aws:lb/loadBalancer:LoadBalancer"), rec.one("aws:ecs/service:Service")):
        assert needed <= set(consumer.depends_on), (consumer.type, sorted(needed - set(consumer.depends_on)))


def test_existing_vpc_subnets_are_used_as_given(recorder):
    rec = _service(recorder, vpc_id="vpc-0123456789abcdef0", subnet_ids=["subnet-01234567", "subnet-89abcdef"])
    assert rec.of_type("aws:ec2/internetGateway:InternetGateway") == []
    assert rec.one("aws:lb/loadBalancer:LoadBalancer").inputs["subnets"] == ["subnet-01234567", "subnet-89abcdef"]


def _orchestrator(recorder, **over):
    args = {
        "app": "orders",
        "stack": "prod",
        "region": "us-east-2",
        "environment": {"DR_APP": "orders"},
        "policy_arns": {
            "control_table_arns": [],
            "parameter_arns": [],
            "scale_statements": [],
            "topic_arns": [],
            "topic_key_arns": [],
        },
        "alarm_topic_arn": "arn:aws:sns:us-east-1:123456789012:alarms",
    }
    args.update(over)

    def declare():
        providers = regional_providers(["us-east-2"], app="orders", stack="prod")
        return Orchestrator(
            "orch", OrchestratorArgs(**args), provider=providers["us-east-2"], alarm_provider=providers["us-east-1"]
        )

    return recorder(declare)


def test_reserved_concurrency_is_optional(recorder):
    """Accounts with a low concurrency quota refuse any reservation: by default none is asked for."""
    fn = _orchestrator(recorder).one("aws:lambda/function:Function")
    assert "reservedConcurrentExecutions" not in fn.inputs
    fn = _orchestrator(recorder, reserved_concurrency=3).one("aws:lambda/function:Function")
    assert fn.inputs["reservedConcurrentExecutions"] == 3
    assert parse_stack_config(dr_values("prod")).failover.reserved_concurrency is None


# -- names -------------------------------------------------------------------------------------------
# AWS's limits on the physical names of the types the aws layout declares.
NAME_LIMITS = {
    "aws:lb/loadBalancer:LoadBalancer": 32,
    "aws:lb/targetGroup:TargetGroup": 32,
    "aws:iam/role:Role": 64,
    "aws:cloudwatch/eventRule:EventRule": 64,
    "aws:lambda/function:Function": 64,
    "aws:lambda/permission:Permission": 100,
    "aws:iam/rolePolicy:RolePolicy": 128,
    "aws:dynamodb/table:Table": 255,
    "aws:ec2/securityGroup:SecurityGroup": 255,
    "aws:ecs/cluster:Cluster": 255,
    "aws:ecs/service:Service": 255,
    "aws:cloudwatch/metricAlarm:MetricAlarm": 255,
    "aws:sns/topic:Topic": 256,
    "aws:cloudwatch/logGroup:LogGroup": 512,
}
LONGEST_APP = "abcdefghijklmnopqrstuvwxyz012345"  # 32 characters, the most dr:app.name allows


def physical_name(resource) -> str:
    """The explicit name the program sets, else the one Pulumi generates (logical name + 8 characters)."""
    explicit = resource.inputs.get("name")
    return explicit if isinstance(explicit, str) else resource.name + "x" * AUTONAME_SUFFIX_LENGTH


def _worst_case_config():
    values = dr_values("staging")
    values["app"]["name"] = LONGEST_APP
    values["regions"] = {"primary": "ap-southeast-4", "secondaries": ["ap-northeast-1", "ap-southeast-7"]}
    values["failover"].update(mode="manual", failback="manual")  # regions of several MRSC sets
    values.pop("network")
    return parse_stack_config(values)


def test_every_name_fits_aws_limits_with_the_longest_app_and_region_names(recorder):
    """A 10-character app name already broke the ALB in ap-northeast-1; here the longest allowed ones."""
    from components.layouts.aws import build

    rec = recorder(lambda: build(_worst_case_config(), "production-eu-west"))
    checked = 0
    for resource in rec.resources:
        limit = NAME_LIMITS.get(resource.type)
        if limit is None:
            continue
        checked += 1
        name = physical_name(resource)
        assert len(name) <= limit, f"{resource.type} {name} is {len(name)} characters, over {limit}"
    assert checked > 40
    for record in rec.of_type("aws:route53/record:Record"):
        assert dns_name_problem(record.inputs["name"]) is None
    albs = [physical_name(r) for r in rec.of_type("aws:lb/loadBalancer:LoadBalancer")]
    assert len(set(albs)) == 3  # fitted names stay distinct per region


@settings(max_examples=200, deadline=None)
@given(st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=120), st.integers(8, 100))
def test_fit_name_is_bounded_stable_and_keeps_short_names(name, limit):
    fitted = fit_name(name, limit)
    assert len(fitted) <= limit
    assert fitted == fit_name(name, limit)
    if len(name) <= limit:
        assert fitted == name
    else:
        assert fitted != fit_name(name + "x", limit)
        assert fitted.startswith(name[: limit - 7].rstrip("-") + "-")  # a recognisable prefix, then the hash


def test_logical_name_leaves_room_for_pulumis_suffix():
    long = "abcdefghij-ap-northeast-1-alb"  # the 10-character app of the first failed deploy
    assert len(long) + AUTONAME_SUFFIX_LENGTH > 32
    assert len(logical_name(long, 32)) + AUTONAME_SUFFIX_LENGTH <= 32
    assert logical_name("orders-us-east-1-alb", 32) == "orders-us-east-1-alb"  # short names do not move
