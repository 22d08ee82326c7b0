"""Each policy with a compliant and a non-compliant resource, through pulumi_policy's own argument
types and unknown-checking proxy; IAM documents through the parliament linter; broken stacks exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import parliament
import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from components import iam
from policies.pack import build_policies

ROOT = Path(__file__).resolve().parent.parent
POLICIES = {p.name: p for p in build_policies()}
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def opts(protect=False):
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def provider(region):
    return PolicyProviderResource("pulumi:providers:aws", {"region": region}, f"urn:provider:{region}", f"aws-{region}")


def run_resource_policy(name, type_, props, region="us-east-1", protect=False) -> list[str]:
    messages = []
    args = ResourceValidationArgs(
        type_, unknown_checking_proxy(props), f"urn:{type_}", "r", opts(protect), provider(region)
    )
    POLICIES[name].validate(args, lambda m, urn=None: messages.append(m))
    return messages


def run_stack_policy(name, resources) -> list[str]:
    messages = []
    items = [
        PolicyResource(t, unknown_checking_proxy(p), f"urn:{i}", f"r{i}", opts(), provider(region), None, [], {})
        for i, (t, p, region) in enumerate(resources)
    ]
    POLICIES[name].validate(StackValidationArgs(items), lambda m, urn=None: messages.append(m))
    return messages


GOOD_TABLE = {
    "pointInTimeRecovery": {"enabled": True},
    "deletionProtectionEnabled": True,
    "streamEnabled": True,
    "serverSideEncryption": {"enabled": True},
    "tags": {"dr:stack": "prod"},
    "replicas": [
        {"regionName": r, "pointInTimeRecovery": True, "deletionProtectionEnabled": True, "consistencyMode": "STRONG"}
        for r in ("us-east-2", "us-west-2")
    ],
}
T = "aws:dynamodb/table:Table"


def bad_table(**changes):
    t = json.loads(json.dumps(GOOD_TABLE))
    t.update(changes)
    return t


CASES = [
    (
        "dynamodb-replica-protection",
        T,
        GOOD_TABLE,
        bad_table(
            replicas=[{"regionName": "us-east-2", "pointInTimeRecovery": False, "deletionProtectionEnabled": True}]
        ),
        "replica us-east-2 has no point-in-time recovery",
    ),
    ("dynamodb-encryption", T, GOOD_TABLE, bad_table(serverSideEncryption={"enabled": False}), "encryption"),
    ("dynamodb-streams", T, GOOD_TABLE, bad_table(streamEnabled=False), "streams are off"),
    (
        "dynamodb-strong-consistency-mrsc",
        T,
        GOOD_TABLE,
        bad_table(
            replicas=[
                {"regionName": "eu-west-1", "consistencyMode": "STRONG"},
                {"regionName": "us-west-2", "consistencyMode": "STRONG"},
            ]
        ),
        "MRSC",
    ),
    (
        "health-check-bounds",
        "aws:route53/healthCheck:HealthCheck",
        {"requestInterval": 10, "failureThreshold": 3},
        {"requestInterval": 15, "failureThreshold": 3},
        "not 10 or 30",
    ),
    (
        "dns-failover-ttl",
        "aws:route53/record:Record",
        {"failoverRoutingPolicies": [{"type": "PRIMARY"}], "ttl": 30},
        {"failoverRoutingPolicies": [{"type": "PRIMARY"}], "ttl": 300},
        "TTL 300s",
    ),
    (
        "health-alarm-has-action",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        {"metricName": "HealthCheckStatus", "alarmActions": ["arn:aws:sns:us-east-1:1:t"]},
        {"metricName": "HealthCheckStatus", "alarmActions": []},
        "no action",
    ),
    (
        "dashboard-widgets-regional",
        "aws:cloudwatch/dashboard:Dashboard",
        {"dashboardBody": json.dumps({"widgets": [{"type": "metric", "properties": {"region": "us-east-1"}}]})},
        {"dashboardBody": json.dumps({"widgets": [{"type": "metric", "properties": {"title": "Lag"}}]})},
        "metric widget 0 (Lag) names no region",
    ),
    (
        "sns-encrypted",
        "aws:sns/topic:Topic",
        {"kmsMasterKeyId": "arn:aws:kms:us-east-1:1:key/k"},
        {},
        "not KMS-encrypted",
    ),
    (
        "no-plaintext-secrets",
        "aws:lambda/function:Function",
        {"environment": {"variables": {"DR_APP": "orders"}}},
        {"environment": {"variables": {"DB_PASSWORD": "dummy-not-real"}}},
        "DB_PASSWORD",
    ),
    (
        "no-plaintext-secrets",
        "aws:ecs/taskDefinition:TaskDefinition",
        {"containerDefinitions": json.dumps([{"environment": [{"name": "LOG_LEVEL", "value": "info"}]}])},
        {"containerDefinitions": json.dumps([{"environment": [{"name": "API_TOKEN", "value": "dummy"}]}])},
        "API_TOKEN",
    ),
    (
        "iam-least-privilege",
        "aws:iam/rolePolicy:RolePolicy",
        {
            "policy": json.dumps(
                {
                    "Statement": [
                        {"Sid": "A", "Effect": "Allow", "Action": ["cloudwatch:GetMetricData"], "Resource": "*"}
                    ]
                }
            )
        },
        {
            "policy": json.dumps(
                {"Statement": [{"Sid": "B", "Effect": "Allow", "Action": ["ssm:PutParameter"], "Resource": "*"}]}
            )
        },
        "write actions ssm:PutParameter on resource *",
    ),
    (
        "iam-least-privilege",
        "aws:iam/rolePolicy:RolePolicy",
        {
            "policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Sid": "M",
                            "Effect": "Allow",
                            "Action": ["cloudwatch:PutMetricData"],
                            "Resource": "*",
                            "Condition": {"StringEquals": {"cloudwatch:namespace": "DynamoDR/Replication"}},
                        }
                    ]
                }
            )
        },
        {
            "policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Sid": "M",
                            "Effect": "Allow",
                            "Action": ["cloudwatch:PutMetricData"],
                            "Resource": "*",
                            "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
                        }
                    ]
                }
            )
        },
        "write actions cloudwatch:PutMetricData on resource *",
    ),
    (
        "iam-least-privilege",
        "aws:iam/rolePolicy:RolePolicy",
        {
            "policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Sid": "A",
                            "Effect": "Allow",
                            "Action": "sns:Publish",
                            "Resource": "arn:aws:sns:us-east-1:1:t",
                        }
                    ]
                }
            )
        },
        {
            "policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Sid": "C",
                            "Effect": "Allow",
                            "Action": "dynamodb:*",
                            "Resource": "arn:aws:dynamodb:us-east-1:1:table/t",
                        }
                    ]
                }
            )
        },
        "wildcard action dynamodb:*",
    ),
]


@pytest.mark.parametrize("name, type_, good, bad, words", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_resource_policy_compliant_and_not(name, type_, good, bad, words):
    assert run_resource_policy(name, type_, good, protect=True) == []
    messages = run_resource_policy(name, type_, bad, protect=True)
    assert messages and any(words in m for m in messages), messages


def test_production_tables_must_be_protected_whatever_the_stack_is_called():
    """Production is the stack's `dr:production` (a tag on its tables), not its name."""
    live = bad_table(tags={"dr:stack": "live-eu", "dr:production": "true"})
    assert run_resource_policy("dynamodb-protected-in-prod", T, live, protect=True) == []
    assert "dr:production: true" in run_resource_policy("dynamodb-protected-in-prod", T, live, protect=False)[0]
    named_prod = bad_table(tags={"dr:stack": "prod", "dr:production": "false"})
    assert run_resource_policy("dynamodb-protected-in-prod", T, named_prod, protect=False) == []


