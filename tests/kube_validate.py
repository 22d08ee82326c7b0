"""`kubernetes-validate --strict` (the real CLI, with the schemas it ships) over objects the tests build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml


def validate_strict(objects: list[dict], versions: list[str], directory: Path, strict: bool = True):
    """Run the CLI on the objects for each Kubernetes version; returns the CompletedProcess."""
    path = directory / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    argv = [sys.executable, "-m", "kubernetes_validate", *(["--strict"] if strict else [])]
    for version in versions:
        argv += ["-k", version]
    return subprocess.run([*argv, str(path)], capture_output=True, text=True, timeout=120)


def assert_all_valid(objects: list[dict], versions: list[str], directory: Path) -> None:
    run = validate_strict(objects, versions, directory)
    assert run.returncode == 0, run.stdout + run.stderr
    # A kind without a schema is only a warning to the CLI: it must not hide here.
    assert "WARN" not in run.stdout and "ERROR" not in run.stdout, run.stdout
    passed = [line for line in run.stdout.splitlines() if line.startswith("INFO") and " passed " in line]
    assert len(passed) == len(objects) * len(versions), run.stdout
