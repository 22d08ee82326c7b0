"""The keys of the shared DR plane (table, DNS, objectives, health checks, failover, notifications, tiers), which
every layout's model extends with its sites' keys, and the rules across them.

This module knows no kind of site: each site kind (`components.sites.*`) defines its layout's model on top of
`CommonConfig` and describes it with a `LayoutKeys`; the registry of layouts (`components.layouts`) lists them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import AfterValidator, Field, field_validator

from components.config_base import NAMESPACE, ConfigError, ConfigModel, check_http_path, check_region
from components.control import control_placement, cross_set_reason
from components.tiers import check_organization, check_stack_name

# Multi-Region strong consistency (MRSC) is offered only inside these region sets, with exactly
# three regions (or two replicas plus a witness, which this project does not declare).
MRSC_REGION_SETS: tuple[frozenset[str], ...] = (
    frozenset({"us-east-1", "us-east-2", "us-west-2"}),
    frozenset({"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"}),
    frozenset({"ap-northeast-1", "ap-northeast-2", "ap-northeast-3"}),
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FQDN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$")


class RegionsConfig(ConfigModel):
    primary: str
    secondaries: list[Annotated[str, AfterValidator(lambda v: check_region(v))]] = Field(min_length=1, max_length=5)
    """Each checked on its own, so a mistake names its index (`dr:regions.secondaries[1]`)."""

    _primary = field_validator("primary")(classmethod(lambda cls, v: check_region(v)))

    @property
    def all(self) -> list[str]:
        """Primary first, then the secondaries in failover priority order."""
        return [self.primary, *self.secondaries]


class TableConfig(ConfigModel):
    name: str
    hash_key: str = Field(min_length=1)
    range_key: str | None = None
    attributes: dict[str, Literal["S", "N", "B"]] = Field(min_length=1)
    consistency: Literal["eventual", "strong"] = "eventual"
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST"
    read_capacity: int | None = Field(None, ge=1)
    write_capacity: int | None = Field(None, ge=1)
    stream_view_type: Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"] = "NEW_AND_OLD_IMAGES"
    replication: Literal["global", "streams"] = Field(
        "global",
        description="global: a DynamoDB global table; streams: a table per region and a Streams -> Lambda "
        "replicator per direction (last writer wins by the version the client writes).",
    )
    conflict_retention_days: int = Field(
        14,
        ge=1,
        le=365,
        description="streams: how long each replicator's conflicts table keeps a record of an acknowledged write "
        "that lost to a concurrent one (DynamoDB TTL); listed by `drctl conflicts`.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.-]{3,255}$", v):
            raise ValueError(f"{v!r} is not a valid DynamoDB table name")
        return v


class DnsConfig(ConfigModel):
    zone_id: str = Field(pattern=r"^Z[A-Z0-9]{4,32}$")
    record_name: str
    ttl: int | None = Field(
        None,
        ge=1,
        le=86400,
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


class HealthCheckConfig(ConfigModel):
    interval: Literal[10, 30] = 10
    failure_threshold: int = Field(3, ge=1, le=10)
    path: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        return None if v is None else check_http_path(v)


class FailoverConfig(ConfigModel):
    mode: Literal["automatic", "manual"] = "automatic"
    failback: Literal["manual", "automatic"] = "manual"
    probe_interval_seconds: int = Field(10, ge=5, le=60, description="The monitor probes every region this often.")
    probe_timeout_seconds: float = Field(3.0, ge=0.5, le=30, description="A probe fails after this long.")
    failure_threshold: int = Field(3, ge=1, le=10)
    recovery_threshold: int = Field(5, ge=1, le=60)
    min_dwell_seconds: int = Field(300, ge=0, le=86400)
    alarm_evaluation_periods: int = Field(1, ge=1, le=5)
    client_cache_seconds: int = Field(5, ge=0, le=300)
    reserved_concurrency: int | None = Field(
        None,
        ge=3,
        le=50,
        description="Orchestrator reserved concurrency; unset (the default) reserves none. At "
        "least 3: a monitor invocation runs longer than its one-minute schedule, an alarm or an operator may come "
        "on top, and a throttled invocation is a lost round (or a lost alarm).",
    )


# Global Accelerator tries the three endpoint groups (regions) nearest a client for a healthy endpoint, then fails
# open to a random endpoint of the nearest one: with at most this many regions the active one is always among them.
ACCELERATOR_MAX_REGIONS = 3


class TrafficConfig(ConfigModel):
    mode: Literal["dns", "accelerator"] = Field(
        "dns",
        description="dns: Route 53 health checks and a PRIMARY/SECONDARY failover record chain (clients wait for "
        "the record's TTL); accelerator (aws layout only): an AWS Global Accelerator whose anycast addresses send "
        "clients to the primary (traffic dial 100, the others 0) and, when its `<health path>/accelerator` fails, "
        "to the successor whose check passes (no DNS TTL, no API call in the failover path), and "
        "dns.recordName an alias to it. Extra cost: Global Accelerator's hourly fee and data-transfer premium.",
    )


class NotificationsConfig(ConfigModel):
    emails: list[str] = Field(default_factory=list)

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for e in v:
            if not _EMAIL.match(e):
                raise ValueError(f"{e!r} is not an email address")
        return v


class ObjectivesConfig(ConfigModel):
    rto_seconds: int = Field(ge=1, le=86400)
    rpo_seconds: int = Field(ge=0, le=86400)


class DrillConfig(ConfigModel):
    fis: bool = Field(
        False,
        description="Declare AWS FIS experiment templates in every region for `drctl drill --live` (the aws "
        "layout only): cut the site's subnets off, pause the data table's replication (global tables), stop the "
        "site's tasks; each stopping on the region's guard alarm (the orchestrator's errors there), with a bounded "
        "duration and a least-privilege role of its own.",
    )
    duration_minutes: int = Field(
        5, ge=1, le=30, description="How long the connectivity and replication faults last at most (minutes)."
    )


class AppKeys(Protocol):
    """What every layout's `app` has, whatever else its kind of site adds."""

    @property
    def name(self) -> str: ...

    @property
    def health_path(self) -> str: ...


