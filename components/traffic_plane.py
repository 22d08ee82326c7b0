"""The traffic part of the DR plane: a Route 53 health check and alarm per site, the regional records, and what
sends clients to the active region (the failover record chain, or a Global Accelerator). One stack declares it
through `components.plane.declare_dr_plane`; per-tier stacks in their traffic tier (`components.tiered`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.accelerator import (
    ACCELERATOR_CONTROL_REGION,
    AcceleratorArgs,
    TrafficAccelerator,
)
from components.providers import ROUTE53_METRICS_REGION, regional_providers
from components.site import Site
from components.traffic import (
    Endpoint,
    EndpointHealth,
    FailoverDns,
    TrafficArgs,
    regional_record_name,
)


@dataclass
class TrafficPlane:
    health: dict[str, EndpointHealth]
    """Site name -> its Route 53 health check and alarm (kept in both modes: the alarm path and verify use them)."""
    accelerator: TrafficAccelerator | None = None
    """With dr:traffic.mode accelerator."""

    def outputs(self) -> dict[str, Any]:
        """The accelerator's stack outputs (none with dns, so those stacks' outputs do not change)."""
        if self.accelerator is None:
            return {}
        return {"accelerator": {"dnsName": self.accelerator.dns_name, "ipAddresses": self.accelerator.ip_addresses}}


def declare_traffic(
    cfg,
    stack: str,
    providers: Mapping[str, aws.Provider],
    sites: Mapping[str, Site],
    alarm_topic_arn: pulumi.Input[str],
) -> TrafficPlane:
    """A Route 53 health check (and its us-east-1 alarm) per site, the regional records, and what sends clients to
    the active region: the failover record chain (dns) or a Global Accelerator (accelerator)."""
    app = cfg.app.name
    regions = cfg.regions.all
    primary = regions[0]
    traffic = TrafficArgs(
        app=app,
        stack=stack,
        zone_id=cfg.dns.zone_id,
        record_name=cfg.dns.record_name,
        health_path=cfg.route_health_path,
        interval=cfg.health_check.interval,
        failure_threshold=cfg.health_check.failure_threshold,
        alarm_evaluation_periods=cfg.failover.alarm_evaluation_periods,
    )
    health = {
        site.name: EndpointHealth(
            f"{app}-health-{site.name}",
            fqdn=regional_record_name(cfg.dns.record_name, site.name),
            scheme=site.endpoint.scheme,
            args=traffic,
            region=site.name,
            alarm_topic_arn=alarm_topic_arn,
            global_provider=providers[primary],
            metrics_provider=providers[ROUTE53_METRICS_REGION],
            ip_address=site.endpoint.ip_address,
            port=site.endpoint.port,
        )
        for site in sites.values()
    }
    accelerated = cfg.traffic.mode == "accelerator"
    FailoverDns(
        f"{app}-dns",
        args=traffic,
        endpoints={
            s.name: Endpoint(
                region=s.name,
                dns_name=s.endpoint.alias_dns_name,
                zone_id=s.endpoint.alias_zone_id,
                scheme=s.endpoint.scheme,
                ip_address=s.endpoint.ip_address,
                ttl=cfg.dns_ttl,
            )
            for s in sites.values()
        },
        health_check_ids={name: h.health_check.id for name, h in health.items()},
        regions=[sites[r].name for r in regions],
        provider=providers[primary],
        chain=not accelerated,
    )
    if not accelerated:
        return TrafficPlane(health)
    return TrafficPlane(health, declare_accelerator(cfg, stack, providers, sites))


def declare_accelerator(
    cfg, stack: str, providers: Mapping[str, aws.Provider], sites: Mapping[str, Site]
) -> TrafficAccelerator:
    """The Global Accelerator of the deployment (through a us-west-2 provider, declared here when the stack has
    none) and the record name's alias to it."""
    if ACCELERATOR_CONTROL_REGION not in providers:
        providers = {
            **providers,
            **regional_providers([ACCELERATOR_CONTROL_REGION], app=cfg.app.name, stack=stack, metrics=False),
        }
    found = {r: sites[r].endpoint.accelerator_endpoint_id for r in cfg.regions.all}
    endpoints = {r: arn for r, arn in found.items() if arn is not None}
    missing = [r for r in found if r not in endpoints]
    if missing:
        raise ValueError(f"the sites of {', '.join(missing)} have no Global Accelerator endpoint")
    return TrafficAccelerator(
        f"{cfg.app.name}-accelerator",
        AcceleratorArgs(
            app=cfg.app.name,
            stack=stack,
            zone_id=cfg.dns.zone_id,
            record_name=cfg.dns.record_name,
            scheme=sites[cfg.regions.all[0]].endpoint.scheme,
            accelerator_health_path=cfg.accelerator_health_path,
            order=tuple(cfg.regions.all),
            endpoints=endpoints,
        ),
        providers=providers,
        dns_provider=providers[cfg.regions.all[0]],
    )
