"""DR guardrails as plain functions over a resource's type and camelCase properties.

The policy pack (`policies/__main__.py`), the offline preview and the tests all call these.
Resource rules return a list of messages (empty = compliant); stack rules return
(urn or None, message) pairs. Properties may be pulumi_policy's unknown-checking proxy: reading
an unknown value raises, and the caller reports it instead of crashing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from components.budget import ALIAS_TO_ALB_TTL_SECONDS, BudgetInputs, compute_budget
from components.control import region_set
from policies.resource import Res
from policies.rules_accelerator import ACCELERATOR, ACCELERATOR_RESOURCE_RULES, ACCELERATOR_STACK_RULES
from policies.rules_fis import FIS_RULES
from policies.rules_haproxy import HAPROXY_RULES
from policies.rules_kubernetes import KUBERNETES_RESOURCE_RULES, KUBERNETES_STACK_RULES
from policies.secrets import credential_kinds

TABLE = "aws:dynamodb/table:Table"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
FUNCTION = "aws:lambda/function:Function"
TOPIC = "aws:sns/topic:Topic"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
IAM_DOCUMENTS = {"aws:iam/rolePolicy:RolePolicy": "policy", "aws:iam/policy:Policy": "policy"}
ORCHESTRATOR_HANDLER = "failover.orchestrator.handler"
PRODUCTION_TAG = "dr:production"
MAX_FAILOVER_TTL = 60
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY)", re.IGNORECASE)
READ_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "Head", "Search", "Lookup")


def _get(props: Mapping[str, Any], *path: Any, default: Any = None) -> Any:
    cur: Any = props
    for key in path:
        if isinstance(cur, Mapping):
            cur = cur.get(key, default) if key in cur else default
        elif isinstance(cur, (list, tuple)) and isinstance(key, int) and key < len(cur):
            cur = cur[key]
        else:
            return default
        if cur is default:
            return default
    return cur


# -- resource rules ---------------------------------------------------------------------------
def table_replica_protection(r: Res) -> list[str]:
    if r.type != TABLE:
        return []
    out = []
    if not _get(r.props, "pointInTimeRecovery", "enabled", default=False):
        out.append("the table has no point-in-time recovery")
    if not _get(r.props, "deletionProtectionEnabled", default=False):
        out.append("the table has no deletion protection")
    for i, rep in enumerate(_get(r.props, "replicas", default=[]) or []):
        region = _get(rep, "regionName", default=f"replica {i}")
        if not _get(rep, "pointInTimeRecovery", default=False):
            out.append(f"replica {region} has no point-in-time recovery")
        if not _get(rep, "deletionProtectionEnabled", default=False):
            out.append(f"replica {region} has no deletion protection")
    return out


def table_encrypted(r: Res) -> list[str]:
    if r.type == TABLE and not _get(r.props, "serverSideEncryption", "enabled", default=False):
        return ["server-side encryption with a KMS key is not enabled"]
    return []


def table_streams(r: Res) -> list[str]:
    if r.type == TABLE and not _get(r.props, "streamEnabled", default=False):
        return ["streams are off; the audit trail and any replicator read them"]
    return []


def table_strong_consistency(r: Res) -> list[str]:
    if r.type != TABLE:
        return []
    replicas = _get(r.props, "replicas", default=[]) or []
    modes = {_get(rep, "consistencyMode", default="EVENTUAL") for rep in replicas}
    if "STRONG" not in modes:
        return []
    regions = [r.region or "?"] + [_get(rep, "regionName") for rep in replicas]
    witness = _get(_get(r.props, "globalTableWitness", default={}) or {}, "regionName", default=None)
    members = regions + ([witness] if witness else [])
    set_of = region_set(members)
    valid = modes == {"STRONG"} and set_of is not None and len(set(members)) == 3 and len(members) == 3
    if not valid:
        return [
            f"strong consistency needs three STRONG regions, or two and a witness, from one MRSC set; got "
            f"{', '.join(regions)}" + (f" and the witness {witness}" if witness else "")
        ]
    return []


def table_protected_in_prod(r: Res) -> list[str]:
    """Production is a property of the stack (`dr:production`, recorded as a tag), not of its name."""
    if r.type == TABLE and r.tags.get(PRODUCTION_TAG) == "true" and not r.protect:
        return [
            "tables of a production stack (dr:production: true) must be `protect`ed (dr:protect: true) "
            "so no deploy can delete them"
        ]
    return []


def health_check_bounds(r: Res) -> list[str]:
    if r.type != HEALTH_CHECK:
        return []
    out = []
    interval = _get(r.props, "requestInterval", default=30)
    threshold = _get(r.props, "failureThreshold", default=3)
    if interval not in (10, 30):
        out.append(f"request interval {interval}s is not 10 or 30")
    if not 1 <= threshold <= 10:
        out.append(f"failure threshold {threshold} is outside 1-10")
    return out


def failover_record_ttl(r: Res) -> list[str]:
    if r.type != RECORD or not _get(r.props, "failoverRoutingPolicies"):
        return []
    ttl = _get(r.props, "ttl")
    if ttl is not None and ttl > MAX_FAILOVER_TTL:
        return [f"failover record TTL {ttl}s is over {MAX_FAILOVER_TTL}s: clients would keep the dead region that long"]
    return []


def health_alarm_has_action(r: Res) -> list[str]:
    if r.type == ALARM and _get(r.props, "metricName") == "HealthCheckStatus" and not _get(r.props, "alarmActions"):
        return ["a health alarm with no action cannot trigger a failover"]
    return []


def dashboard_widgets_regional(r: Res) -> list[str]:
    """A metric widget without a region shows the metrics of whichever region the console is in: during an outage,
    the wrong region's (or none). Every metric widget of a DR dashboard names its region."""
    if r.type != DASHBOARD:
        return []
    body = _get(r.props, "dashboardBody")
    if not isinstance(body, str):
        return []
    try:
        widgets = json.loads(body).get("widgets") or []
    except (ValueError, AttributeError):
        return ["the dashboard body is not a JSON object"]
    return [
        f"metric widget {i} ({_get(w, 'properties', 'title', default='untitled')}) names no region"
        for i, w in enumerate(widgets)
        if isinstance(w, Mapping) and w.get("type") == "metric" and not _get(w, "properties", "region")
    ]