class CommonConfig(ConfigModel):
    """The keys every layout shares (the DR plane's). Each layout's model adds its sites' keys, narrows `layout`
    to its name, and provides `app` (with `name` and `health_path`), `regions`, `scale_kind` and `dns_ttl`."""

    layout: str
    table: TableConfig
    dns: DnsConfig
    objectives: ObjectivesConfig
    health_check: HealthCheckConfig = HealthCheckConfig()
    failover: FailoverConfig = FailoverConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    drill: DrillConfig = DrillConfig()
    traffic: TrafficConfig = TrafficConfig()
    protect: bool = Field(True, description="Pulumi-protect the data tables (keep true in production).")
    production: bool = Field(
        True, description="A production stack: the policy pack then requires protected tables. Say false for others."
    )
    organization: str | None = Field(
        None,
        description="Pulumi organization of the tier stacks (`organization` on a self-managed backend); "
        "names their StackReferences. Needed only for per-tier stacks.",
    )
    tier: str | None = Field(
        None,
        description="Set by `drctl deploy` on a tier's stack (data, <site>, <site>-automation, traffic); "
        "absent: the whole deployment in one stack.",
    )
    base_stack: str | None = Field(
        None, description="Set by `drctl deploy` with dr:tier: the base stack, which names every physical resource."
    )

    fis_drills: ClassVar[bool] = False
    """Whether AWS FIS can act on this layout's sites (`dr:drill.fis`): only when they run on AWS."""
    accelerator_problem: ClassVar[str | None] = (
        "Global Accelerator endpoints must be AWS resources (an ALB, an NLB, an EC2 instance or an Elastic IP) "
        "and this layout's sites are not; keep dns"
    )
    """Why this layout cannot use `dr:traffic.mode: accelerator` (None when it can): each site kind says."""

    _organization = field_validator("organization")(
        classmethod(lambda cls, v: v if v is None else check_organization(v))
    )
    _base_stack = field_validator("base_stack")(classmethod(lambda cls, v: v and check_stack_name(v)))

    if TYPE_CHECKING:  # what each layout's model provides (a field or a property), declared for the type checker

        @property
        def app(self) -> AppKeys: ...

        @property
        def regions(self) -> RegionsConfig: ...

        @property
        def scale_kind(self) -> str: ...

    @property
    def health_path(self) -> str:
        """Where the application says this region can serve (load balancers, probes, the monitor)."""
        return self.app.health_path

    @property
    def route_health_path(self) -> str:
        """What Route 53 checks: the health path plus "traffic follows writes" (see failover.health)."""
        return self.health_check.path or self.app.health_path.rstrip("/") + "/route"

    @property
    def accelerator_health_path(self) -> str:
        """What the accelerator's entries check: 200 in the active region and, while the primary is active, in its
        successor (see failover.health.accelerator_route)."""
        return self.app.health_path.rstrip("/") + "/accelerator"

    @property
    def dns_ttl(self) -> int:
        return self.dns.ttl or 60


