"""The failover orchestrator Lambda in one region, with its triggers and least-privilege role."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

import failover
from components.alarms import orchestrator_errors_alarm
from components.iam import LAMBDA_TRUST, orchestrator_policy
from components.naming import EVENT_RULE, IAM_ROLE, LAMBDA_FUNCTION, LOG_GROUP, autonamed, aws_name
from components.powertools import (  # noqa: F401 (re-exported: the components and tests import them from here)
    ARCHITECTURE,
    POWERTOOLS_DISTRIBUTION,
    RUNTIME,
    pinned_powertools_version,
    powertools_layer_parameter,
)
from failover import settings as names

FAILOVER_SOURCE = Path(failover.__file__).resolve().parent
"""The runtime's sources, wherever the package is imported from (a checkout, or site-packages when installed)."""
CODE_PACKAGE = "failover"
HANDLER = "failover.orchestrator.handler"


def lambda_code_files(source: Path = FAILOVER_SOURCE, package: str = CODE_PACKAGE) -> dict[str, Path]:
    """Archive path -> file for each `.py` file of the package, in sorted order, and nothing else.

    No `__pycache__` (tests leave it behind) and no stray files: the archive, and so the function's
    code hash, is the same on every machine that has the same sources (`.gitattributes` keeps LF).
    """
    return {
        f"{package}/{path.relative_to(source).as_posix()}": path
        for path in sorted(source.rglob("*.py"))
        if "__pycache__" not in path.relative_to(source).parts
    }


def code_sha256(files: dict[str, Path]) -> str:
    """A digest of what the archive holds (names and bytes), independent of paths, times and modes."""
    digest = hashlib.sha256()
    for name in sorted(files):
        content = files[name].read_bytes()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def lambda_code_archive(files: dict[str, Path]) -> pulumi.AssetArchive:
    """The engine zips these assets by name with fixed timestamps: same files in, same zip out."""
    return pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in files.items()})


def orchestrator_function_name(app: str, stack: str) -> str:
    return aws_name(LAMBDA_FUNCTION, f"{app}-{stack}-dr-orchestrator")


# The monitor is invoked every minute and probes for a little longer than that, so the next invocation
# takes over (it claims the observer record) before the previous one stops: no gap between rounds even
# when EventBridge fires a few seconds late.
MONITOR_SCHEDULE = "rate(1 minute)"
ASYNC_MAX_EVENT_AGE_SECONDS = 60
"""The shortest age Lambda accepts: an event older than a minute is dropped, not acted on."""
MONITOR_WINDOW_SECONDS = 75
FUNCTION_TIMEOUT_SECONDS = 100


def orchestrator_environment(
    *,
    app: str,
    regions: list[str],
    control_table: str,
    data_table: str,
    parameter_name: str,
    health_urls: dict[str, str],
    alarm_regions: dict[str, str],
    scale_targets: pulumi.Input[dict],
    topic_arns: pulumi.Input[dict],
    failure_threshold: int,
    recovery_threshold: int,
    min_dwell_seconds: int,
    failback: str,
    automatic: bool,
    rpo_seconds: int | None,
    probe_interval_seconds: float,
    probe_timeout_seconds: float,
    replication: str = "global",
    control_regions: list[str] | None = None,
    observer_regions: list[str] | None = None,
    lease_seconds: float = 5,
) -> dict[str, pulumi.Input[str]]:
    """The DR_* variables `failover.settings` reads (docs/runtime.md, "The orchestrator's events and outcomes"),
    one input per variable:
    values known at preview stay known even while ARNs are not (the policy pack reads them on a first deploy).

    `rpo_seconds` None (strong consistency: RPO 0 by construction) leaves the lag gate off."""
    env: dict[str, pulumi.Input[str]] = {
        names.APP: app,
        names.REGIONS: ",".join(regions),
        names.CONTROL_TABLE: control_table,
        names.DATA_TABLE: data_table,
        names.ACTIVE_REGION_PARAMETER: parameter_name,
        names.HEALTH_URLS: json.dumps(health_urls, sort_keys=True),
        names.ALARM_REGIONS: json.dumps(alarm_regions, sort_keys=True),
        names.SCALE_TARGETS: pulumi.Output.from_input(scale_targets).apply(lambda t: json.dumps(t, sort_keys=True)),
        names.TOPIC_ARNS: pulumi.Output.from_input(topic_arns).apply(lambda t: json.dumps(t, sort_keys=True)),
        names.FAILURE_THRESHOLD: str(failure_threshold),
        names.RECOVERY_THRESHOLD: str(recovery_threshold),
        names.MIN_DWELL_SECONDS: str(min_dwell_seconds),
        names.FAILBACK: failback,
        names.AUTOMATIC_FAILOVER: "true" if automatic else "false",
        names.PROBE_INTERVAL_SECONDS: f"{probe_interval_seconds:g}",
        names.PROBE_TIMEOUT_SECONDS: f"{probe_timeout_seconds:g}",
        names.MONITOR_WINDOW_SECONDS: str(MONITOR_WINDOW_SECONDS),
        names.CONTROL_REGIONS: ",".join(control_regions or regions),
        names.OBSERVER_REGIONS: ",".join(observer_regions or regions),
        names.LEASE_SECONDS: f"{lease_seconds:g}",
        "POWERTOOLS_SERVICE_NAME": f"{app}-dr-orchestrator",
    }
    if rpo_seconds is not None:
        env[names.RPO_SECONDS] = str(rpo_seconds)
    if replication != "global":  # global tables need no variable: existing functions keep their environment
        env[names.REPLICATION] = replication
    return env


