"""`dr:drill.fis`: the FIS experiment templates a stack declares for live drills, their roles' IAM documents
(parliament and the pack's least-privilege rule), the pack's FIS rules, and the layouts that refuse the key."""

from __future__ import annotations

import json
from pathlib import Path

import parliament
import pytest
from pulumi_policy.proxy import unknown_checking_proxy

from components import drill_fis
from components.config import ConfigError, decode_engine_config, parse_stack_config
from drctl.stackfile import load_stack_config
from policies.rules import RESOURCE_RULES, Res
from policies.rules_fis import MAX_FAULT_MINUTES, duration_seconds
from tests.stack_values import dr_values

ROOT = Path(__file__).resolve().parent.parent
FIS_STACK = ROOT / "tests" / "stacks" / "Pulumi.fis-drill.yaml"
TEMPLATE = "aws:fis/experimentTemplate:ExperimentTemplate"
ACCOUNT = "123456789012"


# DynamoDB's resource-policy actions act on a table or on a stream, one per request; parliament's data marks both
# resource types required, so a grant on the table alone reads as a mismatch with the stream format. The pause
# acts on the replica table, never on its stream: that one finding is expected, and only that one.
STREAM_ALTERNATIVE = {
    (f"dynamodb:{action}ResourcePolicy", "arn:*:dynamodb:*:*:table/*/stream/*") for action in ("Delete", "Get", "Put")
}


def _serious(doc: dict) -> list:
    findings = [parliament.enhance_finding(f) for f in parliament.analyze_policy_string(json.dumps(doc)).findings]
    out = []
    for f in findings:
        if f.severity not in ("MEDIUM", "HIGH", "CRITICAL"):
            continue
        if f.issue == "RESOURCE_MISMATCH" and {(d["action"], d["required_format"]) for d in f.detail} <= (
            STREAM_ALTERNATIVE
        ):
            continue
        out.append((f.issue, f.detail))
    return out


def _rule(name: str, type_: str, props: dict) -> list[str]:
    return RESOURCE_RULES[name][1](Res(type=type_, props=props))


DOCUMENTS = {
    "connectivity": drill_fis.connectivity_statements(
        "us-east-2", ACCOUNT, "vpc-0123456789abcdef0", ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
    ),
    "replication": drill_fis.replication_statements(f"arn:aws:dynamodb:us-east-2:{ACCOUNT}:table/orders-prod"),
    "tasks": drill_fis.stop_task_statements("us-east-2", ACCOUNT, "orders-prod"),
}


@pytest.mark.parametrize("action", sorted(DOCUMENTS))
def test_each_fis_role_document_passes_parliament_and_the_least_privilege_rule(action):
    doc = drill_fis.fis_role_policy(DOCUMENTS[action])
    assert _serious(doc) == []
    assert _rule("iam-least-privilege", "aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps(doc)}) == []


def test_the_only_tolerated_parliament_finding_is_the_stream_alternative():
    doc = drill_fis.fis_role_policy(DOCUMENTS["replication"])
    findings = [parliament.enhance_finding(f) for f in parliament.analyze_policy_string(json.dumps(doc)).findings]
    mismatches = [f for f in findings if f.issue == "RESOURCE_MISMATCH"]
    assert {(d["action"], d["required_format"]) for f in mismatches for d in f.detail} == STREAM_ALTERNATIVE
    broken = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetRecords", "Resource": "*"}],
    }
    wrong = {**broken, "Statement": [{**broken["Statement"][0], "Resource": "arn:aws:dynamodb:us-east-2:1:table/t"}]}
    assert _serious(wrong)  # the filter keeps every other mismatch


