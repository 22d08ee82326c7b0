"""`drctl verify`: is a live deployment ready for a failover? Read-only checks of what exists against
what the stack declares.

What the stack declares comes from the offline preview of the same stack file (names, regions and
the links between resources, through their recorded dependencies); what exists comes from AWS with
the caller's credentials (boto3's default chain; `AWS_ENDPOINT_URL` is honoured by boto3 itself).
Every call has a short deadline, each region is checked by its own worker, and a region that does not
answer once is not called again, so a hung region costs about one deadline instead of one per call.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

CONNECT_TIMEOUT_SECONDS = 2.0
DEFAULT_READ_TIMEOUT_SECONDS = 3.0
TOTAL_MAX_ATTEMPTS = 2
"""botocore counts the first attempt too: 2 means at most one retry."""
GLOBAL = "global"
"""Where Route 53 health checks live (no region)."""
HEALTHY_CHECKER_SHARE = 0.18
"""Route 53 considers an endpoint healthy when more than 18% of its checkers report it healthy."""

TABLE = "aws:dynamodb/table:Table"
PARAMETER = "aws:ssm/parameter:Parameter"
FUNCTION = "aws:lambda/function:Function"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"

_NO_ANSWER = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
_NOT_FOUND = {"ResourceNotFoundException", "TableNotFoundException", "ParameterNotFound", "NotFound",
              "NotFoundException", "NoSuchHealthCheck", "ResourceNotFound"}
_SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+")


class VerifyUsageError(Exception):
    """Credentials missing or rejected, AWS unreachable, or a stack verify cannot read; one line, exit 2."""


class ControlItemMalformed(Exception):
    """The control item exists but the runtime cannot use it."""


@dataclass(frozen=True)
class Check:
    what: str
    where: str
    ok: bool
    detail: str


@dataclass
class VerifyReport:
    stack: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict:
        return {"stack": self.stack, "ok": self.ok, "checks": [asdict(c) for c in self.checks]}


# ---------------------------------------------------------------------------------------------------
# What the stack declares


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
    physical_name: Optional[str]
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
    input: Optional[str]


@dataclass(frozen=True)
class DeclaredSubscription:
    function_urn: str
    topic_urn: str


@dataclass(frozen=True)
class DeclaredHealthCheck:
    urn: str
    label: str
    """The `Name` tag when there is one, else the fqdn."""
    tag_name: Optional[str]
    config: Mapping[str, Any]
    """Route 53 HealthCheckConfig fields the stack sets (Type, FullyQualifiedDomainName, ...)."""


@dataclass(frozen=True)
class DeclaredAlarm:
    name: str
    region: str
    topic_urns: tuple[str, ...]
    health_check_urn: Optional[str]
    has_ok_actions: bool


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
    def control_table(self) -> Optional[DeclaredTable]:
        return next((t for t in self.tables if t.name == self.runtime_environment.get("DR_CONTROL_TABLE")), None)


_HEALTH_CHECK_FIELDS = {"type": "Type", "fqdn": "FullyQualifiedDomainName", "ipAddress": "IPAddress", "port": "Port",
                        "resourcePath": "ResourcePath", "requestInterval": "RequestInterval",
                        "failureThreshold": "FailureThreshold"}


def declared_from_document(doc: Mapping[str, Any]) -> Declared:
    """Names, regions and links of the resources verify checks, from a preview document (`drctl preview --json`)."""
    resources = doc.get("resources", [])
    by_urn = {r["urn"]: r for r in resources}

    def of_type(token: str) -> list[dict]:
        return [r for r in resources if r["type"] == token]

    def linked(res: dict, token: str) -> list[str]:
        return [u for u in res["options"].get("dependsOn", []) if by_urn.get(u, {}).get("type") == token]

    functions = tuple(DeclaredFunction(r["urn"], r["inputs"]["name"], r["region"],
                                       dict(r["inputs"].get("environment", {}).get("variables", {})))
                      for r in of_type(FUNCTION))
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
        topics=tuple(DeclaredTopic(r["urn"], r["name"], r["region"], r["inputs"].get("name"),
                                   bool(r["inputs"].get("kmsMasterKeyId"))) for r in of_type(TOPIC)),
        health_checks=tuple(_declared_health_check(r) for r in of_type(HEALTH_CHECK)),
        alarms=tuple(DeclaredAlarm(r["inputs"]["name"], r["region"], tuple(linked(r, TOPIC)),
                                   next(iter(linked(r, HEALTH_CHECK)), None), bool(r["inputs"].get("okActions")))
                     for r in of_type(ALARM)),
    )


def _declared_table(res: dict) -> DeclaredTable:
    inputs = res["inputs"]
    own = DeclaredReplica(res["region"], bool((inputs.get("pointInTimeRecovery") or {}).get("enabled")),
                          bool(inputs.get("deletionProtectionEnabled")))
    replicas = [DeclaredReplica(r["regionName"], bool(r.get("pointInTimeRecovery")),
                                bool(r.get("deletionProtectionEnabled"))) for r in inputs.get("replicas", [])]
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


# ---------------------------------------------------------------------------------------------------
# The control item, read by the runtime's own code


def read_control_item(runtime_environment: Mapping[str, str], region: str, dynamodb_client) -> Any:
    """The control item in `region`'s replica, parsed by `failover.store.ControlStore.read` into a
    `failover.decisions.ControlState`. The one place that knows the runtime's API, so verify follows
    any change to the item's format; raises ControlItemMalformed when the runtime cannot parse it."""
    from failover.settings import SettingsError, load_settings
    from failover.store import BadControlState, ControlStore

    try:
        settings = load_settings({**runtime_environment, "DR_HOME_REGION": region})
    except SettingsError as exc:
        raise VerifyUsageError(f"the orchestrator environment the stack declares is not usable: {exc}") from None
    try:
        state = ControlStore(settings, dynamodb_client).read()
    except BadControlState as exc:
        raise ControlItemMalformed(str(exc)) from None
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise ControlItemMalformed(f"{type(exc).__name__}: {exc}") from None
    problems = control_state_problems(state, settings.regions)
    if problems:
        raise ControlItemMalformed("; ".join(problems))
    return state


