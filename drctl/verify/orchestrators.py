"""The orchestrators and their triggers: each function active with the environment the stack declares, its
schedule and its alarm-topic subscription in place, and allowed to be invoked by them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from drctl.verify.calls import Outcome
from drctl.verify.declared import Declared, DeclaredFunction, DeclaredSchedule
from drctl.verify.report import Check

if TYPE_CHECKING:
    from drctl.verify.facts import RegionFacts

_ADDRESSING = ("DR_APP", "DR_REGIONS", "DR_CONTROL_TABLE", "DR_ACTIVE_REGION_PARAMETER")
"""Variables that tell the deployed orchestrator where the control item and the projection are."""


def function_checks(
    declared: Declared,
    facts: Mapping[str, RegionFacts],
    topics: Mapping[str, Outcome],
    subscriptions: Mapping[str, Outcome],
) -> list[Check]:
    checks = []
    for fn in declared.functions:
        f = facts[fn.region]
        config = f.functions[fn.urn]
        if config.error is not None:
            checks.append(
                Check(f"orchestrator {fn.name}", fn.region, False, "missing" if config.missing else config.error)
            )
            continue
        checks.append(Check(f"orchestrator {fn.name}", fn.region, *_function_status(fn, config.value)))
        arn = config.value["FunctionArn"]
        for schedule in (s for s in declared.schedules if s.function_urn == fn.urn):
            checks.append(
                Check(
                    f"trigger: schedule -> {fn.name}",
                    fn.region,
                    *_schedule_status(schedule, arn, f.schedules[fn.urn], f.policies[fn.urn]),
                )
            )
        for sub in (s for s in declared.subscriptions if s.function_urn == fn.urn):
            checks.append(
                Check(
                    f"trigger: alarm topic -> {fn.name}",
                    fn.region,
                    *_subscription_status(
                        arn, topics[sub.topic_urn], subscriptions.get(sub.topic_urn), f.policies[fn.urn]
                    ),
                )
            )
    return checks


def _function_status(fn: DeclaredFunction, config: dict) -> tuple[bool, str]:
    state = config.get("State", "Active")
    if state != "Active":
        return False, f"state {state}: {config.get('StateReason', '')}".rstrip(": ")
    env = config.get("Environment", {}).get("Variables", {})
    drift = [
        f"{k}={env.get(k)!r} (declared {fn.environment[k]!r})"
        for k in _ADDRESSING
        if k in fn.environment and env.get(k) != fn.environment[k]
    ]
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


def _schedule_status(
    schedule: DeclaredSchedule, function_arn: str, rules: Outcome, policy: Outcome
) -> tuple[bool, str]:
    if rules.error is not None:
        return False, rules.error
    for rule, targets in rules.value:
        if rule.get("ScheduleExpression") != schedule.expression:
            continue
        target: dict[str, Any] = next((t for t in targets if t.get("Arn") == function_arn), {})
        if schedule.input and _json_or_text(target.get("Input")) != _json_or_text(schedule.input):
            return False, f"rule {rule['Name']} sends {target.get('Input')!r}, the stack declares {schedule.input!r}"
        if rule.get("State") != "ENABLED":
            return False, f"rule {rule['Name']} is {rule.get('State')}"
        if not _invoke_allowed(policy, "events.amazonaws.com", rule["Arn"]):
            return False, f"rule {rule['Name']} may not invoke the function (no resource-policy statement)"
        return True, f"{schedule.expression} via {rule['Name']}"
    return False, f"no EventBridge rule with {schedule.expression} targets {function_arn}"


def _json_or_text(text: str | None) -> Any:
    try:
        return json.loads(text) if text else text
    except ValueError:
        return text


def _subscription_status(
    function_arn: str, topic: Outcome, subscriptions: Outcome | None, policy: Outcome
) -> tuple[bool, str]:
    if topic.error is not None:
        return False, f"alarm topic: {topic.error}"
    if subscriptions is None:
        return False, "not checked"
    if subscriptions.error is not None:
        return False, subscriptions.error
    subscribed = any(
        s.get("Protocol") == "lambda" and s.get("Endpoint", "").split(":$")[0] == function_arn
        for s in subscriptions.value
    )
    if not subscribed:
        return False, f"not subscribed to {topic.value}"
    if not _invoke_allowed(policy, "sns.amazonaws.com", topic.value):
        return False, f"subscribed to {topic.value}, but SNS may not invoke the function (no resource-policy statement)"
    return True, f"subscribed to {topic.value}"
