"""The `ovh-hybrid` layout: existing OVHcloud servers behind one HAProxy per OVHcloud region, each site paired
with an AWS region that serves its data, control item and orchestrator, on the shared DR plane."""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi_aws as aws

from components.layouts.common import DeclaredSite
from components.plane import DataPlane, declare_data_plane, declare_dr_plane
from components.providers import regional_providers
from components.sites.ovh import OvhSite, OvhSiteArgs, site_component_name
from components.sites.ovh_config import OvhStackConfig
from components.tiers import SitePlacement


def site_placements(cfg: OvhStackConfig) -> list[SitePlacement]:
    """A site per OVHcloud region, reached on its HAProxy's IP address."""
    return [SitePlacement(name=s.name, location=s.ovh_region, data_region=s.aws_region, scheme=s.scheme,
                          port=s.public_port, alias=False, key=f"dr:sites[{i}].name")
            for i, s in enumerate(cfg.sites)]


def declare_sites(cfg: OvhStackConfig, stack: str, providers: Mapping[str, aws.Provider], data: DataPlane,
                  only: Optional[str] = None) -> dict[str, DeclaredSite]:
    """Every OVHcloud site, or only the one served by AWS region `only` (its region tier)."""
    declared: dict[str, DeclaredSite] = {}
    for site in cfg.sites:
        if only is not None and site.aws_region != only:
            continue
        # pulumi-ovh's default provider (OVH_ENDPOINT, OVH_APPLICATION_KEY, ... or `ovh:` config) serves the
        # server lookups; sites given by address make no OVHcloud call at all.
        ovh_site = OvhSite(site_component_name(cfg.app.name, site.name), OvhSiteArgs.from_config(cfg.ovh, site.name))
        declared[site.aws_region] = DeclaredSite(
            site=ovh_site.site, outputs={"site": site.name, "haproxyIp": ovh_site.public_ip,
                                         "statsSalt": ovh_site.stats_salt})
    return declared


def build(cfg: OvhStackConfig, stack: str) -> dict:
    providers = regional_providers(cfg.regions.all, app=cfg.app.name, stack=stack)
    data = declare_data_plane(cfg, stack, providers)
    declared = declare_sites(cfg, stack, providers, data)
    outputs = declare_dr_plane(cfg, stack, providers, data, {r: d.site for r, d in declared.items()})
    outputs["sites"] = {r: d.site.name for r, d in declared.items()}
    outputs["haproxyIps"] = {r: d.outputs["haproxyIp"] for r, d in declared.items()}
    outputs["statsSalts"] = {r: d.outputs["statsSalt"] for r, d in declared.items()}
    return outputs
