"""The drill's timers, the budget for them (components/budget.py), and the verdict on measured figures.

A figure fails when it exceeds its budget by more than 20%, or when a budgeted figure was never reached
(writes or traffic never came back within the scenario). A scenario also fails when it makes more (or
fewer) transitions than it should, and in strong mode when an acknowledged write is lost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, Optional, Sequence

from components.budget import TRANSITION_ALLOWANCE_SECONDS, Budget, BudgetInputs, write_trigger

TOLERANCE = 0.2
"""A measured figure may exceed its budget by this fraction before the drill fails."""

ScenarioKind = Literal["primary-fails", "flapping", "standby-fails", "orchestrator-crash", "failback"]
FIGURE_LABELS = {
    "detectionSeconds": "detection (Route 53)",
    "monitorDetectionSeconds": "detection (monitor, to the epoch bump)",
    "writeRtoSeconds": "write RTO",
    "trafficRtoSeconds": "traffic RTO",
    "rpoSeconds": "RPO",
}


@dataclass(frozen=True)
class DrillTimers:
    """Production's timers divided by ten, set through the runtime's settings and seams.

    The probe interval is the runtime's minimum (1 s); the probe timeout stays at half of it. Route 53's
    checker limits (4 s connect, 2 s response) and the budget's 5 s transition allowance are not scaled:
    they are constants of Route 53 and of the budget, so the drill keeps them as they are."""

    probe_interval_seconds: float = 1.0
    """DR_PROBE_INTERVAL_SECONDS (prod 10)."""
    probe_timeout_seconds: float = 0.5
    """DR_PROBE_TIMEOUT_SECONDS (prod 3)."""
    failure_threshold: int = 3
    recovery_threshold: int = 3
    min_dwell_seconds: int = 30
    """DR_MIN_DWELL_SECONDS (prod 300)."""
    monitor_window_seconds: float = 7.5
    """DR_MONITOR_WINDOW_SECONDS (prod 75)."""
    schedule_seconds: float = 6.0
    """How often each region's monitor is invoked (prod: every minute)."""
    invocation_seconds: float = 10.0
    """The invocation's deadline (prod: the function's 100 s timeout)."""
    lease_seconds: float = 15.0
    """The orchestrator's step lease (prod 150 s, longer than the function's timeout)."""
    health_interval_seconds: int = 1
    """Route 53 request interval (prod 10)."""
    health_failure_threshold: int = 3
    health_checkers: int = 3
    """Route 53 checkers per health check, their requests spread over the interval."""
    dns_ttl_seconds: int = 6
    """The failover records' TTL (prod: 60 s for an alias to an ALB)."""
    client_cache_seconds: float = 0.5
    """DR_CACHE_SECONDS, how long applications cache the active region (prod 5)."""
    rpo_objective_seconds: int = 2
    """Eventual mode: DR_RPO_SECONDS, the replication-lag gate (strong mode has no gate and RPO 0)."""
    rto_objective_seconds: int = 12
    """The RTO objective the budget is compared with (prod 120)."""

    def to_json(self) -> dict:
        return {_camel(k): v for k, v in asdict(self).items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def budget_inputs(timers: DrillTimers, regions: Sequence[str], strong: bool) -> BudgetInputs:
    """The budget's inputs for the drill: an orchestrator in every region, no alarm path (the drill's
    monitors are the only trigger), hot standbys (nothing to scale)."""
    return BudgetInputs(
        regions=tuple(regions), orchestrator_regions=tuple(regions),
        health_interval_seconds=timers.health_interval_seconds,
        health_failure_threshold=timers.health_failure_threshold,
        dns_ttl_seconds=timers.dns_ttl_seconds, alarm_evaluation_periods=0,
        probe_interval_seconds=timers.probe_interval_seconds, probe_timeout_seconds=timers.probe_timeout_seconds,
        monitor_failure_threshold=timers.failure_threshold, client_cache_seconds=timers.client_cache_seconds,
        strong_consistency=strong, rpo_gate_seconds=timers.rpo_objective_seconds, automatic_failover=True,
        objective_rto_seconds=timers.rto_objective_seconds,
        objective_rpo_seconds=0 if strong else timers.rpo_objective_seconds, scale_up_seconds=0,
    )


def scenario_budget(kind: ScenarioKind, budget: Budget, inputs: BudgetInputs, timers: DrillTimers,
                    failed: Optional[str] = None) -> dict[str, Optional[float]]:
    """The budget of each figure a scenario measures; None where the scenario does not budget it.

    - the active region fails: Route 53 detection, the monitor path to the epoch bump, write and traffic RTO,
      RPO, all straight from the budget;
    - the orchestrator crashes after the epoch bump: the steps wait for the crashed holder's lease, so the
      write RTO gets the lease on top;
    - a standby fails: its health check's detection; writes and traffic must not move (no RTO);
    - flapping: only the RPO;
    - failback, an operator's action: writes take the transition allowance and the client cache (no
      detection); traffic then follows writes (the budget's `traffic_follows_writes_seconds` less its detection).
    """
    monitor, _ = write_trigger(inputs, failed or inputs.regions[0])
    rpo = float(budget.rpo_seconds)
    if kind == "primary-fails":
        return {"detectionSeconds": budget.detection_seconds, "monitorDetectionSeconds": monitor,
                "writeRtoSeconds": budget.write_rto_seconds, "trafficRtoSeconds": budget.traffic_rto_seconds,
                "rpoSeconds": rpo}
    if kind == "orchestrator-crash":
        return {"detectionSeconds": budget.detection_seconds, "monitorDetectionSeconds": monitor,
                "writeRtoSeconds": budget.write_rto_seconds + timers.lease_seconds,
                "trafficRtoSeconds": budget.traffic_rto_seconds, "rpoSeconds": rpo}
    if kind == "standby-fails":
        return {"detectionSeconds": budget.detection_seconds, "monitorDetectionSeconds": None,
                "writeRtoSeconds": None, "trafficRtoSeconds": None, "rpoSeconds": rpo}
    if kind == "flapping":
        return {"detectionSeconds": None, "monitorDetectionSeconds": None, "writeRtoSeconds": None,
                "trafficRtoSeconds": None, "rpoSeconds": rpo}
    if kind == "failback":
        manual_write = TRANSITION_ALLOWANCE_SECONDS + inputs.client_cache_seconds
        traffic = budget.traffic_follows_writes_seconds - budget.write_rto_seconds + manual_write
        return {"detectionSeconds": None, "monitorDetectionSeconds": None, "writeRtoSeconds": manual_write,
                "trafficRtoSeconds": traffic, "rpoSeconds": rpo}
    raise ValueError(f"unknown scenario kind {kind!r}")


@dataclass(frozen=True)
class Figure:
    name: str
    measured: Optional[float]
    """None: never reached within the scenario (or not measured where nothing is budgeted)."""
    budget: Optional[float]
    """None: shown for information, not judged."""

    @property
    def ratio(self) -> Optional[float]:
        if self.measured is None or self.budget is None or self.budget <= 0:
            return None
        return self.measured / self.budget

    def failure(self, tolerance: float = TOLERANCE) -> Optional[str]:
        label = FIGURE_LABELS.get(self.name, self.name)
        if self.budget is None:
            return None
        if self.measured is None:
            return f"{label} was not reached within the scenario (budget {self.budget:g}s)"
        if self.measured > self.budget * (1 + tolerance) + 1e-9:
            return (f"{label} {self.measured:.2f}s exceeds its budget of {self.budget:g}s "
                    f"by more than {tolerance:.0%}")
        return None

    def to_json(self, tolerance: float = TOLERANCE) -> dict:
        ratio = self.ratio
        return {"measured": None if self.measured is None else round(self.measured, 3), "budget": self.budget,
                "ratio": None if ratio is None else round(ratio, 3), "ok": self.failure(tolerance) is None}


@dataclass(frozen=True)
class ScenarioResult:
    """What one scenario measured, and what it should have done."""

    name: str
    kind: ScenarioKind
    figures: tuple[Figure, ...]
    transitions: int
    transitions_allowed: tuple[int, int]
    """(fewest, most) transitions the scenario should make."""
    acknowledged: int
    lost: int
    strong: bool
    problems: tuple[str, ...] = ()
    """Anything else that makes the scenario fail (e.g. the crash was never injected)."""
    notes: tuple[str, ...] = ()
    details: dict = field(default_factory=dict)

    def figure(self, name: str) -> Figure:
        return next(f for f in self.figures if f.name == name)


def scenario_failures(result: ScenarioResult, tolerance: float = TOLERANCE) -> list[str]:
    """Every reason the scenario fails, as sentences (empty: it passed)."""
    out = [message for f in result.figures if (message := f.failure(tolerance))]
    fewest, most = result.transitions_allowed
    if result.transitions > most:
        out.append(f"made {result.transitions} transitions; at most {most} allowed")
    elif result.transitions < fewest:
        out.append(f"made {result.transitions} transitions; {fewest} expected")
    if result.strong and result.lost:
        out.append(f"lost {result.lost} acknowledged writes in strong mode (RPO must be 0)")
    out.extend(result.problems)
    return out


def exit_code(results: Sequence[ScenarioResult], tolerance: float = TOLERANCE) -> int:
    """1 when any scenario fails, else 0."""
    return 1 if any(scenario_failures(r, tolerance) for r in results) else 0
