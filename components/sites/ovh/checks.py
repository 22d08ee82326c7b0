"""Rules across the `ovh-hybrid` layout's own keys (distinct sites, servers and ports, one secret entry per
site, the addresses a site's HAProxy listens on and forwards to), and `parse_ovh_sites`, which validates just
`dr:sites` and `dr:siteSecrets`. Mistakes are one ConfigError naming the key path
(`dr:sites[0].servers[1].address: ...`); a secret's value never appears in a message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from components.config_base import NAMESPACE, ConfigError, friendly_message, loc_to_path
from components.sites.ovh.config import OVH_KEYS, OvhSiteConfig, OvhSitesConfig, OvhStackConfig
from components.sites.ovh.validators import is_loopback, is_private_ipv4, is_wildcard


def _secret_command(site: str, field: str) -> str:
    return f"pulumi config set --secret --path '{NAMESPACE}:siteSecrets.{site}.{field}'"


def _check_secrecy(values: Mapping[str, Any], secret_keys: frozenset[str]) -> None:
    if "sites" in secret_keys:
        raise ConfigError(
            f"{NAMESPACE}:sites",
            "holds a secret, but this key is plain configuration that deploys "
            f"show; put secrets in {NAMESPACE}:siteSecrets",
        )
    if "siteSecrets" in values and "siteSecrets" not in secret_keys:
        raise ConfigError(
            f"{NAMESPACE}:siteSecrets", f"must be set with `{_secret_command('SITE', 'NAME')}`, not in plain text"
        )


def check_ovh_sites(cfg: OvhSitesConfig) -> None:
    """Rules spanning several keys (distinct sites, servers and ports, one secret entry per site); each raises
    ConfigError naming the most specific key. Run it on any model that embeds OvhSitesConfig."""
    key = f"{NAMESPACE}:sites"
    seen: dict[str, dict[str, int]] = {"name": {}, "ovhRegion": {}, "awsRegion": {}, "publicIp": {}}
    for i, site in enumerate(cfg.sites):
        for field, value in (
            ("name", site.name),
            ("ovhRegion", site.ovh_region),
            ("awsRegion", site.aws_region),
            ("publicIp", site.haproxy.public_ip),
        ):
            where = f"{key}[{i}].{'haproxy.' if field == 'publicIp' else ''}{field}"
            if value is not None and value in seen[field]:
                raise ConfigError(where, f"{value} is already used by {key}[{seen[field][value]}]")
            if value is not None:
                seen[field][value] = i
        _check_site(site, f"{key}[{i}]")
    _check_across_sites(cfg.sites)
    names = [s.name for s in cfg.sites]
    for name in cfg.site_secrets:
        if name not in names:
            raise ConfigError(f"{NAMESPACE}:siteSecrets.{name}", f"{name!r} is not a site ({', '.join(names)})")
    for site in cfg.sites:
        secrets = cfg.site_secrets.get(site.name)
        where = f"{NAMESPACE}:siteSecrets.{site.name}"
        if secrets is None:
            raise ConfigError(
                f"{where}.statsPassword",
                f"required key is missing; set it with `{_secret_command(site.name, 'statsPassword')}`",
            )
        if site.tls and secrets.tls_key is None:
            raise ConfigError(
                f"{where}.tlsKey",
                f"the site has a certificate but no key; set it with `{_secret_command(site.name, 'tlsKey')}`",
            )
        if not site.tls and secrets.tls_key is not None:
            raise ConfigError(f"{where}.tlsKey", f"a key without a certificate (set {key} entry {site.name!r} tls)")


def _check_across_sites(sites: list[OvhSiteConfig]) -> None:
    """What no two sites may share: a server name (it names the server's certificate and its credential outputs,
    which would overwrite each other), a private address (a site's backup would be itself), an OVHcloud server."""
    key = f"{NAMESPACE}:sites"
    servers: dict[str, str] = {}
    private: dict[str, int] = {}
    services: dict[str, tuple[int, str]] = {}
    for i, site in enumerate(sites):
        address = site.haproxy.private_address
        if address in private:
            raise ConfigError(
                f"{key}[{i}].haproxy.privateAddress",
                f"{address} is already {key}[{private[address]}]'s; each site's HAProxy needs its own "
                "private address, or a site's backup would be itself",
            )
        private[address] = i
        for j, server in enumerate(site.servers):
            where = f"{key}[{i}].servers[{j}]"
            if server.name in servers and not servers[server.name].startswith(f"{key}[{i}]."):
                raise ConfigError(
                    f"{where}.name",
                    f"{server.name!r} is already {servers[server.name]}; server names "
                    "name certificates and credential outputs across every site",
                )
            servers.setdefault(server.name, where)
        found = [("haproxy.serviceName", site.haproxy.service_name)] + [
            (f"servers[{j}].serviceName", s.service_name) for j, s in enumerate(site.servers)
        ]
        for field, service in found:
            if service is None:
                continue
            if service in services and services[service][0] != i:
                other, other_field = services[service]
                raise ConfigError(
                    f"{key}[{i}].{field}",
                    f"{service} is already {key}[{other}].{other_field} "
                    f"({sites[other].ovh_region}); a server is in one site only",
                )
            services.setdefault(service, (i, field))


def _check_site(site: OvhSiteConfig, where: str) -> None:
    host = site.haproxy
    if (host.public_ip is None) == (host.service_name is None):
        raise ConfigError(
            f"{where}.haproxy.publicIp",
            "give either publicIp or serviceName (the public IP is then read from OVHcloud), not both",
        )
    if is_loopback(host.private_address):
        raise ConfigError(
            f"{where}.haproxy.privateAddress",
            f"{host.private_address} is a loopback address: the other sites' HAProxies send their "
            "overflow to it, so it must be the host's vRack address they reach",
        )
    if host.bind_address is not None:
        if is_private_ipv4(host.bind_address) or is_wildcard(host.bind_address):
            raise ConfigError(
                f"{where}.haproxy.bindAddress",
                f"{host.bind_address} is not a public address: the public frontends must listen where "
                "Route 53 and clients reach the host (its public IP; leave bindAddress out for every "
                "address)",
            )
        if host.public_ip is not None and host.bind_address != host.public_ip:
            raise ConfigError(
                f"{where}.haproxy.bindAddress",
                f"{host.bind_address} is not this host's public address ({host.public_ip}); HAProxy "
                "cannot listen on an address the host lacks",
            )
    stats = site.stats
    if stats.bind_address != host.private_address and not is_loopback(stats.bind_address):
        raise ConfigError(
            f"{where}.stats.bindAddress",
            f"{stats.bind_address} is not an address of this host: use its private address "
            f"({host.private_address}) or a loopback address",
        )
    servers: dict[str, int] = {}
    endpoints: dict[tuple[str, int], int] = {}
    for j, server in enumerate(site.servers):
        if server.name in servers:
            raise ConfigError(
                f"{where}.servers[{j}].name", f"{server.name!r} is already servers[{servers[server.name]}]"
            )
        servers[server.name] = j
        endpoint = (server.address, server.port)
        if endpoint in endpoints:
            raise ConfigError(
                f"{where}.servers[{j}].address",
                f"{server.address}:{server.port} is already servers[{endpoints[endpoint]}]",
            )
        endpoints[endpoint] = j
    ports = {
        "haproxy.sshPort": host.ssh_port,
        "haproxy.httpPort": host.http_port,
        "haproxy.peerPort": host.peer_port,
        "stats.port": site.stats.port,
    }
    if site.tls:
        ports["haproxy.httpsPort"] = host.https_port
    used: dict[int, str] = {}
    for field, port in ports.items():
        if port in used:
            what = "sshd's port (haproxy.sshPort)" if used[port] == "haproxy.sshPort" else used[port]
            raise ConfigError(f"{where}.{field}", f"port {port} is already {what}")
        used[port] = field
    own = {host.private_address, stats.bind_address, *(a for a in (host.public_ip, host.bind_address) if a)}
    listening = {port: field for field, port in ports.items() if field != "haproxy.sshPort"}
    for j, server in enumerate(site.servers):
        if (server.address in own or is_loopback(server.address)) and server.port in listening:
            raise ConfigError(
                f"{where}.servers[{j}].port",
                f"{server.address}:{server.port} is this HAProxy's own {listening[server.port]}: "
                "requests would loop through the proxy",
            )


def _message(err: Mapping[str, Any]) -> str:
    """pydantic's error as one line; for secrets, never the value that was given."""
    if err["loc"] and err["loc"][0] == "siteSecrets":
        return friendly_message({**err, "input": {}})
    return friendly_message(err)


def parse_ovh_sites(values: Mapping[str, Any], secret_keys: frozenset[str] = frozenset()) -> OvhSitesConfig:
    """Validate the raw `dr:sites` and `dr:siteSecrets` values (other keys are ignored) into OvhSitesConfig.

    `secret_keys` names the keys that arrived as Pulumi secrets: `siteSecrets` must be one (it is listed in
    components.stack_file.SECRET_KEYS), `sites` must not. Raises ConfigError for the first problem found.
    """
    _check_secrecy(values, secret_keys)
    if "sites" not in values:
        raise ConfigError(f"{NAMESPACE}:sites", "required key is missing")
    try:
        cfg = OvhSitesConfig.model_validate({k: values[k] for k in OVH_KEYS if k in values})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(loc_to_path(first["loc"]), _message(first)) from None
    check_ovh_sites(cfg)
    return cfg


def ovh_stack_checks(cfg: OvhStackConfig) -> None:
    check_ovh_sites(cfg.ovh)
    for i, site in enumerate(cfg.sites):
        if site.health_check.path != cfg.app.health_path:
            raise ConfigError(
                f"{NAMESPACE}:sites[{i}].healthCheck.path",
                f"{site.health_check.path!r} differs from app.healthPath ({cfg.app.health_path!r}); "
                "Route 53 checks every site on the same path",
            )
