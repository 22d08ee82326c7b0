"""IAM documents as plain functions over ARNs, so tests and the policy linter read exactly what is deployed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from failover.replication import LAG_NAMESPACE as REPLICATION_METRICS_NAMESPACE

LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}

ECS_TASKS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def allow_statement(sid: str, actions: list[str], resources: Iterable[str], condition: dict | None = None) -> dict:
    """One Allow statement, its actions and resources sorted (so a document's text is stable between runs)."""
    statement = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": sorted(set(resources))}
    return {**statement, "Condition": condition} if condition else statement


def orchestrator_policy(
    *,
    control_table_arns: list[str],
    parameter_arns: list[str],
    scale_statements: list[dict],
    topic_arns: list[str],
    topic_key_arns: list[str],
    log_group_arn: str,
) -> dict:
    """Least privilege for the orchestrator: exactly the calls the runtime makes, each on the exact ARNs.

    `scale_statements` come from the sites (`Site.orchestrator_statements`, merged by Sid): what scaling
    each kind of site needs. Only CloudWatch metric reads (no resource-level permissions exist for them) use
    `*`. The KMS actions are what SNS needs from a publisher to an encrypted topic; the logs actions are the
    Lambda runtime's. Every other action is one the runtime calls (a test records them on moto).
    """
    statements = [
        allow_statement(
            "ControlItemFencedWrites",
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            control_table_arns,
        ),
        # GetParameter: the monitor compares each region's value with the control item and repairs it
        allow_statement("ActiveRegionProjection", ["ssm:GetParameter", "ssm:PutParameter"], parameter_arns),
        *scale_statements,
        allow_statement("Notify", ["sns:Publish"], topic_arns),
        allow_statement("EncryptedTopics", ["kms:Decrypt", "kms:GenerateDataKey"], topic_key_arns),
        allow_statement("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [log_group_arn + ":*"]),
        {
            "Sid": "ReplicationLagMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:GetMetricData"],
            "Resource": "*",
        },
    ]
    # A hot standby (or a site the project does not scale) needs no scale permission at all.
    return {"Version": "2012-10-17", "Statement": [s for s in statements if s["Resource"]]}


def ecs_scale_statements(service_arns: list[str]) -> list[dict]:
    """What the orchestrator needs to scale an ECS site up (UpdateService on exactly its services)."""
    return [allow_statement("ScaleTarget", ["ecs:UpdateService"], service_arns)] if service_arns else []


_STATEMENT_KEYS = ("Sid", "Effect", "Action", "Resource")


def merge_statements(statements: list[dict]) -> list[dict]:
    """Statements of several sites as one per Sid (first-seen order), actions and resources united and sorted.

    Keys come out in IAM's usual order (Sid, Effect, Action, Resource, then any other) whatever order they came
    in: statements read back through a StackReference arrive with sorted keys, and the policy text must not
    depend on which stack declared the site."""
    merged: dict[str, dict] = {}
    for s in statements:
        sid = s.get("Sid", "")
        if sid not in merged:
            first = {k: s[k] for k in _STATEMENT_KEYS if k in s}
            merged[sid] = {**first, **{k: v for k, v in s.items() if k not in first}, "Action": [], "Resource": []}
        for key in ("Action", "Resource"):
            values = s[key] if isinstance(s[key], list) else [s[key]]
            merged[sid][key] = sorted(set(merged[sid][key]) | set(values))
    return list(merged.values())


def task_policy(
    *, table_arns: Sequence[str], parameter_arns: Sequence[str], control_table_arns: Sequence[str] = ()
) -> dict:
    """What the application's tasks may do: item access on the data table, read the active region (the
    projection), and read the control item (`failover.client` confirms its write permission there)."""
    table_and_indexes = [*table_arns, *(f"{a}/index/*" for a in table_arns)]
    return {
        "Version": "2012-10-17",
        "Statement": [
            allow_statement(
                "DataTable",
                [
                    "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:ConditionCheckItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:DescribeTable",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:Query",
                    "dynamodb:Scan",
                    "dynamodb:UpdateItem",
                ],
                table_and_indexes,
            ),
            allow_statement("ActiveRegion", ["ssm:GetParameter"], parameter_arns),
            *(
                [allow_statement("ConfirmActiveRegion", ["dynamodb:GetItem"], list(control_table_arns))]
                if control_table_arns
                else []
            ),
        ],
    }


def secrets_read_policy(secret_arns: list[str]) -> dict:
    """The task execution role may read exactly the application's own secrets."""
    return {
        "Version": "2012-10-17",
        "Statement": [allow_statement("AppSecrets", ["secretsmanager:GetSecretValue"], secret_arns)],
    }


def topic_key_policy(*, account_id: str, region: str, alarm_name_pattern: str | None = None) -> dict:
    """Key policy for an SNS topic's CMK.

    The account administers the key through IAM; publishers with an IAM role (the orchestrator) need
    nothing here. Only when CloudWatch alarms publish to the topic (`alarm_name_pattern`, `*` allowed)
    does the CloudWatch service principal get the two actions SNS needs from a publisher, and only on
    behalf of this account's alarms of that name in this region (`aws:SourceAccount`/`aws:SourceArn`:
    no other account's alarm can use the key through CloudWatch).
    """
    statements: list[dict] = [
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if alarm_name_pattern:
        statements.append(
            {
                "Sid": "AlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{alarm_name_pattern}"
                    },
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def replicator_policy(
    *,
    source_table_arn: str,
    receiving_table_arn: str,
    failure_queue_arn: str,
    failure_key_arn: str,
    log_group_arn: str,
    conflicts_table_arn: str,
) -> dict:
    """Least privilege for one direction of the streams replicator.

    Read the source table's stream (any label: re-enabling a stream changes its ARN); put items (always conditionally)
    into the receiving table, and conflict records (only PutItem) into its own conflicts table; publish the
    lag, in its namespace only; send failed-batch records to the encrypted queue, using its key only through
    SQS. ListStreams and PutMetricData have no resource-level permissions, hence `*` for those two.
    """
    queue_region = failure_queue_arn.split(":")[3]
    return {
        "Version": "2012-10-17",
        "Statement": [
            allow_statement(
                "ReadSourceStream",
                ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
                [f"{source_table_arn}/stream/*"],
            ),
            {"Sid": "ListSourceStreams", "Effect": "Allow", "Action": ["dynamodb:ListStreams"], "Resource": "*"},
            allow_statement("ConditionalWritesToReceivingTable", ["dynamodb:PutItem"], [receiving_table_arn]),
            allow_statement("RecordConflicts", ["dynamodb:PutItem"], [conflicts_table_arn]),
            {
                "Sid": "PublishReplicationLag",
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricData"],
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": REPLICATION_METRICS_NAMESPACE}},
            },
            allow_statement("RecordFailedBatches", ["sqs:SendMessage"], [failure_queue_arn]),
            {
                **allow_statement("EncryptFailureRecords", ["kms:Decrypt", "kms:GenerateDataKey"], [failure_key_arn]),
                "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{queue_region}.amazonaws.com"}},
            },
            allow_statement("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [log_group_arn + ":*"]),
        ],
    }


def failure_queue_key_policy(*, account_id: str, region: str, role_arn: str) -> dict:
    """Key policy for the replicator's failure queue: the account administers the key; the replicator's role
    may use it only through SQS in this region. No AWS service principal is granted anything."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "ReplicatorRecordsFailuresThroughSqs",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com", "kms:CallerAccount": account_id}
                },
            },
        ],
    }


def table_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account_id}:table/{name}"


def parameter_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account_id}:parameter/{name.lstrip('/')}"


ROLES_ANYWHERE_SERVICE = "rolesanywhere.amazonaws.com"


def roles_anywhere_trust_policy(*, trust_anchor_arn: str, common_names: list[str]) -> dict:
    """Who may assume a workload role through IAM Roles Anywhere: only certificates chaining to this one
    trust anchor, and only those whose subject CN is one of `common_names` (one per site or server)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WorkloadCertificates",
                "Effect": "Allow",
                "Principal": {"Service": ROLES_ANYWHERE_SERVICE},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": trust_anchor_arn},
                    "StringEquals": {"aws:PrincipalTag/x509Subject/CN": sorted(common_names)},
                },
            }
        ],
    }


def scaler_credentials_statements(secret_arns: list[str]) -> list[dict]:
    """What an orchestrator needs to scale a Kubernetes site: read that site's scaler token + CA, in
    whichever region holds a copy (the secret's own region and its replicas). Nothing else."""
    return [allow_statement("KubernetesScalerCredentials", ["secretsmanager:GetSecretValue"], secret_arns)]


SCHEDULER_SERVICE = "scheduler.amazonaws.com"


def service_trust_policy(service: str, *, account_id: str) -> dict:
    """An AWS service may assume the role, on behalf of this account's resources only (`aws:SourceAccount`)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def scheduler_trust_policy(*, account_id: str) -> dict:
    """EventBridge Scheduler, on behalf of this account's schedules only."""
    return service_trust_policy(SCHEDULER_SERVICE, account_id=account_id)


def notice_publisher_policy(*, topic_arn: str, key_arn: str) -> dict:
    """Publish to one KMS-encrypted notice topic: SNS needs the publisher's GenerateDataKey and Decrypt on the
    topic's key. Nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            allow_statement("PublishNotices", ["sns:Publish"], [topic_arn]),
            allow_statement("EncryptNotices", ["kms:Decrypt", "kms:GenerateDataKey"], [key_arn]),
        ],
    }