def topic_encrypted(r: Res) -> list[str]:
    if r.type == TOPIC and not _get(r.props, "kmsMasterKeyId"):
        return ["SNS topic is not KMS-encrypted"]
    return []


def _plain_env(r: Res) -> dict[str, Any]:
    if r.type == FUNCTION:
        return dict(_get(r.props, "environment", "variables", default={}) or {})
    if r.type == TASK_DEFINITION:
        raw = _get(r.props, "containerDefinitions", default="[]")
        try:
            containers = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return {}
        return {e["name"]: e.get("value") for c in containers or [] for e in c.get("environment", [])}
    return {}


def no_plaintext_secrets(r: Res) -> list[str]:
    """By name (PASSWORD, TOKEN, ...) and by value (access keys, URLs with a password, tokens, keys)."""
    env = _plain_env(r)
    if not env:
        return []
    named = {name for name, value in env.items() if SECRET_NAME.search(name) and value}
    by_value = credential_kinds({k: v for k, v in env.items() if k not in named})
    out = [
        f"environment variable {name} looks like a secret in plain text; use Secrets Manager (dr:appSecrets)"
        for name in sorted(named)
    ]
    out += [
        f"environment variable {name} holds a value that looks like a credential ({', '.join(kinds)}); "
        "use Secrets Manager (dr:appSecrets)"
        for name, kinds in sorted(by_value.items())
    ]
    return out


def _statements(doc: Any) -> list[dict]:
    if isinstance(doc, str):
        doc = json.loads(doc)
    stmts = doc.get("Statement", [])
    return [stmts] if isinstance(stmts, dict) else list(stmts)


def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


# Write actions that have no resource-level permissions: on `*` only when a condition on this key scopes them.
CONDITION_SCOPED_WRITES = {"cloudwatch:PutMetricData": "cloudwatch:namespace"}


def _condition_keys(statement: Mapping[str, Any]) -> set[str]:
    conditions = statement.get("Condition") or {}
    return {str(k).lower() for ops in conditions.values() if isinstance(ops, Mapping) for k in ops}


def iam_least_privilege(r: Res) -> list[str]:
    key = IAM_DOCUMENTS.get(r.type)
    if key is None:
        return []
    try:
        statements = _statements(_get(r.props, key, default="{}"))
    except (ValueError, AttributeError):
        return ["the policy document is not valid JSON"]
    out = []
    for s in statements:
        if s.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in _as_list(s.get("Action", []))]
        resources = [str(x) for x in _as_list(s.get("Resource", []))]
        sid = s.get("Sid", "?")
        for a in actions:
            if "*" in a:
                out.append(f"statement {sid}: wildcard action {a}")
        scoped = _condition_keys(s)
        writes = [
            a
            for a in actions
            if not a.split(":")[-1].startswith(READ_PREFIXES)
            and CONDITION_SCOPED_WRITES.get(a, "").lower() not in scoped
        ]
        if "*" in resources and writes:
            out.append(f"statement {sid}: write actions {', '.join(writes)} on resource *")
    return out


