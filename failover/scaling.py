"""How the orchestrator brings a site to full capacity after writes move to it.

One implementation per kind of site (`ecs`, `kubernetes`, `none`), chosen per region from the
`DR_SCALE_TARGETS` variable. The orchestrator keeps order, lease and pending steps; a scaler only
does the one remote call, within the deadline it is given, and raises on failure so the step stays
pending for the next invocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Protocol, Union

SCALE_KINDS = ("ecs", "kubernetes", "none")


class ScaleTargetError(ValueError):
    """A scale target in DR_SCALE_TARGETS is malformed; the message names the region and field."""


@dataclass(frozen=True)
class EcsTarget:
    """An ECS service scaled with UpdateService."""

    cluster: str
    service: str
    desired_count: int
    kind: str = "ecs"


@dataclass(frozen=True)
class KubernetesTarget:
    """A Deployment scaled through its `scale` subresource on the cluster's API server.

    `credentials_secret_arn` names a Secrets Manager secret in the orchestrator's region holding
    `{"token": ..., "caCertificate": ...}` for a ServiceAccount allowed only to patch that scale.
    """

    server: str
    namespace: str
    deployment: str
    replicas: int
    credentials_secret_arn: str
    kind: str = "kubernetes"


@dataclass(frozen=True)
class NoScaling:
    """The site runs at full size already (hot standby, or servers the project does not manage)."""

    kind: str = "none"


ScaleTarget = Union[EcsTarget, KubernetesTarget, NoScaling]


class Scaler(Protocol):
    """Brings one region's site to full size; raises on failure (the step then stays pending)."""

    def scale_up(self, target: ScaleTarget, region: str, timeout: float) -> None: ...


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 0:
        raise ScaleTargetError(f"{where} must be a whole number >= 0, got {value!r}")
    return int(value)


def _text(ref: Mapping[str, Any], name: str, where: str) -> str:
    value = ref.get(name)
    if not isinstance(value, str) or not value:
        raise ScaleTargetError(f"{where}.{name} is missing or not a string")
    return value


def parse_scale_target(region: str, ref: Any) -> ScaleTarget:
    """One region's entry of DR_SCALE_TARGETS (the form `scale_target_json` writes)."""
    where = f"DR_SCALE_TARGETS[{region!r}]"
    if not isinstance(ref, Mapping):
        raise ScaleTargetError(f"{where} must be an object")
    kind = ref.get("kind")
    if kind == "ecs":
        return EcsTarget(_text(ref, "cluster", where), _text(ref, "service", where),
                         _whole(ref.get("desiredCount"), f"{where}.desiredCount"))
    if kind == "kubernetes":
        return KubernetesTarget(_text(ref, "server", where), _text(ref, "namespace", where),
                                _text(ref, "deployment", where), _whole(ref.get("replicas"), f"{where}.replicas"),
                                _text(ref, "credentialsSecretArn", where))
    if kind == "none":
        return NoScaling()
    raise ScaleTargetError(f"{where}.kind must be one of {', '.join(SCALE_KINDS)}, got {kind!r}")


def scale_target_json(target: ScaleTarget) -> dict:
    """The inverse of `parse_scale_target`: what the program writes into DR_SCALE_TARGETS."""
    if isinstance(target, EcsTarget):
        return {"kind": "ecs", "cluster": target.cluster, "service": target.service,
                "desiredCount": target.desired_count}
    if isinstance(target, KubernetesTarget):
        return {"kind": "kubernetes", "server": target.server, "namespace": target.namespace,
                "deployment": target.deployment, "replicas": target.replicas,
                "credentialsSecretArn": target.credentials_secret_arn}
    return {"kind": "none"}


class EcsScaler:
    """UpdateService with the full desired count; `client_for(service, region, timeout)` gives boto3 clients."""

    def __init__(self, client_for: Callable[[str, str, float], Any]) -> None:
        self.client_for = client_for

    def scale_up(self, target: ScaleTarget, region: str, timeout: float) -> None:
        assert isinstance(target, EcsTarget)
        self.client_for("ecs", region, timeout).update_service(
            cluster=target.cluster, service=target.service, desiredCount=target.desired_count)


class NoopScaler:
    def scale_up(self, target: ScaleTarget, region: str, timeout: float) -> None:
        return None


def scaler_for(target: Optional[ScaleTarget], scalers: Mapping[str, Scaler]) -> Optional[Scaler]:
    """The implementation for a target's kind; None when the region has no target."""
    if target is None:
        return None
    return scalers[target.kind]
