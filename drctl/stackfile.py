"""Read `Pulumi.<stack>.yaml` the way the Pulumi CLI hands config to a program.

Object and list values are JSON-encoded strings; `secure:` values (which only the CLI can
decrypt) become a placeholder and their key is marked secret, so the program sees a secret.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

SECRET_PLACEHOLDER = "preview-placeholder-secret"


class StackFileError(Exception):
    """The stack file is missing or is not valid Pulumi stack YAML."""


def _replace_secure(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER, True
        out, secret = {}, False
        for k, v in value.items():
            out[k], s = _replace_secure(v)
            secret = secret or s
        return out, secret
    if isinstance(value, list):
        items = [_replace_secure(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def load_stack_document(project_dir: Path, stack: str, stack_file: Path | None = None) -> dict[str, Any]:
    """The `config:` mapping of `Pulumi.<stack>.yaml` (or `stack_file`) as written: typed values, `secure:`
    values still wrapped (only the CLI can decrypt them)."""
    path = stack_file or project_dir / f"Pulumi.{stack}.yaml"
    if stack_file is not None and not path.is_file():
        raise StackFileError(f"{path}: no such stack file")
    if not path.is_file():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
        raise StackFileError(f"{path.name}: no such stack file (stacks here: {', '.join(known) or 'none'})")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise StackFileError(f"{path.name}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    raw = doc.get("config") or {} if isinstance(doc, dict) else None
    if not isinstance(raw, dict):
        raise StackFileError(f"{path.name}: 'config' must be a mapping of namespace:key to values")
    for key in raw:
        if ":" not in str(key):
            raise StackFileError(f"{path.name}: config key {key!r} needs a namespace (like dr:{key})")
    return raw


def is_secure(value: Any) -> bool:
    """True when `value` holds a `secure:` value anywhere."""
    return _replace_secure(value)[1]


def load_stack_config(
    project_dir: Path, stack: str, stack_file: Path | None = None
) -> tuple[dict[str, str], list[str]]:
    """Return (config as the engine passes it, secret keys) for `Pulumi.<stack>.yaml` (or `stack_file`)."""
    raw = load_stack_document(project_dir, stack, stack_file)
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        value, secret = _replace_secure(value)
        if secret:
            secret_keys.append(key)
        if isinstance(value, (dict, list)):
            config[key] = json.dumps(value)
        elif isinstance(value, bool):
            config[key] = "true" if value else "false"
        else:
            config[key] = str(value)
    return config, secret_keys


def base_stack_names(project_dir: Path) -> list[str]:
    """The project's base stack files, sorted: every `Pulumi.<stack>.yaml` except the tier stacks' files that
    `drctl deploy` writes (their config sets dr:tier)."""
    names = []
    for path in sorted(project_dir.glob("Pulumi.*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            doc = {}
        config = doc.get("config") if isinstance(doc, dict) else None
        if isinstance(config, dict) and "dr:tier" in config:
            continue
        names.append(path.name[len("Pulumi."):-len(".yaml")])
    return names
