"""The stack configuration (`dr:` namespace) as one validated, typed model.

Everything the program declares is derived from `StackConfig`; nothing else reads `pulumi.Config`.
Validation happens before any resource is declared, and a mistake is reported as one line that
names the key path (`dr:regions.secondaries[0]: ...`), never as a traceback.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping, Optional
from urllib.parse import urlsplit

from docker_image.reference import InvalidReference, Reference
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from components.addressing import default_vpc_cidr, first_overlap, vpc_cidr_problem
from components.control import control_placement, cross_set_reason
from components.naming import dns_name_problem, record_names
from components.powertools import layer_region_problem
from components.tiers import check_organization, check_stack_name

NAMESPACE = "dr"

# Multi-Region strong consistency (MRSC) is offered only inside these region sets, with exactly
# three regions (or two replicas plus a witness, which this project does not declare).
MRSC_REGION_SETS: tuple[frozenset[str], ...] = (
    frozenset({"us-east-1", "us-east-2", "us-west-2"}),
    frozenset({"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"}),
    frozenset({"ap-northeast-1", "ap-northeast-2", "ap-northeast-3"}),
)
LAYOUTS = ("aws", "digitalocean", "ovh-hybrid")

COMMERCIAL_PARTITION = "aws"
# What every region of a stack must offer: the services the aws layout declares there.
REGION_SERVICES = ("dynamodb", "ecs", "elbv2", "lambda", "ssm", "sns", "kms", "logs", "events", "secretsmanager")
# Fargate (Linux) task sizes: CPU units -> the memory sizes (MiB) offered with them.
FARGATE_MEMORY_MIB: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
# Set by the stack on every task (the DR client reads them) or by ECS itself; a user value would be
# silently overridden or would silently override.
RESERVED_ENV_PREFIX = "DR_"
RESERVED_ENV_NAMES = frozenset({"AWS_REGION", "AWS_DEFAULT_REGION"})
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ROUTE53_RESOURCE_PATH_MAX = 255
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FQDN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$")
_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[A-Za-z0-9-]+$")


class ConfigError(Exception):
    """A user mistake in the stack config: `key` is the full path, `message` says what is wrong."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class _Model(BaseModel):
    """camelCase keys in the stack file, snake_case in Python; unknown keys are mistakes."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True,
        # No coercion: YAML `true` is not 1, "8080" is not 8080, 1 is not true.
        strict=True,
    )


@lru_cache(maxsize=None)
def partition_regions() -> dict[str, frozenset[str]]:
    """Partition name -> its regions, from botocore's endpoint data (kept current by AWS's SDK releases)."""
    import botocore.session

    session = botocore.session.get_session()
    return {p: frozenset(session.get_available_regions("ec2", partition_name=p))
            for p in session.get_available_partitions()}


@lru_cache(maxsize=None)
def commercial_regions() -> frozenset[str]:
    """Regions of the commercial partition where every service the layout declares is offered."""
    import botocore.session

    session = botocore.session.get_session()
    regions = set(partition_regions()[COMMERCIAL_PARTITION])
    for service in REGION_SERVICES:
        regions &= set(session.get_available_regions(service, partition_name=COMMERCIAL_PARTITION))
    return frozenset(regions)


def _check_region(value: str) -> str:
    if value in commercial_regions():
        problem = layer_region_problem(value)
        if problem:
            raise ValueError(problem)
        return value
    for partition, regions in partition_regions().items():
        if value in regions:
            if partition == COMMERCIAL_PARTITION:
                raise ValueError(f"{value} lacks a service the stack declares ({', '.join(REGION_SERVICES)})")
            raise ValueError(
                f"{value} is in the {partition} partition; this project's ARNs and its Powertools layer "
                f"support only the commercial partition ({COMMERCIAL_PARTITION})"
            )
    close = difflib.get_close_matches(value, sorted(commercial_regions()), n=1)
    hint = f"; did you mean {close[0]}?" if close else " (like us-east-1)"
    raise ValueError(f"{value!r} is not an AWS region of the commercial partition{hint}")


def _check_http_path(value: str) -> str:
    """An absolute URL path (optionally with a query) that Route 53 and the ALB accept."""
    parts = urlsplit(value)
    if (not value.startswith("/") or value.startswith("//") or parts.scheme or parts.netloc or parts.fragment
            or any(c.isspace() or not c.isprintable() for c in value)):
        raise ValueError(f"{value!r} must be an absolute URL path like /health")
    if len(value) > ROUTE53_RESOURCE_PATH_MAX:
        raise ValueError(f"is {len(value)} characters; Route 53 health checks take at most {ROUTE53_RESOURCE_PATH_MAX}")
    return value


class AppConfig(_Model):
    """The containerised application deployed identically in every region."""

    name: str = Field(description="Short name; prefixes every resource and the SSM parameter.")
    image: str = Field(min_length=1, description="Container image reference (registry/repository:tag or @digest).")
    port: int = Field(8080, ge=1, le=65535, description="Port the container listens on.")
    health_path: str = Field("/health", description="HTTP path answering 200 when healthy.")
    cpu: Literal[256, 512, 1024, 2048, 4096, 8192, 16384] = Field(512, description="Fargate CPU units.")
    memory: int = Field(1024, description="Task memory in MiB; one of the sizes Fargate offers with `cpu`.")
    desired_count: int = Field(2, ge=1, le=1000, description="Tasks in the active region.")
    standby_desired_count: int = Field(
        1, ge=1, le=1000, description="Tasks kept warm in each standby region."
    )
    environment: dict[str, str] = Field(
        default_factory=dict, description="Plain (non-secret) container environment."
    )
    standby: Literal["warm", "hot"] = Field(
        "warm",
        description="warm: standbys run standbyDesiredCount and are scaled up on failover (the traffic budget "
        "adds the scale-up); hot: every region runs desiredCount.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"{v!r} must be 3-32 lower-case letters, digits or hyphens, starting with a letter"
            )
        return v

    _path = field_validator("health_path")(classmethod(lambda cls, v: _check_http_path(v)))

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        try:
            Reference.parse(v)
        except InvalidReference as exc:
            raise ValueError(f"{v!r} is not a container image reference ({exc})") from None
        return v


class RegionsConfig(_Model):
    primary: str
    secondaries: list[Annotated[str, AfterValidator(lambda v: _check_region(v))]] = Field(min_length=1, max_length=5)
    """Each checked on its own, so a mistake names its index (`dr:regions.secondaries[1]`)."""

    _primary = field_validator("primary")(classmethod(lambda cls, v: _check_region(v)))

    @property
    def all(self) -> list[str]:
        """Primary first, then the secondaries in failover priority order."""
        return [self.primary, *self.secondaries]


class TableConfig(_Model):
    name: str
    hash_key: str = Field(min_length=1)
    range_key: Optional[str] = None
    attributes: dict[str, Literal["S", "N", "B"]] = Field(min_length=1)
    consistency: Literal["eventual", "strong"] = "eventual"
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST"
    read_capacity: Optional[int] = Field(None, ge=1)
    write_capacity: Optional[int] = Field(None, ge=1)
    stream_view_type: Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"] = (
        "NEW_AND_OLD_IMAGES"
    )
    replication: Literal["global", "streams"] = Field(
        "global",
        description="global: a DynamoDB global table; streams: a table per region and a Streams -> Lambda "
        "replicator per direction (last writer wins by the version the client writes).",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.-]{3,255}$", v):
            raise ValueError(f"{v!r} is not a valid DynamoDB table name")
        return v


class RegionNetworkConfig(_Model):
    """Either an existing VPC (vpcId + at least two subnetIds) or a CIDR for a new VPC."""

    vpc_id: Optional[str] = Field(None, pattern=r"^vpc-[0-9a-f]{8,17}$")
    subnet_ids: list[str] = Field(default_factory=list)
    cidr: Optional[str] = Field(None, description="Private IPv4 block, /16 to /19, for a VPC the stack creates.")

    @field_validator("subnet_ids")
    @classmethod
    def _subnets(cls, v: list[str]) -> list[str]:
        for s in v:
            if not re.match(r"^subnet-[0-9a-f]{8,17}$", s):
                raise ValueError(f"{s!r} is not a subnet id (subnet-...)")
        return v

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: Optional[str]) -> Optional[str]:
        problem = vpc_cidr_problem(v) if v is not None else None
        if problem:
            raise ValueError(problem)
        return v


class DnsConfig(_Model):
    zone_id: str = Field(pattern=r"^Z[A-Z0-9]{4,32}$")
    record_name: str
    ttl: Optional[int] = Field(
        None, ge=1, le=86400,
        description="TTL of the A records of IP endpoints (digitalocean, ovh-hybrid; default 60). The aws "
        "layout's alias records are answered with the ALB's fixed 60 s.",
    )
    certificate_arns: dict[str, str] = Field(
        default_factory=dict, description="region -> ACM certificate ARN; enables HTTPS there."
    )

    @field_validator("record_name")
    @classmethod
    def _fqdn(cls, v: str) -> str:
        if not _FQDN.match(v):
            raise ValueError(f"{v!r} is not a fully qualified domain name")
        return v.rstrip(".")


class HealthCheckConfig(_Model):
    interval: Literal[10, 30] = 10
    failure_threshold: int = Field(3, ge=1, le=10)
    path: Optional[str] = None

    @field_validator("path")
    @classmethod
    def _path(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else _check_http_path(v)


class FailoverConfig(_Model):
    mode: Literal["automatic", "manual"] = "automatic"
    failback: Literal["manual", "automatic"] = "manual"
    probe_interval_seconds: int = Field(10, ge=5, le=60, description="The monitor probes every region this often.")
    probe_timeout_seconds: float = Field(3.0, ge=0.5, le=30, description="A probe fails after this long.")
    failure_threshold: int = Field(3, ge=1, le=10)
    recovery_threshold: int = Field(5, ge=1, le=60)
    min_dwell_seconds: int = Field(300, ge=0, le=86400)
    alarm_evaluation_periods: int = Field(1, ge=1, le=5)
    client_cache_seconds: int = Field(5, ge=0, le=300)
    reserved_concurrency: Optional[int] = Field(
        None, ge=3, le=50, description="Orchestrator reserved concurrency; unset (the default) reserves none. At "
        "least 3: a monitor invocation runs longer than its one-minute schedule, an alarm or an operator may come "
        "on top, and a throttled invocation is a lost round (or a lost alarm)."
    )


class NotificationsConfig(_Model):
    emails: list[str] = Field(default_factory=list)

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for e in v:
            if not _EMAIL.match(e):
                raise ValueError(f"{e!r} is not an email address")
        return v


class ObjectivesConfig(_Model):
    rto_seconds: int = Field(ge=1, le=86400)
    rpo_seconds: int = Field(ge=0, le=86400)


class CommonConfig(_Model):
    """The keys every layout shares (the DR plane's). Each layout's model adds its sites' keys and
    provides `app` (with `name` and `health_path`), `regions`, `scale_kind` and `dns_ttl`."""

    layout: str
    table: TableConfig
    dns: DnsConfig
    objectives: ObjectivesConfig
    health_check: HealthCheckConfig = HealthCheckConfig()
    failover: FailoverConfig = FailoverConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    protect: bool = Field(True, description="Pulumi-protect the data tables (keep true in production).")
    production: bool = Field(
        True, description="A production stack: the policy pack then requires protected tables. Say false for others."
    )
    organization: Optional[str] = Field(
        None, description="Pulumi organization of the tier stacks (`organization` on a self-managed backend); "
        "names their StackReferences. Needed only for per-tier stacks.")
    tier: Optional[str] = Field(
        None, description="Set by `drctl deploy` on a tier's stack (data, <site>, <site>-automation, traffic); "
        "absent: the whole deployment in one stack.")
    base_stack: Optional[str] = Field(
        None, description="Set by `drctl deploy` with dr:tier: the base stack, which names every physical resource.")

    _organization = field_validator("organization")(
        classmethod(lambda cls, v: v if v is None else check_organization(v)))
    _base_stack = field_validator("base_stack")(classmethod(lambda cls, v: v and check_stack_name(v)))

    @property
    def health_path(self) -> str:
        """Where the application says this region can serve (load balancers, probes, the monitor)."""
        return self.app.health_path

    @property
    def route_health_path(self) -> str:
        """What Route 53 checks: the health path plus "traffic follows writes" (see failover.health)."""
        return self.health_check.path or self.app.health_path.rstrip("/") + "/route"

    @property
    def dns_ttl(self) -> int:
        return self.dns.ttl or 60


class StackConfig(CommonConfig):
    """The `aws` layout: ALB + ECS sites in AWS regions. Cross-key rules live in `_cross_checks`."""

    app: AppConfig
    regions: RegionsConfig
    network: dict[str, RegionNetworkConfig] = Field(default_factory=dict)
    app_secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Container secrets NAME -> value; only via `pulumi config set --secret --path`.",
    )

    @field_validator("app_secrets")
    @classmethod
    def _secret_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not re.match(r"^[A-Z_][A-Z0-9_]*$", name):
                raise ValueError(f"{name!r} is not an environment variable name (A-Z, 0-9, _)")
        return v

    @property
    def scale_kind(self) -> str:
        """How the orchestrator brings a standby to full size: ECS for a warm standby, nothing when hot."""
        return "ecs" if self.app.standby == "warm" else "none"

    @property
    def dns_ttl(self) -> int:
        return 60  # Route 53 answers alias records to an ALB with the ALB's fixed 60 s


def _cross_checks(cfg: StackConfig) -> None:
    """Rules spanning several keys; each raises ConfigError naming the most specific key."""
    key = f"{NAMESPACE}:"
    regions = cfg.regions.all
    t = cfg.table
    if t.hash_key not in t.attributes:
        raise ConfigError(f"{key}table.hashKey", f"{t.hash_key!r} is not declared in table.attributes")
    if t.range_key and t.range_key not in t.attributes:
        raise ConfigError(
            f"{key}table.rangeKey", f"{t.range_key!r} is not declared in table.attributes"
        )
    extra = sorted(set(t.attributes) - {t.hash_key, t.range_key})
    if extra:
        raise ConfigError(
            f"{key}table.attributes.{extra[0]}",
            "only key attributes are declared in DynamoDB (no index uses this one)",
        )
    if t.billing_mode == "PROVISIONED" and not (t.read_capacity and t.write_capacity):
        raise ConfigError(f"{key}table.readCapacity", "PROVISIONED billing needs readCapacity and writeCapacity")
    if t.billing_mode == "PAY_PER_REQUEST":
        for name, value in (("readCapacity", t.read_capacity), ("writeCapacity", t.write_capacity)):
            if value is not None:
                raise ConfigError(f"{key}table.{name}", "is ignored with billingMode PAY_PER_REQUEST; remove it or "
                                                        "set billingMode PROVISIONED")
    if t.consistency == "strong":
        if t.billing_mode != "PAY_PER_REQUEST":
            raise ConfigError(f"{key}table.billingMode", "strong consistency requires PAY_PER_REQUEST")
        if not is_valid_mrsc_set(regions):
            raise ConfigError(
                f"{key}table.consistency",
                f"strong consistency needs exactly three regions from one MRSC set "
                f"({mrsc_sets_text()}); got {', '.join(regions)}",
            )
    if cfg.failover.probe_timeout_seconds * 2 > cfg.failover.probe_interval_seconds:
        raise ConfigError(
            f"{key}failover.probeTimeoutSeconds",
            f"{cfg.failover.probe_timeout_seconds:g} is more than half of failover.probeIntervalSeconds "
            f"({cfg.failover.probe_interval_seconds}); a hung region must cost one timeout per round",
        )
    if t.replication == "streams":
        if t.consistency == "strong":
            raise ConfigError(f"{key}table.replication", "streams replication is eventual by nature; strong "
                                                         "consistency needs a global table (replication: global)")
        if t.stream_view_type != "NEW_AND_OLD_IMAGES":
            raise ConfigError(f"{key}table.streamViewType", "the streams replicator needs NEW_AND_OLD_IMAGES")
    if t.consistency == "eventual" and cfg.objectives.rpo_seconds == 0:
        raise ConfigError(
            f"{key}objectives.rpoSeconds",
            "0 needs table.consistency strong; with eventual consistency every promotion would be refused "
            "(set the replication lag you accept, e.g. 5)",
        )
    if cfg.failover.failback == "automatic" and cfg.failover.mode == "manual":
        raise ConfigError(f"{key}failover.failback", "automatic failback needs failover.mode automatic")
    if cfg.failover.mode == "automatic" and not control_placement(regions).strong:
        raise ConfigError(f"{key}failover.mode", cross_set_reason(regions))
    _tier_checks(cfg)


def _tier_checks(cfg: CommonConfig) -> None:
    """dr:tier comes with the base stack and organization (drctl deploy sets all three); whether the tier
    exists is checked against the layout's sites when the program builds it."""
    key = f"{NAMESPACE}:"
    if cfg.tier is not None and not cfg.base_stack:
        raise ConfigError(f"{key}baseStack", "required with dr:tier: the base stack that names the deployment "
                                             "(`drctl deploy` sets it)")
    if cfg.tier is not None and not cfg.organization:
        raise ConfigError(f"{key}organization", "required with dr:tier: the Pulumi organization of the tier stacks "
                                                "(`organization` on a self-managed backend)")
    if cfg.base_stack and cfg.tier is None:
        raise ConfigError(f"{key}baseStack", "only a tier's stack has a base stack; set dr:tier too or remove it")


def _aws_region_checks(cfg: StackConfig) -> None:
    """dr:regions: distinct, primary first (checked before the rules that use the region list)."""
    key = f"{NAMESPACE}:"
    seen = {cfg.regions.primary}
    for i, region in enumerate(cfg.regions.secondaries):
        if region == cfg.regions.primary:
            raise ConfigError(
                f"{key}regions.secondaries[{i}]", f"{region} is already the primary region"
            )
        if region in seen:
            raise ConfigError(f"{key}regions.secondaries[{i}]", f"{region} is listed twice")
        seen.add(region)


def _aws_checks(cfg: StackConfig) -> None:
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
    if cfg.app.standby == "hot" and "standby_desired_count" in cfg.app.model_fields_set \
            and cfg.app.standby_desired_count != cfg.app.desired_count:
        raise ConfigError(
            f"{key}app.standbyDesiredCount",
            "a hot standby runs app.desiredCount everywhere; remove standbyDesiredCount or use standby: warm",
        )
    _check_environment(cfg)
    _check_network(cfg, regions)
    _check_dns(cfg, regions)
    if cfg.dns.ttl is not None:
        raise ConfigError(f"{key}dns.ttl", "the aws layout's records alias the ALBs, which Route 53 answers with "
                                           "a fixed 60 s TTL; remove dns.ttl")


def _sizes_text(sizes: tuple[int, ...]) -> str:
    if len(sizes) <= 4:
        return ", ".join(map(str, sizes))
    return f"{sizes[0]} to {sizes[-1]} in steps of {sizes[1] - sizes[0]}"


def _check_environment(cfg: StackConfig) -> None:
    """User variables and secret names: valid, not the stack's own, and each set once."""
    key = f"{NAMESPACE}:"
    for section, names in (("app.environment", list(cfg.app.environment)), ("appSecrets", list(cfg.app_secrets))):
        for name in names:
            where = f"{key}{section}.{name}"
            if not _ENV_NAME.match(name):
                raise ConfigError(where, "is not an environment variable name (letters, digits, _)")
            if name.startswith(RESERVED_ENV_PREFIX) or name in RESERVED_ENV_NAMES:
                raise ConfigError(where, f"is set by the stack or by ECS on every task ({RESERVED_ENV_PREFIX}*, "
                                         f"{', '.join(sorted(RESERVED_ENV_NAMES))}): choose another name")
    both = sorted(set(cfg.app.environment) & set(cfg.app_secrets))
    if both:
        raise ConfigError(f"{key}app.environment.{both[0]}", "is also in dr:appSecrets: set it in one place only")


def _check_network(cfg: StackConfig, regions: list[str]) -> None:
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
        net = cfg.network.get(region)
        if net is None or not net.vpc_id:
            created[region] = net.cidr if net is not None and net.cidr else default_vpc_cidr(i)
    overlap = first_overlap(created)
    if overlap:
        a, b = overlap
        configured = b if b in cfg.network else a
        raise ConfigError(f"{key}network.{configured}.cidr",
                          f"{created[b]} ({b}) overlaps {created[a]} ({a}); regions need distinct blocks to be peered")


def _check_dns(cfg: StackConfig, regions: list[str]) -> None:
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


def is_valid_mrsc_set(regions: list[str]) -> bool:
    """Exactly three distinct regions, all inside one MRSC region set."""
    return len(regions) == 3 and len(set(regions)) == 3 and any(
        set(regions) <= s for s in MRSC_REGION_SETS
    )


def mrsc_sets_text() -> str:
    return "; ".join("/".join(sorted(s)) for s in MRSC_REGION_SETS)


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    path = NAMESPACE + ":"
    first = True
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("" if first else ".") + str(part)
        first = False
    return path


def _friendly(err: Mapping[str, Any]) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    got = err.get("input")
    secret = bool(err["loc"]) and err["loc"][0] in ("appSecrets", "app_secrets")
    if kind not in ("value_error",) and not isinstance(got, (dict, list)) and not secret:
        msg += f" (got {got!r})"
    return msg


SECRET_KEYS = ("appSecrets", "siteSecrets")
PROVIDER_SECRET_KEYS = (
    "digitalocean:token", "digitalocean:spacesSecretKey", "ovh:applicationSecret", "ovh:consumerKey",
    "ovh:clientSecret", "aws:secretKey", "aws:token",
)
"""Provider credentials a stack file may hold only as Pulumi secrets (`pulumi config set --secret KEY`)."""


def _is_secure(v: Any) -> bool:
    return isinstance(v, Mapping) and set(v) == {"secure"}


def _leaves(path: str, value: Any) -> list[tuple[str, bool]]:
    """(key path, secure?) of every leaf of a stack-file value: a `secure:` value, a scalar, a list or an empty
    object."""
    if _is_secure(value):
        return [(path, True)]
    if isinstance(value, Mapping) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(f"{path}.{k}", v)]
    return [(path, False)]


