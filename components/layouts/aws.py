"""The `aws` layout: global table, ALB + ECS per region, Route 53 failover, orchestrators in the standbys."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.active_region import ActiveRegion, ActiveRegionArgs, control_table_name
from components.budget import budget_inputs_from_config, compute_budget
from components.config import StackConfig
from components.global_table import GlobalTable, GlobalTableArgs
from components.iam import parameter_arn, table_arn
from components.network import default_vpc_cidr
from components.notifications import NotificationTopic
from components.orchestrator import Orchestrator, OrchestratorArgs, orchestrator_environment
from components.providers import ROUTE53_METRICS_REGION, regional_providers
from components.regional_service import RegionalService, RegionalServiceArgs
from components.traffic import (EndpointHealth, Endpoint, FailoverDns, TrafficArgs, health_alarm_name_pattern,
                                regional_record_name)


def build(cfg: StackConfig, stack: str) -> dict:
    app = cfg.app.name
    regions = cfg.regions.all
    primary, standbys = regions[0], regions[1:]
    providers = regional_providers(regions, app=app, stack=stack)
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=providers[primary])).account_id

    data = GlobalTable(
        f"{app}-data",
        GlobalTableArgs(
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
        ),
        provider=providers[primary],
    )
    control = ActiveRegion(
        f"{app}-active-region",
        ActiveRegionArgs(
            app=app, stack=stack, regions=regions,
            strong_consistency=cfg.table.consistency == "strong", protect=cfg.protect,
            tags={  # read by the policy pack's budget rule, which sees resources, not config
                "dr:stack": stack,
                "dr:production": str(cfg.production).lower(),
                "dr:rtoObjectiveSeconds": str(cfg.objectives.rto_seconds),
                "dr:rpoObjectiveSeconds": str(cfg.objectives.rpo_seconds),
                "dr:clientCacheSeconds": str(cfg.failover.client_cache_seconds),
            },
        ),
        providers=providers,
    )
    parameter_arns = account_id.apply(lambda acct: [parameter_arn(r, acct, control.parameter_name) for r in regions])
    data_arns = data.arns.apply(lambda arns: [arns[r] for r in regions])

    client_env = {
        "DR_APP": app,
        "DR_REGIONS": ",".join(regions),
        "DR_TABLE": cfg.table.name,
        "DR_ACTIVE_REGION_PARAMETER": control.parameter_name,
        "DR_CACHE_SECONDS": str(cfg.failover.client_cache_seconds),
    }
    services: dict[str, RegionalService] = {}
    for i, region in enumerate(regions):
        net = cfg.network.get(region)
        services[region] = RegionalService(
            f"{app}-{region}",
            RegionalServiceArgs(
                app=app, stack=stack, region=region, image=cfg.app.image, port=cfg.app.port,
                health_path=cfg.health_path, cpu=cfg.app.cpu, memory=cfg.app.memory,
                desired_count=cfg.app.desired_count if region == primary else cfg.app.standby_desired_count,
                environment={**cfg.app.environment, **client_env},
                table_arns=data_arns, parameter_arns=parameter_arns,
                certificate_arn=cfg.dns.certificate_arns.get(region),
                vpc_id=net.vpc_id if net else None,
                subnet_ids=list(net.subnet_ids) if net else [],
                vpc_cidr=(net.cidr if net and net.cidr else default_vpc_cidr(i)),
                secrets={k: pulumi.Output.secret(v) for k, v in cfg.app_secrets.items()},
            ),
            provider=providers[region],
        )

    topics = {
        region: NotificationTopic(
            f"{app}-notify-{region}", account_id=account_id, emails=cfg.notifications.emails,
            provider=providers[region],
            alarm_name_pattern=health_alarm_name_pattern(app, stack) if region == ROUTE53_METRICS_REGION else None,
        )
        for region in dict.fromkeys([*regions, ROUTE53_METRICS_REGION])
    }
    alarm_topic = topics[ROUTE53_METRICS_REGION]

    traffic = TrafficArgs(
        app=app, stack=stack, zone_id=cfg.dns.zone_id, record_name=cfg.dns.record_name,
        health_path=cfg.health_path, interval=cfg.health_check.interval,
        failure_threshold=cfg.health_check.failure_threshold,
        alarm_evaluation_periods=cfg.failover.alarm_evaluation_periods,
    )
    health = {
        region: EndpointHealth(
            f"{app}-health-{region}",
            fqdn=regional_record_name(cfg.dns.record_name, region),
            scheme=services[region].scheme,
            args=traffic,
            region=region,
            alarm_topic_arn=alarm_topic.topic.arn,
            global_provider=providers[primary],
            metrics_provider=providers[ROUTE53_METRICS_REGION],
        )
        for region in regions
    }
    FailoverDns(
        f"{app}-dns",
        args=traffic,
        endpoints={
            r: Endpoint(region=r, dns_name=s.dns_name, zone_id=s.zone_id, scheme=s.scheme) for r, s in services.items()
        },
        health_check_ids={r: h.health_check.id for r, h in health.items()},
        regions=regions,
        provider=providers[primary],
    )

    health_urls = {
        r: f"{services[r].scheme}://{regional_record_name(cfg.dns.record_name, r)}{cfg.health_path}" for r in regions
    }
    service_map = {
        r: {"cluster": services[r].cluster_name, "service": services[r].service_name, "desiredCount": cfg.app.desired_count}
        for r in regions
    }
    topic_arns = pulumi.Output.all(**{r: topics[r].topic.arn for r in regions})
    environment = topic_arns.apply(
        lambda arns: orchestrator_environment(
            app=app, regions=regions, control_table=control_table_name(app, stack), data_table=cfg.table.name,
            parameter_name=control.parameter_name, health_urls=health_urls,
            alarm_regions={h.alarm_name: r for r, h in health.items()}, services=service_map, topic_arns=dict(arns),
            failure_threshold=cfg.failover.failure_threshold, recovery_threshold=cfg.failover.recovery_threshold,
            min_dwell_seconds=cfg.failover.min_dwell_seconds, failback=cfg.failover.failback,
            automatic=cfg.failover.mode == "automatic",
            rpo_seconds=None if cfg.table.consistency == "strong" else cfg.objectives.rpo_seconds,
        )
    )
    policy_arns = pulumi.Output.all(
        acct=account_id,
        params=parameter_arns,
        services=pulumi.Output.all(*[s.service.arn for s in services.values()]),
        topics=pulumi.Output.all(*[t.topic.arn for t in topics.values()]),
        keys=pulumi.Output.all(*[t.key.arn for t in topics.values()]),
    ).apply(
        lambda a: {
            "control_table_arns": [table_arn(r, a["acct"], control_table_name(app, stack)) for r in regions],
            "parameter_arns": list(a["params"]),
            "service_arns": list(a["services"]),
            "topic_arns": list(a["topics"]),
            "topic_key_arns": list(a["keys"]),
        }
    )
    orchestrators = {
        region: Orchestrator(
            f"{app}-orchestrator-{region}",
            OrchestratorArgs(
                app=app, stack=stack, region=region, environment=environment, policy_arns=policy_arns,
                alarm_topic_arn=alarm_topic.topic.arn,
                monitor_interval_minutes=cfg.failover.monitor_interval_minutes,
                reserved_concurrency=cfg.failover.reserved_concurrency,
            ),
            provider=providers[region],
            alarm_provider=providers[ROUTE53_METRICS_REGION],
        )
        for region in standbys
    }

    budget = compute_budget(budget_inputs_from_config(cfg))
    return {
        "layout": cfg.layout,
        "regions": regions,
        "endpoints": {r: f"{services[r].scheme}://{regional_record_name(cfg.dns.record_name, r)}" for r in regions},
        "loadBalancers": {r: s.dns_name for r, s in services.items()},
        "url": f"{services[primary].scheme}://{cfg.dns.record_name}",
        "tableName": data.name,
        "tableArns": data.arns,
        "controlTableName": control.control_table.name,
        "activeRegionParameter": control.parameter_name,
        "healthCheckIds": {r: h.health_check.id for r, h in health.items()},
        "healthAlarmNames": {r: h.alarm_name for r, h in health.items()},
        "orchestratorFunctionArns": {r: o.function.arn for r, o in orchestrators.items()},
        "topicArns": {r: t.topic.arn for r, t in topics.items()},
        "budget": budget.to_json(),
    }
