"""An OVHcloud site: existing servers behind the region's HAProxy, whose config Pulumi renders and delivers.

Nothing here orders a server: with an OVHcloud service name the server is read through pulumi-ovh's data
source (and must be in the site's region); otherwise its addresses come from config. The HAProxy config
is rendered by `haproxy_config.render_haproxy_config`, copied to the host over SSH (pinned host key,
private key from a Pulumi secret) and installed by a remote command that runs `haproxy -c` and reloads
only when the check passes. The site is handed to the DR plane as a `Site` with an IP endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import pulumi
import pulumi_command as command
import pulumi_ovh as ovh
import pulumi_random as random

from components.site import Site, SiteEndpoint
from components.sites.ovh.config import OvhSiteConfig, OvhSitesConfig, backup_sites
from components.sites.ovh.haproxy_config import (
    STAGED_CONFIG,
    HostRuntime,
    deploy_script,
    haproxy_site_inputs,
    hash_stats_password,
    redact_password_hashes,
    render_haproxy_config,
)
from components.sites.ovh.names import STATS_SALT_LENGTH, STATS_SALT_SPECIAL, stats_salt_name
from components.sites.ovh.validators import datacenter_region
from failover.scaling import NoScaling, scale_target_json


@dataclass(frozen=True)
class OvhSiteArgs:
    site: OvhSiteConfig
    """This site's validated config."""
    backups: list[OvhSiteConfig]
    """The other sites, in the order this HAProxy falls back to them (`config.backup_sites`)."""
    stats_password: pulumi.Input[str]
    """Plaintext of the stats password, as a Pulumi secret; only its sha512-crypt hash reaches the host."""
    ssh_private_key: pulumi.Input[str]
    """Private key of `site.haproxy.ssh_user`, as a Pulumi secret."""
    tls_key: pulumi.Input[str] | None = None
    """Private key of `site.tls.certificate`, as a Pulumi secret (required when the site has a certificate)."""
    runtime: HostRuntime = field(default_factory=HostRuntime)
    """Where HAProxy runs on the host (Debian's package layout by default)."""
    key: str = "dr:sites[]"
    """The site's config key (`dr:sites[1]`), which lookup errors name."""

    @staticmethod
    def from_config(cfg: OvhSitesConfig, name: str) -> OvhSiteArgs:
        """Site `name` of a validated config, its secrets wrapped as Pulumi secrets."""
        secrets = cfg.secrets_of(name)
        index = next(i for i, s in enumerate(cfg.sites) if s.name == name)
        return OvhSiteArgs(
            key=f"dr:sites[{index}]",
            site=cfg.site(name),
            backups=backup_sites(cfg.sites, name),
            stats_password=pulumi.Output.secret(secrets.stats_password.get_secret_value()),
            ssh_private_key=pulumi.Output.secret(secrets.ssh_private_key.get_secret_value()),
            tls_key=pulumi.Output.secret(secrets.tls_key.get_secret_value()) if secrets.tls_key else None,
        )


def server_lookup_problem(
    where: str, ovh_region: str, datacenter: str, state: str, ip: str | None = None, bind_address: str | None = None
) -> str | None:
    """Why a looked-up OVHcloud server cannot serve site region `ovh_region` (or, for the HAProxy host, listen on
    `bind_address`), or None when it can."""
    found = datacenter_region(datacenter)
    if found != ovh_region:
        return f"{where}: the OVHcloud server is in datacenter {datacenter or '?'}, not in region {ovh_region}"
    if state and state != "ok":
        return f"{where}: the OVHcloud server is in state {state!r}, not 'ok'"
    if bind_address and ip and bind_address != ip:
        return f"{where}: haproxy.bindAddress {bind_address} is not the server's public address {ip}"
    return None


