"""One module per layout; `build(cfg, stack)` declares it and returns the stack outputs.

Each layout is a kind of site plus the shared DR plane (`components.plane`). Only the chosen layout's
module is imported, so a stack imports only the providers it uses. The names are the ones the config
model accepts (`components.config.LAYOUTS`). With `dr:tier` set, the stack is one tier of the deployment
(`components.tiered`); otherwise it is the whole deployment.
"""

from __future__ import annotations

import importlib

from components.config import LAYOUTS
from components.tiers import SitePlacement

_MODULES = {"aws": "components.layouts.aws", "digitalocean": "components.layouts.digitalocean",
            "ovh-hybrid": "components.layouts.ovh_hybrid"}
assert set(_MODULES) == set(LAYOUTS), "every layout the config accepts has a module, and only those"


def layout_module(cfg):
    return importlib.import_module(_MODULES[cfg.layout])


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
