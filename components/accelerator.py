"""Traffic through AWS Global Accelerator (`dr:traffic.mode: accelerator`, aws layout): two anycast addresses in
front of every region, and the application's DNS name an alias to them.

Each region's endpoint group holds the site's Global Accelerator entry (an NLB in front of its ALB, see
`components.sites.ecs.entry`), whose health is `failover.health.accelerator_route`: the active region and, while the
primary is active, its successor (the first secondary). The traffic dials give the order: the primary's group 100,
every other 0, so in normal operation every client goes to the primary. When no group with a dial above 0 has a
healthy endpoint, Global Accelerator sends clients to the nearest healthy group whatever its dial (and, with none
healthy among the three nearest, fails open to the nearest group): the successor, before writes move there, with no
API call. Every setting is made at deploy time; nothing in the failover runtime calls Global Accelerator's API,
whose control plane is in us-west-2, so a failover does not depend on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.budget import (
    ACCELERATOR_HEALTH_INTERVAL_SECONDS,
    ACCELERATOR_HEALTHY_THRESHOLD,
)
from components.naming import ACCELERATOR, aws_name

# Global Accelerator's API (its control plane) is served from this region only, whatever the endpoints' regions.
ACCELERATOR_CONTROL_REGION = "us-west-2"
# The hosted zone Route 53 alias records to an accelerator name.
ACCELERATOR_ALIAS_ZONE_ID = "Z2BJ6XQ5FK7U4H"


@dataclass(frozen=True)
class AcceleratorArgs:
    app: str
    stack: str
    zone_id: str
    record_name: str
    """dr:dns.recordName: becomes an alias A record to the accelerator."""
    scheme: str
    """The sites' scheme: the listener takes TCP 443 for https, 80 for http."""
    accelerator_health_path: str
    order: tuple[str, ...]
    """The failover order, primary first: the primary's group takes every client (dial 100), the others none."""
    endpoints: Mapping[str, pulumi.Input[str]]
    """Region -> the ARN of the load balancer Global Accelerator sends that region's traffic to."""


FAILOVER_ORDER_TAG = "dr:failoverOrder"
"""On the accelerator: the failover order, primary first (the policy pack checks the dials against it)."""


def listener_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def traffic_dials(order: Sequence[str]) -> dict[str, int]:
    """Each region's traffic dial: 100 for the primary, 0 for every other region (they take traffic only when the
    primary's group has no healthy endpoint, which Global Accelerator decides by health, ignoring dials)."""
    return {region: 100 if i == 0 else 0 for i, region in enumerate(order)}


class TrafficAccelerator(pulumi.ComponentResource):
    """The accelerator, its TCP listener, an endpoint group per region and the application's alias record."""

    accelerator: aws.globalaccelerator.Accelerator
    endpoint_groups: dict[str, aws.globalaccelerator.EndpointGroup]
    dns_name: pulumi.Output[str]
    ip_addresses: pulumi.Output[list]

    def __init__(
        self,
        name: str,
        args: AcceleratorArgs,
        *,
        providers: Mapping[str, aws.Provider],
        dns_provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`providers` holds us-west-2's (Global Accelerator's API); `dns_provider` the one the records use."""
        super().__init__("dr:traffic:TrafficAccelerator", name, None, opts)
        control = pulumi.ResourceOptions(parent=self, provider=providers[ACCELERATOR_CONTROL_REGION])
        self.accelerator = aws.globalaccelerator.Accelerator(
            f"{name}-accelerator",
            name=aws_name(ACCELERATOR, f"{args.app}-{args.stack}"),
            ip_address_type="IPV4",
            enabled=True,
            tags={FAILOVER_ORDER_TAG: ",".join(args.order)},
            opts=control,
        )
        port = listener_port(args.scheme)
        listener = aws.globalaccelerator.Listener(
            f"{name}-listener",
            accelerator_arn=self.accelerator.arn,
            protocol="TCP",
            port_ranges=[aws.globalaccelerator.ListenerPortRangeArgs(from_port=port, to_port=port)],
            client_affinity="NONE",
            opts=control,
        )
        dials = traffic_dials(args.order)
        self.endpoint_groups = {
            region: aws.globalaccelerator.EndpointGroup(
                f"{name}-{region}",
                listener_arn=listener.arn,
                endpoint_group_region=region,
                endpoint_configurations=[
                    aws.globalaccelerator.EndpointGroupEndpointConfigurationArgs(endpoint_id=arn, weight=100)
                ],
                traffic_dial_percentage=dials[region],
                # Global Accelerator applies these to EC2 and Elastic IP endpoints only; a load balancer endpoint's
                # health is its target group's, which checks the same path with the same figures.
                health_check_protocol="HTTPS" if args.scheme == "https" else "HTTP",
                health_check_port=port,
                health_check_path=args.accelerator_health_path,
                health_check_interval_seconds=ACCELERATOR_HEALTH_INTERVAL_SECONDS,
                threshold_count=ACCELERATOR_HEALTHY_THRESHOLD,
                opts=control,
            )
            for region, arn in args.endpoints.items()
        }
        aws.route53.Record(
            f"{name}-alias",
            zone_id=args.zone_id,
            name=args.record_name,
            type="A",
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=self.accelerator.dns_name, zone_id=ACCELERATOR_ALIAS_ZONE_ID, evaluate_target_health=False
                )
            ],
            opts=pulumi.ResourceOptions(parent=self, provider=dns_provider),
        )
        self.dns_name = self.accelerator.dns_name
        self.ip_addresses = self.accelerator.ip_sets.apply(
            lambda sets: [ip for s in sets or [] for ip in (s.ip_addresses or [])]
        )
        self.register_outputs({"dnsName": self.dns_name, "ipAddresses": self.ip_addresses})