class OvhSite(pulumi.ComponentResource):
    """One OVHcloud site. Outputs: `site` (for the DR plane), `public_ip`, `stats_password_hash` and `config`
    (the rendered haproxy.cfg, which holds that hash), both Pulumi secrets, `reviewable_config` (the same text
    with the hash redacted: what previews show), `stats_salt`, `install_stdout`."""

    site: Site
    public_ip: pulumi.Output[str]
    stats_password_hash: pulumi.Output[str]
    config: pulumi.Output[str]
    reviewable_config: pulumi.Output[str]
    stats_salt: pulumi.Output[str]
    install_stdout: pulumi.Output[str]

    def __init__(self, name: str, args: OvhSiteArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("dr:sites:OvhSite", name, None, opts)
        cfg = args.site
        if cfg.tls and args.tls_key is None:
            raise ValueError(f"site {cfg.name} has a certificate but no tls_key")
        child = pulumi.ResourceOptions(parent=self)

        self.public_ip, checks = self._lookups(cfg, args.key)
        salt = random.RandomString(
            stats_salt_name(name),
            length=STATS_SALT_LENGTH,
            special=STATS_SALT_SPECIAL,
            # a new password gets a new salt; the keeper is stored as a secret, like the password
            keepers={"statsPassword": pulumi.Output.secret(args.stats_password)},
            opts=child,
        )
        self.stats_salt = salt.result
        # The hash is a secret (in state, in previews, in PR comments): sha512-crypt at 5000 rounds is cheap
        # enough to test password guesses against offline. Wrapped explicitly, not left to propagation.
        self.stats_password_hash = pulumi.Output.secret(
            pulumi.Output.all(args.stats_password, salt.result).apply(lambda v: hash_stats_password(*v))
        )
        inputs = haproxy_site_inputs(cfg, args.backups)
        self.config = pulumi.Output.secret(
            pulumi.Output.all(self.stats_password_hash, *checks).apply(
                lambda v: render_haproxy_config(inputs, v[0], args.runtime)
            )
        )
        # Everything but the hash, not secret: reviewers see the config's diff in previews.
        self.reviewable_config = pulumi.Output.unsecret(self.config.apply(redact_password_hashes))

        connection = command.remote.ConnectionArgs(
            host=self.public_ip,
            port=cfg.haproxy.ssh_port,
            user=cfg.haproxy.ssh_user,
            private_key=pulumi.Output.secret(args.ssh_private_key),
            host_key=cfg.haproxy.pinned_host_key,
        )
        copy = command.remote.CopyToRemote(
            f"{name}-haproxy-cfg",
            connection=connection,
            source=self.config.apply(pulumi.StringAsset),
            remote_path=STAGED_CONFIG,
            opts=child,
        )
        pem: pulumi.Output[str] | None = (
            pulumi.Output.secret(pulumi.Output.concat(cfg.tls.certificate, args.tls_key, "\n"))
            if cfg.tls and args.tls_key is not None
            else None
        )
        install = command.remote.Command(
            f"{name}-haproxy-install",
            connection=connection,
            create=deploy_script(
                site=cfg.name, tls=pem is not None, sudo=cfg.haproxy.ssh_user != "root", cert_dir=args.runtime.cert_dir
            ),
            stdin=pem,
            # A change re-runs the install: the redacted text shows what changed, the secret one also catches a
            # new password (whose hash the redacted text leaves out).
            triggers=[self.reviewable_config, self.config],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[copy]),
        )
        self.install_stdout = install.stdout
        self.site = Site(
            name=cfg.name,
            location=cfg.ovh_region,
            data_region=cfg.aws_region,
            endpoint=SiteEndpoint(scheme=cfg.scheme, port=cfg.public_port, ip_address=self.public_ip),
            scale_target=scale_target_json(NoScaling()),
            outputs={"publicIp": self.public_ip, "statsSalt": self.stats_salt},
        )
        self.register_outputs(
            {
                "publicIp": self.public_ip,
                "statsSalt": self.stats_salt,
                "config": self.config,
                "statsPasswordHash": self.stats_password_hash,
            }
        )

    def _lookups(self, cfg: OvhSiteConfig, key: str) -> tuple[pulumi.Output[str], list[pulumi.Output]]:
        """The HAProxy's public IP (from config, or from OVHcloud) and the checks of every looked-up server."""
        invoke = pulumi.InvokeOutputOptions(parent=self)
        checks: list[pulumi.Output] = []

        def checked(where: str, result: ovh.GetServerResult, host: bool = False) -> ovh.GetServerResult:
            problem = server_lookup_problem(
                where,
                cfg.ovh_region,
                result.datacenter,
                result.state,
                result.ip,
                cfg.haproxy.bind_address if host else None,
            )
            if problem:
                raise pulumi.RunError(problem)  # the engine prints the message, no traceback
            return result

        if cfg.haproxy.service_name:
            host = ovh.get_server_output(service_name=cfg.haproxy.service_name, opts=invoke).apply(
                lambda r: checked(
                    f"{key}.haproxy.serviceName: site {cfg.name} haproxy ({cfg.haproxy.service_name})", r, host=True
                )
            )
            public_ip = host.ip
            checks.append(public_ip)
        else:
            public_ip = pulumi.Output.from_input(cfg.haproxy.public_ip or "")
        for j, server in enumerate(cfg.servers):
            if server.service_name:
                found = ovh.get_server_output(service_name=server.service_name, opts=invoke).apply(
                    partial(
                        checked,
                        f"{key}.servers[{j}].serviceName: site {cfg.name} server {server.name} ({server.service_name})",
                    )
                )
                checks.append(found.datacenter)
        return public_ip, checks
