"""Per-tier stacks from one base stack: the tiers, their deploy order, their stack names, and the outputs one
tier hands another.

The same program and the same base stack file (`Pulumi.prod.yaml`) run either as one stack (the default) or
as one stack per tier, selected by `dr:tier` (set by `drctl deploy` on the derived stacks):

- `data`: the global table and its replicas, the control table, and the us-east-1 alarm topic (the one object
  the region tiers' orchestrators must name before the traffic tier exists);
- `<site>` (one per site, e.g. `us-east-2`, `nyc3`, `gra`): the site, its region's SSM projection of the active
  region, its region's notice topic; nothing outside its region;
- `<site>-automation`: the orchestrator in that site's AWS region (with streams replication, the alarms of the
  replicators reading that region's stream too); nothing outside that region;
- `traffic`: Route 53 health checks and failover records, their us-east-1 alarms, the alarm topic's
  subscriptions of every orchestrator, and the stack's dashboard (`components.dashboard`).

Tiers read each other through `pulumi.StackReference` with fully qualified names
(`<organization>/<project>/<base>-<tier>`). The keys one tier exports and another requires are the fields of the
`*TierOutputs` dataclasses below, used by both sides; they are never spelled twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Self, TypeVar

from pydantic.alias_generators import to_camel

from components.config_base import Scheme

DATA = "data"
TRAFFIC = "traffic"
AUTOMATION_SUFFIX = "-automation"
TierKind = Literal["data", "site", "automation", "traffic"]
SINGLE = "single"
"""What `tier_kind` answers for a stack that is not a tier (the whole deployment in one stack)."""
TIER_TAG = "dr:tier"
"""The stack tag `drctl deploy` sets on a tier's stack; the policy pack reads it (stack rules per tier)."""
BASE_STACK_TAG = "dr:baseStack"
WAVES: dict[str, int] = {"data": 0, "site": 1, "automation": 2, "traffic": 3}
"""Deploy order: tiers of one wave never read each other, so they may deploy in parallel."""
_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ORGANIZATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class SitePlacement:
    """Where a site runs and how the public reaches it, from config alone (the traffic tier and the
    orchestrators need these as plain values, before any site output is known)."""

    name: str
    """The site's name: its tier's name and its plane resources' (`us-east-2`, `nyc3`, `gra`)."""
    location: str
    """Where it runs, in its provider's words (AWS region, DigitalOcean slug, OVHcloud region)."""
    data_region: str
    """The AWS region of its data, SSM projection, notice topic and orchestrator."""
    scheme: Scheme
    port: int
    alias: bool
    """True: an alias target (an ALB); False: an IPv4 address (a DigitalOcean load balancer, an HAProxy)."""
    key: str
    """The config key naming the site, for error messages (`dr:regions.secondaries[0]`, `dr:sites[1].name`)."""


@dataclass(frozen=True)
class Tier:
    name: str
    kind: TierKind
    wave: int
    region: str | None
    """The one AWS region a site or automation tier declares resources in (None for data and traffic)."""
    site: str | None = None
    location: str | None = None
    requires: tuple[str, ...] = ()
    """Tiers whose outputs this one reads (each must be deployed first)."""

    def own_region(self) -> str:
        """The region of a site or automation tier; a ValueError for the data and traffic tiers (several)."""
        if self.region is None:
            raise ValueError(f"the {self.kind} tier {self.name!r} spans several regions")
        return self.region


