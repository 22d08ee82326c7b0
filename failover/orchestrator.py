"""The failover orchestrator: `handler(event, context)` is the Lambda entry point.

A transition: probe the target -> replication-lag gate -> conditional epoch bump -> SSM parameter in
every region -> scale the target's site -> one SNS message per topic -> audit record. Everything after
the epoch bump is a pending step in the control item, so a crash is completed by the next invocation
instead of leaving a half-done failover.

Time: every remote call has a deadline taken from the invocation's remaining time, and calls to
different regions run concurrently, so a region that accepts connections and never answers costs one
timeout and delays nothing else; its step stays pending.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any, Callable, Literal, Mapping, Optional

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from failover import decisions
from failover.decisions import ControlState, Decision, LagReading, Observation
from failover.probe import probe_all
from failover.scaling import EcsScaler, KubernetesScaler, NoopScaler, Scaler, scaler_for
from failover.settings import Settings, SettingsError, load_settings
from failover.store import MAX_REASON_CHARS, BadControlState, ControlStore, clean_text

try:  # the Powertools layer in Lambda; plain logging where it is absent
    from aws_lambda_powertools import Logger

    # No service= argument: Powertools then takes it from POWERTOOLS_SERVICE_NAME, which the stack sets.
    logger = Logger()
except ImportError:  # pragma: no cover - exercised only without the layer
    import logging
    import os

    logger = logging.getLogger(os.environ.get("POWERTOOLS_SERVICE_NAME", "dr-orchestrator"))

AWS_ERRORS = (BotoCoreError, ClientError)
LAG_MEMORY_SECONDS = 600
# Longer than one completion pass (every step is one call bounded by CALL_TIMEOUT_SECONDS, all concurrent), so a
# live holder keeps it; short, so a holder that crashed right after the epoch bump delays the remaining steps
# by at most this much before the next invocation (the monitor runs every probe interval) completes them. Steps
# are idempotent, so a slow holder overlapping the next one repeats nothing harmful.
LEASE_SECONDS = 20
# One remote call never waits longer than this, whatever time is left (a healthy region answers in well
# under a second; a hung one must not hold a step for long).
CALL_TIMEOUT_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 1.0
# Kept back from the invocation's remaining time for recording the outcome.
SAFETY_MARGIN_SECONDS = 1.5
DEFAULT_BUDGET_SECONDS = 60.0
Outcome = Literal["transitioned", "noop", "refused", "rejected", "error"]


@dataclass
class Result:
    outcome: Outcome
    active_region: Optional[str]
    epoch: Optional[int]
    reason: str

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "activeRegion": self.active_region, "epoch": self.epoch, "reason": self.reason}


class RejectedEvent(ValueError):
    """The event is not one the orchestrator understands; nothing is changed."""


@dataclass(frozen=True)
class Request:
    action: Literal["failover", "status", "monitor", "alarm"]
    target: Optional[str] = None
    reason: str = ""
    force: bool = False
    alarm_region: Optional[str] = None
    alarm_state: Optional[str] = None


class Deadline:
    """Time left in this invocation, read from a monotonic clock."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self.ends_at = monotonic() + seconds

    @classmethod
    def from_context(cls, context: Any) -> "Deadline":
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        seconds = remaining() / 1000.0 if callable(remaining) else DEFAULT_BUDGET_SECONDS
        return cls(max(0.0, seconds - SAFETY_MARGIN_SECONDS))

    def remaining(self) -> float:
        return max(0.0, self.ends_at - self.monotonic())

    def call_timeout(self, cap: float = CALL_TIMEOUT_SECONDS) -> float:
        return max(0.05, min(cap, self.remaining()))


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


def _alarm_request(name: Any, state: Any, settings: Settings) -> Request:
    region = settings.alarm_regions.get(name) if isinstance(name, str) else None
    if region is None:
        raise RejectedEvent(f"alarm {clean_text(name, 120)!r} is not in DR_ALARM_REGIONS")
    if state not in ("ALARM", "OK", "INSUFFICIENT_DATA"):
        raise RejectedEvent(f"alarm state {clean_text(state, 40)!r} is not a CloudWatch alarm state")
    return Request("alarm", alarm_region=region, alarm_state=state, reason=f"alarm {name}")


