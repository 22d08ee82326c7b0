"""The one registry of layouts, read by validation (`components.config.parse_stack_config`) and by dispatch
(`build`, `site_placements`).

A layout is a kind of site (`components.sites.<kind>`, which owns the layout's keys and checks) plus the shared
DR plane (`components.plane`), built by one module here: `build(cfg, stack)` declares it and returns the stack
outputs. Only the chosen layout's module is imported, so a stack imports only the providers it uses. With
`dr:tier` set, the stack is one tier of the deployment (`components.tiered`); otherwise it is the whole
deployment.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, get_args

from components.common_config import LayoutKeys
from components.sites import doks, ecs, ovh
from components.tiers import SitePlacement


@dataclass(frozen=True)
class Layout:
    keys: LayoutKeys[Any]
    """The layout's model and checks, from its kind of site."""
    module: str
    """The module that declares it: `site_placements(cfg)`, `declare_sites(...)`, `build(cfg, stack)`."""


LAYOUTS: dict[str, Layout] = {
    "aws": Layout(ecs.LAYOUT_KEYS, "components.layouts.aws"),
    "digitalocean": Layout(doks.LAYOUT_KEYS, "components.layouts.digitalocean"),
    "ovh-hybrid": Layout(ovh.LAYOUT_KEYS, "components.layouts.ovh_hybrid"),
}
assert all(
    get_args(layout.keys.model.model_fields["layout"].annotation) == (name,) for name, layout in LAYOUTS.items()
), "each layout's model takes its own name as dr:layout, and only it"


def layout_module(cfg):
    return importlib.import_module(LAYOUTS[cfg.layout].module)


def site_placements(cfg) -> list[SitePlacement]:
    """The layout's sites in failover priority, from config alone."""
    return layout_module(cfg).site_placements(cfg)


def build(cfg, stack: str) -> dict:
    """The stack's outputs: one tier's (`dr:tier` set; physical names from `dr:baseStack`) or the whole
    deployment's (named by `stack`)."""
    if cfg.tier is not None:
        from components.tiered import build_tier

        return build_tier(cfg, layout_module(cfg))
    return layout_module(cfg).build(cfg, stack)
