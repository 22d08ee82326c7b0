"""What invokes the orchestrator, parsed into typed requests: an operator's action, the monitor's schedule, and
Route 53 health alarms delivered by SNS or EventBridge. A malformed event is rejected with a reason; nothing acts
on it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from failover.settings import Settings
from failover.store import clean_text

ALARM_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")


class RejectedEvent(ValueError):
    """The event is not one the orchestrator understands; nothing is changed."""


@dataclass(frozen=True)
class Request:
    action: Literal["failover", "status", "monitor", "alarm"]
    target: str | None = None
    reason: str = ""
    force: bool = False
    alarm_region: str | None = None
    alarm_state: str | None = None
    alarm_old_state: str | None = None
    alarm_at: float | None = None
    """When the alarm changed state (seconds since the epoch), from the notification; None if it did not say."""


def _timestamp(value: Any) -> float | None:
    """An ISO-8601 time as CloudWatch and SNS write it ("2026-12-06T10:00:00.000+0000" or "...Z")."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _loads(text: Any) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise RejectedEvent("the SNS message is nested too deeply to be a CloudWatch alarm notification") from None


def parse_event(event: Any, settings: Settings) -> Request:
    """Manual and scheduled actions, SNS-delivered CloudWatch alarms and EventBridge alarm events."""
    if not isinstance(event, Mapping):
        raise RejectedEvent("event is not a JSON object")
    if "Records" in event:
        return _sns_alarm(event["Records"], settings)
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            raise RejectedEvent("alarm state change event lacks detail.alarmName or detail.state.value")
        try:
            return _alarm_request(
                detail["alarmName"],
                detail["state"]["value"],
                (detail.get("previousState") or {}).get("value"),
                _timestamp(detail["state"].get("timestamp") or event.get("time")),
                settings,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise RejectedEvent("alarm state change event lacks detail.alarmName or detail.state.value") from exc
    action = event.get("action")
    if action in ("status", "monitor"):
        return Request(action)
    reason = event.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise RejectedEvent("reason must be a string")
    force = event.get("force", False)
    if not isinstance(force, bool):
        raise RejectedEvent("force must be true or false")
    if action == "failback":
        return Request("failover", target=settings.home, reason=clean_text(reason or "failback"), force=force)
    if action == "failover":
        target = event.get("target")
        if not isinstance(target, str) or target not in settings.regions:
            shown = clean_text(target, 80) if isinstance(target, str) else target
            raise RejectedEvent(f"failover needs target, one of {', '.join(settings.regions)}; got {shown!r}")
        return Request("failover", target=target, reason=clean_text(reason or "manual failover"), force=force)
    shown = clean_text(action, 80) if isinstance(action, str) else action
    raise RejectedEvent(f"unknown action {shown!r}" if action is not None else "event has no action")


def _sns_alarm(records: Any, settings: Settings) -> Request:
    if not isinstance(records, list) or len(records) != 1:
        raise RejectedEvent("expected exactly one SNS record")
    try:
        sns = records[0]["Sns"]
        message = _loads(sns["Message"])
        return _alarm_request(
            message["AlarmName"],
            message["NewStateValue"],
            message.get("OldStateValue"),
            _timestamp(message.get("StateChangeTime")) or _timestamp(sns.get("Timestamp")),
            settings,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, RejectedEvent):
            raise
        raise RejectedEvent("SNS record is not a CloudWatch alarm notification") from None


def _alarm_request(name: Any, state: Any, old: Any, at: float | None, settings: Settings) -> Request:
    region = settings.alarm_regions.get(name) if isinstance(name, str) else None
    if region is None:
        raise RejectedEvent(f"alarm {clean_text(name, 120)!r} is not in DR_ALARM_REGIONS")
    if state not in ALARM_STATES:
        raise RejectedEvent(f"alarm state {clean_text(state, 40)!r} is not a CloudWatch alarm state")
    old_state = old if old in ALARM_STATES else None
    return Request(
        "alarm", alarm_region=region, alarm_state=state, alarm_old_state=old_state, alarm_at=at, reason=f"alarm {name}"
    )
