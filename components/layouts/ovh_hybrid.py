"""The `ovh-hybrid` layout: existing OVHcloud servers behind one HAProxy per OVHcloud region, each site paired
with an AWS region that serves its data, control item and orchestrator, on the shared DR plane."""

from __future__ import annotations

import pulumi

from components.plane import declare_data_plane, declare_dr_plane
from components.providers import regional_providers
from components.site import Site
from components.sites.ovh import OvhSite, OvhSiteArgs, site_component_name
from components.sites.ovh_config import OvhStackConfig
from components.workload_identity import WorkloadIdentity, WorkloadIdentityArgs, aws_config_file

# Where the documented install puts the files on each application server (README: OVHcloud servers' credentials).
SIGNING_HELPER = "/usr/local/bin/aws_signing_helper"
CERTIFICATE_PATH = "/etc/dynamodb-dr/certificate.pem"
PRIVATE_KEY_PATH = "/etc/dynamodb-dr/private-key.pem"


def build(cfg: OvhStackConfig, stack: str) -> dict:
    app = cfg.app.name
    regions = cfg.regions.all
    providers = regional_providers(regions, app=app, stack=stack)
    data = declare_data_plane(cfg, stack, providers)

    ovh_sites: dict[str, OvhSite] = {}
    sites: dict[str, Site] = {}
    certificates: dict[str, pulumi.Output] = {}
    private_keys: dict[str, pulumi.Output] = {}
    for site in cfg.sites:
        # Short-lived AWS credentials for the servers (IAM Roles Anywhere): a certificate per server, trusted in
        # the site's AWS region for the data table and the active-region parameter only.
        identity = WorkloadIdentity(
            f"{app}-{site.name}-identity",
            WorkloadIdentityArgs(name=f"{app}-{stack}-{site.name}", region=site.aws_region,
                                 subjects=[server.name for server in site.servers],
                                 table_arns=data.data_arns, parameter_arns=data.parameter_arns),
            opts=pulumi.ResourceOptions(providers={"aws": providers[site.aws_region]}),
        )
        for server in site.servers:
            issued = identity.certificates[server.name]
            certificates[server.name] = pulumi.Output.all(
                cert=issued.certificate_pem, anchor=identity.trust_anchor_arn, profile=identity.profile_arn,
                role=identity.role_arn,
            ).apply(lambda a, region=site.aws_region: {
                "certificatePem": a["cert"],
                "awsConfig": aws_config_file(region=region, signing_helper=SIGNING_HELPER,
                                             certificate_path=CERTIFICATE_PATH, private_key_path=PRIVATE_KEY_PATH,
                                             trust_anchor_arn=a["anchor"], profile_arn=a["profile"],
                                             role_arn=a["role"]),
            })
            private_keys[server.name] = issued.private_key_pem
        # pulumi-ovh's default provider (OVH_ENDPOINT, OVH_APPLICATION_KEY, ... or `ovh:` config) serves the
        # server lookups; sites given by address make no OVHcloud call at all.
        ovh_sites[site.aws_region] = OvhSite(site_component_name(app, site.name), OvhSiteArgs.from_config(cfg.ovh, site.name))
        sites[site.aws_region] = ovh_sites[site.aws_region].site

    outputs = declare_dr_plane(cfg, stack, providers, data, sites)
    outputs["sites"] = {r: s.name for r, s in sites.items()}
    outputs["haproxyIps"] = {r: o.public_ip for r, o in ovh_sites.items()}
    outputs["statsSalts"] = {r: o.stats_salt for r, o in ovh_sites.items()}
    outputs["serverCredentials"] = certificates
    outputs["serverPrivateKeys"] = pulumi.Output.secret(private_keys)
    return outputs
