"""One direction of streams replication, declared in the source region: the replicator Lambda, its role, the
event source mapping on the source table's stream, and an encrypted queue for batches that never succeed.

For tables that cannot be global tables (another account, an unsupported region pair, a DynamoDB-compatible
store). Two components, one per direction, make a pair of tables replicate both ways; the rules (last
writer wins, tombstones, no echo) are in `failover.replication`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.alarms import failure_queue_alarm
from components.iam import LAMBDA_TRUST, failure_queue_key_policy, replicator_policy
from components.naming import (
    AWS_NAME_RULES,
    DYNAMODB_TABLE,
    IAM_ROLE,
    LAMBDA_FUNCTION,
    LOG_GROUP,
    METRIC_ALARM,
    SQS_QUEUE,
    autonamed,
    aws_name,
)
from components.orchestrator import (
    RUNTIME,
    lambda_code_archive,
    lambda_code_files,
    pinned_powertools_version,
    powertools_layer_parameter,
)
from failover.conflicts import DEFAULT_RETENTION_DAYS, EXPIRES_AT, KEY, LOSER, RETENTION_BOUNDS

HANDLER = "failover.replicator.handler"
MAX_FUNCTION_NAME = AWS_NAME_RULES[LAMBDA_FUNCTION].max_length
# TRIM_HORIZON, not LATEST: the mapping starts with every record the stream still holds (24 h), so writes
# made between the table's creation and the mapping becoming active are not skipped. Replaying them (and
# replaying everything when the mapping is replaced) is harmless: replicated writes are conditional.
STARTING_POSITION = "TRIM_HORIZON"
# Lambda's bounds for streams event source mappings.
RETRY_BOUNDS = (0, 10_000)
RECORD_AGE_BOUNDS = (60, 604_800)
BATCH_SIZE_BOUNDS = (1, 10_000)
WORKER_BOUNDS = (1, 64)


@dataclass(frozen=True)
class StreamReplicatorArgs:
    app: str
    stack: str
    source_region: str
    """Region of the source table's stream; everything here is declared in it (the provider in opts)."""
    receiving_region: str
    """Region of the receiving table; the lag metric is published there."""
    source_table_arn: pulumi.Input[str]
    source_stream_arn: pulumi.Input[str]
    """The stream the mapping reads (NEW_AND_OLD_IMAGES)."""
    receiving_table_name: pulumi.Input[str]
    receiving_table_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    """The account that administers the failure queue's key."""
    batch_size: int = 100
    workers: int = 8
    """Threads per invocation; each item's records still apply in stream order."""
    maximum_retry_attempts: int = 10_000
    """Retries of a failing batch. Lambda's maximum, so that the record age below is what normally ends them."""
    maximum_record_age_seconds: int = 21_600
    """Age after which a failing record goes to the failure queue (6 h; the stream keeps records 24 h).
    Until then its shard waits, in order: the receiving side falls behind visibly (the lag metric grows and
    the failover's lag gate refuses it) instead of silently missing a write."""
    failure_alarm_topic_arn: pulumi.Input[str] | None = None
    """SNS topic alarmed when a batch lands in the failure queue (those keys need a resync)."""
    log_retention_days: int = 90
    conflict_retention_days: int = DEFAULT_RETENTION_DAYS
    """How long the conflicts table keeps a record (DynamoDB TTL on `expiresAt`)."""
    protect: bool = False
    """Pulumi-protect the conflicts table (as the data tables: `dr:protect`)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags of the conflicts table (the plane passes the data tables' `dr:stack` and `dr:production`)."""


def replicator_args_errors(args: StreamReplicatorArgs) -> list[str]:
    """Each value outside the bounds Lambda accepts, or unbounded (-1), as one line naming the field."""
    errors = []
    for what, value, (low, high) in (
        ("maximum_retry_attempts", args.maximum_retry_attempts, RETRY_BOUNDS),
        ("maximum_record_age_seconds", args.maximum_record_age_seconds, RECORD_AGE_BOUNDS),
        ("batch_size", args.batch_size, BATCH_SIZE_BOUNDS),
        ("workers", args.workers, WORKER_BOUNDS),
        ("conflict_retention_days", args.conflict_retention_days, RETENTION_BOUNDS),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors.append(f"{what} must be a whole number from {low} to {high}, got {value!r}")
    if args.source_region == args.receiving_region:
        errors.append(f"receiving_region must differ from source_region ({args.source_region})")
    return errors


def replicator_function_name(app: str, stack: str, source_region: str, receiving_region: str) -> str:
    """`<app>-<stack>-repl-<source>-<receiving>`, shortened with a hash suffix to Lambda's 64 characters; a
    character Lambda refuses (a stack name may hold '.') is replaced by the naming helper."""
    name = f"{app}-{stack}-repl-{source_region}-{receiving_region}"
    if len(name) > MAX_FUNCTION_NAME:  # the 8-character hash long names have always had (a rename replaces)
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[: MAX_FUNCTION_NAME - 9].rstrip('-')}-{digest}"
    return aws_name(LAMBDA_FUNCTION, name)