def control_state_problems(state: Any, regions: Iterable[str]) -> list[str]:
    """What makes a parsed control state unusable by the runtime (empty when it is fine)."""
    regions = tuple(regions)
    problems = []
    if state.active_region not in regions:
        problems.append(f"activeRegion {state.active_region!r} is not one of {', '.join(regions)}")
    if state.epoch < 0:
        problems.append(f"epoch {state.epoch} is negative")
    if state.previous_region is not None and state.previous_region not in regions:
        problems.append(f"previousRegion {state.previous_region!r} is not one of {', '.join(regions)}")
    return problems


# ---------------------------------------------------------------------------------------------------
# Calls with deadlines, one fence per region


def client_config(read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS) -> Config:
    """The deadline of every call: short timeouts and at most one retry."""
    return Config(connect_timeout=min(CONNECT_TIMEOUT_SECONDS, read_timeout), read_timeout=read_timeout,
                  retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS})


ClientFactory = Callable[[str, str], Any]
"""(service, region) -> boto3 client."""


def session_clients(session, read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS) -> ClientFactory:
    """Clients from one boto3 session, created once per (service, region); sessions are not thread-safe."""
    config, cache, lock = client_config(read_timeout), {}, threading.Lock()

    def client(service: str, region: str):
        with lock:
            if (service, region) not in cache:
                cache[service, region] = session.client(service, region_name=region, config=config)
            return cache[service, region]

    return client


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: Optional[str] = None
    missing: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class RegionFence:
    """Every call into one region goes through here: after a call gets no answer, the region's other
    calls are not made (reported as not checked)."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.silent: Optional[str] = None

    def call(self, fn: Callable, *args, **kwargs) -> Outcome:
        if self.silent:
            return Outcome(error=f"not checked: {self.silent}")
        try:
            return Outcome(value=fn(*args, **kwargs))
        except _NO_ANSWER as exc:
            self.silent = f"{self.region} did not answer ({type(exc).__name__})"
            return Outcome(error=f"no answer from {self.region}: {exc}")
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = err.get("Code", "")
            return Outcome(error=f"{code}: {err.get('Message', '')}".rstrip(": "), missing=code in _NOT_FOUND)
        except ControlItemMalformed as exc:
            return Outcome(error=f"malformed: {exc}")


# ---------------------------------------------------------------------------------------------------
# Collecting what exists: one worker per region, then the calls that need another region's answers


@dataclass
class RegionFacts:
    tables: dict[str, Outcome] = field(default_factory=dict)
    backups: dict[str, Outcome] = field(default_factory=dict)
    parameter: Optional[Outcome] = None
    control: Optional[Outcome] = None
    functions: dict[str, Outcome] = field(default_factory=dict)
    """function urn -> GetFunctionConfiguration"""
    policies: dict[str, Outcome] = field(default_factory=dict)
    """function urn -> the function's resource policy (statements)"""
    schedules: dict[str, Outcome] = field(default_factory=dict)
    """function urn -> [(DescribeRule, targets)] of the rules that target it"""
    alarms: Optional[Outcome] = None
    """alarm name -> DescribeAlarms entry"""
    topic_names: Optional[Outcome] = None
    """every topic ARN in the region"""


