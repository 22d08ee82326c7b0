"""The failover orchestrator: `handler(event, context)` is the Lambda entry point.

A transition: probe the target -> replication-lag gate -> conditional epoch bump -> SSM parameter
in every region that answers -> scale the target's service -> one SNS message per topic -> audit
record. Everything after the epoch bump is a pending step in the control item, so a crash is
completed by the next invocation instead of leaving a half-done failover.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from failover import decisions
from failover.decisions import ControlState, Decision
from failover.probe import probe_all
from failover.settings import Settings, SettingsError, load_settings
from failover.store import ControlStore

try:  # the Powertools layer in Lambda; plain logging where it is absent
    from aws_lambda_powertools import Logger

    # No service= argument: Powertools then takes it from POWERTOOLS_SERVICE_NAME, which the stack sets.
    logger = Logger()
except ImportError:  # pragma: no cover - exercised only without the layer
    import logging
    import os

    logger = logging.getLogger(os.environ.get("POWERTOOLS_SERVICE_NAME", "dr-orchestrator"))

# Remote regions may be the ones that failed: fail fast instead of waiting on botocore's defaults.
FAST = Config(connect_timeout=2, read_timeout=4, retries={"max_attempts": 2, "mode": "standard"})
AWS_ERRORS = (BotoCoreError, ClientError)
LAG_MEMORY_SECONDS = 600
# Longer than the function's 60 s timeout: a holder that crashed lets the next invocation take over.
LEASE_SECONDS = 90


@dataclass
class Result:
    outcome: str
    active_region: str
    epoch: int
    reason: str

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "activeRegion": self.active_region, "epoch": self.epoch, "reason": self.reason}


class RejectedEvent(ValueError):
    """The event is not one the orchestrator understands; nothing is changed."""


@dataclass(frozen=True)
class Request:
    action: str  # failover | failback | status | monitor | alarm
    target: Optional[str] = None
    reason: str = ""
    force: bool = False
    alarm_region: Optional[str] = None
    alarm_state: Optional[str] = None


def parse_event(event: Any, settings: Settings) -> Request:
    """Manual and scheduled actions, SNS-delivered CloudWatch alarms and EventBridge alarm events."""
    if not isinstance(event, Mapping):
        raise RejectedEvent("event is not a JSON object")
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list) or len(records) != 1:
            raise RejectedEvent("expected exactly one SNS record")
        try:
            message = json.loads(records[0]["Sns"]["Message"])
            return _alarm_request(message["AlarmName"], message["NewStateValue"], settings)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, RejectedEvent):
                raise
            raise RejectedEvent("SNS record is not a CloudWatch alarm notification") from None
    if event.get("detail-type") == "CloudWatch Alarm State Change":
        try:
            return _alarm_request(event["detail"]["alarmName"], event["detail"]["state"]["value"], settings)
        except (KeyError, TypeError) as exc:
            raise RejectedEvent("alarm state change event lacks detail.alarmName or detail.state.value") from exc
    action = event.get("action")
    if action in ("status", "monitor"):
        return Request(action)
    if action == "failback":
        return Request("failover", target=settings.home, reason=str(event.get("reason") or "failback"),
                       force=event.get("force") is True)
    if action == "failover":
        target = event.get("target")
        if not isinstance(target, str) or target not in settings.regions:
            raise RejectedEvent(f"failover needs target, one of {', '.join(settings.regions)}; got {target!r}")
        force = event.get("force", False)
        if not isinstance(force, bool):
            raise RejectedEvent("force must be true or false")
        return Request("failover", target=target, reason=str(event.get("reason") or "manual failover"), force=force)
    raise RejectedEvent(f"unknown action {action!r}" if action is not None else "event has no action")


def _alarm_request(name: Any, state: Any, settings: Settings) -> Request:
    region = settings.alarm_regions.get(name)
    if region is None:
        raise RejectedEvent(f"alarm {name!r} is not in DR_ALARM_REGIONS")
    if state not in ("ALARM", "OK", "INSUFFICIENT_DATA"):
        raise RejectedEvent(f"alarm state {state!r} is not a CloudWatch alarm state")
    return Request("alarm", alarm_region=region, alarm_state=state, reason=f"alarm {name}")


class Orchestrator:
    """One invocation's worth of work; `clock`, `prober` and `session` are seams for tests and drills."""

    def __init__(self, settings: Settings, session: Optional[boto3.Session] = None,
                 clock: Callable[[], float] = time.time,
                 prober: Optional[Callable[[Mapping[str, str]], dict[str, bool]]] = None) -> None:
        self.settings = settings
        self.session = session or boto3.Session()
        self.clock = clock
        self.prober = prober or (lambda urls: probe_all(urls, settings.probe_timeout_seconds))
        self.store = ControlStore(settings, self.client("dynamodb", settings.home_region))

    def client(self, service: str, region: str):
        return self.session.client(service, region_name=region, config=FAST)

    # -- entry -------------------------------------------------------------------------------
    def handle(self, request: Request) -> Result:
        state, extras = self.store.read()
        if state.pending and self.store.acquire_lease(state.epoch, self.clock(), LEASE_SECONDS):
            state = self.complete_pending(state)
        if request.action == "status":
            return Result("noop", state.active_region, state.epoch, "pending: " + ", ".join(state.pending) if state.pending else "status")
        if request.action == "monitor":
            return self.monitor(state, extras)
        if request.action == "alarm":
            probes = self.prober({r: u for r, u in self.settings.health_urls.items() if r != state.active_region})
            decision = decisions.decide_alarm(self.settings, state, request.alarm_region, request.alarm_state, probes, self.clock())
            return self.apply(state, extras, decision, force=False)
        target_healthy = self.prober({request.target: self.settings.health_urls[request.target]})[request.target]
        decision = decisions.decide_manual(self.settings, state, request.target, target_healthy, request.force)
        if decision.kind == "transition":
            decision = Decision("transition", request.target, request.reason)
        return self.apply(state, extras, decision, force=request.force)

    def monitor(self, state: ControlState, extras: dict) -> Result:
        now = self.clock()
        probes = self.prober(dict(self.settings.health_urls))
        observed = decisions.observe(state, probes, now)
        lag = self.measure_lags(state.active_region) if self.settings.rpo_seconds is not None else None
        if not self.store.save_observation(observed, lag, now):
            fresh, _ = self.store.read()
            return Result("noop", fresh.active_region, fresh.epoch, "another invocation changed the state meanwhile")
        if lag:
            extras = {"lag": lag, "lagObservedAt": now}
        decision = decisions.decide_monitor(self.settings, observed, probes, now)
        return self.apply(observed, extras, decision, force=False, live_lag=lag)

    # -- the transition ---------------------------------------------------------------------
    def apply(self, state: ControlState, extras: dict, decision: Decision, force: bool,
              live_lag: Optional[dict[str, float]] = None) -> Result:
        """`live_lag`: readings this invocation already took (the monitor's), so they are not taken twice."""
        if decision.kind != "transition":
            return Result(decision.kind, state.active_region, state.epoch, decision.reason)
        target = decision.target
        lag = self.lag_for(state.active_region, target, extras, live_lag)
        refusal = decisions.lag_gate(self.settings.rpo_seconds, lag, force)
        if refusal:
            return Result("refused", state.active_region, state.epoch, refusal)
        now = self.clock()
        steps = [f"ssm:{r}" for r in self.settings.regions] + ["scale", "notify", "audit"]
        if not self.store.transition(state, target, decision.reason, now, steps, LEASE_SECONDS):
            fresh, _ = self.store.read()
            return Result("noop", fresh.active_region, fresh.epoch, "another orchestrator transitioned first (stale epoch)")
        moved = ControlState(active_region=target, epoch=state.epoch + 1, last_transition_at=now,
                             pending=tuple(sorted(steps)), previous_region=state.active_region, reason=decision.reason)
        logger.info("transitioned", extra={"from": state.active_region, "to": target, "epoch": moved.epoch})
        done = self.complete_pending(moved)
        note = f"; still pending: {', '.join(done.pending)}" if done.pending else ""
        return Result("transitioned", target, moved.epoch, decision.reason + note)

    def complete_pending(self, state: ControlState) -> ControlState:
        """Do each step still pending for this epoch (the caller holds the lease), then release it;
        steps that fail stay pending for the next invocation."""
        try:
            return self._complete_steps(state)
        finally:
            self.store.release_lease(state.epoch)

    def _complete_steps(self, state: ControlState) -> ControlState:
        remaining = []
        for step in sorted(state.pending, key=_step_order):
            try:
                finished = self._do_step(state, step)
            except AWS_ERRORS as exc:
                logger.warning("step failed; left pending", extra={"step": step, "error": str(exc)})
                finished = False
            if not finished:
                remaining.append(step)
        return ControlState(**{**state.__dict__, "pending": tuple(remaining)})

    def _do_step(self, state: ControlState, step: str) -> bool:
        s, epoch = self.settings, state.epoch
        if step.startswith("ssm:"):
            region = step.split(":", 1)[1]
            self.client("ssm", region).put_parameter(Name=s.parameter_name, Value=state.active_region,
                                                     Type="String", Overwrite=True)
            self.store.finish_step(epoch, step)
            return True
        if step == "scale":
            ref = s.services.get(state.active_region)
            if ref:
                self.client("ecs", state.active_region).update_service(
                    cluster=ref.cluster, service=ref.service, desiredCount=ref.desired_count)
            self.store.finish_step(epoch, step)
            return True
        if step == "notify":
            # Claim first: a message is sent at most once per epoch, even with concurrent completers.
            if not self.store.finish_step(epoch, step):
                return True
            body = json.dumps({"app": s.app, "previousRegion": state.previous_region, "activeRegion": state.active_region,
                               "epoch": epoch, "reason": state.reason})
            for region, arn in sorted(s.topic_arns.items()):
                try:
                    self.client("sns", region).publish(TopicArn=arn, Subject=f"[{s.app}] writes moved to {state.active_region}",
                                                       Message=body)
                except AWS_ERRORS as exc:
                    logger.warning("topic did not answer", extra={"region": region, "error": str(exc)})
            return True
        if step == "audit":
            self.store.put_audit(epoch, {"from": state.previous_region or "-", "to": state.active_region,
                                         "reason": state.reason or "-", "at": repr(self.clock())})
            self.store.finish_step(epoch, step)
            return True
        self.store.finish_step(epoch, step)  # a step this version does not know: drop it
        return True

    # -- replication lag --------------------------------------------------------------------
    def measure_lags(self, source: str) -> Optional[dict[str, float]]:
        """Max ReplicationLatency (s) over 5 minutes from `source` to each other region, where known."""
        if not self.settings.data_table:
            return None
        now = self.clock()
        lags = {}
        cw = self.client("cloudwatch", source)
        for region in self.settings.regions:
            if region == source:
                continue
            try:
                data = cw.get_metric_data(
                    MetricDataQueries=[{"Id": "lag", "ReturnData": True, "MetricStat": {
                        "Metric": {"Namespace": "AWS/DynamoDB", "MetricName": "ReplicationLatency",
                                   "Dimensions": [{"Name": "TableName", "Value": self.settings.data_table},
                                                  {"Name": "ReceivingRegion", "Value": region}]},
                        "Period": 60, "Stat": "Maximum"}}],
                    StartTime=now - 300, EndTime=now + 60)
            except AWS_ERRORS:
                continue
            values = data["MetricDataResults"][0].get("Values", []) if data.get("MetricDataResults") else []
            if values:
                lags[region] = max(values) / 1000.0
        return lags

    def lag_for(self, source: str, target: str, extras: dict,
                live: Optional[dict[str, float]] = None) -> Optional[float]:
        """Live lag if the source answers, else the monitor's last reading if recent enough."""
        if self.settings.rpo_seconds is None:
            return None
        if live is None:
            live = self.measure_lags(source) or {}
        if target in live:
            return live[target]
        if self.clock() - extras.get("lagObservedAt", 0) <= LAG_MEMORY_SECONDS:
            return extras.get("lag", {}).get(target)
        return None


def _step_order(step: str) -> tuple[int, str]:
    order = {"ssm": 0, "scale": 1, "notify": 2, "audit": 3}
    return order.get(step.split(":")[0], 9), step


def handler(event: Any, context: Any = None) -> dict:
    """Lambda entry point. Never raises for a bad event (Lambda would retry it): it is `rejected`."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        logger.error("bad configuration", extra={"error": str(exc)})
        return {"outcome": "rejected", "activeRegion": None, "epoch": None, "reason": str(exc)}
    try:
        request = parse_event(event, settings)
    except RejectedEvent as exc:
        logger.warning("rejected event", extra={"error": str(exc)})
        return {"outcome": "rejected", "activeRegion": None, "epoch": None, "reason": str(exc)}
    result = Orchestrator(settings).handle(request)
    logger.info("outcome", extra=result.to_dict())
    return result.to_dict()
