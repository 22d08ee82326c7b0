"""The `ovh-hybrid` layout's own keys: OVHcloud servers behind one HAProxy per region, on top of the DR plane's
keys.

`dr:sites` lists the sites in failover priority (each an OVHcloud region paired with the AWS region that
serves its data); `dr:siteSecrets` holds each site's secrets and is accepted only as a Pulumi secret. The rules
across these keys, and `parse_ovh_sites` (just these two keys, so the operator CLI can render a site's HAProxy
config from a stack file without the rest of the stack's model), are in `components.sites.ovh.checks`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from components.common_config import CommonConfig, RegionsConfig
from components.config_base import ConfigModel, Scheme, check_app_name, check_http_path, check_region
from components.sites.ovh.validators import (
    OVH_REGIONS,
    authorized_key_from_known_hosts,
    certificate_chain_problem,
    check_ipv4,
    check_private_ipv4,
    check_public_ipv4,
)

OVH_KEYS = ("sites", "siteSecrets")

# Bounds of the HAProxy health check, shared with the policy pack (policies/rules_haproxy.py).
INTER_MS_BOUNDS = (500, 30_000)
RISE_BOUNDS = (1, 10)
FALL_BOUNDS = (1, 10)
WEIGHT_BOUNDS = (1, 256)
MIN_STATS_PASSWORD_LENGTH = 16
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


class HaproxyHostConfig(ConfigModel):
    """The host that runs the site's HAProxy; it exists already and is never ordered."""

    public_ip: str | None = Field(None, description="Public IPv4: the site's endpoint (Route 53 checks it).")
    service_name: str | None = Field(
        None, description="OVHcloud dedicated server service name: the public IP is then read from OVHcloud."
    )
    private_address: str = Field(description="Private (vRack) IPv4; other regions' HAProxies forward to it.")
    ssh_user: str = Field(description="User the deployment logs in as; non-root users need sudo without password.")
    ssh_port: int = Field(22, ge=1, le=65535)
    ssh_host_key: str = Field(description="The host's key as one known_hosts line; the connection is pinned to it.")
    bind_address: str | None = Field(
        None, description="Address of the public frontends (default: every IPv4 address of the host)."
    )
    http_port: int = Field(80, ge=1, le=65535)
    https_port: int = Field(443, ge=1, le=65535)
    peer_port: int = Field(8081, ge=1, le=65535, description="Private port for traffic from other regions.")

    _public = field_validator("public_ip")(classmethod(lambda cls, v: v if v is None else check_public_ipv4(v)))
    _private = field_validator("private_address")(classmethod(lambda cls, v: check_private_ipv4(v)))

    @field_validator("bind_address")
    @classmethod
    def _bind(cls, v: str | None) -> str | None:
        if v is not None:
            check_ipv4(v)
        return v

    @field_validator("service_name")
    @classmethod
    def _service(cls, v: str | None) -> str | None:
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


class AppServerConfig(ConfigModel):
    """One existing application server behind the site's HAProxy."""

    name: str
    address: str = Field(description="Private IPv4 the HAProxy reaches the server on.")
    port: int = Field(ge=1, le=65535)
    weight: int = Field(100, ge=WEIGHT_BOUNDS[0], le=WEIGHT_BOUNDS[1])
    service_name: str | None = Field(None, description="OVHcloud service name: the server is looked up.")

    _address = field_validator("address")(classmethod(lambda cls, v: check_private_ipv4(v)))
    _service = field_validator("service_name")(classmethod(lambda cls, v: HaproxyHostConfig._service(v)))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _SERVER_NAME.match(v):
            raise ValueError(f"{v!r} must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
        return v


class SiteHealthCheckConfig(ConfigModel):
    """How the HAProxy checks each application server (and the other regions' HAProxies)."""

    path: str = "/health"
    host: str = Field(description="Host header of the check request.")
    expect_status: int = Field(
        200,
        ge=200,
        le=399,
        description="A 2xx or 3xx status: HAProxy counts a server that answers it as up (Route 53 too), so an "
        "error status here would keep failing servers in rotation.",
    )
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


class StatsConfig(ConfigModel):
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


class TlsConfig(ConfigModel):
    """HTTPS on the site's frontend; the private key is `dr:siteSecrets.<site>.tlsKey`."""

    certificate: str = Field(description="PEM certificate chain, leaf first (public).")

    @field_validator("certificate")
    @classmethod
    def _pem(cls, v: str) -> str:
        if not _PEM_CERTIFICATE.match(v.strip() + "\n"):
            raise ValueError("is not a PEM certificate chain (-----BEGIN CERTIFICATE----- ...)")
        certificate_chain_problem(v)
        return v.strip() + "\n"


class OvhSiteConfig(ConfigModel):
    """One site: an OVHcloud region's servers behind its HAProxy, paired with the AWS region serving its data."""

    ovh_region: str
    aws_region: str
    name: str = Field(description="Names the site's resources and `drctl haproxy --site` (default: the region).")
    haproxy: HaproxyHostConfig
    servers: list[AppServerConfig] = Field(min_length=1, max_length=64)
    health_check: SiteHealthCheckConfig
    stats: StatsConfig
    tls: TlsConfig | None = None

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

    _aws_region = field_validator("aws_region")(classmethod(lambda cls, v: check_region(v)))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _SITE_NAME.match(v):
            raise ValueError(f"{v!r} must be 2-16 lower-case letters, digits or hyphens, starting with a letter")
        return v

    @property
    def scheme(self) -> Scheme:
        return "https" if self.tls else "http"

    @property
    def public_port(self) -> int:
        return self.haproxy.https_port if self.tls else self.haproxy.http_port


class SiteSecrets(ConfigModel):
    """Per-site secrets; their values never appear in messages, rendered configs or previews."""

    stats_password: SecretStr
    ssh_private_key: SecretStr
    tls_key: SecretStr | None = None

    @field_validator("stats_password")
    @classmethod
    def _password(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value()) < MIN_STATS_PASSWORD_LENGTH:
            raise ValueError(f"must be at least {MIN_STATS_PASSWORD_LENGTH} characters")
        return v

    @field_validator("ssh_private_key", "tls_key")
    @classmethod
    def _not_blank(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().strip():
            raise ValueError("is empty")
        return v


class OvhSitesConfig(ConfigModel):
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


class OvhAppConfig(ConfigModel):
    """The application on the OVHcloud servers (already running there: the project does not deploy it)."""

    name: str = Field(description="Short name; prefixes every resource and the SSM parameter.")
    port: int = Field(8080, ge=1, le=65535, description="Port the servers listen on (documentation only).")
    health_path: str = Field("/health", description="Path answering 200 when a server can serve.")

    _name = field_validator("name")(classmethod(lambda cls, v: check_app_name(v)))
    _path = field_validator("health_path")(classmethod(lambda cls, v: check_http_path(v)))


class OvhStackConfig(CommonConfig):
    """The `ovh-hybrid` layout: the DR plane's common keys plus the OVHcloud sites' keys."""

    layout: Literal["ovh-hybrid"]
    accelerator_problem: ClassVar[str | None] = (
        "Global Accelerator endpoints must be AWS resources (an ALB, an NLB, an EC2 instance or an Elastic IP); "
        "an HAProxy host at OVHcloud cannot be one; keep dns"
    )
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
