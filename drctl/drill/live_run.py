"""`drctl drill --live`, the pure part: what a live drill expects, one poll step (what was observed -> the next
phase and the figures so far), and the verdict in the loopback drill's report shape.

A live drill starts one FIS experiment (a template `dr:drill.fis` declared) against one region's site, then polls
three things until it is over: the experiment's state, Route 53's view of every site's health check, and the
control item (which region takes writes, its epoch, when the epoch was bumped and when the new region was
activated: the orchestrator's own timestamps, so the figures do not depend on the polling interval). Figures are
seconds since the experiment started, judged against the stack's production budget (`components.budget`) with
the loopback drill's tolerance:

- detection: Route 53 first reports the drilled site unhealthy (to the polling interval's resolution);
- decision: the fenced epoch bump that moves writes away from it;
- write RTO: the new region's activation, from which its applications take writes (within their pickup
  interval, a second or so: see the budget's `writeRtoParts`);
- traffic RTO: detection plus the records' TTL, once another site is healthy (Route 53 then answers with it; a
  resolver may keep the old answer for one TTL). Not measured from users' resolvers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from components.budget import Budget
from drctl.drill.verdict import FIGURES, Figure, PartResult

LiveAction = Literal["connectivity", "replication", "tasks"]
Phase = Literal["running", "stopping", "done"]
TERMINAL_STATES = frozenset({"completed", "stopped", "failed", "cancelled"})
"""FIS experiment states after which nothing is injected any more."""
WINDOW_MARGIN_SECONDS = 60.0
FAULTS = {
    "connectivity": "the site's subnets get a deny-all network ACL (aws:network:disrupt-connectivity, scope all)",
    "replication": "the region's replica of the data table stops replicating "
    "(aws:dynamodb:global-table-pause-replication)",
    "tasks": "every task of the site's ECS service is stopped (aws:ecs:stop-task); the service starts new ones",
}


@dataclass(frozen=True)
class LivePlan:
    """What one live drill expects, from the stack's config and the control item before it starts."""

    stack: str
    region: str
    action: LiveAction
    active_region: str
    """The region taking writes when the drill starts."""
    sites: tuple[str, ...]
    fault_seconds: float
    """How long the fault lasts at most (0: stop-task is instantaneous)."""
    settle_seconds: float
    """After the fault, how long nothing may move (a late, spurious transition would show in this time)."""
    dns_ttl: float
    budgets: Mapping[str, float | None]
    """Production seconds each figure may take (None: not judged)."""
    transitions_allowed: tuple[int, int]
    window_seconds: float
    """Past this (seconds since the start) the drill stops the experiment and judges what it saw."""

    @property
    def expects_failover(self) -> bool:
        return self.transitions_allowed[0] >= 1


def plan_live_drill(
    *,
    stack: str,
    region: str,
    action: LiveAction,
    active_region: str,
    sites: tuple[str, ...],
    duration_minutes: int,
    budget: Budget,
    dns_ttl: float,
) -> LivePlan:
    """Cutting off or emptying the active region's site must move writes once, within the budget; the same fault on
    a standby must move nothing. A replication pause is judged on moving nothing spurious: on an MRSC table the
    paused replica refuses strongly consistent reads and writes, which may fail the active region's applications
    closed and so move writes once; on an MREC table nothing should move. Stopped tasks may come back before the
    monitor's threshold, so zero or one move is right for them."""
    fault = 0.0 if action == "tasks" else float(duration_minutes * 60)
    on_active = region == active_region
    if action == "connectivity":
        allowed = (1, 1) if on_active else (0, 0)
    else:
        allowed = (0, 1) if on_active else (0, 0)
    budgets: dict[str, float | None] = dict.fromkeys(FIGURES)
    if on_active and action != "replication":
        budgets.update(
            detectionSeconds=float(budget.detection_seconds),
            decisionSeconds=float(budget.write_trigger_seconds),
            writeRtoSeconds=float(budget.write_rto_seconds),
            trafficRtoSeconds=float(budget.traffic_rto_seconds),
        )
    if action == "tasks":  # the decision may not come at all (zero or one move): only the rest is judged
        budgets["decisionSeconds"] = None
    settle = float(budget.traffic_rto_seconds)
    slowest = max(budget.traffic_rto_seconds, budget.write_rto_seconds) * 1.2
    window = max(fault, slowest) + settle + WINDOW_MARGIN_SECONDS
    return LivePlan(
        stack=stack,
        region=region,
        action=action,
        active_region=active_region,
        sites=sites,
        fault_seconds=fault,
        settle_seconds=settle,
        dns_ttl=dns_ttl,
        budgets=budgets,
        transitions_allowed=allowed,
        window_seconds=window,
    )


