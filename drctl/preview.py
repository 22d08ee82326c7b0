"""Run the real `__main__.py` under Pulumi's mocks and collect what it would deploy: one stack, or tiers of a
deployment (`components.tiers`), each tier's StackReferences answered from the offline previews of the tiers
it reads."""

from __future__ import annotations

import functools
import os
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drctl.stackfile import load_stack_config

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass
class PreviewResult:
    stack: str
    layout: str | None
    resources: list[dict]
    outputs: dict[str, Any]
    budget: dict | None
    violations: list = field(default_factory=list)  # policies.offline.Violation
    tier: str | None = None
    """The tier previewed (its stack is `<base>-<tier>`), or None for the whole deployment in one stack."""
    base_stack: str | None = None
    warnings: list[str] = field(default_factory=list)
    """What the program warned about (`pulumi.log.warn`), each once, in order."""

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


def as_json(result: PreviewResult) -> dict:
    """The `--json` document of one preview (what CI reads; no rich import on this path)."""
    return {
        "stack": result.stack,
        "layout": result.layout,
        "resources": [
            {k: r[k] for k in ("urn", "type", "name", "parent", "region", "inputs", "options")}
            for r in result.resources
        ],
        "outputs": result.outputs,
        "counts": resource_counts(result.resources),
        "budget": result.budget,
        "policies": {"violations": [v.to_json() for v in result.violations]},
        "warnings": list(getattr(result, "warnings", [])),
        **({"tier": result.tier, "baseStack": result.base_stack} if result.tier else {}),
    }


class PreviewConfigError(Exception):
    """The stack's config is wrong; the message is the one line to show."""


def _resolve_outputs(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], frozenset[str]]:
    """(outputs to show, secrets as "[secret]"; plain values for StackReferences; names of the secret ones)."""
    import pulumi
    from pulumi.runtime.sync_await import _sync_await

    async def resolve(value: Any) -> tuple[Any, bool]:
        out = pulumi.Output.from_input(value)
        return await out.future(with_unknowns=True), await out.is_secret()

    resolved = {k: _sync_await(resolve(v)) for k, v in raw.items()}
    shown = {k: "[secret]" if secret else plain for k, (plain, secret) in resolved.items()}
    return shown, {k: plain for k, (plain, _) in resolved.items()}, frozenset(k for k, (_, s) in resolved.items() if s)


def _as_document(monitor) -> list[dict]:
    recorded = sorted(monitor.recorded, key=lambda r: r.urn)
    by_urn = {r.urn: r for r in recorded}
    children: dict[str, list] = {}
    for r in recorded:
        children.setdefault(r.parent, []).append(r)

    @functools.cache
    def component_region(urn: str) -> str | None:
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
                # secrets in plain text, for the policy pack only (`as_json` never shows it)
                **({"policyInputs": r.revealed_inputs} if r.revealed_inputs is not None else {}),
            }
        )
    return docs


@dataclass
class _Run:
    resources: list[dict]
    outputs: dict[str, Any]
    stack_outputs: Any  # drctl.mocks.StackOutputs
    warnings: list[str] = field(default_factory=list)


