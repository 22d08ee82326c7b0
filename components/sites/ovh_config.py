"""The `ovh-hybrid` layout's own keys: OVHcloud servers behind one HAProxy per region.

`dr:sites` lists the sites in failover priority (each an OVHcloud region paired with the AWS region that
serves its data); `dr:siteSecrets` holds each site's secrets and is accepted only as a Pulumi secret.
`parse_ovh_sites` reads just these two keys, so the operator CLI can render a site's HAProxy config from a
stack file without the rest of the stack's model. Mistakes are one line naming the key path
(`dr:sites[0].servers[1].address: ...`); a secret's value never appears in a message.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import re
import struct
from typing import Any, Mapping, Optional

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator

from components.config import (
    NAMESPACE,
    AppConfig,
    CommonConfig,
    ConfigError,
    RegionsConfig,
    _check_region,
    _friendly,
    _loc_to_path,
    _Model,
)

OVH_KEYS = ("sites", "siteSecrets")

# OVHcloud locations, as the OVHcloud API names dedicated servers' datacenters (`gra3`, `rbx-hz`, `ynm1`):
# the region code is the datacenter's letters, upper-cased.
OVH_REGIONS: dict[str, str] = {
    "BHS": "Beauharnois",
    "ERI": "Erith (London)",
    "GRA": "Gravelines",
    "HIL": "Hillsboro",
    "LIM": "Limburg (Frankfurt)",
    "RBX": "Roubaix",
    "SBG": "Strasbourg",
    "SGP": "Singapore",
    "SYD": "Sydney",
    "VIN": "Vint Hill",
    "WAW": "Warsaw",
    "YNM": "Mumbai",
}

# Bounds of the HAProxy health check, shared with the policy pack (policies/rules_haproxy.py).
INTER_MS_BOUNDS = (500, 30_000)
RISE_BOUNDS = (1, 10)
FALL_BOUNDS = (1, 10)
WEIGHT_BOUNDS = (1, 256)
MIN_STATS_PASSWORD_LENGTH = 16

SSH_HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)
RSA_HOST_KEY_TYPES = ("ssh-rsa", "rsa-sha2-256", "rsa-sha2-512")
"""Refused: for an RSA host key pulumi-command offers only the `ssh-rsa` (SHA-1) signature, which OpenSSH 8.8 and
later refuse by default, so the delivery would fail on the first `pulumi up`."""
# RFC 5737: reserved for documentation, accepted as "public" so that examples never name a real host.
_DOCUMENTATION_NETS = tuple(ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
_PRIVATE_NETS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8")
)
_SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_SITE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,14}[a-z0-9]$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_STATS_USER = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{1,252}$")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_PEM_CERTIFICATE = re.compile(
    r"^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*"
    r"(-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)*$"
)
_URL_PATH = re.compile(r"^/[A-Za-z0-9._~%/=&+,:@-]*$")  # no query, space, quote or '#': HAProxy reads it bare


def _ipv4(value: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except (ipaddress.AddressValueError, ValueError):
        raise ValueError(f"{value!r} is not an IPv4 address") from None


def is_wildcard(address: str) -> bool:
    """`*`, an empty host, 0.0.0.0 or :: — a bind on every address of the host."""
    return address.strip() in ("", "*", "0.0.0.0", "::", "[::]", "ipv4@", "ipv6@")


def is_private_ipv4(address: str) -> bool:
    """RFC 1918, carrier-grade NAT (OVHcloud vRack and Public Cloud private networks use these) or loopback."""
    try:
        ip = ipaddress.IPv4Address(address)
    except (ipaddress.AddressValueError, ValueError):
        return False
    return any(ip in net for net in _PRIVATE_NETS)


def check_public_ipv4(value: str) -> str:
    ip = _ipv4(value)
    if not (ip.is_global or any(ip in net for net in _DOCUMENTATION_NETS)):
        raise ValueError(f"{value} is not a public IPv4 address")
    return value


def check_private_ipv4(value: str) -> str:
    _ipv4(value)
    if is_wildcard(value):
        raise ValueError(f"{value} is the wildcard address; give one private address")
    if not is_private_ipv4(value):
        raise ValueError(f"{value} is not a private address (10/8, 172.16/12, 192.168/16, 100.64/10 or loopback)")
    return value


def authorized_key_from_known_hosts(line: str) -> str:
    """The `type base64` key of one known_hosts line (the form the SSH client pins); ValueError if malformed."""
    fields = line.split()
    if fields and fields[0].startswith("@"):
        raise ValueError(f"markers such as {fields[0]} are not supported; give the host's own key line")
    if len(fields) < 3:
        raise ValueError("expected one known_hosts line: 'HOST KEY-TYPE BASE64-KEY'")
    key_type, blob = fields[1], fields[2]
    if key_type in RSA_HOST_KEY_TYPES:
        raise ValueError(f"{key_type} is an RSA host key: pulumi-command would offer only ssh-rsa (SHA-1), which "
                         "OpenSSH 8.8 and later refuse; give the host's ed25519 or ECDSA key instead "
                         "(ssh-keyscan -t ed25519 HOST)")
    if key_type not in SSH_HOST_KEY_TYPES:
        raise ValueError(f"{key_type!r} is not an SSH host key type ({', '.join(SSH_HOST_KEY_TYPES)})")
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        encoded_type = raw[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError):
        raise ValueError("the key is not valid base64 SSH key data") from None
    if encoded_type != key_type and not (key_type.startswith("rsa-sha2-") and encoded_type == "ssh-rsa"):
        raise ValueError(f"the key data is a {encoded_type!r} key, the line says {key_type!r}")
    return f"{key_type} {blob}"


def certificate_chain_problem(pem: str, now: Optional[datetime.datetime] = None) -> None:
    """ValueError naming the block of a PEM chain whose body is not an X.509 certificate, or the first certificate
    that has expired (HAProxy would load it and every client would refuse it)."""
    from cryptography import x509

    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    for i, block in enumerate(blocks):
        try:
            certificate = x509.load_pem_x509_certificate(block.encode())
        except ValueError:
            raise ValueError(f"certificate {i + 1} of the chain is not an X.509 certificate (its base64 body does "
                             "not decode as one)") from None
        if certificate.not_valid_after_utc < now:
            raise ValueError(f"certificate {i + 1} of the chain expired on "
                             f"{certificate.not_valid_after_utc:%Y-%m-%d}") from None


def datacenter_region(datacenter: str) -> Optional[str]:
    """The OVHcloud region code of a dedicated server's datacenter (`gra3` -> GRA, `rbx-hz` -> RBX), or None."""
    letters = re.match(r"^([a-z]+)", datacenter or "")
    code = letters.group(1).upper() if letters else ""
    return code if code in OVH_REGIONS else None


