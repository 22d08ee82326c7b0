"""Run the real `__main__.py` under Pulumi's mocks and collect what it would deploy."""

from __future__ import annotations

import functools
import os
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from drctl.stackfile import load_stack_config

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass
class PreviewResult:
    stack: str
    layout: Optional[str]
    resources: list[dict]
    outputs: dict[str, Any]
    budget: Optional[dict]
    violations: list = field(default_factory=list)  # policies.offline.Violation

    @property
    def blocked(self) -> bool:
        """A mandatory (or remediate) policy is violated: `pulumi up` would refuse this stack."""
        return any(v.blocking for v in self.violations)


def resource_counts(resources: list[dict]) -> dict:
    """The one way resources are counted (text view, JSON, benchmark and README agree).

    `cloudResources` are what `pulumi up` creates in the cloud; `pulumiTotal` is the number the Pulumi
    CLI prints as "to create", which also counts the stack, the components and the explicit providers.
    """
    def kind(r: dict) -> str:
        if r["type"] == "pulumi:pulumi:Stack":
            return "stack"
        if r["type"].startswith("pulumi:providers:"):
            return "providers"
        return "cloudResources" if r["custom"] else "components"

    counts = {"cloudResources": 0, "providers": 0, "components": 0, "stack": 0}
    by_type: dict[str, int] = {}
    for r in resources:
        counts[kind(r)] += 1
        if kind(r) == "cloudResources":
            by_type[r["type"]] = by_type.get(r["type"], 0) + 1
    return {**counts, "pulumiTotal": len(resources), "byType": dict(sorted(by_type.items()))}


class PreviewConfigError(Exception):
    """The stack's config is wrong; the message is the one line to show."""


def _resolve_outputs(raw: dict[str, Any]) -> dict[str, Any]:
    import pulumi
    from pulumi.runtime.sync_await import _sync_await

    async def resolve(value: Any) -> Any:
        out = pulumi.Output.from_input(value)
        plain = await out.future(with_unknowns=True)
        if await out.is_secret():
            return "[secret]"
        return plain

    return {k: _sync_await(resolve(v)) for k, v in raw.items()}


def _as_document(monitor) -> list[dict]:
    recorded = sorted(monitor.recorded, key=lambda r: r.urn)
    by_urn = {r.urn: r for r in recorded}
    children: dict[str, list] = {}
    for r in recorded:
        children.setdefault(r.parent, []).append(r)

    @functools.lru_cache(maxsize=None)
    def component_region(urn: str) -> Optional[str]:
        """The one region all of a component's descendants live in, else None."""
        kids = children.get(urn, [])
        regions = {r.region for r in kids if r.region}
        regions |= {component_region(r.urn) for r in kids if not r.custom} - {None}
        return regions.pop() if len(regions) == 1 else None

    docs = []
    for r in recorded:
        region = r.region if r.custom or r.type.startswith("pulumi:providers:") else component_region(r.urn)
        docs.append(
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent if r.parent in by_urn else None,
                "region": region,
                "custom": r.custom,
                "inputs": r.inputs,
                "options": {"protect": r.protect, "ignoreChanges": r.ignore_changes, "dependsOn": r.depends_on},
            }
        )
    return docs


def run_preview(stack: str, project_dir: Path = PROJECT_DIR, stack_file: Optional[Path] = None,
                policy_config: Optional[Path] = None) -> PreviewResult:
    """Preview `stack` offline (config from `stack_file` when given). Raises StackFileError /
    PreviewConfigError / PolicyConfigError for user mistakes, before anything is declared."""
    config, secret_keys = load_stack_config(project_dir, stack, stack_file)
    from policies.offline import levels_for
    from policies.pack import build_policies

    levels = levels_for(stack, build_policies(), policy_config)  # a bad policy-config file stops here, first

    import pulumi
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from drctl import mocks

    monitor = mocks.install(project="dynamodb-dr", stack=stack, preview=True)
    pulumi.runtime.set_all_config(config, secret_keys)
    sys.path.insert(0, str(project_dir))
    from components.config import ConfigError

    cwd = os.getcwd()
    os.chdir(project_dir)
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")))
    except pulumi.RunError as exc:
        if isinstance(exc.__context__, ConfigError):
            raise PreviewConfigError(str(exc)) from None
        raise
    finally:
        os.chdir(cwd)
    root = pulumi.runtime.settings.get_root_resource()
    outputs = _resolve_outputs(dict(root.outputs))
    resources = _as_document(monitor)
    from policies.offline import evaluate

    return PreviewResult(
        stack=stack,
        layout=outputs.get("layout"),
        resources=resources,
        outputs=outputs,
        budget=outputs.get("budget"),
        violations=evaluate(resources, stack, levels=levels),
    )
