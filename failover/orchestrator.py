"""The failover orchestrator: `handler(event, context)` is the Lambda entry point.

A transition: a quorum of observers (or an operator) decides -> the target is probed healthy -> the replication-lag
gate -> the epoch bump, which names the target with phase `demoting` (nobody may write: the old region's
applications stop at their next confirmation and their permission runs out within the client lease) -> the target
is scaled up meanwhile -> after the settle time, the activation (conditional on the transition's nonce) lets the
target's applications write -> the projection `{region, epoch}` in every region -> one notice per topic -> an audit
record. Everything after the epoch bump is a pending step in the control item, completed by the next invocation if
this one dies; a newer transition never waits for an older one's steps. This module decides (the monitor loop, the
alarm and operator paths); `failover.transition` carries a decision out.

Every monitor round, each orchestrator also repairs its own region's projection from the authority, whatever is
pending elsewhere, and re-reads the authority after writing, so a late write of an older epoch does not stay.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.config import Config

from failover import decisions, projection
from failover.calls import Deadline, run_concurrently
from failover.decisions import Alarm, ControlState, Decision, LagReading, Observation
from failover.events import RejectedEvent, Request, parse_event
from failover.lag import LagMeter, MemoryEntry, to_memory
from failover.logs import logger
from failover.metrics import publish_outcome
from failover.probe import probe_all
from failover.scaling import EcsScaler, KubernetesScaler, NoopScaler, Scaler
from failover.settings import Settings, SettingsError, load_settings
from failover.store import BadControlState, ControlStore, clean_text
from failover.timing import PRODUCTION, Timing
from failover.transition import AWS_ERRORS, Outcome, Result, Transitions

__all__ = [
    "Deadline",
    "Orchestrator",
    "Outcome",
    "RejectedEvent",
    "Request",
    "Result",
    "Timing",
    "handler",
    "parse_event",
    "run_concurrently",
]


class Orchestrator(Transitions):
    """One invocation's worth of work.

    Seams for tests and drills: `clock` (wall time for the control item), `monotonic` and `sleep` (waits), `prober`,
    `session`, `endpoints` (region -> endpoint URL), `scalers` (kind -> Scaler), `timing` (the runtime's own timers),
    and `after_fenced_write` (called right after this invocation's epoch bump)."""

    def __init__(
        self,
        settings: Settings,
        session: boto3.Session | None = None,
        clock: Callable[[], float] = time.time,
        prober: Callable[[Mapping[str, str]], dict[str, bool]] | None = None,
        deadline: Deadline | None = None,
        sleep: Callable[[float], None] = time.sleep,
        endpoints: Mapping[str, str] | None = None,
        scalers: Mapping[str, Scaler] | None = None,
        timing: Timing | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.timing = timing or PRODUCTION
        self.session = session or boto3.Session()
        self.clock = clock
        self.sleep = sleep
        self.monotonic = monotonic
        self.deadline = deadline or Deadline(self.timing.default_budget_seconds, timing=self.timing)
        self.prober = prober or (lambda urls: probe_all(urls, settings.probe_timeout_seconds))
        self.endpoints = dict(endpoints or {})
        self._clients: dict[tuple, Any] = {}
        self.scalers: dict[str, Scaler] = {
            "ecs": EcsScaler(self.client),
            "none": NoopScaler(),
            "kubernetes": KubernetesScaler(self.client, settings.home_region),
        }
        self.scalers.update(scalers or {})
        self.store = ControlStore(settings, [self.client("dynamodb", r) for r in settings.control_order])
        self.lag = LagMeter(
            settings,
            lambda service, region: self.client(service, region, self.deadline.call_timeout()),
            clock,
            self.timing,
            run_concurrently,
        )

    def client(self, service: str, region: str, timeout: float | None = None):
        """A boto3 client whose one attempt gives up after `timeout` seconds (the per-call deadline by default)."""
        t = self.timing.call_timeout_seconds if timeout is None else timeout
        key = (service, region, round(t, 2))
        if key not in self._clients:
            config = Config(
                connect_timeout=min(self.timing.connect_timeout_seconds, t),
                read_timeout=t,
                retries={"total_max_attempts": 1, "mode": "standard"},
            )
            self._clients[key] = self.session.client(
                service, region_name=region, config=config, endpoint_url=self.endpoints.get(region)
            )
        return self._clients[key]

    # -- entry ------------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Result:
        try:
            return self._handle(request)
        except BadControlState as exc:
            logger.error("DR control state is invalid; no automatic action is possible", extra={"error": str(exc)})
            return Result("error", None, None, f"bad control state: {exc}")
        except AWS_ERRORS as exc:
            logger.error("DR control table unavailable", extra={"error": str(exc)})
            return Result(
                "error",
                None,
                None,
                f"control table {self.settings.control_table} unavailable from "
                f"{self.settings.home_region} (no quorum, or no answer): "
                f"{clean_text(exc, 300)}",
            )

    def _handle(self, request: Request) -> Result:
        if request.action == "monitor":
            return self.monitor()
        state = self.complete_if_pending(self.store.read())
        if request.action == "status" or self.settings.observer_only:
            pending = ", ".join(state.pending)
            note = f"{state.phase}" + (f"; pending: {pending}" if pending else "")
            return Result("noop", state.active_region, state.epoch, f"status: {note}")
        if request.action == "alarm":
            return self.on_alarm(request, state)
        return self.on_manual(request, state)

    # -- the monitor ------------------------------------------------------------------------------------------
    def monitor(self) -> Result:
        """Probe every region every `probe_interval_seconds` for the window this invocation owns.

        The invocation claims this observer's record first, so an older invocation still looping stops at its next
        save. Returns after a transition, at the end of the window, or when time runs short."""
        s = self.settings
        home, owner = s.home_region, uuid.uuid4().hex
        own = Observation(home)
        memory: dict[str, MemoryEntry] = {}
        claimed = False
        started = self.clock()
        lag: dict[str, LagReading] | None = None
        result = Result("noop", None, None, "no round completed")
        rounds = failed = 0
        while True:
            round_start = self.clock()
            try:
                if not claimed:  # take over this observer's record (an older invocation stops at its next save)
                    self.store.claim_observer(home, owner)
                    own, memory = self.store.read_observations().get(home, (own, memory))
                    claimed = True
                state = self.store.read()
                if not s.observer_only:
                    state = self.complete_if_pending(state)
                extra = {} if s.observer_only else {"repair": lambda state=state: self.repair_projection(state)}
                probes, lag_now = self._probe_and_measure(
                    s.health_urls, state.active_region, measure=rounds == 0, extra=extra
                )
                if lag_now is not None:  # a fresh reading replaces the memory; otherwise the memory is kept
                    lag, memory = lag_now, to_memory(lag_now, round_start)
                own = decisions.observe(own, probes, round_start, state.epoch, s.probe_interval_seconds)
                if not self.store.save_observation(own, owner, memory):
                    return Result("noop", state.active_region, state.epoch, "a newer monitor invocation took over")
                rounds += 1
                if not s.observer_only:
                    observations = [own] + [o for r, (o, _) in self.store.read_observations().items() if r != home]
                    decision = decisions.decide_monitor(s, state, observations, self.clock())
                    if decision.kind == "transition":
                        return self.apply(state, decision, force=False, live_lag=lag)
                    result = Result(
                        decision.kind, state.active_region, state.epoch, f"{decision.reason} ({rounds} rounds)"
                    )
                else:
                    result = Result("noop", state.active_region, state.epoch, f"observed ({rounds} rounds)")
            except AWS_ERRORS as exc:
                # One round lost (a call that did not answer in time, or no quorum from here): the next round tries
                # again; an invocation whose every round fails reports the error.
                failed += 1
                logger.warning(
                    "monitor round failed", extra={"region": home, "error": str(exc), "failedRounds": failed}
                )
                if rounds == 0:
                    result = Result(
                        "error",
                        None,
                        None,
                        f"control table {s.control_table} unavailable from "
                        f"{s.home_region} (no quorum, or no answer) for {failed} "
                        f"rounds: {clean_text(exc, 300)}",
                    )
            next_round = round_start + s.probe_interval_seconds
            if next_round >= started + s.monitor_window_seconds:
                break
            if self.deadline.remaining() < (
                s.probe_interval_seconds + s.probe_timeout_seconds + self.timing.call_timeout_seconds
            ):
                break
            self.sleep(max(0.0, next_round - self.clock()))
        return result

    def _probe_and_measure(
        self, urls: Mapping[str, str], source: str, measure: bool, extra: Mapping[str, Callable[[], Any]] | None = None
    ) -> tuple[dict[str, bool], dict[str, LagReading] | None]:
        """Probe `urls` (each probe with its own deadline) and, when the lag gate is on, read replication lag from
        `source`, concurrently; `extra` tasks run alongside. A task that fails or overruns decides nothing else."""
        tasks: dict[str, Callable[[], Any]] = {"probes": lambda: self.prober(dict(urls))}
        if measure and self.settings.rpo_seconds is not None:
            tasks["lag"] = lambda: self.lag.measure(source)
        tasks.update(extra or {})
        done = run_concurrently(
            tasks, timeout=self.settings.probe_timeout_seconds + 2 * self.timing.call_timeout_seconds + 0.5
        )
        probes = done["probes"]
        if isinstance(probes, BaseException):  # the prober itself failed: every region unproven this round
            logger.warning("probes failed", extra={"error": str(probes)})
            probes = dict.fromkeys(urls, False)
        for name in ("lag", "repair"):
            if isinstance(done.get(name), BaseException):
                logger.warning(f"{name} not done this round", extra={"error": str(done[name])})
        lag = done.get("lag")
        return probes, (lag if isinstance(lag, dict) else None)

    def repair_projection(self, state: ControlState) -> None:
        """Make this region's projection name the authority (activated states only), then read the authority again
        and repeat once if it moved meanwhile: a late write of an older epoch does not outlive the next round."""
        if state.phase != "active":
            return
        ssm = self.client("ssm", self.settings.home_region, self.deadline.call_timeout())
        name = self.settings.parameter_name
        for _attempt in range(2):
            current = projection.parse(ssm.get_parameter(Name=name)["Parameter"]["Value"])
            if current == projection.Projection(state.epoch, state.active_region):
                return
            ssm.put_parameter(
                Name=name, Value=projection.render(state.active_region, state.epoch), Type="String", Overwrite=True
            )
            logger.warning(
                "repaired the active-region projection",
                extra={"region": self.settings.home_region, "was": str(current), "epoch": state.epoch},
            )
            fresh = self.store.read()
            if fresh.phase != "active" or (fresh.epoch, fresh.active_region) == (state.epoch, state.active_region):
                return
            state = fresh

    # -- alarms and operators ---------------------------------------------------------------------------------
    def on_alarm(self, request: Request, state: ControlState) -> Result:
        s = self.settings
        alarm = Alarm(request.alarm_region or "", request.alarm_old_state, request.alarm_state or "", request.alarm_at)
        now = self.clock()
        gate = decisions.alarm_gate(s, state, alarm, self.timing.alarm_max_age_seconds, now)
        if gate is not None:
            return self.apply(state, gate, force=False)
        probes, lag = self._probe_and_measure(s.health_urls, state.active_region, measure=True)
        stored = self.store.read_observations()
        own, _ = stored.get(s.home_region, (Observation(s.home_region), {}))
        mine = decisions.observe(own, probes, now, state.epoch, s.probe_interval_seconds)
        observations = [mine] + [o for r, (o, _) in stored.items() if r != s.home_region]
        decision = decisions.decide_alarm(
            s, state, alarm, observations, s.home_region, self.timing.alarm_max_age_seconds, self.clock()
        )
        return self.apply(state, decision, force=False, live_lag=lag)

    def on_manual(self, request: Request, state: ControlState) -> Result:
        target = request.target or self.settings.home
        probes, lag = self._probe_and_measure(
            {target: self.settings.health_urls[target]}, state.active_region, measure=not request.force
        )
        decision = decisions.decide_manual(self.settings, state, target, probes.get(target, False), request.force)
        if decision.kind == "transition":
            decision = Decision("transition", target, request.reason)
        return self.apply(state, decision, force=request.force, live_lag=lag)


def _handle(event: Any, context: Any) -> dict:
    """The invocation's outcome, and its metrics flushed once (`failover.metrics`), whatever the path."""
    regions: tuple[str, ...] = ()
    try:
        settings = load_settings()
        regions = settings.regions
        out = _outcome(event, context, settings)
    except SettingsError as exc:
        logger.error("bad configuration", extra={"error": str(exc)})
        out = {"outcome": "rejected", "activeRegion": None, "epoch": None, "reason": str(exc)}
    except Exception as exc:  # a defect: Lambda reports it; the Errors metric (and its alarm) counts it too
        publish_outcome({"outcome": "error", "activeRegion": None, "epoch": None, "reason": repr(exc)}, regions)
        raise
    publish_outcome(out, regions)
    return out


def _outcome(event: Any, context: Any, settings: Settings) -> dict:
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
