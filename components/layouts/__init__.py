"""One module per layout; `build(cfg, stack)` declares it and returns the stack outputs.

Each layout is a kind of site plus the shared DR plane (`components.plane`). Only the chosen layout's
module is imported, so a stack imports only the providers it uses. The names are the ones the config
model accepts (`components.config.LAYOUTS`).
"""

from __future__ import annotations

import importlib

from components.config import LAYOUTS

_MODULES = {"aws": "components.layouts.aws", "digitalocean": "components.layouts.digitalocean",
            "ovh-hybrid": "components.layouts.ovh_hybrid"}
assert set(_MODULES) == set(LAYOUTS), "every layout the config accepts has a module, and only those"


def build(cfg, stack: str) -> dict:
    module = importlib.import_module(_MODULES[cfg.layout])
    return module.build(cfg, stack)
