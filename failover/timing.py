"""The runtime's own timers, in one object: production values by default, `scaled(factor)` for a drill.

Settings (`failover.settings`) are what a stack configures; these are what the runtime itself must respect whatever
the configuration: how long one remote call may take, how long a step lease lasts, how old an alarm may be.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Timing:
    call_timeout_seconds: float = 2.0
    """One remote call never waits longer than this (a healthy region answers in well under a second)."""
    connect_timeout_seconds: float = 1.0
    lease_seconds: float = 20.0
    """The step lease: longer than one pass over the pending steps (each one call, all concurrent, plus the
    activation wait), short so that a crashed holder delays the rest by little."""
    safety_margin_seconds: float = 1.5
    """Kept back from the invocation's remaining time for recording the outcome."""
    default_budget_seconds: float = 60.0
    """An invocation's time without a Lambda context (an operator's script, a test)."""
    alarm_max_age_seconds: float = 300.0
    """An alarm notification older than this is dropped: Lambda's async queue retries for up to 6 hours, and a
    stale ALARM says nothing about now."""
    lag_window_seconds: float = 300.0
    """How far back the lag gate reads replication latency."""
    lag_period_seconds: float = 60.0
    """The metric period the lag gate reads."""
    lag_memory_seconds: float = 600.0
    """A lag reading an observer recorded is used for this long when the source region cannot be read."""

    def scaled(self, factor: float) -> Timing:
        """Every timer divided by `factor` (a drill runs production's timers faster)."""
        return replace(self, **{f.name: getattr(self, f.name) / factor for f in fields(self)})


PRODUCTION = Timing()