def plain_values_under_secret_keys(stack_file_config: Mapping[Any, Any]) -> list[str]:
    """Key paths (`dr:appSecrets.NAME`, `dr:siteSecrets.gra.sshPrivateKey`, `dr:siteSecrets.rbx`) of plain-text
    values at any depth inside the secret-only keys of a stack file's `config:` mapping, and provider credentials
    (`digitalocean:token`) given in plain text.

    Of the secret-only keys only a mixed object is reported (an all-plain one is refused by `parse_stack_config`):
    the engine marks a whole key secret when any value inside it is `secure:`, so the program alone cannot see a
    plain sibling, or a plain site entry beside a secure one; the stack file can.
    """
    found = []
    for name in SECRET_KEYS:
        value = stack_file_config.get(f"{NAMESPACE}:{name}")
        leaves = _leaves(f"{NAMESPACE}:{name}", value) if isinstance(value, Mapping) else []
        if any(secure for _, secure in leaves):
            found += [path for path, secure in leaves if not secure]
    found += [key for key in PROVIDER_SECRET_KEYS
              if key in stack_file_config and not _is_secure(stack_file_config[key])]
    return found


def secret_command(key: str) -> str:
    """The command that stores `key` (a full key path) as a Pulumi secret."""
    if key in PROVIDER_SECRET_KEYS:
        return f"pulumi config set --secret {key}"
    return f"pulumi config set --secret --path '{key}'"