def conflicts_table_name(app: str, stack: str, source_region: str, receiving_region: str) -> str:
    """`<app>-<stack>-conflicts-<source>-<receiving>`: one table per direction, in its source region, where the
    replicator runs (`drctl conflicts` finds them by this name)."""
    return aws_name(DYNAMODB_TABLE, f"{app}-{stack}-conflicts-{source_region}-{receiving_region}")


def replicator_environment(
    *,
    app: str,
    source_region: str,
    receiving_region: str,
    receiving_table: str,
    workers: int,
    failure_queue_url: str = "",
    conflicts_table: str = "",
    conflict_retention_days: int = DEFAULT_RETENTION_DAYS,
) -> dict[str, str]:
    """The variables `failover.settings.load_replicator_settings` reads."""
    return {
        "DR_SOURCE_REGION": source_region,
        "DR_RECEIVING_REGION": receiving_region,
        "DR_RECEIVING_TABLE": receiving_table,
        "DR_REPLICATOR_WORKERS": str(workers),
        "DR_FAILURE_QUEUE_URL": failure_queue_url,
        "DR_CONFLICTS_TABLE": conflicts_table,
        "DR_CONFLICT_RETENTION_DAYS": str(conflict_retention_days),
        "POWERTOOLS_SERVICE_NAME": f"{app}-dr-replicator",
    }


