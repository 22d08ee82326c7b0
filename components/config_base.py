"""What the common config model and every site kind's model share: the `dr` namespace, `ConfigError`, the
base model's settings, the checks of values that several layouts take (an AWS region, an HTTP path, an app
name, an image), and pydantic's errors turned into one line that names the key path.

A module of its own so that the common model (`components.common_config`) and the site models
(`components.sites.*`) both import it, and neither imports the other's internals.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from docker_image.reference import InvalidReference, Reference
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from components.powertools import layer_region_problem

NAMESPACE = "dr"

Scheme = Literal["http", "https"]
"""How the public reaches a site."""

COMMERCIAL_PARTITION = "aws"
# What every region of a stack must offer: the services the aws layout declares there.
REGION_SERVICES = ("dynamodb", "ecs", "elbv2", "lambda", "ssm", "sns", "kms", "logs", "events", "secretsmanager")
ROUTE53_RESOURCE_PATH_MAX = 255
_APP_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")


class ConfigError(Exception):
    """A user mistake in the stack config: `key` is the full path, `message` says what is wrong."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class ConfigModel(BaseModel):
    """camelCase keys in the stack file, snake_case in Python; unknown keys are mistakes."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        # No coercion: YAML `true` is not 1, "8080" is not 8080, 1 is not true.
        strict=True,
    )


# Where a service's endpoint prefix in botocore's endpoint data is not its name (tests check every service against
# botocore's service models).
ENDPOINT_PREFIXES = {"elbv2": "elasticloadbalancing"}


@cache
def _endpoint_data() -> dict:
    """botocore's endpoint data (`botocore/data/endpoints.json`, kept current by AWS's SDK releases), read as its
    endpoint resolver reads it: without botocore's session or any service model (those cost the offline preview
    about 0.4 s; this, 0.03 s)."""
    import botocore

    return json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text(encoding="utf-8"))


def _available_regions(service: str, partition: str) -> frozenset[str]:
    """The partition's regions with a regional endpoint of `service`: botocore's `get_available_regions`."""
    prefix = ENDPOINT_PREFIXES.get(service, service)
    for data in _endpoint_data()["partitions"]:
        if data["partition"] == partition:
            endpoints = data["services"].get(prefix, {}).get("endpoints", {})
            return frozenset(name for name in endpoints if name in data["regions"])
    return frozenset()


@cache
def partition_regions() -> dict[str, frozenset[str]]:
    """Partition name -> its regions (those with an EC2 endpoint), from botocore's endpoint data."""
    return {data["partition"]: _available_regions("ec2", data["partition"]) for data in _endpoint_data()["partitions"]}


@cache
def commercial_regions() -> frozenset[str]:
    """Regions of the commercial partition where every service the layout declares is offered."""
    regions = set(partition_regions()[COMMERCIAL_PARTITION])
    for service in REGION_SERVICES:
        regions &= _available_regions(service, COMMERCIAL_PARTITION)
    return frozenset(regions)


def check_region(value: str) -> str:
    """An AWS region of the commercial partition that offers every service the stack declares there."""
    if value in commercial_regions():
        problem = layer_region_problem(value)
        if problem:
            raise ValueError(problem)
        return value
    for partition, regions in partition_regions().items():
        if value in regions:
            if partition == COMMERCIAL_PARTITION:
                raise ValueError(f"{value} lacks a service the stack declares ({', '.join(REGION_SERVICES)})")
            raise ValueError(
                f"{value} is in the {partition} partition; this project's ARNs and its Powertools layer "
                f"support only the commercial partition ({COMMERCIAL_PARTITION})"
            )
    close = difflib.get_close_matches(value, sorted(commercial_regions()), n=1)
    hint = f"; did you mean {close[0]}?" if close else " (like us-east-1)"
    raise ValueError(f"{value!r} is not an AWS region of the commercial partition{hint}")


def check_http_path(value: str) -> str:
    """An absolute URL path (optionally with a query) that Route 53 and the ALB accept."""
    parts = urlsplit(value)
    if (
        not value.startswith("/")
        or value.startswith("//")
        or parts.scheme
        or parts.netloc
        or parts.fragment
        or any(c.isspace() or not c.isprintable() for c in value)
    ):
        raise ValueError(f"{value!r} must be an absolute URL path like /health")
    if len(value) > ROUTE53_RESOURCE_PATH_MAX:
        raise ValueError(f"is {len(value)} characters; Route 53 health checks take at most {ROUTE53_RESOURCE_PATH_MAX}")
    return value


def check_app_name(value: str) -> str:
    """The application's short name, which prefixes resources and the SSM parameter in every layout."""
    if not _APP_NAME.match(value):
        raise ValueError(f"{value!r} must be 3-32 lower-case letters, digits or hyphens, starting with a letter")
    return value


def check_image(value: str) -> str:
    """A container image reference (registry/repository:tag or @digest)."""
    try:
        Reference.parse(value)
    except InvalidReference as exc:
        raise ValueError(f"{value!r} is not a container image reference ({exc})") from None
    return value


def loc_to_path(loc: tuple[Any, ...]) -> str:
    """pydantic's error location as the stack file's key path (`dr:sites[1].region`)."""
    path = NAMESPACE + ":"
    first = True
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("" if first else ".") + str(part)
        first = False
    return path


def friendly_message(err: Mapping[str, Any]) -> str:
    """pydantic's error as the one line after the key path; the value given is shown unless it is a
    container or a secret."""
    kind, msg = err["type"], err["msg"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key"
    msg = msg.removeprefix("Value error, ")
    got = err.get("input")
    secret = bool(err["loc"]) and err["loc"][0] in ("appSecrets", "app_secrets")
    if kind != "value_error" and not isinstance(got, (dict, list)) and not secret:
        msg += f" (got {got!r})"
    return msg


def first_error(exc: ValidationError, skip: int = 0) -> ConfigError:
    """The first of pydantic's errors as a ConfigError; `skip` leading location parts are dropped (a
    discriminated union puts the tag first)."""
    first = exc.errors()[0]
    loc = tuple(first["loc"][skip:])
    return ConfigError(loc_to_path(loc), friendly_message({**first, "loc": loc}))
