"""The verdict on one part of a scenario: its history checked for safety, its figures against the production budget.

Safety first (any of these fails the drill, whatever the figures): two regions accepting writes at once, two
invocations each winning one epoch, contradictory notices, an application's view going back, an acknowledged write
lost in strong mode, spurious transitions. Then the figures: each measured in drill seconds, multiplied by the time
scale's factor, and compared with the production budget; more than 20% over (or never reached) fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from components.budget import TRANSITION_ALLOWANCE_SECONDS, Budget, BudgetInputs, write_trigger
from drctl.drill.history import (
    History,
    contradictory_notices,
    dual_writers,
    fencing_violations,
    first_acknowledged_write,
    first_served_every_user,
    first_status_change,
    first_transition,
    lost_write_facts,
    lost_writes,
    regressions,
    rpo_seconds,
    transitions_between,
)
from drctl.drill.timescale import TimeScale

TOLERANCE = 0.2
FIGURES = ("detectionSeconds", "decisionSeconds", "writeRtoSeconds", "trafficRtoSeconds", "rpoSeconds")
LABELS = {
    "detectionSeconds": "detection (Route 53)",
    "decisionSeconds": "decision (the fenced write)",
    "writeRtoSeconds": "write RTO",
    "trafficRtoSeconds": "traffic RTO",
    "rpoSeconds": "RPO",
}


@dataclass(frozen=True)
class Figure:
    name: str
    drill: float | None
    """Measured, in drill seconds (None: never reached, or not measured)."""
    factor: float
    budget: float | None
    """Production seconds (None: shown, not judged)."""

    @property
    def production(self) -> float | None:
        return None if self.drill is None else self.drill * self.factor

    def failure(self, tolerance: float = TOLERANCE) -> str | None:
        if self.budget is None:
            return None
        label = LABELS.get(self.name, self.name)
        if self.production is None:
            return f"{label} never reached (budget {self.budget:g}s)"
        if self.production > self.budget * (1 + tolerance) + 1e-9:
            return f"{label} {self.production:.1f}s exceeds its budget of {self.budget:g}s by more than {tolerance:.0%}"
        return None

    def to_json(self) -> dict:
        return {
            "drill": None if self.drill is None else round(self.drill, 3),
            "production": None if self.production is None else round(self.production, 1),
            "budget": self.budget,
            "ok": self.failure() is None,
        }


def manual_write_budget(budget: Budget, inputs: BudgetInputs) -> float:
    """An operator's transition: no detection; the fenced write(s), and what the budget adds for the clients."""
    explicit = getattr(budget, "manual_write_rto_seconds", None)
    if explicit is not None:
        return float(explicit)
    return float(TRANSITION_ALLOWANCE_SECONDS + inputs.client_cache_seconds)


def figure_budgets(kind: str, scale: TimeScale, failed: str | None) -> dict[str, float | None]:
    """Production seconds each figure of a part may take (None: not judged)."""
    ref = scale.reference
    budget, inputs = ref.budget, ref.budget_inputs
    out: dict[str, float | None] = dict.fromkeys(FIGURES)
    out["rpoSeconds"] = float(budget.rpo_seconds)
    if kind in ("outage", "crash"):
        decision, _ = write_trigger(inputs, failed or ref.regions[0])
        out.update(
            detectionSeconds=float(budget.detection_seconds) if failed else None,
            decisionSeconds=decision,
            writeRtoSeconds=float(budget.write_rto_seconds),
            trafficRtoSeconds=float(budget.traffic_rto_seconds),
        )
        if kind == "crash":  # the steps wait for the crashed (or frozen) holder's lease
            write = float(budget.write_rto_seconds) + ref.lease
            out["writeRtoSeconds"] = write
            out["trafficRtoSeconds"] = max(
                float(budget.traffic_rto_seconds),
                write + ref.health_interval * ref.health_threshold + ref.dns_ttl,
            )
    elif kind == "manual":
        write = manual_write_budget(budget, inputs)
        out.update(
            writeRtoSeconds=write,
            trafficRtoSeconds=float(budget.traffic_follows_writes_seconds - budget.write_rto_seconds) + write,
        )
    elif kind == "detection":
        out["detectionSeconds"] = float(budget.detection_seconds)
    return out