def parse_stack_config(values: Mapping[str, Any], secret_keys: frozenset[str] = frozenset()) -> StackConfig:
    """Validate raw `dr:` values (key without namespace -> decoded value) into a StackConfig.

    `secret_keys` names the keys the stack file holds as `secure:` values: only SECRET_KEYS may
    be secret, and those must be. Raises ConfigError for the first problem found.
    """
    for name in sorted(set(values) | secret_keys):
        if name in secret_keys and name not in SECRET_KEYS:
            raise ConfigError(
                f"{NAMESPACE}:{name}",
                "holds a secret, but this key is plain configuration that deploys show; "
                f"put secrets in {NAMESPACE}:appSecrets",
            )
        if name in SECRET_KEYS and name in values and name not in secret_keys:
            raise ConfigError(
                f"{NAMESPACE}:{name}",
                f"must be set with `pulumi config set --secret --path '{NAMESPACE}:{name}.NAME'`, not in plain text",
            )
    failover = values.get("failover")
    if isinstance(failover, Mapping) and "monitorIntervalMinutes" in failover:
        raise ConfigError(
            f"{NAMESPACE}:failover.monitorIntervalMinutes",
            "was replaced by failover.probeIntervalSeconds: the monitor now probes every N seconds, every minute",
        )
    layout = values.get("layout")
    if layout not in LAYOUTS:
        shown = "required key is missing" if layout is None else f"{layout!r} is not a layout"
        raise ConfigError(f"{NAMESPACE}:layout", f"{shown}; use one of {', '.join(LAYOUTS)}")
    model, own_keys_checks, late_checks = _layout_model(layout)
    try:
        cfg = model.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(_loc_to_path(first["loc"]), _friendly(first)) from None
    own_keys_checks(cfg)  # first: a layout names its own keys (dr:sites[1].awsRegion, not dr:regions...)
    _cross_checks(cfg)
    late_checks(cfg)
    _tier_plan_checks(cfg)
    return cfg


