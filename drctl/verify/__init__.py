"""`drctl verify`: is a live deployment ready for a failover? Read-only checks of what exists against
what the stack declares.

What the stack declares comes from the offline preview of the same stack file (names, regions and
the links between resources, through their recorded dependencies); what exists comes from AWS with
the caller's credentials (boto3's default chain; `AWS_ENDPOINT_URL` is honoured by boto3 itself).
Every call has a short deadline, each region is checked by its own worker, and a region that does not
answer once is not called again, so a hung region costs about one deadline instead of one per call.

The rooms: `declared` (what the stack declares), `calls` (deadlines and the per-region fence), `facts` (one
worker per region), a module per area of checks (`tables`, `control`, `orchestrators`, `topics`, `health`),
`runner` (the order of it all) and `report` (rows, JSON, exit code, text).
"""

from drctl.verify.calls import (
    CONNECT_TIMEOUT_SECONDS,
    DEFAULT_READ_TIMEOUT_SECONDS,
    GLOBAL,
    TOTAL_MAX_ATTEMPTS,
    ClientFactory,
    ControlItemMalformed,
    Outcome,
    RegionFence,
    VerifyUsageError,
    client_config,
    session_clients,
)
from drctl.verify.control import control_state_problems, read_control_item
from drctl.verify.declared import (
    ALARM,
    EVENT_RULE,
    EVENT_TARGET,
    FUNCTION,
    HEALTH_CHECK,
    PARAMETER,
    SUBSCRIPTION,
    TABLE,
    TOPIC,
    Declared,
    DeclaredAlarm,
    DeclaredFunction,
    DeclaredHealthCheck,
    DeclaredReplica,
    DeclaredSchedule,
    DeclaredSubscription,
    DeclaredTable,
    DeclaredTopic,
    declared_from_document,
)
from drctl.verify.facts import RegionFacts
from drctl.verify.health import HEALTHY_CHECKER_SHARE
from drctl.verify.report import Check, VerifyReport, exit_code, render_report
from drctl.verify.runner import check_credentials, check_identity, run_verify, verify_declared
from drctl.verify.topics import resolve_topic

__all__ = [
    "ALARM",
    "CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_READ_TIMEOUT_SECONDS",
    "EVENT_RULE",
    "EVENT_TARGET",
    "FUNCTION",
    "GLOBAL",
    "HEALTHY_CHECKER_SHARE",
    "HEALTH_CHECK",
    "PARAMETER",
    "SUBSCRIPTION",
    "TABLE",
    "TOPIC",
    "TOTAL_MAX_ATTEMPTS",
    "Check",
    "ClientFactory",
    "ControlItemMalformed",
    "Declared",
    "DeclaredAlarm",
    "DeclaredFunction",
    "DeclaredHealthCheck",
    "DeclaredReplica",
    "DeclaredSchedule",
    "DeclaredSubscription",
    "DeclaredTable",
    "DeclaredTopic",
    "Outcome",
    "RegionFacts",
    "RegionFence",
    "VerifyReport",
    "VerifyUsageError",
    "check_credentials",
    "check_identity",
    "client_config",
    "control_state_problems",
    "declared_from_document",
    "exit_code",
    "read_control_item",
    "render_report",
    "resolve_topic",
    "run_verify",
    "session_clients",
    "verify_declared",
]
