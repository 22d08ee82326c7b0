"""The `digitalocean` layout: a DOKS site per DigitalOcean region, each paired with an AWS region that serves
its data, control item and orchestrator, on the shared DR plane."""

from __future__ import annotations

import pulumi
import pulumi_digitalocean as digitalocean

from components.plane import declare_data_plane, declare_dr_plane
from components.providers import regional_providers
from components.site import Site
from components.sites.doks import DoksSite, DoksSiteArgs
from components.sites.doks_config import DigitalOceanStackConfig


def build(cfg: DigitalOceanStackConfig, stack: str) -> dict:
    app = cfg.app.name
    regions = cfg.regions.all
    providers = regional_providers(regions, app=app, stack=stack)
    # The token comes from `pulumi config set --secret digitalocean:token` or DIGITALOCEAN_TOKEN.
    do = digitalocean.Provider("digitalocean")
    data = declare_data_plane(cfg, stack, providers)

    doks: dict[str, DoksSite] = {}
    sites: dict[str, Site] = {}
    for i, site in enumerate(cfg.sites):
        doks[site.aws_region] = DoksSite(
            f"{app}-{site.region}",
            DoksSiteArgs(
                config=cfg.digitalocean, site=site, stack=stack, active=i == 0, table_name=cfg.table.name,
                parameter_name=data.control.parameter_name, cache_seconds=cfg.failover.client_cache_seconds,
                table_arns=data.data_arns, parameter_arns=data.parameter_arns,
                credentials_replica_regions=[r for r in regions if r != site.aws_region],
            ),
            opts=pulumi.ResourceOptions(providers={"digitalocean": do, "aws": providers[site.aws_region]}),
        )
        sites[site.aws_region] = doks[site.aws_region].site

    outputs = declare_dr_plane(cfg, stack, providers, data, sites)
    outputs["sites"] = {r: s.name for r, s in sites.items()}
    outputs["loadBalancerIps"] = {r: d.load_balancer_ip for r, d in doks.items()}
    outputs["clusterIds"] = {r: d.cluster_id for r, d in doks.items()}
    return outputs
