"""One module per layout; `build(cfg, stack)` declares it and returns the stack outputs.

Only the chosen layout's module is imported, so a stack imports only the providers it uses.
"""

from __future__ import annotations

import importlib

from components.config import StackConfig

_MODULES = {"aws": "components.layouts.aws"}


def build(cfg: StackConfig, stack: str) -> dict:
    module = importlib.import_module(_MODULES[cfg.layout])
    return module.build(cfg, stack)