def _run_program(
    stack: str, config: dict[str, str], secret_keys: list[str], project_dir: Path, stack_outputs: dict | None = None
) -> _Run:
    """Run `__main__.py` once as stack `stack` under fresh mocks; raises PreviewConfigError for config mistakes."""
    import pulumi
    from pulumi.runtime import resource as pulumi_resource
    from pulumi.runtime.proto import source_pb2
    from pulumi.runtime.stack import Stack, run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from drctl import mocks

    monitor = mocks.install(
        project=PROJECT,
        stack=stack,
        preview=True,
        stack_outputs=stack_outputs,
        ovh_servers=mocks.offline_ovh_servers(config),
    )
    pulumi.runtime.set_all_config(config, secret_keys)
    sys.path.insert(0, str(project_dir))
    from pulumi.runtime.settings import _get_rpc_manager

    cwd = os.getcwd()
    os.chdir(project_dir)
    _get_rpc_manager().clear()
    warnings: list[str] = []
    real_warn = pulumi.log.warn

    def warn(
        msg: str, resource: pulumi.Resource | None = None, stream_id: int | None = None, ephemeral: bool | None = None
    ) -> None:
        """pulumi.log.warn's stand-in: the CLI shows a warning once per resource; the preview, once."""
        if msg not in warnings:
            warnings.append(msg)

    def program() -> None:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")

    pulumi.log.warn = warn
    # Each registration captures the Python stack for the engine's source positions (an eighth of the program's
    # run); the mock monitor records none of it, so the offline preview sends an empty trace.
    real_trace = pulumi_resource._get_stack_trace
    pulumi_resource._get_stack_trace = source_pb2.StackTrace
    try:
        _sync_await(run_pulumi_func(program))
    except pulumi.RunError as exc:
        # a config mistake, or a RunError raised in an apply: the engine prints these as one line
        raise PreviewConfigError(str(exc)) from None
    finally:
        pulumi.log.warn = real_warn
        pulumi_resource._get_stack_trace = real_trace
        os.chdir(cwd)
    # An exception inside an apply fails the registration that waited on it; the engine then fails the run, so
    # the offline preview does too (a RunError, such as a looked-up server in the wrong region, as one line).
    failure = _get_rpc_manager().unhandled_exception
    if failure is not None:
        _get_rpc_manager().clear()
        cause: BaseException | None = failure
        while cause is not None and not isinstance(cause, pulumi.RunError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise PreviewConfigError(str(cause)) from None
        raise failure
    root = pulumi.runtime.settings.get_root_resource()
    if not isinstance(root, Stack):
        raise RuntimeError(f"the program ran without a root stack resource (got {root!r})")
    shown, plain, secret = _resolve_outputs(dict(root.outputs))
    return _Run(_as_document(monitor), shown, mocks.StackOutputs(plain, secret), warnings)


PROJECT = "dynamodb-dr"


def run_preview(
    stack: str, project_dir: Path = PROJECT_DIR, stack_file: Path | None = None, policy_config: Path | None = None
) -> PreviewResult:
    """Preview `stack` offline as one stack (config from `stack_file` when given). Raises StackFileError /
    PreviewConfigError / PolicyConfigError for user mistakes, before anything is declared.

    A tier stack's own file (what `drctl deploy --configure-only` writes: the base stack's config plus `dr:tier`,
    `dr:baseStack` and `dr:organization`) is previewed as that tier, its StackReferences answered by the offline
    previews of the tiers it reads, derived from the same config."""
    config, secret_keys = load_stack_config(project_dir, stack, stack_file)
    from policies.offline import evaluate, levels_for
    from policies.pack import build_policies

    if "dr:tier" in config:
        base, tier, base_config = _tier_stack_config(config)
        levels = levels_for(base, build_policies(), policy_config)
        results = _tier_previews(
            base,
            base_config,
            secret_keys,
            [tier],
            project_dir,
            levels,
            config.get("dr:organization"),
            tier_key="dr:tier:",
        )
        return results[tier]
    levels = levels_for(stack, build_policies(), policy_config)  # a bad policy-config file stops here, first
    validate_config(config, secret_keys)
    run = _run_program(stack, config, secret_keys, project_dir)

    return PreviewResult(
        stack=stack,
        layout=run.outputs.get("layout"),
        resources=run.resources,
        outputs=run.outputs,
        budget=run.outputs.get("budget"),
        violations=evaluate(run.resources, stack, levels=levels),
        warnings=run.warnings,
    )


def validate_config(config: dict[str, str], secret_keys: list[str]) -> None:
    """The program's own config validation, run before the program: a mistake is one PreviewConfigError line and
    nothing is declared (the program validates again when the Pulumi CLI runs it)."""
    from components.config import ConfigError, decode_engine_config, parse_stack_config

    raw, secret = decode_engine_config(config, secret_keys)
    try:
        parse_stack_config(raw, secret)
    except ConfigError as exc:
        raise PreviewConfigError(str(exc)) from None


def _tier_stack_config(config: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    """(base stack, tier, the base stack's config) of a tier stack's config."""
    from components.tiers import check_stack_name
    from drctl.stacks import TIER_KEYS

    base = config.get("dr:baseStack")
    if not base:
        raise PreviewConfigError(
            "dr:baseStack: required with dr:tier: the base stack that names the deployment (`drctl deploy` sets it)"
        )
    try:
        check_stack_name(base)
    except ValueError as exc:
        raise PreviewConfigError(f"dr:baseStack: {exc}") from None
    return base, config["dr:tier"], {k: v for k, v in config.items() if k not in TIER_KEYS}


def run_tier_previews(
    base: str,
    tiers: list[str] | None = None,
    project_dir: Path = PROJECT_DIR,
    stack_file: Path | None = None,
    policy_config: Path | None = None,
    organization: str | None = None,
) -> dict[str, PreviewResult]:
    """Preview tiers of the deployment of base stack `base` (all of them when `tiers` is None), each under the
    config `drctl deploy` gives its stack. The tiers they read are previewed first (once each) and answer their
    StackReferences. Returns the requested tiers' results, in deploy order."""
    from policies.offline import levels_for
    from policies.pack import build_policies

    config, secret_keys = load_stack_config(project_dir, base, stack_file)
    levels = levels_for(base, build_policies(), policy_config)  # a bad policy-config file stops here, first
    return _tier_previews(base, config, secret_keys, tiers, project_dir, levels, organization)


def _tier_previews(
    base: str,
    config: dict[str, str],
    secret_keys: list[str],
    tiers: list[str] | None,
    project_dir: Path,
    levels,
    organization: str | None,
    tier_key: str = "--tier",
) -> dict[str, PreviewResult]:
    from drctl.stacks import PlanError, plan_deployment, tier_config
    from policies.offline import evaluate

    try:
        plan = plan_deployment(base, config, secret_keys, organization=organization)
    except PlanError as exc:
        raise PreviewConfigError(str(exc)) from None
    wanted = [t.name for t in plan.tiers] if tiers is None else list(tiers)
    unknown = [t for t in wanted if t not in plan.by_name]
    if unknown:
        raise PreviewConfigError(
            f"{tier_key} {unknown[0]}: not a tier of {base}; its tiers are {', '.join(t.name for t in plan.tiers)}"
        )
    needed = plan.closure(wanted)
    runs: dict[str, _Run] = {}
    results: dict[str, PreviewResult] = {}
    for tier in plan.tiers:
        if tier.name not in needed:
            continue
        references = {plan.qualified(r): runs[r].stack_outputs for r in tier.requires}
        run = _run_program(
            plan.stack_name(tier.name), tier_config(config, plan, tier.name), secret_keys, project_dir, references
        )
        runs[tier.name] = run
        if tier.name in wanted:
            results[tier.name] = PreviewResult(
                stack=plan.stack_name(tier.name),
                layout=run.outputs.get("layout"),
                resources=run.resources,
                outputs=run.outputs,
                budget=run.outputs.get("budget"),
                violations=evaluate(run.resources, base, levels=levels, stack_tags=plan.stack_tags(tier.name)),
                tier=tier.name,
                base_stack=base,
                warnings=run.warnings,
            )
    return results
