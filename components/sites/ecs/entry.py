"""A region's Global Accelerator entry (`dr:traffic.mode: accelerator`): an NLB in front of the site's ALB.

Global Accelerator takes a load balancer endpoint's health from Elastic Load Balancing; the endpoint group's own
health-check settings apply to EC2 instances and Elastic IPs only. The ALB's target group checks `/health` (a
standby must pass it, or ECS would replace its tasks), so an ALB endpoint would look healthy in every region: when
the primary failed, Global Accelerator would send each client to its nearest region, whatever the failover order.
The NLB's target is the ALB itself (target type `alb`), checked on `<health path>/accelerator`
(`failover.health.accelerator_route`), which passes in the active region and, while the primary is active, in its
successor only: the NLB is the endpoint, and its health is "traffic goes here next". Nothing calls Global
Accelerator at failover time.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.budget import (
    ACCELERATOR_HEALTH_INTERVAL_SECONDS,
    ACCELERATOR_HEALTH_TIMEOUT_SECONDS,
    ACCELERATOR_HEALTHY_THRESHOLD,
    ACCELERATOR_UNHEALTHY_THRESHOLD,
)
from components.naming import LOAD_BALANCER, TARGET_GROUP, autonamed


def declare_accelerator_entry(
    name: str,
    *,
    alb: aws.lb.LoadBalancer,
    alb_listener: aws.lb.Listener,
    port: int,
    https: bool,
    vpc_id: pulumi.Input[str],
    subnet_ids: list,
    accelerator_health_path: str,
    opts: pulumi.ResourceOptions,
) -> aws.lb.LoadBalancer:
    """The NLB (TCP on the ALB's listener port, TLS still ends at the ALB) whose one target is the ALB; returns the
    NLB, whose ARN is the region's Global Accelerator endpoint."""
    nlb = aws.lb.LoadBalancer(
        autonamed(LOAD_BALANCER, f"{name}-nlb"),
        load_balancer_type="network",
        subnets=subnet_ids,
        enable_cross_zone_load_balancing=True,
        opts=opts,
    )
    target_group = aws.lb.TargetGroup(
        autonamed(TARGET_GROUP, f"{name}-ga"),
        target_type="alb",
        port=port,
        protocol="TCP",
        vpc_id=vpc_id,
        health_check=aws.lb.TargetGroupHealthCheckArgs(
            protocol="HTTPS" if https else "HTTP",
            path=accelerator_health_path,
            matcher="200",
            interval=ACCELERATOR_HEALTH_INTERVAL_SECONDS,
            timeout=ACCELERATOR_HEALTH_TIMEOUT_SECONDS,
            healthy_threshold=ACCELERATOR_HEALTHY_THRESHOLD,
            unhealthy_threshold=ACCELERATOR_UNHEALTHY_THRESHOLD,
        ),
        opts=opts,
    )
    # An ALB becomes an NLB target only once it has a listener on the target group's port.
    aws.lb.TargetGroupAttachment(
        f"{name}-ga",
        target_group_arn=target_group.arn,
        target_id=alb.arn,
        port=port,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[alb_listener])),
    )
    aws.lb.Listener(
        f"{name}-ga-listener",
        load_balancer_arn=nlb.arn,
        port=port,
        protocol="TCP",
        default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)],
        opts=opts,
    )
    return nlb
