"""The DOKS config keys: defaults, every mistake named by its key path, Kubernetes quantities, real slugs."""

from __future__ import annotations

import copy
import re
from decimal import Decimal

import pulumi_digitalocean as digitalocean
import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.config import ConfigError
from components.sites.doks.capacity import _SIZE_SLUG, node_size, parse_quantity
from components.sites.doks.checks import parse_digitalocean_config
from components.sites.doks.config import DOKS_REGIONS, STACK_ENV_NAMES
from components.sites.doks.manifests import client_environment

BASE = {
    "layout": "digitalocean",  # other dr: keys are the plane's: ignored here
    "table": {"name": "orders"},
    "sites": [{"region": "nyc3", "awsRegion": "us-east-1"}, {"region": "sfo3", "awsRegion": "us-west-2"}],
    "app": {"name": "orders", "image": "registry.example.com/orders:1.4.2"},
    "cluster": {"version": "1.33.1-do.0"},
}


def values(**over) -> dict:
    """BASE with `over`; a `cluster` given without a version keeps BASE's (the version is required)."""
    v = copy.deepcopy(BASE)
    v.update(copy.deepcopy(over))
    if "version" not in v["cluster"]:
        v["cluster"] = {"version": BASE["cluster"]["version"], **v["cluster"]}
    return v


def test_defaults_a_doks_user_expects():
    cfg = parse_digitalocean_config(values())
    assert cfg.data_regions == ["us-east-1", "us-west-2"]
    cluster = cfg.cluster
    assert (cluster.version, cluster.minor, cluster.version_prefix, cluster.validation_version) == (
        "1.33.1-do.0",
        "1.33",
        "1.33.",
        "1.33.0",
    )
    assert (cfg.cluster.node_size, cfg.cluster.min_nodes, cfg.cluster.max_nodes, cfg.cluster.ha_control_plane) == (
        "s-2vcpu-4gb",
        2,
        5,
        True,
    )
    assert (cfg.app.port, cfg.app.health_path, cfg.app.replicas, cfg.app.standby_replicas) == (8080, "/health", 3, 1)
    assert cfg.app.resources.requests.model_dump() == {"cpu": "250m", "memory": "256Mi"}
    assert cfg.app.resources.limits.model_dump() == {"cpu": "1", "memory": "512Mi"}
    p = cfg.probes
    assert (p.liveness.period_seconds, p.liveness.timeout_seconds, p.liveness.failure_threshold) == (10, 2, 3)
    assert (p.readiness.period_seconds, p.readiness.success_threshold) == (10, 1)
    assert (p.startup.period_seconds, p.startup.failure_threshold) == (5, 30)  # 150 s to start
    assert cfg.probe_path(p.liveness) == cfg.probe_path(p.readiness) == "/health"
    hc = cfg.load_balancer.health_check
    assert (hc.interval_seconds, hc.timeout_seconds, hc.healthy_threshold, hc.unhealthy_threshold) == (3, 5, 5, 3)
    assert cfg.load_balancer_health_path == "/health"
    assert (cfg.tls, cfg.scheme, cfg.public_port) == (None, "http", 80)


def test_full_config_with_tls():
    cfg = parse_digitalocean_config(
        values(
            cluster={
                "version": "1.32.5-do.2",
                "nodeSize": "s-4vcpu-8gb",
                "minNodes": 3,
                "maxNodes": 9,
                "haControlPlane": False,
            },
            probes={"liveness": {"path": "/livez"}, "readiness": {"successThreshold": 2}},
            loadBalancer={"sizeUnit": 2, "healthCheck": {"intervalSeconds": 10, "unhealthyThreshold": 2}},
            tls={"certificateName": "orders-api", "redirectHttpToHttps": False},
        )
    )
    assert cfg.cluster.version_prefix == "1.32." and cfg.cluster.min_nodes == 3
    assert cfg.probe_path(cfg.probes.liveness) == "/livez" and cfg.probe_path(cfg.probes.readiness) == "/health"
    assert cfg.probes.readiness.success_threshold == 2
    assert cfg.load_balancer.size_unit == 2 and cfg.load_balancer.health_check.interval_seconds == 10
    assert (cfg.scheme, cfg.public_port, cfg.tls.redirect_http_to_https) == ("https", 443, False)


