"""The alarms that ask an operator to act, besides the Route 53 health alarms (`components.traffic`, which the
orchestrators act on themselves): an orchestrator that keeps erring, a streams replicator that has stalled, and a
failure queue that holds batches to resync. Each publishes to the notice topic of its own region (CloudWatch
publishes only to a topic of the alarm's region), whose key lets CloudWatch in for alarms named by
`ops_alarm_name_pattern`.

The AWS metric names here and the orchestrator's (`failover.metrics`) are the ones the dashboard
(`components.dashboard`) shows: both import them, so an alarm and its graph cannot name different metrics.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.naming import METRIC_ALARM, aws_name
from failover import metrics

ROUTE53_NAMESPACE, HEALTH_CHECK_STATUS, HEALTH_CHECK_ID = "AWS/Route53", "HealthCheckStatus", "HealthCheckId"
DYNAMODB_NAMESPACE, REPLICATION_LATENCY = "AWS/DynamoDB", "ReplicationLatency"
TABLE_NAME, RECEIVING_REGION = "TableName", "ReceivingRegion"
LAMBDA_NAMESPACE, ITERATOR_AGE, LAMBDA_ERRORS, FUNCTION_NAME = "AWS/Lambda", "IteratorAge", "Errors", "FunctionName"
SQS_NAMESPACE, QUEUE_DEPTH, QUEUE_NAME = "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName"

REPLICATOR_STALLED_SECONDS = 300
"""Iterator age at which a replicator counts as stalled: every failover onto its receiving region is refused by
the lag gate long before this, and a healthy replicator reads its stream within seconds."""
STALLED_MINUTES = 5
"""Consecutive minutes at or above the stalled age before the alarm fires."""
ERROR_MINUTES, ERROR_WINDOW_MINUTES = 3, 5
"""The orchestrator alarm: minutes with an error out of the last minutes (one lost round is not worth a page)."""


def ops_alarm_name(app: str, stack: str, what: str) -> str:
    return aws_name(METRIC_ALARM, f"{app}-{stack}-ops-{what}")


def ops_alarm_name_pattern(app: str, stack: str) -> str:
    """Every operator alarm's name, for the notice topics' key policy."""
    return f"{app}-{stack}-ops-*"


def direction_key(source: str, receiving: str) -> str:
    """One replication direction as a key of a stack output (`us-east-1->us-east-2`)."""
    return f"{source}->{receiving}"


def orchestrator_errors_alarm(app: str, stack: str, region: str, service: str) -> dict[str, Any]:
    """The MetricAlarm arguments (actions aside) for the orchestrator in `region` erring: its control table
    unreachable from there, a bad control state, or a defect (`failover.metrics.ERRORS`)."""
    return {
        "name": ops_alarm_name(app, stack, f"orchestrator-errors-{region}"),
        "alarm_description": (
            f"The DR orchestrator of {app} ({stack}) in {region} ended invocations in error for {ERROR_MINUTES} of "
            f"{ERROR_WINDOW_MINUTES} minutes (control table unreachable from {region}, a bad control state, or a "
            "defect): read its log group; failovers decided there may not happen"
        ),
        "namespace": metrics.NAMESPACE,
        "metric_name": metrics.ERRORS,
        "dimensions": {metrics.SERVICE_DIMENSION: service},
        "statistic": "Sum",
        "period": 60,
        "evaluation_periods": ERROR_WINDOW_MINUTES,
        "datapoints_to_alarm": ERROR_MINUTES,
        "threshold": 1,
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "treat_missing_data": "notBreaching",
    }


def replicator_stalled_alarm(app: str, stack: str, source: str, receiving: str, function_name: str) -> dict[str, Any]:
    """The MetricAlarm arguments (actions aside) for one direction's replicator falling behind its stream."""
    return {
        "name": ops_alarm_name(app, stack, f"replication-stalled-{source}-to-{receiving}"),
        "alarm_description": (
            f"The replicator {source} -> {receiving} of {app} ({stack}) has been {REPLICATOR_STALLED_SECONDS // 60} "
            f"minutes or more behind its stream for {STALLED_MINUTES} minutes: a failing batch is being retried (read "
            f"its log group); failovers onto {receiving} are refused by the lag gate meanwhile"
        ),
        "namespace": LAMBDA_NAMESPACE,
        "metric_name": ITERATOR_AGE,
        "dimensions": {FUNCTION_NAME: function_name},
        "statistic": "Maximum",
        "period": 60,
        "evaluation_periods": STALLED_MINUTES,
        "threshold": REPLICATOR_STALLED_SECONDS * 1000,  # IteratorAge is in milliseconds
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "treat_missing_data": "notBreaching",  # no data: no batch to read, nothing behind
    }


def failure_queue_alarm(source: str, receiving: str, queue_name: pulumi.Input[str]) -> dict[str, Any]:
    """The MetricAlarm arguments (name and actions aside) for a batch landing in a replicator's failure queue."""
    return {
        "alarm_description": (
            f"A replication batch {source} -> {receiving} was given up: "
            "the keys in the failure queue's records need a resync"
        ),
        "namespace": SQS_NAMESPACE,
        "metric_name": QUEUE_DEPTH,
        "dimensions": {QUEUE_NAME: queue_name},
        "statistic": "Maximum",
        "period": 60,
        "evaluation_periods": 1,
        "threshold": 1,
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "treat_missing_data": "notBreaching",
    }


class ReplicatorAlarms(pulumi.ComponentResource):
    """One replication direction's operator alarms, in its source region (pass that region's provider in opts):
    the replicator stalled, and its failure queue not empty; both to that region's notice topic.

    Declared beside the notice topics, not inside `components.replicator.StreamReplicator` (the data tier declares
    the replicators before any notice topic exists): by the plane in one stack, by the source region's automation
    tier in per-tier stacks, under the same name."""

    def __init__(
        self,
        name: str,
        *,
        app: str,
        stack: str,
        source: str,
        receiving: str,
        function_name: str,
        queue_name: pulumi.Input[str],
        topic_arn: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dr:data:ReplicatorAlarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stalled = aws.cloudwatch.MetricAlarm(
            f"{name}-stalled",
            **replicator_stalled_alarm(app, stack, source, receiving, function_name),
            alarm_actions=[topic_arn],
            ok_actions=[topic_arn],
            opts=child,
        )
        failures = aws.cloudwatch.MetricAlarm(
            f"{name}-failures",
            name=ops_alarm_name(app, stack, f"replication-failures-{source}-to-{receiving}"),
            **failure_queue_alarm(source, receiving, queue_name),
            alarm_actions=[topic_arn],
            ok_actions=[topic_arn],
            opts=child,
        )
        self.register_outputs({"stalledAlarmArn": stalled.arn, "failuresAlarmArn": failures.arn})
