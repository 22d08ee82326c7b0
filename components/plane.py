"""The DR plane every layout shares: data, control, notifications, traffic, automation, budget.

A layout declares its sites (ALB + ECS, DOKS + DigitalOcean load balancer, OVHcloud servers + HAProxy),
each of which hands over a `components.site.Site`; everything else is declared here, the same way for
every layout. The component names are the ones the `aws` layout always used, so existing stacks keep
their URNs (tests/golden holds the prod and staging resource sets this must reproduce).

The plane is declared in parts (data, notice topics, alarm topic, traffic, orchestrators) so that per-tier
stacks (`components.tiers`, `components.tiered`) declare the same resources, with the same names and inputs,
as one stack does: `declare_dr_plane` is those parts for one stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import pulumi
import pulumi_aws as aws

from components.active_region import (
    ActiveRegion,
    ActiveRegionArgs,
    active_region_parameter_name,
    control_table_name_for,
)
from components.alarms import direction_key, ops_alarm_name_pattern
from components.budget import SCALE_UP_ALLOWANCE_SECONDS, budget_inputs_from_config, compute_budget
from components.control import control_placement
from components.global_table import GlobalTable, GlobalTableArgs, RegionalTables
from components.iam import parameter_arn, table_arn
from components.notifications import NotificationTopic
from components.observability import declare_dashboard, declare_replicator_alarms
from components.orchestrator import Orchestrator
from components.orchestrators import endpoint_url, orchestrator_args, witness_provider
from components.providers import ROUTE53_METRICS_REGION
from components.replicator import StreamReplicator, StreamReplicatorArgs
from components.site import Site
from components.traffic import (
    health_alarm_name_pattern,
)
from components.traffic_plane import declare_traffic


@dataclass
class DataPlane:
    """The table, the control item and what the sites and the plane need to reach them: declared in this
    stack, or read from the data tier's outputs (`data_plane_from`)."""

    account_id: pulumi.Output[str]
    table_name: pulumi.Input[str]
    table_arns: pulumi.Output[dict]
    """AWS region -> the data table's ARN there."""
    control_table_name: pulumi.Input[str]
    parameter_name: str
    """`/<app>/<stack>/active_region`, the same name in every region."""
    data_arns: pulumi.Output[list]
    """The data table's ARN in every region, in priority order."""
    parameter_arns: pulumi.Output[list]
    """The active-region parameter's ARN in every region, in priority order."""
    control_arns: pulumi.Output[list]
    """The control table's ARN in each of its replica regions (applications confirm writes there)."""
    client_env: dict[str, str]
    """The DR_* variables `failover.client.ActiveRegionResolver.from_environment` reads (AWS_REGION aside)."""
    failure_queue_names: pulumi.Input[dict] = field(default_factory=dict)
    """Streams replication: direction key (`components.alarms.direction_key`) -> the replicator's failure queue."""


def _active_region(
    cfg, stack: str, providers: Mapping[str, aws.Provider], *, control_table: bool, parameter_regions: list[str] | None
) -> ActiveRegion:
    return ActiveRegion(
        f"{cfg.app.name}-active-region",
        ActiveRegionArgs(
            app=cfg.app.name,
            stack=stack,
            regions=cfg.regions.all,
            placement=control_placement(cfg.regions.all),
            table_name=control_table_name_for(cfg, stack),
            protect=cfg.protect,
            tags={  # read by the policy pack's budget rule, which sees resources, not config
                "dr:stack": stack,
                "dr:production": str(cfg.production).lower(),
                "dr:rtoObjectiveSeconds": str(cfg.objectives.rto_seconds),
                "dr:rpoObjectiveSeconds": str(cfg.objectives.rpo_seconds),
                "dr:clientCacheSeconds": str(cfg.failover.client_cache_seconds),
                "dr:scaleUpSeconds": str(SCALE_UP_ALLOWANCE_SECONDS[cfg.scale_kind]),
            },
            control_table=control_table,
            parameter_regions=parameter_regions,
        ),
        providers=providers,
    )


