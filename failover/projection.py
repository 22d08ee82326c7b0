"""The SSM projection of the authority: what `/<app>/<stack>/active_region` holds in every region.

The value carries the epoch, `{"region": "us-east-2", "epoch": 7}`, so a reader can tell a late write of an older
epoch from the current one and never goes back: a reader keeps the highest epoch it has seen. A plain region name
(what an older deployment wrote) reads as epoch 0. The projection is for routing and people; a write is allowed
only on a confirmed read of the control item (`failover.client`), never on the projection alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Projection:
    epoch: int
    region: str


def render(region: str, epoch: int) -> str:
    return json.dumps({"region": region, "epoch": epoch}, separators=(",", ":"), sort_keys=True)


def initial_value(primary: str) -> str:
    """What the stack writes when it creates the parameter (epoch 0: no transition yet)."""
    return render(primary, 0)


def parse(value: str | None) -> Projection | None:
    """The projection a parameter value holds, or None when it is not one (absent, garbled)."""
    if not value:
        return None
    text = value.strip()
    if not text.startswith("{"):
        return Projection(0, text) if text.replace("-", "").isalnum() else None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    region, epoch = (
        doc.get("region") if isinstance(doc, dict) else None,
        doc.get("epoch") if isinstance(doc, dict) else None,
    )
    if not isinstance(region, str) or isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        return None
    return Projection(epoch, region)


def newest(seen: Projection | None, read: Projection | None) -> Projection | None:
    """What a reader should believe after reading `read`, having seen `seen`: never an older epoch."""
    if read is None:
        return seen
    if seen is None or read.epoch >= seen.epoch:
        return read
    return seen