class TierPlanError(ValueError):
    """A site name that cannot name a tier; `key` is the config key path naming it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def automation_tier(site: str) -> str:
    return f"{site}{AUTOMATION_SUFFIX}"


def tier_kind(tier: str | None) -> str:
    """`data`, `traffic`, `automation`, `site`, or `single` (no tier: one stack for the whole deployment)."""
    if not tier:
        return SINGLE
    if tier in (DATA, TRAFFIC):
        return tier
    return "automation" if tier.endswith(AUTOMATION_SUFFIX) else "site"


def plan_tiers(placements: list[SitePlacement]) -> list[Tier]:
    """Every tier of a deployment in deploy order (wave by wave; sites in failover priority)."""
    for p in placements:
        if p.name in (DATA, TRAFFIC) or p.name.endswith(AUTOMATION_SUFFIX):
            raise TierPlanError(
                p.key,
                f"{p.name!r} cannot name a site: it would name a tier of another kind "
                f"({DATA}, {TRAFFIC}, *{AUTOMATION_SUFFIX})",
            )
    sites = tuple(p.name for p in placements)
    automations = tuple(automation_tier(s) for s in sites)
    return [
        Tier(DATA, "data", WAVES["data"], None),
        *(Tier(p.name, "site", WAVES["site"], p.data_region, p.name, p.location, (DATA,)) for p in placements),
        *(
            Tier(
                automation_tier(p.name),
                "automation",
                WAVES["automation"],
                p.data_region,
                p.name,
                p.location,
                (DATA, *sites),
            )
            for p in placements
        ),
        Tier(TRAFFIC, "traffic", WAVES["traffic"], None, requires=(DATA, *sites, *automations)),
    ]


def tier_stack_name(base: str, tier: str) -> str:
    """`prod` + `us-east-2` -> `prod-us-east-2`."""
    return f"{base}-{tier}"


def qualified_stack_name(organization: str, project: str, base: str, tier: str) -> str:
    """The fully qualified name a StackReference (and `pulumi --stack`) takes: `<org>/<project>/<base>-<tier>`."""
    return f"{organization}/{project}/{tier_stack_name(base, tier)}"


def check_stack_name(value: str) -> str:
    if not _STACK_NAME.match(value):
        raise ValueError(f"{value!r} is not a stack name (letters, digits, '-', '_', '.')")
    return value


def check_organization(value: str) -> str:
    if not value.strip():
        raise ValueError(
            "is empty: name the Pulumi organization of the tier stacks (`organization` on a "
            "self-managed backend), or remove the key"
        )
    if not _ORGANIZATION.match(value):
        raise ValueError(f"{value!r} is not a Pulumi organization name (use `organization` on a self-managed backend)")
    return value


# -- the outputs one tier hands another ---------------------------------------------------------------------
T = TypeVar("T", bound="TierOutputs")


@dataclass(frozen=True)
class TierOutputs:
    """Base of the tier contracts: each field is one stack output, keyed by its camelCase name."""

    @classmethod
    def output_names(cls) -> list[str]:
        return [to_camel(f.name) for f in fields(cls)]

    def as_outputs(self) -> dict[str, Any]:
        """The stack outputs the exporting tier declares (`pulumi.export` each)."""
        return {to_camel(f.name): getattr(self, f.name) for f in fields(self)}

    @classmethod
    def read(cls, reference) -> Self:
        """The requiring side: every field from a `pulumi.StackReference` (a missing output fails the preview).

        A StackReference hands every number back as a float; the tiers exchange only whole numbers (counts,
        ports), restored here so that what a tier writes from them matches what one stack writes."""
        return cls(**{f.name: reference.require_output(to_camel(f.name)).apply(whole_numbers) for f in fields(cls)})


@dataclass(frozen=True)
class DataTierOutputs(TierOutputs):
    account_id: Any
    table_name: Any
    table_arns: Any
    """AWS region -> the data table's ARN there."""
    control_table_name: Any
    alarm_topic_arn: Any
    """The us-east-1 topic the health alarms publish to and the orchestrators subscribe to."""
    failure_queue_names: Any
    """Streams replication: direction key -> the replicator's failure queue (the alarms and the dashboard name it);
    empty for a global table."""


@dataclass(frozen=True)
class SiteTierOutputs(TierOutputs):
    endpoint: Any
    """`endpoint_output(...)` of the site's public endpoint."""
    scale_target: Any
    orchestrator_statements: Any
    topic_arn: Any
    """The site region's notice topic."""
    topic_key_arn: Any
    site_outputs: Any = field(default_factory=dict)
    """The site kind's own outputs (load balancer, cluster id, HAProxy address, ...)."""


@dataclass(frozen=True)
class AutomationTierOutputs(TierOutputs):
    function_arn: Any


@dataclass(frozen=True)
class TrafficTierOutputs(TierOutputs):
    url: Any
    health_check_ids: Any
    health_alarm_names: Any
    dashboard_name: Any


def whole_numbers(value: Any) -> Any:
    """`value` with every float that is a whole number as an int (recursively; bools untouched)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value


def endpoint_output(endpoint) -> dict[str, Any]:
    """A `components.site.SiteEndpoint`'s address as one stack output (`endpoint_from_output` reads it)."""
    if endpoint.is_alias:
        out = {"dnsName": endpoint.alias_dns_name, "zoneId": endpoint.alias_zone_id}
        if endpoint.accelerator_endpoint_id is not None:  # dr:traffic.mode accelerator; the traffic tier reads it
            out["acceleratorEndpoint"] = endpoint.accelerator_endpoint_id
        return out
    return {"ip": endpoint.ip_address}


def endpoint_from_output(placement: SitePlacement, value):
    """The SiteEndpoint a traffic or automation tier rebuilds from a site tier's `endpoint` output."""
    from components.site import SiteEndpoint

    def part(name: str):
        return value.apply(lambda e: e[name])

    if placement.alias:
        return SiteEndpoint(
            scheme=placement.scheme,
            port=placement.port,
            alias_dns_name=part("dnsName"),
            alias_zone_id=part("zoneId"),
            accelerator_endpoint_id=value.apply(lambda e: e.get("acceleratorEndpoint")),
        )
    return SiteEndpoint(scheme=placement.scheme, port=placement.port, ip_address=part("ip"))


def tier_by_name(plan: list[Tier]) -> Mapping[str, Tier]:
    return {t.name: t for t in plan}
