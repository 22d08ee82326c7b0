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
    data_table_arns: list[str],
    parameter_arns: list[str],
    scale_statements: list[dict],
    topic_arns: list[str],
    topic_key_arns: list[str],
    log_group_arn: str,
) -> dict:
    """Least privilege for the orchestrator: every write action names the exact ARNs it touches.

    `scale_statements` come from the sites (`Site.orchestrator_statements`, merged by Sid): what scaling
    each kind of site needs. Only CloudWatch metric reads (no resource-level permissions exist) use `*`.
    """
    statements = [
        _stmt(
            "ControlItemFencedWrites",
            ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            control_table_arns,
        ),
        _stmt("ReplicationLagRead", ["dynamodb:DescribeTable"], data_table_arns),
        _stmt("ActiveRegionProjection", ["ssm:GetParameter", "ssm:PutParameter"], parameter_arns),
        *scale_statements,
        _stmt("Notify", ["sns:Publish"], topic_arns),
        _stmt("EncryptedTopics", ["kms:Decrypt", "kms:GenerateDataKey"], topic_key_arns),
        _stmt("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [log_group_arn + ":*"]),
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
    return [_stmt("ScaleTarget", ["ecs:DescribeServices", "ecs:UpdateService"], service_arns)] if service_arns else []


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


def topic_key_policy(*, account_id: str) -> dict:
    """Key policy for an SNS topic's CMK: CloudWatch alarms and EventBridge must be able to publish."""
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
                "Sid": "AlarmsAndEventsPublish",
                "Effect": "Allow",
                "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
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
    return [_stmt("KubernetesScalerCredentials", ["secretsmanager:GetSecretValue"], secret_arns)]
