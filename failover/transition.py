"""A transition, once decided: the replication-lag gate, the epoch bump that names the target with phase `demoting`
(nobody may write: the old region's applications stop at their next confirmation and their permission runs out
within the client lease), the target scaled up meanwhile, after the settle time the activation (conditional on the
transition's nonce) that lets the target's applications write, then the projection `{region, epoch}` in every
region, one notice per topic and an audit record. Everything after the epoch bump is a pending step in the control
item, completed by the next invocation if this one dies; a newer transition never waits for an older one's steps.

`Transitions` is this half of `failover.orchestrator.Orchestrator`: it works with the orchestrator's settings,
store, clocks, deadline, clients and scalers, declared below.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from failover import decisions, projection
from failover.calls import Deadline, run_concurrently
from failover.decisions import ControlState, Decision, LagReading
from failover.lag import LagMeter, MemoryEntry, remembered
from failover.logs import logger
from failover.scaling import Scaler, scaler_for
from failover.settings import Settings
from failover.store import MAX_REASON_CHARS, STEPS, ControlStore, clean_text
from failover.timing import Timing

AWS_ERRORS = (BotoCoreError, ClientError)
Outcome = Literal["transitioned", "noop", "refused", "rejected", "error"]


@dataclass
class Result:
    outcome: Outcome
    active_region: str | None
    epoch: int | None
    reason: str

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "activeRegion": self.active_region, "epoch": self.epoch, "reason": self.reason}


class Transitions:
    """The transition and its pending steps, for `failover.orchestrator.Orchestrator`."""

    settings: Settings
    store: ControlStore
    timing: Timing
    deadline: Deadline
    lag: LagMeter
    scalers: dict[str, Scaler]
    clock: Callable[[], float]
    monotonic: Callable[[], float]
    sleep: Callable[[float], None]
    client: Callable[..., Any]
    """(service, region, timeout=None) -> a boto3 client with that deadline."""

    def apply(
        self, state: ControlState, decision: Decision, force: bool, live_lag: dict[str, LagReading] | None = None
    ) -> Result:
        """`live_lag`: readings this invocation already took, so they are not taken twice."""
        if decision.kind != "transition":
            return Result(decision.kind, state.active_region, state.epoch, decision.reason)
        if decision.target is None:  # every decision to transition names its target; an outcome, never "transition"
            return Result("error", state.active_region, state.epoch, "a transition decision named no target")
        s, target = self.settings, decision.target
        reading = self.lag_for(state.active_region, target, live_lag)
        refusal = decisions.lag_gate(s.rpo_seconds, reading, force)
        if refusal:
            return Result("refused", state.active_region, state.epoch, refusal)
        settle = decisions.settle_seconds(s.client_lease_seconds, s.rpo_seconds, None if force else reading)
        now, nonce = self.clock(), uuid.uuid4().hex
        lease = max(self.timing.lease_seconds, settle + 2 * self.timing.call_timeout_seconds)
        if not self.store.transition(state, target, decision.reason, now, STEPS, lease, nonce, settle):
            fresh = self.store.read()
            return Result(
                "noop", fresh.active_region, fresh.epoch, "another orchestrator transitioned first (stale epoch)"
            )
        written = self.monotonic()
        moved = ControlState(
            active_region=target,
            epoch=state.epoch + 1,
            last_transition_at=now,
            pending=STEPS,
            previous_region=state.active_region,
            reason=clean_text(decision.reason),
            phase="demoting",
            nonce=nonce,
            settle_seconds=settle,
        )
        logger.info(
            "transitioned",
            extra={"from": state.active_region, "to": target, "epoch": moved.epoch, "settleSeconds": settle},
        )
        self.after_fenced_write(moved)
        done = self.complete_pending(moved, since=written)
        note = f"; still pending: {', '.join(done.pending)}" if done.pending else ""
        return Result("transitioned", target, moved.epoch, moved.reason + note)

    def after_fenced_write(self, state: ControlState) -> None:
        """Called right after this invocation's epoch bump (a seam: a drill stops or freezes the invocation here)."""

    def complete_if_pending(self, state: ControlState) -> ControlState:
        """Complete another invocation's steps when it left some and its lease ran out."""
        if state.pending and self.store.acquire_lease(
            state.epoch, self.clock(), self.timing.lease_seconds + state.settle_seconds
        ):
            return self.complete_pending(state, since=self.monotonic())
        return state

    def complete_pending(self, state: ControlState, since: float) -> ControlState:
        """Do the steps still pending for this epoch (the caller holds the lease), then release the lease.

        The activation waits `settle_seconds` from `since`: the moment this invocation made the epoch bump, or
        first read it (a read that saw the bump came after it), so no wall clock is compared across machines. The
        target is scaled up meanwhile. A step that fails or runs out of time stays pending."""
        try:
            pending = set(state.pending)
            early = {}
            if "scale" in pending:
                early["scale"] = lambda: self._do_step(state, "scale")
            if "activate" in pending and state.phase == "demoting":
                early["activate"] = lambda: self._activate(state, since)
            outcomes = (
                run_concurrently(early, timeout=state.settle_seconds + 3 * self.timing.call_timeout_seconds + 0.5)
                if early
                else {}
            )
            if "activate" in early:
                if outcomes["activate"] is not True:
                    logger.warning("not activated", extra={"epoch": state.epoch, "error": str(outcomes["activate"])})
                    return replace(state, pending=tuple(sorted(pending)))
                state = replace(state, phase="active")
                pending.discard("activate")
            if outcomes.get("scale") is True:
                pending.discard("scale")
            later: dict[str, Callable[[], Any]] = {
                step: partial(self._do_step, state, step) for step in sorted(pending - {"activate"})
            }
            if "activate" in early:  # the projection, side by side with the rest: a hung region delays nothing
                later["projection"] = lambda: self.publish_projection(state)
            for step, outcome in run_concurrently(later, 2 * self.timing.call_timeout_seconds + 0.5).items():
                if outcome is True:
                    pending.discard(step)
                elif step != "projection":
                    logger.warning("step left pending", extra={"step": step, "error": str(outcome)})
            return replace(state, pending=tuple(sorted(pending)))
        finally:
            try:
                self.store.release_lease(state.epoch)
            except AWS_ERRORS as exc:  # the lease then simply expires
                logger.warning("lease not released", extra={"error": str(exc)})

    def _activate(self, state: ControlState, since: float) -> bool:
        wait = since + state.settle_seconds - self.monotonic()
        if wait > 0:
            self.sleep(wait)
        return self.store.activate(state.epoch, state.nonce, self.clock())

    def publish_projection(self, state: ControlState) -> None:
        """`{region, epoch}` into every region's parameter, the target's first among equals, each within its
        deadline; a region that does not answer is repaired by its own orchestrator's next round."""
        value = projection.render(state.active_region, state.epoch)
        timeout = self.deadline.call_timeout()

        def put(region: str) -> Callable[[], Any]:
            return lambda: self.client("ssm", region, timeout).put_parameter(
                Name=self.settings.parameter_name, Value=value, Type="String", Overwrite=True
            )

        order = [state.active_region] + [r for r in self.settings.regions if r != state.active_region]
        for region, outcome in run_concurrently({r: put(r) for r in order}, timeout + 0.5).items():
            if isinstance(outcome, BaseException):
                logger.warning("projection not written", extra={"region": region, "error": str(outcome)})

    def _do_step(self, state: ControlState, step: str) -> bool:
        s, epoch, timeout = self.settings, state.epoch, self.deadline.call_timeout()
        if step == "scale":
            target = s.scale_targets.get(state.active_region)
            scaler = scaler_for(target, self.scalers)
            if scaler is not None and target is not None:
                scaler.scale_up(target, state.active_region, timeout)
        elif step == "notify":
            # Claim first: a notice is sent at most once per epoch, even with concurrent completers.
            if self.store.finish_step(epoch, step):
                self._notify(state, timeout)
            return True
        elif step == "audit":
            self.store.put_audit(
                epoch,
                {
                    "from": state.previous_region or "-",
                    "to": state.active_region,
                    "reason": state.reason or "-",
                    "at": repr(self.clock()),
                },
            )
        self.store.finish_step(epoch, step)  # a step this version does not know is dropped too
        return True

    def _notify(self, state: ControlState, timeout: float) -> None:
        s = self.settings
        body = json.dumps(
            {
                "app": s.app,
                "previousRegion": state.previous_region,
                "activeRegion": state.active_region,
                "epoch": state.epoch,
                "reason": clean_text(state.reason, MAX_REASON_CHARS),
            }
        )
        subject = f"[{s.app}] writes moved to {state.active_region}"[:99]

        def publish(region: str, arn: str) -> Callable[[], Any]:
            return lambda: self.client("sns", region, timeout).publish(TopicArn=arn, Subject=subject, Message=body)

        outcomes = run_concurrently({r: publish(r, a) for r, a in sorted(s.topic_arns.items())}, timeout + 0.5)
        for region, outcome in outcomes.items():
            if isinstance(outcome, BaseException):
                logger.warning("topic did not answer", extra={"region": region, "error": str(outcome)})

    # -- replication lag --------------------------------------------------------------------------------------
    def measure_lag(self, source: str) -> dict[str, LagReading]:
        return self.lag.measure(source)

    def lag_for(self, source: str, target: str, live: dict[str, LagReading] | None = None) -> LagReading | None:
        """This invocation's reading if the source answered, else the freshest reading any observer recorded
        within the lag memory (the monitor records one every minute), else None (unknown)."""
        if self.settings.rpo_seconds is None:
            return None
        if live and target in live:
            return live[target]
        memory: dict[str, dict[str, MemoryEntry]] = {r: lag for r, (_, lag) in self.store.read_observations().items()}
        return remembered(memory, target, self.clock(), self.timing.lag_memory_seconds)
