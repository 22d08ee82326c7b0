"""The runtime's side of the drill, running: one orchestrator per region invoked on its schedule (and by alarms and
operators), the faults injected into an invocation right after its fenced write, the authority sampled straight
from moto, and the notices the topics delivered. Each loop is bounded and stops when its `stop` event is set."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from drctl.drill.actors import pause
from drctl.drill.history import Invocation, Notice, Transition
from failover.decisions import ControlState
from failover.store import BadControlState, parse_control_item


class InvocationStopped(Exception):
    """The region an invocation runs in went down (or the drill ended): the invocation stops."""


@dataclass
class Injection:
    """Armed once: the next invocation that makes a fenced transition crashes (`crash`) or pauses for `pause`
    seconds (then carries on) right after its fenced write, before anything else."""

    kind: str
    pause: float = 0.0
    armed: bool = False
    hits: list[tuple[float, str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        with self._lock:
            armed, self.armed = self.armed, False
            return armed


class SimulatedCrash(Exception):
    """The drill kills an invocation right after its fenced write (a Lambda crash or time-out)."""


def inject(injection: Injection | None, region: str, state: Any) -> None:
    """Called right after an invocation's fenced write: crash or pause it when the injection is armed."""
    if injection is None or not injection.take():
        return
    injection.hits.append((time.time(), region, getattr(state, "epoch", -1)))
    if injection.kind == "crash":
        raise SimulatedCrash(f"crashed after the fenced write of epoch {getattr(state, 'epoch', '?')}")
    time.sleep(injection.pause)  # paused (a frozen sandbox), then carries on as if nothing happened


class MonitorFleet:
    """One orchestrator per region, invoked on a schedule like the stack's EventBridge rule (optionally delivered
    twice, as EventBridge may), each invocation a fresh object; invocations overlap at handovers as in production.
    A region that is down runs no invocation, and a running one stops at its next sleep."""

    def __init__(
        self,
        regions: Sequence[str],
        build: Callable[[str, Callable[[float], None]], Any],
        alive: Callable[[str], bool],
        period: float,
        stop: threading.Event,
    ) -> None:
        self.regions = list(regions)
        self.build = build
        self.alive = alive
        self.period = period
        self.stop = stop
        self.duplicates = 1
        self.duplicate_delay = 0.0
        """Each further copy of a scheduled invocation arrives this much after the previous one."""
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.enabled = threading.Event()
        self.enabled.set()

    def start(self, first_at: float, spread: float) -> None:
        """Each region's first invocation at `first_at`, offset from the others within `spread` seconds."""
        for i, region in enumerate(self.regions):
            offset = spread * i / len(self.regions)
            thread = threading.Thread(
                target=self._schedule, args=(region, first_at + offset), daemon=True, name=f"schedule-{region}"
            )
            self._threads.append(thread)
            thread.start()

    def sleeper(self, region: str) -> Callable[[float], None]:
        def sleep(seconds: float) -> None:
            end = time.monotonic() + seconds
            while True:
                if self.stop.is_set() or not self.alive(region):
                    raise InvocationStopped(region)
                left = end - time.monotonic()
                if left <= 0:
                    return
                time.sleep(min(0.02, left))

        return sleep

    def _schedule(self, region: str, first: float) -> None:
        at = first
        while not pause(self.stop, at):
            if self.alive(region) and self.enabled.is_set():
                for copy in range(self.duplicates):
                    timer = threading.Timer(
                        copy * self.duplicate_delay, self.invoke, args=(region, {"action": "monitor"})
                    )
                    timer.daemon = True
                    timer.start()
            at += self.period

    def invoke(self, region: str, event: dict) -> dict | None:
        action = str(event.get("action") or ("alarm" if "Records" in event else "?"))
        try:
            result = self.build(region, self.sleeper(region))(event)
        except InvocationStopped:
            self._note(region, action, "stopped", None, None, "its region went down or the drill ended")
            return None
        except SimulatedCrash as exc:
            self._note(region, action, "crashed", None, None, str(exc))
            return None
        self._note(
            region,
            action,
            result.get("outcome", "?"),
            result.get("activeRegion"),
            result.get("epoch"),
            result.get("reason", ""),
        )
        return result

    def _note(self, region: str, action: str, outcome: str, active: str | None, epoch: int | None, reason: str) -> None:
        with self._lock:
            self.invocations.append(Invocation(time.time(), region, action, outcome, active, epoch, reason))

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)


class AuthoritySampler:
    """Reads the authority every `period` seconds straight from moto: which region takes writes, each epoch bump.
    With an eventually consistent control table it reads every replica: a transition first seen in any replica
    counts, and replicas that disagree on an epoch show up as separate transitions."""

    def __init__(
        self,
        read: Callable[[], dict[str, dict | None]],
        regions: Sequence[str],
        key: str,
        stop: threading.Event,
        period: float,
    ) -> None:
        self.read_replicas = read
        self.regions = tuple(regions)
        self.key = key
        self.stop = stop
        self.period = period
        self.samples: list[tuple[float, str, int]] = []
        self.transitions: list[Transition] = []
        self._seen: set[tuple[int, str]] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def state(self, item: dict | None) -> ControlState:
        if not item:
            return ControlState(active_region=self.regions[0])
        return parse_control_item(item, self.regions)

    def current(self) -> ControlState:
        """The authority now (eventual: the highest epoch any replica holds)."""
        states = [self.state(item) for item in self.read_replicas().values()]
        return max(states, key=lambda s: s.epoch)

    def _run(self) -> None:
        while not self.stop.is_set():
            now = time.time()
            try:
                replicas = self.read_replicas()
                states = {name: self.state(item) for name, item in replicas.items()}
            except (BadControlState, Exception):
                states = {}
            with self._lock:
                for name, state in states.items():
                    if (state.epoch, state.active_region) not in self._seen and state.epoch > 0:
                        self._seen.add((state.epoch, state.active_region))
                        at = state.last_transition_at or now
                        self.transitions.append(
                            Transition(
                                min(at, now),
                                state.epoch,
                                state.previous_region,
                                state.active_region,
                                None if name == "-" else name,
                            )
                        )
                if states:
                    best = max(states.values(), key=lambda s: s.epoch)
                    self.samples.append((now, best.active_region, best.epoch))
            if pause(self.stop, now + self.period):
                break

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def read_notices(receive: Callable[[], list[dict]], region: str) -> list[Notice]:
    """The transition notices a region's topic delivered (through its SQS subscription)."""
    out = []
    for body in receive():
        try:
            doc = json.loads(body["Body"])
        except (KeyError, ValueError):
            continue
        out.append(Notice(region, doc.get("epoch"), doc.get("activeRegion"), doc.get("previousRegion")))
    return out