class StreamReplicator(pulumi.ComponentResource):
    """Replicates `source_region`'s table into `receiving_region`'s; pass the source region's provider in opts."""

    function_arn: pulumi.Output[str]
    failure_queue_arn: pulumi.Output[str]
    failure_queue_url: pulumi.Output[str]
    failure_queue_name: pulumi.Output[str]
    function_name: str
    mapping_uuid: pulumi.Output[str]
    conflicts_table_name: pulumi.Output[str]
    conflicts_table_arn: pulumi.Output[str]

    def __init__(self, name: str, args: StreamReplicatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        errors = replicator_args_errors(args)
        if errors:
            raise ValueError(f"StreamReplicator {name}: " + "; ".join(errors))
        super().__init__("dr:data:StreamReplicator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        function_name = replicator_function_name(args.app, args.stack, args.source_region, args.receiving_region)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=aws_name(LOG_GROUP, f"/aws/lambda/{function_name}"),
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        role = aws.iam.Role(
            autonamed(IAM_ROLE, f"{name}-role"), assume_role_policy=json.dumps(LAMBDA_TRUST), opts=child
        )
        key, queue = self._failure_queue(name, args, role)
        conflicts = self._conflicts_table(name, args)
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.all(
                args.source_table_arn, args.receiving_table_arn, queue.arn, key.arn, log_group.arn, conflicts.arn
            ).apply(
                lambda a: json.dumps(
                    replicator_policy(
                        source_table_arn=a[0],
                        receiving_table_arn=a[1],
                        failure_queue_arn=a[2],
                        failure_key_arn=a[3],
                        log_group_arn=a[4],
                        conflicts_table_arn=a[5],
                    )
                )
            ),
            opts=child,
        )
        function = self._function(name, args, function_name, role, log_group, (queue, conflicts), policy)
        mapping = aws.lambda_.EventSourceMapping(
            f"{name}-stream",
            event_source_arn=args.source_stream_arn,
            function_name=function.arn,
            starting_position=STARTING_POSITION,
            batch_size=args.batch_size,
            maximum_batching_window_in_seconds=0,
            parallelization_factor=1,  # one batch per shard at a time: each item's records in order
            bisect_batch_on_function_error=True,
            function_response_types=["ReportBatchItemFailures"],
            maximum_retry_attempts=args.maximum_retry_attempts,
            maximum_record_age_in_seconds=args.maximum_record_age_seconds,
            destination_config=aws.lambda_.EventSourceMappingDestinationConfigArgs(
                on_failure=aws.lambda_.EventSourceMappingDestinationConfigOnFailureArgs(destination_arn=queue.arn)
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        if args.failure_alarm_topic_arn is not None:
            self._failure_alarm(name, args, args.failure_alarm_topic_arn, queue)
        self.function_arn = function.arn
        self.failure_queue_arn = queue.arn
        self.failure_queue_url = queue.url
        self.failure_queue_name = queue.name
        self.function_name = function_name
        self.mapping_uuid = mapping.uuid
        self.conflicts_table_name = conflicts.name
        self.conflicts_table_arn = conflicts.arn
        self.register_outputs(
            {
                "conflictsTableName": self.conflicts_table_name,
                "conflictsTableArn": self.conflicts_table_arn,
                "functionArn": self.function_arn,
                "failureQueueArn": self.failure_queue_arn,
                "failureQueueUrl": self.failure_queue_url,
                "failureQueueName": self.failure_queue_name,
                "mappingUuid": self.mapping_uuid,
            }
        )

    def _failure_queue(
        self, name: str, args: StreamReplicatorArgs, role: aws.iam.Role
    ) -> tuple[aws.kms.Key, aws.sqs.Queue]:
        """The queue that receives the batches Lambda gives up on, encrypted with a key of its own."""
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(
            f"{name}-failures-key",
            description=f"Encrypts the replicator's failed-batch records ({args.source_region} -> {args.receiving_region})",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.all(args.account_id, role.arn).apply(
                lambda a: json.dumps(
                    failure_queue_key_policy(account_id=a[0], region=args.source_region, role_arn=a[1])
                )
            ),
            opts=child,
        )
        queue = aws.sqs.Queue(
            autonamed(SQS_QUEUE, f"{name}-failures"),
            kms_master_key_id=key.arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=1_209_600,
            opts=child,
        )
        return key, queue

    def _conflicts_table(self, name: str, args: StreamReplicatorArgs) -> aws.dynamodb.Table:
        """Where this direction records conflicts: in its source region, beside the replicator (a record never
        waits on another region), hardened like the data tables, records expiring by TTL."""
        return aws.dynamodb.Table(
            f"{name}-conflicts",
            name=conflicts_table_name(args.app, args.stack, args.source_region, args.receiving_region),
            billing_mode="PAY_PER_REQUEST",
            hash_key=KEY,
            range_key=LOSER,
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=KEY, type="S"),
                aws.dynamodb.TableAttributeArgs(name=LOSER, type="S"),
            ],
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=EXPIRES_AT, enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            deletion_protection_enabled=True,
            stream_enabled=True,  # the audit trail (the policy pack asks it of every table): new records only
            stream_view_type="NEW_IMAGE",
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )

    def _function(
        self,
        name: str,
        args: StreamReplicatorArgs,
        function_name: str,
        role: aws.iam.Role,
        log_group: aws.cloudwatch.LogGroup,
        stores: tuple[aws.sqs.Queue, aws.dynamodb.Table],
        policy: aws.iam.RolePolicy,
    ) -> aws.lambda_.Function:
        """The replicator Lambda (the `failover` package), writing into the receiving region's table."""
        queue, conflicts = stores
        environment = pulumi.Output.all(args.receiving_table_name, queue.url, conflicts.name).apply(
            lambda a: replicator_environment(
                app=args.app,
                source_region=args.source_region,
                receiving_region=args.receiving_region,
                receiving_table=a[0],
                workers=args.workers,
                failure_queue_url=a[1],
                conflicts_table=a[2],
                conflict_retention_days=args.conflict_retention_days,
            )
        )
        return aws.lambda_.Function(
            f"{name}-fn",
            name=function_name,
            role=role.arn,
            runtime=RUNTIME,
            handler=HANDLER,
            code=lambda_code_archive(lambda_code_files()),
            # the layer AWS publishes for exactly the pinned aws-lambda-powertools (the batch utilities, Logger)
            layers=[
                aws.ssm.get_parameter_output(
                    name=powertools_layer_parameter(pinned_powertools_version()),
                    opts=pulumi.InvokeOutputOptions(parent=self),
                ).insecure_value
            ],
            timeout=60,
            memory_size=256,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

    def _failure_alarm(
        self, name: str, args: StreamReplicatorArgs, topic_arn: pulumi.Input[str], queue: aws.sqs.Queue
    ) -> None:
        """An alarm as soon as a batch lands in the failure queue: those keys need a resync."""
        aws.cloudwatch.MetricAlarm(
            autonamed(METRIC_ALARM, f"{name}-failures"),
            **failure_queue_alarm(args.source_region, args.receiving_region, queue.name),
            alarm_actions=[topic_arn],
            opts=pulumi.ResourceOptions(parent=self),
        )
