"""Address plans for the VPCs the project creates (plain functions, no Pulumi import).

The config validation checks a VPC's CIDR with the same functions that later carve it, so a CIDR the
stack cannot use is refused at preview, naming its key, instead of failing in the middle of a deploy.
"""

from __future__ import annotations

import ipaddress

PUBLIC_SUBNETS = 2
"""Two availability zones: what an ALB needs at least."""
SUBNET_PREFIX = 20
VPC_PREFIX_RANGE = (16, SUBNET_PREFIX - 1)
"""AWS allows /16 to /28; two /20 subnets need at least a /19."""


def default_vpc_cidr(region_index: int) -> str:
    """Non-overlapping /16 per region, so regions can be peered later without renumbering."""
    return f"10.{10 + region_index}.0.0/16"


def public_subnet_cidrs(vpc_cidr: str, count: int) -> list[str]:
    """The first `count` /20 blocks of the VPC, one per availability zone."""
    net = ipaddress.ip_network(vpc_cidr)
    subnets = list(net.subnets(new_prefix=SUBNET_PREFIX))
    if count > len(subnets):
        raise ValueError(f"{vpc_cidr} has room for {len(subnets)} /{SUBNET_PREFIX} subnets, not {count}")
    return [str(s) for s in subnets[:count]]


def vpc_cidr_problem(cidr: str) -> str | None:
    """Why `cidr` cannot be the block of a VPC this project creates, or None."""
    try:
        net = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        return f"{cidr!r} is not an IPv4 network in CIDR notation ({exc})"
    low, high = VPC_PREFIX_RANGE
    if not low <= net.prefixlen <= high:
        return (
            f"{cidr} is a /{net.prefixlen}; use /{low} to /{high} (room for {PUBLIC_SUBNETS} /{SUBNET_PREFIX} subnets)"
        )
    if not any(net.subnet_of(block) for block in _RFC1918):
        return f"{cidr} is not a private range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)"
    return None


_RFC1918 = tuple(ipaddress.IPv4Network(b) for b in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def first_overlap(cidrs: dict[str, str]) -> tuple[str, str] | None:
    """The first pair of keys (in order) whose networks overlap, or None."""
    nets = [(key, ipaddress.IPv4Network(c)) for key, c in cidrs.items()]
    for i, (a, net_a) in enumerate(nets):
        for b, net_b in nets[i + 1 :]:
            if net_a.overlaps(net_b):
                return a, b
    return None
