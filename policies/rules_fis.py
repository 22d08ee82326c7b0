"""AWS FIS guardrails over experiment templates: a fault in a production account must be able to stop itself.

- every template has at least one stop condition on a CloudWatch alarm (`source: aws:cloudwatch:alarm` with the
  alarm's ARN); `none` or an empty list lets an experiment run its whole course whatever it breaks;
- every `duration` parameter is an ISO 8601 duration of at most `MAX_FAULT_MINUTES`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from policies.resource import Res

EXPERIMENT_TEMPLATE = "aws:fis/experimentTemplate:ExperimentTemplate"
ALARM_SOURCE = "aws:cloudwatch:alarm"
MAX_FAULT_MINUTES = 30
_ISO_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def duration_seconds(text: str) -> int | None:
    """Seconds of an ISO 8601 time duration (`PT5M`, `PT1H30M`, `PT90S`); None when it is not one."""
    match = _ISO_DURATION.match(str(text))
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _list(value: Any) -> list:
    """A list property (under the pack, pulumi_policy's proxy: iterable, not a list), mapping items only."""
    if value is None or isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return []
    return [item for item in value if hasattr(item, "get")]


def experiment_stops_on_alarms(r: Res) -> list[str]:
    if r.type != EXPERIMENT_TEMPLATE:
        return []
    conditions = _list(r.props.get("stopConditions"))
    alarms = [c for c in conditions if c.get("source") == ALARM_SOURCE and c.get("value")]
    if not alarms:
        return [
            "the experiment template has no stop condition on a CloudWatch alarm (source aws:cloudwatch:alarm): "
            "nothing would stop the fault if it hurt more than planned"
        ]
    return []


def experiment_duration_bounded(r: Res) -> list[str]:
    if r.type != EXPERIMENT_TEMPLATE:
        return []
    out = []
    for action in _list(r.props.get("actions")):
        for parameter in _list(action.get("parameters")):
            if parameter.get("key") != "duration":
                continue
            seconds = duration_seconds(parameter.get("value", ""))
            name = action.get("name", "?")
            if seconds is None:
                out.append(f"action {name}: duration {parameter.get('value')!r} is not an ISO 8601 duration (PT5M)")
            elif seconds > MAX_FAULT_MINUTES * 60:
                out.append(f"action {name}: duration {parameter.get('value')} is over {MAX_FAULT_MINUTES} minutes")
    return out


FIS_RULES: dict[str, tuple[str, Callable[[Res], list[str]]]] = {
    "fis-stop-conditions": (
        "Every FIS experiment template stops on a CloudWatch alarm",
        experiment_stops_on_alarms,
    ),
    "fis-bounded-duration": (
        f"FIS faults last at most {MAX_FAULT_MINUTES} minutes",
        experiment_duration_bounded,
    ),
}
