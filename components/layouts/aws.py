"""The `aws` layout: an ALB + ECS (Fargate) site in every AWS region, on the shared DR plane."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from components.drill_fis import DrillTemplates, DrillTemplatesArgs, drill_actions
from components.iam import ecs_scale_statements
from components.layouts.common import DeclaredSite
from components.orchestrator import orchestrator_function_name
from components.plane import DataPlane, declare_data_plane, declare_dr_plane
from components.providers import regional_providers
from components.site import Site, SiteEndpoint
from components.sites.ecs.addressing import default_vpc_cidr
from components.sites.ecs.config import AwsStackConfig
from components.sites.ecs.service import RegionalService, RegionalServiceArgs
from components.tiers import SitePlacement
from failover.scaling import EcsTarget, NoScaling, scale_target_json


def site_placements(cfg: AwsStackConfig) -> list[SitePlacement]:
    """A site per region, named by it; HTTPS where the region has a certificate (as RegionalService decides)."""
    keys = ["dr:regions.primary", *(f"dr:regions.secondaries[{i}]" for i in range(len(cfg.regions.secondaries)))]
    out = []
    for region, key in zip(cfg.regions.all, keys, strict=True):
        https = cfg.dns.certificate_arns.get(region) is not None
        out.append(
            SitePlacement(
                name=region,
                location=region,
                data_region=region,
                scheme="https" if https else "http",
                port=443 if https else 80,
                alias=True,
                key=key,
            )
        )
    return out


def declare_sites(
    cfg: AwsStackConfig,
    stack: str,
    providers: Mapping[str, aws.Provider],
    data: DataPlane,
    only: str | None = None,
    notices: Mapping[str, Any] | None = None,
) -> dict[str, DeclaredSite]:
    """Every region's site, or only region `only`'s (its region tier); `notices` (the notice topics) unused: ECS
    tasks hold no certificate that could expire."""
    app = cfg.app.name
    regions = cfg.regions.all
    primary = regions[0]
    warm = cfg.app.standby == "warm"
    declared: dict[str, DeclaredSite] = {}
    for i, region in enumerate(regions):
        if only is not None and region != only:
            continue
        net = cfg.network.get(region)
        service = RegionalService(
            f"{app}-{region}",
            RegionalServiceArgs(
                app=app,
                stack=stack,
                region=region,
                image=cfg.app.image,
                port=cfg.app.port,
                health_path=cfg.health_path,
                cpu=cfg.app.cpu,
                memory=cfg.app.memory,
                desired_count=(
                    cfg.app.desired_count if region == primary or not warm else cfg.app.standby_desired_count
                ),
                environment={**cfg.app.environment, **data.client_env},
                table_arns=data.data_arns,
                parameter_arns=data.parameter_arns,
                control_arns=data.control_arns,
                certificate_arn=cfg.dns.certificate_arns.get(region),
                vpc_id=net.vpc_id if net else None,
                subnet_ids=list(net.subnet_ids) if net else [],
                vpc_cidr=(net.cidr if net and net.cidr else default_vpc_cidr(i)),
                secrets={k: pulumi.Output.secret(v) for k, v in cfg.app_secrets.items()},
                accelerator_health_path=cfg.accelerator_health_path if cfg.traffic.mode == "accelerator" else None,
            ),
            provider=providers[region],
        )
        site = Site(
            name=region,
            location=region,
            data_region=region,
            endpoint=SiteEndpoint(
                scheme=service.scheme,
                port=443 if service.scheme == "https" else 80,
                alias_dns_name=service.dns_name,
                alias_zone_id=service.zone_id,
                accelerator_endpoint_id=service.accelerator_endpoint_arn,
            ),
            scale_target=scale_target_json(
                EcsTarget(service.cluster_name, service.service_name, cfg.app.desired_count) if warm else NoScaling()
            ),
            orchestrator_statements=service.service.arn.apply(lambda arn: ecs_scale_statements([arn])) if warm else [],
            outputs={"loadBalancer": service.dns_name},
        )
        declared[region] = DeclaredSite(site=site, outputs={"loadBalancer": service.dns_name})
        if cfg.drill.fis:
            _declare_drill_templates(cfg, stack, region, service, data, providers[region])
    return declared


def _declare_drill_templates(
    cfg: AwsStackConfig, stack: str, region: str, service: RegionalService, data: DataPlane, provider: aws.Provider
) -> DrillTemplates:
    """The FIS templates `drctl drill --live` starts against this region's site (`dr:drill.fis`)."""
    return DrillTemplates(
        f"{cfg.app.name}-drill-{region}",
        DrillTemplatesArgs(
            app=cfg.app.name,
            stack=stack,
            region=region,
            account_id=data.account_id,
            actions=drill_actions(cfg.table.replication),
            duration_minutes=cfg.drill.duration_minutes,
            orchestrator_function=orchestrator_function_name(cfg.app.name, stack),
            vpc_id=service.vpc_id,
            subnet_ids=service.subnet_ids,
            cluster=service.cluster_name,
            service=service.service_name,
            table_name=cfg.table.name,
        ),
        opts=pulumi.ResourceOptions(provider=provider),
    )


def build(cfg: AwsStackConfig, stack: str) -> dict:
    providers = regional_providers(cfg.regions.all, app=cfg.app.name, stack=stack)
    data = declare_data_plane(cfg, stack, providers)
    declared = declare_sites(cfg, stack, providers, data)
    outputs = declare_dr_plane(cfg, stack, providers, data, {r: d.site for r, d in declared.items()})
    outputs["loadBalancers"] = {r: d.outputs["loadBalancer"] for r, d in declared.items()}
    return outputs
