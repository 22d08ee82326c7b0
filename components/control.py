"""Where the authority lives: the control table's replicas, its witness, and the regions that observe.

The authority (the control item) must be linearizable whatever the data table's mode, so the control table is
strongly consistent across regions (DynamoDB multi-region strong consistency, MRSC) wherever the stack's regions
allow it. MRSC is offered only within fixed region sets, with three replicas, or two replicas and a witness:

- three regions of one set: a replica in each;
- two regions of one set: a replica in each and a witness in a third region of the set, which also runs an
  observing orchestrator (a majority of observers needs three);
- more than three regions of one set (Europe has four): replicas in the first three; the others read the control
  table in the nearest replica;
- regions that span sets: no strongly consistent control table is possible. Automatic failover is then refused by
  the config model (two regions could each believe they won); manual failover keeps an eventually consistent
  control table, and the operator is the one writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

MRSC_REGION_SETS: tuple[tuple[str, ...], ...] = (
    ("us-east-1", "us-east-2", "us-west-2"),
    ("eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"),
    ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3"),
)
"""Multi-region strong consistency is offered only inside these region sets (each in a fixed order of preference
for a witness: the first one not already a replica)."""


@dataclass(frozen=True)
class ControlPlacement:
    consistency: Literal["strong", "eventual"]
    replicas: tuple[str, ...]
    """The control table's replica regions; the first holds the table's provider."""
    witness: str | None = None
    """Two replicas: the witness region (no replica to read; it observes)."""
    observers: tuple[str, ...] = ()
    """Every region running an observing orchestrator: the stack's regions, and the witness."""

    @property
    def strong(self) -> bool:
        return self.consistency == "strong"


def region_set(regions: Sequence[str]) -> tuple[str, ...] | None:
    """The MRSC set holding every one of `regions`, if any."""
    return next((s for s in MRSC_REGION_SETS if set(regions) <= set(s)), None)


def control_placement(regions: Sequence[str]) -> ControlPlacement:
    """Where the control table of a stack with `regions` (priority order) lives (see the module docstring)."""
    regions = tuple(regions)
    members = region_set(regions)
    if members is None or len(regions) < 2:
        return ControlPlacement("eventual", regions, None, regions)
    if len(regions) == 2:
        witness = next(r for r in members if r not in regions)
        return ControlPlacement("strong", regions, witness, (*regions, witness))
    return ControlPlacement("strong", regions[:3], None, regions)


def cross_set_reason(regions: Sequence[str]) -> str:
    """Why these regions cannot hold a strongly consistent control table (for the config error)."""
    sets = "; ".join("/".join(s) for s in MRSC_REGION_SETS)
    return (
        f"automatic failover needs a strongly consistent control table (the authority on which region takes "
        f"writes), which DynamoDB offers only when every region is in one of these sets: {sets}; "
        f"{', '.join(regions)} are not. Choose regions of one set, or set dr:failover.mode to manual (an "
        f"operator then moves writes, and the control table is eventually consistent)"
    )
