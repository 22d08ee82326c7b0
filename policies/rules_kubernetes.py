"""DR guardrails for Kubernetes sites (DOKS), as plain functions over `policies.resource.Res`.

Resource rules return messages (empty = compliant); stack rules return (urn or None, message) pairs,
like `policies.rules`, which registers them. Properties are the objects as sent to the API server
(camelCase); they may be pulumi_policy's unknown-checking proxy, so reads go through `.get`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from policies.resource import Res

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
SERVICE = "kubernetes:core/v1:Service"
SERVING_WORKLOADS = (DEPLOYMENT, STATEFUL_SET)
POD_TEMPLATES = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET)
DO_LB = "service.beta.kubernetes.io/do-loadbalancer-"
SECRET_ENV_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|AWS_SESSION_TOKEN)", re.IGNORECASE
)


def _dig(value: Any, *path: Any) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, Sequence) or isinstance(value, str) or key >= len(value):
                return None
            value = value[key]
        elif isinstance(value, Mapping):
            value = value.get(key)
        else:
            return None
        if value is None:
            return None
    return value


def _containers(r: Res) -> list[Mapping[str, Any]]:
    spec = _dig(r.props, "spec", "template", "spec") or {}
    return [*(_dig(spec, "initContainers") or []), *(_dig(spec, "containers") or [])]


def _serving_containers(r: Res) -> list[Mapping[str, Any]]:
    return list(_dig(r.props, "spec", "template", "spec", "containers") or [])


def _name(r: Res) -> str:
    meta = _dig(r.props, "metadata") or {}
    return f"{_dig(meta, 'namespace') or 'default'}/{_dig(meta, 'name') or '?'}"


# -- resource rules ---------------------------------------------------------------------------
def deployment_probes(r: Res) -> list[str]:
    """Without readiness a pod takes traffic before it can serve; without liveness a hung pod stays."""
    if r.type not in SERVING_WORKLOADS:
        return []
    out = []
    for c in _serving_containers(r):
        for probe in ("livenessProbe", "readinessProbe"):
            if not _dig(c, probe):
                out.append(f"container {_dig(c, 'name')} of {_name(r)} has no {probe}")
    return out


def resource_limits(r: Res) -> list[str]:
    """Requests let the scheduler and autoscaler place pods; limits keep one pod from starving a node."""
    if r.type not in POD_TEMPLATES:
        return []
    out = []
    for c in _containers(r):
        for kind in ("requests", "limits"):
            missing = [q for q in ("cpu", "memory") if not _dig(c, "resources", kind, q)]
            if missing:
                out.append(f"container {_dig(c, 'name')} of {_name(r)} sets no {' or '.join(missing)} {kind}")
    return out


def no_plaintext_pod_secrets(r: Res) -> list[str]:
    """A secret in a pod's plain `env` is readable by anyone who can read the Deployment (and previews): by its
    name (PASSWORD, TOKEN, ...) and, whatever the variable is called, by its value (detect-secrets: access keys,
    URLs with a password, private keys, vendor tokens), as `no-plaintext-secrets` checks ECS and Lambda."""
    from policies.secrets import credential_kinds

    if r.type not in POD_TEMPLATES:
        return []
    out = []
    for c in _containers(r):
        plain: dict[str, Any] = {}
        for entry in _dig(c, "env") or []:
            name = str(_dig(entry, "name") or "")
            value = _dig(entry, "value")
            if SECRET_ENV_NAME.search(name) and value:
                out.append(
                    f"container {_dig(c, 'name')} of {_name(r)}: environment variable {name} looks like a "
                    "secret in plain text; use valueFrom.secretKeyRef or a mounted Secret"
                )
            elif isinstance(value, str) and value:
                plain[name] = value
        for name, kinds in sorted(credential_kinds(plain).items()):
            out.append(
                f"container {_dig(c, 'name')} of {_name(r)}: environment variable {name} holds a value that "
                f"looks like a credential ({', '.join(kinds)}); use valueFrom.secretKeyRef or a mounted Secret"
            )
    return out


# -- stack rules ------------------------------------------------------------------------------
def _selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    return bool(selector) and all(_dig(labels, k) == v for k, v in selector.items())


def _health_paths(workload: Res) -> set[str]:
    return {
        str(p) for c in _serving_containers(workload) if (p := _dig(c, "readinessProbe", "httpGet", "path")) is not None
    }


def load_balancer_checks_app_health(resources: list[Res]) -> list[tuple[str | None, str]]:
    """A DigitalOcean load balancer must check the path the app's readiness probe checks (its health
    path), through the annotations the cloud controller honours only with `override-health-check`."""
    out: list[tuple[str | None, str]] = []
    workloads = [r for r in resources if r.type in SERVING_WORKLOADS]
    for svc in resources:
        if svc.type != SERVICE or _dig(svc.props, "spec", "type") != "LoadBalancer":
            continue
        annotations = _dig(svc.props, "metadata", "annotations") or {}
        if not any(str(k).startswith(DO_LB) for k in annotations):
            continue
        namespace = _dig(svc.props, "metadata", "namespace") or "default"
        selector = _dig(svc.props, "spec", "selector") or {}
        selected = [
            w
            for w in workloads
            if (_dig(w.props, "metadata", "namespace") or "default") == namespace
            and _selects(selector, _dig(w.props, "spec", "template", "metadata", "labels") or {})
        ]
        if not selected:
            out.append((svc.urn, f"the load balancer of {_name(svc)} selects no Deployment"))
            continue
        paths = set().union(*(_health_paths(w) for w in selected))
        if not paths:
            out.append((svc.urn, f"the Deployment behind {_name(svc)} has no HTTP readiness probe to compare with"))
            continue
        if DO_LB + "override-health-check" not in annotations:
            out.append(
                (
                    svc.urn,
                    f"the load balancer of {_name(svc)} checks kube-proxy, not the app: "
                    "set do-loadbalancer-override-health-check",
                )
            )
        protocol = annotations.get(DO_LB + "healthcheck-protocol")
        if protocol not in ("http", "https"):
            out.append((svc.urn, f"the load balancer of {_name(svc)} checks over {protocol or 'tcp'}, not HTTP"))
        path = annotations.get(DO_LB + "healthcheck-path")
        if path not in paths:
            out.append(
                (
                    svc.urn,
                    f"the load balancer of {_name(svc)} checks {path or '/'}; the app's health path "
                    f"is {', '.join(sorted(paths))}",
                )
            )
    return out


KUBERNETES_RESOURCE_RULES: dict[str, tuple[str, Callable[[Res], list[str]]]] = {
    "kubernetes-probes": ("Every container of a Deployment has liveness and readiness probes", deployment_probes),
    "kubernetes-resource-limits": ("Every container sets CPU and memory requests and limits", resource_limits),
    "kubernetes-no-plaintext-secrets": (
        "No secret-looking value in a pod's plain environment",
        no_plaintext_pod_secrets,
    ),
}
KUBERNETES_STACK_RULES: dict[str, tuple[str, Callable[[list[Res]], list[tuple[str | None, str]]]]] = {
    "do-lb-health-check-path": (
        "DigitalOcean load balancers check the app's health path",
        load_balancer_checks_app_health,
    ),
}
