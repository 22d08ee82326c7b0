"""The `aws` layout: an ALB + ECS (Fargate) site in every AWS region, on the shared DR plane."""

from __future__ import annotations

import pulumi

from components.config import StackConfig
from components.iam import ecs_scale_statements
from components.network import default_vpc_cidr
from components.plane import declare_data_plane, declare_dr_plane
from components.providers import regional_providers
from components.regional_service import RegionalService, RegionalServiceArgs
from components.site import Site, SiteEndpoint
from failover.scaling import EcsTarget, NoScaling, scale_target_json


def build(cfg: StackConfig, stack: str) -> dict:
    app = cfg.app.name
    regions = cfg.regions.all
    primary = regions[0]
    providers = regional_providers(regions, app=app, stack=stack)
    data = declare_data_plane(cfg, stack, providers)
    warm = cfg.app.standby == "warm"

    services: dict[str, RegionalService] = {}
    sites: dict[str, Site] = {}
    for i, region in enumerate(regions):
        net = cfg.network.get(region)
        service = services[region] = RegionalService(
            f"{app}-{region}",
            RegionalServiceArgs(
                app=app, stack=stack, region=region, image=cfg.app.image, port=cfg.app.port,
                health_path=cfg.health_path, cpu=cfg.app.cpu, memory=cfg.app.memory,
                desired_count=(cfg.app.desired_count if region == primary or not warm
                               else cfg.app.standby_desired_count),
                environment={**cfg.app.environment, **data.client_env},
                table_arns=data.data_arns, parameter_arns=data.parameter_arns,
                certificate_arn=cfg.dns.certificate_arns.get(region),
                vpc_id=net.vpc_id if net else None,
                subnet_ids=list(net.subnet_ids) if net else [],
                vpc_cidr=(net.cidr if net and net.cidr else default_vpc_cidr(i)),
                secrets={k: pulumi.Output.secret(v) for k, v in cfg.app_secrets.items()},
            ),
            provider=providers[region],
        )
        sites[region] = Site(
            name=region,
            location=region,
            data_region=region,
            endpoint=SiteEndpoint(scheme=service.scheme, port=443 if service.scheme == "https" else 80,
                                  alias_dns_name=service.dns_name, alias_zone_id=service.zone_id),
            scale_target=scale_target_json(
                EcsTarget(service.cluster_name, service.service_name, cfg.app.desired_count) if warm else NoScaling()),
            orchestrator_statements=service.service.arn.apply(lambda arn: ecs_scale_statements([arn])) if warm else [],
            outputs={"loadBalancer": service.dns_name},
        )

    outputs = declare_dr_plane(cfg, stack, providers, data, sites)
    outputs["loadBalancers"] = {r: s.dns_name for r, s in services.items()}
    return outputs
