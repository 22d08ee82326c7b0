"""How the orchestrator brings a site to full capacity after writes move to it.

One implementation per kind of site (`ecs`, `kubernetes`, `none`), chosen per region from the
`DR_SCALE_TARGETS` variable. The orchestrator keeps order, lease and pending steps; a scaler only
does the one remote call, within the deadline it is given, and raises on failure so the step stays
pending for the next invocation.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

SCALE_KINDS = ("ecs", "kubernetes", "none")


class ScaleTargetError(ValueError):
    """A scale target in DR_SCALE_TARGETS is malformed; the message names the region and field."""


class ScaleError(RuntimeError):
    """A scale call was refused, failed or ran out of time; the orchestrator leaves the step pending."""


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


ScaleTarget = EcsTarget | KubernetesTarget | NoScaling


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
        return EcsTarget(
            _text(ref, "cluster", where),
            _text(ref, "service", where),
            _whole(ref.get("desiredCount"), f"{where}.desiredCount"),
        )
    if kind == "kubernetes":
        return KubernetesTarget(
            _text(ref, "server", where),
            _text(ref, "namespace", where),
            _text(ref, "deployment", where),
            _whole(ref.get("replicas"), f"{where}.replicas"),
            _text(ref, "credentialsSecretArn", where),
        )
    if kind == "none":
        return NoScaling()
    raise ScaleTargetError(f"{where}.kind must be one of {', '.join(SCALE_KINDS)}, got {kind!r}")


def scale_target_json(target: ScaleTarget) -> dict:
    """The inverse of `parse_scale_target`: what the program writes into DR_SCALE_TARGETS."""
    if isinstance(target, EcsTarget):
        return {
            "kind": "ecs",
            "cluster": target.cluster,
            "service": target.service,
            "desiredCount": target.desired_count,
        }
    if isinstance(target, KubernetesTarget):
        return {
            "kind": "kubernetes",
            "server": target.server,
            "namespace": target.namespace,
            "deployment": target.deployment,
            "replicas": target.replicas,
            "credentialsSecretArn": target.credentials_secret_arn,
        }
    return {"kind": "none"}


class EcsScaler:
    """UpdateService with the full desired count; `client_for(service, region, timeout)` gives boto3 clients."""

    def __init__(self, client_for: Callable[[str, str, float], Any]) -> None:
        self.client_for = client_for

    def scale_up(self, target: ScaleTarget, region: str, timeout: float) -> None:
        assert isinstance(target, EcsTarget)
        self.client_for("ecs", region, timeout).update_service(
            cluster=target.cluster, service=target.service, desiredCount=target.desired_count
        )


class NoopScaler:
    def scale_up(self, target: ScaleTarget, region: str, timeout: float) -> None:
        return None


def scaler_for(target: ScaleTarget | None, scalers: Mapping[str, Scaler]) -> Scaler | None:
    """The implementation for a target's kind; None when the region has no target."""
    if target is None:
        return None
    return scalers[target.kind]


def arn_in_region(arn: str, region: str) -> str:
    """The same resource's ARN in another region (a replicated secret keeps its name and suffix)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"{arn!r} is not an ARN")
    parts[3] = region
    return ":".join(parts)


def scale_path(namespace: str, deployment: str) -> str:
    """The Deployment's `scale` subresource (apps/v1)."""
    return f"/apis/apps/v1/namespaces/{quote(namespace, safe='')}/deployments/{quote(deployment, safe='')}/scale"


_MAX_RESPONSE_BYTES = 1 << 16
# Names the orchestrator in the Deployment's managedFields, so `pulumi up` (server-side apply with
# ignoreChanges on spec.replicas) leaves the replicas this manager set alone.
FIELD_MANAGER = "dynamodb-dr-orchestrator"