def _tier_plan_checks(cfg: CommonConfig) -> None:
    """The deployment can be split into tier stacks (`drctl stacks`, `drctl deploy`): no site is named like a
    tier of another kind (data, traffic, <site>-automation), and a tier's stack name is one Pulumi accepts.
    Checked at every preview, so a stack never learns it at its first per-tier deploy."""
    from components.layouts import site_placements
    from components.tiers import TierPlanError, plan_tiers, tier_stack_name

    try:
        tiers = plan_tiers(site_placements(cfg))
    except TierPlanError as exc:
        raise ConfigError(exc.key, str(exc).split(": ", 1)[1]) from None
    if cfg.tier is not None and cfg.base_stack:
        if cfg.tier not in {t.name for t in tiers}:
            raise ConfigError(f"{NAMESPACE}:tier", f"{cfg.tier!r} is not a tier of this deployment; its tiers are "
                                                   f"{', '.join(t.name for t in tiers)}")
        try:
            check_stack_name(tier_stack_name(cfg.base_stack, cfg.tier))
        except ValueError:
            raise ConfigError(f"{NAMESPACE}:baseStack",
                              f"the tier's stack name {tier_stack_name(cfg.base_stack, cfg.tier)!r} is longer than "
                              "the 100 characters Pulumi allows; shorten the base stack's name") from None