@dataclass(frozen=True)
class LiveObservation:
    """One poll, in seconds since the experiment started."""

    at: float
    experiment: str
    """The FIS experiment's state (pending, initiating, running, completed, stopping, stopped, failed, ...)."""
    healthy: Mapping[str, bool | None]
    """Site -> Route 53's view (None: not known this poll)."""
    active_region: str | None = None
    epoch: int | None = None
    transitioned_at: float | None = None
    """The current epoch's bump (the control item's lastTransitionAt), since the start."""
    activated_at: float | None = None
    """The current epoch's activation (activatedAt), since the start; None while it is still demoting."""


@dataclass(frozen=True)
class LiveProgress:
    phase: Phase = "running"
    start_epoch: int | None = None
    detection: float | None = None
    decision: float | None = None
    write: float | None = None
    traffic: float | None = None
    moved_to: str | None = None
    transitions: int = 0
    ended: str | None = None
    """The experiment's terminal state, once seen."""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def stop_requested(self) -> bool:
        return self.phase == "stopping"


def _figures_complete(plan: LivePlan, p: LiveProgress, at: float) -> bool:
    if plan.expects_failover:
        return p.write is not None and p.traffic is not None
    return at >= plan.fault_seconds + plan.settle_seconds


def _note(p: LiveProgress, text: str) -> tuple[str, ...]:
    return p.notes if text in p.notes else (*p.notes, text)


def step(plan: LivePlan, p: LiveProgress, obs: LiveObservation) -> LiveProgress:
    """The progress after one more observation: figures first reached now, transitions seen, and the phase
    (`stopping` asks the caller to stop the experiment; `done` once it is over and nothing more is awaited)."""
    if p.phase == "done":
        return p
    if p.start_epoch is None and obs.epoch is not None:
        p = replace(p, start_epoch=obs.epoch)
    if p.detection is None and obs.healthy.get(plan.region) is False:
        p = replace(p, detection=max(obs.at, 0.0))
    if p.start_epoch is not None and obs.epoch is not None and obs.epoch > p.start_epoch:
        moves = obs.epoch - p.start_epoch
        if p.decision is None:
            p = replace(p, decision=obs.transitioned_at if obs.transitioned_at is not None else obs.at)
        p = replace(p, transitions=moves, moved_to=obs.active_region)
        if p.write is None and obs.activated_at is not None and obs.active_region != plan.region:
            p = replace(p, write=obs.activated_at)
    survivors = [s for s in plan.sites if s != plan.region and obs.healthy.get(s)]
    if p.traffic is None and p.detection is not None and survivors:
        p = replace(p, traffic=p.detection + plan.dns_ttl)
    if obs.experiment in TERMINAL_STATES and p.ended is None:
        p = replace(p, ended=obs.experiment)
        if obs.experiment != "completed" and not p.stop_requested:
            p = replace(p, notes=_note(p, f"the experiment ended {obs.experiment} before the drill asked it to stop"))
    finished = _figures_complete(plan, p, obs.at) or obs.at >= plan.window_seconds
    if finished and obs.at >= plan.window_seconds and not _figures_complete(plan, p, obs.at):
        p = replace(p, notes=_note(p, f"observed for {plan.window_seconds:.0f}s, the drill's window, then stopped"))
    if finished and p.ended is not None:
        return replace(p, phase="done")
    return replace(p, phase="stopping" if finished else "running")


def live_result(plan: LivePlan, p: LiveProgress, details: Mapping[str, object]) -> PartResult:
    """The drill's verdict in the loopback drill's shape (production seconds: the factor is 1)."""
    measured = {
        "detectionSeconds": p.detection,
        "decisionSeconds": p.decision,
        "writeRtoSeconds": p.write,
        "trafficRtoSeconds": p.traffic,
        "rpoSeconds": None,
    }
    budgets = dict(plan.budgets)
    if plan.action == "tasks" and p.transitions == 0:  # the tasks came back first: nothing moved, as allowed
        budgets.update(writeRtoSeconds=None, trafficRtoSeconds=None)
    figures = tuple(Figure(n, measured[n], 1.0, budgets.get(n)) for n in FIGURES)
    notes = list(p.notes)
    if p.write is not None:
        notes.append("write RTO is the new region's activation; its applications take writes within their pickup")
    if p.traffic is not None:
        notes.append(f"traffic RTO is detection plus the records' TTL ({plan.dns_ttl:g}s), not users' resolvers")
    notes.append("not measured live: two writers, lost writes, RPO (the loopback drill checks those)")
    return PartResult(
        scenario=f"live-{plan.action}",
        name=f"live-{plan.action}-{plan.region}",
        description=f"{FAULTS[plan.action]}, in {plan.region} ({'active' if plan.region == plan.active_region else 'standby'})",
        faults=(FAULTS[plan.action],),
        figures=figures,
        transitions=p.transitions,
        transitions_allowed=plan.transitions_allowed,
        dual_writer_seconds=0.0,
        dual_writes=0,
        acknowledged=0,
        lost=[],
        notes=notes,
        details={**details, "movedTo": p.moved_to, "experimentEnded": p.ended, "startEpoch": p.start_epoch},
    )
