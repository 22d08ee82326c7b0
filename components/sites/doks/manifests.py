"""The Kubernetes objects of a DOKS site as plain dicts: exactly what the API server receives.

`DoksSite` sends these dicts unchanged through pulumi_kubernetes' typed resources, and the tests
validate the very same dicts with `kubernetes-validate --strict` for the cluster's version, so what
is validated is what is deployed. Where the component fills in a value that only exists at deploy
time (a certificate, an ARN) it may be a `pulumi.Output`; the structure never depends on it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LB_ANNOTATION = "service.beta.kubernetes.io/do-loadbalancer-"
SERVICE_ACCOUNT_NAME_ANNOTATION = "kubernetes.io/service-account.name"
# Where pods find the AWS config (credential_process) and the workload certificate and key.
AWS_CONFIG_DIR = "/etc/dr-aws"
AWS_CONFIG_KEY = "config"
AWS_CREDENTIALS_DIR = "/var/run/secrets/dr-aws"
CERTIFICATE_KEY = "tls.crt"
PRIVATE_KEY_KEY = "tls.key"
HTTP_PORT_NAME = "http"


@dataclass(frozen=True)
class Probe:
    """An HTTP GET probe on the container's named port."""

    path: str
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int
    initial_delay_seconds: int = 0
    success_threshold: int = 1


@dataclass(frozen=True)
class Workload:
    """What the Deployment, its PodDisruptionBudget and its Service are made from."""

    app: str
    site: str
    namespace: str
    image: str
    port: int
    replicas: int
    requests: Mapping[str, str]
    limits: Mapping[str, str]
    environment: Mapping[str, str]
    """The complete plain environment: the user's `dr:app.environment` plus `client_environment(...)`."""
    liveness: Probe
    readiness: Probe
    startup: Probe
    run_as_user: int
    aws_config_map: str
    """ConfigMap holding the AWS config file (`credential_process` with the signing helper)."""
    aws_credentials_secret: str
    """Secret (kubernetes.io/tls) holding the workload certificate and its private key."""


@dataclass(frozen=True)
class LoadBalancer:
    """The DigitalOcean load balancer the cloud controller manager creates for the Service."""

    name: str
    health_path: str
    interval_seconds: int
    timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int
    size_unit: int
    certificate_name: str | None = None
    """A DigitalOcean certificate by name: HTTPS on 443 (else plain HTTP on 80 only)."""
    redirect_http_to_https: bool = True


def selector_labels(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app}


def site_labels(app: str, site: str) -> dict[str, str]:
    return {
        **selector_labels(app),
        "app.kubernetes.io/instance": f"{app}-{site}",
        "app.kubernetes.io/part-of": "dynamodb-dr",
        "app.kubernetes.io/managed-by": "pulumi",
    }


def scaler_account_name(app: str) -> str:
    return f"{app}-dr-scaler"


def scaler_token_secret_name(app: str) -> str:
    return f"{scaler_account_name(app)}-token"


def aws_config_map_name(app: str) -> str:
    return f"{app}-aws-config"


def aws_credentials_secret_name(app: str) -> str:
    return f"{app}-aws-workload-identity"


def client_environment(
    *,
    app: str,
    regions: list[str],
    table: str,
    parameter_name: str,
    cache_seconds: int,
    aws_region: str,
    control_table: str,
    control_regions: list[str],
) -> dict[str, str]:
    """What `failover.client.ActiveRegionResolver.from_environment()` reads, and the AWS SDK settings that
    make every AWS SDK use the workload identity (credential_process in the mounted config file)."""
    return {
        "DR_APP": app,
        "DR_REGIONS": ",".join(regions),
        "DR_TABLE": table,
        "DR_ACTIVE_REGION_PARAMETER": parameter_name,
        "DR_CACHE_SECONDS": str(cache_seconds),
        "DR_CONTROL_TABLE": control_table,
        "DR_CONTROL_REGIONS": ",".join(control_regions),
        "AWS_REGION": aws_region,
        "AWS_CONFIG_FILE": f"{AWS_CONFIG_DIR}/{AWS_CONFIG_KEY}",
        "AWS_SDK_LOAD_CONFIG": "1",
    }


