"""One tier of a deployment (`components.tiers`): the same resources, with the same names and inputs, that the
whole deployment declares in one stack, reading the other tiers' outputs through StackReferences.

Physical names come from `dr:baseStack` (never from the tier's own stack name), so moving resources between one
stack and per-tier stacks is a state move, not a replacement.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from types import ModuleType

import pulumi

from components.budget import budget_inputs_from_config, compute_budget
from components.common_config import CommonConfig
from components.config_base import NAMESPACE, ConfigError
from components.control import control_placement
from components.observability import declare_dashboard, declare_replicator_alarms
from components.orchestrator import Orchestrator, OrchestratorAlarmSubscription
from components.orchestrators import orchestrator_args
from components.plane import (
    DataPlane,
    data_plane_from,
    declare_alarm_topic,
    declare_data_plane,
    declare_notice_topic,
    declare_projection,
    orchestrator_name,
)
from components.providers import ROUTE53_METRICS_REGION, regional_providers
from components.site import Site
from components.tiers import (
    DATA,
    AutomationTierOutputs,
    DataTierOutputs,
    SitePlacement,
    SiteTierOutputs,
    Tier,
    TierPlanError,
    TrafficTierOutputs,
    automation_tier,
    endpoint_from_output,
    endpoint_output,
    plan_tiers,
    qualified_stack_name,
)
from components.traffic_plane import declare_traffic


def select_tier(cfg: CommonConfig, placements: list[SitePlacement]) -> Tier:
    """The tier `dr:tier` names, or a ConfigError naming the key."""
    try:
        plan = plan_tiers(placements)
    except TierPlanError as exc:
        raise ConfigError(exc.key, str(exc)[len(exc.key) + 2 :]) from None
    by_name = {t.name: t for t in plan}
    if cfg.tier not in by_name:
        raise ConfigError(
            f"{NAMESPACE}:tier", f"{cfg.tier!r} is not a tier of this deployment; its tiers are {', '.join(by_name)}"
        )
    return by_name[cfg.tier]


@dataclass
class _Tiers:
    """The deployment seen from one tier: config, sites, and lazily the other tiers' outputs."""

    cfg: CommonConfig
    layout: ModuleType
    placements: list[SitePlacement]

    @property
    def stack(self) -> str:
        return _tier_key(self.cfg.base_stack, "baseStack")

    def reference(self, tier: str) -> pulumi.StackReference:
        organization = _tier_key(self.cfg.organization, "organization")
        name = qualified_stack_name(organization, pulumi.get_project(), self.stack, tier)
        return pulumi.StackReference(name, stack_name=name)

    @cached_property
    def data_outputs(self) -> DataTierOutputs:
        return DataTierOutputs.read(self.reference(DATA))

    @cached_property
    def data(self) -> DataPlane:
        d = self.data_outputs
        return data_plane_from(
            self.cfg,
            self.stack,
            account_id=d.account_id,
            table_name=d.table_name,
            table_arns=d.table_arns,
            control_table_name=d.control_table_name,
            failure_queue_names=d.failure_queue_names,
        )

    @cached_property
    def site_outputs(self) -> dict[str, SiteTierOutputs]:
        """Data region -> the outputs of that site's tier."""
        return {p.data_region: SiteTierOutputs.read(self.reference(p.name)) for p in self.placements}

    @cached_property
    def sites(self) -> dict[str, Site]:
        """Every site as the plane sees it, rebuilt from config and the site tiers' outputs."""
        return {
            p.data_region: Site(
                name=p.name,
                location=p.location,
                data_region=p.data_region,
                endpoint=endpoint_from_output(p, self.site_outputs[p.data_region].endpoint),
                scale_target=self.site_outputs[p.data_region].scale_target,
                orchestrator_statements=self.site_outputs[p.data_region].orchestrator_statements,
            )
            for p in self.placements
        }

    def providers(self, regions: list[str], *, metrics: bool):
        return regional_providers(regions, app=self.cfg.app.name, stack=self.stack, metrics=metrics)


def _tier_key(value: str | None, key: str) -> str:
    """A key `dr:tier` requires (`components.common_config` checks it is there before any tier is built)."""
    if not value:
        raise ConfigError(f"{NAMESPACE}:{key}", "required with dr:tier (`drctl deploy` sets it)")
    return value


def data_tier_regions(cfg: CommonConfig) -> list[str]:
    """The AWS regions the data tier declares resources in (us-east-1's alarm topic aside): a global table is
    declared through the primary's provider (its replicas are arguments of the one table), while the streams
    mode declares a table in every region and each direction's replicator in its source region."""
    regions = cfg.regions.all
    return list(regions) if cfg.table.replication == "streams" else [regions[0]]


def _data_tier(t: _Tiers, tier: Tier) -> dict:
    cfg = t.cfg
    providers = t.providers(data_tier_regions(cfg), metrics=True)  # and us-east-1's (the alarm topic)
    data = declare_data_plane(cfg, t.stack, providers, parameter_regions=[])
    alarm_topic = declare_alarm_topic(cfg, t.stack, providers, data.account_id)
    return DataTierOutputs(
        account_id=data.account_id,
        table_name=data.table_name,
        table_arns=data.table_arns,
        control_table_name=data.control_table_name,
        alarm_topic_arn=alarm_topic.topic.arn,
        failure_queue_names=data.failure_queue_names,
    ).as_outputs()


