"""A changed `dr:app.replicas` / `dr:app.standbyReplicas` reaching a running DOKS Deployment, without a later
`pulumi up` undoing a failover's scale-up.

The Deployment's `spec.replicas` is `ignore_changes` (the orchestrator scales a promoted standby up, and the next
deploy must leave it so), which alone means a new replica count in config never reaches the cluster. So each DOKS
site also declares a `command.local.Command` whose triggers are the two configured counts: it runs when the site
is created and again only when one of them changes, never on an unrelated `pulumi up`. It runs this module (as
`python -m components.sites.replicas`, the entry point existing sites' state records), which scales the
Deployment to the count of the site's *current* role: `replicas` when the active-region parameter (the control
item's SSM projection, read in the site's AWS region) names the site's region, else `standbyReplicas`. A config
change made while a standby has been promoted therefore resizes the promoted site as an active one, and a
failover's scale-up is never undone.

The PATCH goes through the scale subresource with the scaler ServiceAccount's token (the only Kubernetes
credential the component holds: get and patch on this Deployment's scale), as the orchestrator's does.
Everything arrives in `DR_REPLICAS_*` environment variables; the token and CA as Pulumi secrets.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "DR_REPLICAS_"
ENV_NAMES = ("SERVER", "NAMESPACE", "DEPLOYMENT", "ACTIVE", "STANDBY", "REGION", "PRIMARY", "PARAMETER", "TOKEN", "CA")
"""`DR_REPLICAS_<NAME>`: the API server, the Deployment, the two configured counts, the site's AWS region, the
first region (active before any transition), the active-region parameter, the scaler token and cluster CA."""
TIMEOUT_SECONDS = 30.0
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+")


@dataclass(frozen=True)
class ReplicaSettings:
    server: str
    namespace: str
    deployment: str
    active: int
    standby: int
    region: str
    primary: str
    parameter: str
    token: str
    ca: str

    @staticmethod
    def from_environment(env: Mapping[str, str]) -> ReplicaSettings:
        missing = [f"{ENV_PREFIX}{n}" for n in ENV_NAMES if not env.get(f"{ENV_PREFIX}{n}")]
        if missing:
            raise ValueError(f"{', '.join(missing)} not set")
        values: dict[str, Any] = {n.lower(): env[f"{ENV_PREFIX}{n}"] for n in ENV_NAMES}
        for name in ("active", "standby"):
            if not values[name].isdigit():
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must be a whole number, got {values[name]!r}")
            values[name] = int(values[name])
        return ReplicaSettings(**values)


def active_region_of(value: str) -> str | None:
    """The region an active-region parameter names: the region itself, a region followed by an epoch or other
    suffix, or a JSON object's `activeRegion` (or `region`)."""
    text = value.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return None
        found = document.get("activeRegion") or document.get("region") if isinstance(document, dict) else None
        return found if isinstance(found, str) and _REGION.match(found) else None
    match = _REGION.match(text)
    return match.group(0) if match else None


def desired_replicas(settings: ReplicaSettings, active_region: str) -> int:
    """The configured count of the site's current role."""
    return settings.active if active_region == settings.region else settings.standby


def read_active_region(get_parameter: Callable[[str], str | None], settings: ReplicaSettings) -> str:
    """The region the parameter names; before the first deployment wrote it, the first region (the program's
    initial value)."""
    value = get_parameter(settings.parameter)
    if value is None:
        return settings.primary
    region = active_region_of(value)
    if region is None:
        raise ValueError(f"the active-region parameter {settings.parameter} holds {value!r}, not a region")
    return region


def _ssm_getter(region: str) -> Callable[[str], str | None]:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "ssm", region_name=region, config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3})
    )

    def get(name: str) -> str | None:
        try:
            return client.get_parameter(Name=name)["Parameter"]["Value"]
        except client.exceptions.ParameterNotFound:
            return None

    return get


def apply(settings: ReplicaSettings, get_parameter: Callable[[str], str | None], patch: Callable[..., Any]) -> str:
    """Scale the Deployment to its role's count; returns the line to print."""
    active_region = read_active_region(get_parameter, settings)
    replicas = desired_replicas(settings, active_region)
    patch(
        server=settings.server,
        namespace=settings.namespace,
        deployment=settings.deployment,
        replicas=replicas,
        token=settings.token,
        ca_certificate=settings.ca,
        timeout=TIMEOUT_SECONDS,
    )
    role = "active" if active_region == settings.region else f"standby (active: {active_region})"
    return f"{settings.namespace}/{settings.deployment} scaled to {replicas} replicas: the site is {role}"


def main(env: Mapping[str, str] = os.environ) -> int:
    from failover.scaling import patch_scale

    try:
        settings = ReplicaSettings.from_environment(env)
        print(apply(settings, _ssm_getter(settings.region), patch_scale))
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