def _collect_region(region: str, declared: Declared, client: ClientFactory, fence: RegionFence) -> RegionFacts:
    facts = RegionFacts()
    ddb = client("dynamodb", region)
    for table in declared.tables:
        if region in {r.region for r in table.replicas}:
            facts.tables[table.name] = fence.call(lambda t=table.name: ddb.describe_table(TableName=t)["Table"])
            facts.backups[table.name] = fence.call(
                lambda t=table.name: ddb.describe_continuous_backups(TableName=t)["ContinuousBackupsDescription"])
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
        facts.alarms = fence.call(lambda: {a["AlarmName"]: a for a in cloudwatch.describe_alarms(
            AlarmNames=alarm_names, AlarmTypes=["MetricAlarm"])["MetricAlarms"]})
    if any(t.region == region for t in declared.topics):
        sns = client("sns", region)
        facts.topic_names = fence.call(
            lambda: [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]])
    return facts


def _collect_function(fn: DeclaredFunction, client: ClientFactory, fence: RegionFence, facts: RegionFacts) -> None:
    lam, events = client("lambda", fn.region), client("events", fn.region)
    config = facts.functions[fn.urn] = fence.call(lambda: lam.get_function_configuration(FunctionName=fn.name))
    if not config.ok:
        return
    policy = fence.call(lambda: json.loads(lam.get_policy(FunctionName=fn.name)["Policy"]))
    facts.policies[fn.urn] = Outcome(value={"Statement": []}) if policy.missing else policy
    arn = config.value["FunctionArn"]

    def rules_targeting() -> list[tuple[dict, list[dict]]]:
        names = [n for page in events.get_paginator("list_rule_names_by_target").paginate(TargetArn=arn)
                 for n in page["RuleNames"]]
        return [(events.describe_rule(Name=n), events.list_targets_by_rule(Rule=n)["Targets"]) for n in names]

    facts.schedules[fn.urn] = fence.call(rules_targeting)


def _collect_health_checks(declared: Declared, client: ClientFactory, fence: RegionFence) -> dict[str, Outcome]:
    """Declared health check urn -> (HealthCheck, status observations), found by `Name` tag or by config."""
    route53 = client("route53", "us-east-1")
    listed = fence.call(lambda: [h for page in route53.get_paginator("list_health_checks").paginate()
                                 for h in page["HealthChecks"]])
    if not listed.ok:
        return {hc.urn: listed for hc in declared.health_checks}

    def names() -> dict[str, str]:
        ids, out = [h["Id"] for h in listed.value], {}
        for start in range(0, len(ids), 10):
            sets = route53.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=ids[start:start + 10])
            for tag_set in sets["ResourceTagSets"]:
                out.update({tag_set["ResourceId"]: t["Value"] for t in tag_set["Tags"] if t["Key"] == "Name"})
        return out

    tags = fence.call(names) if any(hc.tag_name for hc in declared.health_checks) else Outcome(value={})
    result = {}
    for hc in declared.health_checks:
        if not tags.ok:
            result[hc.urn] = tags
            continue
        found = _match_health_check(hc, listed.value, tags.value)
        if found is None:
            result[hc.urn] = Outcome(error=f"no Route 53 health check {_health_check_key(hc)}", missing=True)
            continue
        status = fence.call(lambda i=found["Id"]: route53.get_health_check_status(
            HealthCheckId=i)["HealthCheckObservations"])
        result[hc.urn] = Outcome(value=(found, status))
    return result


def _health_check_key(hc: DeclaredHealthCheck) -> str:
    return f"tagged Name={hc.tag_name}" if hc.tag_name else f"for {hc.label}"


def _match_health_check(hc: DeclaredHealthCheck, listed: list[dict], names: Mapping[str, str]) -> Optional[dict]:
    if hc.tag_name:
        return next((h for h in listed if names.get(h["Id"]) == hc.tag_name), None)
    keys = ("Type", "FullyQualifiedDomainName", "IPAddress", "Port", "ResourcePath")
    return next((h for h in listed if all(h["HealthCheckConfig"].get(k) == hc.config.get(k)
                                          for k in keys if k in hc.config)), None)


# ---------------------------------------------------------------------------------------------------
# Topics: Pulumi auto-names them, so find the declared topic among the region's topics