def data_plane_from(
    cfg,
    stack: str,
    *,
    account_id: pulumi.Input[str],
    table_name: pulumi.Input[str],
    table_arns: pulumi.Input[dict],
    control_table_name: pulumi.Input[str],
    failure_queue_names: pulumi.Input[dict] | None = None,
) -> DataPlane:
    """The DataPlane of a table and control table declared elsewhere (in this stack, or in the data tier)."""
    app = cfg.app.name
    regions = cfg.regions.all
    account = pulumi.Output.from_input(account_id)
    arns = pulumi.Output.from_input(table_arns)
    parameter_name = active_region_parameter_name(app, stack)
    placement = control_placement(regions)
    control = control_table_name_for(cfg, stack)
    return DataPlane(
        account_id=account,
        table_name=table_name,
        table_arns=arns,
        control_table_name=control_table_name,
        parameter_name=parameter_name,
        data_arns=arns.apply(lambda by_region: [by_region[r] for r in regions]),
        parameter_arns=account.apply(lambda acct: [parameter_arn(r, acct, parameter_name) for r in regions]),
        control_arns=account.apply(lambda acct: [table_arn(r, acct, control) for r in placement.replicas]),
        client_env={
            "DR_APP": app,
            "DR_REGIONS": ",".join(regions),
            "DR_TABLE": cfg.table.name,
            "DR_ACTIVE_REGION_PARAMETER": parameter_name,
            "DR_CACHE_SECONDS": str(cfg.failover.client_cache_seconds),
            "DR_CONTROL_TABLE": control,
            "DR_CONTROL_REGIONS": ",".join(placement.replicas),
        },
        failure_queue_names=failure_queue_names if failure_queue_names is not None else {},
    )


def declare_replicators(
    cfg, stack: str, providers: Mapping[str, aws.Provider], tables: RegionalTables, account_id: pulumi.Input[str]
) -> dict[tuple[str, str], StreamReplicator]:
    """A replicator per direction between every two regions, each in its source region (streams are read
    where they are written); each publishes its lag in the receiving region, where the lag gate reads it."""
    regions = cfg.regions.all
    arns = tables.arns
    return {
        (source, receiving): StreamReplicator(
            f"{cfg.app.name}-replicate-{source}-to-{receiving}",
            StreamReplicatorArgs(
                app=cfg.app.name,
                stack=stack,
                source_region=source,
                receiving_region=receiving,
                source_table_arn=tables.tables[source].arn,
                source_stream_arn=tables.stream_arns[source],
                receiving_table_name=tables.name,
                receiving_table_arn=arns.apply(itemgetter(receiving)),
                account_id=account_id,
                conflict_retention_days=cfg.table.conflict_retention_days,
                protect=cfg.protect,
                tags={"dr:stack": stack, "dr:production": str(cfg.production).lower()},
            ),
            opts=pulumi.ResourceOptions(provider=providers[source]),
        )
        for source in regions
        for receiving in regions
        if source != receiving
    }


def declare_data_plane(
    cfg, stack: str, providers: Mapping[str, aws.Provider], *, parameter_regions: list[str] | None = None
) -> DataPlane:
    """The global data table and the control plane: the control table, and the SSM projection in every region
    (`parameter_regions` None) or in none (`[]`: the data tier; each region tier declares its own)."""
    app = cfg.app.name
    regions = cfg.regions.all
    primary, standbys = regions[0], regions[1:]
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=providers[primary])).account_id
    table_args = GlobalTableArgs(
        name=cfg.table.name,
        primary_region=primary,
        replica_regions=standbys,
        hash_key=cfg.table.hash_key,
        range_key=cfg.table.range_key,
        attributes=dict(cfg.table.attributes),
        strong_consistency=cfg.table.consistency == "strong",
        billing_mode=cfg.table.billing_mode,
        read_capacity=cfg.table.read_capacity,
        write_capacity=cfg.table.write_capacity,
        stream_view_type=cfg.table.stream_view_type,
        protect=cfg.protect,
        tags={"dr:stack": stack, "dr:production": str(cfg.production).lower()},
    )
    queues: pulumi.Input[dict] = {}
    table: GlobalTable | RegionalTables
    if cfg.table.replication == "streams":
        regional = RegionalTables(f"{app}-data", table_args, providers=dict(providers))
        replicators = declare_replicators(cfg, stack, providers, regional, account_id)
        table = regional
        queues = pulumi.Output.all(**{direction_key(*d): rep.failure_queue_name for d, rep in replicators.items()})
    else:
        table = GlobalTable(f"{app}-data", table_args, provider=providers[primary])
    control = _active_region(cfg, stack, providers, control_table=True, parameter_regions=parameter_regions)
    assert control.control_table is not None
    return data_plane_from(
        cfg,
        stack,
        account_id=account_id,
        table_name=table.name,
        table_arns=table.arns,
        control_table_name=control.control_table.name,
        failure_queue_names=queues,
    )


def declare_projection(cfg, stack: str, providers: Mapping[str, aws.Provider], region: str) -> ActiveRegion:
    """A region tier's part of the control plane: the active-region parameter in its own region only."""
    return _active_region(cfg, stack, providers, control_table=False, parameter_regions=[region])


