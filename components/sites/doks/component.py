"""A DigitalOcean Kubernetes (DOKS) site: the cluster, the app behind a DigitalOcean load balancer, the
workload identity its pods use for DynamoDB and SSM, and the credentials the orchestrator scales it with.

Providers come in `opts`: `providers={"digitalocean": ..., "aws": <the site's AWS region>}`. The
component creates its own Kubernetes provider for the cluster. It hands the DR plane a `Site`. What it computes
from config is in `components.sites.doks.inputs`; the Kubernetes objects in `components.sites.doks.manifests`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_command as command
import pulumi_digitalocean as digitalocean
import pulumi_kubernetes as k8s

from components.iam import scaler_credentials_statements
from components.naming import SECRET, aws_name_prefix
from components.site import Site, SiteEndpoint
from components.sites.doks import manifests as km
from components.sites.doks.config import DigitalOceanConfig, DoSiteConfig
from components.sites.doks.inputs import (
    cluster_name,
    load_balancer_from_config,
    load_balancer_ip,
    scaler_credential,
    scaler_credentials_json,
    version_notice,
    workload_from_config,
    workload_subject,
)
from components.workload_identity import WorkloadIdentity, WorkloadIdentityArgs
from failover.scaling import KubernetesTarget, arn_in_region, scale_target_json

# How the Deployment's replica count follows config (components/sites/doks/replicas.py): the command the site's
# `command.local.Command` runs, from the project directory, with the project's virtualenv (Pulumi.yaml's). Its
# module path is the one existing sites' state records (components/sites/replicas.py runs the moved module), so
# that the move changed no site's command.
REPLICAS_COMMAND = "venv/bin/python -m components.sites.replicas"


def _field(value: Any, name: str) -> Any:
    """An invoke result's nested object arrives as a typed result or as a dict of Python names."""
    return value[name] if isinstance(value, Mapping) else getattr(value, name)


def _log_notice(notice: str | None) -> None:
    if notice:
        pulumi.log.warn(notice)


@dataclass(frozen=True)
class DoksSiteArgs:
    config: DigitalOceanConfig
    """The layout's DigitalOcean keys (cluster, app, probes, load balancer, TLS)."""
    site: DoSiteConfig
    """This site: its region slug and the AWS region that serves it."""
    stack: str
    """Deployment name for physical names (cluster, load balancer, secrets)."""
    active: bool
    """The site that takes traffic first runs `app.replicas`; a standby `app.standbyReplicas`."""
    table_name: str
    parameter_name: str
    cache_seconds: int
    table_arns: pulumi.Input[list]
    """Every replica of the data table: the pods' role may use only these."""
    parameter_arns: pulumi.Input[list]
    """The active-region parameter in every region."""
    control_table: str
    """The control table: the pods confirm their write permission there (`failover.client`)."""
    control_regions: tuple[str, ...]
    """Its replica regions."""
    control_arns: pulumi.Input[list]
    """Its ARN in each replica region (the pods' role may read the control item there)."""
    credentials_replica_regions: list[str] = field(default_factory=list)
    """Other AWS regions (those of the orchestrators) that get a copy of the scaler credentials."""
    notice_topic_arn: pulumi.Input[str] | None = None
    """The site region's notice topic: the workload certificate's expiry notices go there."""
    notice_key_arn: pulumi.Input[str] | None = None


