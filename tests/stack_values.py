"""The shipped stack files as raw `dr:` values, for config-model tests that mutate them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from drctl.stackfile import load_stack_config

ROOT = Path(__file__).resolve().parent.parent


def dr_values(stack: str = "prod") -> dict:
    config, _ = load_stack_config(ROOT, stack)
    out = {}
    for key, value in config.items():
        ns, _, name = key.partition(":")
        if ns != "dr":
            continue
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    return copy.deepcopy(out)