def resolve_topic(topic: DeclaredTopic, region_topics: Outcome, referenced: set[str]) -> Outcome:
    """The deployed ARN of a declared topic: its explicit name, or Pulumi's `<logical>-<7 hex>` auto-name;
    when several topics match (another stack with the same names in this account), the one this stack's
    alarms or orchestrators refer to."""
    if not region_topics.ok:
        return region_topics
    pattern = re.compile(re.escape(topic.physical_name) + "$" if topic.physical_name
                         else re.escape(topic.logical_name) + "-[0-9a-f]{7}$")
    candidates = sorted(a for a in region_topics.value if pattern.match(a.rsplit(":", 1)[-1]))
    chosen = [a for a in candidates if a in referenced] or candidates
    if not chosen:
        shown = topic.physical_name or f"{topic.logical_name}-<7 hex> (Pulumi's auto-name)"
        return Outcome(error=f"no topic named {shown} in {topic.region}", missing=True)
    if len(chosen) > 1:
        return Outcome(error=f"{len(chosen)} topics match and none is used by this stack: {', '.join(chosen)}")
    return Outcome(value=chosen[0])


def _referenced_topics(facts: Mapping[str, RegionFacts]) -> set[str]:
    """Every SNS topic ARN the deployed alarms act on or the deployed orchestrators are configured with."""
    found: set[str] = set()
    for f in facts.values():
        if f.alarms and f.alarms.ok:
            for alarm in f.alarms.value.values():
                found.update(alarm.get("AlarmActions", []) + alarm.get("OKActions", []))
        for config in f.functions.values():
            if config.ok:
                env = config.value.get("Environment", {}).get("Variables", {})
                found.update(m for v in env.values() for m in _SNS_ARN.findall(v))
    return found


def _collect_topics(region: str, declared: Declared, resolved: Mapping[str, Outcome], client: ClientFactory,
                    fence: RegionFence) -> tuple[dict[str, Outcome], dict[str, Outcome]]:
    """Attributes and subscriptions of the declared topics in `region` (needs the resolved ARNs)."""
    sns = client("sns", region)
    attributes, subscriptions = {}, {}
    for topic in (t for t in declared.topics if t.region == region):
        arn = resolved[topic.urn]
        if not arn.ok:
            continue
        attributes[topic.urn] = fence.call(lambda a=arn.value: sns.get_topic_attributes(TopicArn=a)["Attributes"])
        if any(s.topic_urn == topic.urn for s in declared.subscriptions):
            subscriptions[topic.urn] = fence.call(lambda a=arn.value: [
                s for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=a)
                for s in page["Subscriptions"]])
    return attributes, subscriptions


# ---------------------------------------------------------------------------------------------------
# Turning facts into checks


def _table_checks(table: DeclaredTable, facts: Mapping[str, RegionFacts]) -> list[Check]:
    checks = []
    primary = facts[table.primary].tables.get(table.name)
    for replica in table.replicas:
        region = replica.region
        described = facts[region].tables[table.name]
        what = f"table {table.name}"
        if not described.ok:
            checks.append(Check(what, region, False, "missing" if described.missing else described.error))
            continue
        desc = described.value
        checks.append(Check(what, region, *_replica_status(table, region, desc, primary)))
        checks.append(Check(f"{what}: point-in-time recovery", region,
                            *_pitr_status(replica, facts[region].backups[table.name])))
        checks.append(Check(f"{what}: deletion protection", region, *_protection_status(table, replica, desc)))
        checks.append(Check(f"{what}: encryption", region, *_encryption_status(table, desc)))
    return checks


def _replica_status(table: DeclaredTable, region: str, desc: dict, primary: Optional[Outcome]) -> tuple[bool, str]:
    if desc.get("TableStatus") != "ACTIVE":
        return False, f"table status {desc.get('TableStatus')}"
    if len(table.replicas) == 1:
        return True, "ACTIVE"
    # The primary's replica listing is the reference; when the primary does not answer (the outage this is
    # for), each region's own DescribeTable lists the global table's replicas too.
    lister, listing, note = table.primary, primary.value if primary is not None and primary.ok else None, ""
    if listing is None:
        lister, listing, note = region, desc, f" (listed by {region}: {table.primary} did not answer)"
    # moto 5.2.5 does not implement global tables version 2019.11.21: its DescribeTable never has
    # `Replicas`, so against moto every table is reported as not global. Real DynamoDB lists the replicas.
    listed = {r.get("RegionName"): r for r in listing.get("Replicas", [])}
    if not listed:
        return False, f"{lister} lists no replicas: not a global table (version 2019.11.21)"
    if region != lister:
        replica = listed.get(region, {})
        status = replica.get("ReplicaStatus")
        if status != "ACTIVE":
            why = f" ({replica['ReplicaStatusDescription']})" if replica.get("ReplicaStatusDescription") else ""
            return False, f"replica status in {lister}: {status or 'not a replica'}{why}"
    mode, declared_mode = listing.get("MultiRegionConsistency"), "STRONG" if table.strong else "EVENTUAL"
    if mode and mode != declared_mode:
        return False, f"multi-region consistency {mode}, the stack declares {declared_mode}"
    return True, "ACTIVE" + (f", {mode.lower()} consistency" if mode else "") + note


