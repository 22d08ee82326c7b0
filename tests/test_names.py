"""Every physical AWS name fits AWS's limits for the longest names the config accepts.

Each layout is previewed offline with the longest accepted application, stack, table, region, site, server and
secret names (tests/long_names.py). Every AWS resource's explicit name, name prefix, or the name Pulumi generates
for it (`<logical name>-<7 hex>`) is checked against `components.naming.AWS_NAME_RULES`, AWS's limits per
resource type; an AWS type in neither that table nor `AWS_UNNAMED_TYPES` fails the test until it is classified.
"""

from __future__ import annotations

import re

import pytest

from components.naming import (
    AWS_NAME_RULES,
    AWS_UNNAMED_TYPES,
    TAG_KEY_MAX,
    TAG_VALUE_MAX,
    autonamed,
    aws_name,
    aws_name_prefix,
    dns_name_problem,
    physical_name_problem,
)
from components.tiers import check_stack_name
from drctl.preview import run_preview
from tests.conftest import restore_mocks
from tests.long_names import LAYOUTS, LONGEST_APP, LONGEST_STACK, write_stack_file

# AWS's documented limits, written out independently of components/naming.py so a wrong entry there fails here.
AWS_LIMITS = {
    "aws:iam/role:Role": (64, 38),
    "aws:iam/rolePolicy:RolePolicy": (128, None),
    "aws:lambda/function:Function": (64, None),
    "aws:cloudwatch/eventRule:EventRule": (64, 38),
    "aws:sqs/queue:Queue": (80, None),
    "aws:sns/topic:Topic": (256, None),
    "aws:lb/loadBalancer:LoadBalancer": (32, 6),
    "aws:lb/targetGroup:TargetGroup": (32, 6),
    "aws:cloudwatch/logGroup:LogGroup": (512, None),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (255, None),
    "aws:cloudwatch/dashboard:Dashboard": (255, None),
    "aws:dynamodb/table:Table": (255, None),
    "aws:kms/alias:Alias": (256, None),
    "aws:rolesanywhere/trustAnchor:TrustAnchor": (255, None),
    "aws:rolesanywhere/profile:Profile": (255, None),
    "aws:ecs/cluster:Cluster": (255, None),
    "aws:ecs/service:Service": (255, None),
    "aws:ecs/taskDefinition:TaskDefinition": (255, None),
    "aws:secretsmanager/secret:Secret": (512, 486),
    "aws:ssm/parameter:Parameter": (1011, None),
}


def test_the_limits_table_agrees_with_aws():
    for type_token, (limit, prefix) in AWS_LIMITS.items():
        rule = AWS_NAME_RULES[type_token]
        assert rule.max_length == limit, type_token
        if prefix is not None:
            assert rule.prefix_max == prefix, type_token


@pytest.fixture(scope="module")
def previews(tmp_path_factory):
    directory = tmp_path_factory.mktemp("long-names")
    out = {}
    try:
        for layout, build in LAYOUTS.items():
            path = write_stack_file(directory, LONGEST_STACK, build())
            out[layout] = run_preview(LONGEST_STACK, stack_file=path)
    finally:
        restore_mocks()
    return out


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_physical_name_fits_for_the_longest_names(previews, layout):
    result = previews[layout]
    aws = [r for r in result.resources if r["custom"] and r["type"].startswith("aws:")]
    assert len(aws) > 30
    problems = []
    for r in aws:
        problem = physical_name_problem(r["type"], r["inputs"], r["name"])
        if problem:
            problems.append(f"{r['type']} {r['name']}: {problem}")
        for key, value in (r["inputs"].get("tags") or {}).items():
            if len(key) > TAG_KEY_MAX or len(str(value)) > TAG_VALUE_MAX:
                problems.append(f"{r['name']}: tag {key} is too long")
        if r["type"] == "aws:route53/record:Record":
            problem = dns_name_problem(r["inputs"]["name"])
            if problem:
                problems.append(problem)
    assert not problems, "\n".join(problems)
    # the longest names really were used: the application names the resources, the stack the explicit names
    assert any(r["name"].startswith(LONGEST_APP) for r in aws)
    assert any(LONGEST_STACK[:30] in str(r["inputs"].get("name", "")) for r in aws)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_aws_type_is_classified(previews, layout):
    types = {r["type"] for r in previews[layout].resources if r["custom"] and r["type"].startswith("aws:")}
    unknown = sorted(types - set(AWS_NAME_RULES) - AWS_UNNAMED_TYPES)
    assert not unknown