def test_unknown_values_are_reported_not_crashed_on():
    props = {"requestInterval": UNKNOWN, "failureThreshold": 3}
    with pytest.raises(UnknownValueError):
        run_resource_policy("health-check-bounds", "aws:route53/healthCheck:HealthCheck", props)


FN = "aws:lambda/function:Function"


def orchestrator(region):
    return (
        FN,
        {
            "handler": "failover.orchestrator.handler",
            "environment": {"variables": {"DR_REGIONS": "us-east-1,us-east-2", "DR_FAILURE_THRESHOLD": "3"}},
        },
        region,
    )


def test_orchestrator_outside_primary():
    assert run_stack_policy("orchestrator-outside-primary", [orchestrator("us-east-2")]) == []
    assert (
        "only in the primary region us-east-1"
        in run_stack_policy("orchestrator-outside-primary", [orchestrator("us-east-1")])[0]
    )
    assert run_stack_policy("orchestrator-outside-primary", []) == ["no failover orchestrator is deployed"]


def test_health_check_per_endpoint():
    lb = ("aws:lb/loadBalancer:LoadBalancer", {}, "us-east-2")
    hc = ("aws:route53/healthCheck:HealthCheck", {"fqdn": "us-east-2.api.example.com"}, "us-east-1")
    assert run_stack_policy("health-check-per-endpoint", [lb, hc]) == []
    assert "in us-east-2 has no Route 53 health check" in run_stack_policy("health-check-per-endpoint", [lb])[0]


