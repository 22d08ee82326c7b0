"""`python -m tests.tier_previews STACK...`: one JSON document with, for each base stack, its one-stack preview
and the preview of every tier, from one process (the tests read it once per module).

`--variant ID STACK FILE` (repeatable) previews the stack file FILE as base stack STACK (its policy levels are
STACK's) under the key ID: stack-file variants a test writes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from drctl.preview import as_json, run_preview, run_tier_previews


def _document(result) -> dict:
    """The preview's JSON document, each resource also saying whether it is a custom resource."""
    doc = as_json(result)
    for shown, recorded in zip(doc["resources"], result.resources):
        shown["custom"] = recorded["custom"]
    return doc


def preview_one(stack: str, stack_file: Path | None = None) -> dict:
    tiers = run_tier_previews(stack, stack_file=stack_file)
    return {
        "single": _document(run_preview(stack, stack_file=stack_file)),
        "tiers": {name: _document(r) for name, r in tiers.items()},
    }


def previews(stacks: list[str], variants: list[tuple[str, str, str]] | None = None) -> dict:
    out = {stack: preview_one(stack) for stack in stacks}
    for key, stack, path in variants or []:
        out[key] = preview_one(stack, Path(path))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("stacks", nargs="*")
    parser.add_argument("--variant", nargs=3, action="append", metavar=("ID", "STACK", "FILE"), default=[])
    args = parser.parse_args()
    json.dump(previews(args.stacks, [tuple(v) for v in args.variant]), sys.stdout)