def _layout_model(layout: str):
    """(model, checks of its own keys run before the common ones, checks run after them) of a layout; the
    site kinds' models import this module, so they are imported here, when first needed."""
    if layout == "digitalocean":
        from components.sites.doks_config import DigitalOceanStackConfig, digitalocean_stack_checks

        return DigitalOceanStackConfig, digitalocean_stack_checks, _no_checks
    if layout == "ovh-hybrid":
        from components.sites.ovh_config import OvhStackConfig, ovh_stack_checks

        return OvhStackConfig, ovh_stack_checks, _no_checks
    return StackConfig, _aws_region_checks, _aws_checks


def _no_checks(cfg: CommonConfig) -> None:
    return None


def decode_engine_config(
    config: Mapping[str, Any], secret_keys: Iterable[str] = ()
) -> tuple[dict[str, Any], frozenset[str]]:
    """The `dr:` keys of config in the form the engine passes it (objects as JSON strings), as
    (key without namespace -> decoded value, names of the secret keys)."""
    raw: dict[str, Any] = {}
    for full, value in config.items():
        ns, _, name = full.partition(":")
        if ns != NAMESPACE:
            continue
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass  # a plain string value such as dr:layout
        raw[name] = value
    prefix = NAMESPACE + ":"
    return raw, frozenset(k[len(prefix):] for k in secret_keys if k.startswith(prefix))


