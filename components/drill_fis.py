"""AWS FIS experiment templates for live drills in the user's own account (`dr:drill.fis`, the aws layout only).

Per region, one template per fault `drctl drill --live` can inject into that region's site:

- `connectivity` (`aws:network:disrupt-connectivity`, scope `all`): the site's subnets get a deny-all network ACL
  for the fault's duration (FIS swaps the subnets' ACL association and restores it);
- `replication` (`aws:dynamodb:global-table-pause-replication`): the region's replica of the data table stops
  replicating for the fault's duration; declared only where the data table is a global table (with
  `table.replication: streams` there is no global table to pause);
- `tasks` (`aws:ecs:stop-task`): every task of the region's ECS service is stopped (the service starts new ones).

Each template has a stop condition on the region's guard alarm (the orchestrator's errors there), a bounded duration
and a role of its own whose policy (`fis_role_policy`, a plain function) allows only what its one action needs, on
the stack's resources only. The templates carry the tags `drctl drill --live` finds them by.

Why not the health alarms: the drilled site's own alarm is the fault's expected effect (stopping on it would end
every drill at detection), and the other sites' alarms live in us-east-1, where Route 53's metrics are: a template
in another region would name an alarm outside its region, and even the us-east-1 templates would name alarms that a
per-region stack (`dr:tier`) deploys later, in the traffic tier. The guard alarm is declared with the templates,
in their region, in every mode.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.iam import allow_statement, service_trust_policy
from components.naming import IAM_ROLE, METRIC_ALARM, autonamed, aws_name

DrillAction = Literal["connectivity", "replication", "tasks"]
ACTIONS: tuple[DrillAction, ...] = ("connectivity", "replication", "tasks")
FIS_ACTION_IDS: dict[str, str] = {
    "connectivity": "aws:network:disrupt-connectivity",
    "replication": "aws:dynamodb:global-table-pause-replication",
    "tasks": "aws:ecs:stop-task",
}
STACK_TAG = "dr:stack"
REGION_TAG = "dr:region"
ACTION_TAG = "dr:drillAction"
FIS_SERVICE = "fis.amazonaws.com"


def drill_actions(replication: str) -> tuple[DrillAction, ...]:
    """The faults a region's site can take: pausing replication needs a global table (not the streams replicator)."""
    return tuple(a for a in ACTIONS if a != "replication" or replication == "global")


def iso_duration(minutes: int) -> str:
    """FIS durations are ISO 8601 (`PT5M`)."""
    return f"PT{int(minutes)}M"


def guard_alarm_name(app: str, stack: str, region: str) -> str:
    """The alarm that stops any drill in `region` when the orchestrator there starts failing."""
    return aws_name(METRIC_ALARM, f"{app}-{stack}-{region}-drill-guard")


def template_tags(app: str, stack: str, region: str, action: str) -> dict[str, str]:
    return {"Name": f"{app}-{stack}-{region}-{action}", STACK_TAG: stack, REGION_TAG: region, ACTION_TAG: action}


def fis_trust_policy(account_id: str) -> dict:
    """FIS may assume the role, on behalf of this account's experiments only."""
    return service_trust_policy(FIS_SERVICE, account_id=account_id)


def connectivity_statements(region: str, account_id: str, vpc_id: str, subnet_ids: Sequence[str]) -> list[dict]:
    """`aws:network:disrupt-connectivity` (scope all) on these subnets: create a tagged deny-all ACL in their VPC,
    swap the subnets' association to it and back, delete it. Describe calls have no resource-level permissions."""
    acl = f"arn:aws:ec2:{region}:{account_id}:network-acl/*"
    fis_owned = {"StringEquals": {"aws:ResourceTag/managedByFIS": "true"}}
    return [
        allow_statement(
            "CreateFisAclInTheSiteVpc",
            ["ec2:CreateNetworkAcl"],
            [acl, f"arn:aws:ec2:{region}:{account_id}:vpc/{vpc_id}"],
            {"StringEquals": {"aws:RequestTag/managedByFIS": "true"}},
        ),
        allow_statement(
            "TagFisAcl",
            ["ec2:CreateTags"],
            [acl],
            {"StringEquals": {"ec2:CreateAction": "CreateNetworkAcl", "aws:RequestTag/managedByFIS": "true"}},
        ),
        allow_statement("EditFisAcl", ["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl"], [acl], fis_owned),
        allow_statement(
            "SwapTheSiteSubnetsAcl",
            ["ec2:ReplaceNetworkAclAssociation"],
            [acl, *(f"arn:aws:ec2:{region}:{account_id}:subnet/{s}" for s in subnet_ids)],
        ),
        allow_statement(
            "DescribeNetwork",
            [
                "ec2:DescribeManagedPrefixLists",
                "ec2:DescribeNetworkAcls",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
                "ec2:GetManagedPrefixListEntries",
            ],
            ["*"],
        ),
    ]


def replication_statements(table_arn: str) -> list[dict]:
    """`aws:dynamodb:global-table-pause-replication` on one replica: FIS adds (then removes) a statement to the
    replica's resource policy that denies the replication role; the target is resolved through the tagging API."""
    return [
        allow_statement(
            "PauseTheReplica",
            [
                "dynamodb:DeleteResourcePolicy",
                "dynamodb:DescribeTable",
                "dynamodb:GetResourcePolicy",
                "dynamodb:PutResourcePolicy",
            ],
            [table_arn],
        ),
        allow_statement("ResolveTargets", ["tag:GetResources"], ["*"]),
    ]


