"""The Kubernetes rules through pulumi_policy's own argument types and unknown-checking proxy, on the objects
the DOKS site really sends (compliant) and on broken variants of them."""

from __future__ import annotations

import copy

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from components.sites.doks import manifests as km
from components.sites.doks.checks import parse_digitalocean_config
from components.sites.doks.inputs import load_balancer_from_config, workload_from_config
from policies.pack import build_policies
from policies.rules import RESOURCE_RULES, STACK_RULES

POLICIES = {p.name: p for p in build_policies()}
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
CFG = parse_digitalocean_config(
    {
        "sites": [{"region": "nyc3", "awsRegion": "us-east-1"}, {"region": "sfo3", "awsRegion": "us-west-2"}],
        "app": {"name": "orders", "image": "registry.example.com/orders:1"},
        "cluster": {"version": "1.33.1-do.0"},
    }
)
WORKLOAD = workload_from_config(
    CFG,
    CFG.sites[0],
    stack="prod",
    active=True,
    table_name="orders",
    parameter_name="/orders/prod/active_region",
    cache_seconds=5,
    control_table="orders-prod-dr-authority",
    control_regions=("us-east-1", "us-west-2"),
)
GOOD_DEPLOYMENT = km.deployment_manifest(WORKLOAD)
GOOD_SERVICE = km.load_balancer_service_manifest(WORKLOAD, load_balancer_from_config(CFG, CFG.sites[0], stack="prod"))


def opts():
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def resource_messages(name, type_, props) -> list[str]:
    messages = []
    args = ResourceValidationArgs(type_, unknown_checking_proxy(props), f"urn:{type_}", "r", opts(), None)
    POLICIES[name].validate(args, lambda m, urn=None: messages.append(m))
    return messages


def stack_messages(name, resources) -> list[str]:
    messages = []
    items = [
        PolicyResource(t, unknown_checking_proxy(p), f"urn:{i}", f"r{i}", opts(), None, None, [], {})
        for i, (t, p) in enumerate(resources)
    ]
    POLICIES[name].validate(StackValidationArgs(items), lambda m, urn=None: messages.append(m))
    return messages


def container(manifest):
    return manifest["spec"]["template"]["spec"]["containers"][0]


def broken(mutate, manifest=GOOD_DEPLOYMENT):
    m = copy.deepcopy(manifest)
    mutate(m)
    return m


def test_registered_in_the_pack():
    assert {"kubernetes-probes", "kubernetes-resource-limits", "kubernetes-no-plaintext-secrets"} <= set(RESOURCE_RULES)
    assert "do-lb-health-check-path" in STACK_RULES
    assert {"kubernetes-probes", "do-lb-health-check-path"} <= set(POLICIES)


def test_the_sites_objects_are_compliant():
    for name in ("kubernetes-probes", "kubernetes-resource-limits", "kubernetes-no-plaintext-secrets"):
        assert resource_messages(name, DEPLOYMENT, GOOD_DEPLOYMENT) == [], name
    assert stack_messages("do-lb-health-check-path", [(DEPLOYMENT, GOOD_DEPLOYMENT), (SERVICE, GOOD_SERVICE)]) == []


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe"])
def test_probes_on_every_deployment(probe):
    messages = resource_messages("kubernetes-probes", DEPLOYMENT, broken(lambda m: container(m).pop(probe)))
    assert messages == [f"container orders of orders/orders has no {probe}"]
    # other kinds are not this rule's business
    job = broken(lambda m: container(m).pop(probe))
    assert resource_messages("kubernetes-probes", "kubernetes:batch/v1:Job", job) == []


def test_resource_limits_set():
    assert resource_messages(
        "kubernetes-resource-limits", DEPLOYMENT, broken(lambda m: container(m)["resources"].pop("limits"))
    ) == ["container orders of orders/orders sets no cpu or memory limits"]
    assert resource_messages(
        "kubernetes-resource-limits", DEPLOYMENT, broken(lambda m: container(m)["resources"]["requests"].pop("memory"))
    ) == ["container orders of orders/orders sets no memory requests"]
    init = broken(lambda m: m["spec"]["template"]["spec"].__setitem__("initContainers", [{"name": "migrate"}]))
    assert len(resource_messages("kubernetes-resource-limits", DEPLOYMENT, init)) == 2


