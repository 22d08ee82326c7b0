"""The `ovh-hybrid` layout: existing OVHcloud servers behind one HAProxy per OVHcloud region, each site paired
with an AWS region that serves its data, control item and orchestrator, on the shared DR plane."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from components.layouts.common import DeclaredSite
from components.notifications import NotificationTopic
from components.plane import DataPlane, declare_data_plane, declare_dr_plane, declare_notice_topics
from components.providers import regional_providers
from components.sites.ovh.component import OvhSite, OvhSiteArgs
from components.sites.ovh.config import OvhStackConfig
from components.sites.ovh.names import site_component_name
from components.tiers import SitePlacement
from components.workload_identity import WorkloadIdentity, WorkloadIdentityArgs, aws_config_file

# Where the documented install puts the files on each application server
# (docs/ovh-hybrid.md, "The servers' AWS credentials").
SIGNING_HELPER = "/usr/local/bin/aws_signing_helper"
CERTIFICATE_PATH = "/etc/dynamodb-dr/certificate.pem"
PRIVATE_KEY_PATH = "/etc/dynamodb-dr/private-key.pem"


def site_placements(cfg: OvhStackConfig) -> list[SitePlacement]:
    """A site per OVHcloud region, reached on its HAProxy's IP address."""
    return [
        SitePlacement(
            name=s.name,
            location=s.ovh_region,
            data_region=s.aws_region,
            scheme=s.scheme,
            port=s.public_port,
            alias=False,
            key=f"dr:sites[{i}].name",
        )
        for i, s in enumerate(cfg.sites)
    ]


def server_credentials(
    cfg: OvhStackConfig,
    stack: str,
    site,
    provider: aws.Provider,
    data: DataPlane,
    notice: NotificationTopic | None = None,
) -> tuple[dict[str, pulumi.Output], dict[str, pulumi.Output]]:
    """Short-lived AWS credentials for a site's servers (IAM Roles Anywhere in the site's AWS region, for the data
    table and the active-region parameter only): per server, (certificate + AWS config file, private key)."""
    app = cfg.app.name
    identity = WorkloadIdentity(
        f"{app}-{site.name}-identity",
        WorkloadIdentityArgs(
            name=f"{app}-{stack}-{site.name}",
            region=site.aws_region,
            subjects=[server.name for server in site.servers],
            table_arns=data.data_arns,
            parameter_arns=data.parameter_arns,
            control_arns=data.control_arns,
            notice_topic_arn=notice.topic.arn if notice else None,
            notice_key_arn=notice.key.arn if notice else None,
        ),
        opts=pulumi.ResourceOptions(providers={"aws": provider}),
    )
    certificates, keys = {}, {}
    for server in site.servers:
        issued = identity.certificates[server.name]
        certificates[server.name] = pulumi.Output.all(
            cert=issued.certificate_pem,
            anchor=identity.trust_anchor_arn,
            profile=identity.profile_arn,
            role=identity.role_arn,
        ).apply(
            lambda a: {
                "certificatePem": a["cert"],
                "awsConfig": aws_config_file(
                    region=site.aws_region,
                    signing_helper=SIGNING_HELPER,
                    certificate_path=CERTIFICATE_PATH,
                    private_key_path=PRIVATE_KEY_PATH,
                    trust_anchor_arn=a["anchor"],
                    profile_arn=a["profile"],
                    role_arn=a["role"],
                ),
            }
        )
        keys[server.name] = issued.private_key_pem
    return certificates, keys


def declare_sites(
    cfg: OvhStackConfig,
    stack: str,
    providers: Mapping[str, aws.Provider],
    data: DataPlane,
    only: str | None = None,
    notices: Mapping[str, NotificationTopic] | None = None,
) -> dict[str, DeclaredSite]:
    """Every OVHcloud site, or only the one served by AWS region `only` (its region tier)."""
    declared: dict[str, DeclaredSite] = {}
    for site in cfg.sites:
        if only is not None and site.aws_region != only:
            continue
        certificates, keys = server_credentials(
            cfg, stack, site, providers[site.aws_region], data, (notices or {}).get(site.aws_region)
        )
        # pulumi-ovh's default provider (OVH_ENDPOINT, OVH_APPLICATION_KEY, ... or `ovh:` config) serves the
        # server lookups; sites given by address make no OVHcloud call at all.
        ovh_site = OvhSite(site_component_name(cfg.app.name, site.name), OvhSiteArgs.from_config(cfg.ovh, site.name))
        declared[site.aws_region] = DeclaredSite(
            site=ovh_site.site,
            outputs={
                "site": site.name,
                "haproxyIp": ovh_site.public_ip,
                "statsSalt": ovh_site.stats_salt,
                "serverCredentials": certificates,
                "serverPrivateKeys": pulumi.Output.secret(keys),
            },
        )
    return declared


def build(cfg: OvhStackConfig, stack: str) -> dict:
    providers = regional_providers(cfg.regions.all, app=cfg.app.name, stack=stack)
    data = declare_data_plane(cfg, stack, providers)
    topics = declare_notice_topics(cfg, stack, providers, data.account_id)  # the sites' certificate expiry notices too
    declared = declare_sites(cfg, stack, providers, data, notices=topics)
    outputs = declare_dr_plane(cfg, stack, providers, data, {r: d.site for r, d in declared.items()}, topics)
    outputs["sites"] = {r: d.site.name for r, d in declared.items()}
    outputs["haproxyIps"] = {r: d.outputs["haproxyIp"] for r, d in declared.items()}
    outputs["statsSalts"] = {r: d.outputs["statsSalt"] for r, d in declared.items()}
    outputs["serverCredentials"] = pulumi.Output.all(
        *[d.outputs["serverCredentials"] for d in declared.values()]
    ).apply(lambda parts: {server: c for part in parts for server, c in part.items()})
    outputs["serverPrivateKeys"] = pulumi.Output.secret(
        pulumi.Output.all(*[d.outputs["serverPrivateKeys"] for d in declared.values()]).apply(
            lambda parts: {server: k for part in parts for server, k in part.items()}
        )
    )
    return outputs
