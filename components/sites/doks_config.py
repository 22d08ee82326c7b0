"""The `dr:` keys of a DigitalOcean Kubernetes (DOKS) site, as validated, typed models.

`parse_digitalocean_config(values)` reads `dr:sites`, `dr:cluster`, `dr:app`, `dr:probes`,
`dr:loadBalancer` and `dr:tls` from the raw `dr:` values (the form `components.config` decodes) and
reports the first mistake as one `ConfigError` naming its key path (`dr:sites[1].region: ...`).
Keys of the shared DR plane (table, dns, objectives, failover, ...) are left to `components.config`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping, Optional

from pydantic import Field, ValidationError, field_validator

from components.config import (
    NAMESPACE,
    CommonConfig,
    ConfigError,
    RegionsConfig,
    _check_region,
    _friendly,
    _loc_to_path,
    _Model,
)

# Where DOKS clusters can be created: pulumi-digitalocean's `Region` enum without the datacenters
# closed to new resources (nyc2, ams2, sfo1). A test keeps this list inside the SDK's enum.
DOKS_REGIONS = ("ams3", "blr1", "fra1", "lon1", "nyc1", "nyc3", "sfo2", "sfo3", "sgp1", "syd1", "tor1")
DOKS_KEYS = ("sites", "cluster", "app", "probes", "loadBalancer", "tls")
# The oldest Kubernetes minor the manifests are written for (topologySpreadConstraints.matchLabelKeys
# is on by default from 1.27; DOKS itself offers only recent minors).
MIN_KUBERNETES_MINOR = 30

# Environment names the stack sets on every pod; a user's `dr:app.environment` may not override them.
STACK_ENV_NAMES = frozenset({
    "DR_APP", "DR_REGIONS", "DR_TABLE", "DR_ACTIVE_REGION_PARAMETER", "DR_CACHE_SECONDS", "DR_CONTROL_TABLE",
    "DR_CONTROL_REGIONS",
    "AWS_REGION", "AWS_CONFIG_FILE", "AWS_SDK_LOAD_CONFIG",
})
# Names that would bypass the short-lived workload credentials with something else (or a plain key).
CREDENTIAL_ENV_NAMES = frozenset({
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE", "AWS_DEFAULT_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
})

_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIZE_SLUG = re.compile(r"^[a-z][a-z0-9_]*(-[a-z0-9_.]+)+$")
_VERSION = re.compile(r"^1\.(\d{2})\.\d{1,3}-do\.\d{1,3}$")
_MINOR = re.compile(r"^1\.(\d{2})(\.\d{1,3})?$")
_CERT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")

# Kubernetes resource quantities (apimachinery's resource.Quantity): a decimal number and a suffix.
_QUANTITY = re.compile(r"^(?P<number>[+]?(\d+\.?\d*|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal(10**3),
            "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15),
            "E": Decimal(10**18)}


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity (`250m` -> 0.25, `512Mi` -> 536870912); ValueError otherwise."""
    match = _QUANTITY.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (like 250m, 1, 0.5, 512Mi, 1Gi)")
    try:
        number = Decimal(match.group("number"))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from None
    suffix = match.group("suffix") or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix:
        return number * (Decimal(10) ** int(suffix[1:]))
    return number


class DoSiteConfig(_Model):
    """One DigitalOcean region in failover priority, and the AWS region that serves its data."""

    region: str = Field(description="DigitalOcean region slug (nyc3, sfo3, ...).")
    aws_region: str = Field(description="AWS region of the site's data, control item and orchestrator.")

    @field_validator("region")
    @classmethod
    def _slug(cls, v: str) -> str:
        if v not in DOKS_REGIONS:
            raise ValueError(f"{v!r} is not a DigitalOcean Kubernetes region ({', '.join(DOKS_REGIONS)})")
        return v

    _aws = field_validator("aws_region")(classmethod(lambda cls, v: _check_region(v)))


class ClusterConfig(_Model):
    version: str = Field(description="Exact DOKS version (\"1.33.1-do.0\"); the clusters upgrade only when it "
                                     "changes.")
    node_size: str = Field("s-2vcpu-4gb", description="Droplet size slug of the node pool.")
    min_nodes: int = Field(2, ge=1, le=512)
    max_nodes: int = Field(5, ge=1, le=512)
    ha_control_plane: bool = Field(True, description="DigitalOcean's highly available control plane.")

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> Any:
        pin = "pin an exact DOKS version like \"1.33.1-do.0\" (`doctl kubernetes options versions`)"
        if isinstance(v, float) or (isinstance(v, str) and _MINOR.match(v)):
            # A minor (or a bare patch) would follow DigitalOcean's newest release: an unrelated `pulumi up`
            # could then upgrade the clusters and recycle every node.
            raise ValueError(f"{v} is not an exact version; {pin}: the clusters then upgrade only when it changes")
        if not isinstance(v, str) or not _VERSION.match(v):
            raise ValueError(f"{v!r} is not a DOKS version; {pin}")
        if int(_VERSION.match(v).group(1)) < MIN_KUBERNETES_MINOR:
            raise ValueError(f"{v} is older than 1.{MIN_KUBERNETES_MINOR}, the oldest this layout supports")
        return v

    @field_validator("node_size")
    @classmethod
    def _size(cls, v: str) -> str:
        if not _SIZE_SLUG.match(v):
            raise ValueError(f"{v!r} is not a Droplet size slug (like s-2vcpu-4gb)")
        return v

    @property
    def minor(self) -> str:
        """`1.33` of `1.33.1-do.0`."""
        return ".".join(self.version.split(".")[:2])

    @property
    def version_prefix(self) -> str:
        """What `get_kubernetes_versions` matches: "1.33." (the pinned version's minor; 1.3 never matches 1.30)."""
        return self.minor + "."

    @property
    def validation_version(self) -> str:
        """The Kubernetes version whose schemas the manifests are validated against."""
        return self.minor + ".0"


