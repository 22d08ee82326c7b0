"""One time scale: the drill runs a production stack's timers divided by one factor.

The reference is a stack file (prod by default) read through the same config model the program uses, so the
drill measures the settings that deploy. Every duration the world uses — the runtime's settings and its module
constants (call deadlines, the step lease), Route 53's request interval and checker limits, the alarm period,
the DNS TTL, the applications' cache — is the production value divided by `factor`; measured figures are
multiplied back and judged against the production budget (`components.budget.compute_budget` of the same
config), so a constant left unscaled shows up as a miss instead of hiding in a looser budget.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from components.budget import (
    ACCELERATOR_HEALTH_INTERVAL_SECONDS,
    ACCELERATOR_HEALTH_TIMEOUT_SECONDS,
    ACCELERATOR_HEALTHY_THRESHOLD,
    ACCELERATOR_PROPAGATION_SECONDS,
    ACCELERATOR_UNHEALTHY_THRESHOLD,
    CHECKER_CONNECT_SECONDS,
    CHECKER_RESPONSE_SECONDS,
    HEALTH_METRIC_PERIOD_SECONDS,
    Budget,
    BudgetInputs,
    budget_inputs_from_config,
    compute_budget,
)

Mode = Literal["strong", "eventual"]
DEFAULT_FACTOR = 10.0
EVENTUAL_RPO_SECONDS = 15
"""Eventual mode drills the reference stack with its table eventually consistent and this RPO objective. The drill's
replication (the real replicator, fed by pollers in the drill's one process on a shared machine) lags more than
DynamoDB's does: spikes of about a second scaled (ten in production seconds) are common, which a 5 s objective's
lag gate would rightly refuse."""
SCHEDULE_SECONDS = 60.0
"""EventBridge invokes each monitor every minute (`components.orchestrator.MONITOR_SCHEDULE`)."""
HEALTH_CHECKERS = 3
"""Route 53 runs about fifteen checkers per health check; three keep the drill light and still exercise the
18% rule (one of three healthy keeps an endpoint healthy)."""


@dataclass(frozen=True)
class Reference:
    """Production seconds, read from the reference stack and the runtime's own constants."""

    stack: str
    mode: Mode
    regions: tuple[str, ...]
    probe_interval: float
    probe_timeout: float
    failure_threshold: int
    recovery_threshold: int
    min_dwell: float
    monitor_window: float
    schedule: float
    function_timeout: float
    health_interval: float
    health_threshold: int
    checker_connect: float
    checker_response: float
    dns_ttl: float
    client_cache: float
    rpo_objective: float
    rto_objective: float
    alarm_periods: int
    alarm_period: float
    lease: float
    call_timeout: float
    connect_timeout: float
    safety_margin: float
    budget_inputs: BudgetInputs
    accelerator_interval: float = float(ACCELERATOR_HEALTH_INTERVAL_SECONDS)
    """Global Accelerator's entries (dr:traffic.mode accelerator): the NLB's check interval, timeout and threshold
    (the same both ways), and the edge's propagation delay."""
    accelerator_timeout: float = float(ACCELERATOR_HEALTH_TIMEOUT_SECONDS)
    accelerator_threshold: int = ACCELERATOR_HEALTHY_THRESHOLD
    accelerator_propagation: float = float(ACCELERATOR_PROPAGATION_SECONDS)

    @property
    def budget(self) -> Budget:
        return compute_budget(self.budget_inputs)


@dataclass(frozen=True)
class TimeScale:
    """Every drill duration is `reference / factor`."""

    reference: Reference
    factor: float = DEFAULT_FACTOR

    def __getattr__(self, name: str) -> float:
        value = getattr(self.reference, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or name.endswith(("threshold", "periods")):
            raise AttributeError(name)
        return value / self.factor

    def to_production(self, seconds: float | None) -> float | None:
        return None if seconds is None else seconds * self.factor

    def to_json(self) -> dict:
        ref = asdict(self.reference)
        ref.pop("budget_inputs")
        out = {
            "factor": self.factor,
            "referenceStack": ref.pop("stack"),
            "mode": ref.pop("mode"),
            "regions": list(ref.pop("regions")),
            "timers": {},
        }
        for name, value in ref.items():
            key = _camel(name)
            if name.endswith(("threshold", "periods")):
                out["timers"][key] = value
            else:
                out["timers"][key] = {"production": value, "drill": round(value / self.factor, 4)}
        return out


def with_accelerator(scale: TimeScale) -> TimeScale:
    """The same scale, its budget the reference stack's with dr:traffic.mode accelerator (the drill's one-threshold
    entry model needs the healthy and unhealthy thresholds equal, as the stack declares them)."""
    assert ACCELERATOR_HEALTHY_THRESHOLD == ACCELERATOR_UNHEALTHY_THRESHOLD
    inputs = replace(scale.reference.budget_inputs, traffic_mode="accelerator")
    return replace(scale, reference=replace(scale.reference, budget_inputs=inputs))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def runtime_constants() -> dict[str, float]:
    """The runtime's own production constants the drill scales (read from the runtime, not copied)."""
    from failover import orchestrator

    timing = getattr(orchestrator, "Timing", None)
    if timing is not None:  # the runtime declares its timers in one object
        t = timing()
        return {
            "lease": t.lease_seconds,
            "call_timeout": t.call_timeout_seconds,
            "connect_timeout": t.connect_timeout_seconds,
            "safety_margin": t.safety_margin_seconds,
        }
    legacy = vars(orchestrator)  # an older runtime, without Timing, kept its timers in module constants
    return {
        "lease": legacy["LEASE_SECONDS"],
        "call_timeout": legacy["CALL_TIMEOUT_SECONDS"],
        "connect_timeout": legacy["CONNECT_TIMEOUT_SECONDS"],
        "safety_margin": legacy["SAFETY_MARGIN_SECONDS"],
    }


def load_reference(mode: Mode, stack: str = "prod", stack_file: Path | None = None) -> Reference:
    """The reference stack's validated config, with the table's consistency set by `mode` (eventual mode: a table
    per region replicated by the streams replicator, and an RPO objective of EVENTUAL_RPO_SECONDS)."""
    from components.config import decode_engine_config, parse_stack_config
    from components.orchestrator import FUNCTION_TIMEOUT_SECONDS, MONITOR_WINDOW_SECONDS
    from drctl.preview import PROJECT_DIR
    from drctl.stackfile import load_stack_config

    raw, secret = decode_engine_config(*load_stack_config(PROJECT_DIR, stack, stack_file))
    if mode == "eventual":
        raw = {
            **raw,
            "table": {
                **raw["table"],
                "consistency": "eventual",
                "replication": "streams",
                "streamViewType": "NEW_AND_OLD_IMAGES",
            },
            "objectives": {**raw["objectives"], "rpoSeconds": EVENTUAL_RPO_SECONDS},
        }
    else:
        raw = {**raw, "table": {**raw["table"], "consistency": "strong"}}
    cfg = parse_stack_config(raw, secret)
    inputs = budget_inputs_from_config(cfg)
    if inputs.scale_up_seconds:  # the drill's sites are hot: nothing to scale (said in the report)
        inputs = replace(inputs, scale_up_seconds=0)
    f = cfg.failover
    constants = runtime_constants()
    return Reference(
        stack=stack,
        mode=mode,
        regions=tuple(cfg.regions.all),
        probe_interval=float(f.probe_interval_seconds),
        probe_timeout=float(f.probe_timeout_seconds),
        failure_threshold=f.failure_threshold,
        recovery_threshold=f.recovery_threshold,
        min_dwell=float(f.min_dwell_seconds),
        monitor_window=float(MONITOR_WINDOW_SECONDS),
        schedule=SCHEDULE_SECONDS,
        function_timeout=float(FUNCTION_TIMEOUT_SECONDS),
        health_interval=float(cfg.health_check.interval),
        health_threshold=cfg.health_check.failure_threshold,
        checker_connect=float(CHECKER_CONNECT_SECONDS),
        checker_response=float(CHECKER_RESPONSE_SECONDS),
        dns_ttl=float(cfg.dns_ttl),
        client_cache=float(f.client_cache_seconds),
        rpo_objective=float(cfg.objectives.rpo_seconds),
        rto_objective=float(cfg.objectives.rto_seconds),
        alarm_periods=f.alarm_evaluation_periods,
        alarm_period=float(HEALTH_METRIC_PERIOD_SECONDS),
        lease=float(constants["lease"]),
        call_timeout=float(constants["call_timeout"]),
        connect_timeout=float(constants["connect_timeout"]),
        safety_margin=float(constants["safety_margin"]),
        budget_inputs=inputs,
    )