class DoksSite(pulumi.ComponentResource):
    """One DOKS cluster running the app behind a DigitalOcean load balancer.

    Outputs: `site` (for the DR plane), `cluster_id`, `cluster_endpoint`, `load_balancer_ip`,
    `credentials_secret_arn`, `trust_anchor_arn`, `kubernetes_provider` (for anything else the layout
    deploys there).
    """

    site: Site
    cluster_id: pulumi.Output[str]
    cluster_endpoint: pulumi.Output[str]
    load_balancer_ip: pulumi.Output[str]
    credentials_secret_arn: pulumi.Output[str]
    trust_anchor_arn: pulumi.Output[str]
    kubernetes_provider: k8s.Provider

    def __init__(self, name: str, args: DoksSiteArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dr:sites:DoksSite", name, None, opts)
        cluster = self._cluster(name, args)
        self.kubernetes_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self._kubeconfig(cluster),
            # Only a new cluster replaces the provider (and so everything in the cluster); a change to the
            # cluster resource that is unknown during preview is an update.
            cluster_identifier=cluster.id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_cluster = pulumi.ResourceOptions(parent=self, provider=self.kubernetes_provider)
        workload = workload_from_config(
            args.config,
            args.site,
            stack=args.stack,
            active=args.active,
            table_name=args.table_name,
            parameter_name=args.parameter_name,
            cache_seconds=args.cache_seconds,
            control_table=args.control_table,
            control_regions=tuple(args.control_regions),
        )
        identity, deployment, in_namespace = self._workload(name, args, workload, in_cluster)
        service = self._load_balancer(name, args, workload, in_namespace)
        self.credentials_secret_arn, scaler_token = self._scaler_credentials(
            name, args, workload, deployment, in_namespace
        )
        self._replicas_follow_config(name, args, workload, cluster.endpoint, scaler_token, deployment)
        self.cluster_id = cluster.id
        self.cluster_endpoint = cluster.endpoint
        self.load_balancer_ip = service.status.apply(load_balancer_ip)
        self.trust_anchor_arn = identity.trust_anchor_arn
        self.site = self._plane_site(args, workload, cluster)
        self.register_outputs(
            {
                "clusterId": cluster.id,
                "clusterEndpoint": cluster.endpoint,
                "loadBalancerIp": self.load_balancer_ip,
                "credentialsSecretArn": self.credentials_secret_arn,
            }
        )

    def _cluster(self, name: str, args: DoksSiteArgs) -> digitalocean.KubernetesCluster:
        """The cluster at exactly the configured version: a patch release DigitalOcean publishes changes nothing
        until dr:cluster.version does. The versions it offers only inform the operator."""
        cfg, site, app = args.config, args.site, args.config.app.name
        versions = digitalocean.get_kubernetes_versions_output(
            version_prefix=cfg.cluster.version_prefix, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        versions.valid_versions.apply(
            lambda offered: _log_notice(version_notice(cfg.cluster.version, list(offered or [])))
        )
        tags = [f"dr-app:{app}", f"dr-stack:{args.stack}"]
        return digitalocean.KubernetesCluster(
            f"{name}-cluster",
            name=cluster_name(app, args.stack, site.region),
            region=site.region,
            version=cfg.cluster.version,
            ha=cfg.cluster.ha_control_plane,
            auto_upgrade=False,  # upgrades go through `pulumi up`, only when dr:cluster.version changes
            surge_upgrade=True,
            node_pool=digitalocean.KubernetesClusterNodePoolArgs(
                name=f"{app}-{site.region}-pool",
                size=cfg.cluster.node_size,
                auto_scale=True,
                min_nodes=cfg.cluster.min_nodes,
                max_nodes=cfg.cluster.max_nodes,
                labels={"dynamodb-dr/site": site.region},
                tags=tags,
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _workload(
        self,
        name: str,
        args: DoksSiteArgs,
        workload: km.Workload,
        in_cluster: pulumi.ResourceOptions,
    ) -> tuple[WorkloadIdentity, k8s.apps.v1.Deployment, pulumi.ResourceOptions]:
        """The namespace, the pods' AWS identity (certificate Secret and AWS config), the Deployment and its
        disruption budget; returns the identity, the Deployment and the options of objects in the namespace."""
        cfg, site, app = args.config, args.site, args.config.app.name
        labels = km.site_labels(app, site.region)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            **km.resource_kwargs(km.namespace_manifest(workload.namespace, labels)),
            opts=in_cluster,
        )
        in_namespace = pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[namespace]))
        identity = WorkloadIdentity(
            f"{name}-identity",
            WorkloadIdentityArgs(
                name=cluster_name(app, args.stack, site.region),
                region=site.aws_region,
                subjects=[workload_subject(app, args.stack, site.region)],
                table_arns=args.table_arns,
                parameter_arns=args.parameter_arns,
                control_arns=args.control_arns,
                notice_topic_arn=args.notice_topic_arn,
                notice_key_arn=args.notice_key_arn,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        certificate = identity.certificates[workload_subject(app, args.stack, site.region)]
        identity_secret = k8s.core.v1.Secret(
            f"{name}-workload-identity",
            **km.resource_kwargs(
                km.workload_identity_secret_manifest(
                    app,
                    site.region,
                    workload.namespace,
                    certificate.certificate_pem,
                    pulumi.Output.secret(certificate.private_key_pem),
                )
            ),
            opts=in_namespace,
        )
        aws_config = k8s.core.v1.ConfigMap(
            f"{name}-aws-config",
            **km.resource_kwargs(
                km.aws_config_map_manifest(
                    app,
                    site.region,
                    workload.namespace,
                    identity.aws_config(
                        signing_helper=cfg.app.signing_helper_path,
                        certificate_path=f"{km.AWS_CREDENTIALS_DIR}/{km.CERTIFICATE_KEY}",
                        private_key_path=f"{km.AWS_CREDENTIALS_DIR}/{km.PRIVATE_KEY_KEY}",
                    ),
                )
            ),
            opts=in_namespace,
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            **km.resource_kwargs(km.deployment_manifest(workload)),
            # The orchestrator scales the standby up on failover; the next deploy must not scale it back.
            opts=pulumi.ResourceOptions.merge(
                in_namespace,
                pulumi.ResourceOptions(depends_on=[identity_secret, aws_config], ignore_changes=["spec.replicas"]),
            ),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", **km.resource_kwargs(km.pod_disruption_budget_manifest(workload)), opts=in_namespace
        )
        return identity, deployment, in_namespace

    def _load_balancer(
        self, name: str, args: DoksSiteArgs, workload: km.Workload, in_namespace: pulumi.ResourceOptions
    ) -> k8s.core.v1.Service:
        """The Service DigitalOcean's cloud controller backs with a load balancer (HTTPS with the configured
        certificate, which is looked up so that a missing one fails the preview, not the controller later)."""
        cfg = args.config
        certificate_name = None
        if cfg.tls:
            certificate_name = digitalocean.get_certificate_output(
                name=cfg.tls.certificate_name, opts=pulumi.InvokeOutputOptions(parent=self)
            ).name
        return k8s.core.v1.Service(
            f"{name}-service",
            **km.resource_kwargs(
                km.load_balancer_service_manifest(
                    workload,
                    load_balancer_from_config(cfg, args.site, stack=args.stack, certificate_name=certificate_name),
                )
            ),
            opts=in_namespace,
        )

    def _plane_site(self, args: DoksSiteArgs, workload: km.Workload, cluster: digitalocean.KubernetesCluster) -> Site:
        """What the site hands the DR plane: its load balancer's IP, and how the orchestrator scales it (the
        Deployment's scale subresource, with the credentials in Secrets Manager)."""
        cfg, site = args.config, args.site
        replicas = cfg.app.replicas
        return Site(
            name=site.region,
            location=site.region,
            data_region=site.aws_region,
            endpoint=SiteEndpoint(scheme=cfg.scheme, port=cfg.public_port, ip_address=self.load_balancer_ip),
            scale_target=pulumi.Output.all(cluster.endpoint, self.credentials_secret_arn).apply(
                lambda a: scale_target_json(
                    KubernetesTarget(
                        server=a[0],
                        namespace=workload.namespace,
                        deployment=workload.app,
                        replicas=replicas,
                        credentials_secret_arn=a[1],
                    )
                )
            ),
            orchestrator_statements=self.credentials_secret_arn.apply(
                lambda arn: scaler_credentials_statements(
                    [arn_in_region(arn, r) for r in dict.fromkeys([site.aws_region, *args.credentials_replica_regions])]
                )
            ),
            outputs={
                "clusterId": cluster.id,
                "clusterEndpoint": cluster.endpoint,
                "loadBalancerIp": self.load_balancer_ip,
                "trustAnchorArn": self.trust_anchor_arn,
            },
        )

    def _kubeconfig(self, cluster: digitalocean.KubernetesCluster) -> pulumi.Output[str]:
        """A kubeconfig that is the same on every run: the cluster's endpoint and CA, and an exec credential that
        asks `doctl` for a short-lived token whenever the provider connects (preview, up, refresh, destroy; a
        stored kubeconfig would hold a token that expires). It holds no credential, so it is not secret: a
        preview shows it, and shows no change."""
        return pulumi.Output.unsecret(
            pulumi.Output.all(cluster.name, cluster.id, cluster.endpoint, cluster.kube_configs).apply(
                lambda a: km.kubeconfig(
                    cluster=a[0],
                    server=a[2],
                    certificate_authority_data=_field(a[3][0], "cluster_ca_certificate"),
                    exec_credential=km.doctl_exec_credential(a[1]),
                )
            )
        )

    def _replicas_follow_config(
        self,
        name: str,
        args: DoksSiteArgs,
        workload: km.Workload,
        server: pulumi.Output[str],
        scaler_token: k8s.core.v1.Secret,
        deployment: k8s.apps.v1.Deployment,
    ) -> None:
        """Scale the Deployment to its role's configured count when the site is created and whenever a count
        changes in config, and never otherwise (components/sites/doks/replicas.py)."""
        app = args.config.app
        data = scaler_token.data
        token: pulumi.Output[str] = pulumi.Output.secret(data.apply(lambda d: scaler_credential(d, "token")))
        ca: pulumi.Output[str] = pulumi.Output.secret(data.apply(lambda d: scaler_credential(d, "ca.crt")))
        command.local.Command(
            f"{name}-replicas",
            create=REPLICAS_COMMAND,
            environment={
                "DR_REPLICAS_SERVER": server,
                "DR_REPLICAS_NAMESPACE": workload.namespace,
                "DR_REPLICAS_DEPLOYMENT": workload.app,
                "DR_REPLICAS_ACTIVE": str(app.replicas),
                "DR_REPLICAS_STANDBY": str(app.standby_replicas),
                "DR_REPLICAS_REGION": args.site.aws_region,
                "DR_REPLICAS_PRIMARY": args.config.sites[0].aws_region,
                "DR_REPLICAS_PARAMETER": args.parameter_name,
                "DR_REPLICAS_TOKEN": token,
                "DR_REPLICAS_CA": ca,
            },
            # Only these re-run it: a failover's scale-up survives every deploy that leaves them alone.
            triggers=[app.replicas, app.standby_replicas],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment, scaler_token]),
        )

    def _scaler_credentials(
        self,
        name: str,
        args: DoksSiteArgs,
        workload: km.Workload,
        deployment: k8s.apps.v1.Deployment,
        opts: pulumi.ResourceOptions,
    ) -> tuple[pulumi.Output[str], k8s.core.v1.Secret]:
        """The ServiceAccount allowed only to scale the Deployment, its token in Secrets Manager (site's
        AWS region, replicated to the orchestrators' regions); returns the secret's ARN and the token Secret."""
        app, slug, ns = workload.app, workload.site, workload.namespace
        account = k8s.core.v1.ServiceAccount(
            f"{name}-scaler", **km.resource_kwargs(km.scaler_service_account_manifest(app, slug, ns)), opts=opts
        )
        role = k8s.rbac.v1.Role(
            f"{name}-scaler",
            **km.resource_kwargs(km.scaler_role_manifest(app, slug, ns, workload.app)),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[deployment])),
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-scaler",
            **km.resource_kwargs(km.scaler_role_binding_manifest(app, slug, ns)),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[account, role])),
        )
        token = k8s.core.v1.Secret(
            f"{name}-scaler-token",
            **km.resource_kwargs(km.scaler_token_secret_manifest(app, slug, ns)),
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[account], additional_secret_outputs=["data"])
            ),
        )
        in_aws = pulumi.ResourceOptions(parent=self)
        replicas = [r for r in dict.fromkeys(args.credentials_replica_regions) if r != args.site.aws_region]
        secret = aws.secretsmanager.Secret(
            f"{name}-scaler",
            name_prefix=aws_name_prefix(SECRET, f"{app}/{args.stack}/{slug}/kubernetes-scaler-"),
            description=f"Token and CA of the ServiceAccount that scales {ns}/{app} on {slug}",
            recovery_window_in_days=7,
            replicas=[aws.secretsmanager.SecretReplicaArgs(region=r) for r in replicas],
            opts=in_aws,
        )
        credentials: pulumi.Output[str] = pulumi.Output.secret(token.data.apply(scaler_credentials_json))
        aws.secretsmanager.SecretVersion(
            f"{name}-scaler",
            secret_id=secret.id,
            secret_string=credentials,
            opts=in_aws,
        )
        return secret.arn, token
