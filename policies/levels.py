"""The policy-config file (`--policy-pack-config`): enforcement levels per policy, validated like the CLI.

The Pulumi CLI refuses a file it cannot read, malformed JSON, a value that is neither a level nor an
object, and an unknown level. This module does the same for the offline preview and goes one step
further: a policy name the pack does not have is an error too (the CLI ignores it, so a typo such as
`dns-failover-tll` would silently leave that policy mandatory, or `mandtory` silently off).
Every problem is one line naming the file and the entry.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
BLOCKING_LEVELS = frozenset({"mandatory", "remediate"})
"""A violation at these levels stops `pulumi up` (remediate acts as mandatory for validation policies)."""
ALL = "all"
LEVEL_KEY = "enforcementLevel"


class PolicyConfigError(Exception):
    """The policy-config file is missing, malformed or names something the pack does not have."""


def _level(source: str, name: str, value: Any) -> str:
    if isinstance(value, dict):
        extra = sorted(set(value) - {LEVEL_KEY})
        if extra:
            raise PolicyConfigError(
                f"{source}: {name!r}: unknown property {extra[0]!r} (these policies take only {LEVEL_KEY!r})"
            )
        if LEVEL_KEY not in value:
            raise PolicyConfigError(f"{source}: {name!r}: the object has no {LEVEL_KEY!r}")
        value = value[LEVEL_KEY]
    if not isinstance(value, str):
        raise PolicyConfigError(
            f"{source}: {name!r}: {json.dumps(value)} is neither an enforcement level nor an object with {LEVEL_KEY!r}"
        )
    if value not in ENFORCEMENT_LEVELS:
        close = difflib.get_close_matches(value, ENFORCEMENT_LEVELS, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise PolicyConfigError(
            f"{source}: {name!r}: {value!r} is not an enforcement level ({', '.join(ENFORCEMENT_LEVELS)}){hint}"
        )
    return value


def parse_policy_config(text: str, policy_names: Iterable[str], source: str) -> dict[str, str]:
    """Policy name (or "all") -> level, from the file's text. Empty text is an empty config (as for the CLI)."""
    names = sorted(policy_names)
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyConfigError(f"{source} line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise PolicyConfigError(f"{source}: must be a JSON object of policy name -> enforcement level")
    levels = {}
    for name, value in doc.items():
        if name != ALL and name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise PolicyConfigError(
                f"{source}: {name!r} is not a policy of this pack ({hint}policies: {', '.join(names)}, or {ALL!r})"
            )
        levels[name] = _level(source, name, value)
    return levels


def load_policy_config(path: Path, policy_names: Iterable[str]) -> dict[str, str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PolicyConfigError(f"{path}: no such policy config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyConfigError(f"{path}: cannot be read ({exc})") from None
    return parse_policy_config(text, policy_names, str(path))


def effective_levels(defaults: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    """The CLI's order: each policy's default, then "all", then the policy's own entry."""
    levels = dict(defaults)
    if ALL in overrides:
        levels = dict.fromkeys(levels, overrides[ALL])
    levels.update({k: v for k, v in overrides.items() if k != ALL})
    return levels
