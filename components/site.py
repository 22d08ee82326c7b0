"""The contract between a *site* (where the application runs in one region) and the shared DR plane.

A site kind (ALB + ECS, DOKS + DigitalOcean load balancer, OVHcloud servers + HAProxy) declares its
own resources and hands the plane a `Site`: nothing else of it is visible to the plane. The plane
(table, control item and SSM projection, notifications, health checks, failover records, alarms,
orchestrators, budget) is then the same for every layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.config_base import Scheme


@dataclass(frozen=True)
class SiteEndpoint:
    """How the public reaches the site and how Route 53 checks it.

    Exactly one of (`alias_dns_name`, `alias_zone_id`) or `ip_address` is set: an alias target (an ALB)
    or a fixed public IPv4 address (a DigitalOcean load balancer, an HAProxy host).
    """

    scheme: Scheme
    port: int
    """The port Route 53 health checks and clients use (443 for https, 80 for http by default)."""
    alias_dns_name: pulumi.Input[str] | None = None
    alias_zone_id: pulumi.Input[str] | None = None
    ip_address: pulumi.Input[str] | None = None
    accelerator_endpoint_id: pulumi.Input[str] | None = None
    """With dr:traffic.mode accelerator: the Global Accelerator endpoint of the site (an AWS load balancer's ARN)."""

    def __post_init__(self) -> None:
        is_alias = self.alias_dns_name is not None and self.alias_zone_id is not None
        if is_alias == (self.ip_address is not None):
            raise ValueError("a site endpoint is either an alias target (dns name + zone) or an IP address")

    @property
    def is_alias(self) -> bool:
        return self.ip_address is None


@dataclass(frozen=True)
class Site:
    """What one site hands the DR plane."""

    name: str
    """Unique within the stack; names the site's plane resources (`us-east-1`, `nyc3`, `gra`)."""
    location: str
    """Where the site runs, in its provider's words (AWS region, DigitalOcean slug, OVH region)."""
    data_region: str
    """The AWS region that serves this site's data, control item and SSM projection; the runtime's
    region key for the site (distinct per site)."""
    endpoint: SiteEndpoint
    scale_target: pulumi.Input[dict]
    """`failover.scaling.scale_target_json(...)` of the site: how the orchestrator brings it to full size."""
    orchestrator_statements: pulumi.Input[list] = field(default_factory=list)
    """IAM statements the orchestrator needs to scale this site (e.g. ecs:UpdateService on its service)."""
    outputs: dict[str, pulumi.Input] = field(default_factory=dict)
    """Site-kind outputs the layout exports (load balancer name, cluster id, ...)."""
