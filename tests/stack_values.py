"""The shipped stack files as raw `dr:` values, for config-model tests that mutate them."""

from __future__ import annotations

import copy
from pathlib import Path

from components.config import decode_engine_config
from drctl.stackfile import load_stack_config

ROOT = Path(__file__).resolve().parent.parent


def dr_values(stack: str = "prod") -> dict:
    raw, _ = decode_engine_config(load_stack_config(ROOT, stack)[0])
    return copy.deepcopy(raw)
