"""The Kubernetes objects of a DOKS site, validated by `kubernetes-validate --strict` and read field by field."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components.sites.doks import manifests as km
from components.sites.doks.checks import parse_digitalocean_config
from components.sites.doks.inputs import load_balancer_from_config, workload_from_config
from tests.kube_validate import assert_all_valid, validate_strict

RAW = {
    "sites": [{"region": "nyc3", "awsRegion": "us-east-1"}, {"region": "sfo3", "awsRegion": "us-west-2"}],
    "cluster": {"version": "1.33.1-do.0"},
    "app": {"name": "orders", "image": "registry.example.com/orders:1.4.2", "environment": {"LOG_LEVEL": "info"}},
    "probes": {"liveness": {"path": "/livez"}},
    "tls": {"certificateName": "orders-api"},
}
CFG = parse_digitalocean_config(RAW)
NYC3 = CFG.sites[0]


def workload(active=True, cfg=CFG):
    return workload_from_config(
        cfg,
        cfg.sites[0],
        stack="prod",
        active=active,
        table_name="orders-prod",
        parameter_name="/orders/prod/active_region",
        cache_seconds=5,
        control_table="orders-prod-dr-authority",
        control_regions=("us-east-1", "us-west-2"),
    )


def every_object(cfg=CFG, certificate_name="orders-api") -> list[dict]:
    w = workload(cfg=cfg)
    lb = load_balancer_from_config(cfg, NYC3, stack="prod", certificate_name=certificate_name)
    return [
        km.namespace_manifest(w.namespace, km.site_labels(w.app, w.site)),
        km.deployment_manifest(w),
        km.pod_disruption_budget_manifest(w),
        km.load_balancer_service_manifest(w, lb),
        km.scaler_service_account_manifest(w.app, w.site, w.namespace),
        km.scaler_role_manifest(w.app, w.site, w.namespace, w.app),
        km.scaler_role_binding_manifest(w.app, w.site, w.namespace),
        km.scaler_token_secret_manifest(w.app, w.site, w.namespace),
        km.workload_identity_secret_manifest(w.app, w.site, w.namespace, "dummy-certificate", "dummy-key"),
        km.aws_config_map_manifest(w.app, w.site, w.namespace, "[default]\nregion = us-east-1\n"),
    ]


def test_every_object_is_valid_for_the_clusters_version_in_strict_mode(tmp_path):
    objects = every_object()
    assert {o["kind"] for o in objects} == {
        "Namespace",
        "Deployment",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Secret",
        "ConfigMap",
    }
    assert_all_valid(objects, [CFG.cluster.validation_version], tmp_path)


def test_valid_from_the_oldest_supported_minor_to_the_newest_schema(tmp_path):
    http_only = parse_digitalocean_config({k: v for k, v in RAW.items() if k != "tls"})
    assert_all_valid(every_object(http_only, certificate_name=None), ["1.30.0", "1.37.0"], tmp_path)


def test_strict_mode_is_what_catches_a_misspelt_field(tmp_path):
    deployment = km.deployment_manifest(workload())
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    strict = validate_strict([deployment], ["1.33.0"], tmp_path)
    assert strict.returncode == 1 and "readinesProbe" in strict.stdout
    lenient = validate_strict([deployment], ["1.33.0"], tmp_path, strict=False)
    assert lenient.returncode == 0, lenient.stdout


def test_the_deployment():
    d = km.deployment_manifest(workload())
    assert (d["metadata"]["name"], d["metadata"]["namespace"], d["spec"]["replicas"]) == ("orders", "orders", 3)
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pod = d["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    spread = pod["topologySpreadConstraints"][0]
    assert (spread["topologyKey"], spread["maxSkew"], spread["labelSelector"]) == (
        "kubernetes.io/hostname",
        1,
        {"matchLabels": {"app.kubernetes.io/name": "orders"}},
    )
    (c,) = pod["containers"]
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert c["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http", "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"]["path"] == c["startupProbe"]["httpGet"]["path"] == "/health"
    assert (c["startupProbe"]["periodSeconds"], c["startupProbe"]["failureThreshold"]) == (5, 30)
    assert (c["readinessProbe"]["timeoutSeconds"], c["livenessProbe"]["failureThreshold"]) == (2, 3)
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env == {
        "LOG_LEVEL": "info",
        "DR_APP": "orders",
        "DR_REGIONS": "us-east-1,us-west-2",
        "DR_TABLE": "orders-prod",
        "DR_ACTIVE_REGION_PARAMETER": "/orders/prod/active_region",
        "DR_CACHE_SECONDS": "5",
        "DR_CONTROL_TABLE": "orders-prod-dr-authority",
        "DR_CONTROL_REGIONS": "us-east-1,us-west-2",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/etc/dr-aws/config",
        "AWS_SDK_LOAD_CONFIG": "1",
    }
    assert all(set(e) == {"name", "value"} for e in c["env"])
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["aws-workload-identity"] == {
        "name": "aws-workload-identity",
        "mountPath": "/var/run/secrets/dr-aws",
        "readOnly": True,
    }
    assert volumes["aws-workload-identity"]["secret"] == {
        "secretName": "orders-aws-workload-identity",
        "defaultMode": 0o440,
    }
    assert volumes["aws-config"]["configMap"]["name"] == "orders-aws-config"
    assert "emptyDir" in volumes["tmp"] and mounts["tmp"]["mountPath"] == "/tmp"


def test_a_standby_runs_its_warm_size():
    assert km.deployment_manifest(workload(active=False))["spec"]["replicas"] == 1


def test_the_scaler_may_only_get_and_patch_that_deployments_scale():
    (rule,) = km.scaler_role_manifest("orders", "nyc3", "orders", "orders")["rules"]
    assert rule == {
        "apiGroups": ["apps"],
        "resources": ["deployments/scale"],
        "resourceNames": ["orders"],
        "verbs": ["get", "patch"],
    }
    binding = km.scaler_role_binding_manifest("orders", "nyc3", "orders")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "orders-dr-scaler"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "orders-dr-scaler", "namespace": "orders"}]
    token = km.scaler_token_secret_manifest("orders", "nyc3", "orders")
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "orders-dr-scaler"}
    assert km.scaler_service_account_manifest("orders", "nyc3", "orders")["automountServiceAccountToken"] is False


def test_load_balancer_with_tls_checks_the_app_and_redirects():
    service = km.load_balancer_service_manifest(
        workload(), load_balancer_from_config(CFG, NYC3, stack="prod", certificate_name="orders-api")
    )
    a = {k.removeprefix(km.LB_ANNOTATION): v for k, v in service["metadata"]["annotations"].items()}
    assert a == {
        "name": "orders-prod-nyc3",
        "protocol": "http",
        "http-ports": "80",
        "size-unit": "1",
        "override-health-check": "true",
        "healthcheck-protocol": "http",
        "healthcheck-port": "80",
        "healthcheck-path": "/health",
        "healthcheck-check-interval-seconds": "3",
        "healthcheck-response-timeout-seconds": "5",
        "healthcheck-healthy-threshold": "5",
        "healthcheck-unhealthy-threshold": "3",
        "tls-ports": "443",
        "certificate-name": "orders-api",
        "redirect-http-to-https": "true",
        "disable-lets-encrypt-dns-records": "true",
    }
    assert all(isinstance(v, str) for v in a.values())
    assert service["spec"]["type"] == "LoadBalancer" and service["spec"]["externalTrafficPolicy"] == "Cluster"
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("http", 80, "http"),
        ("https", 443, "http"),
    ]


def test_load_balancer_without_tls_is_plain_http():
    http_only = parse_digitalocean_config({k: v for k, v in RAW.items() if k != "tls"})
    service = km.load_balancer_service_manifest(
        workload(cfg=http_only), load_balancer_from_config(http_only, NYC3, stack="prod")
    )
    keys = {k.removeprefix(km.LB_ANNOTATION) for k in service["metadata"]["annotations"]}
    assert not keys & {"tls-ports", "certificate-name", "redirect-http-to-https"}
    assert [p["port"] for p in service["spec"]["ports"]] == [80]


def test_disruption_budget_never_blocks_a_drain_of_one_standby():
    pdb = km.pod_disruption_budget_manifest(workload(active=False))
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "orders"}}


def test_namespace_enforces_the_restricted_pod_security_profile():
    labels = km.namespace_manifest("orders", km.site_labels("orders", "nyc3"))["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_kubeconfig_is_yaml_with_one_cluster_and_a_token():
    doc = yaml.safe_load(
        km.kubeconfig(
            cluster="c", server="https://x.k8s.ondigitalocean.com", certificate_authority_data="Q0E=", token="tok"
        )
    )
    assert doc["current-context"] == "c"
    assert doc["clusters"] == [
        {"name": "c", "cluster": {"server": "https://x.k8s.ondigitalocean.com", "certificate-authority-data": "Q0E="}}
    ]
    assert doc["users"] == [{"name": "c-deployer", "user": {"token": "tok"}}]
    assert doc["contexts"] == [{"name": "c", "context": {"cluster": "c", "user": "c-deployer"}}]


def test_the_deploy_kubeconfig_asks_doctl_for_a_token_at_each_use():
    """What `doctl kubernetes cluster kubeconfig save` writes: a client-go exec plugin, never prompting; no token."""
    doc = yaml.safe_load(
        km.kubeconfig(
            cluster="c",
            server="https://x.k8s.ondigitalocean.com",
            certificate_authority_data="Q0E=",
            exec_credential=km.doctl_exec_credential("0123-abcd"),
        )
    )
    assert doc["users"] == [
        {
            "name": "c-deployer",
            "user": {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1beta1",
                    "command": "doctl",
                    "args": [
                        "kubernetes",
                        "cluster",
                        "kubeconfig",
                        "exec-credential",
                        "--version=v1beta1",
                        "0123-abcd",
                    ],
                    "interactiveMode": "Never",
                    "provideClusterInfo": False,
                }
            },
        }
    ]
    with pytest.raises(ValueError):
        km.kubeconfig(
            cluster="c",
            server="s",
            certificate_authority_data="Q0E=",
            token="t",
            exec_credential=km.doctl_exec_credential("x"),
        )


@pytest.mark.parametrize("kind", ["Deployment", "Service", "RoleBinding", "ServiceAccount"])
def test_resource_kwargs_keep_the_manifest_and_drop_what_the_class_sets(kind):
    manifest = {o["kind"]: o for o in every_object()}[kind]
    kwargs = km.resource_kwargs(manifest)
    assert "api_version" not in kwargs and "kind" not in kwargs
    by_camel = {"role_ref": "roleRef", "automount_service_account_token": "automountServiceAccountToken"}
    assert {by_camel.get(k, k): v for k, v in kwargs.items()} == {
        k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")
    }
    assert json.dumps(kwargs, sort_keys=True)  # plain data all the way down


QUANTITY_PAIRS = st.sampled_from([("100m", "250m"), ("250m", "1"), ("1", "2"), ("0.5", "1.5")])
MEMORY_PAIRS = st.sampled_from([("128Mi", "256Mi"), ("256Mi", "1Gi"), ("1Gi", "1Gi"), ("512M", "2G")])


@settings(max_examples=25, deadline=None)
@given(
    replicas=st.integers(1, 50),
    standby=st.integers(0, 50),
    cpu=QUANTITY_PAIRS,
    memory=MEMORY_PAIRS,
    env=st.dictionaries(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,12}", fullmatch=True).filter(
            lambda n: not n.startswith("DR_") and not n.startswith("AWS_")
        ),
        st.text(max_size=20),
        max_size=4,
    ),
    period=st.integers(1, 60),
    failures=st.integers(1, 10),
    tls=st.booleans(),
    version=st.sampled_from(["1.30.14-do.0", "1.37.1-do.0"]),
)
def test_any_valid_config_gives_valid_consistent_objects(
    replicas, standby, cpu, memory, env, period, failures, tls, version
):
    raw = {
        **{k: v for k, v in RAW.items() if k != "tls"},
        "cluster": {"version": version, "nodeSize": "s-8vcpu-16gb", "maxNodes": 20},  # room for 50 replicas
        "app": {
            **RAW["app"],
            "replicas": max(replicas, standby),
            "standbyReplicas": standby,
            "environment": env,
            "resources": {
                "requests": {"cpu": cpu[0], "memory": memory[0]},
                "limits": {"cpu": cpu[1], "memory": memory[1]},
            },
        },
        "probes": {"readiness": {"periodSeconds": period, "timeoutSeconds": 1, "failureThreshold": failures}},
        **({"tls": {"certificateName": "orders-api"}} if tls else {}),
    }
    cfg = parse_digitalocean_config(raw)
    objects = every_object(cfg, certificate_name="orders-api" if tls else None)
    for o in objects:
        if o["kind"] in ("Deployment", "PodDisruptionBudget", "Service"):  # the objects config shapes
            kubernetes_validate.validate(o, cfg.cluster.validation_version, strict=True)  # raises if not
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    service = next(o for o in objects if o["kind"] == "Service")
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
    assert service["spec"]["selector"].items() <= template_labels.items()
    env_names = [e["name"] for e in container_of(deployment)["env"]]
    assert len(env_names) == len(set(env_names)) and set(env) <= set(env_names)
    assert (
        service["metadata"]["annotations"][km.LB_ANNOTATION + "healthcheck-path"]
        == container_of(deployment)["readinessProbe"]["httpGet"]["path"]
    )


def container_of(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]
