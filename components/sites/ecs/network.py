"""The VPC component: public subnets whose ids carry the internet route they depend on."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.sites.ecs.addressing import PUBLIC_SUBNETS, public_subnet_cidrs


class PublicVpc(pulumi.ComponentResource):
    """A VPC with public subnets in two availability zones (ALB and Fargate tasks with public IPs, no NAT cost).

    `subnet_ids` resolve only once the internet gateway is attached and each subnet is associated with
    the route table that sends 0.0.0.0/0 to it: whatever takes these ids (an internet-facing ALB, an ECS
    service with public IPs) therefore depends on the internet route, and AWS never sees it too early
    (`InvalidSubnet: ... has no internet gateway`).
    """

    vpc_id: pulumi.Output[str]
    subnet_ids: list[pulumi.Output[str]]
    """Each subnet's id, depending on its route table association (and so on the gateway and the route)."""

    def __init__(
        self, name: str, *, cidr: str, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dr:network:PublicVpc", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        zones = aws.get_availability_zones_output(
            state="available", opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)
        )
        vpc = aws.ec2.Vpc(
            f"{name}-vpc", cidr_block=cidr, enable_dns_hostnames=True, enable_dns_support=True, opts=child
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            opts=child,
        )
        self.subnet_ids = []
        for i, block in enumerate(public_subnet_cidrs(cidr, PUBLIC_SUBNETS)):
            subnet = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=vpc.id,
                cidr_block=block,
                availability_zone=zones.names[i],
                map_public_ip_on_launch=True,
                opts=child,
            )
            association = aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=subnet.id, route_table_id=routes.id, opts=child
            )
            # The id, once the subnet is routed to the attached gateway: an Output of several resources
            # makes each consumer depend on all of them, in the engine's graph as in AWS.
            self.subnet_ids.append(
                pulumi.Output.all(subnet.id, association.id, routes.id, igw.id).apply(lambda ids: ids[0])
            )
        self.vpc_id = vpc.id
        self.register_outputs({"vpcId": self.vpc_id, "subnetIds": self.subnet_ids})