def budget_stack(interval=10, threshold=3, rto=120):
    control = (
        T,
        {
            "tags": {"dr:rtoObjectiveSeconds": str(rto), "dr:rpoObjectiveSeconds": "0", "dr:clientCacheSeconds": "5"},
            "replicas": [],
        },
        "us-east-1",
    )
    data = (T, GOOD_TABLE, "us-east-1")
    hc = (
        "aws:route53/healthCheck:HealthCheck",
        {"requestInterval": interval, "failureThreshold": threshold, "fqdn": "x"},
        "us-east-1",
    )
    alarm = (
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        {"metricName": "HealthCheckStatus", "evaluationPeriods": 1, "alarmActions": ["t"]},
        "us-east-1",
    )
    rules = [
        ("aws:cloudwatch/eventRule:EventRule", {"scheduleExpression": "rate(1 minute)"}, r)
        for r in ("us-east-2", "us-west-2")
    ]
    return [control, data, hc, alarm, *rules, orchestrator("us-east-2"), orchestrator("us-west-2")]


def test_budget_policy():
    assert run_stack_policy("rto-rpo-budget", budget_stack()) == []
    messages = run_stack_policy("rto-rpo-budget", budget_stack(interval=30, threshold=5))
    assert messages == [
        "traffic RTO 216s exceeds the RTO objective of 120s (traffic 216s, writes 43s via the "
        "monitor path when us-east-1 fails)"
    ]
    alone = [r for r in budget_stack() if r[2] != "us-west-2"]  # one orchestrator: nothing survives its region
    assert run_stack_policy("rto-rpo-budget", alone) == [
        "no detection path survives the failure of us-east-2: put an orchestrator in another region"
    ]


def test_budget_policy_gates_a_first_deploy_whose_arns_are_unknown():
    """On a first preview the topic ARNs and scale targets are unknown; the rule reads none of them, so it
    still reaches a verdict (and so stays mandatory) instead of reporting 'cannot check during preview'."""

    def first_preview(resources):
        out = []
        for type_, props, region in resources:
            if type_ == FN:
                props = json.loads(json.dumps(props))
                props["environment"]["variables"].update(DR_TOPIC_ARNS=UNKNOWN, DR_SCALE_TARGETS=UNKNOWN)
            out.append((type_, props, region))
        return out

    assert run_stack_policy("rto-rpo-budget", first_preview(budget_stack())) == []
    assert run_stack_policy("rto-rpo-budget", first_preview(budget_stack(interval=30, threshold=5)))[0].startswith(
        "traffic RTO 216s exceeds"
    )