def _site_tier(t: _Tiers, tier: Tier) -> dict:
    region = tier.own_region()
    providers = t.providers([region], metrics=False)
    topic = declare_notice_topic(t.cfg, t.stack, providers, t.data.account_id, region)
    declared = t.layout.declare_sites(t.cfg, t.stack, providers, t.data, only=region, notices={region: topic})[region]
    declare_projection(t.cfg, t.stack, providers, region)
    site = declared.site
    return SiteTierOutputs(
        endpoint=endpoint_output(site.endpoint),
        scale_target=site.scale_target,
        orchestrator_statements=site.orchestrator_statements,
        topic_arn=topic.topic.arn,
        topic_key_arn=topic.key.arn,
        site_outputs=declared.outputs,
    ).as_outputs()


def _automation_tier(t: _Tiers, tier: Tier) -> dict:
    region = tier.own_region()
    providers = t.providers([region], metrics=False)
    args = orchestrator_args(
        t.cfg,
        t.stack,
        t.data,
        t.sites,
        topic_arns={r: o.topic_arn for r, o in t.site_outputs.items()},
        topic_key_arns={r: o.topic_key_arn for r, o in t.site_outputs.items()},
        alarm_topic_arn=t.data_outputs.alarm_topic_arn,
    )[region]
    # No alarm provider: the subscription is in us-east-1, so the traffic tier declares it.
    orchestrator = Orchestrator(orchestrator_name(t.cfg, region), args, provider=providers[region], alarm_provider=None)
    declare_replicator_alarms(
        t.cfg,
        t.stack,
        providers,
        sources=[region],
        failure_queue_names=t.data.failure_queue_names,
        topic_arns={region: t.site_outputs[region].topic_arn},
    )
    return AutomationTierOutputs(function_arn=orchestrator.function.arn).as_outputs()


def _traffic_tier(t: _Tiers, tier: Tier) -> dict:
    cfg = t.cfg
    regions = cfg.regions.all
    providers = t.providers([regions[0]], metrics=True)  # Route 53 through the primary's provider, alarms in us-east-1
    alarm_topic_arn = t.data_outputs.alarm_topic_arn
    traffic = declare_traffic(cfg, t.stack, providers, t.sites, alarm_topic_arn)  # with the accelerator, if any
    health = traffic.health
    for p in t.placements:
        functions = AutomationTierOutputs.read(t.reference(automation_tier(p.name)))
        OrchestratorAlarmSubscription(
            orchestrator_name(cfg, p.data_region),
            function_arn=functions.function_arn,
            alarm_topic_arn=alarm_topic_arn,
            alarm_provider=providers[ROUTE53_METRICS_REGION],
        )
    _witness_observer(t, alarm_topic_arn)
    sites = t.sites
    health_check_ids = {r: health[s.name].health_check.id for r, s in sites.items()}
    dashboard = declare_dashboard(
        cfg,
        t.stack,
        providers,
        sites=sites,
        health_check_ids=health_check_ids,
        table_name=t.data.table_name,
        failure_queue_names=t.data.failure_queue_names,
    )
    return {
        **TrafficTierOutputs(
            url=f"{sites[regions[0]].endpoint.scheme}://{cfg.dns.record_name}",
            health_check_ids=health_check_ids,
            health_alarm_names={r: health[s.name].alarm_name for r, s in sites.items()},
            dashboard_name=dashboard.dashboard_name,
        ).as_outputs(),
        "budget": compute_budget(budget_inputs_from_config(cfg)).to_json(),
        **traffic.outputs(),
    }


def _witness_observer(t: _Tiers, alarm_topic_arn) -> None:
    """Two regions: the observer in the control table's witness region (a region of no site tier; the traffic
    tier, which spans regions already, holds it)."""
    witness = control_placement(t.cfg.regions.all).witness
    if witness is None:
        return
    args = orchestrator_args(
        t.cfg,
        t.stack,
        t.data,
        t.sites,
        topic_arns={r: o.topic_arn for r, o in t.site_outputs.items()},
        topic_key_arns={r: o.topic_key_arn for r, o in t.site_outputs.items()},
        alarm_topic_arn=alarm_topic_arn,
    )[witness]
    providers = t.providers([witness], metrics=False)
    Orchestrator(orchestrator_name(t.cfg, witness), args, provider=providers[witness], alarm_provider=None)


_BUILDERS = {"data": _data_tier, "site": _site_tier, "automation": _automation_tier, "traffic": _traffic_tier}


def build_tier(cfg: CommonConfig, layout: ModuleType) -> dict:
    """Declare the tier `dr:tier` names; returns its stack outputs (its contract's, plus `tier` and `layout`)."""
    placements = layout.site_placements(cfg)
    tier = select_tier(cfg, placements)
    outputs = _BUILDERS[tier.kind](_Tiers(cfg, layout, placements), tier)
    return {"tier": tier.name, "layout": cfg.layout, **outputs}