def _pitr_status(replica: DeclaredReplica, backups: Outcome) -> tuple[bool, str]:
    if not backups.ok:
        return False, backups.error
    status = backups.value.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus", "DISABLED")
    if replica.point_in_time_recovery and status != "ENABLED":
        return False, (f"{status}; fix: aws dynamodb update-continuous-backups --region {replica.region} --table-name "
                       "<table> --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true")
    return True, status


def _protection_status(table: DeclaredTable, replica: DeclaredReplica, desc: dict) -> tuple[bool, str]:
    if desc.get("DeletionProtectionEnabled") or not replica.deletion_protection:
        return True, "on" if desc.get("DeletionProtectionEnabled") else "off (as declared)"
    why = ("known provider defect: strong-consistency replicas are created without it; "
           if table.strong and replica.region != table.primary else "")
    return False, (f"off; {why}fix: aws dynamodb update-table --region {replica.region} --table-name {table.name} "
                   "--deletion-protection-enabled (or `pulumi refresh` then `pulumi up`)")


def _encryption_status(table: DeclaredTable, desc: dict) -> tuple[bool, str]:
    sse = desc.get("SSEDescription") or {}
    if sse.get("Status") in ("ENABLED", "UPDATING") and sse.get("SSEType") == "KMS":
        return True, f"KMS ({sse.get('KMSMasterKeyArn', 'AWS managed key')})"
    if table.kms:
        return False, f"not KMS-encrypted as declared (SSE {sse.get('Status', 'with an AWS owned key')})"
    return True, "AWS owned key (as declared)"


def _control_checks(declared: Declared, facts: Mapping[str, RegionFacts]) -> tuple[list[Check], Any]:
    """One row per replica of the control item; returns the newest well-formed state (highest epoch)."""
    table = declared.control_table
    if table is None:
        name = declared.runtime_environment.get("DR_CONTROL_TABLE")
        return [Check("control item", GLOBAL, False, f"the stack declares no control table {name}")], None
    key = f"control#{declared.runtime_environment.get('DR_APP')}"
    readings = {r.region: facts[r.region].control for r in table.replicas}
    good = {region: o.value for region, o in readings.items() if o is not None and o.ok}
    newest = max(good.values(), key=lambda s: s.epoch, default=None)
    checks = []
    for region, outcome in readings.items():
        if not outcome.ok:
            checks.append(Check(f"control item {key}", region, False, outcome.error))
            continue
        state = outcome.value
        detail = f"active {state.active_region}, epoch {state.epoch}"
        if state.pending:
            detail += f", pending steps: {', '.join(state.pending)}"
        if (state.active_region, state.epoch) != (newest.active_region, newest.epoch):
            checks.append(Check(f"control item {key}", region, False,
                                f"{detail}; behind epoch {newest.epoch} ({newest.active_region}) seen elsewhere"))
        else:
            checks.append(Check(f"control item {key}", region, True, detail))
    return checks, newest


def _parameter_checks(declared: Declared, facts: Mapping[str, RegionFacts], authority: Any) -> list[Check]:
    """Each region's projection names the authority's region and epoch (`failover.projection` reads it)."""
    from failover import projection

    checks = []
    what = f"SSM {declared.parameter_name}"
    for region in declared.parameter_regions:
        outcome = facts[region].parameter
        if not outcome.ok:
            checks.append(Check(what, region, False, "missing" if outcome.missing else outcome.error))
            continue
        seen = projection.parse(outcome.value)
        shown = f"{seen.region} (epoch {seen.epoch})" if seen else repr(outcome.value)
        if authority is None:
            checks.append(Check(what, region, False, f"{shown}; no well-formed control item to compare with"))
        elif seen is None or (seen.region, seen.epoch) != (authority.active_region, authority.epoch):
            right = projection.render(authority.active_region, authority.epoch)
            checks.append(Check(what, region, False, f"{shown}, but the control item says "
                                f"{authority.active_region} (epoch {authority.epoch}); the orchestrator in {region} "
                                f"rewrites it on its next round, or: aws ssm put-parameter --region {region} --name "
                                f"{declared.parameter_name} --value '{right}' --overwrite"))
        else:
            checks.append(Check(what, region, True, f"{shown}, as the control item says"))
    return checks


