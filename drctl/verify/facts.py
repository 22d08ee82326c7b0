"""Collecting what exists: one worker per region makes every call into its region (the calls that need another
region's answers, topics and Route 53, live with their checks)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from drctl.verify.calls import ClientFactory, Outcome, RegionFence
from drctl.verify.control import read_control_item
from drctl.verify.declared import Declared, DeclaredFunction

NOT_READ = Outcome(error="not read: the stack declares none in this region")


@dataclass
class RegionFacts:
    tables: dict[str, Outcome] = field(default_factory=dict)
    backups: dict[str, Outcome] = field(default_factory=dict)
    parameter: Outcome = NOT_READ
    control: Outcome = NOT_READ
    functions: dict[str, Outcome] = field(default_factory=dict)
    """function urn -> GetFunctionConfiguration"""
    policies: dict[str, Outcome] = field(default_factory=dict)
    """function urn -> the function's resource policy (statements)"""
    schedules: dict[str, Outcome] = field(default_factory=dict)
    """function urn -> [(DescribeRule, targets)] of the rules that target it"""
    alarms: Outcome = NOT_READ
    """alarm name -> DescribeAlarms entry"""
    topic_names: Outcome = NOT_READ
    """every topic ARN in the region"""


def collect_region(region: str, declared: Declared, client: ClientFactory, fence: RegionFence) -> RegionFacts:
    facts = RegionFacts()
    ddb = client("dynamodb", region)
    for table in declared.tables:
        if region in {r.region for r in table.replicas}:
            facts.tables[table.name] = fence.call(lambda t=table.name: ddb.describe_table(TableName=t)["Table"])
            facts.backups[table.name] = fence.call(
                lambda t=table.name: ddb.describe_continuous_backups(TableName=t)["ContinuousBackupsDescription"]
            )
    if region in declared.parameter_regions:
        ssm = client("ssm", region)
        facts.parameter = fence.call(lambda: ssm.get_parameter(Name=declared.parameter_name)["Parameter"]["Value"])
    control = declared.control_table
    if control and region in {r.region for r in control.replicas}:
        facts.control = fence.call(read_control_item, declared.runtime_environment, region, ddb)
    for fn in (f for f in declared.functions if f.region == region):
        _collect_function(fn, client, fence, facts)
    alarm_names = [a.name for a in declared.alarms if a.region == region]
    if alarm_names:
        cloudwatch = client("cloudwatch", region)
        facts.alarms = fence.call(
            lambda: {
                a["AlarmName"]: a
                for a in cloudwatch.describe_alarms(AlarmNames=alarm_names, AlarmTypes=["MetricAlarm"])["MetricAlarms"]
            }
        )
    if any(t.region == region for t in declared.topics):
        sns = client("sns", region)
        facts.topic_names = fence.call(
            lambda: [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]
        )
    return facts


def _collect_function(fn: DeclaredFunction, client: ClientFactory, fence: RegionFence, facts: RegionFacts) -> None:
    lam, events = client("lambda", fn.region), client("events", fn.region)
    config = facts.functions[fn.urn] = fence.call(lambda: lam.get_function_configuration(FunctionName=fn.name))
    if config.error is not None:
        return
    policy = fence.call(lambda: json.loads(lam.get_policy(FunctionName=fn.name)["Policy"]))
    facts.policies[fn.urn] = Outcome(value={"Statement": []}) if policy.missing else policy
    arn = config.value["FunctionArn"]

    def rules_targeting() -> list[tuple[dict, list[dict]]]:
        names = [
            n
            for page in events.get_paginator("list_rule_names_by_target").paginate(TargetArn=arn)
            for n in page["RuleNames"]
        ]
        return [(events.describe_rule(Name=n), events.list_targets_by_rule(Rule=n)["Targets"]) for n in names]

    facts.schedules[fn.urn] = fence.call(rules_targeting)
