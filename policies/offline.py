"""Run the policy pack's own policy objects over the offline preview's recorded resources.

Arguments are pulumi_policy's own types with its unknown-checking proxy around the properties,
so a rule that reads a value unknown at preview time behaves as under the CLI: it is reported
(advisory), not crashed on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policies.levels import BLOCKING_LEVELS, effective_levels, load_policy_config
from policies.pack import build_policies

POLICY_DIR = Path(__file__).resolve().parent
# the preview renders unknown values as "[unknown]"; the proxy knows the engine's sentinels
_ENGINE_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    resource: str | None
    message: str

    @property
    def blocking(self) -> bool:
        """`pulumi up` refuses the stack for this violation."""
        return self.level in BLOCKING_LEVELS

    def to_json(self) -> dict:
        return {"policy": self.policy, "level": self.level, "resource": self.resource, "message": self.message}


def levels_for(stack: str, policies: list, config_file: Path | None = None) -> dict[str, str]:
    """Default level of each policy, overridden by the policy-config file: `config_file` when given (it
    must exist), else `policies/config.<stack>.json` when present. Raises PolicyConfigError."""
    defaults = {p.name: (p.enforcement_level or EnforcementLevel.MANDATORY).value for p in policies}
    path = config_file or POLICY_DIR / f"config.{stack}.json"
    if config_file is None and not path.is_file():
        return defaults
    return effective_levels(defaults, load_policy_config(path, defaults))


def _engine_form(value):
    if value == "[unknown]":
        return _ENGINE_UNKNOWN
    if isinstance(value, dict):
        return {k: _engine_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine_form(v) for v in value]
    return value


def evaluate(
    resources: list[dict],
    stack: str,
    config_file: Path | None = None,
    levels: dict[str, str] | None = None,
    stack_tags: dict[str, str] | None = None,
) -> list[Violation]:
    """Every policy over `resources` at `levels` (default: `levels_for(stack, ..., config_file)`; `stack` picks the
    levels file, a tier's base stack); `stack_tags` are the stack's tags as the engine passes them (a tier's
    `dr:tier` scopes the stack rules)."""
    policies = build_policies()
    levels = levels if levels is not None else levels_for(stack, policies, config_file)
    providers = {
        p["inputs"]["region"]: PolicyProviderResource(p["type"], p["inputs"], p["urn"], p["name"])
        for p in resources
        if p["type"].startswith("pulumi:providers:") and "region" in p["inputs"]
    }
    custom = [r for r in resources if r.get("custom", True) and not r["type"].startswith("pulumi:")]
    # Built once and shared by every policy: the arguments are read-only to the rules.
    per_resource = []
    for r in custom:
        o = r["options"]
        opts = PolicyResourceOptions(
            o["protect"], o["ignoreChanges"], None, [], PolicyCustomTimeouts(0, 0, 0), [], r.get("parent")
        )
        # Secrets reach a policy pack in plain text: the offline preview keeps them apart as `policyInputs`.
        props = unknown_checking_proxy(_engine_form(r.get("policyInputs", r["inputs"])))
        provider = providers.get(r.get("region"))
        per_resource.append(
            (
                ResourceValidationArgs(r["type"], props, r["urn"], r["name"], opts, provider),
                PolicyResource(r["type"], props, r["urn"], r["name"], opts, provider, None, [], {}),
            )
        )
    stack_args = StackValidationArgs([resource for _, resource in per_resource], stack_tags=dict(stack_tags or {}))
    violations: list[Violation] = []

    def reporter(name: str, level: str, default_urn: str | None):
        return lambda message, urn=None: violations.append(Violation(name, level, urn or default_urn, message))

    def run(policy, args, level: str, urn: str | None) -> None:
        try:
            policy.validate(args, reporter(policy.name, level, urn))
        except UnknownValueError as exc:
            violations.append(Violation(policy.name, "advisory", urn, f"cannot check during preview: {exc}"))

    for policy in policies:
        level = levels[policy.name]
        if level == "disabled":
            continue
        if isinstance(policy, ResourceValidationPolicy):
            for args, _ in per_resource:
                run(policy, args, level, args.urn)
        else:
            run(policy, stack_args, level, None)
    return violations