def _metadata(
    name: str, namespace: str | None, labels: Mapping[str, str], annotations: Mapping[str, str] | None = None
) -> dict:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def namespace_manifest(name: str, labels: Mapping[str, str]) -> dict:
    """The site's namespace; Pod Security Admission enforces the `restricted` profile in it."""
    psa = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _metadata(name, None, {**labels, **psa})}


def _probe(probe: Probe) -> dict:
    return {
        "httpGet": {"path": probe.path, "port": HTTP_PORT_NAME, "scheme": "HTTP"},
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "successThreshold": probe.success_threshold,
        "failureThreshold": probe.failure_threshold,
    }


def deployment_manifest(w: Workload) -> dict:
    """The app: probes, requests/limits, spread over nodes, non-root with a read-only root filesystem,
    the DR_* environment, and the workload identity mounted read-only (no AWS key in the environment)."""
    labels = site_labels(w.app, w.site)
    selector = selector_labels(w.app)
    container = {
        "name": w.app,
        "image": w.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": HTTP_PORT_NAME, "containerPort": w.port, "protocol": "TCP"}],
        "env": [{"name": name, "value": value} for name, value in sorted(w.environment.items())],
        "resources": {"requests": dict(w.requests), "limits": dict(w.limits)},
        "startupProbe": _probe(w.startup),
        "livenessProbe": _probe(w.liveness),
        "readinessProbe": _probe(w.readiness),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "aws-config", "mountPath": AWS_CONFIG_DIR, "readOnly": True},
            {"name": "aws-workload-identity", "mountPath": AWS_CREDENTIALS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod_spec = {
        "automountServiceAccountToken": False,  # the app never calls the Kubernetes API
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 30,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": w.run_as_user,
            "runAsGroup": w.run_as_user,
            "fsGroup": w.run_as_user,  # lets the non-root user read the 0440 key file
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                # ScheduleAnyway: a standby on a small pool still schedules; the autoscaler adds nodes for spread.
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector},
                "matchLabelKeys": ["pod-template-hash"],
            }
        ],
        "containers": [container],
        "volumes": [
            {"name": "aws-config", "configMap": {"name": w.aws_config_map, "defaultMode": 0o444}},
            {"name": "aws-workload-identity", "secret": {"secretName": w.aws_credentials_secret, "defaultMode": 0o440}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(w.app, w.namespace, labels),
        "spec": {
            "replicas": w.replicas,
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def pod_disruption_budget_manifest(w: Workload) -> dict:
    """At most one pod down for voluntary disruptions (node drains during DOKS upgrades); never blocks a
    drain outright, even with a single standby replica."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(w.app, w.namespace, site_labels(w.app, w.site)),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(w.app)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def load_balancer_annotations(lb: LoadBalancer) -> dict[str, str]:
    """The cloud controller manager's annotations. Values are strings (Kubernetes drops the lot otherwise).

    The health check path, port and protocol only take effect with `override-health-check`; without it
    the controller checks kube-proxy, not the app.
    """
    a = {
        "name": lb.name,
        "protocol": "http",
        "http-ports": "80",
        "size-unit": str(lb.size_unit),
        "override-health-check": "true",
        "healthcheck-protocol": "http",
        "healthcheck-port": "80",
        "healthcheck-path": lb.health_path,
        "healthcheck-check-interval-seconds": str(lb.interval_seconds),
        "healthcheck-response-timeout-seconds": str(lb.timeout_seconds),
        "healthcheck-healthy-threshold": str(lb.healthy_threshold),
        "healthcheck-unhealthy-threshold": str(lb.unhealthy_threshold),
    }
    if lb.certificate_name:
        a.update(
            {
                "tls-ports": "443",
                "certificate-name": lb.certificate_name,
                "redirect-http-to-https": "true" if lb.redirect_http_to_https else "false",
                # DNS is Route 53's (health-checked failover records); DigitalOcean must not add records.
                "disable-lets-encrypt-dns-records": "true",
            }
        )
    return {LB_ANNOTATION + k: v for k, v in sorted(a.items())}


def load_balancer_service_manifest(w: Workload, lb: LoadBalancer) -> dict:
    """A Service of type LoadBalancer: HTTP on 80 (and HTTPS on 443 terminated at the load balancer)."""
    ports = [{"name": "http", "port": 80, "targetPort": HTTP_PORT_NAME, "protocol": "TCP"}]
    if lb.certificate_name:
        ports.append({"name": "https", "port": 443, "targetPort": HTTP_PORT_NAME, "protocol": "TCP"})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(w.app, w.namespace, site_labels(w.app, w.site), load_balancer_annotations(lb)),
        "spec": {
            "type": "LoadBalancer",
            # Cluster: every node answers the load balancer's check through kube-proxy to a ready pod.
            "externalTrafficPolicy": "Cluster",
            "selector": selector_labels(w.app),
            "ports": ports,
        },
    }


def scaler_service_account_manifest(app: str, site: str, namespace: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(scaler_account_name(app), namespace, site_labels(app, site)),
        "automountServiceAccountToken": False,
    }


def scaler_role_manifest(app: str, site: str, namespace: str, deployment: str) -> dict:
    """Only `get` and `patch` on the `scale` subresource of the one Deployment."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(scaler_account_name(app), namespace, site_labels(app, site)),
        "rules": [
            {
                "apiGroups": ["apps"],
                "resources": ["deployments/scale"],
                "resourceNames": [deployment],
                "verbs": ["get", "patch"],
            }
        ],
    }


def scaler_role_binding_manifest(app: str, site: str, namespace: str) -> dict:
    name = scaler_account_name(app)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(name, namespace, site_labels(app, site)),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }


def scaler_token_secret_manifest(app: str, site: str, namespace: str) -> dict:
    """A token Secret the cluster fills in for the scaler's ServiceAccount (`data.token`, `data["ca.crt"]`)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(
            scaler_token_secret_name(app),
            namespace,
            site_labels(app, site),
            {SERVICE_ACCOUNT_NAME_ANNOTATION: scaler_account_name(app)},
        ),
        "type": "kubernetes.io/service-account-token",
    }


def workload_identity_secret_manifest(
    app: str, site: str, namespace: str, certificate_pem: Any, private_key_pem: Any
) -> dict:
    """The workload certificate and key as a kubernetes.io/tls Secret (the key passed as a Pulumi secret)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(aws_credentials_secret_name(app), namespace, site_labels(app, site)),
        "type": "kubernetes.io/tls",
        "stringData": {CERTIFICATE_KEY: certificate_pem, PRIVATE_KEY_KEY: private_key_pem},
    }