def plain_secret_message(key: str, file_name: str) -> str:
    """What to say about the plain-text value at `key` (from `plain_values_under_secret_keys`)."""
    if key in PROVIDER_SECRET_KEYS:
        return (f"is a credential in plain text in {file_name}; set it with `{secret_command(key)}` "
                "(or the provider's environment variable)")
    return f"is plain text in {file_name} beside secure values; set it with `{secret_command(key)}`"


class StackFileTextError(ValueError):
    """A stack file that is not UTF-8 text; the message names the file and the byte offset."""


def stack_file_text(path: Path) -> str:
    """The text of a stack file, which the Pulumi CLI reads as UTF-8; StackFileTextError names the first byte
    that is not (its offset and line), instead of a UnicodeDecodeError traceback."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise StackFileTextError(f"{path.name}: not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                                 f"(line {line}); save the file as UTF-8") from None


def check_stack_file(path: Path) -> None:
    """Refuse plain-text values beside `secure:` ones (at any depth) and plain provider credentials in the stack
    file the CLI read (when it is where the CLI keeps it by default); the engine's config alone cannot show them."""
    if not path.is_file():
        return
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        doc = YAML(typ="safe", pure=True).load(stack_file_text(path)) or {}
    except StackFileTextError as exc:
        raise ConfigError(path.name, str(exc).split(": ", 1)[1]) from None
    except YAMLError:
        return  # the CLI, which read the same file, reports its syntax
    config = doc.get("config") if isinstance(doc, dict) else None
    plain = plain_values_under_secret_keys(config) if isinstance(config, dict) else []
    if plain:
        raise ConfigError(plain[0], plain_secret_message(plain[0], path.name))


def load_stack_config() -> StackConfig:
    """Read every `dr:*` key of the running stack and validate it (the only `pulumi.Config` reader)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    check_stack_file(Path.cwd() / f"Pulumi.{pulumi.get_stack()}.yaml")
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    for key in PROVIDER_SECRET_KEYS:
        if key in keys and not runtime_config.is_config_secret(key):
            raise ConfigError(key, f"is a credential in plain text; set it with `{secret_command(key)}` "
                                   "(or the provider's environment variable)")
    config = {k: runtime_config.get_config(k) for k in sorted(keys)}
    raw, secret = decode_engine_config(config, [k for k in keys if runtime_config.is_config_secret(k)])
    return parse_stack_config(raw, secret)