def test_every_project_iam_document_passes_parliament():
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
    documents = {
        "orchestrator": iam.orchestrator_policy(
            control_table_arns=[arn + "-ctl"],
            parameter_arns=["arn:aws:ssm:us-east-1:123456789012:parameter/orders/prod/active_region"],
            scale_statements=iam.ecs_scale_statements(
                ["arn:aws:ecs:us-east-1:123456789012:service/orders-prod/orders"]
            ),
            topic_arns=["arn:aws:sns:us-east-1:123456789012:orders"],
            topic_key_arns=["arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
            log_group_arn="arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/orders-prod-dr-orchestrator",
        ),
        "task": iam.task_policy(
            table_arns=[arn], parameter_arns=["arn:aws:ssm:us-east-1:123456789012:parameter/orders/prod/active_region"]
        ),
        "secrets": iam.secrets_read_policy(
            ["arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/prod/API_TOKEN-AbCdEf"]
        ),
        "replicator": iam.replicator_policy(
            source_table_arn=arn,
            receiving_table_arn="arn:aws:dynamodb:us-west-2:123456789012:table/orders",
            failure_queue_arn="arn:aws:sqs:us-east-1:123456789012:orders-repl-failures",
            failure_key_arn="arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            log_group_arn="arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/orders-prod-repl-us-east-1-us-west-2",
            conflicts_table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/orders-prod-conflicts-us-east-1-us-west-2",
        ),
    }
    for name, doc in documents.items():
        findings = [parliament.enhance_finding(f) for f in parliament.analyze_policy_string(json.dumps(doc)).findings]
        serious = [
            f
            for f in findings
            if f.severity in ("MEDIUM", "HIGH", "CRITICAL") and f.issue != "RESOURCE_POLICY_PRIVILEGE_ESCALATION"
        ]
        assert serious == [], (name, [(f.issue, f.detail) for f in serious])
        assert (
            run_resource_policy("iam-least-privilege", "aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps(doc)})
            == []
        )
    broken = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:PutParameters", "Resource": "*"}]}
    )
    assert parliament.analyze_policy_string(broken).findings  # the linter really looks: an unknown action is found
    # ... and the severity filter above really filters: a stream action on a table ARN is a MEDIUM finding
    mismatch = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetRecords", "Resource": arn}]}
    )
    assert [parliament.enhance_finding(f).severity for f in parliament.analyze_policy_string(mismatch).findings] == [
        "MEDIUM"
    ]


def test_failure_queue_key_policy_passes_parliament_and_names_only_the_account_and_the_role():
    role = "arn:aws:iam::123456789012:role/orders-repl"
    doc = iam.failure_queue_key_policy(account_id="123456789012", region="us-east-1", role_arn=role)
    findings = [parliament.enhance_finding(f) for f in parliament.analyze_policy_string(json.dumps(doc)).findings]
    assert [f.issue for f in findings if f.severity in ("MEDIUM", "HIGH", "CRITICAL")] == []
    use = next(s for s in doc["Statement"] if s["Sid"] == "ReplicatorRecordsFailuresThroughSqs")
    assert use["Principal"] == {"AWS": role} and use["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert use["Condition"] == {
        "StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com", "kms:CallerAccount": "123456789012"}
    }
    assert [s["Principal"] for s in doc["Statement"]] == [{"AWS": "arn:aws:iam::123456789012:root"}, {"AWS": role}]


def drctl(*args):
    return subprocess.run([sys.executable, "-m", "drctl", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "stack, policy, words",
    [
        ("slow-rto", "rto-rpo-budget", "exceeds the RTO objective of 120s"),
        ("manual-failover", "rto-rpo-budget", "failover is manual"),
    ],
)
def test_broken_stacks_exit_1_naming_the_policy(stack, policy, words):
    run = drctl(
        "preview", "--stack", stack, "--stack-file", str(ROOT / "tests" / "stacks" / f"Pulumi.{stack}.yaml"), "--json"
    )
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    hits = [v for v in doc["policies"]["violations"] if v["policy"] == policy]
    assert hits and hits[0]["level"] == "mandatory" and words in hits[0]["message"]
    human = drctl("preview", "--stack", stack, "--stack-file", str(ROOT / "tests" / "stacks" / f"Pulumi.{stack}.yaml"))
    assert human.returncode == 1 and policy in human.stdout


def test_shipped_stacks_have_no_mandatory_violation():
    for stack in ("prod", "staging"):
        run = drctl("preview", "--stack", stack, "--json")
        assert run.returncode == 0, run.stderr
        assert not [v for v in json.loads(run.stdout)["policies"]["violations"] if v["level"] == "mandatory"]


def test_staging_policy_config_makes_ttl_advisory(tmp_path):
    from policies.offline import levels_for

    levels = levels_for("staging", build_policies())
    assert levels["dns-failover-ttl"] == "advisory" and levels["rto-rpo-budget"] == "mandatory"
    assert levels_for("prod", build_policies())["dns-failover-ttl"] == "mandatory"
    cfg = tmp_path / "all.json"
    cfg.write_text('{"all": "advisory"}')
    assert set(levels_for("prod", build_policies(), cfg).values()) == {"advisory"}