RESOURCE_RULES: dict[str, tuple[str, Callable[[Res], list[str]]]] = {
    "dynamodb-replica-protection": (
        "Every table and replica has point-in-time recovery and deletion protection",
        table_replica_protection,
    ),
    "dynamodb-encryption": ("Tables are encrypted at rest", table_encrypted),
    "dynamodb-streams": ("Streams are on for the audit trail and replicators", table_streams),
    "dynamodb-strong-consistency-mrsc": (
        "Strong consistency only with a valid MRSC region set",
        table_strong_consistency,
    ),
    "dynamodb-protected-in-prod": (
        "Tables of a production stack (dr:production) are protected from deletion by deploys",
        table_protected_in_prod,
    ),
    "health-check-bounds": ("Health check interval and failure threshold within bounds", health_check_bounds),
    "dns-failover-ttl": ("Failover records have a TTL of at most 60 s", failover_record_ttl),
    "health-alarm-has-action": ("Every health alarm has an action", health_alarm_has_action),
    "dashboard-widgets-regional": ("Every metric widget of a dashboard names its region", dashboard_widgets_regional),
    "sns-encrypted": ("SNS topics are KMS-encrypted", topic_encrypted),
    "no-plaintext-secrets": ("No secret-looking value in plain Lambda or task environments", no_plaintext_secrets),
    "iam-least-privilege": ("No wildcard action; no write action on resource *", iam_least_privilege),
    **KUBERNETES_RESOURCE_RULES,
    **HAPROXY_RULES,
    **FIS_RULES,
    **ACCELERATOR_RESOURCE_RULES,
}


# -- stack rules ------------------------------------------------------------------------------
def _orchestrators(resources: list[Res]) -> list[Res]:
    return [r for r in resources if r.type == FUNCTION and _get(r.props, "handler") == ORCHESTRATOR_HANDLER]


def orchestrator_outside_primary(resources: list[Res]) -> list[tuple[str | None, str]]:
    fns = _orchestrators(resources)
    if not fns:
        return [(None, "no failover orchestrator is deployed")]
    regions = str(_get(fns[0].props, "environment", "variables", "DR_REGIONS", default="")).split(",")
    primary = regions[0] if regions and regions[0] else None
    outside = [f for f in fns if f.region and f.region != primary]
    if not outside:
        return [(fns[0].urn, f"the orchestrator runs only in the primary region {primary}, the region that fails")]
    return []


def health_check_per_endpoint(resources: list[Res]) -> list[tuple[str | None, str]]:
    checked = {str(_get(h.props, "fqdn", default="")).split(".")[0] for h in resources if h.type == HEALTH_CHECK}
    return [
        (lb.urn, f"the load balancer in {lb.region} has no Route 53 health check")
        for lb in resources
        if lb.type == LOAD_BALANCER and lb.region not in checked
    ]


def _env_value(fn: Res, name: str, default: Any) -> Any:
    value = _get(fn.props, "environment", "variables", name, default=None)
    return default if value is None else value