def aws_config_map_manifest(app: str, site: str, namespace: str, config_text: Any) -> dict:
    """The AWS config file; it names ARNs and file paths, nothing secret."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(aws_config_map_name(app), namespace, site_labels(app, site)),
        "data": {AWS_CONFIG_KEY: config_text},
    }


EXEC_CREDENTIAL_API = "client.authentication.k8s.io/v1beta1"


def doctl_exec_credential(cluster_id: str) -> dict:
    """The kubeconfig `exec` entry that asks `doctl` for a short-lived token at every use (what `doctl kubernetes
    cluster kubeconfig save` writes), never prompting: doctl authenticates with DIGITALOCEAN_ACCESS_TOKEN or its
    current auth context."""
    return {
        "apiVersion": EXEC_CREDENTIAL_API,
        "command": "doctl",
        "args": ["kubernetes", "cluster", "kubeconfig", "exec-credential", "--version=v1beta1", cluster_id],
        "interactiveMode": "Never",
        "provideClusterInfo": False,
    }


def kubeconfig(
    *,
    cluster: str,
    server: str,
    certificate_authority_data: str,
    token: str | None = None,
    exec_credential: dict | None = None,
) -> str:
    """A kubeconfig (JSON, which is YAML) for one cluster, with a bearer token or an exec credential plugin."""
    if (token is None) == (exec_credential is None):
        raise ValueError("give a token or an exec credential, not both")
    user = f"{cluster}-deployer"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster,
                    "cluster": {"server": server, "certificate-authority-data": certificate_authority_data},
                }
            ],
            "users": [{"name": user, "user": {"token": token} if token is not None else {"exec": exec_credential}}],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
            "current-context": cluster,
        },
        sort_keys=True,
    )


def resource_kwargs(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest as keyword arguments of its pulumi_kubernetes class (apiVersion and kind are the class's).

    The values stay camelCase dicts: the SDK passes dict keys it does not know as Python names unchanged,
    so the engine receives the manifest as written.
    """
    return {
        re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower(): value
        for key, value in manifest.items()
        if key not in ("apiVersion", "kind")
    }
