"""The `digitalocean` layout: a DOKS site per DigitalOcean region, each paired with an AWS region that serves
its data, control item and orchestrator, on the shared DR plane."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws
import pulumi_digitalocean as digitalocean

from components.layouts.common import DeclaredSite
from components.notifications import NotificationTopic
from components.plane import DataPlane, declare_data_plane, declare_dr_plane, declare_notice_topics
from components.providers import digitalocean_token, regional_providers
from components.sites.doks.component import DoksSite, DoksSiteArgs
from components.sites.doks.config import DigitalOceanStackConfig
from components.tiers import SitePlacement


def site_placements(cfg: DigitalOceanStackConfig) -> list[SitePlacement]:
    """A site per DigitalOcean slug, reached on its load balancer's IP address."""
    do = cfg.digitalocean
    return [
        SitePlacement(
            name=s.region,
            location=s.region,
            data_region=s.aws_region,
            scheme=do.scheme,
            port=do.public_port,
            alias=False,
            key=f"dr:sites[{i}].region",
        )
        for i, s in enumerate(cfg.sites)
    ]


def declare_sites(
    cfg: DigitalOceanStackConfig,
    stack: str,
    providers: Mapping[str, aws.Provider],
    data: DataPlane,
    only: str | None = None,
    notices: Mapping[str, NotificationTopic] | None = None,
) -> dict[str, DeclaredSite]:
    """Every DOKS site, or only the one served by AWS region `only` (its region tier)."""
    regions = cfg.regions.all
    # An explicit provider never reads the stack's digitalocean:token: pass it (or DIGITALOCEAN_TOKEN) explicitly.
    do = digitalocean.Provider("digitalocean", token=digitalocean_token())
    declared: dict[str, DeclaredSite] = {}
    for i, site in enumerate(cfg.sites):
        if only is not None and site.aws_region != only:
            continue
        doks = DoksSite(
            f"{cfg.app.name}-{site.region}",
            DoksSiteArgs(
                config=cfg.digitalocean,
                site=site,
                stack=stack,
                active=i == 0,
                table_name=cfg.table.name,
                parameter_name=data.parameter_name,
                cache_seconds=cfg.failover.client_cache_seconds,
                table_arns=data.data_arns,
                parameter_arns=data.parameter_arns,
                control_arns=data.control_arns,
                control_table=data.client_env["DR_CONTROL_TABLE"],
                control_regions=tuple(data.client_env["DR_CONTROL_REGIONS"].split(",")),
                credentials_replica_regions=[r for r in regions if r != site.aws_region],
                notice_topic_arn=notices[site.aws_region].topic.arn if notices else None,
                notice_key_arn=notices[site.aws_region].key.arn if notices else None,
            ),
            opts=pulumi.ResourceOptions(providers={"digitalocean": do, "aws": providers[site.aws_region]}),
        )
        declared[site.aws_region] = DeclaredSite(
            site=doks.site,
            outputs={"site": site.region, "loadBalancerIp": doks.load_balancer_ip, "clusterId": doks.cluster_id},
        )
    return declared


def build(cfg: DigitalOceanStackConfig, stack: str) -> dict:
    providers = regional_providers(cfg.regions.all, app=cfg.app.name, stack=stack)
    data = declare_data_plane(cfg, stack, providers)
    topics = declare_notice_topics(cfg, stack, providers, data.account_id)  # the sites' certificate expiry notices too
    declared = declare_sites(cfg, stack, providers, data, notices=topics)
    outputs = declare_dr_plane(cfg, stack, providers, data, {r: d.site for r, d in declared.items()}, topics)
    outputs["sites"] = {r: d.site.name for r, d in declared.items()}
    outputs["loadBalancerIps"] = {r: d.outputs["loadBalancerIp"] for r, d in declared.items()}
    outputs["clusterIds"] = {r: d.outputs["clusterId"] for r, d in declared.items()}
    return outputs
