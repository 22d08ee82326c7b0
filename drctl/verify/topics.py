"""The notification topics: Pulumi auto-names them, so each declared topic is found among its region's topics
(preferring the one this stack's alarms or orchestrators use), then its encryption is checked."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from drctl.verify.calls import ClientFactory, Outcome, RegionFence
from drctl.verify.declared import Declared, DeclaredTopic
from drctl.verify.report import Check

if TYPE_CHECKING:
    from drctl.verify.facts import RegionFacts

_SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+")


def resolve_topic(topic: DeclaredTopic, region_topics: Outcome, referenced: set[str]) -> Outcome:
    """The deployed ARN of a declared topic: its explicit name, or Pulumi's `<logical>-<7 hex>` auto-name;
    when several topics match (another stack with the same names in this account), the one this stack's
    alarms or orchestrators refer to."""
    if region_topics.error is not None:
        return region_topics
    pattern = re.compile(
        re.escape(topic.physical_name) + "$" if topic.physical_name else re.escape(topic.logical_name) + "-[0-9a-f]{7}$"
    )
    candidates = sorted(a for a in region_topics.value if pattern.match(a.rsplit(":", 1)[-1]))
    chosen = [a for a in candidates if a in referenced] or candidates
    if not chosen:
        shown = topic.physical_name or f"{topic.logical_name}-<7 hex> (Pulumi's auto-name)"
        return Outcome(error=f"no topic named {shown} in {topic.region}", missing=True)
    if len(chosen) > 1:
        return Outcome(error=f"{len(chosen)} topics match and none is used by this stack: {', '.join(chosen)}")
    return Outcome(value=chosen[0])


def referenced_topics(facts: Mapping[str, RegionFacts]) -> set[str]:
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


def collect_topics(
    region: str, declared: Declared, resolved: Mapping[str, Outcome], client: ClientFactory, fence: RegionFence
) -> tuple[dict[str, Outcome], dict[str, Outcome]]:
    """Attributes and subscriptions of the declared topics in `region` (needs the resolved ARNs)."""
    sns = client("sns", region)
    attributes, subscriptions = {}, {}
    for topic in (t for t in declared.topics if t.region == region):
        arn = resolved[topic.urn]
        if arn.error is not None:
            continue
        attributes[topic.urn] = fence.call(lambda a=arn.value: sns.get_topic_attributes(TopicArn=a)["Attributes"])
        if any(s.topic_urn == topic.urn for s in declared.subscriptions):
            subscriptions[topic.urn] = fence.call(
                lambda a=arn.value: [
                    s
                    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=a)
                    for s in page["Subscriptions"]
                ]
            )
    return attributes, subscriptions


def topic_checks(declared: Declared, resolved: Mapping[str, Outcome], attributes: Mapping[str, Outcome]) -> list[Check]:
    checks = []
    for topic in declared.topics:
        what = f"topic {topic.logical_name}"
        outcome = attributes.get(topic.urn, resolved[topic.urn])
        if outcome.error is not None:
            checks.append(Check(what, topic.region, False, outcome.error))
        elif topic.kms and not outcome.value.get("KmsMasterKeyId"):
            checks.append(Check(what, topic.region, False, f"{resolved[topic.urn].value} is not KMS-encrypted"))
        else:
            key = outcome.value.get("KmsMasterKeyId")
            checks.append(Check(what, topic.region, True, resolved[topic.urn].value + (f" (KMS {key})" if key else "")))
    return checks