class HaproxyHostConfig(_Model):
    """The host that runs the site's HAProxy; it exists already and is never ordered."""

    public_ip: Optional[str] = Field(None, description="Public IPv4: the site's endpoint (Route 53 checks it).")
    service_name: Optional[str] = Field(
        None, description="OVHcloud dedicated server service name: the public IP is then read from OVHcloud."
    )
    private_address: str = Field(description="Private (vRack) IPv4; other regions' HAProxies forward to it.")
    ssh_user: str = Field(description="User the deployment logs in as; non-root users need sudo without password.")
    ssh_port: int = Field(22, ge=1, le=65535)
    ssh_host_key: str = Field(description="The host's key as one known_hosts line; the connection is pinned to it.")
    bind_address: Optional[str] = Field(
        None, description="Address of the public frontends (default: every IPv4 address of the host)."
    )
    http_port: int = Field(80, ge=1, le=65535)
    https_port: int = Field(443, ge=1, le=65535)
    peer_port: int = Field(8081, ge=1, le=65535, description="Private port for traffic from other regions.")

    _public = field_validator("public_ip")(classmethod(lambda cls, v: v if v is None else check_public_ipv4(v)))
    _private = field_validator("private_address")(classmethod(lambda cls, v: check_private_ipv4(v)))

    @field_validator("bind_address")
    @classmethod
    def _bind(cls, v: Optional[str]) -> Optional[str]:
        if v is not None:
            _ipv4(v)
        return v

    @field_validator("service_name")
    @classmethod
    def _service(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _SERVICE_NAME.match(v):
            raise ValueError(f"{v!r} is not an OVHcloud service name (like ns1234567.ip-203-0-113.eu)")
        return v

    @field_validator("ssh_user")
    @classmethod
    def _user(cls, v: str) -> str:
        if not _USER.match(v):
            raise ValueError(f"{v!r} is not a Unix user name")
        return v

    @field_validator("ssh_host_key")
    @classmethod
    def _host_key(cls, v: str) -> str:
        authorized_key_from_known_hosts(v)
        return v.strip()

    @property
    def pinned_host_key(self) -> str:
        return authorized_key_from_known_hosts(self.ssh_host_key)


class AppServerConfig(_Model):
    """One existing application server behind the site's HAProxy."""

    name: str
    address: str = Field(description="Private IPv4 the HAProxy reaches the server on.")
    port: int = Field(ge=1, le=65535)
    weight: int = Field(100, ge=WEIGHT_BOUNDS[0], le=WEIGHT_BOUNDS[1])
    service_name: Optional[str] = Field(None, description="OVHcloud service name: the server is looked up.")

    _address = field_validator("address")(classmethod(lambda cls, v: check_private_ipv4(v)))
    _service = field_validator("service_name")(classmethod(lambda cls, v: HaproxyHostConfig._service(v)))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _SERVER_NAME.match(v):
            raise ValueError(f"{v!r} must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
        return v


class SiteHealthCheckConfig(_Model):
    """How the HAProxy checks each application server (and the other regions' HAProxies)."""

    path: str = "/health"
    host: str = Field(description="Host header of the check request.")
    expect_status: int = Field(
        200, ge=200, le=399,
        description="A 2xx or 3xx status: HAProxy counts a server that answers it as up (Route 53 too), so an "
        "error status here would keep failing servers in rotation.")
    inter_ms: int = Field(2000, ge=INTER_MS_BOUNDS[0], le=INTER_MS_BOUNDS[1])
    rise: int = Field(2, ge=RISE_BOUNDS[0], le=RISE_BOUNDS[1])
    fall: int = Field(3, ge=FALL_BOUNDS[0], le=FALL_BOUNDS[1])

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not _URL_PATH.match(v):
            raise ValueError(f"{v!r} must be an absolute URL path like /health (no query, spaces or quotes)")
        return v

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not _HOSTNAME.match(v):
            raise ValueError(f"{v!r} is not a host name")
        return v


class StatsConfig(_Model):
    """HAProxy's statistics page: private address only, behind a user list with a hashed password."""

    bind_address: str
    port: int = Field(8404, ge=1, le=65535)
    user: str = "admin"

    _bind = field_validator("bind_address")(classmethod(lambda cls, v: check_private_ipv4(v)))

    @field_validator("user")
    @classmethod
    def _user(cls, v: str) -> str:
        if not _STATS_USER.match(v):
            raise ValueError(f"{v!r} must be 1-32 letters, digits, '.', '_' or '-'")
        return v


class TlsConfig(_Model):
    """HTTPS on the site's frontend; the private key is `dr:siteSecrets.<site>.tlsKey`."""

    certificate: str = Field(description="PEM certificate chain, leaf first (public).")

    @field_validator("certificate")
    @classmethod
    def _pem(cls, v: str) -> str:
        if not _PEM_CERTIFICATE.match(v.strip() + "\n"):
            raise ValueError("is not a PEM certificate chain (-----BEGIN CERTIFICATE----- ...)")
        certificate_chain_problem(v)
        return v.strip() + "\n"


class OvhSiteConfig(_Model):
    """One site: an OVHcloud region's servers behind its HAProxy, paired with the AWS region serving its data."""

    ovh_region: str
    aws_region: str
    name: str = Field(description="Names the site's resources and `drctl haproxy --site` (default: the region).")
    haproxy: HaproxyHostConfig
    servers: list[AppServerConfig] = Field(min_length=1, max_length=64)
    health_check: SiteHealthCheckConfig
    stats: StatsConfig
    tls: Optional[TlsConfig] = None

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, obj: Any) -> Any:
        """A site's name defaults to its OVHcloud region in lower case (`GRA` -> `gra`)."""
        if isinstance(obj, Mapping) and "name" not in obj and isinstance(obj.get("ovhRegion"), str):
            return {**obj, "name": obj["ovhRegion"].lower()}
        return obj

    @field_validator("ovh_region")
    @classmethod
    def _ovh_region(cls, v: str) -> str:
        if v not in OVH_REGIONS:
            raise ValueError(f"{v!r} is not an OVHcloud region code ({', '.join(OVH_REGIONS)})")
        return v

    _aws_region = field_validator("aws_region")(classmethod(lambda cls, v: _check_region(v)))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _SITE_NAME.match(v):
            raise ValueError(f"{v!r} must be 2-16 lower-case letters, digits or hyphens, starting with a letter")
        return v

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def public_port(self) -> int:
        return self.haproxy.https_port if self.tls else self.haproxy.http_port


class SiteSecrets(_Model):
    """Per-site secrets; their values never appear in messages, rendered configs or previews."""

    stats_password: SecretStr
    ssh_private_key: SecretStr
    tls_key: Optional[SecretStr] = None

    @field_validator("stats_password")
    @classmethod
    def _password(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value()) < MIN_STATS_PASSWORD_LENGTH:
            raise ValueError(f"must be at least {MIN_STATS_PASSWORD_LENGTH} characters")
        return v

    @field_validator("ssh_private_key", "tls_key")
    @classmethod
    def _not_blank(cls, v: Optional[SecretStr]) -> Optional[SecretStr]:
        if v is not None and not v.get_secret_value().strip():
            raise ValueError("is empty")
        return v


class OvhSitesConfig(_Model):
    """`dr:sites` (failover priority order) and `dr:siteSecrets` (site name -> its secrets)."""

    sites: list[OvhSiteConfig] = Field(min_length=2, max_length=5)
    site_secrets: dict[str, SiteSecrets] = Field(default_factory=dict)

    def site(self, name: str) -> OvhSiteConfig:
        """The site called `name`; KeyError if there is none."""
        for site in self.sites:
            if site.name == name:
                return site
        raise KeyError(name)

    def secrets_of(self, name: str) -> SiteSecrets:
        return self.site_secrets[name]


def backup_sites(sites: list[OvhSiteConfig], name: str) -> list[OvhSiteConfig]:
    """The other sites in the order a site's HAProxy falls back to them: the sites after it in failover
    priority, then those before it (GRA, RBX, SBG: GRA -> RBX, SBG; RBX -> SBG, GRA)."""
    index = next(i for i, s in enumerate(sites) if s.name == name)
    return sites[index + 1 :] + sites[:index]


def in_proxy_failover_seconds(site: OvhSiteConfig) -> float:
    """Worst time for the HAProxy to mark a dead server DOWN and stop sending it requests: inter x fall."""
    return site.health_check.inter_ms * site.health_check.fall / 1000


def _secret_command(site: str, field: str) -> str:
    return f"pulumi config set --secret --path '{NAMESPACE}:siteSecrets.{site}.{field}'"


def _check_secrecy(values: Mapping[str, Any], secret_keys: frozenset[str]) -> None:
    if "sites" in secret_keys:
        raise ConfigError(f"{NAMESPACE}:sites", "holds a secret, but this key is plain configuration that deploys "
                                                f"show; put secrets in {NAMESPACE}:siteSecrets")
    if "siteSecrets" in values and "siteSecrets" not in secret_keys:
        raise ConfigError(f"{NAMESPACE}:siteSecrets", f"must be set with `{_secret_command('SITE', 'NAME')}`, "
                                                      "not in plain text")


def check_ovh_sites(cfg: OvhSitesConfig) -> None:
    """Rules spanning several keys (distinct sites, servers and ports, one secret entry per site); each raises
    ConfigError naming the most specific key. Run it on any model that embeds OvhSitesConfig."""
    key = f"{NAMESPACE}:sites"
    seen: dict[str, dict[str, int]] = {"name": {}, "ovhRegion": {}, "awsRegion": {}, "publicIp": {}}
    for i, site in enumerate(cfg.sites):
        for field, value in (("name", site.name), ("ovhRegion", site.ovh_region), ("awsRegion", site.aws_region),
                             ("publicIp", site.haproxy.public_ip)):
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
            raise ConfigError(f"{where}.statsPassword",
                              f"required key is missing; set it with `{_secret_command(site.name, 'statsPassword')}`")
        if site.tls and secrets.tls_key is None:
            raise ConfigError(f"{where}.tlsKey", f"the site has a certificate but no key; set it with "
                                                 f"`{_secret_command(site.name, 'tlsKey')}`")
        if not site.tls and secrets.tls_key is not None:
            raise ConfigError(f"{where}.tlsKey", f"a key without a certificate (set {key} entry {site.name!r} tls)")


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.IPv4Address(address).is_loopback
    except (ipaddress.AddressValueError, ValueError):
        return False


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
            raise ConfigError(f"{key}[{i}].haproxy.privateAddress",
                              f"{address} is already {key}[{private[address]}]'s; each site's HAProxy needs its own "
                              "private address, or a site's backup would be itself")
        private[address] = i
        for j, server in enumerate(site.servers):
            where = f"{key}[{i}].servers[{j}]"
            if server.name in servers and not servers[server.name].startswith(f"{key}[{i}]."):
                raise ConfigError(f"{where}.name", f"{server.name!r} is already {servers[server.name]}; server names "
                                                   "name certificates and credential outputs across every site")
            servers.setdefault(server.name, where)
        found = [("haproxy.serviceName", site.haproxy.service_name)] + \
            [(f"servers[{j}].serviceName", s.service_name) for j, s in enumerate(site.servers)]
        for field, service in found:
            if service is None:
                continue
            if service in services and services[service][0] != i:
                other, other_field = services[service]
                raise ConfigError(f"{key}[{i}].{field}", f"{service} is already {key}[{other}].{other_field} "
                                                         f"({sites[other].ovh_region}); a server is in one site only")
            services.setdefault(service, (i, field))


def _check_site(site: OvhSiteConfig, where: str) -> None:
    host = site.haproxy
    if (host.public_ip is None) == (host.service_name is None):
        raise ConfigError(f"{where}.haproxy.publicIp",
                          "give either publicIp or serviceName (the public IP is then read from OVHcloud), not both")
    if _is_loopback(host.private_address):
        raise ConfigError(f"{where}.haproxy.privateAddress",
                          f"{host.private_address} is a loopback address: the other sites' HAProxies send their "
                          "overflow to it, so it must be the host's vRack address they reach")
    if host.bind_address is not None:
        if is_private_ipv4(host.bind_address) or is_wildcard(host.bind_address):
            raise ConfigError(f"{where}.haproxy.bindAddress",
                              f"{host.bind_address} is not a public address: the public frontends must listen where "
                              "Route 53 and clients reach the host (its public IP; leave bindAddress out for every "
                              "address)")
        if host.public_ip is not None and host.bind_address != host.public_ip:
            raise ConfigError(f"{where}.haproxy.bindAddress",
                              f"{host.bind_address} is not this host's public address ({host.public_ip}); HAProxy "
                              "cannot listen on an address the host lacks")
    stats = site.stats
    if stats.bind_address != host.private_address and not _is_loopback(stats.bind_address):
        raise ConfigError(f"{where}.stats.bindAddress",
                          f"{stats.bind_address} is not an address of this host: use its private address "
                          f"({host.private_address}) or a loopback address")
    servers: dict[str, int] = {}
    endpoints: dict[tuple[str, int], int] = {}
    for j, server in enumerate(site.servers):
        if server.name in servers:
            raise ConfigError(f"{where}.servers[{j}].name",
                              f"{server.name!r} is already servers[{servers[server.name]}]")
        servers[server.name] = j
        endpoint = (server.address, server.port)
        if endpoint in endpoints:
            raise ConfigError(f"{where}.servers[{j}].address",
                              f"{server.address}:{server.port} is already servers[{endpoints[endpoint]}]")
        endpoints[endpoint] = j
    ports = {"haproxy.sshPort": host.ssh_port, "haproxy.httpPort": host.http_port,
             "haproxy.peerPort": host.peer_port, "stats.port": site.stats.port}
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
        if (server.address in own or _is_loopback(server.address)) and server.port in listening:
            raise ConfigError(f"{where}.servers[{j}].port",
                              f"{server.address}:{server.port} is this HAProxy's own {listening[server.port]}: "
                              "requests would loop through the proxy")


def _message(err: Mapping[str, Any]) -> str:
    """pydantic's error as one line; for secrets, never the value that was given."""
    if err["loc"] and err["loc"][0] == "siteSecrets":
        return _friendly({**err, "input": {}})
    return _friendly(err)


def parse_ovh_sites(values: Mapping[str, Any], secret_keys: frozenset[str] = frozenset()) -> OvhSitesConfig:
    """Validate the raw `dr:sites` and `dr:siteSecrets` values (other keys are ignored) into OvhSitesConfig.

    `secret_keys` names the keys that arrived as Pulumi secrets: `siteSecrets` must be one (it is listed in
    components.config.SECRET_KEYS), `sites` must not. Raises ConfigError for the first problem found.
    """
    _check_secrecy(values, secret_keys)
    if "sites" not in values:
        raise ConfigError(f"{NAMESPACE}:sites", "required key is missing")
    try:
        cfg = OvhSitesConfig.model_validate({k: values[k] for k in OVH_KEYS if k in values})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(_loc_to_path(first["loc"]), _message(first)) from None
    check_ovh_sites(cfg)
    return cfg


class OvhAppConfig(_Model):
    """The application on the OVHcloud servers (already running there: the project does not deploy it)."""

    name: str = Field(description="Short name; prefixes every resource and the SSM parameter.")
    port: int = Field(8080, ge=1, le=65535, description="Port the servers listen on (documentation only).")
    health_path: str = Field("/health", description="Path answering 200 when a server can serve.")

    _name = field_validator("name")(classmethod(lambda cls, v: AppConfig._name(v)))
    _path = field_validator("health_path")(classmethod(lambda cls, v: AppConfig._path(v)))


class OvhStackConfig(CommonConfig):
    """The `ovh-hybrid` layout: the DR plane's common keys plus the OVHcloud sites' keys."""

    app: OvhAppConfig
    sites: list[OvhSiteConfig] = Field(min_length=2, max_length=5)
    site_secrets: dict[str, SiteSecrets] = Field(default_factory=dict)

    @property
    def regions(self) -> RegionsConfig:
        """The sites' AWS regions in failover priority: the plane's and the runtime's region keys."""
        return RegionsConfig(primary=self.sites[0].aws_region, secondaries=[s.aws_region for s in self.sites[1:]])

    @property
    def ovh(self) -> OvhSitesConfig:
        return OvhSitesConfig.model_construct(sites=self.sites, site_secrets=self.site_secrets)

    @property
    def scale_kind(self) -> str:
        return "none"  # the servers exist already and run all the time

    def in_proxy_failover_seconds(self) -> float:
        """Worst time for a site's HAProxy to send traffic to the next region once its servers are down."""
        return max(in_proxy_failover_seconds(s) for s in self.sites)


def ovh_stack_checks(cfg: OvhStackConfig) -> None:
    check_ovh_sites(cfg.ovh)
    for i, site in enumerate(cfg.sites):
        if site.health_check.path != cfg.app.health_path:
            raise ConfigError(f"{NAMESPACE}:sites[{i}].healthCheck.path",
                              f"{site.health_check.path!r} differs from app.healthPath ({cfg.app.health_path!r}); "
                              "Route 53 checks every site on the same path")