_ADDRESSING = ("DR_APP", "DR_REGIONS", "DR_CONTROL_TABLE", "DR_ACTIVE_REGION_PARAMETER")
"""Variables that tell the deployed orchestrator where the control item and the projection are."""


def _function_checks(declared: Declared, facts: Mapping[str, RegionFacts],
                     topics: Mapping[str, Outcome], subscriptions: Mapping[str, Outcome]) -> list[Check]:
    checks = []
    for fn in declared.functions:
        f = facts[fn.region]
        config = f.functions[fn.urn]
        if not config.ok:
            checks.append(Check(f"orchestrator {fn.name}", fn.region, False,
                                "missing" if config.missing else config.error))
            continue
        checks.append(Check(f"orchestrator {fn.name}", fn.region, *_function_status(fn, config.value)))
        arn = config.value["FunctionArn"]
        for schedule in (s for s in declared.schedules if s.function_urn == fn.urn):
            checks.append(Check(f"trigger: schedule -> {fn.name}", fn.region,
                                *_schedule_status(schedule, arn, f.schedules[fn.urn], f.policies[fn.urn])))
        for sub in (s for s in declared.subscriptions if s.function_urn == fn.urn):
            checks.append(Check(f"trigger: alarm topic -> {fn.name}", fn.region,
                                *_subscription_status(arn, topics[sub.topic_urn],
                                                      subscriptions.get(sub.topic_urn), f.policies[fn.urn])))
    return checks


def _function_status(fn: DeclaredFunction, config: dict) -> tuple[bool, str]:
    state = config.get("State", "Active")
    if state != "Active":
        return False, f"state {state}: {config.get('StateReason', '')}".rstrip(": ")
    env = config.get("Environment", {}).get("Variables", {})
    drift = [f"{k}={env.get(k)!r} (declared {fn.environment[k]!r})" for k in _ADDRESSING
             if k in fn.environment and env.get(k) != fn.environment[k]]
    if drift:
        return False, "deployed environment differs: " + ", ".join(drift) + "; run pulumi up"
    return True, f"{state}, {config.get('Runtime', '')}".rstrip(", ")


def _invoke_allowed(policy: Outcome, principal: str, source_arn: str) -> bool:
    for st in policy.value.get("Statement", []) if policy.ok else []:
        service = (st.get("Principal") or {}).get("Service") if isinstance(st.get("Principal"), dict) else None
        source = (st.get("Condition") or {}).get("ArnLike", {}).get("AWS:SourceArn")
        if st.get("Effect") == "Allow" and service == principal and source in (None, source_arn):
            return True
    return False


def _schedule_status(schedule: DeclaredSchedule, function_arn: str, rules: Outcome,
                     policy: Outcome) -> tuple[bool, str]:
    if not rules.ok:
        return False, rules.error
    for rule, targets in rules.value:
        if rule.get("ScheduleExpression") != schedule.expression:
            continue
        target = next((t for t in targets if t.get("Arn") == function_arn), {})
        if schedule.input and _json_or_text(target.get("Input")) != _json_or_text(schedule.input):
            return False, f"rule {rule['Name']} sends {target.get('Input')!r}, the stack declares {schedule.input!r}"
        if rule.get("State") != "ENABLED":
            return False, f"rule {rule['Name']} is {rule.get('State')}"
        if not _invoke_allowed(policy, "events.amazonaws.com", rule["Arn"]):
            return False, f"rule {rule['Name']} may not invoke the function (no resource-policy statement)"
        return True, f"{schedule.expression} via {rule['Name']}"
    return False, f"no EventBridge rule with {schedule.expression} targets {function_arn}"


def _json_or_text(text: Optional[str]) -> Any:
    try:
        return json.loads(text) if text else text
    except ValueError:
        return text


def _subscription_status(function_arn: str, topic: Outcome, subscriptions: Optional[Outcome],
                         policy: Outcome) -> tuple[bool, str]:
    if not topic.ok:
        return False, f"alarm topic: {topic.error}"
    if subscriptions is None or not subscriptions.ok:
        return False, subscriptions.error if subscriptions else "not checked"
    subscribed = any(s.get("Protocol") == "lambda" and s.get("Endpoint", "").split(":$")[0] == function_arn
                     for s in subscriptions.value)
    if not subscribed:
        return False, f"not subscribed to {topic.value}"
    if not _invoke_allowed(policy, "sns.amazonaws.com", topic.value):
        return False, f"subscribed to {topic.value}, but SNS may not invoke the function (no resource-policy statement)"
    return True, f"subscribed to {topic.value}"


