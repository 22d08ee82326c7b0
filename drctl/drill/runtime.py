"""The runtime (`failover/`) as the stack deploys it, in the drill: each orchestrator invocation is the runtime's own
Orchestrator, built from the `DR_*` variables the stack would set, with the runtime's timers divided by the time
scale and the drill's fault injection right after the fenced write.

Only the runtime's public seams are used, with fallbacks for runtimes that lack one: the self-test runs the drill
against edited copies of `failover/`, and a drill that breaks on an older runtime proves nothing about it.
"""

from __future__ import annotations

import inspect
import json
import math
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from drctl.drill.invocations import inject
from drctl.drill.timescale import TimeScale
from failover import client as runtime_client
from failover import orchestrator as orch
from failover import settings as names

if TYPE_CHECKING:
    from drctl.drill.world import DrillWorld

APP = "orders"
TABLE = "orders-drill"
CONTROL_TABLE = "orders-drill-dr-control"
PARAMETER = "/orders/drill/active_region"


def alarm_name(region: str) -> str:
    return f"{APP}-drill-health-{region}"


def environment(world: DrillWorld, region: str) -> dict[str, str]:
    """The DR_* variables the stack sets for `region`'s orchestrator, with the drill's (scaled) timers."""
    s, ref = world.scale, world.scale.reference
    env = {
        names.APP: APP,
        names.REGIONS: ",".join(world.regions),
        names.HOME_REGION: region,
        names.CONTROL_TABLE: CONTROL_TABLE,
        names.ACTIVE_REGION_PARAMETER: PARAMETER,
        names.HEALTH_URLS: json.dumps({r: world.app_urls[(region, r)] + "/health" for r in world.regions}),
        names.ALARM_REGIONS: json.dumps({alarm_name(r): r for r in world.regions}),
        names.SCALE_TARGETS: json.dumps({r: {"kind": "none"} for r in world.regions}),
        names.TOPIC_ARNS: json.dumps(world.topics),
        names.DATA_TABLE: TABLE,
        names.FAILURE_THRESHOLD: str(ref.failure_threshold),
        names.RECOVERY_THRESHOLD: str(ref.recovery_threshold),
        names.MIN_DWELL_SECONDS: f"{s.min_dwell:g}",
        names.FAILBACK: "manual",
        names.AUTOMATIC_FAILOVER: "true",
        names.PROBE_INTERVAL_SECONDS: f"{s.probe_interval:g}",
        names.PROBE_TIMEOUT_SECONDS: f"{s.probe_timeout:g}",
        names.MONITOR_WINDOW_SECONDS: f"{s.monitor_window:g}",
    }
    if world.mode == "eventual":
        whole = not hasattr(names, "LEASE_SECONDS")  # older runtimes read whole seconds only
        env[names.RPO_SECONDS] = str(math.ceil(s.rpo_objective)) if whole else f"{s.rpo_objective:g}"
        env[names.REPLICATION] = "streams"
    if hasattr(names, "CONTROL_REGIONS"):
        env[names.CONTROL_REGIONS] = ",".join(world.control_regions)
        env[names.LEASE_SECONDS] = f"{s.client_cache:g}"
    return env


def settings(world: DrillWorld, region: str):
    return names.load_settings(environment(world, region))


def orchestrator(world: DrillWorld, region: str, sleep: Callable[[float], None]) -> Any:
    """A fresh invocation in `region` (the runtime's Orchestrator, with the drill's injection when armed)."""
    base = orch.Orchestrator
    if hasattr(base, "after_fenced_write"):

        class Drilled(base):  # type: ignore[misc, valid-type]
            def after_fenced_write(self, state):
                inject(world.injection, self.settings.home_region, state)
                return super().after_fenced_write(state)
    else:

        class Drilled(base):  # type: ignore[misc, valid-type, no-redef]
            """Older runtimes start the pending steps right after the fenced write."""

            _transitioning = False

            def apply(self, *a, **k):
                self._transitioning = True
                try:
                    return super().apply(*a, **k)
                finally:
                    self._transitioning = False

            def complete_pending(self, state):
                if self._transitioning:
                    inject(world.injection, self.settings.home_region, state)
                return super().complete_pending(state)

    s = world.scale
    wanted = {
        "session": world.sessions[region],
        "clock": _clock(world.options.skew.get(region, 0.0)),
        "sleep": sleep,
        "deadline": orch.Deadline(s.function_timeout - s.safety_margin),
        "endpoints": {},
        "timing": scaled_timing(s),
    }
    return Drilled(settings(world, region), **_kwargs_for(base.__init__, wanted))


def invoker(world: DrillWorld, region: str, sleep: Callable[[float], None]) -> Callable[[dict], dict]:
    """What the Lambda service does with an event for `region`'s orchestrator: parse it, then a fresh invocation."""

    def invoke(event: dict) -> dict:
        try:
            request = orch.parse_event(event, settings(world, region))
        except orch.RejectedEvent as exc:
            return {"outcome": "rejected", "activeRegion": None, "epoch": None, "reason": str(exc)}
        return orchestrator(world, region, sleep).handle(request).to_dict()

    return invoke


def _clock(skew: float) -> Callable[[], float]:
    return (lambda: time.time() + skew) if skew else time.time


def _kwargs_for(callable_: Any, wanted: dict) -> dict:
    accepted = inspect.signature(callable_).parameters
    return {k: v for k, v in wanted.items() if k in accepted}


def scale_runtime_constants(scale: TimeScale, restore: ExitStack) -> None:
    """Runtimes without a timing seam keep their deadlines in module constants: scale them for this process
    (restored when `restore` closes)."""
    values = {
        "LEASE_SECONDS": scale.lease,
        "CALL_TIMEOUT_SECONDS": scale.call_timeout,
        "CONNECT_TIMEOUT_SECONDS": scale.connect_timeout,
        "SAFETY_MARGIN_SECONDS": scale.safety_margin,
        "DEFAULT_BUDGET_SECONDS": scale.function_timeout,
    }
    if hasattr(orch, "Timing"):
        return
    for name, value in values.items():
        if hasattr(orch, name):
            restore.callback(setattr, orch, name, getattr(orch, name))
            setattr(orch, name, value)
    fast = getattr(runtime_client, "FAST", None)
    if fast is not None:
        restore.callback(setattr, runtime_client, "FAST", fast)
        runtime_client.FAST = fast.merge(Config(connect_timeout=scale.connect_timeout, read_timeout=scale.call_timeout))


def scaled_timing(scale: TimeScale) -> Any:
    timing = getattr(orch, "Timing", None)
    if timing is None:
        return None
    return timing().scaled(scale.factor)


def initial_projection(primary: str) -> str:
    """What the stack writes into the active-region parameter on creation (the runtime says, where it can)."""
    try:
        from failover.projection import initial_value
    except ImportError:
        return primary
    return initial_value(primary)
