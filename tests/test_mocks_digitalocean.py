"""The offline mocks answer DigitalOcean and Kubernetes like the real providers (wire names, camelCase)."""

from __future__ import annotations

import base64

import pulumi
import pulumi_digitalocean as digitalocean
import pulumi_kubernetes as k8s

from components.sites.doks import manifests as km


def test_versions_lookup_matches_the_prefix_like_the_api(recorder):
    def run():
        opts = pulumi.InvokeOutputOptions(provider=digitalocean.Provider("do"))
        return pulumi.Output.all(
            digitalocean.get_kubernetes_versions_output(version_prefix="1.32.", opts=opts),
            digitalocean.get_kubernetes_versions_output(version_prefix="2.", opts=opts),
        ).apply(lambda r: [(x.latest_version, list(x.valid_versions)) for x in r])

    assert recorder(run).value == [("1.32.2-do.0", ["1.32.2-do.0", "1.32.1-do.0"]), ("", [])]


def test_digitalocean_resources_record_their_region_slug(recorder):
    def run():
        do = digitalocean.Provider("do")
        rule = digitalocean.LoadBalancerForwardingRuleArgs(
            entry_port=80, entry_protocol="http", target_port=8080, target_protocol="http"
        )
        lb = digitalocean.LoadBalancer(
            "lb", region="sfo3", forwarding_rules=[rule], opts=pulumi.ResourceOptions(provider=do)
        )
        cluster = digitalocean.KubernetesCluster(
            "c",
            name="c",
            region="ams3",
            version="1.33.2-do.0",
            node_pool=digitalocean.KubernetesClusterNodePoolArgs(name="p", size="s-2vcpu-4gb", node_count=2),
            opts=pulumi.ResourceOptions(provider=do),
        )
        return pulumi.Output.all(lb.ip, cluster.endpoint, cluster.kube_configs, cluster.node_pool)

    rec = recorder(run)
    assert rec.one("digitalocean:index/loadBalancer:LoadBalancer").region == "sfo3"
    assert rec.one("digitalocean:index/kubernetesCluster:KubernetesCluster").region == "ams3"
    ip, endpoint, _kube_configs, pool = rec.value
    assert ip.startswith("203.0.113.")  # documentation range: never a real address
    assert endpoint.startswith("https://") and endpoint.endswith(".k8s.ondigitalocean.com")
    raw = rec.one("digitalocean:index/kubernetesCluster:KubernetesCluster").outputs["kubeConfigs"][0]["rawConfig"]
    assert raw.startswith("apiVersion: v1\nkind: Config\n") and endpoint in raw
    assert pool["actual_node_count"] == 2 and len(pool["nodes"]) == 2


def test_kubernetes_objects_get_what_the_api_server_fills_in(recorder):
    def run():
        do_cluster_provider = k8s.Provider("k", kubeconfig="{}")
        opts = pulumi.ResourceOptions(provider=do_cluster_provider)
        spec = {"type": "LoadBalancer", "ports": [{"port": 80}], "selector": {"x": "y"}}
        svc = k8s.core.v1.Service("s", metadata={"name": "web", "namespace": "a"}, spec=spec, opts=opts)
        token = k8s.core.v1.Secret(
            "t", **km.resource_kwargs(km.scaler_token_secret_manifest("app", "nyc3", "a")), opts=opts
        )
        return pulumi.Output.all(svc.status, token.data, svc.metadata)

    status, data, meta = recorder(run).value
    assert status["load_balancer"]["ingress"][0]["ip"].startswith("203.0.113.")
    assert base64.b64decode(data["token"]).decode() and "BEGIN CERTIFICATE" in base64.b64decode(data["ca.crt"]).decode()
    assert base64.b64decode(data["namespace"]).decode() == "a"
    assert meta["uid"] and meta["name"] == "web"