class ResourceAmounts(_Model):
    cpu: str
    memory: str

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantity(cls, v: Any) -> str:
        text = str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
        if parse_quantity(text) <= 0:
            raise ValueError(f"{text!r} must be more than zero")
        return text


class ResourcesConfig(_Model):
    requests: ResourceAmounts = ResourceAmounts(cpu="250m", memory="256Mi")
    limits: ResourceAmounts = ResourceAmounts(cpu="1", memory="512Mi")


class KubernetesAppConfig(_Model):
    """The application as a Deployment in every cluster."""

    name: str = Field(description="Short name; names the namespace, the Deployment and the SSM parameter.")
    image: str = Field(min_length=1)
    port: int = Field(8080, ge=1, le=65535)
    health_path: str = Field("/health", description="Path answering 200 when healthy (it checks DynamoDB).")
    replicas: int = Field(3, ge=1, le=1000, description="Pods in the active site; a standby is scaled to it.")
    standby_replicas: int = Field(1, ge=0, le=1000, description="Pods kept warm in each standby site.")
    resources: ResourcesConfig = ResourcesConfig()
    environment: dict[str, str] = Field(default_factory=dict, description="Plain (non-secret) environment.")
    run_as_user: int = Field(10001, ge=1, le=2**31 - 1, description="Non-root UID (and GID) of the container.")
    signing_helper_path: str = Field(
        "/usr/local/bin/aws_signing_helper",
        description="Where the image has AWS's IAM Roles Anywhere signing helper (credential_process).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} must be 3-32 lower-case letters, digits or hyphens, starting with a letter")
        return v

    @field_validator("health_path", "signing_helper_path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _absolute_path(v)

    @field_validator("environment")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name (letters, digits, _)")
            if name.startswith("DR_") or name in STACK_ENV_NAMES:
                raise ValueError(f"{name} is set by the stack (DR_* and the AWS client settings are reserved)")
            if name in CREDENTIAL_ENV_NAMES:
                raise ValueError(f"{name} would bypass the workload's short-lived AWS credentials")
        return v


def _absolute_path(v: str) -> str:
    if not v.startswith("/") or any(c.isspace() for c in v):
        raise ValueError(f"{v!r} must be an absolute path like /health")
    return v


class ProbeConfig(_Model):
    """An HTTP GET probe on the app's port. `path` defaults to `dr:app.healthPath`."""

    path: Optional[str] = None
    initial_delay_seconds: int = Field(0, ge=0, le=3600)
    period_seconds: int = Field(10, ge=1, le=300)
    timeout_seconds: int = Field(2, ge=1, le=60)
    failure_threshold: int = Field(3, ge=1, le=100)

    _path = field_validator("path")(classmethod(lambda cls, v: v if v is None else _absolute_path(v)))


class ReadinessProbeConfig(ProbeConfig):
    success_threshold: int = Field(1, ge=1, le=10, description="Only readiness may ask for more than one success.")


class ProbesConfig(_Model):
    liveness: ProbeConfig = ProbeConfig()
    readiness: ReadinessProbeConfig = ReadinessProbeConfig()
    startup: ProbeConfig = ProbeConfig(period_seconds=5, failure_threshold=30)


class LoadBalancerHealthCheckConfig(_Model):
    """The DigitalOcean load balancer's own check of each node (bounds and defaults are DigitalOcean's)."""

    path: Optional[str] = Field(None, description="Defaults to dr:app.healthPath.")
    interval_seconds: int = Field(3, ge=3, le=300)
    timeout_seconds: int = Field(5, ge=3, le=300)
    healthy_threshold: int = Field(5, ge=2, le=10)
    unhealthy_threshold: int = Field(3, ge=2, le=10)

    _path = field_validator("path")(classmethod(lambda cls, v: v if v is None else _absolute_path(v)))


class LoadBalancerConfig(_Model):
    size_unit: int = Field(1, ge=1, le=100, description="Load balancer nodes (DigitalOcean's size unit).")
    health_check: LoadBalancerHealthCheckConfig = LoadBalancerHealthCheckConfig()


class TlsConfig(_Model):
    """HTTPS on the load balancer with a certificate already in the DigitalOcean account."""

    certificate_name: str = Field(description="Name of a DigitalOcean certificate covering the record names.")
    redirect_http_to_https: bool = True

    @field_validator("certificate_name")
    @classmethod
    def _cert(cls, v: str) -> str:
        if not _CERT_NAME.match(v):
            raise ValueError(f"{v!r} is not a DigitalOcean certificate name")
        return v


class DigitalOceanConfig(_Model):
    """The site-specific keys of the `digitalocean` layout."""

    sites: list[DoSiteConfig] = Field(min_length=2, max_length=6)
    app: KubernetesAppConfig
    cluster: ClusterConfig
    probes: ProbesConfig = ProbesConfig()
    load_balancer: LoadBalancerConfig = LoadBalancerConfig()
    tls: Optional[TlsConfig] = None

    @property
    def data_regions(self) -> list[str]:
        """The sites' AWS regions in failover priority: the runtime's region keys."""
        return [s.aws_region for s in self.sites]

    def probe_path(self, probe: ProbeConfig) -> str:
        return probe.path or self.app.health_path

    @property
    def load_balancer_health_path(self) -> str:
        return self.load_balancer.health_check.path or self.app.health_path

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def public_port(self) -> int:
        return 443 if self.tls else 80


def doks_cross_checks(cfg: DigitalOceanConfig) -> None:
    """Rules spanning several keys; each raises ConfigError naming the most specific key."""
    key = f"{NAMESPACE}:"
    slugs: dict[str, int] = {}
    aws_regions: dict[str, int] = {}
    for i, site in enumerate(cfg.sites):
        if site.region in slugs:
            raise ConfigError(f"{key}sites[{i}].region", f"{site.region} is already sites[{slugs[site.region]}]")
        if site.aws_region in aws_regions:
            raise ConfigError(f"{key}sites[{i}].awsRegion",
                              f"{site.aws_region} already serves sites[{aws_regions[site.aws_region]}]; "
                              "each site needs its own AWS region")
        slugs[site.region], aws_regions[site.aws_region] = i, i
    if cfg.cluster.min_nodes > cfg.cluster.max_nodes:
        raise ConfigError(f"{key}cluster.minNodes",
                          f"{cfg.cluster.min_nodes} is more than cluster.maxNodes ({cfg.cluster.max_nodes})")
    app = cfg.app
    if app.standby_replicas > app.replicas:
        raise ConfigError(f"{key}app.standbyReplicas",
                          f"{app.standby_replicas} is more than app.replicas ({app.replicas})")
    for kind in ("cpu", "memory"):
        request, limit = getattr(app.resources.requests, kind), getattr(app.resources.limits, kind)
        if parse_quantity(request) > parse_quantity(limit):
            raise ConfigError(f"{key}app.resources.requests.{kind}", f"{request} is more than the limit {limit}")
    for kind in ("liveness", "readiness", "startup"):
        probe: ProbeConfig = getattr(cfg.probes, kind)
        if probe.timeout_seconds > probe.period_seconds:
            raise ConfigError(f"{key}probes.{kind}.timeoutSeconds",
                              f"{probe.timeout_seconds} is longer than periodSeconds ({probe.period_seconds})")


def parse_digitalocean_config(values: Mapping[str, Any]) -> DigitalOceanConfig:
    """Validate the DOKS keys of raw `dr:` values (key without namespace -> decoded value).

    Other keys are ignored here; raises ConfigError for the first problem found.
    """
    picked = {k: values[k] for k in DOKS_KEYS if k in values}
    try:
        cfg = DigitalOceanConfig.model_validate(picked)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(_loc_to_path(first["loc"]), _friendly(first)) from None
    doks_cross_checks(cfg)
    return cfg


class DigitalOceanStackConfig(CommonConfig):
    """The `digitalocean` layout: the DR plane's common keys plus the DOKS sites' keys."""

    app: KubernetesAppConfig
    sites: list[DoSiteConfig] = Field(min_length=2, max_length=6)
    cluster: ClusterConfig
    probes: ProbesConfig = ProbesConfig()
    load_balancer: LoadBalancerConfig = LoadBalancerConfig()
    tls: Optional[TlsConfig] = None

    @property
    def regions(self) -> RegionsConfig:
        """The sites' AWS regions in failover priority: the plane's and the runtime's region keys."""
        return RegionsConfig(primary=self.sites[0].aws_region, secondaries=[s.aws_region for s in self.sites[1:]])

    @property
    def digitalocean(self) -> DigitalOceanConfig:
        return DigitalOceanConfig.model_construct(sites=self.sites, app=self.app, cluster=self.cluster,
                                                  probes=self.probes, load_balancer=self.load_balancer, tls=self.tls)

    @property
    def scale_kind(self) -> str:
        """Standbys that run fewer pods are scaled through the Kubernetes API on failover."""
        return "kubernetes" if self.app.standby_replicas < self.app.replicas else "none"


def digitalocean_stack_checks(cfg: DigitalOceanStackConfig) -> None:
    doks_cross_checks(cfg.digitalocean)
