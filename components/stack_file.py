"""Secrets in the stack file: which keys may hold only Pulumi secrets, and the checks the engine's config alone
cannot make (a plain value beside `secure:` ones, a provider credential in plain text, a file that is not UTF-8).

Plain functions over the stack file's text and mapping, shared by the program (`components.config`) and the
operator CLI, which reads stack files itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.config_base import NAMESPACE, ConfigError

SECRET_KEYS = ("appSecrets", "siteSecrets")
PROVIDER_SECRET_KEYS = (
    "digitalocean:token",
    "digitalocean:spacesSecretKey",
    "ovh:applicationSecret",
    "ovh:consumerKey",
    "ovh:clientSecret",
    "aws:secretKey",
    "aws:token",
)
"""Provider credentials a stack file may hold only as Pulumi secrets (`pulumi config set --secret KEY`)."""


def _is_secure(v: Any) -> bool:
    return isinstance(v, Mapping) and set(v) == {"secure"}


def _leaves(path: str, value: Any) -> list[tuple[str, bool]]:
    """(key path, secure?) of every leaf of a stack-file value: a `secure:` value, a scalar, a list or an empty
    object."""
    if _is_secure(value):
        return [(path, True)]
    if isinstance(value, Mapping) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(f"{path}.{k}", v)]
    return [(path, False)]


def plain_values_under_secret_keys(stack_file_config: Mapping[Any, Any]) -> list[str]:
    """Key paths (`dr:appSecrets.NAME`, `dr:siteSecrets.gra.sshPrivateKey`, `dr:siteSecrets.rbx`) of plain-text
    values at any depth inside the secret-only keys of a stack file's `config:` mapping, and provider credentials
    (`digitalocean:token`) given in plain text.

    Of the secret-only keys only a mixed object is reported (an all-plain one is refused by `parse_stack_config`):
    the engine marks a whole key secret when any value inside it is `secure:`, so the program alone cannot see a
    plain sibling, or a plain site entry beside a secure one; the stack file can.
    """
    found = []
    for name in SECRET_KEYS:
        value = stack_file_config.get(f"{NAMESPACE}:{name}")
        leaves = _leaves(f"{NAMESPACE}:{name}", value) if isinstance(value, Mapping) else []
        if any(secure for _, secure in leaves):
            found += [path for path, secure in leaves if not secure]
    found += [
        key for key in PROVIDER_SECRET_KEYS if key in stack_file_config and not _is_secure(stack_file_config[key])
    ]
    return found


def secret_command(key: str) -> str:
    """The command that stores `key` (a full key path) as a Pulumi secret."""
    if key in PROVIDER_SECRET_KEYS:
        return f"pulumi config set --secret {key}"
    return f"pulumi config set --secret --path '{key}'"


def plain_secret_message(key: str, file_name: str) -> str:
    """What to say about the plain-text value at `key` (from `plain_values_under_secret_keys`)."""
    if key in PROVIDER_SECRET_KEYS:
        return (
            f"is a credential in plain text in {file_name}; set it with `{secret_command(key)}` "
            "(or the provider's environment variable)"
        )
    return f"is plain text in {file_name} beside secure values; set it with `{secret_command(key)}`"


def check_secret_keys(values: Mapping[str, Any], secret_keys: frozenset[str]) -> None:
    """Only SECRET_KEYS may arrive as Pulumi secrets, and those must (`values`: the raw `dr:` keys)."""
    for name in sorted(set(values) | secret_keys):
        if name in secret_keys and name not in SECRET_KEYS:
            raise ConfigError(
                f"{NAMESPACE}:{name}",
                "holds a secret, but this key is plain configuration that deploys show; "
                f"put secrets in {NAMESPACE}:appSecrets",
            )
        if name in SECRET_KEYS and name in values and name not in secret_keys:
            raise ConfigError(
                f"{NAMESPACE}:{name}",
                f"must be set with `pulumi config set --secret --path '{NAMESPACE}:{name}.NAME'`, not in plain text",
            )


class StackFileTextError(ValueError):
    """A stack file that is not UTF-8 text; the message names the file and the byte offset."""


def stack_file_text(path: Path) -> str:
    """The text of a stack file, which the Pulumi CLI reads as UTF-8; StackFileTextError names the first byte
    that is not (its offset and line), instead of a UnicodeDecodeError traceback."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise StackFileTextError(
            f"{path.name}: not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"(line {line}); save the file as UTF-8"
        ) from None


def check_stack_file(path: Path) -> None:
    """Refuse plain-text values beside `secure:` ones (at any depth) and plain provider credentials in the stack
    file the CLI read (when it is where the CLI keeps it by default); the engine's config alone cannot show them."""
    if not path.is_file():
        return
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        doc = YAML(typ="safe", pure=True).load(stack_file_text(path)) or {}
    except StackFileTextError as exc:
        raise ConfigError(path.name, str(exc).split(": ", 1)[1]) from None
    except YAMLError:
        return  # the CLI, which read the same file, reports its syntax
    config = doc.get("config") if isinstance(doc, dict) else None
    plain = plain_values_under_secret_keys(config) if isinstance(config, dict) else []
    if plain:
        raise ConfigError(plain[0], plain_secret_message(plain[0], path.name))