def test_auto_named_roles_of_the_replicator_and_workload_identity_fit(previews):
    """The two roles the issue found at 70 characters: logical name + 8 characters now fits 64."""
    roles = [
        r
        for layout in ("aws-streams", "ovh-hybrid", "digitalocean")
        for r in previews[layout].resources
        if r["type"] == "aws:iam/role:Role" and "name" not in r["inputs"]
    ]
    assert any("replicate" in r["name"] for r in roles) and any("identity" in r["name"] for r in roles)
    assert all(len(r["name"]) + 8 <= 64 for r in roles), [(r["name"], len(r["name"])) for r in roles]


def test_names_that_fit_do_not_move():
    """Existing stacks keep their names: a name AWS accepts is returned as it is."""
    assert aws_name("aws:lambda/function:Function", "orders-prod-dr-orchestrator") == "orders-prod-dr-orchestrator"
    assert autonamed("aws:iam/role:Role", "orders-orchestrator-us-east-1-role") == "orders-orchestrator-us-east-1-role"
    assert aws_name_prefix("aws:secretsmanager/secret:Secret", "orders/prod/DB-") == "orders/prod/DB-"


@pytest.mark.parametrize("type_token", sorted(AWS_NAME_RULES))
def test_fitted_names_are_accepted_stable_and_distinct(type_token):
    rule = AWS_NAME_RULES[type_token]
    long_a = "Orders.Platform_" * 40 + "a"
    long_b = "Orders.Platform_" * 40 + "b"
    for text in (long_a, "orders.prod_v2", "x-" * 20):
        fitted = aws_name(type_token, text)
        assert rule.problem(fitted) is None, (text, fitted)
        assert fitted == aws_name(type_token, text)
    assert aws_name(type_token, long_a) != aws_name(type_token, long_b)
    # a refused character is replaced, and the name keeps a hash of the original: no collision
    if rule.problem("a.b") is not None:
        assert aws_name(type_token, "orders-a.b") != aws_name(type_token, "orders-a-b")
    if rule.autonamed:
        logical = autonamed(type_token, long_a)
        assert rule.problem(logical + "-abcdef0") is None
    if rule.prefix_max:
        prefix = aws_name_prefix(type_token, long_a + "/")
        assert len(prefix) <= rule.prefix_max and prefix.endswith("-")


def test_a_logical_name_one_character_too_long_is_caught():
    """The check can fail: 57 characters + Pulumi's 8 is 65, one more than an IAM role takes."""
    assert physical_name_problem("aws:iam/role:Role", {}, "r" * 56) is None
    assert "65 characters" in physical_name_problem("aws:iam/role:Role", {}, "r" * 57)
    assert "neither" in physical_name_problem("aws:new/thing:Thing", {}, "x")  # unclassified types are flagged
    assert physical_name_problem("aws:lambda/function:Function", {"name": "a.b"}, "x")


def test_the_longest_stack_name_is_one_pulumi_accepts():
    assert len(LONGEST_STACK) == 100 and check_stack_name(LONGEST_STACK)
    with pytest.raises(ValueError):
        check_stack_name(LONGEST_STACK + "x")
    assert re.fullmatch(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", LONGEST_APP) and len(LONGEST_APP) == 32


def test_beginnings_aws_reserves_are_avoided():
    """An application called `internal-api` or `sg-orders` is accepted; its load balancer and security groups must
    not start with `internal-` / `sg-`, which AWS refuses."""
    for type_token, logical in (
        ("aws:lb/loadBalancer:LoadBalancer", "internal-api-alb"),
        ("aws:ec2/securityGroup:SecurityGroup", "sg-orders-us-east-1-alb"),
    ):
        rule = AWS_NAME_RULES[type_token]
        assert "reserves" in rule.problem(logical + "-abcdef0")
        fitted = autonamed(type_token, logical)
        assert rule.problem(fitted + "-abcdef0") is None and fitted.startswith("dr-")
    assert autonamed("aws:ec2/securityGroup:SecurityGroup", "orders-us-east-1-alb") == "orders-us-east-1-alb"