def declare_notice_topic(
    cfg, stack: str, providers: Mapping[str, aws.Provider], account_id: pulumi.Input[str], region: str
) -> NotificationTopic:
    """A region's transition notices (the orchestrators publish to every region's), and its operator alarms
    (`components.alarms`: CloudWatch may use the topic's key for those alarms only)."""
    return NotificationTopic(
        f"{cfg.app.name}-notify-{region}",
        account_id=account_id,
        emails=cfg.notifications.emails,
        provider=providers[region],
        alarm_name_pattern=ops_alarm_name_pattern(cfg.app.name, stack),
    )


def declare_alarm_topic(
    cfg, stack: str, providers: Mapping[str, aws.Provider], account_id: pulumi.Input[str]
) -> NotificationTopic:
    """The health alarms publish to a topic of their own (us-east-1, where Route 53's metrics are), which the
    orchestrators subscribe to, so a notice never re-invokes them."""
    return NotificationTopic(
        f"{cfg.app.name}-alarms",
        account_id=account_id,
        emails=cfg.notifications.emails,
        provider=providers[ROUTE53_METRICS_REGION],
        alarm_name_pattern=health_alarm_name_pattern(cfg.app.name, stack),
    )


def orchestrator_name(cfg, region: str) -> str:
    return f"{cfg.app.name}-orchestrator-{region}"


def declare_notice_topics(
    cfg, stack: str, providers: Mapping[str, aws.Provider], account_id: pulumi.Input[str]
) -> dict[str, NotificationTopic]:
    """Every region's notice topic (declared before the sites when they send notices of their own)."""
    return {region: declare_notice_topic(cfg, stack, providers, account_id, region) for region in cfg.regions.all}


def declare_dr_plane(
    cfg,
    stack: str,
    providers: Mapping[str, aws.Provider],
    data: DataPlane,
    sites: Mapping[str, Site],
    topics: Mapping[str, NotificationTopic] | None = None,
) -> dict[str, Any]:
    """Notifications, health checks and alarms, failover records, orchestrators and the budget for `sites`
    (data region -> Site, in failover priority), all in this stack; the notice `topics` when already declared.
    Returns the stack outputs every layout exports."""
    regions = cfg.regions.all
    primary = regions[0]
    topics = dict(topics) if topics is not None else declare_notice_topics(cfg, stack, providers, data.account_id)
    alarm_topic = declare_alarm_topic(cfg, stack, providers, data.account_id)
    traffic = declare_traffic(cfg, stack, providers, sites, alarm_topic.topic.arn)
    health = traffic.health
    args = orchestrator_args(
        cfg,
        stack,
        data,
        sites,
        {r: t.topic.arn for r, t in topics.items()},
        {r: t.key.arn for r, t in topics.items()},
        alarm_topic.topic.arn,
    )
    providers = witness_provider(cfg, stack, providers)
    orchestrators = {
        region: Orchestrator(
            orchestrator_name(cfg, region),
            args[region],
            provider=providers[region],
            alarm_provider=providers[ROUTE53_METRICS_REGION] if region in regions else None,
        )
        for region in args
    }

    declare_replicator_alarms(
        cfg,
        stack,
        providers,
        sources=regions,
        failure_queue_names=data.failure_queue_names,
        topic_arns={r: t.topic.arn for r, t in topics.items()},
    )
    dashboard = declare_dashboard(
        cfg,
        stack,
        providers,
        sites=sites,
        health_check_ids={r: health[s.name].health_check.id for r, s in sites.items()},
        table_name=data.table_name,
        failure_queue_names=data.failure_queue_names,
    )
    budget = compute_budget(budget_inputs_from_config(cfg))
    return {
        "layout": cfg.layout,
        "regions": regions,
        "endpoints": {r: endpoint_url(cfg, sites[r]) for r in regions},
        "url": f"{sites[primary].endpoint.scheme}://{cfg.dns.record_name}",
        "tableName": data.table_name,
        "tableArns": data.table_arns,
        "controlTableName": data.control_table_name,
        "activeRegionParameter": data.parameter_name,
        "healthCheckIds": {r: health[s.name].health_check.id for r, s in sites.items()},
        "healthAlarmNames": {r: health[s.name].alarm_name for r, s in sites.items()},
        "orchestratorFunctionArns": {r: o.function.arn for r, o in orchestrators.items() if r in regions},
        "observerFunctionArns": {r: o.function.arn for r, o in orchestrators.items() if r not in regions},
        "topicArns": {r: t.topic.arn for r, t in topics.items()},
        "alarmTopicArn": alarm_topic.topic.arn,
        "dashboardName": dashboard.dashboard_name,
        "budget": budget.to_json(),
        **traffic.outputs(),
    }
