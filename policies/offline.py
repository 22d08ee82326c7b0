"""Run the policy pack's own policy objects over the offline preview's recorded resources.

Arguments are pulumi_policy's own types with its unknown-checking proxy around the properties,
so a rule that reads a value unknown at preview time behaves as under the CLI: it is reported
(advisory), not crashed on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

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

from policies.pack import build_policies

POLICY_DIR = Path(__file__).resolve().parent
# the preview renders unknown values as "[unknown]"; the proxy knows the engine's sentinels
_ENGINE_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    resource: Optional[str]
    message: str

    def to_json(self) -> dict:
        return {"policy": self.policy, "level": self.level, "resource": self.resource, "message": self.message}


def levels_for(stack: str, policies: list, config_file: Optional[Path] = None) -> dict[str, str]:
    """Default level of each policy, overridden by `policies/config.<stack>.json` (the file CI passes
    as `--policy-pack-config`), with "all" applying to every policy."""
    levels = {p.name: (p.enforcement_level or EnforcementLevel.MANDATORY).value for p in policies}
    path = config_file or POLICY_DIR / f"config.{stack}.json"
    if path.is_file():
        overrides = json.loads(path.read_text())
        if "all" in overrides:
            levels = {name: _level(overrides["all"]) for name in levels}
        levels.update({k: _level(v) for k, v in overrides.items() if k in levels})
    return levels


def _level(value) -> str:
    return value["enforcementLevel"] if isinstance(value, dict) else str(value)


def _engine_form(value):
    if value == "[unknown]":
        return _ENGINE_UNKNOWN
    if isinstance(value, dict):
        return {k: _engine_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine_form(v) for v in value]
    return value


def evaluate(resources: list[dict], stack: str, config_file: Optional[Path] = None) -> list[Violation]:
    policies = build_policies()
    levels = levels_for(stack, policies, config_file)
    providers = {r["urn"]: r for r in resources if r["type"].startswith("pulumi:providers:")}
    custom = [r for r in resources if r.get("custom", True) and not r["type"].startswith("pulumi:")]
    violations: list[Violation] = []

    def provider_for(r: dict) -> Optional[PolicyProviderResource]:
        region = r.get("region")
        match = next((p for p in providers.values() if p["inputs"].get("region") == region), None)
        if match is None:
            return None
        return PolicyProviderResource(match["type"], match["inputs"], match["urn"], match["name"])

    def opts_for(r: dict) -> PolicyResourceOptions:
        o = r["options"]
        return PolicyResourceOptions(o["protect"], o["ignoreChanges"], None, [], PolicyCustomTimeouts(0, 0, 0), [],
                                     r.get("parent"))

    for policy in policies:
        level = levels[policy.name]
        if level == "disabled":
            continue

        def report(message: str, urn: Optional[str] = None, *, _p=policy.name, _l=level, _default=None):
            violations.append(Violation(_p, _l, urn or _default, message))

        if isinstance(policy, ResourceValidationPolicy):
            for r in custom:
                args = ResourceValidationArgs(r["type"], unknown_checking_proxy(_engine_form(r["inputs"])), r["urn"],
                                              r["name"], opts_for(r), provider_for(r))
                try:
                    policy.validate(args, lambda m, urn=None, _r=r["urn"], _p=policy.name, _l=level:
                                    violations.append(Violation(_p, _l, urn or _r, m)))
                except UnknownValueError as exc:
                    violations.append(Violation(policy.name, "advisory", r["urn"], f"cannot check during preview: {exc}"))
        else:
            stack_resources = [
                PolicyResource(r["type"], unknown_checking_proxy(_engine_form(r["inputs"])), r["urn"], r["name"],
                               opts_for(r), provider_for(r), None, [], {})
                for r in custom
            ]
            try:
                policy.validate(StackValidationArgs(stack_resources), report)
            except UnknownValueError as exc:
                violations.append(Violation(policy.name, "advisory", None, f"cannot check during preview: {exc}"))
    return violations
