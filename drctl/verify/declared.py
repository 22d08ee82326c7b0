"""What the stack declares: names, regions and the links between resources, read from the offline preview of the
same stack file (`drctl preview --json`), through the resources' recorded dependencies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drctl.verify.calls import VerifyUsageError

TABLE = "aws:dynamodb/table:Table"
PARAMETER = "aws:ssm/parameter:Parameter"
FUNCTION = "aws:lambda/function:Function"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@dataclass(frozen=True)
class DeclaredReplica:
    region: str
    point_in_time_recovery: bool
    deletion_protection: bool


@dataclass(frozen=True)
class DeclaredTable:
    name: str
    replicas: tuple[DeclaredReplica, ...]
    """The table's own region first, then every replica region."""
    strong: bool
    kms: bool

    @property
    def primary(self) -> str:
        return self.replicas[0].region


@dataclass(frozen=True)
class DeclaredTopic:
    urn: str
    logical_name: str
    region: str
    physical_name: str | None
    """Set only when the program names the topic; otherwise Pulumi auto-names it `<logical>-<7 hex>`."""
    kms: bool


@dataclass(frozen=True)
class DeclaredFunction:
    urn: str
    name: str
    region: str
    environment: Mapping[str, str]


@dataclass(frozen=True)
class DeclaredSchedule:
    function_urn: str
    expression: str
    input: str | None


@dataclass(frozen=True)
class DeclaredSubscription:
    function_urn: str
    topic_urn: str


@dataclass(frozen=True)
class DeclaredHealthCheck:
    urn: str
    label: str
    """The `Name` tag when there is one, else the fqdn."""
    tag_name: str | None
    config: Mapping[str, Any]
    """Route 53 HealthCheckConfig fields the stack sets (Type, FullyQualifiedDomainName, ...)."""


@dataclass(frozen=True)
class DeclaredAlarm:
    name: str
    region: str
    topic_urns: tuple[str, ...]
    health_check_urn: str | None
    has_ok_actions: bool
    has_actions: bool = True
    """False for an alarm declared without actions (a drill template's guard: FIS reads its state)."""


@dataclass(frozen=True)
class Declared:
    stack: str
    regions: tuple[str, ...]
    runtime_environment: Mapping[str, str]
    """DR_* variables of the orchestrators, as `failover.settings` reads them."""
    tables: tuple[DeclaredTable, ...]
    parameter_name: str
    parameter_regions: tuple[str, ...]
    functions: tuple[DeclaredFunction, ...]
    schedules: tuple[DeclaredSchedule, ...]
    subscriptions: tuple[DeclaredSubscription, ...]
    topics: tuple[DeclaredTopic, ...]
    health_checks: tuple[DeclaredHealthCheck, ...]
    alarms: tuple[DeclaredAlarm, ...]

    @property
    def control_table(self) -> DeclaredTable | None:
        return next((t for t in self.tables if t.name == self.runtime_environment.get("DR_CONTROL_TABLE")), None)


_HEALTH_CHECK_FIELDS = {
    "type": "Type",
    "fqdn": "FullyQualifiedDomainName",
    "ipAddress": "IPAddress",
    "port": "Port",
    "resourcePath": "ResourcePath",
    "requestInterval": "RequestInterval",
    "failureThreshold": "FailureThreshold",
}


def declared_from_document(doc: Mapping[str, Any]) -> Declared:
    """Names, regions and links of the resources verify checks, from a preview document (`drctl preview --json`)."""
    resources = doc.get("resources", [])
    by_urn = {r["urn"]: r for r in resources}

    def of_type(token: str) -> list[dict]:
        return [r for r in resources if r["type"] == token]

    def linked(res: dict, token: str) -> list[str]:
        return [u for u in res["options"].get("dependsOn", []) if by_urn.get(u, {}).get("type") == token]

    functions = tuple(
        DeclaredFunction(
            r["urn"], r["inputs"]["name"], r["region"], dict(r["inputs"].get("environment", {}).get("variables", {}))
        )
        for r in of_type(FUNCTION)
    )
    runtime_env = next((f.environment for f in functions if "DR_CONTROL_TABLE" in f.environment), None)
    if runtime_env is None:
        raise VerifyUsageError(f"stack {doc.get('stack')}: declares no failover orchestrator, nothing to verify")
    parameter_name = runtime_env.get("DR_ACTIVE_REGION_PARAMETER", "")
    schedules = []
    for target in of_type(EVENT_TARGET):
        fns, rules = linked(target, FUNCTION), linked(target, EVENT_RULE)
        expression = by_urn[rules[0]]["inputs"].get("scheduleExpression") if rules else None
        if fns and expression:
            schedules.append(DeclaredSchedule(fns[0], expression, target["inputs"].get("input")))
    subscriptions = []
    for sub in of_type(SUBSCRIPTION):
        fns, topics = linked(sub, FUNCTION), linked(sub, TOPIC)
        if sub["inputs"].get("protocol") == "lambda" and fns and topics:
            subscriptions.append(DeclaredSubscription(fns[0], topics[0]))
    return Declared(
        stack=doc.get("stack", ""),
        regions=tuple(r for r in runtime_env.get("DR_REGIONS", "").split(",") if r),
        runtime_environment=runtime_env,
        tables=tuple(_declared_table(r) for r in of_type(TABLE)),
        parameter_name=parameter_name,
        parameter_regions=tuple(r["region"] for r in of_type(PARAMETER) if r["inputs"].get("name") == parameter_name),
        functions=functions,
        schedules=tuple(schedules),
        subscriptions=tuple(subscriptions),
        topics=tuple(
            DeclaredTopic(
                r["urn"], r["name"], r["region"], r["inputs"].get("name"), bool(r["inputs"].get("kmsMasterKeyId"))
            )
            for r in of_type(TOPIC)
        ),
        health_checks=tuple(_declared_health_check(r) for r in of_type(HEALTH_CHECK)),
        alarms=tuple(
            DeclaredAlarm(
                r["inputs"]["name"],
                r["region"],
                tuple(linked(r, TOPIC)),
                next(iter(linked(r, HEALTH_CHECK)), None),
                bool(r["inputs"].get("okActions")),
                bool(r["inputs"].get("alarmActions")),
            )
            for r in of_type(ALARM)
        ),
    )


def _declared_table(res: dict) -> DeclaredTable:
    inputs = res["inputs"]
    own = DeclaredReplica(
        res["region"],
        bool((inputs.get("pointInTimeRecovery") or {}).get("enabled")),
        bool(inputs.get("deletionProtectionEnabled")),
    )
    replicas = [
        DeclaredReplica(r["regionName"], bool(r.get("pointInTimeRecovery")), bool(r.get("deletionProtectionEnabled")))
        for r in inputs.get("replicas", [])
    ]
    return DeclaredTable(
        name=inputs["name"],
        replicas=(own, *replicas),
        strong=any(r.get("consistencyMode") == "STRONG" for r in inputs.get("replicas", [])),
        kms=bool((inputs.get("serverSideEncryption") or {}).get("enabled")),
    )


def _declared_health_check(res: dict) -> DeclaredHealthCheck:
    inputs = res["inputs"]
    config = {aws_key: inputs[key] for key, aws_key in _HEALTH_CHECK_FIELDS.items() if key in inputs}
    tag_name = (inputs.get("tags") or {}).get("Name")
    return DeclaredHealthCheck(res["urn"], tag_name or inputs.get("fqdn") or res["name"], tag_name, config)
