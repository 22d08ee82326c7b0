"""Rules across the `aws` layout's own keys (regions, app capacity, environment, networks, certificates, DNS);
each raises ConfigError naming the most specific key."""

from __future__ import annotations

import re

from components.config_base import NAMESPACE, ConfigError
from components.naming import dns_name_problem, record_names
from components.sites.ecs.addressing import default_vpc_cidr, first_overlap
from components.sites.ecs.config import FARGATE_MEMORY_MIB, AwsStackConfig

# Set by the stack on every task (the DR client reads them) or by ECS itself; a user value would be
# silently overridden or would silently override.
RESERVED_ENV_PREFIX = "DR_"
RESERVED_ENV_NAMES = frozenset({"AWS_REGION", "AWS_DEFAULT_REGION"})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[A-Za-z0-9-]+$")


def aws_region_checks(cfg: AwsStackConfig) -> None:
    """dr:regions: distinct, primary first (checked before the rules that use the region list)."""
    key = f"{NAMESPACE}:"
    seen = {cfg.regions.primary}
    for i, region in enumerate(cfg.regions.secondaries):
        if region == cfg.regions.primary:
            raise ConfigError(f"{key}regions.secondaries[{i}]", f"{region} is already the primary region")
        if region in seen:
            raise ConfigError(f"{key}regions.secondaries[{i}]", f"{region} is listed twice")
        seen.add(region)


def aws_checks(cfg: AwsStackConfig) -> None:
    """Rules of the aws layout's own keys (app capacity, networks, certificates, DNS)."""
    key = f"{NAMESPACE}:"
    regions = cfg.regions.all
    if cfg.app.standby_desired_count > cfg.app.desired_count:
        raise ConfigError(
            f"{key}app.standbyDesiredCount",
            f"{cfg.app.standby_desired_count} is more than app.desiredCount ({cfg.app.desired_count})",
        )
    offered = FARGATE_MEMORY_MIB[cfg.app.cpu]
    if cfg.app.memory not in offered:
        raise ConfigError(
            f"{key}app.memory",
            f"Fargate does not offer {cfg.app.memory} MiB with cpu {cfg.app.cpu}; it offers {_sizes_text(offered)} MiB",
        )
    if (
        cfg.app.standby == "hot"
        and "standby_desired_count" in cfg.app.model_fields_set
        and cfg.app.standby_desired_count != cfg.app.desired_count
    ):
        raise ConfigError(
            f"{key}app.standbyDesiredCount",
            "a hot standby runs app.desiredCount everywhere; remove standbyDesiredCount or use standby: warm",
        )
    _check_environment(cfg)
    _check_network(cfg, regions)
    _check_dns(cfg, regions)
    if cfg.dns.ttl is not None:
        raise ConfigError(
            f"{key}dns.ttl",
            "the aws layout's records alias the ALBs, which Route 53 answers with a fixed 60 s TTL; remove dns.ttl",
        )


def _sizes_text(sizes: tuple[int, ...]) -> str:
    if len(sizes) <= 4:
        return ", ".join(map(str, sizes))
    return f"{sizes[0]} to {sizes[-1]} in steps of {sizes[1] - sizes[0]}"


def _check_environment(cfg: AwsStackConfig) -> None:
    """User variables and secret names: valid, not the stack's own, and each set once."""
    key = f"{NAMESPACE}:"
    for section, names in (("app.environment", list(cfg.app.environment)), ("appSecrets", list(cfg.app_secrets))):
        for name in names:
            where = f"{key}{section}.{name}"
            if not _ENV_NAME.match(name):
                raise ConfigError(where, "is not an environment variable name (letters, digits, _)")
            if name.startswith(RESERVED_ENV_PREFIX) or name in RESERVED_ENV_NAMES:
                raise ConfigError(
                    where,
                    f"is set by the stack or by ECS on every task ({RESERVED_ENV_PREFIX}*, "
                    f"{', '.join(sorted(RESERVED_ENV_NAMES))}): choose another name",
                )
    both = sorted(set(cfg.app.environment) & set(cfg.app_secrets))
    if both:
        raise ConfigError(f"{key}app.environment.{both[0]}", "is also in dr:appSecrets: set it in one place only")


def _check_network(cfg: AwsStackConfig, regions: list[str]) -> None:
    key = f"{NAMESPACE}:"
    for region, net in cfg.network.items():
        where = f"{key}network.{region}"
        if region not in regions:
            raise ConfigError(where, f"{region} is not one of the stack's regions")
        if net.vpc_id and len(net.subnet_ids) < 2:
            raise ConfigError(f"{where}.subnetIds", "an existing VPC needs at least two subnets")
        if net.subnet_ids and not net.vpc_id:
            raise ConfigError(f"{where}.vpcId", "subnetIds need the vpcId they belong to")
        if net.vpc_id and net.cidr:
            raise ConfigError(f"{where}.cidr", "give either vpcId or cidr, not both")
        for i, subnet in enumerate(net.subnet_ids):
            if subnet in net.subnet_ids[:i]:
                raise ConfigError(f"{where}.subnetIds[{i}]", f"{subnet} is listed twice")
    created = {}
    for i, region in enumerate(regions):  # the blocks of the VPCs the stack creates, as the layout assigns them
        given = cfg.network.get(region)
        if given is None or not given.vpc_id:
            created[region] = given.cidr if given is not None and given.cidr else default_vpc_cidr(i)
    overlap = first_overlap(created)
    if overlap:
        a, b = overlap
        configured = b if b in cfg.network else a
        raise ConfigError(
            f"{key}network.{configured}.cidr",
            f"{created[b]} ({b}) overlaps {created[a]} ({a}); regions need distinct blocks to be peered",
        )


def _check_dns(cfg: AwsStackConfig, regions: list[str]) -> None:
    key = f"{NAMESPACE}:"
    for name in record_names(cfg.dns.record_name, regions):
        problem = dns_name_problem(name)
        if problem:
            raise ConfigError(f"{key}dns.recordName", f"the stack derives {problem}")
    certs = cfg.dns.certificate_arns
    for region, arn in certs.items():
        where = f"{key}dns.certificateArns.{region}"
        if region not in regions:
            raise ConfigError(where, f"{region} is not one of the stack's regions")
        m = _CERT_ARN.match(arn)
        if not m:
            raise ConfigError(where, "is not an ACM certificate ARN")
        if m.group(1) != region:
            raise ConfigError(where, f"the certificate is in {m.group(1)}, the ALB in {region}")
    missing = [r for r in regions if r not in certs]
    if certs and missing:
        raise ConfigError(
            f"{key}dns.certificateArns.{missing[0]}",
            f"required key is missing: other regions serve HTTPS, and after a failover HTTPS clients would reach "
            f"{missing[0]}'s load balancer with no 443 listener; give a certificate for every region or none",
        )
