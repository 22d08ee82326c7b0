"""The per-tier stacks of a base stack: their names, deploy order, and the config and tags each one gets.

`python -m drctl stacks --stack prod [--json]` lists them (the JSON feeds a CI matrix); `drctl preview --tier`
and `drctl deploy` use the same plan, so the three never disagree on a name or an order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.tiers import (
    BASE_STACK_TAG,
    TIER_TAG,
    SitePlacement,
    Tier,
    TierPlanError,
    check_organization,
    check_stack_name,
    qualified_stack_name,
    tier_stack_name,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
POLICY_PACK = "policies"
OFFLINE_ORGANIZATION = "organization"
"""The organization an offline preview names StackReferences with when none is configured (a self-managed
backend's fixed name)."""
TIER_KEYS = ("dr:tier", "dr:baseStack")
"""Config keys `drctl deploy` sets on a tier's stack and a base stack file must not set."""


class PlanError(Exception):
    """The base stack cannot be split into tiers; the message is the one line to show (it names the key)."""


def project_name(project_dir: Path = PROJECT_DIR) -> str:
    doc = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    return str(doc["name"])


@dataclass(frozen=True)
class DeploymentPlan:
    base: str
    organization: str | None
    project: str
    layout: str
    placements: list[SitePlacement]
    tiers: list[Tier]
    production: bool = True
    """`dr:production`: CI previews a production stack's tiers only from main, never with a pull request's code
    (their config secrets need a token that can decrypt them)."""

    @property
    def by_name(self) -> dict[str, Tier]:
        return {t.name: t for t in self.tiers}

    def stack_name(self, tier: str) -> str:
        return tier_stack_name(self.base, tier)

    def qualified(self, tier: str) -> str:
        return qualified_stack_name(self.organization or OFFLINE_ORGANIZATION, self.project, self.base, tier)

    def qualified_base(self) -> str:
        """The base stack's fully qualified name (`drctl deploy` copies its secrets from it)."""
        return f"{self.organization or OFFLINE_ORGANIZATION}/{self.project}/{self.base}"

    def stack_tags(self, tier: str) -> dict[str, str]:
        """The tags a tier's stack carries; the policy pack reads `dr:tier` to apply stack rules per tier."""
        return {TIER_TAG: tier, BASE_STACK_TAG: self.base}

    def closure(self, tiers: list[str]) -> set[str]:
        """`tiers` and every tier they read, transitively."""
        out: set[str] = set()
        todo = list(tiers)
        while todo:
            name = todo.pop()
            if name not in out:
                out.add(name)
                todo.extend(self.by_name[name].requires)
        return out

    def waves(self, tiers: list[str] | None = None) -> list[list[Tier]]:
        """The tiers (all, or those named) grouped by wave, in deploy order."""
        chosen = [t for t in self.tiers if tiers is None or t.name in tiers]
        return [[t for t in chosen if t.wave == w] for w in sorted({t.wave for t in chosen})]

    def policy_config(self, project_dir: Path = PROJECT_DIR) -> Path | None:
        """`policies/config.<base>.json` when the base stack has one (every tier uses its base's levels)."""
        path = project_dir / POLICY_PACK / f"config.{self.base}.json"
        return path if path.is_file() else None


def plan_deployment(
    base: str,
    config: dict[str, str],
    secret_keys: list[str],
    *,
    organization: str | None = None,
    require_organization: bool = False,
) -> DeploymentPlan:
    """The tiers of base stack `base` from its config (as the engine passes it). The organization is
    `organization`, else the config's `dr:organization`; raises PlanError (one line) for config mistakes."""
    from components.config import ConfigError, decode_engine_config, parse_stack_config
    from components.layouts import site_placements
    from components.tiers import plan_tiers

    for key in TIER_KEYS:
        if key in config:
            raise PlanError(f"{key}: set by `drctl deploy` on each tier's stack; remove it from Pulumi.{base}.yaml")
    raw, secret = decode_engine_config(config, secret_keys)
    try:
        cfg = parse_stack_config(raw, secret)
        placements = site_placements(cfg)
        tiers = plan_tiers(placements)
    except (ConfigError, TierPlanError) as exc:
        raise PlanError(str(exc)) from None
    longest = max((t.name for t in tiers), key=len)
    try:
        check_stack_name(tier_stack_name(base, longest))
    except ValueError:
        raise PlanError(
            f"the tier stack {tier_stack_name(base, longest)!r} is longer than the 100 characters Pulumi "
            f"allows; shorten the base stack's name ({base})"
        ) from None
    org = organization or cfg.organization
    if organization:
        try:
            check_organization(organization)
        except ValueError as exc:
            raise PlanError(f"--org: {exc}") from None
    if require_organization and not org:
        raise PlanError(
            f"dr:organization: required for tier stacks (set it in Pulumi.{base}.yaml or pass --org; "
            "`organization` on a self-managed backend)"
        )
    return DeploymentPlan(
        base=base,
        organization=org,
        project=project_name(),
        layout=cfg.layout,
        placements=placements,
        tiers=tiers,
        production=cfg.production,
    )


def tier_config(config: dict[str, str], plan: DeploymentPlan, tier: str) -> dict[str, str]:
    """A tier stack's config as the engine passes it: the base stack's, plus the tier, the base stack (which
    names every physical resource) and the organization (which names the StackReferences)."""
    return {
        **config,
        "dr:tier": tier,
        "dr:baseStack": plan.base,
        "dr:organization": plan.organization or OFFLINE_ORGANIZATION,
    }


def matrix(plans: list[DeploymentPlan], wave: int | None = None, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """`{"include": [...]}`, one entry per tier in deploy order: what `strategy.matrix: ${{ fromJSON(...) }}`
    takes in a workflow."""
    rows = []
    for plan in plans:
        policy_config = plan.policy_config(project_dir)
        for tier in plan.tiers:
            if wave is not None and tier.wave != wave:
                continue
            rows.append(
                {
                    "base": plan.base,
                    "tier": tier.name,
                    "kind": tier.kind,
                    "wave": tier.wave,
                    "stack": plan.stack_name(tier.name),
                    "qualifiedStack": plan.qualified(tier.name),
                    "region": tier.region or "",
                    "location": tier.location or "",
                    "requires": list(tier.requires),
                    "policyPackConfig": str(policy_config.relative_to(project_dir)) if policy_config else "",
                    "production": plan.production,
                }
            )
    return {"include": rows}


def render_matrix(document: dict[str, Any], width: int = 80):
    """The tier stacks in deploy order, one block each: what it is on one line, then its fully qualified stack
    name on a line of its own (never cut: it is what `pulumi --stack` takes)."""
    from rich.console import Group
    from rich.text import Text

    from drctl.text import prose

    lines = prose("Tier stacks in deploy order (the tiers of one wave deploy in parallel)", width, style="bold")
    for row in document["include"]:
        reads = row["requires"]
        region = row["region"] or "several regions"
        if row["location"] and row["location"] != row["region"]:
            region += f" ({row['location']})"
        what = f"wave {row['wave']}: {row['kind']} tier {row['tier']}, in {region}"
        if reads:
            what += f", reads {', '.join(reads) if len(reads) <= 1 else f'{len(reads)} tiers'}"
        lines += prose(what, width)
        lines.append(
            Text(
                "    " + row["qualifiedStack"] if len(row["qualifiedStack"]) + 4 <= width else row["qualifiedStack"],
                style="bold",
                no_wrap=True,
                overflow="ignore",
            )
        )
    return Group(*lines)


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True)


# -- a tier stack's config, as `drctl deploy` sets it ---------------------------------------------------------
_PLAIN_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RETYPED_TEXT = re.compile(r"^[+-]?[0-9]+$")
"""Text the CLI's path config would store as a number (or, for true/false, as a bool)."""


@dataclass(frozen=True)
class DerivedConfig:
    """How `drctl deploy` gives a tier stack its base stack's config, in three kinds of command."""

    path_values: dict[str, str]
    """`pulumi config set-all --path --plaintext KEY=VALUE`: every leaf of a structured value whose text the CLI
    types back exactly (strings, whole numbers, booleans)."""
    whole_values: dict[str, str]
    """`pulumi config set-all --plaintext KEY=VALUE`: top-level scalars, the tier keys, and structured values
    with a leaf the path form would retype ("8080" as text, 2.5, null, {}), as the JSON the engine passes."""
    secret_keys: list[str]
    """Keys holding `secure:` values: `pulumi config cp KEY --stack <base> --dest <tier>` re-encrypts them for
    the tier stack inside the CLI, so no plaintext appears in an argument list or in our output."""


def _segment(name: str) -> str:
    return f".{name}" if _PLAIN_SEGMENT.match(name) else f"[{json.dumps(name)}]"


def _path_leaves(prefix: str, value: Any) -> dict[str, str] | None:
    """Path -> text of every leaf, or None when some leaf would not come back as it is."""
    if isinstance(value, dict):
        if not value:
            return None
        out: dict[str, str] = {}
        for k, v in value.items():
            leaves = _path_leaves(prefix + _segment(str(k)), v)
            if leaves is None:
                return None
            out.update(leaves)
        return out
    if isinstance(value, list):
        if not value:
            return None
        out = {}
        for i, v in enumerate(value):
            leaves = _path_leaves(f"{prefix}[{i}]", v)
            if leaves is None:
                return None
            out.update(leaves)
        return out
    if isinstance(value, bool):
        return {prefix: "true" if value else "false"}
    if isinstance(value, int):
        return {prefix: str(value)}
    if isinstance(value, str) and not _RETYPED_TEXT.match(value) and value not in ("true", "false"):
        return {prefix: value}
    return None


def _engine_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def derive_config(document: dict[str, Any], plan: DeploymentPlan, tier: str) -> DerivedConfig:
    """The config of tier `tier`'s stack from its base stack file's `config:` mapping (`load_stack_document`)."""
    from drctl.stackfile import is_secure

    path_values: dict[str, str] = {}
    whole_values: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in document.items():
        if is_secure(value):
            secret_keys.append(key)
            continue
        leaves = _path_leaves(key, value) if isinstance(value, (dict, list)) else None
        if leaves is None:
            whole_values[key] = _engine_text(value)
        else:
            path_values.update(leaves)
    tier_keys = tier_config({}, plan, tier)
    return DerivedConfig(path_values=path_values, whole_values={**whole_values, **tier_keys}, secret_keys=secret_keys)


# -- moving a deployment between one stack and its tier stacks ----------------------------------------------
def _base_urn(urn: str, stack: str) -> str:
    return re.sub(r"^urn:pulumi:[^:]+::", f"urn:pulumi:{stack}::", urn)


def _quoted(urn: str) -> str:
    return "'" + urn.replace("'", "'\\''") + "'"


def migration_commands(plan: DeploymentPlan, tier_resources: dict[str, list[dict]], direction: str) -> list[str]:
    """The `pulumi state move` commands that hand every resource from the base stack to its tier's stack
    (`to-tiers`) or back (`to-single`), then the removal of what stays behind.

    `tier_resources` is each tier's offline preview (`resources` of its document). Only custom resources move:
    providers follow them (the CLI copies them), and components are declared again by the program in their
    new stack. A tier declares exactly the URNs one stack declares (tests/test_tiers.py), so after the moves
    `pulumi preview` shows no change in either mode."""
    base = plan.qualified_base()
    commands = []
    for tier in plan.tiers:
        resources = [
            r
            for r in tier_resources[tier.name]
            if r.get("custom", True) and not r["type"].startswith(("pulumi:", "dr:"))
        ]
        if direction == "to-tiers":
            urns = sorted(_base_urn(r["urn"], plan.base) for r in resources)
            source, dest = base, plan.qualified(tier.name)
        elif direction == "to-single":
            urns = sorted(r["urn"] for r in resources)
            source, dest = plan.qualified(tier.name), base
        else:
            raise ValueError(f"direction must be to-tiers or to-single, not {direction!r}")
        commands.append(f"pulumi state move --source {source} --dest {dest} --yes " + " ".join(map(_quoted, urns)))
    if direction == "to-tiers":
        # Components and providers stay behind; the base stack keeps its config (and the secrets the tiers copy).
        commands.append(f"pulumi state delete --stack {base} --all --yes")
    else:
        for tier in plan.tiers:
            commands.append(f"pulumi state delete --stack {plan.qualified(tier.name)} --all --yes")
            commands.append(f"pulumi stack rm --yes {plan.qualified(tier.name)}")
    return commands


MOVES_SCRIPT_HEADER = """#!/bin/sh
# Generated by `drctl stacks --moves`: run with `sh`. It stops at the first command that fails (set -e), so a
# failed `pulumi state move` never reaches the `pulumi state delete` that clears what the moves leave behind;
# fix the cause and run the remaining lines (a move that succeeded is not repeated: its URNs are gone from the
# source stack).
set -eu
"""


def migration_script(plan: DeploymentPlan, tier_resources: dict[str, list[dict]], direction: str) -> str:
    """`migration_commands` as a shell script that stops at the first failure."""
    return MOVES_SCRIPT_HEADER + "".join(
        f"{command}\n" for command in migration_commands(plan, tier_resources, direction)
    )
