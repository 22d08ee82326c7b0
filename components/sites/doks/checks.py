"""Rules across the `digitalocean` layout's own keys (distinct sites, node pool capacity, replicas, resources,
probes); each raises ConfigError naming the most specific key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from components.config_base import NAMESPACE, ConfigError, first_error
from components.sites.doks.capacity import node_allocatable, parse_quantity, pods_per_node
from components.sites.doks.config import DOKS_KEYS, DigitalOceanConfig, DigitalOceanStackConfig, ProbeConfig


def doks_cross_checks(cfg: DigitalOceanConfig) -> None:
    """Rules spanning several keys; each raises ConfigError naming the most specific key."""
    key = f"{NAMESPACE}:"
    slugs: dict[str, int] = {}
    aws_regions: dict[str, int] = {}
    for i, site in enumerate(cfg.sites):
        if site.region in slugs:
            raise ConfigError(f"{key}sites[{i}].region", f"{site.region} is already sites[{slugs[site.region]}]")
        if site.aws_region in aws_regions:
            raise ConfigError(
                f"{key}sites[{i}].awsRegion",
                f"{site.aws_region} already serves sites[{aws_regions[site.aws_region]}]; "
                "each site needs its own AWS region",
            )
        slugs[site.region], aws_regions[site.aws_region] = i, i
    if cfg.cluster.min_nodes > cfg.cluster.max_nodes:
        raise ConfigError(
            f"{key}cluster.minNodes", f"{cfg.cluster.min_nodes} is more than cluster.maxNodes ({cfg.cluster.max_nodes})"
        )
    app = cfg.app
    if app.standby_replicas > app.replicas:
        raise ConfigError(
            f"{key}app.standbyReplicas", f"{app.standby_replicas} is more than app.replicas ({app.replicas})"
        )
    for kind in ("cpu", "memory"):
        request, limit = getattr(app.resources.requests, kind), getattr(app.resources.limits, kind)
        if parse_quantity(request) > parse_quantity(limit):
            raise ConfigError(f"{key}app.resources.requests.{kind}", f"{request} is more than the limit {limit}")
    _check_capacity(cfg)
    for kind in ("liveness", "readiness", "startup"):
        probe: ProbeConfig = getattr(cfg.probes, kind)
        if probe.timeout_seconds > probe.period_seconds:
            raise ConfigError(
                f"{key}probes.{kind}.timeoutSeconds",
                f"{probe.timeout_seconds} is longer than periodSeconds ({probe.period_seconds})",
            )


def _check_capacity(cfg: DigitalOceanConfig) -> None:
    """The node pool at its largest must hold app.replicas pods and the one more a rolling update starts
    (maxSurge 1), by their requests."""
    app, cluster = cfg.app, cfg.cluster
    per_node = pods_per_node(
        cluster.node_size, parse_quantity(app.resources.requests.cpu), parse_quantity(app.resources.requests.memory)
    )
    capacity = per_node * cluster.max_nodes
    if app.replicas + 1 > capacity:
        cpu, memory = node_allocatable(cluster.node_size)
        raise ConfigError(
            f"{NAMESPACE}:app.replicas",
            f"{app.replicas} pods (+1 during a rolling update) do not fit: {cluster.max_nodes} {cluster.node_size} "
            f"nodes hold {capacity} pods requesting {app.resources.requests.cpu} CPU and "
            f"{app.resources.requests.memory} ({per_node} per node: {cpu:.2f} CPU and {memory / 2**30:.2f} GiB "
            "allocatable); raise cluster.maxNodes or nodeSize, or lower the requests",
        )


def parse_digitalocean_config(values: Mapping[str, Any]) -> DigitalOceanConfig:
    """Validate the DOKS keys of raw `dr:` values (key without namespace -> decoded value).

    Other keys are ignored here; raises ConfigError for the first problem found.
    """
    picked = {k: values[k] for k in DOKS_KEYS if k in values}
    try:
        cfg = DigitalOceanConfig.model_validate(picked)
    except ValidationError as exc:
        raise first_error(exc) from None
    doks_cross_checks(cfg)
    return cfg


def digitalocean_stack_checks(cfg: DigitalOceanStackConfig) -> None:
    doks_cross_checks(cfg.digitalocean)