@dataclass(frozen=True)
class OrchestratorArgs:
    app: str
    stack: str
    region: str
    """The region this copy runs in (and reads the control table in)."""
    environment: dict
    """From `orchestrator_environment` (DR_HOME_REGION is added here)."""
    policy_arns: pulumi.Input[dict]
    """Keyword arguments of `iam.orchestrator_policy` except log_group_arn."""
    alarm_topic_arn: pulumi.Input[str]
    """The us-east-1 topic the Route 53 health alarms publish to (never the transition notices)."""
    reserved_concurrency: int | None = None
    """Reserved concurrency; None reserves none (accounts with a low concurrency quota refuse any)."""
    powertools_version: str | None = None
    """The aws-lambda-powertools version whose layer the function uses; None: the pinned one."""
    observer_only: bool = False
    """The control table's witness region: it probes and votes, never transitions (no alarm trigger)."""
    notice_topic_arn: pulumi.Input[str] | None = None
    """This region's notice topic, which the alarm on the function's errors publishes to; None: no such alarm (the
    witness region has no topic, and CloudWatch publishes only to a topic of the alarm's region)."""


ORCHESTRATOR_TYPE = "dr:automation:Orchestrator"


def _subscribe_to_alarms(
    parent: pulumi.Resource,
    name: str,
    *,
    function_arn: pulumi.Input[str],
    alarm_topic_arn: pulumi.Input[str],
    alarm_provider: aws.Provider,
) -> aws.sns.TopicSubscription:
    """Health alarms (us-east-1 topic) -> this orchestrator, whichever stack declares the subscription."""
    return aws.sns.TopicSubscription(
        f"{name}-alarms",
        topic=alarm_topic_arn,
        protocol="lambda",
        endpoint=function_arn,
        opts=pulumi.ResourceOptions(parent=parent, provider=alarm_provider),
    )