def test_no_plaintext_secret_in_a_pods_env():
    leaky = broken(
        lambda m: container(m)["env"].extend(
            [
                {"name": "API_TOKEN", "value": "dummy-token"},
                {"name": "AWS_SECRET_ACCESS_KEY", "value": "dummy"},
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            ]
        )
    )
    messages = resource_messages("kubernetes-no-plaintext-secrets", DEPLOYMENT, leaky)
    assert [m.split(": ")[1].split()[2] for m in messages] == ["API_TOKEN", "AWS_SECRET_ACCESS_KEY"]


def test_load_balancer_must_check_the_apps_health_path():
    def svc(mutate):
        return [(DEPLOYMENT, GOOD_DEPLOYMENT), (SERVICE, broken(mutate, GOOD_SERVICE))]

    ann = km.LB_ANNOTATION
    assert stack_messages(
        "do-lb-health-check-path",
        svc(lambda m: m["metadata"]["annotations"].__setitem__(ann + "healthcheck-path", "/")),
    ) == ["the load balancer of orders/orders checks /; the app's health path is /health"]
    assert stack_messages(
        "do-lb-health-check-path", svc(lambda m: m["metadata"]["annotations"].pop(ann + "override-health-check"))
    ) == [
        "the load balancer of orders/orders checks kube-proxy, not the app: set do-loadbalancer-override-health-check"
    ]
    assert stack_messages(
        "do-lb-health-check-path",
        svc(lambda m: m["metadata"]["annotations"].__setitem__(ann + "healthcheck-protocol", "tcp")),
    ) == ["the load balancer of orders/orders checks over tcp, not HTTP"]
    assert stack_messages(
        "do-lb-health-check-path", svc(lambda m: m["spec"].__setitem__("selector", {"app.kubernetes.io/name": "other"}))
    ) == ["the load balancer of orders/orders selects no Deployment"]
    assert stack_messages(
        "do-lb-health-check-path", svc(lambda m: m["metadata"].__setitem__("namespace", "elsewhere"))
    ) == ["the load balancer of elsewhere/orders selects no Deployment"]
    # a Service that is no DigitalOcean load balancer is left alone
    plain = broken(lambda m: m["metadata"].pop("annotations"), GOOD_SERVICE)
    assert stack_messages("do-lb-health-check-path", [(SERVICE, plain)]) == []


def test_the_lb_path_follows_the_readiness_path_not_a_constant():
    custom = parse_digitalocean_config(
        {
            **CFG.model_dump(by_alias=True, exclude_none=True),
            "probes": {"readiness": {"path": "/ready"}},
            "loadBalancer": {"healthCheck": {"path": "/ready"}},
        }
    )
    w = workload_from_config(
        custom,
        custom.sites[0],
        stack="prod",
        active=True,
        table_name="t",
        parameter_name="/p",
        cache_seconds=5,
        control_table="c",
        control_regions=("us-east-1",),
    )
    service = km.load_balancer_service_manifest(w, load_balancer_from_config(custom, custom.sites[0], stack="prod"))
    matching = [(DEPLOYMENT, km.deployment_manifest(w)), (SERVICE, service)]
    assert stack_messages("do-lb-health-check-path", matching) == []
    assert stack_messages("do-lb-health-check-path", [(DEPLOYMENT, GOOD_DEPLOYMENT), (SERVICE, service)]) == [
        "the load balancer of orders/orders checks /ready; the app's health path is /health"
    ]


def test_unknown_values_are_reported_not_guessed():
    unknown_env = broken(lambda m: container(m)["env"].append({"name": "API_TOKEN", "value": UNKNOWN}))
    with pytest.raises(UnknownValueError):
        resource_messages("kubernetes-no-plaintext-secrets", DEPLOYMENT, unknown_env)
    unknown_path = broken(
        lambda m: m["metadata"]["annotations"].__setitem__(km.LB_ANNOTATION + "healthcheck-path", UNKNOWN), GOOD_SERVICE
    )
    with pytest.raises(UnknownValueError):
        stack_messages("do-lb-health-check-path", [(DEPLOYMENT, GOOD_DEPLOYMENT), (SERVICE, unknown_path)])