@dataclass
class PartResult:
    scenario: str
    name: str
    description: str
    faults: tuple[str, ...]
    figures: tuple[Figure, ...]
    transitions: int
    transitions_allowed: tuple[int, int]
    dual_writer_seconds: float
    """Production seconds with two regions accepting writes."""
    dual_writes: int
    acknowledged: int
    lost: list[str]
    safety: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    lost_writes: list[dict] = field(default_factory=list)
    """Each lost write: key, region, ackedAt, recordedAsConflict (eventual mode's streams replicators)."""

    @property
    def lost_as_conflicts(self) -> int:
        return sum(1 for w in self.lost_writes if w["recordedAsConflict"])

    @property
    def spurious(self) -> int:
        return max(0, self.transitions - self.transitions_allowed[1])

    def failures(self, tolerance: float = TOLERANCE) -> list[str]:
        out = list(self.safety)
        fewest, most = self.transitions_allowed
        if self.transitions > most:
            out.append(f"{self.transitions} transitions, at most {most} allowed ({self.spurious} spurious)")
        elif self.transitions < fewest:
            out.append(f"{self.transitions} transitions, {fewest} expected")
        out.extend(m for f in self.figures if (m := f.failure(tolerance)))
        out.extend(self.problems)
        return out

    @property
    def passed(self) -> bool:
        return not self.failures()

    def figure(self, name: str) -> Figure:
        return next(f for f in self.figures if f.name == name)


def _measure(run, history: History, budgets: dict, lost: list) -> dict[str, float | None]:
    """Each figure from the history, where the part has a budget for it."""
    return {
        "detectionSeconds": first_status_change(history.health_changes, run.fault_at, run.failed)
        if run.failed and budgets["detectionSeconds"] is not None
        else None,
        "decisionSeconds": first_transition(history.transitions, run.fault_at, run.targets)
        if run.targets and budgets["decisionSeconds"] is not None
        else None,
        "writeRtoSeconds": first_acknowledged_write(history.writes, run.fault_at, run.targets)
        if run.targets and budgets["writeRtoSeconds"] is not None
        else None,
        "trafficRtoSeconds": first_served_every_user(history.traffic, run.fault_at, run.targets)
        if run.targets and budgets["trafficRtoSeconds"] is not None
        else None,
        "rpoSeconds": rpo_seconds(lost, run.fault_at),
    }


def _invocation_outcomes(history: History) -> tuple[dict[str, int], dict[str, list[str]]]:
    """How many invocations ended each way (`action:outcome`), and the first distinct reasons of each."""
    outcomes: dict[str, int] = {}
    reasons: dict[str, list[str]] = {}
    for inv in history.invocations:
        kind = f"{inv.action}:{inv.outcome}"
        outcomes[kind] = outcomes.get(kind, 0) + 1
        seen = reasons.setdefault(kind, [])
        line = f"{inv.region}: {inv.reason}"[:300]
        if line not in seen and len(seen) < 8:  # the distinct reasons of each kind, first ones first
            seen.append(line)
    return outcomes, reasons


def judge(
    scenario: str,
    description: str,
    faults: tuple[str, ...],
    run,
    history: History,
    scale: TimeScale,
    strong: bool,
    write_gap: float,
) -> PartResult:
    """One part's history against its expectations and budget."""
    budgets = figure_budgets(run.budget_kind, scale, run.failed)
    lost = lost_writes(history.writes, history.present)
    measured = _measure(run, history, budgets, lost)
    figures = tuple(Figure(n, measured[n], scale.factor, budgets[n]) for n in FIGURES)
    dual = dual_writers(history.writes, write_gap)
    transitions = transitions_between(history.transitions, history.start, history.end)
    safety: list[str] = []
    if dual.seconds > 0 or dual.writes:
        safety.append(
            f"two regions accepted writes for {dual.seconds * scale.factor:.1f}s (production; "
            f"{dual.writes} dual writes)" + (f": {dual.examples[0]}" if dual.examples else "")
        )
    safety.extend(fencing_violations(history.invocations))
    safety.extend(contradictory_notices(history.notices))
    safety.extend(regressions(history.observed, history.transitions)[:3])
    if strong and lost:
        safety.append(f"{len(lost)} acknowledged writes lost in strong mode (RPO must be 0)")
    outcomes, reasons = _invocation_outcomes(history)
    details = dict(run.details)
    details.update(
        invocations=outcomes,
        reasons=reasons,
        checkedRegion=history.checked_region,
        lostKeys=[w.key for w in lost[:20]],
        dualWriteExamples=list(dual.examples),
        transitions=[
            {
                "at": round(t.at - history.start, 3),
                "epoch": t.epoch,
                "from": t.from_region,
                "to": t.to_region,
                **({"replica": t.replica} if t.replica else {}),
            }
            for t in transitions
        ],
        projections=history.projections,
    )
    return PartResult(
        scenario=scenario,
        name=run.name,
        description=description,
        faults=faults,
        figures=figures,
        transitions=len(transitions),
        transitions_allowed=run.transitions,
        dual_writer_seconds=round(dual.seconds * scale.factor, 2),
        dual_writes=dual.writes,
        acknowledged=sum(1 for w in history.writes if w.acknowledged),
        lost=[w.key for w in lost],
        safety=safety,
        problems=list(run.problems),
        notes=list(run.notes),
        details=details,
        lost_writes=lost_write_facts(lost, history.conflicts),
    )
