"""Read `Pulumi.<stack>.yaml` the way the Pulumi CLI hands config to a program.

Object and list values are JSON-encoded strings; `secure:` values (which only the CLI can
decrypt) become a placeholder and their key is marked secret, so the program sees a secret.

The file is read as YAML 1.2 (like the CLI: `yes` is a string, not true) by ruamel.yaml, which
refuses duplicate keys (the CLI does too; PyYAML would keep the last one silently), and a
document that aliases expand beyond MAX_VALUES values is refused before anything walks it.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import YAMLError

from components.config import StackFileTextError, plain_secret_message, plain_values_under_secret_keys, stack_file_text

SECRET_PLACEHOLDER = "preview-placeholder-secret"
MAX_VALUES = 10_000
"""A stack file holds dozens of values; anchors and aliases (`&a`, `*a`) can multiply a small file into
billions of them (1.2 KB took 58 s and 3 GB before this bound)."""


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
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat(), False  # the CLI keeps timestamp-looking values as strings
    return value, False


def _count_values(doc: Any, limit: int) -> int:
    """Values in `doc` as a consumer sees them (an aliased node counts each time it is reached); stops past `limit`."""
    count, pending = 0, [doc]
    while pending:
        node = pending.pop()
        count += 1
        if count > limit:
            break
        if isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return count


def _read_yaml(path: Path) -> Any:
    try:
        doc = YAML(typ="safe", pure=True).load(stack_file_text(path))
    except StackFileTextError as exc:
        raise StackFileError(str(exc)) from None
    except DuplicateKeyError as exc:
        # ruamel's problem text also quotes both values, which may be secrets: name only the key.
        key = re.search(r'duplicate key "(.*?)" with value', str(exc.problem))
        raise StackFileError(
            f"{path.name} line {exc.problem_mark.line + 1}: duplicate key "
            f"{key.group(1) if key else ''!r}; keys must be unique (the last one would "
            "silently win)"
        ) from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise StackFileError(f"{path.name}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if _count_values(doc, MAX_VALUES) > MAX_VALUES:
        raise StackFileError(
            f"{path.name}: the document expands to more than {MAX_VALUES} values "
            "(YAML aliases multiply them); write the values out"
        )
    return doc


def load_stack_document(project_dir: Path, stack: str, stack_file: Path | None = None) -> dict[str, Any]:
    """The `config:` mapping of `Pulumi.<stack>.yaml` (or `stack_file`) as written: typed values, `secure:`
    values still wrapped (only the CLI can decrypt them)."""
    path = stack_file or project_dir / f"Pulumi.{stack}.yaml"
    if stack_file is not None and not path.is_file():
        raise StackFileError(f"{path}: no such stack file")
    if not path.is_file():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
        raise StackFileError(f"{path.name}: no such stack file (stacks here: {', '.join(known) or 'none'})")
    doc = _read_yaml(path) or {}
    raw = doc.get("config") or {} if isinstance(doc, dict) else None
    if not isinstance(raw, dict):
        raise StackFileError(f"{path.name}: 'config' must be a mapping of namespace:key to values")
    plain = plain_values_under_secret_keys(raw)
    if plain:
        raise StackFileError(f"{plain[0]}: {plain_secret_message(plain[0], path.name)}")
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
    path = stack_file or project_dir / f"Pulumi.{stack}.yaml"
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        value, secret = _replace_secure(value)
        if secret:
            secret_keys.append(key)
        if isinstance(value, (dict, list)):
            try:
                config[key] = json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise StackFileError(
                    f"{path.name}: {key} holds a value the Pulumi CLI cannot pass on ({exc})"
                ) from None
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
            doc = _read_yaml(path) or {}
        except StackFileError:
            doc = {}
        config = doc.get("config") if isinstance(doc, dict) else None
        if isinstance(config, dict) and "dr:tier" in config:
            continue
        names.append(path.name[len("Pulumi.") : -len(".yaml")])
    return names