class Orchestrator(pulumi.ComponentResource):
    """The function in its region with its role, log group, monitor schedule and invoke permissions, and (when
    `alarm_provider` is given) its subscription to the us-east-1 alarm topic.

    A region's own tier passes no `alarm_provider`: it declares nothing in us-east-1, and the traffic tier
    declares the subscription with `OrchestratorAlarmSubscription` under the same name, so its URN does not
    change between one stack and per-tier stacks."""

    function: aws.lambda_.Function

    def __init__(
        self,
        name: str,
        args: OrchestratorArgs,
        provider: aws.Provider,
        alarm_provider: aws.Provider | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(ORCHESTRATOR_TYPE, name, None, opts)
        self.function = self._function(name, args, provider)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        # Asynchronous invocations (alarms through SNS, the schedule) are never retried and never acted on late:
        # Lambda would otherwise retry a failed event for up to 6 hours, and a stale alarm says nothing about now.
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-async",
            function_name=self.function.name,
            maximum_event_age_in_seconds=ASYNC_MAX_EVENT_AGE_SECONDS,
            maximum_retry_attempts=0,
            opts=child,
        )
        if not args.observer_only:  # Health alarms (us-east-1) -> SNS -> this function, in its own region.
            aws.lambda_.Permission(
                f"{name}-from-alarms",
                action="lambda:InvokeFunction",
                function=self.function.name,
                principal="sns.amazonaws.com",
                source_arn=args.alarm_topic_arn,
                opts=child,
            )
        if alarm_provider is not None and not args.observer_only:
            _subscribe_to_alarms(
                self,
                name,
                function_arn=self.function.arn,
                alarm_topic_arn=args.alarm_topic_arn,
                alarm_provider=alarm_provider,
            )
        self._monitor_schedule(name, child)
        if args.notice_topic_arn is not None:  # the outcome metrics (failover.metrics) -> an operator
            aws.cloudwatch.MetricAlarm(
                f"{name}-errors",
                **orchestrator_errors_alarm(
                    args.app, args.stack, args.region, orchestrator_function_name(args.app, args.stack)
                ),
                alarm_actions=[args.notice_topic_arn],
                ok_actions=[args.notice_topic_arn],
                opts=child,
            )
        self.register_outputs({"functionArn": self.function.arn})

    def _function(self, name: str, args: OrchestratorArgs, provider: aws.Provider) -> aws.lambda_.Function:
        """The function with its log group and its role (the least privilege `iam.orchestrator_policy` gives),
        running the `failover` package on the pinned Powertools layer."""
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        function_name = orchestrator_function_name(args.app, args.stack)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=aws_name(LOG_GROUP, f"/aws/lambda/{function_name}"), retention_in_days=90, opts=child
        )
        role = aws.iam.Role(
            autonamed(IAM_ROLE, f"{name}-role"), assume_role_policy=json.dumps(LAMBDA_TRUST), opts=child
        )
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.all(args.policy_arns, log_group.arn).apply(
                lambda a: json.dumps(orchestrator_policy(**a[0], log_group_arn=a[1]))
            ),
            opts=child,
        )
        powertools_layer = aws.ssm.get_parameter_output(
            name=powertools_layer_parameter(args.powertools_version or pinned_powertools_version()),
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider),
        )
        return aws.lambda_.Function(
            f"{name}-fn",
            name=function_name,
            role=role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=HANDLER,
            code=lambda_code_archive(lambda_code_files()),
            layers=[powertools_layer.insecure_value],
            timeout=FUNCTION_TIMEOUT_SECONDS,
            memory_size=256,
            reserved_concurrent_executions=args.reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={**args.environment, names.HOME_REGION: args.region}
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[policy]),
        )

    def _monitor_schedule(self, name: str, child: pulumi.ResourceOptions) -> None:
        """The monitor: probe every region every few seconds, independent of us-east-1."""
        rule = aws.cloudwatch.EventRule(
            autonamed(EVENT_RULE, f"{name}-monitor"),
            schedule_expression=MONITOR_SCHEDULE,
            description="DR monitor: probe every region's health endpoint for the next minute",
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-monitor",
            rule=rule.name,
            arn=self.function.arn,
            input=json.dumps({"action": "monitor"}),
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-from-schedule",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=child,
        )


class OrchestratorAlarmSubscription(pulumi.ComponentResource):
    """The us-east-1 half of an `Orchestrator` whose function another stack declares (the traffic tier holds it
    for every region's orchestrator). Same type and name as that Orchestrator, so the subscription keeps the
    URN it has in a single stack (`pulumi state move` between the modes needs no alias)."""

    subscription: aws.sns.TopicSubscription

    def __init__(
        self,
        name: str,
        *,
        function_arn: pulumi.Input[str],
        alarm_topic_arn: pulumi.Input[str],
        alarm_provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(ORCHESTRATOR_TYPE, name, None, opts)
        self.subscription = _subscribe_to_alarms(
            self, name, function_arn=function_arn, alarm_topic_arn=alarm_topic_arn, alarm_provider=alarm_provider
        )
        self.register_outputs({"subscriptionArn": self.subscription.arn})
