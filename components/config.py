"""The stack configuration (`dr:` namespace), read once and validated into one typed model.

Everything the program declares is derived from the model `parse_stack_config` returns; nothing else reads
`pulumi.Config`. Validation happens before any resource is declared, and a mistake is reported as one line that
names the key path (`dr:regions.secondaries[0]: ...`), never as a traceback.

The model is the layout's: the DR plane's keys (`components.common_config.CommonConfig`) plus its kind of site's
(`components.sites.<kind>.config`), chosen by `dr:layout` through the registry of layouts (`components.layouts`),
which dispatch reads too. This module is the entry point: the program and the operator CLI import it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter, ValidationError

from components.common_config import CommonConfig, plane_checks
from components.config_base import NAMESPACE, ConfigError, first_error
from components.layouts import LAYOUTS, site_placements
from components.stack_file import (
    PROVIDER_SECRET_KEYS,
    StackFileTextError,
    check_secret_keys,
    check_stack_file,
    plain_secret_message,
    plain_values_under_secret_keys,
    secret_command,
    stack_file_text,
)
from components.tiers import TierPlanError, check_stack_name, plan_tiers, tier_stack_name

__all__ = [
    "NAMESPACE",
    "ConfigError",
    "StackFileTextError",
    "check_stack_file",
    "decode_engine_config",
    "load_stack_config",
    "parse_stack_config",
    "plain_secret_message",
    "plain_values_under_secret_keys",
    "stack_file_text",
]


@cache
def _stack_model() -> TypeAdapter[CommonConfig]:
    """Every layout's model in one pydantic union, discriminated on `layout`."""
    models = tuple(layout.keys.model for layout in LAYOUTS.values())
    # A Union over a tuple built at run time (the registry's models, each a CommonConfig) has no static type, so
    # mypy cannot check it (pydantic does, when it builds the adapter); `X | Y` would need the members spelled out.
    return TypeAdapter(Annotated[Union[models], Field(discriminator="layout")])  # type: ignore[arg-type]  # noqa: UP007


def parse_stack_config(values: Mapping[str, Any], secret_keys: frozenset[str] = frozenset()) -> CommonConfig:
    """Validate raw `dr:` values (key without namespace -> decoded value) into the layout's model.

    `secret_keys` names the keys the stack file holds as `secure:` values: only SECRET_KEYS may
    be secret, and those must be. Raises ConfigError for the first problem found.
    """
    check_secret_keys(values, secret_keys)
    failover = values.get("failover")
    if isinstance(failover, Mapping) and "monitorIntervalMinutes" in failover:
        raise ConfigError(
            f"{NAMESPACE}:failover.monitorIntervalMinutes",
            "was replaced by failover.probeIntervalSeconds: the monitor now probes every N seconds, every minute",
        )
    layout, names = values.get("layout"), tuple(LAYOUTS)
    if layout not in names:  # a tuple: the value may be a list or a mapping, which a dict lookup cannot take
        shown = "required key is missing" if layout is None else f"{layout!r} is not a layout"
        raise ConfigError(f"{NAMESPACE}:layout", f"{shown}; use one of {', '.join(names)}")
    keys = LAYOUTS[layout].keys
    try:
        cfg = _stack_model().validate_python(dict(values))
    except ValidationError as exc:
        raise first_error(exc, skip=1) from None  # the union's first location part is the layout
    keys.own_checks(cfg)  # first: a layout names its own keys (dr:sites[1].awsRegion, not dr:regions...)
    plane_checks(cfg)
    keys.late_checks(cfg)
    _tier_plan_checks(cfg)
    return cfg


def _tier_plan_checks(cfg: CommonConfig) -> None:
    """The deployment can be split into tier stacks (`drctl stacks`, `drctl deploy`): no site is named like a
    tier of another kind (data, traffic, <site>-automation), and a tier's stack name is one Pulumi accepts.
    Checked at every preview, so a stack never learns it at its first per-tier deploy."""
    try:
        tiers = plan_tiers(site_placements(cfg))
    except TierPlanError as exc:
        raise ConfigError(exc.key, str(exc).split(": ", 1)[1]) from None
    if cfg.tier is not None and cfg.base_stack:
        if cfg.tier not in {t.name for t in tiers}:
            raise ConfigError(
                f"{NAMESPACE}:tier",
                f"{cfg.tier!r} is not a tier of this deployment; its tiers are {', '.join(t.name for t in tiers)}",
            )
        try:
            check_stack_name(tier_stack_name(cfg.base_stack, cfg.tier))
        except ValueError:
            raise ConfigError(
                f"{NAMESPACE}:baseStack",
                f"the tier's stack name {tier_stack_name(cfg.base_stack, cfg.tier)!r} is longer than "
                "the 100 characters Pulumi allows; shorten the base stack's name",
            ) from None


def decode_engine_config(
    config: Mapping[str, Any], secret_keys: Iterable[str] = ()
) -> tuple[dict[str, Any], frozenset[str]]:
    """The `dr:` keys of config in the form the engine passes it (objects as JSON strings), as
    (key without namespace -> decoded value, names of the secret keys)."""
    raw: dict[str, Any] = {}
    for full, value in config.items():
        ns, _, name = full.partition(":")
        if ns != NAMESPACE:
            continue
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # a plain string value such as dr:layout stays a string
                value = json.loads(value)
        raw[name] = value
    prefix = NAMESPACE + ":"
    return raw, frozenset(k[len(prefix) :] for k in secret_keys if k.startswith(prefix))


def load_stack_config() -> CommonConfig:
    """Read every `dr:*` key of the running stack and validate it (the only `pulumi.Config` reader)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    check_stack_file(Path.cwd() / f"Pulumi.{pulumi.get_stack()}.yaml")
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    for key in PROVIDER_SECRET_KEYS:
        if key in keys and not runtime_config.is_config_secret(key):
            raise ConfigError(
                key,
                f"is a credential in plain text; set it with `{secret_command(key)}` "
                "(or the provider's environment variable)",
            )
    config = {k: runtime_config.get_config(k) for k in sorted(keys)}
    raw, secret = decode_engine_config(config, [k for k in keys if runtime_config.is_config_secret(k)])
    return parse_stack_config(raw, secret)
