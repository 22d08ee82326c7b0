"""`python -m tests.tier_previews STACK...`: one JSON document with, for each base stack, its one-stack preview
and the preview of every tier, from one process (the tests read it once per module)."""

from __future__ import annotations

import json
import sys

from drctl.preview import run_preview, run_tier_previews
from drctl.render import as_json


def _document(result) -> dict:
    """The preview's JSON document, each resource also saying whether it is a custom resource."""
    doc = as_json(result)
    for shown, recorded in zip(doc["resources"], result.resources):
        shown["custom"] = recorded["custom"]
    return doc


def previews(stacks: list[str]) -> dict:
    out = {}
    for stack in stacks:
        tiers = run_tier_previews(stack)
        out[stack] = {"single": _document(run_preview(stack)),
                      "tiers": {name: _document(r) for name, r in tiers.items()}}
    return out


if __name__ == "__main__":
    json.dump(previews(sys.argv[1:]), sys.stdout)
