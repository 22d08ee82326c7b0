"""The `ovh-hybrid` layout: existing OVHcloud servers behind one HAProxy per OVHcloud region, each site paired
with an AWS region that serves its data, control item and orchestrator, on the shared DR plane."""

from __future__ import annotations

import pulumi

from components.plane import declare_data_plane, declare_dr_plane
from components.providers import regional_providers
from components.site import Site
from components.sites.ovh import OvhSite, OvhSiteArgs, site_component_name
from components.sites.ovh_config import OvhStackConfig


def build(cfg: OvhStackConfig, stack: str) -> dict:
    app = cfg.app.name
    regions = cfg.regions.all
    providers = regional_providers(regions, app=app, stack=stack)
    data = declare_data_plane(cfg, stack, providers)

    ovh_sites: dict[str, OvhSite] = {}
    sites: dict[str, Site] = {}
    for site in cfg.sites:
        # pulumi-ovh's default provider (OVH_ENDPOINT, OVH_APPLICATION_KEY, ... or `ovh:` config) serves the
        # server lookups; sites given by address make no OVHcloud call at all.
        ovh_sites[site.aws_region] = OvhSite(site_component_name(app, site.name), OvhSiteArgs.from_config(cfg.ovh, site.name))
        sites[site.aws_region] = ovh_sites[site.aws_region].site

    outputs = declare_dr_plane(cfg, stack, providers, data, sites)
    outputs["sites"] = {r: s.name for r, s in sites.items()}
    outputs["haproxyIps"] = {r: o.public_ip for r, o in ovh_sites.items()}
    outputs["statsSalts"] = {r: o.stats_salt for r, o in ovh_sites.items()}
    return outputs
