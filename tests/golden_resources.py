"""The resource set a stack declares, in a stable form for comparison with a committed golden file.

`python -m tests.golden_resources prod staging` rewrites tests/golden/<stack>.json from the offline preview;
do that only for an intended change of what the `aws` layout declares, and say so in the commit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"


def _normalise(value, root: str):
    if isinstance(value, dict):
        return {k: _normalise(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "<project>")
    return value


def resource_set(stack: str) -> dict:
    """urn -> (type, parent, region, inputs, options) of every resource the offline preview records."""
    run = subprocess.run(
        [sys.executable, "-m", "drctl", "preview", "--stack", stack, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if run.returncode not in (0, 1):
        raise RuntimeError(run.stderr)
    doc = json.loads(run.stdout)
    out = {}
    for r in doc["resources"]:
        options = dict(r["options"], dependsOn=sorted(r["options"]["dependsOn"]))
        out[r["urn"]] = _normalise(
            {
                "type": r["type"],
                "parent": r["parent"],
                "region": r["region"],
                "inputs": r["inputs"],
                "options": options,
            },
            str(ROOT),
        )
    return out


if __name__ == "__main__":
    for name in sys.argv[1:]:
        (GOLDEN / f"{name}.json").write_text(json.dumps(resource_set(name), indent=1, sort_keys=True) + "\n")
        print(f"wrote tests/golden/{name}.json")
