"""Time-bounded remote calls: an invocation's deadline, and calls to several regions side by side.

Every remote call has a deadline taken from the invocation's remaining time, and calls to different regions run
concurrently, so a region that accepts connections and never answers costs one deadline and delays nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from failover.timing import PRODUCTION, Timing


class Deadline:
    """Time left in this invocation, read from a monotonic clock."""

    def __init__(
        self, seconds: float, monotonic: Callable[[], float] = time.monotonic, timing: Timing = PRODUCTION
    ) -> None:
        self.monotonic = monotonic
        self.timing = timing
        self.ends_at = monotonic() + seconds

    @classmethod
    def from_context(cls, context: Any, timing: Timing = PRODUCTION) -> Deadline:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        seconds = remaining() / 1000.0 if callable(remaining) else timing.default_budget_seconds
        return cls(max(0.0, seconds - timing.safety_margin_seconds), timing=timing)

    def remaining(self) -> float:
        return max(0.0, self.ends_at - self.monotonic())

    def call_timeout(self, cap: float | None = None) -> float:
        """How long the next call may take: the per-call cap, or less when the invocation is nearly out of time."""
        limit = self.timing.call_timeout_seconds if cap is None else cap
        return max(0.05, min(limit, self.remaining()))


def run_concurrently(tasks: Mapping[str, Callable[[], Any]], timeout: float) -> dict[str, Any]:
    """Run every task in its own thread; return name -> result, or the exception it raised, or TimeoutError when it
    did not finish in `timeout` seconds (it is then abandoned, not waited for)."""
    if not tasks:
        return {}
    pool = ThreadPoolExecutor(max_workers=len(tasks))
    try:
        futures = {name: pool.submit(fn) for name, fn in tasks.items()}
        wait(futures.values(), timeout=timeout)
        out: dict[str, Any] = {}
        for name, future in futures.items():
            if not future.done():
                out[name] = TimeoutError(f"no answer within {timeout:.1f}s")
            elif future.exception() is not None:
                out[name] = future.exception()
            else:
                out[name] = future.result()
        return out
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