def no_checks(cfg: CommonConfig) -> None:
    return None


LayoutConfig = TypeVar("LayoutConfig", bound=CommonConfig)


@dataclass(frozen=True)
class LayoutKeys(Generic[LayoutConfig]):
    """How a site kind validates its layout: the model (CommonConfig plus its sites' keys, `layout` narrowed to
    its name) and the rules across its own keys, run before the plane's (`own_checks`: a layout names its own
    keys, dr:sites[1].awsRegion rather than dr:regions...) or after them (`late_checks`)."""

    model: type[LayoutConfig]
    own_checks: Callable[[LayoutConfig], None] = no_checks
    late_checks: Callable[[LayoutConfig], None] = no_checks


def is_valid_mrsc_set(regions: list[str]) -> bool:
    """Exactly three distinct regions, all inside one MRSC region set."""
    return len(regions) == 3 and len(set(regions)) == 3 and any(set(regions) <= s for s in MRSC_REGION_SETS)


def mrsc_sets_text() -> str:
    return "; ".join("/".join(sorted(s)) for s in MRSC_REGION_SETS)


def plane_checks(cfg: CommonConfig) -> None:
    """Rules spanning several of the plane's keys; each raises ConfigError naming the most specific key."""
    _table_checks(cfg)
    key = f"{NAMESPACE}:"
    regions = cfg.regions.all
    t = cfg.table
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
            raise ConfigError(
                f"{key}table.replication",
                "streams replication is eventual by nature; strong "
                "consistency needs a global table (replication: global)",
            )
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
    if cfg.drill.fis and not cfg.fis_drills:
        raise ConfigError(
            f"{key}drill.fis",
            f"AWS FIS cannot act on the {cfg.layout} layout's sites (they do not run on AWS); "
            "live drills need the aws layout (docs/drill.md, \"Live drills in your account\")",
        )
    if cfg.failover.mode == "automatic" and not control_placement(regions).strong:
        raise ConfigError(f"{key}failover.mode", cross_set_reason(regions))
    _tier_checks(cfg)
    _traffic_checks(cfg)


def _traffic_checks(cfg: CommonConfig) -> None:
    """dr:traffic.mode accelerator: a site kind whose endpoints Global Accelerator can take, and few enough regions
    that Global Accelerator always finds the active one."""
    if cfg.traffic.mode != "accelerator":
        return
    key = f"{NAMESPACE}:traffic.mode"
    if cfg.accelerator_problem is not None:
        raise ConfigError(key, f"accelerator is not available with layout {cfg.layout}: {cfg.accelerator_problem}")
    regions = cfg.regions.all
    if len(regions) > ACCELERATOR_MAX_REGIONS:
        raise ConfigError(
            key,
            f"accelerator supports at most {ACCELERATOR_MAX_REGIONS} regions (got {len(regions)}): Global "
            "Accelerator looks for a healthy endpoint in the three regions nearest a client, then fails open to the "
            "nearest one, so with more regions traffic could miss the region that takes writes; keep dns",
        )


def _table_checks(cfg: CommonConfig) -> None:
    """The table's keys and capacity: declared attributes only, capacity only with PROVISIONED billing."""
    key = f"{NAMESPACE}:"
    t = cfg.table
    if t.hash_key not in t.attributes:
        raise ConfigError(f"{key}table.hashKey", f"{t.hash_key!r} is not declared in table.attributes")
    if t.range_key and t.range_key not in t.attributes:
        raise ConfigError(f"{key}table.rangeKey", f"{t.range_key!r} is not declared in table.attributes")
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
                raise ConfigError(
                    f"{key}table.{name}",
                    "is ignored with billingMode PAY_PER_REQUEST; remove it or set billingMode PROVISIONED",
                )


def _tier_checks(cfg: CommonConfig) -> None:
    """dr:tier comes with the base stack and organization (drctl deploy sets all three); whether the tier
    exists is checked against the layout's sites when the program builds it."""
    key = f"{NAMESPACE}:"
    if cfg.tier is not None and not cfg.base_stack:
        raise ConfigError(
            f"{key}baseStack",
            "required with dr:tier: the base stack that names the deployment (`drctl deploy` sets it)",
        )
    if cfg.tier is not None and not cfg.organization:
        raise ConfigError(
            f"{key}organization",
            "required with dr:tier: the Pulumi organization of the tier stacks "
            "(`organization` on a self-managed backend)",
        )
    if cfg.base_stack and cfg.tier is None:
        raise ConfigError(f"{key}baseStack", "only a tier's stack has a base stack; set dr:tier too or remove it")
