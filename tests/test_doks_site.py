"""DoksSite under Pulumi's mocks: everything it sends the engine, read from the RegisterResource requests."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_digitalocean as digitalocean
import pytest

from components.sites.doks import manifests as km
from components.sites.doks.checks import parse_digitalocean_config
from components.sites.doks.component import REPLICAS_COMMAND, DoksSite, DoksSiteArgs
from components.sites.doks.inputs import (
    load_balancer_from_config,
    load_balancer_ip,
    scaler_credentials_json,
    version_notice,
    workload_from_config,
)
from drctl.mocks import DUMMY_TOKEN, fresh_token
from failover.scaling import KubernetesTarget, parse_scale_target
from tests.kube_validate import assert_all_valid

RAW = {
    "sites": [{"region": "nyc3", "awsRegion": "us-east-1"}, {"region": "sfo3", "awsRegion": "us-west-2"}],
    "cluster": {"version": "1.33.1-do.0", "nodeSize": "s-4vcpu-8gb", "minNodes": 2, "maxNodes": 6},
    "app": {"name": "orders", "image": "registry.example.com/orders:1.4.2", "environment": {"LOG_LEVEL": "info"}},
    "tls": {"certificateName": "orders-api"},
}
TLS = parse_digitalocean_config(RAW)
HTTP = parse_digitalocean_config({k: v for k, v in RAW.items() if k != "tls"})
TABLE_ARNS = [f"arn:aws:dynamodb:{r}:123456789012:table/orders-prod" for r in ("us-east-1", "us-west-2")]
PARAMETER_ARNS = [
    f"arn:aws:ssm:{r}:123456789012:parameter/orders/prod/active_region" for r in ("us-east-1", "us-west-2")
]
K8S = "kubernetes:"


CONTROL_ARNS = [f"arn:aws:dynamodb:{r}:123456789012:table/orders-prod-dr-authority" for r in ("us-east-1", "us-west-2")]


def site_args(cfg=TLS, index=0, active=True, replicas_to=("us-west-2",)):
    return DoksSiteArgs(
        config=cfg,
        site=cfg.sites[index],
        stack="prod",
        active=active,
        table_name="orders-prod",
        parameter_name="/orders/prod/active_region",
        cache_seconds=5,
        table_arns=TABLE_ARNS,
        parameter_arns=PARAMETER_ARNS,
        credentials_replica_regions=list(replicas_to),
        control_table="orders-prod-dr-authority",
        control_regions=("us-east-1", "us-west-2"),
        control_arns=CONTROL_ARNS,
    )


def declare(args):
    def run():
        do = digitalocean.Provider("do")
        region = args.site.aws_region
        provider = aws.Provider(f"aws-{region}", region=region)
        site = DoksSite(
            f"orders-{args.site.region}",
            args,
            opts=pulumi.ResourceOptions(providers={"digitalocean": do, "aws": provider}),
        )
        return pulumi.Output.all(
            target=site.site.scale_target,
            ip=site.load_balancer_ip,
            statements=site.site.orchestrator_statements,
            endpoint_ip=site.site.endpoint.ip_address,
            outputs=pulumi.Output.all(**site.site.outputs),
        ).apply(lambda v: {**v, "site": site.site})

    return run


def test_cluster_and_node_pool(recorder):
    rec = recorder(declare(site_args()))
    cluster = rec.one("digitalocean:index/kubernetesCluster:KubernetesCluster")
    assert cluster.region == "nyc3"  # a DigitalOcean resource's region is its slug
    assert cluster.name == "orders-nyc3-cluster"
    i = cluster.inputs
    # exactly the pinned version, although DigitalOcean (the mocks) offers a newer patch, 1.33.2-do.0
    assert (i["name"], i["region"], i["version"], i["ha"], i["autoUpgrade"], i["surgeUpgrade"]) == (
        "orders-prod-nyc3",
        "nyc3",
        "1.33.1-do.0",
        True,
        False,
        True,
    )
    pool = i["nodePool"]
    assert (pool["size"], pool["autoScale"], pool["minNodes"], pool["maxNodes"]) == ("s-4vcpu-8gb", True, 2, 6)
    assert "digitalocean" in cluster.provider and cluster.parent.endswith("dr:sites:DoksSite::orders-nyc3")
    versions = [a for t, a in rec.invokes if t == "digitalocean:index/getKubernetesVersions:getKubernetesVersions"]
    assert versions == [{"versionPrefix": "1.33."}]


def _kubeconfig(rec) -> dict:
    (provider,) = rec.of_type("pulumi:providers:kubernetes")
    return json.loads(provider.inputs["kubeconfig"])


def test_the_provider_connects_with_a_token_doctl_fetches_at_each_use(recorder):
    rec = recorder(declare(site_args()))
    (provider,) = rec.of_type("pulumi:providers:kubernetes")
    cluster = rec.one("digitalocean:index/kubernetesCluster:KubernetesCluster")
    doc = _kubeconfig(rec)  # not secret: it holds no credential, so previews show it (and that it did not change)
    assert doc["users"][0]["user"] == {"exec": km.doctl_exec_credential(cluster.outputs["id"])}
    assert doc["clusters"][0]["cluster"] == {
        "server": cluster.outputs["endpoint"],
        "certificate-authority-data": cluster.outputs["kubeConfigs"][0]["clusterCaCertificate"],
    }
    # No lookup of fresh credentials: nothing in the provider's inputs changes from one run to the next.
    assert [t for t, _ in rec.invokes if t == "digitalocean:index/getKubernetesCluster:getKubernetesCluster"] == []
    # Only a new cluster replaces the provider (and all in it).
    assert provider.inputs["clusterIdentifier"] == cluster.outputs["id"]
    for r in rec.resources:
        if r.type.startswith(K8S):
            assert r.provider.startswith(provider.urn), r.name
            assert r.region == "nyc3"


def test_the_kubeconfig_is_the_same_on_every_run_whatever_token_digitalocean_would_hand_out(recorder, monkeypatch):
    """The old design fetched a 4-hour token per run: every preview showed a provider update, and the drift job's
    expect-no-changes always failed. Now two runs, whose cluster lookups would answer different tokens, send the
    same kubeconfig."""
    import drctl.mocks as mocks

    first = _kubeconfig(recorder(declare(site_args())))
    monkeypatch.setattr(mocks, "DUMMY_TOKEN", "another-token-issued-later")
    monkeypatch.setattr(mocks, "fresh_token", lambda seconds: f"another-fresh-token-{seconds}")
    second = _kubeconfig(recorder(declare(site_args())))
    assert first == second
    assert "token" not in json.dumps(first["users"])


def test_the_version_notice_tells_of_a_newer_patch_and_of_an_unoffered_pin():
    offered = ["1.33.2-do.0", "1.33.1-do.0"]
    assert version_notice("1.33.2-do.0", offered) is None
    assert version_notice("1.33.1-do.0", offered) == (
        "dr:cluster.version: 1.33.2-do.0 is available; the clusters stay at 1.33.1-do.0 until dr:cluster.version "
        "says otherwise (a surge upgrade)"
    )
    assert "does not offer 1.33.0-do.0" in version_notice("1.33.0-do.0", offered)
    assert "offers no 1.33 version any more" in version_notice("1.33.1-do.0", [])
    assert version_notice("1.33.10-do.0", ["1.33.9-do.0", "1.33.10-do.0"]) is None  # numeric, not text, order


def test_a_newer_patch_is_reported_as_a_warning_not_applied(recorder, monkeypatch):
    import components.sites.doks.component as doks

    warned: list[str] = []
    monkeypatch.setattr(doks.pulumi.log, "warn", lambda message, *a, **k: warned.append(message))
    rec = recorder(declare(site_args()))
    assert rec.one("digitalocean:index/kubernetesCluster:KubernetesCluster").inputs["version"] == "1.33.1-do.0"
    assert warned == [version_notice("1.33.1-do.0", ["1.33.2-do.0", "1.33.1-do.0"])]


def _sent(rec):
    """Each Kubernetes object as sent: the recorded inputs by kind (and name for the two Secrets)."""
    out = {}
    for r in rec.resources:
        if r.type.startswith(K8S):
            key = r.inputs["kind"] if r.inputs["kind"] != "Secret" else f"Secret/{r.inputs['type']}"
            out[key] = r
    return out


def test_sends_exactly_the_validated_manifests(recorder, tmp_path):
    rec = recorder(declare(site_args()))
    sent = _sent(rec)
    w = workload_from_config(
        TLS,
        TLS.sites[0],
        stack="prod",
        active=True,
        table_name="orders-prod",
        parameter_name="/orders/prod/active_region",
        cache_seconds=5,
        control_table="orders-prod-dr-authority",
        control_regions=("us-east-1", "us-west-2"),
    )
    expected = {
        "Namespace": km.namespace_manifest("orders", km.site_labels("orders", "nyc3")),
        "Deployment": km.deployment_manifest(w),
        "PodDisruptionBudget": km.pod_disruption_budget_manifest(w),
        "Service": km.load_balancer_service_manifest(
            w, load_balancer_from_config(TLS, TLS.sites[0], stack="prod", certificate_name="orders-api")
        ),
        "ServiceAccount": km.scaler_service_account_manifest("orders", "nyc3", "orders"),
        "Role": km.scaler_role_manifest("orders", "nyc3", "orders", "orders"),
        "RoleBinding": km.scaler_role_binding_manifest("orders", "nyc3", "orders"),
        "Secret/kubernetes.io/service-account-token": km.scaler_token_secret_manifest("orders", "nyc3", "orders"),
        "Secret/kubernetes.io/tls": km.workload_identity_secret_manifest("orders", "nyc3", "orders", "x", "y"),
        "ConfigMap": km.aws_config_map_manifest("orders", "nyc3", "orders", "x"),
    }
    assert set(sent) == set(expected)
    for kind, manifest in expected.items():
        inputs = sent[kind].inputs
        if kind == "Secret/kubernetes.io/tls":
            assert inputs["stringData"] == "[secret]"  # certificate and key arrive only as a secret
            manifest = {**manifest, "stringData": inputs["stringData"]}
        if kind == "ConfigMap":
            assert inputs["data"]["config"].startswith("[default]\nregion = us-east-1\ncredential_process = ")
            manifest = {**manifest, "data": inputs["data"]}
        assert inputs == manifest, kind
    # What the program sends is what kubernetes-validate --strict accepts (secret content stands in as dummies).
    objects = [dict(r.inputs) for r in sent.values()]
    for o in objects:
        if o.get("stringData") == "[secret]":
            o["stringData"] = {km.CERTIFICATE_KEY: "dummy", km.PRIVATE_KEY_KEY: "dummy"}
    assert_all_valid(objects, [TLS.cluster.validation_version], tmp_path)


def test_the_aws_config_names_the_identity_and_mounted_files(recorder):
    rec = recorder(declare(site_args()))
    config = _sent(rec)["ConfigMap"].inputs["data"]["config"]
    anchor = rec.one("aws:rolesanywhere/trustAnchor:TrustAnchor").outputs["arn"]
    profile = rec.one("aws:rolesanywhere/profile:Profile").outputs["arn"]
    role = rec.one("aws:iam/role:Role").outputs["arn"]
    assert config == (
        "[default]\nregion = us-east-1\ncredential_process = /usr/local/bin/aws_signing_helper credential-process "
        "--certificate /var/run/secrets/dr-aws/tls.crt --private-key /var/run/secrets/dr-aws/tls.key "
        f"--trust-anchor-arn {anchor} --profile-arn {profile} --role-arn {role} --region us-east-1\n"
    )


def test_failover_keeps_the_scaled_replicas_and_standbys_start_small(recorder):
    active = _sent(recorder(declare(site_args())))["Deployment"]
    assert active.ignore_changes == ["spec.replicas"] and active.inputs["spec"]["replicas"] == 3
    standby = _sent(recorder(declare(site_args(HTTP, index=1, active=False, replicas_to=("us-east-1",)))))["Deployment"]
    assert standby.inputs["spec"]["replicas"] == 1
    env = {e["name"]: e["value"] for e in standby.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AWS_REGION"] == "us-west-2" and env["DR_REGIONS"] == "us-east-1,us-west-2"


def test_replicas_follow_config_through_a_command_that_only_the_counts_trigger(recorder):
    """spec.replicas stays ignore_changes (a failover's scale-up survives the next deploy); the command scales the
    Deployment to its role's count on creation and when a count changes in config, and on no other deploy."""
    from components.sites.doks.replicas import ENV_NAMES, ENV_PREFIX

    def command_of(args):
        rec = recorder(declare(args))
        deployment = _sent(rec)["Deployment"]
        assert deployment.ignore_changes == ["spec.replicas"]
        return rec, rec.one("command:local:Command"), deployment

    rec, command, deployment = command_of(site_args())
    assert command.name == "orders-nyc3-replicas"
    assert command.inputs["create"] == REPLICAS_COMMAND
    assert command.inputs["triggers"] == [3, 1]  # dr:app.replicas, dr:app.standbyReplicas
    env = command.inputs["environment"]
    assert sorted(env) == sorted(f"{ENV_PREFIX}{n}" for n in ENV_NAMES)
    cluster = rec.one("digitalocean:index/kubernetesCluster:KubernetesCluster")
    assert {k: v for k, v in env.items() if k not in ("DR_REPLICAS_TOKEN", "DR_REPLICAS_CA")} == {
        "DR_REPLICAS_SERVER": cluster.outputs["endpoint"],
        "DR_REPLICAS_NAMESPACE": "orders",
        "DR_REPLICAS_DEPLOYMENT": "orders",
        "DR_REPLICAS_ACTIVE": "3",
        "DR_REPLICAS_STANDBY": "1",
        "DR_REPLICAS_REGION": "us-east-1",
        "DR_REPLICAS_PRIMARY": "us-east-1",
        "DR_REPLICAS_PARAMETER": "/orders/prod/active_region",
    }
    assert (env["DR_REPLICAS_TOKEN"], env["DR_REPLICAS_CA"]) == ("[secret]", "[secret]")
    token_secret = next(r for r in rec.of_type("kubernetes:core/v1:Secret") if r.inputs["type"].endswith("-token"))
    decoded = json.loads(scaler_credentials_json(token_secret.outputs["data"]))
    revealed = command.revealed_inputs["environment"]
    assert (revealed["DR_REPLICAS_TOKEN"], revealed["DR_REPLICAS_CA"]) == (decoded["token"], decoded["caCertificate"])
    assert {deployment.urn, token_secret.urn} <= set(command.depends_on)

    _, again, _ = command_of(site_args())
    assert again.revealed_inputs == command.revealed_inputs  # same config: nothing to run, nothing scaled back
    more = parse_digitalocean_config({**RAW, "app": {**RAW["app"], "replicas": 5}})
    _, changed, changed_deployment = command_of(site_args(more))
    assert changed.inputs["triggers"] == [5, 1] and changed.inputs["environment"]["DR_REPLICAS_ACTIVE"] == "5"
    assert changed_deployment.inputs["spec"]["replicas"] == 5  # what a new cluster starts with


def test_no_credential_reaches_anything_in_plain_text(recorder):
    rec = recorder(declare(site_args()))
    text = json.dumps(
        [[r.inputs, r.outputs] for r in rec.resources if r.type.startswith(K8S)] + [r.inputs for r in rec.resources]
    )
    assert "PRIVATE KEY" not in json.dumps([r.inputs for r in rec.resources])
    assert DUMMY_TOKEN not in json.dumps([r.inputs for r in rec.resources])
    assert fresh_token(4 * 3600) not in json.dumps([r.inputs for r in rec.resources])
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    version = rec.one("aws:secretsmanager/secretVersion:SecretVersion")
    assert version.inputs["secretString"] == "[secret]"
    assert "token" not in json.dumps(_kubeconfig(rec)["users"])  # an exec credential, no token
    # Private keys travel between resources as secrets only (the CSR, the CA, the signer).
    assert {r.inputs["privateKeyPem"] for r in rec.of_type("tls:index/certRequest:CertRequest")} == {"[secret]"}
    assert rec.one("tls:index/selfSignedCert:SelfSignedCert").inputs["privateKeyPem"] == "[secret]"
    assert rec.one("tls:index/locallySignedCert:LocallySignedCert").inputs["caPrivateKeyPem"] == "[secret]"


def test_scaler_credentials_live_in_secrets_manager_replicated_to_the_orchestrators(recorder):
    rec = recorder(declare(site_args(replicas_to=("us-west-2", "us-east-1", "us-east-2"))))
    secret = rec.one("aws:secretsmanager/secret:Secret")
    assert secret.region == "us-east-1" and "aws-us-east-1" in secret.provider
    assert secret.inputs["namePrefix"] == "orders/prod/nyc3/kubernetes-scaler-"
    assert secret.inputs["replicas"] == [{"region": "us-west-2"}, {"region": "us-east-2"}]  # not its own region
    version = rec.one("aws:secretsmanager/secretVersion:SecretVersion")
    assert secret.urn in version.depends_on and version.inputs["secretId"]
    token = _sent(rec)["Secret/kubernetes.io/service-account-token"]
    assert _sent(rec)["ServiceAccount"].urn in token.depends_on  # the account exists before its token


def test_the_site_handed_to_the_plane(recorder):
    rec = recorder(declare(site_args(replicas_to=("us-west-2",))))
    v = rec.value
    site = v["site"]
    assert (site.name, site.location, site.data_region) == ("nyc3", "nyc3", "us-east-1")
    assert (site.endpoint.scheme, site.endpoint.port, site.endpoint.is_alias) == ("https", 443, False)
    service = _sent(rec)["Service"]
    assert v["ip"] == v["endpoint_ip"] == service.outputs["status"]["loadBalancer"]["ingress"][0]["ip"]
    secret_arn = rec.one("aws:secretsmanager/secret:Secret").outputs["arn"]
    cluster = rec.one("digitalocean:index/kubernetesCluster:KubernetesCluster")
    assert parse_scale_target("us-east-1", v["target"]) == KubernetesTarget(
        server=cluster.outputs["endpoint"],
        namespace="orders",
        deployment="orders",
        replicas=3,
        credentials_secret_arn=secret_arn,
    )
    (statement,) = v["statements"]
    assert statement["Action"] == ["secretsmanager:GetSecretValue"]
    assert statement["Resource"] == sorted([secret_arn, secret_arn.replace(":us-east-1:", ":us-west-2:")])
    assert v["outputs"]["clusterId"] == cluster.outputs["id"] and v["outputs"]["loadBalancerIp"] == v["ip"]


def test_http_only_site_and_no_certificate_lookup(recorder):
    rec = recorder(declare(site_args(HTTP)))
    assert rec.value["site"].endpoint.scheme == "http" and rec.value["site"].endpoint.port == 80
    assert not [t for t, _ in rec.invokes if t.endswith("getCertificate")]
    annotations = _sent(rec)["Service"].inputs["metadata"]["annotations"]
    assert km.LB_ANNOTATION + "certificate-name" not in annotations


def test_tls_certificate_is_looked_up_by_name(recorder):
    rec = recorder(declare(site_args()))
    assert [a for t, a in rec.invokes if t == "digitalocean:index/getCertificate:getCertificate"] == [
        {"name": "orders-api"}
    ]


def test_children_are_named_after_the_component(recorder):
    rec = recorder(declare(site_args()))
    component = rec.one("dr:sites:DoksSite")
    for r in rec.resources:
        if r.type.startswith(("digitalocean:index", K8S, "aws:", "tls:", "dr:identity")):
            assert r.name.startswith("orders-nyc3-"), r.name
    direct = {r.type for r in rec.resources if r.parent == component.urn}
    assert {
        "digitalocean:index/kubernetesCluster:KubernetesCluster",
        "pulumi:providers:kubernetes",
        "dr:identity:WorkloadIdentity",
        "kubernetes:apps/v1:Deployment",
        "aws:secretsmanager/secret:Secret",
    } <= direct


def test_the_load_balancer_ip_is_the_services_first_ingress_address():
    from pulumi_kubernetes.core.v1.outputs import LoadBalancerIngress, LoadBalancerStatus, ServiceStatus

    ingress = [LoadBalancerIngress(ip="203.0.113.7"), LoadBalancerIngress(ip="203.0.113.8")]
    assert load_balancer_ip(ServiceStatus(load_balancer=LoadBalancerStatus(ingress=ingress))) == "203.0.113.7"
    for status in (None, ServiceStatus(), ServiceStatus(load_balancer=LoadBalancerStatus(ingress=[]))):
        with pytest.raises(ValueError, match="reports no ingress IP address"):
            load_balancer_ip(status)


def test_scaler_credentials_json_decodes_the_token_secret():
    doc = json.loads(scaler_credentials_json({"token": "dG9r", "ca.crt": "Q0E=", "namespace": "b3JkZXJz"}))
    assert doc == {"token": "tok", "caCertificate": "CA"}
    with pytest.raises(ValueError, match="no token or ca.crt"):
        scaler_credentials_json({"namespace": "b3JkZXJz"})