def run_concurrently(tasks: Mapping[str, Callable[[], Any]], timeout: float) -> dict[str, Any]:
    """Run every task in its own thread; return name -> result, or the exception it raised, or
    TimeoutError when it did not finish in `timeout` seconds (it is then abandoned, not waited for)."""
    if not tasks:
        return {}
    pool = ThreadPoolExecutor(max_workers=len(tasks))
    try:
        futures = {name: pool.submit(fn) for name, fn in tasks.items()}
        wait(futures.values(), timeout=timeout)
        out: dict[str, Any] = {}
        for name, future in futures.items():
            if not future.done():
                out[name] = TimeoutError(f"no answer within {timeout:.1f}s")
            elif future.exception() is not None:
                out[name] = future.exception()
            else:
                out[name] = future.result()
        return out
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


class Orchestrator:
    """One invocation's worth of work.

    Seams for tests and drills: `clock` (wall time for the control item), `sleep`, `prober`,
    `session`, `endpoints` (region -> endpoint URL), `scalers` (kind -> Scaler) and `control_region`
    (read the control table in that region instead of the home region's replica: a test or drill that
    emulates the global control table with a single table)."""

    def __init__(self, settings: Settings, session: Optional[boto3.Session] = None,
                 clock: Callable[[], float] = time.time,
                 prober: Optional[Callable[[Mapping[str, str]], dict[str, bool]]] = None,
                 deadline: Optional[Deadline] = None,
                 sleep: Callable[[float], None] = time.sleep,
                 endpoints: Optional[Mapping[str, str]] = None,
                 scalers: Optional[Mapping[str, Scaler]] = None,
                 control_region: Optional[str] = None) -> None:
        self.settings = settings
        self.session = session or boto3.Session()
        self.clock = clock
        self.sleep = sleep
        self.deadline = deadline or Deadline(DEFAULT_BUDGET_SECONDS)
        self.prober = prober or (lambda urls: probe_all(urls, settings.probe_timeout_seconds))
        self.endpoints = dict(endpoints or {})
        self._clients: dict[tuple, Any] = {}
        self.scalers: dict[str, Scaler] = {"ecs": EcsScaler(self.client), "none": NoopScaler(),
                                           "kubernetes": KubernetesScaler(self.client, settings.home_region)}
        self.scalers.update(scalers or {})
        self.store = ControlStore(settings, self.client("dynamodb", control_region or settings.home_region,
                                                        CALL_TIMEOUT_SECONDS))

    def client(self, service: str, region: str, timeout: float = CALL_TIMEOUT_SECONDS):
        """A boto3 client whose one attempt gives up after `timeout` seconds (rounded up to 0.5 s)."""
        bucket = max(0.5, round(timeout * 2 + 0.49) / 2)
        key = (service, region, bucket)
        if key not in self._clients:
            config = Config(connect_timeout=min(CONNECT_TIMEOUT_SECONDS, bucket), read_timeout=bucket,
                            retries={"total_max_attempts": 1, "mode": "standard"})
            self._clients[key] = self.session.client(service, region_name=region, config=config,
                                                     endpoint_url=self.endpoints.get(region))
        return self._clients[key]

    # -- entry -------------------------------------------------------------------------------
    def handle(self, request: Request) -> Result:
        try:
            return self._handle(request)
        except BadControlState as exc:
            logger.error("DR control state is invalid; no automatic action is possible", extra={"error": str(exc)})
            return Result("error", None, None, f"bad control state: {exc}")
        except AWS_ERRORS as exc:
            logger.error("DR control table unavailable", extra={"error": str(exc)})
            return Result("error", None, None, f"control table {self.settings.control_table} in "
                                               f"{self.settings.home_region} is unavailable: {clean_text(exc, 300)}")

    def _handle(self, request: Request) -> Result:
        if request.action == "monitor":
            return self.monitor()
        state = self._complete_if_pending(self.store.read())
        if request.action == "status":
            pending = ", ".join(state.pending)
            return Result("noop", state.active_region, state.epoch, "pending: " + pending if pending else "status")
        if request.action == "alarm":
            urls = {r: u for r, u in self.settings.health_urls.items() if r != state.active_region}
            probes, lag = self._probe_and_measure(urls, state.active_region, measure=request.alarm_state == "ALARM")
            decision = decisions.decide_alarm(self.settings, state, request.alarm_region, request.alarm_state,
                                              probes, self.clock())
            return self.apply(state, decision, force=False, live_lag=lag)
        urls = {request.target: self.settings.health_urls[request.target]}
        probes, lag = self._probe_and_measure(urls, state.active_region, measure=not request.force)
        decision = decisions.decide_manual(self.settings, state, request.target, probes[request.target], request.force)
        if decision.kind == "transition":
            decision = Decision("transition", request.target, request.reason)
        return self.apply(state, decision, force=request.force, live_lag=lag)

    def _probe_and_measure(self, urls: Mapping[str, str], source: str, measure: bool,
                           extra: Optional[Mapping[str, Callable[[], Any]]] = None
                           ) -> tuple[dict[str, bool], Optional[dict[str, LagReading]]]:
        """Probe `urls` and (when the lag gate is on) read replication lag from `source` concurrently, so
        a hung source region costs one call timeout while the probes run; `extra` tasks run alongside."""
        tasks: dict[str, Callable[[], Any]] = {"probes": lambda: self.prober(dict(urls))}
        if measure and self.settings.rpo_seconds is not None:
            tasks["lag"] = lambda: self.measure_lag(source)
        tasks.update(extra or {})
        done = run_concurrently(tasks, timeout=self.settings.probe_timeout_seconds + CALL_TIMEOUT_SECONDS + 0.5)
        probes = done["probes"]
        if isinstance(probes, BaseException):  # the prober itself failed: count every region as unproven
            logger.warning("probes failed", extra={"error": str(probes)})
            probes = {r: False for r in urls}
        lag = done.get("lag")
        if isinstance(lag, BaseException):
            logger.warning("lag not measurable in the source region", extra={"region": source, "error": str(lag)})
        return probes, (lag if isinstance(lag, dict) else None)

    def _complete_if_pending(self, state: ControlState) -> ControlState:
        if state.pending and self.store.acquire_lease(state.epoch, self.clock(), LEASE_SECONDS):
            return self.complete_pending(state)
        return state

    # -- the monitor ---------------------------------------------------------------------------
    def monitor(self) -> Result:
        """Probe every region every `probe_interval_seconds` for the window this invocation owns.

        The invocation claims this observer's record first, so an older invocation still looping stops
        at its next save. Returns after a transition, at the end of the window, or when time runs short."""
        s = self.settings
        home, owner = s.home_region, uuid.uuid4().hex
        self.store.claim_observer(home, owner)
        own, memory = self.store.read_observations().get(home, (Observation(home), {}))
        started = self.clock()
        lag: Optional[dict[str, LagReading]] = None
        result: Optional[Result] = None
        rounds = 0
        while True:
            round_start = self.clock()
            state = self._complete_if_pending(self.store.read())
            first = rounds == 0
            repair = {"repair": lambda: self.repair_projection(state)} if first and not state.pending else None
            probes, lag_now = self._probe_and_measure(s.health_urls, state.active_region, measure=first, extra=repair)
            if lag_now is not None:  # a fresh reading replaces the memory; otherwise the memory is kept
                lag = lag_now
                memory = {t: (r.lag_seconds, r.writes_seen, round_start) for t, r in lag_now.items()}
            own = decisions.observe(own, probes, round_start, state.epoch, max_gap=2.5 * s.probe_interval_seconds)
            others = [o for region, (o, _) in self.store.read_observations().items() if region != home]
            if not self.store.save_observation(own, owner, memory):
                return Result("noop", state.active_region, state.epoch, "a newer monitor invocation took over")
            rounds += 1
            decision = decisions.decide_monitor(s, state, own, others, probes, round_start)
            if decision.kind == "transition":
                return self.apply(state, decision, force=False, live_lag=lag)
            result = Result(decision.kind, state.active_region, state.epoch, f"{decision.reason} ({rounds} rounds)")
            next_round = round_start + s.probe_interval_seconds
            if next_round >= started + s.monitor_window_seconds:
                break
            if self.deadline.remaining() < s.probe_interval_seconds + s.probe_timeout_seconds + CALL_TIMEOUT_SECONDS:
                break
            self.sleep(max(0.0, next_round - self.clock()))
        return result

    def repair_projection(self, state: ControlState) -> None:
        """Re-write any region's SSM value that disagrees with the control item: a region that was down
        during a transition, or a write that landed late. Each region concurrently, within its deadline; the
        authority is read again just before writing, so a transition made meanwhile is never undone."""
        s, timeout = self.settings, self.deadline.call_timeout()

        def check(region: str) -> Callable[[], None]:
            def run() -> None:
                ssm = self.client("ssm", region, timeout)
                if ssm.get_parameter(Name=s.parameter_name)["Parameter"]["Value"] == state.active_region:
                    return
                current = self.store.read()
                if current.epoch == state.epoch and not current.pending:
                    ssm.put_parameter(Name=s.parameter_name, Value=state.active_region, Type="String", Overwrite=True)
                    logger.warning("repaired the active-region projection", extra={"region": region})
            return run

        for region, outcome in run_concurrently({r: check(r) for r in s.regions}, 3 * timeout + 0.5).items():
            if isinstance(outcome, BaseException):
                logger.warning("projection not checked", extra={"region": region, "error": str(outcome)})

    # -- the transition ---------------------------------------------------------------------
    def apply(self, state: ControlState, decision: Decision, force: bool,
              live_lag: Optional[dict[str, LagReading]] = None) -> Result:
        """`live_lag`: readings this invocation already took (the monitor's), so they are not taken twice."""
        if decision.kind != "transition":
            return Result(decision.kind, state.active_region, state.epoch, decision.reason)
        target = decision.target
        refusal = decisions.lag_gate(self.settings.rpo_seconds, self.lag_for(state.active_region, target, live_lag),
                                     force)
        if refusal:
            return Result("refused", state.active_region, state.epoch, refusal)
        now = self.clock()
        steps = [f"ssm:{r}" for r in self.settings.regions] + ["scale", "notify", "audit"]
        if not self.store.transition(state, target, decision.reason, now, steps, LEASE_SECONDS):
            fresh = self.store.read()
            return Result("noop", fresh.active_region, fresh.epoch,
                          "another orchestrator transitioned first (stale epoch)")
        moved = ControlState(active_region=target, epoch=state.epoch + 1, last_transition_at=now,
                             pending=tuple(sorted(steps)), previous_region=state.active_region,
                             reason=clean_text(decision.reason))
        logger.info("transitioned", extra={"from": state.active_region, "to": target, "epoch": moved.epoch})
        done = self.complete_pending(moved)
        note = f"; still pending: {', '.join(done.pending)}" if done.pending else ""
        return Result("transitioned", target, moved.epoch, moved.reason + note)

    def complete_pending(self, state: ControlState) -> ControlState:
        """Do every step still pending for this epoch concurrently (the caller holds the lease), the
        target's first, then release the lease; a step that fails or runs out of time stays pending."""
        try:
            order = sorted(state.pending, key=lambda step: _step_order(step, state.active_region))
            timeout = self.deadline.call_timeout()
            outcomes = run_concurrently({step: (lambda step=step: self._do_step(state, step, timeout))
                                         for step in order}, timeout=2 * timeout + 0.5)
            remaining = []
            for step in order:
                outcome = outcomes[step]
                if isinstance(outcome, BaseException) or outcome is False:
                    logger.warning("step left pending", extra={"step": step, "error": str(outcome)})
                    remaining.append(step)
            return replace(state, pending=tuple(remaining))
        finally:
            try:
                self.store.release_lease(state.epoch)
            except AWS_ERRORS as exc:  # the lease then simply expires
                logger.warning("lease not released", extra={"error": str(exc)})

    def _do_step(self, state: ControlState, step: str, timeout: float) -> bool:
        s, epoch = self.settings, state.epoch
        if step.startswith("ssm:"):
            region = step.split(":", 1)[1]
            self.client("ssm", region, timeout).put_parameter(Name=s.parameter_name, Value=state.active_region,
                                                              Type="String", Overwrite=True)
        elif step == "scale":
            target = s.scale_targets.get(state.active_region)
            scaler = scaler_for(target, self.scalers)
            if scaler is not None:
                scaler.scale_up(target, state.active_region, timeout)
        elif step == "notify":
            # Claim first: a message is sent at most once per epoch, even with concurrent completers.
            if self.store.finish_step(epoch, step):
                self._notify(state, timeout)
            return True
        elif step == "audit":
            self.store.put_audit(epoch, {"from": state.previous_region or "-", "to": state.active_region,
                                         "reason": state.reason or "-", "at": repr(self.clock())})
        self.store.finish_step(epoch, step)  # a step this version does not know is dropped too
        return True

    def _notify(self, state: ControlState, timeout: float) -> None:
        s = self.settings
        body = json.dumps({"app": s.app, "previousRegion": state.previous_region, "activeRegion": state.active_region,
                           "epoch": state.epoch, "reason": clean_text(state.reason, MAX_REASON_CHARS)})
        subject = f"[{s.app}] writes moved to {state.active_region}"[:99]

        def publish(region: str, arn: str) -> Callable[[], Any]:
            return lambda: self.client("sns", region, timeout).publish(TopicArn=arn, Subject=subject, Message=body)

        outcomes = run_concurrently({r: publish(r, a) for r, a in sorted(s.topic_arns.items())}, timeout + 0.5)
        for region, outcome in outcomes.items():
            if isinstance(outcome, BaseException):
                logger.warning("topic did not answer", extra={"region": region, "error": str(outcome)})

    # -- replication lag --------------------------------------------------------------------
    def measure_lag(self, source: str) -> dict[str, LagReading]:
        """Replication lag from `source` towards every other region, over the last 5 minutes.

        Global table: in one call to the source region's CloudWatch, DynamoDB's ReplicationLatency towards each
        region and whether the table took any write. Streams: each receiving region's own copy of the
        replicator's lag metric (so it is readable while the source is down), concurrently, plus the source's
        writes when the source answers (unknown otherwise)."""
        s = self.settings
        if not s.data_table:
            return {}
        if s.replication == "streams":
            return self._measure_replicator_lag(source)
        now = self.clock()
        others = [r for r in s.regions if r != source]
        queries = [self._metric_query(f"lag{i}", {"Namespace": "AWS/DynamoDB", "MetricName": "ReplicationLatency",
                                                  "Dimensions": [self._table_dimension(),
                                                                 {"Name": "ReceivingRegion", "Value": region}]},
                                      "Maximum") for i, region in enumerate(others)]
        queries.append(self._writes_query())
        data = self.client("cloudwatch", source, self.deadline.call_timeout()).get_metric_data(
            MetricDataQueries=queries, StartTime=now - 300, EndTime=now + 60)
        values = {r["Id"]: r.get("Values", []) for r in data.get("MetricDataResults", [])}
        writes_seen = _any_write(values.get("writes", []))
        return {region: LagReading(max(values[f"lag{i}"]) / 1000.0 if values.get(f"lag{i}") else None, writes_seen)
                for i, region in enumerate(others)}

    def _measure_replicator_lag(self, source: str) -> dict[str, LagReading]:
        from failover.replication import lag_metric

        s, now, timeout = self.settings, self.clock(), self.deadline.call_timeout()

        def read(region: str, queries: list[dict]) -> Callable[[], dict]:
            return lambda: {r["Id"]: r.get("Values", []) for r in self.client("cloudwatch", region, timeout)
                            .get_metric_data(MetricDataQueries=queries, StartTime=now - 300, EndTime=now + 60)
                            .get("MetricDataResults", [])}

        others = [r for r in s.regions if r != source]
        tasks = {r: read(r, [self._metric_query("lag", lag_metric(s.data_table, source), "Maximum")]) for r in others}
        tasks["writes"] = read(source, [self._writes_query()])
        done = run_concurrently(tasks, timeout + 0.5)
        writes = done["writes"]
        writes_seen = None if isinstance(writes, BaseException) else _any_write(writes.get("writes", []))
        out = {}
        for region in others:
            got = done[region]
            if isinstance(got, BaseException):
                continue  # that region's reading is unknown; the memory or the gate decides
            values = got.get("lag", [])
            out[region] = LagReading(max(values) / 1000.0 if values else None, writes_seen, source="replicator")
        return out

    def _table_dimension(self) -> dict:
        return {"Name": "TableName", "Value": self.settings.data_table}

    @staticmethod
    def _metric_query(query_id: str, metric: dict, stat: str) -> dict:
        return {"Id": query_id, "ReturnData": True, "MetricStat": {"Metric": metric, "Period": 60, "Stat": stat}}

    def _writes_query(self) -> dict:
        return self._metric_query("writes", {"Namespace": "AWS/DynamoDB", "MetricName": "ConsumedWriteCapacityUnits",
                                             "Dimensions": [self._table_dimension()]}, "Sum")

    def lag_for(self, source: str, target: str, live: Optional[dict[str, LagReading]] = None) -> Optional[LagReading]:
        """This invocation's reading if the source answered, else the freshest reading any observer recorded
        within LAG_MEMORY_SECONDS (the monitor records one every minute), else None (unknown)."""
        if self.settings.rpo_seconds is None:
            return None
        if live and target in live:
            return live[target]
        remembered = [lag[target] for _, lag in self.store.read_observations().values() if target in lag]
        fresh = [r for r in remembered if self.clock() - r[2] <= LAG_MEMORY_SECONDS]
        if not fresh:
            return None
        seconds, writes, _ = max(fresh, key=lambda r: r[2])
        return LagReading(seconds, writes, source="memory")