def patch_scale(
    *,
    server: str,
    namespace: str,
    deployment: str,
    replicas: int,
    token: str,
    ca_certificate: str,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """PATCH `{"spec": {"replicas": N}}` (merge patch) onto the scale subresource, trusting only the
    cluster's CA and checking the server's name, all within `timeout` seconds; ScaleError otherwise.

    Every phase (TCP connect, TLS handshake, sending, each read) gets only the time left, so a server
    that accepts and never answers costs `timeout`, not a multiple of it.
    """
    deadline = clock() + timeout

    def left() -> float:
        remaining = deadline - clock()
        if remaining <= 0:
            raise ScaleError(f"no answer from {server} within {timeout:g}s")
        return remaining

    url = urlsplit(server)
    if url.scheme != "https" or not url.hostname:
        raise ScaleError(f"the API server {server!r} is not an https:// URL")
    host, port = url.hostname, url.port or 443
    body = json.dumps({"spec": {"replicas": replicas}}).encode()
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/merge-patch+json",
        "Accept": "application/json",
        "User-Agent": FIELD_MANAGER,
    }
    try:
        context = ssl.create_default_context(cadata=ca_certificate)
    except (ssl.SSLError, ValueError) as exc:
        raise ScaleError(f"the cluster CA certificate is not usable: {exc}") from None
    connection = http.client.HTTPSConnection(host, port, context=context)
    try:
        raw = socket.create_connection((host, port), timeout=left())
        raw.settimeout(left())
        tls = context.wrap_socket(raw, server_hostname=host)  # the handshake happens here
        connection.sock = tls
        tls.settimeout(left())
        connection.request(
            "PATCH", f"{scale_path(namespace, deployment)}?fieldManager={FIELD_MANAGER}", body=body, headers=headers
        )
        tls.settimeout(left())
        response = connection.getresponse()  # may hand the socket over to the response (Connection: close)
        chunks, size = [], 0
        while size < _MAX_RESPONSE_BYTES:
            tls.settimeout(left())
            chunk = response.read1(_MAX_RESPONSE_BYTES - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except ScaleError:
        raise
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, TLS failure, time-out
        kind = "timed out" if isinstance(exc, TimeoutError) else f"failed ({type(exc).__name__}: {exc})"
        raise ScaleError(f"PATCH {server}{scale_path(namespace, deployment)} {kind}") from None
    finally:
        connection.close()
    _check_scale_response(response.status, b"".join(chunks), replicas, f"{namespace}/{deployment}")


def _check_scale_response(status: int, payload: bytes, replicas: int, what: str) -> None:
    try:
        document = json.loads(payload) if payload else {}
    except ValueError:
        document = {}
    if status != 200:
        detail = document.get("message") if isinstance(document, dict) else None
        raise ScaleError(f"scaling {what} was refused: HTTP {status}" + (f": {detail}" if detail else ""))
    answered = document.get("spec", {}).get("replicas") if isinstance(document, dict) else None
    if answered is not None and answered != replicas:
        raise ScaleError(f"scaling {what}: the API server answered {answered} replicas, not {replicas}")


class KubernetesScaler:
    """Scales a Deployment through the cluster's API with a ServiceAccount allowed only to patch that scale.

    The token and the cluster CA are read from Secrets Manager in the orchestrator's own region (the
    program replicates the secret there), so scaling a site never depends on a region that may have failed.
    `client_for(service, region, timeout)` gives boto3 clients (the orchestrator's seam).
    """

    def __init__(
        self,
        client_for: Callable[[str, str, float], Any],
        home_region: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_for = client_for
        self.home_region = home_region
        self.clock = clock

    def credentials(self, secret_arn: str, timeout: float) -> tuple[str, str]:
        """(token, CA certificate PEM) from the copy of the secret in the home region."""
        secret_id = arn_in_region(secret_arn, self.home_region)
        try:
            answer = self.client_for("secretsmanager", self.home_region, timeout).get_secret_value(SecretId=secret_id)
        except (BotoCoreError, ClientError) as exc:
            raise ScaleError(f"cannot read the scaler credentials {secret_id}: {exc}") from None
        try:
            document = json.loads(answer["SecretString"])
            token, ca = document["token"], document["caCertificate"]
        except (KeyError, TypeError, ValueError):
            raise ScaleError(f"the secret {secret_id} is not {{\"token\", \"caCertificate\"}} JSON") from None
        if not isinstance(token, str) or not token or not isinstance(ca, str) or not ca:
            raise ScaleError(f"the secret {secret_id} has an empty token or caCertificate")
        return token, ca

    def scale_up(self, target: ScaleTarget, region: str, timeout: float) -> None:
        if not isinstance(target, KubernetesTarget):
            raise TypeError(f"KubernetesScaler cannot scale a {target.kind} target")
        deadline = self.clock() + timeout
        token, ca = self.credentials(target.credentials_secret_arn, timeout)
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise ScaleError(f"no time left to scale {target.namespace}/{target.deployment} in {region}")
        patch_scale(
            server=target.server,
            namespace=target.namespace,
            deployment=target.deployment,
            replicas=target.replicas,
            token=token,
            ca_certificate=ca,
            timeout=remaining,
            clock=self.clock,
        )