def _topic_checks(declared: Declared, resolved: Mapping[str, Outcome],
                  attributes: Mapping[str, Outcome]) -> list[Check]:
    checks = []
    for topic in declared.topics:
        what = f"topic {topic.logical_name}"
        outcome = attributes.get(topic.urn, resolved[topic.urn])
        if not outcome.ok:
            checks.append(Check(what, topic.region, False, outcome.error))
        elif topic.kms and not outcome.value.get("KmsMasterKeyId"):
            checks.append(Check(what, topic.region, False, f"{resolved[topic.urn].value} is not KMS-encrypted"))
        else:
            key = outcome.value.get("KmsMasterKeyId")
            checks.append(Check(what, topic.region, True, resolved[topic.urn].value + (f" (KMS {key})" if key else "")))
    return checks


def _health_checks(declared: Declared, found: Mapping[str, Outcome]) -> tuple[list[Check], dict[str, str]]:
    """Rows for presence/config and status; returns declared urn -> deployed health check id."""
    checks, ids = [], {}
    for hc in declared.health_checks:
        outcome = found[hc.urn]
        if not outcome.ok:
            checks.append(Check(f"health check {hc.label}", GLOBAL, False, outcome.error))
            continue
        deployed, status = outcome.value
        ids[hc.urn] = deployed["Id"]
        config = deployed["HealthCheckConfig"]
        drift = [f"{k} {config.get(k)!r} (declared {v!r})" for k, v in hc.config.items() if config.get(k) != v]
        if config.get("Disabled"):
            drift.append("disabled")
        checks.append(Check(f"health check {hc.label}", GLOBAL, not drift,
                            "differs: " + ", ".join(drift) if drift else f"id {deployed['Id']}"))
        checks.append(Check(f"health check status {hc.label}", GLOBAL, *_health_status(status)))
    return checks, ids


def _health_status(status: Outcome) -> tuple[bool, str]:
    # moto's GetHealthCheckStatus always answers one "Success" observation: against moto only the
    # presence and the shape of the answer are exercised, never an unhealthy endpoint.
    if not status.ok:
        return False, status.error
    total = len(status.value)
    healthy = sum(1 for o in status.value if o.get("StatusReport", {}).get("Status", "").startswith("Success"))
    if total == 0:
        return False, "no checker has reported yet"
    return healthy / total > HEALTHY_CHECKER_SHARE, f"{healthy}/{total} checkers report success"


def _alarm_checks(declared: Declared, facts: Mapping[str, RegionFacts], topics: Mapping[str, Outcome],
                  health_check_ids: Mapping[str, str]) -> list[Check]:
    checks = []
    for alarm in declared.alarms:
        outcome = facts[alarm.region].alarms
        what = f"alarm {alarm.name}"
        if not outcome.ok:
            checks.append(Check(what, alarm.region, False, outcome.error))
        elif alarm.name not in outcome.value:
            checks.append(Check(what, alarm.region, False, "missing"))
        else:
            checks.append(Check(what, alarm.region, *_alarm_status(alarm, outcome.value[alarm.name], topics,
                                                                   health_check_ids)))
    return checks


def _alarm_status(alarm: DeclaredAlarm, deployed: dict, topics: Mapping[str, Outcome],
                  health_check_ids: Mapping[str, str]) -> tuple[bool, str]:
    actions = deployed.get("AlarmActions", [])
    problems = []
    if not deployed.get("ActionsEnabled", False):
        problems.append("actions are disabled")
    if not actions:
        problems.append("no alarm actions")
    for urn in alarm.topic_urns:
        topic = topics[urn]
        if topic.ok and topic.value not in actions:
            problems.append(f"does not notify {topic.value}")
    if alarm.has_ok_actions and not deployed.get("OKActions"):
        problems.append("no OK actions")
    watched = {d["Name"]: d["Value"] for d in deployed.get("Dimensions", [])}.get("HealthCheckId")
    expected = health_check_ids.get(alarm.health_check_urn or "")
    if expected and watched != expected:
        problems.append(f"watches health check {watched}, the stack's is {expected}")
    if problems:
        return False, "; ".join(problems)
    return True, f"state {deployed.get('StateValue')}, actions -> {', '.join(actions)}"


# ---------------------------------------------------------------------------------------------------
# Putting it together


def _check_credentials(session) -> None:
    try:
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        raise VerifyUsageError(f"AWS credentials: {exc}") from None
    if credentials is None:
        raise VerifyUsageError("no AWS credentials found (boto3's default chain: AWS_PROFILE, AWS_ACCESS_KEY_ID/"
                               "AWS_SECRET_ACCESS_KEY, SSO, instance role)")


