"""Address plans for VPCs the project creates (plain functions) and the VPC component."""

from __future__ import annotations

import ipaddress
from typing import Optional

import pulumi
import pulumi_aws as aws


def default_vpc_cidr(region_index: int) -> str:
    """Non-overlapping /16 per region, so regions can be peered later without renumbering."""
    return f"10.{10 + region_index}.0.0/16"


def public_subnet_cidrs(vpc_cidr: str, count: int) -> list[str]:
    """The first `count` /20 blocks of the VPC, one per availability zone."""
    net = ipaddress.ip_network(vpc_cidr)
    subnets = list(net.subnets(new_prefix=20))
    if count > len(subnets):
        raise ValueError(f"{vpc_cidr} has room for {len(subnets)} /20 subnets, not {count}")
    return [str(s) for s in subnets[:count]]


class PublicVpc(pulumi.ComponentResource):
    """A VPC with public subnets in two availability zones (ALB and Fargate tasks with public IPs, no NAT cost)."""

    vpc_id: pulumi.Output[str]
    subnet_ids: list[pulumi.Output[str]]

    def __init__(
        self, name: str, *, cidr: str, provider: aws.Provider, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("dr:network:PublicVpc", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        zones = aws.get_availability_zones_output(
            state="available", opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)
        )
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=cidr, enable_dns_hostnames=True, enable_dns_support=True, opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            opts=child,
        )
        self.subnet_ids = []
        for i, block in enumerate(public_subnet_cidrs(cidr, 2)):
            subnet = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=vpc.id,
                cidr_block=block,
                availability_zone=zones.names[i],
                map_public_ip_on_launch=True,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-public-{i}", subnet_id=subnet.id, route_table_id=routes.id, opts=child)
            self.subnet_ids.append(subnet.id)
        self.vpc_id = vpc.id
        self.register_outputs({"vpcId": self.vpc_id, "subnetIds": self.subnet_ids})