def stop_task_statements(region: str, account_id: str, cluster: str) -> list[dict]:
    """`aws:ecs:stop-task` on the tasks of one cluster's service (found by cluster and service parameters)."""
    cluster_arn = f"arn:aws:ecs:{region}:{account_id}:cluster/{cluster}"
    return [
        allow_statement("DescribeTheCluster", ["ecs:DescribeClusters"], [cluster_arn]),
        allow_statement("ListTheClusterTasks", ["ecs:ListTasks"], ["*"], {"ArnEquals": {"ecs:cluster": cluster_arn}}),
        allow_statement(
            "StopTheClusterTasks",
            ["ecs:DescribeTasks", "ecs:StopTask"],
            [f"arn:aws:ecs:{region}:{account_id}:task/{cluster}/*"],
        ),
    ]


def fis_role_policy(statements: list[dict]) -> dict:
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class DrillTemplatesArgs:
    app: str
    stack: str
    region: str
    """The region of the site the templates act on (and of the templates, their role's use and their alarms)."""
    account_id: pulumi.Input[str]
    actions: tuple[DrillAction, ...]
    duration_minutes: int
    """How long connectivity is cut and replication paused at most (stop-task is instantaneous)."""
    orchestrator_function: str
    """The orchestrator's function name in this region: the guard alarm watches its errors."""
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    cluster: str
    service: str
    table_name: str


class DrillTemplates(pulumi.ComponentResource):
    """The FIS experiment templates of one region's site, their roles and the guard alarm (provider in `opts`)."""

    templates: dict[str, aws.fis.ExperimentTemplate]
    guard_alarm: aws.cloudwatch.MetricAlarm

    def __init__(self, name: str, args: DrillTemplatesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dr:drill:FisTemplates", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Lambda's own metric: any failed invocation (an exception, a timeout) of the orchestrator in this region.
        self.guard_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-guard",
            name=guard_alarm_name(args.app, args.stack, args.region),
            namespace="AWS/Lambda",
            metric_name="Errors",
            dimensions={"FunctionName": args.orchestrator_function},
            statistic="Sum",
            period=60,
            evaluation_periods=1,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_description=f"stops any FIS drill in {args.region} when the DR orchestrator there fails",
            opts=child,
        )
        self.templates = {action: self._template(name, args, action) for action in args.actions}
        self.register_outputs({"templateIds": {a: t.id for a, t in self.templates.items()}})

    def _statements(self, args: DrillTemplatesArgs, action: str) -> pulumi.Output:
        acct = pulumi.Output.from_input(args.account_id)
        if action == "connectivity":
            return pulumi.Output.all(acct, args.vpc_id, *args.subnet_ids).apply(
                lambda a: connectivity_statements(args.region, a[0], a[1], a[2:])
            )
        if action == "replication":
            return acct.apply(
                lambda a: replication_statements(f"arn:aws:dynamodb:{args.region}:{a}:table/{args.table_name}")
            )
        return acct.apply(lambda a: stop_task_statements(args.region, a, args.cluster))

    def _stop_conditions(self) -> list[aws.fis.ExperimentTemplateStopConditionArgs]:
        return [aws.fis.ExperimentTemplateStopConditionArgs(source="aws:cloudwatch:alarm", value=self.guard_alarm.arn)]

    def _template(self, name: str, args: DrillTemplatesArgs, action: str) -> aws.fis.ExperimentTemplate:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            autonamed(IAM_ROLE, f"{name}-{action}"),
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda a: json.dumps(fis_trust_policy(a))
            ),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-{action}",
            role=role.id,
            policy=self._statements(args, action).apply(lambda s: json.dumps(fis_role_policy(s))),
            opts=child,
        )
        duration = [
            aws.fis.ExperimentTemplateActionParameterArgs(key="duration", value=iso_duration(args.duration_minutes))
        ]
        if action == "connectivity":
            target = aws.fis.ExperimentTemplateTargetArgs(
                name="subnets",
                resource_type="aws:ec2:subnet",
                selection_mode="ALL",
                resource_arns=pulumi.Output.all(args.account_id, *args.subnet_ids).apply(
                    lambda a: [f"arn:aws:ec2:{args.region}:{a[0]}:subnet/{s}" for s in a[1:]]
                ),
            )
            key = "Subnets"
            parameters = [*duration, aws.fis.ExperimentTemplateActionParameterArgs(key="scope", value="all")]
        elif action == "replication":
            target = aws.fis.ExperimentTemplateTargetArgs(
                name="replica",
                resource_type="aws:dynamodb:global-table",
                selection_mode="ALL",
                resource_arns=pulumi.Output.from_input(args.account_id).apply(
                    lambda a: [f"arn:aws:dynamodb:{args.region}:{a}:table/{args.table_name}"]
                ),
            )
            key, parameters = "Tables", duration
        else:
            target = aws.fis.ExperimentTemplateTargetArgs(
                name="tasks",
                resource_type="aws:ecs:task",
                selection_mode="ALL",
                parameters={"cluster": args.cluster, "service": args.service},
            )
            key, parameters = "Tasks", []
        return aws.fis.ExperimentTemplate(
            f"{name}-{action}",
            description=f"DR drill: {FIS_ACTION_IDS[action]} on the {args.region} site of {args.app} ({args.stack})",
            role_arn=role.arn,
            stop_conditions=self._stop_conditions(),
            targets=[target],
            actions=[
                aws.fis.ExperimentTemplateActionArgs(
                    name=action,
                    action_id=FIS_ACTION_IDS[action],
                    parameters=parameters or None,
                    target=aws.fis.ExperimentTemplateActionTargetArgs(key=key, value=target.name),
                )
            ],
            tags=template_tags(args.app, args.stack, args.region, action),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
