"""IAM documents as plain functions over ARNs, so tests and the policy linter read exactly what is deployed."""

from __future__ import annotations

from typing import Iterable

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


def _stmt(sid: str, actions: list[str], resources: Iterable[str]) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": sorted(set(resources))}


def orchestrator_policy(
    *,
    control_table_arns: list[str],
    parameter_arns: list[str],
    service_arns: list[str],
    topic_arns: list[str],
    topic_key_arns: list[str],
    log_group_arn: str,
) -> dict:
    """Least privilege for the orchestrator: exactly the calls the runtime makes, each on the exact ARNs.

    Only CloudWatch metric reads (no resource-level permissions exist for them) use `*`. The KMS actions
    are what SNS needs from a publisher to an encrypted topic; the logs actions are the Lambda runtime's.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            _stmt(
                "ControlItemFencedWrites",
                ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                control_table_arns,
            ),
            _stmt("ActiveRegionProjection", ["ssm:PutParameter"], parameter_arns),
            _stmt("ScaleTarget", ["ecs:UpdateService"], service_arns),
            _stmt("Notify", ["sns:Publish"], topic_arns),
            _stmt("EncryptedTopics", ["kms:Decrypt", "kms:GenerateDataKey"], topic_key_arns),
            _stmt("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [log_group_arn + ":*"]),
            {
                "Sid": "ReplicationLagMetrics",
                "Effect": "Allow",
                "Action": ["cloudwatch:GetMetricData"],
                "Resource": "*",
            },
        ],
    }


def task_policy(*, table_arns: list[str], parameter_arns: list[str]) -> dict:
    """What the application's tasks may do: item access on the data table, read the active region."""
    table_and_indexes = [*table_arns, *(f"{a}/index/*" for a in table_arns)]
    return {
        "Version": "2012-10-17",
        "Statement": [
            _stmt(
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
            _stmt("ActiveRegion", ["ssm:GetParameter"], parameter_arns),
        ],
    }


def secrets_read_policy(secret_arns: list[str]) -> dict:
    """The task execution role may read exactly the application's own secrets."""
    return {"Version": "2012-10-17", "Statement": [_stmt("AppSecrets", ["secretsmanager:GetSecretValue"], secret_arns)]}


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
                "Sid": "HealthAlarmsPublish",
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


def table_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:dynamodb:{region}:{account_id}:table/{name}"


def parameter_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account_id}:parameter/{name.lstrip('/')}"
