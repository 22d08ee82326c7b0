"""Route 53 health checks and the alarms on them: each check found (by its `Name` tag, or by its config) with the
declared config and reported healthy by enough checkers; each alarm acting on the stack's topics and watching the
stack's health check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from drctl.verify.calls import GLOBAL, ClientFactory, Outcome, RegionFence
from drctl.verify.declared import Declared, DeclaredAlarm, DeclaredHealthCheck
from drctl.verify.report import Check

if TYPE_CHECKING:
    from drctl.verify.facts import RegionFacts

HEALTHY_CHECKER_SHARE = 0.18
"""Route 53 considers an endpoint healthy when more than 18% of its checkers report it healthy."""


def collect_health_checks(declared: Declared, client: ClientFactory, fence: RegionFence) -> dict[str, Outcome]:
    """Declared health check urn -> (HealthCheck, status observations), found by `Name` tag or by config."""
    route53 = client("route53", "us-east-1")
    listed = fence.call(
        lambda: [h for page in route53.get_paginator("list_health_checks").paginate() for h in page["HealthChecks"]]
    )
    if listed.error is not None:
        return {hc.urn: listed for hc in declared.health_checks}

    def names() -> dict[str, str]:
        ids, out = [h["Id"] for h in listed.value], {}
        for start in range(0, len(ids), 10):
            sets = route53.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=ids[start : start + 10])
            for tag_set in sets["ResourceTagSets"]:
                names = [t["Value"] for t in tag_set["Tags"] if t["Key"] == "Name"]
                if names:
                    out[tag_set["ResourceId"]] = names[-1]
        return out

    tags = fence.call(names) if any(hc.tag_name for hc in declared.health_checks) else Outcome(value={})
    result = {}
    for hc in declared.health_checks:
        if tags.error is not None:
            result[hc.urn] = tags
            continue
        found = _match_health_check(hc, listed.value, tags.value)
        if found is None:
            result[hc.urn] = Outcome(error=f"no Route 53 health check {_health_check_key(hc)}", missing=True)
            continue
        status = fence.call(
            lambda i=found["Id"]: route53.get_health_check_status(HealthCheckId=i)["HealthCheckObservations"]
        )
        result[hc.urn] = Outcome(value=(found, status))
    return result


def _health_check_key(hc: DeclaredHealthCheck) -> str:
    return f"tagged Name={hc.tag_name}" if hc.tag_name else f"for {hc.label}"


def _match_health_check(hc: DeclaredHealthCheck, listed: list[dict], names: Mapping[str, str]) -> dict | None:
    if hc.tag_name:
        return next((h for h in listed if names.get(h["Id"]) == hc.tag_name), None)
    keys = ("Type", "FullyQualifiedDomainName", "IPAddress", "Port", "ResourcePath")
    return next(
        (h for h in listed if all(h["HealthCheckConfig"].get(k) == hc.config.get(k) for k in keys if k in hc.config)),
        None,
    )


def health_check_checks(declared: Declared, found: Mapping[str, Outcome]) -> tuple[list[Check], dict[str, str]]:
    """Rows for presence/config and status; returns declared urn -> deployed health check id."""
    checks, ids = [], {}
    for hc in declared.health_checks:
        outcome = found[hc.urn]
        if outcome.error is not None:
            checks.append(Check(f"health check {hc.label}", GLOBAL, False, outcome.error))
            continue
        deployed, status = outcome.value
        ids[hc.urn] = deployed["Id"]
        config = deployed["HealthCheckConfig"]
        drift = [f"{k} {config.get(k)!r} (declared {v!r})" for k, v in hc.config.items() if config.get(k) != v]
        if config.get("Disabled"):
            drift.append("disabled")
        checks.append(
            Check(
                f"health check {hc.label}",
                GLOBAL,
                not drift,
                "differs: " + ", ".join(drift) if drift else f"id {deployed['Id']}",
            )
        )
        checks.append(Check(f"health check status {hc.label}", GLOBAL, *_health_status(status)))
    return checks, ids


def _health_status(status: Outcome) -> tuple[bool, str]:
    # moto's GetHealthCheckStatus always answers one "Success" observation: against moto only the
    # presence and the shape of the answer are exercised, never an unhealthy endpoint.
    if status.error is not None:
        return False, status.error
    total = len(status.value)
    healthy = sum(1 for o in status.value if o.get("StatusReport", {}).get("Status", "").startswith("Success"))
    if total == 0:
        return False, "no checker has reported yet"
    return healthy / total > HEALTHY_CHECKER_SHARE, f"{healthy}/{total} checkers report success"


def alarm_checks(
    declared: Declared,
    facts: Mapping[str, RegionFacts],
    topics: Mapping[str, Outcome],
    health_check_ids: Mapping[str, str],
) -> list[Check]:
    checks = []
    for alarm in declared.alarms:
        outcome = facts[alarm.region].alarms
        what = f"alarm {alarm.name}"
        if outcome.error is not None:
            checks.append(Check(what, alarm.region, False, outcome.error))
        elif alarm.name not in outcome.value:
            checks.append(Check(what, alarm.region, False, "missing"))
        else:
            checks.append(
                Check(what, alarm.region, *_alarm_status(alarm, outcome.value[alarm.name], topics, health_check_ids))
            )
    return checks


def _alarm_status(
    alarm: DeclaredAlarm, deployed: dict, topics: Mapping[str, Outcome], health_check_ids: Mapping[str, str]
) -> tuple[bool, str]:
    actions = deployed.get("AlarmActions", [])
    problems = []
    if not deployed.get("ActionsEnabled", False):
        problems.append("actions are disabled")
    if alarm.has_actions and not actions:
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