def _check_identity(regions: Iterable[str], client: ClientFactory, fences: Mapping[str, RegionFence],
                    pool: ThreadPoolExecutor) -> None:
    """Ask STS in every region at once: exit 2 when the credentials are rejected or no region answers;
    a region that does not answer stays fenced off (its rows say so). Route 53 is asked at the same time,
    so a hung Route 53 costs the same single deadline."""
    regions = list(regions)
    route53 = pool.submit(lambda: fences[GLOBAL].call(lambda: client("route53", "us-east-1").get_health_check_count()))
    answers = dict(zip(regions, pool.map(
        lambda r: fences[r].call(lambda: client("sts", r).get_caller_identity()), regions)))
    route53.result()
    if any(a.ok for a in answers.values()):
        return
    rejected = [a for r, a in answers.items() if not fences[r].silent]
    if rejected:
        raise VerifyUsageError(f"AWS rejected the credentials: {rejected[0].error}")
    endpoint = client("sts", regions[0]).meta.endpoint_url
    raise VerifyUsageError(f"cannot reach AWS at {endpoint}: {answers[regions[0]].error}")


def verify_declared(declared: Declared, session=None, client: Optional[ClientFactory] = None,
                    read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS) -> VerifyReport:
    """Check the deployment against `declared`; raises VerifyUsageError for credential/endpoint problems."""
    import boto3

    session = session or boto3.Session()
    _check_credentials(session)
    client = client or session_clients(session, read_timeout)
    regions = sorted({*declared.regions, *(r.region for t in declared.tables for r in t.replicas),
                      *declared.parameter_regions, *(f.region for f in declared.functions),
                      *(t.region for t in declared.topics), *(a.region for a in declared.alarms)})
    fences = {r: RegionFence(r) for r in [*regions, GLOBAL]}
    with ThreadPoolExecutor(max_workers=len(fences)) as pool:
        _check_identity(regions, client, fences, pool)
        health = pool.submit(_collect_health_checks, declared, client, fences[GLOBAL])
        facts = dict(zip(regions, pool.map(lambda r: _collect_region(r, declared, client, fences[r]), regions)))
        referenced = _referenced_topics(facts)
        resolved = {t.urn: resolve_topic(t, facts[t.region].topic_names, referenced) for t in declared.topics}
        attributes, subscriptions = {}, {}
        for attrs, subs in pool.map(lambda r: _collect_topics(r, declared, resolved, client, fences[r]), regions):
            attributes.update(attrs)
            subscriptions.update(subs)
        found_health = health.result()
    checks = [c for t in declared.tables for c in _table_checks(t, facts)]
    control_rows, authority = _control_checks(declared, facts)
    checks += control_rows + _parameter_checks(declared, facts, authority)
    checks += _function_checks(declared, facts, resolved, subscriptions)
    checks += _topic_checks(declared, resolved, attributes)
    health_rows, health_ids = _health_checks(declared, found_health)
    checks += health_rows + _alarm_checks(declared, facts, resolved, health_ids)
    return VerifyReport(declared.stack, checks)


def run_verify(stack: str, stack_file=None, session=None, read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
               ) -> VerifyReport:
    """Preview `stack` offline to learn what it declares, then check it against AWS."""
    import boto3

    from drctl.preview import run_preview
    from drctl.render import as_json

    session = session or boto3.Session()
    _check_credentials(session)  # before the preview's few seconds
    declared = declared_from_document(as_json(run_preview(stack, stack_file=stack_file)))
    return verify_declared(declared, session=session, read_timeout=read_timeout)


def exit_code(report: VerifyReport) -> int:
    return 0 if report.ok else 1


def render_report(report: VerifyReport, width: int = 80):
    """One block per check for an 80-column log: `ok`/`FAIL`, what was checked and where (whole: a name that does
    not fit beside the status gets a line of its own), then the detail as prose wrapped at spaces."""
    from rich.console import Group
    from rich.text import Text

    from drctl.text import prose

    failed = sum(1 for c in report.checks if not c.ok)
    lines = prose(f"drctl verify {report.stack}: {len(report.checks)} checks, {failed} failed", width, style="bold")
    for c in report.checks:
        status = Text(f"{'ok' if c.ok else 'FAIL':<5}", style="green" if c.ok else "bold red")
        head = prose(f"{c.what} [{c.where}]", width, indent=5)
        if head[0].plain.startswith(" " * 5):
            head[0] = status + head[0][5:]
        else:  # a name longer than the line: the status on a line of its own
            head.insert(0, status)
        lines += head
        lines += prose(c.detail, width, indent=5)
    return Group(*lines)