def _any_write(write_units: list[float]) -> bool:
    return any(v > 0 for v in write_units)


def _step_order(step: str, target: str) -> tuple[int, str]:
    """The target's projection and scale-up first, then the other regions, then notices and audit."""
    if step == f"ssm:{target}":
        return 0, step
    order = {"scale": 1, "ssm": 2, "notify": 3, "audit": 4}
    return order.get(step.split(":")[0], 9), step


def _handle(event: Any, context: Any) -> dict:
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
    result = Orchestrator(settings, deadline=Deadline.from_context(context)).handle(request)
    logger.info("outcome", extra=result.to_dict())
    return result.to_dict()


def _with_lambda_context(fn: Callable[[Any, Any], dict]) -> Callable[[Any, Any], dict]:
    """Powertools' context injection (request id, cold start in every log line) when running in Lambda."""
    inject = getattr(logger, "inject_lambda_context", None)
    return inject(log_event=False)(fn) if inject else fn


_handle_in_lambda = _with_lambda_context(_handle)


def handler(event: Any, context: Any = None) -> dict:
    """Lambda entry point. Never raises for a bad event or bad state (Lambda would retry it).
    Without a Lambda context (a drill, a test, an operator script) the budget is 60 s."""
    if context is None:
        return _handle(event, None)
    return _handle_in_lambda(event, context)