def _error(**over) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_digitalocean_config(values(**over))
    return info.value


SITES = BASE["sites"]


def test_the_cluster_version_is_required():
    """No default: a default would change (and upgrade the clusters) with a release of this project."""
    for without, key in (
        ({k: v for k, v in values().items() if k != "cluster"}, "dr:cluster"),
        ({**values(), "cluster": {"nodeSize": "s-2vcpu-4gb"}}, "dr:cluster.version"),
    ):
        with pytest.raises(ConfigError) as info:
            parse_digitalocean_config(without)
        assert (info.value.key, info.value.message) == (key, "required key is missing")


@pytest.mark.parametrize(
    "over, key, words",
    [
        (
            {"sites": [SITES[0], {"region": "sfo9", "awsRegion": "us-west-2"}]},
            "dr:sites[1].region",
            "not a DigitalOcean Kubernetes region",
        ),
        ({"sites": [SITES[0], {"region": "nyc2", "awsRegion": "us-west-2"}]}, "dr:sites[1].region", "nyc2"),
        ({"sites": [SITES[0], {"region": "NYC3", "awsRegion": "us-west-2"}]}, "dr:sites[1].region", "NYC3"),
        (
            {"sites": [SITES[0], {"region": "nyc3", "awsRegion": "us-west-2"}]},
            "dr:sites[1].region",
            "nyc3 is already sites[0]",
        ),
        (
            {"sites": [SITES[0], {"region": "sfo3", "awsRegion": "us-east-1"}]},
            "dr:sites[1].awsRegion",
            "already serves sites[0]",
        ),
        ({"sites": [SITES[0], {"region": "sfo3", "awsRegion": "west"}]}, "dr:sites[1].awsRegion", "not an AWS region"),
        ({"sites": [SITES[0], {"region": "sfo3"}]}, "dr:sites[1].awsRegion", "required key is missing"),
        ({"sites": [SITES[0]]}, "dr:sites", "at least 2"),
        ({"sites": [SITES[0], {**SITES[1], "zone": "a"}]}, "dr:sites[1].zone", "unknown key"),
        ({"cluster": {"version": 1.3}}, "dr:cluster.version", "1.3 is not an exact version; pin an exact DOKS version"),
        (
            {"cluster": {"version": "1.33"}},
            "dr:cluster.version",
            '1.33 is not an exact version; pin an exact DOKS version like "1.33.1-do.0" (`doctl kubernetes options '
            'versions`): the clusters then upgrade only when it changes',
        ),
        ({"cluster": {"version": "1.33.1"}}, "dr:cluster.version", "1.33.1 is not an exact version"),
        ({"cluster": {"version": "latest"}}, "dr:cluster.version", "'latest' is not a DOKS version; pin"),
        ({"cluster": {"version": "1.29.9-do.0"}}, "dr:cluster.version", "older than 1.30"),
        ({"cluster": {"nodeSize": "big"}}, "dr:cluster.nodeSize", "not a Droplet size slug"),
        ({"cluster": {"minNodes": 6, "maxNodes": 5}}, "dr:cluster.minNodes", "more than cluster.maxNodes"),
        ({"cluster": {"minNodes": 0}}, "dr:cluster.minNodes", "greater than or equal to 1"),
        ({"app": {"image": "x"}}, "dr:app.name", "required key is missing"),
        ({"app": {**BASE["app"], "name": "Orders"}}, "dr:app.name", "lower-case"),
        ({"app": {**BASE["app"], "standbyReplicas": 4}}, "dr:app.standbyReplicas", "more than app.replicas (3)"),
        ({"app": {**BASE["app"], "healthPath": "health"}}, "dr:app.healthPath", "absolute URL path"),
        ({"app": {**BASE["app"], "environment": {"DR_TABLE": "x"}}}, "dr:app.environment", "set by the stack"),
        ({"app": {**BASE["app"], "environment": {"DR_ANYTHING": "x"}}}, "dr:app.environment", "DR_* "),
        (
            {"app": {**BASE["app"], "environment": {"AWS_REGION": "eu-west-1"}}},
            "dr:app.environment",
            "set by the stack",
        ),
        (
            {"app": {**BASE["app"], "environment": {"AWS_ACCESS_KEY_ID": "AKIA..."}}},
            "dr:app.environment",
            "bypass the workload's short-lived AWS credentials",
        ),
        (
            {"app": {**BASE["app"], "environment": {"LOG-LEVEL": "x"}}},
            "dr:app.environment",
            "not an environment variable",
        ),
        (
            {"app": {**BASE["app"], "resources": {"requests": {"cpu": "250x", "memory": "1Gi"}}}},
            "dr:app.resources.requests.cpu",
            "not a Kubernetes quantity",
        ),
        (
            {"app": {**BASE["app"], "resources": {"limits": {"cpu": "0", "memory": "1Gi"}}}},
            "dr:app.resources.limits.cpu",
            "more than zero",
        ),
        (
            {"app": {**BASE["app"], "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}}},
            "dr:app.resources.requests.memory",
            "1Gi is more than the limit 512Mi",
        ),
        (
            {"app": {**BASE["app"], "resources": {"requests": {"cpu": "100m"}}}},
            "dr:app.resources.requests.memory",
            "required key is missing",
        ),
        (
            {"probes": {"liveness": {"timeoutSeconds": 20}}},
            "dr:probes.liveness.timeoutSeconds",
            "longer than periodSeconds (10)",
        ),
        ({"probes": {"liveness": {"successThreshold": 2}}}, "dr:probes.liveness.successThreshold", "unknown key"),
        ({"probes": {"startup": {"path": "livez"}}}, "dr:probes.startup.path", "absolute URL path"),
        (
            {"loadBalancer": {"healthCheck": {"intervalSeconds": 2}}},
            "dr:loadBalancer.healthCheck.intervalSeconds",
            "greater than or equal to 3",
        ),
        (
            {"loadBalancer": {"healthCheck": {"unhealthyThreshold": 11}}},
            "dr:loadBalancer.healthCheck.unhealthyThreshold",
            "less than or equal to 10",
        ),
        (
            {"loadBalancer": {"healthCheck": {"healthyThreshold": 1}}},
            "dr:loadBalancer.healthCheck.healthyThreshold",
            "greater than or equal to 2",
        ),
        (
            {"loadBalancer": {"healthCheck": {"timeoutSeconds": 301}}},
            "dr:loadBalancer.healthCheck.timeoutSeconds",
            "less than or equal to 300",
        ),
        ({"tls": {"redirectHttpToHttps": True}}, "dr:tls.certificateName", "required key is missing"),
        ({"tls": {"certificateName": "my cert"}}, "dr:tls.certificateName", "not a DigitalOcean certificate name"),
    ],
)
def test_each_mistake_is_one_line_naming_its_key(over, key, words):
    error = _error(**over)
    assert error.key == key, str(error)
    assert words in error.message, str(error)
    assert "\n" not in str(error) and str(error).startswith(key + ": ")


def test_slugs_are_digitaloceans_own():
    """Every region accepted is one pulumi-digitalocean knows; retired datacenters are refused."""
    sdk = {r.value for r in digitalocean.Region}
    assert set(DOKS_REGIONS) <= sdk
    assert not {"nyc2", "ams2", "sfo1"} & set(DOKS_REGIONS)


def test_every_current_sdk_droplet_size_is_accepted():
    """The SDK still lists the legacy pre-2018 sizes (`512mb`...`64gb`), which new nodes cannot use."""
    sizes = [s.value for s in digitalocean.DropletSlug]
    legacy = {s for s in sizes if re.fullmatch(r"\d+(mb|gb)", s)}
    assert len(sizes) - len(legacy) > 50
    refused = {}
    for size in sizes:
        try:
            parse_digitalocean_config(values(cluster={"nodeSize": size, "maxNodes": 50}))
        except ConfigError as exc:
            refused[size] = exc.message
    # refused: the legacy sizes, the GPU sizes (whose slug names GPU memory) and those below DOKS's 2 GB
    gpu = {s for s in sizes if s.startswith("gpu-")}
    small = {s for s in set(sizes) - legacy - gpu if node_size(s)[1] < 2}
    assert {"s-1vcpu-512mb-10gb", "s-1vcpu-1gb"} <= small and "s-1vcpu-2gb" not in refused
    assert set(refused) == legacy | gpu | small, refused
    assert all("GPU" in refused[s] for s in gpu) and all("at least 2 GB" in refused[s] for s in small)
    assert [s for s in legacy if _SIZE_SLUG.match(s)] == []
    for size in ("s-2vcpu-4gb", "c-4", "g-8vcpu-32gb", "so1_5-2vcpu-16gb"):
        assert parse_digitalocean_config(values(cluster={"nodeSize": size})).cluster.node_size == size


def test_the_reserved_names_are_exactly_what_the_stack_sets():
    env = client_environment(
        app="orders",
        regions=["us-east-1"],
        table="t",
        parameter_name="/p",
        cache_seconds=5,
        control_table="orders-x-dr-control",
        control_regions=["us-east-1"],
        aws_region="us-east-1",
    )
    assert set(env) == STACK_ENV_NAMES


@pytest.mark.parametrize(
    "text, value",
    [
        ("250m", Decimal("0.25")),
        ("1", Decimal(1)),
        ("0.5", Decimal("0.5")),
        ("2k", Decimal(2000)),
        ("512Mi", Decimal(512 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
        ("100M", Decimal(10**8)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("500u", Decimal("0.0005")),
    ],
)
def test_quantities(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "m", "1mi", "1 Gi", "-1", "1Gb", "Mi1", "1.2.3", "1e", "0x10"])
def test_not_quantities(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["Ki", "Mi", "Gi", "Ti"]))
def test_binary_suffixes_scale_by_powers_of_two(n, suffix):
    factor = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4}[suffix]
    assert parse_quantity(f"{n}{suffix}") == n * 1024**factor


@given(st.integers(min_value=1, max_value=64_000))
def test_millicores_order_like_cores(milli):
    assert (parse_quantity(f"{milli}m") <= parse_quantity("1")) == (milli <= 1000)


@pytest.mark.parametrize(
    "slug, cores, memory_gib",
    [
        ("s-1vcpu-2gb", 1, 1.0),
        ("s-2vcpu-4gb", 2, 2.5),
        ("s-4vcpu-8gb", 4, 5.7),
        ("c-4", 4, 5.7),
    ],
)
def test_allocatable_is_about_what_digitalocean_documents(slug, cores, memory_gib):
    from components.sites.doks.capacity import node_allocatable

    cpu, memory = node_allocatable(slug)
    assert cores - 0.4 < cpu < cores
    assert memory_gib <= memory / 2**30 < memory_gib + 0.3


def test_the_pool_must_hold_the_replicas_and_the_rolling_update_surge():
    from components.sites.doks.capacity import pods_per_node

    per_node = pods_per_node("s-2vcpu-4gb", Decimal("0.25"), Decimal(256 * 2**20))
    assert per_node == 6  # CPU bound: 1.68 allocatable / 0.25
    fits = values(cluster={"nodeSize": "s-2vcpu-4gb", "maxNodes": 2}, app={**BASE["app"], "replicas": 11})
    assert parse_digitalocean_config(fits).app.replicas == 11  # 11 + 1 surge = 12 = 2 x 6
    with pytest.raises(ConfigError, match=r"^dr:app.replicas: 12 pods \(\+1 during a rolling update\) do not fit"):
        parse_digitalocean_config(
            values(cluster={"nodeSize": "s-2vcpu-4gb", "maxNodes": 2}, app={**BASE["app"], "replicas": 12})
        )
