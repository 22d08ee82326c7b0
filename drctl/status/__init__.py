"""`drctl status`: the live state of a deployment, read-only: which region takes writes and at which epoch, the
steps a transition left pending, what each observer sees and how fresh it is, the projection in every region,
the latest replication-lag readings and the last transitions.

The rooms: `facts` (the facts as data, and the findings drawn from them), `gather` (reading AWS with `drctl
verify`'s deadlines and per-region fences), `view` (rich tables, and `--watch`), `cli` (the subcommand).
"""

from drctl.status.facts import (
    TRANSITIONS_SHOWN,
    AuthorityReading,
    LagView,
    ObserverView,
    ProjectionView,
    StatusFacts,
    TransitionRecord,
    exit_code,
    findings,
    newest_lag,
    observer_view,
    transition_record,
)
from drctl.status.gather import gather_status
from drctl.status.view import render_status, watch, watch_live

__all__ = [
    "TRANSITIONS_SHOWN",
    "AuthorityReading",
    "LagView",
    "ObserverView",
    "ProjectionView",
    "StatusFacts",
    "TransitionRecord",
    "exit_code",
    "findings",
    "gather_status",
    "newest_lag",
    "observer_view",
    "render_status",
    "transition_record",
    "watch",
    "watch_live",
]
