"""`Res`: what every rule sees of one resource. A module of its own so that the rule modules (the stack-wide
`rules`, the per-cloud `rules_haproxy` and `rules_kubernetes`) all import it and none imports another for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Res:
    """What every rule sees of one resource; built from pulumi_policy args or from the preview."""

    type: str
    props: Mapping[str, Any]
    urn: str = ""
    region: str | None = None
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