def budget_from_resources(resources: list[Res]) -> dict | None:
    """Recompute the RTO/RPO budget from what is declared (not from config), worst case across regions.

    Reads only values that are known on a first preview (plain settings, tags, regions), never ARNs,
    so the rule gates the very first deploy too."""
    control = [t for t in resources if t.type == TABLE and "dr:rtoObjectiveSeconds" in t.tags]
    fns = _orchestrators(resources)
    checks = [h for h in resources if h.type == HEALTH_CHECK]
    if not control or not fns or not checks:
        return None
    tags = control[0].tags
    env_of = fns[0]
    regions = tuple(r for r in str(_env_value(env_of, "DR_REGIONS", "")).split(",") if r)
    alarms = [
        a
        for a in resources
        if a.type == ALARM and _get(a.props, "metricName") == "HealthCheckStatus" and _get(a.props, "alarmActions")
    ]
    schedules = {
        e.region
        for e in resources
        if e.type == EVENT_RULE and str(_get(e.props, "scheduleExpression", default="")).startswith("rate(")
    }
    data_tables = [t for t in resources if t.type == TABLE and t is not control[0]]
    strong = all(
        {_get(rep, "consistencyMode") for rep in (_get(t.props, "replicas", default=[]) or [])} == {"STRONG"}
        for t in data_tables
    ) and bool(data_tables)
    ttls = [_get(r.props, "ttl") for r in resources if r.type == RECORD and _get(r.props, "failoverRoutingPolicies")]
    ttl = max([t for t in ttls if t is not None], default=ALIAS_TO_ALB_TTL_SECONDS)
    budget = compute_budget(
        BudgetInputs(
            regions=regions or tuple(sorted({f.region for f in fns if f.region})),
            orchestrator_regions=tuple(f.region for f in fns if f.region is not None and f.region in schedules),
            health_interval_seconds=max(_get(h.props, "requestInterval", default=30) for h in checks),
            health_failure_threshold=max(_get(h.props, "failureThreshold", default=3) for h in checks),
            dns_ttl_seconds=ttl,
            alarm_evaluation_periods=max((_get(a.props, "evaluationPeriods", default=1) for a in alarms), default=0),
            probe_interval_seconds=float(_env_value(env_of, "DR_PROBE_INTERVAL_SECONDS", 10)),
            probe_timeout_seconds=float(_env_value(env_of, "DR_PROBE_TIMEOUT_SECONDS", 3)),
            monitor_failure_threshold=int(_env_value(env_of, "DR_FAILURE_THRESHOLD", 3)),
            client_cache_seconds=int(tags.get("dr:clientCacheSeconds", 5)),
            strong_consistency=strong,
            rpo_gate_seconds=int(_env_value(env_of, "DR_RPO_SECONDS", 0)) if not strong else 0,
            automatic_failover=_env_value(env_of, "DR_AUTOMATIC_FAILOVER", "true") == "true"
            and bool(alarms or schedules),
            objective_rto_seconds=int(tags["dr:rtoObjectiveSeconds"]),
            objective_rpo_seconds=int(tags["dr:rpoObjectiveSeconds"]),
            scale_up_seconds=int(tags.get("dr:scaleUpSeconds", 0)),
            traffic_mode="accelerator" if any(r.type == ACCELERATOR for r in resources) else "dns",
        )
    )
    return {"budget": budget, "urn": control[0].urn}


def budget_fits_objectives(resources: list[Res]) -> list[tuple[str | None, str]]:
    found = budget_from_resources(resources)
    if found is None:
        return [
            (None, "cannot compute the RTO/RPO budget: no control table with objectives, orchestrator or health check")
        ]
    return [(found["urn"], message) for message in found["budget"].misses()]


STACK_RULES: dict[str, tuple[str, Callable[[list[Res]], list[tuple[str | None, str]]]]] = {
    "orchestrator-outside-primary": ("The orchestrator runs outside the primary region", orchestrator_outside_primary),
    "health-check-per-endpoint": ("Every regional endpoint has a health check", health_check_per_endpoint),
    "rto-rpo-budget": ("The RTO/RPO budget of the declared resources fits the objectives", budget_fits_objectives),
    **KUBERNETES_STACK_RULES,
    **ACCELERATOR_STACK_RULES,
}

# Which stacks each stack rule judges, by the kind of stack (`components.tiers.tier_kind` of its `dr:tier` stack
# tag; "single" when the whole deployment is one stack). A stack rule needs every resource it reasons about in
# the same stack: the orchestrators of every region, the load balancers with their health checks, the budget's
# control table, orchestrators and health checks together exist only in one stack. In per-tier stacks those
# facts hold by construction of the tier plan (a site tier and an automation tier per region, every site
# checked by the traffic tier), and `drctl deploy` checks the budget from the base stack's config before any
# tier deploys. A DigitalOcean site's load balancer and Deployment share its site tier.
STACK_RULE_SCOPES: dict[str, frozenset[str]] = {
    "orchestrator-outside-primary": frozenset({"single"}),
    "health-check-per-endpoint": frozenset({"single"}),
    "rto-rpo-budget": frozenset({"single"}),
    "do-lb-health-check-path": frozenset({"single", "site"}),
    "accelerator-group-per-region": frozenset({"single", "traffic"}),  # the accelerator and the checks are there
    "accelerator-dials": frozenset({"single", "traffic"}),  # the accelerator and its groups are there
}
assert set(STACK_RULE_SCOPES) == set(STACK_RULES), "every stack rule says which stacks it judges"