def test_only_fis_assumes_the_roles_and_only_for_this_account():
    (trust,) = drill_fis.fis_trust_policy(ACCOUNT)["Statement"]
    assert trust["Principal"] == {"Service": "fis.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_the_fis_roles_reach_only_the_site_resources_they_act_on():
    by_sid = {s["Sid"]: s for s in DOCUMENTS["connectivity"]}
    assert by_sid["SwapTheSiteSubnetsAcl"]["Resource"] == [
        f"arn:aws:ec2:us-east-2:{ACCOUNT}:network-acl/*",
        f"arn:aws:ec2:us-east-2:{ACCOUNT}:subnet/subnet-0123456789abcdef0",
        f"arn:aws:ec2:us-east-2:{ACCOUNT}:subnet/subnet-0fedcba9876543210",
    ]
    assert by_sid["CreateFisAclInTheSiteVpc"]["Resource"] == [
        f"arn:aws:ec2:us-east-2:{ACCOUNT}:network-acl/*",
        f"arn:aws:ec2:us-east-2:{ACCOUNT}:vpc/vpc-0123456789abcdef0",
    ]
    assert by_sid["CreateFisAclInTheSiteVpc"]["Condition"] == {"StringEquals": {"aws:RequestTag/managedByFIS": "true"}}
    assert by_sid["EditFisAcl"]["Condition"] == {"StringEquals": {"aws:ResourceTag/managedByFIS": "true"}}
    pause = next(s for s in DOCUMENTS["replication"] if s["Sid"] == "PauseTheReplica")
    assert pause["Resource"] == [f"arn:aws:dynamodb:us-east-2:{ACCOUNT}:table/orders-prod"]
    stop = next(s for s in DOCUMENTS["tasks"] if s["Sid"] == "StopTheClusterTasks")
    assert stop["Action"] == ["ecs:DescribeTasks", "ecs:StopTask"]
    assert stop["Resource"] == [f"arn:aws:ecs:us-east-2:{ACCOUNT}:task/orders-prod/*"]
    writes = {a for doc in DOCUMENTS.values() for s in doc for a in s["Action"] if s["Resource"] == ["*"]}
    assert writes == {  # on `*` only what has no resource-level permission, and reads only
        "ec2:DescribeManagedPrefixLists",
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
        "ec2:GetManagedPrefixListEntries",
        "ecs:ListTasks",
        "tag:GetResources",
    }


def test_replication_is_drilled_only_where_the_data_table_is_a_global_table():
    assert drill_fis.drill_actions("global") == ("connectivity", "replication", "tasks")
    assert drill_fis.drill_actions("streams") == ("connectivity", "tasks")


@pytest.mark.parametrize(
    "text, seconds", [("PT5M", 300), ("PT1H30M", 5400), ("PT90S", 90), ("PT2H", 7200), ("5M", None), ("PT", None)]
)
def test_iso_durations(text, seconds):
    assert duration_seconds(text) == seconds


def _template(stop_conditions, duration="PT5M") -> dict:
    return {
        "stopConditions": stop_conditions,
        "actions": [{"name": "connectivity", "parameters": [{"key": "duration", "value": duration}]}],
    }


def test_the_pack_requires_a_stop_condition_on_an_alarm_and_a_bounded_duration():
    alarm = [{"source": "aws:cloudwatch:alarm", "value": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:guard"}]
    assert _rule("fis-stop-conditions", TEMPLATE, _template(alarm)) == []
    assert _rule("fis-bounded-duration", TEMPLATE, _template(alarm)) == []
    for bad in ([], [{"source": "none"}], [{"source": "aws:cloudwatch:alarm"}]):
        assert "no stop condition on a CloudWatch alarm" in _rule("fis-stop-conditions", TEMPLATE, _template(bad))[0]
    assert _rule("fis-bounded-duration", TEMPLATE, _template(alarm, "PT31M")) == [
        "action connectivity: duration PT31M is over 30 minutes"
    ]
    assert "not an ISO 8601 duration" in _rule("fis-bounded-duration", TEMPLATE, _template(alarm, "5 minutes"))[0]
    assert _rule("fis-stop-conditions", "aws:sns/topic:Topic", {}) == []
    # under the pack the properties come through pulumi_policy's proxy (iterable, not a list): judged the same
    assert _rule("fis-stop-conditions", TEMPLATE, unknown_checking_proxy(_template(alarm))) == []
    assert _rule("fis-stop-conditions", TEMPLATE, unknown_checking_proxy(_template([{"source": "none"}])))
    assert _rule("fis-bounded-duration", TEMPLATE, unknown_checking_proxy(_template(alarm, "PT45M")))


def test_the_config_bound_is_the_pack_bound():
    values = dr_values("prod")
    values["drill"] = {"fis": True, "durationMinutes": MAX_FAULT_MINUTES + 1}
    with pytest.raises(ConfigError) as info:
        parse_stack_config(values)
    assert info.value.key == "dr:drill.durationMinutes"
    values["drill"]["durationMinutes"] = MAX_FAULT_MINUTES
    assert parse_stack_config(values).drill.duration_minutes == MAX_FAULT_MINUTES


def test_fis_is_off_by_default():
    assert parse_stack_config(dr_values("prod")).drill.fis is False


@pytest.mark.parametrize("stack, layout", [("do", "digitalocean"), ("ovh", "ovh-hybrid")])
def test_layouts_whose_sites_are_not_on_aws_refuse_fis_drills(stack, layout):
    raw, secret = decode_engine_config(*load_stack_config(ROOT, stack))
    assert parse_stack_config(raw, secret).drill.fis is False
    raw["drill"] = {"fis": True}
    with pytest.raises(ConfigError) as info:
        parse_stack_config(raw, secret)
    assert info.value.key == "dr:drill.fis"
    assert f"cannot act on the {layout} layout's sites" in info.value.message


def test_a_prod_variant_with_fis_declares_guarded_bounded_templates_and_passes_the_pack(offline_preview):
    result = offline_preview("fis-drill", stack_file=FIS_STACK)
    assert result.violations == []
    templates = [r for r in result.resources if r["type"] == TEMPLATE]
    assert sorted(r["inputs"]["tags"]["Name"] for r in templates) == sorted(
        f"orders-fis-drill-{region}-{action}"
        for region in ("us-east-1", "us-east-2", "us-west-2")
        for action in ("connectivity", "replication", "tasks")
    )
    for t in templates:
        region, action = t["inputs"]["tags"]["dr:region"], t["inputs"]["tags"]["dr:drillAction"]
        # the guard alarm of its own region, declared with it (docs/drill.md says why not the health alarms)
        assert t["inputs"]["stopConditions"] == [
            {
                "source": "aws:cloudwatch:alarm",
                "value": f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:orders-fis-drill-{region}-drill-guard",
            }
        ]
        parameters = {p["key"]: p["value"] for p in t["inputs"]["actions"][0].get("parameters") or []}
        assert parameters.get("duration") == (None if action == "tasks" else "PT5M")
        assert t["region"] == region
    guards = {r["inputs"]["name"]: r for r in result.resources if r["name"].endswith("-guard")}
    assert sorted(guards) == [f"orders-fis-drill-{r}-drill-guard" for r in ("us-east-1", "us-east-2", "us-west-2")]
    guard = guards["orders-fis-drill-us-east-2-drill-guard"]["inputs"]
    assert (guard["namespace"], guard["metricName"], guard["dimensions"]) == (
        "AWS/Lambda",
        "Errors",
        {"FunctionName": "orders-fis-drill-dr-orchestrator"},
    )
    assert guard["treatMissingData"] == "notBreaching"  # a quiet orchestrator never stops a drill
    policies = [r for r in result.resources if r["type"] == "aws:iam/rolePolicy:RolePolicy" and "-drill-" in r["name"]]
    assert len(policies) == 9
    for p in policies:
        assert _serious(json.loads(p["inputs"]["policy"])) == []
    tasks = next(t for t in templates if t["inputs"]["tags"]["Name"] == "orders-fis-drill-us-east-2-tasks")
    assert tasks["inputs"]["targets"][0]["parameters"] == {"cluster": "orders-fis-drill", "service": "orders"}
    assert "Policy pack: no violations" in _policy_line(result)


def _policy_line(result) -> str:
    from rich.console import Console

    from drctl.render import print_human

    console = Console(record=True, width=120)
    print_human(result, console)
    return console.export_text()


def test_verify_expects_actions_only_on_alarms_declared_with_them():
    from drctl.verify.declared import DeclaredAlarm
    from drctl.verify.health import _alarm_status

    deployed = {"ActionsEnabled": True, "AlarmActions": [], "StateValue": "OK", "Dimensions": []}
    guard = DeclaredAlarm("orders-prod-us-east-2-drill-guard", "us-east-2", (), None, False, has_actions=False)
    assert _alarm_status(guard, deployed, {}, {}) == (True, "state OK, actions -> ")
    health = DeclaredAlarm("orders-prod-us-east-2-unhealthy", "us-east-1", (), None, False)
    assert _alarm_status(health, deployed, {}, {}) == (False, "no alarm actions")
