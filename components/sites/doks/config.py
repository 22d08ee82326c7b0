"""The `digitalocean` layout's own keys: DigitalOcean Kubernetes (DOKS) sites (`dr:sites`, `dr:cluster`, `dr:app`,
`dr:probes`, `dr:loadBalancer`, `dr:tls`), as validated, typed models on top of the DR plane's keys.

Rules across these keys, and `parse_digitalocean_config` (just these keys, for the tests and tools that need no
whole stack), are in `components.sites.doks.checks`; what a node holds is in `components.sites.doks.capacity`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from components.common_config import CommonConfig, RegionsConfig
from components.config_base import ConfigModel, Scheme, check_app_name, check_http_path, check_image, check_region
from components.sites.doks.capacity import MIN_CPU, MIN_MEMORY, MIN_NODE_MEMORY_GB, node_size, parse_quantity

# Where DOKS clusters can be created: pulumi-digitalocean's `Region` enum without the datacenters
# closed to new resources (nyc2, ams2, sfo1). A test keeps this list inside the SDK's enum.
DOKS_REGIONS = ("ams3", "blr1", "fra1", "lon1", "nyc1", "nyc3", "sfo2", "sfo3", "sgp1", "syd1", "tor1")
DOKS_KEYS = ("sites", "cluster", "app", "probes", "loadBalancer", "tls")
# The oldest Kubernetes minor the manifests are written for (topologySpreadConstraints.matchLabelKeys
# is on by default from 1.27; DOKS itself offers only recent minors).
MIN_KUBERNETES_MINOR = 30

# Environment names the stack sets on every pod; a user's `dr:app.environment` may not override them.
STACK_ENV_NAMES = frozenset(
    {
        "DR_APP",
        "DR_REGIONS",
        "DR_TABLE",
        "DR_ACTIVE_REGION_PARAMETER",
        "DR_CACHE_SECONDS",
        "DR_CONTROL_TABLE",
        "DR_CONTROL_REGIONS",
        "AWS_REGION",
        "AWS_CONFIG_FILE",
        "AWS_SDK_LOAD_CONFIG",
    }
)
# Names that would bypass the short-lived workload credentials with something else (or a plain key).
CREDENTIAL_ENV_NAMES = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_DEFAULT_REGION",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    }
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VERSION = re.compile(r"^1\.(\d{2})\.\d{1,3}-do\.\d{1,3}$")
_MINOR = re.compile(r"^1\.(\d{2})(\.\d{1,3})?$")
_CERT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


class DoSiteConfig(ConfigModel):
    """One DigitalOcean region in failover priority, and the AWS region that serves its data."""

    region: str = Field(description="DigitalOcean region slug (nyc3, sfo3, ...).")
    aws_region: str = Field(description="AWS region of the site's data, control item and orchestrator.")

    @field_validator("region")
    @classmethod
    def _slug(cls, v: str) -> str:
        if v not in DOKS_REGIONS:
            raise ValueError(f"{v!r} is not a DigitalOcean Kubernetes region ({', '.join(DOKS_REGIONS)})")
        return v

    _aws = field_validator("aws_region")(classmethod(lambda cls, v: check_region(v)))


class ClusterConfig(ConfigModel):
    version: str = Field(description="Exact DOKS version (\"1.33.1-do.0\"); the clusters upgrade only when it changes.")
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
        version = _VERSION.match(v) if isinstance(v, str) else None
        if version is None:
            raise ValueError(f"{v!r} is not a DOKS version; {pin}")
        if int(version.group(1)) < MIN_KUBERNETES_MINOR:
            raise ValueError(f"{v} is older than 1.{MIN_KUBERNETES_MINOR}, the oldest this layout supports")
        return v

    @field_validator("node_size")
    @classmethod
    def _size(cls, v: str) -> str:
        _vcpu, memory = node_size(v)
        if memory < MIN_NODE_MEMORY_GB:
            raise ValueError(
                f"{v} has {memory:g} GB of memory; DOKS nodes need at least {MIN_NODE_MEMORY_GB} GB (like s-1vcpu-2gb)"
            )
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


class ResourceAmounts(ConfigModel):
    cpu: str
    memory: str

    @field_validator("cpu", "memory", mode="before")
    @classmethod
    def _quantity(cls, v: Any, info) -> str:
        text = str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
        value = parse_quantity(text)
        if value <= 0:
            raise ValueError(f"{text!r} must be more than zero")
        if info.field_name == "cpu" and value < MIN_CPU:
            raise ValueError(f"{text} is less than 10m, the least CPU a container can run on")
        if info.field_name == "memory" and value < MIN_MEMORY:
            raise ValueError(f"{text} is less than 32Mi: the container would be killed for memory as it starts")
        return text


class ResourcesConfig(ConfigModel):
    requests: ResourceAmounts = ResourceAmounts(cpu="250m", memory="256Mi")
    limits: ResourceAmounts = ResourceAmounts(cpu="1", memory="512Mi")


class KubernetesAppConfig(ConfigModel):
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
        description="Where the image has AWS's IAM Roles Anywhere signing helper (credential_process).",
    )

    _name = field_validator("name")(classmethod(lambda cls, v: check_app_name(v)))
    _image = field_validator("image")(classmethod(lambda cls, v: check_image(v)))
    _health = field_validator("health_path")(classmethod(lambda cls, v: check_http_path(v)))

    @field_validator("signing_helper_path")
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


class ProbeConfig(ConfigModel):
    """An HTTP GET probe on the app's port. `path` defaults to `dr:app.healthPath`."""

    path: str | None = None
    initial_delay_seconds: int = Field(0, ge=0, le=3600)
    period_seconds: int = Field(10, ge=1, le=300)
    timeout_seconds: int = Field(2, ge=1, le=60)
    failure_threshold: int = Field(3, ge=1, le=100)

    _path = field_validator("path")(classmethod(lambda cls, v: v if v is None else check_http_path(v)))


class ReadinessProbeConfig(ProbeConfig):
    success_threshold: int = Field(1, ge=1, le=10, description="Only readiness may ask for more than one success.")


class ProbesConfig(ConfigModel):
    liveness: ProbeConfig = ProbeConfig()
    readiness: ReadinessProbeConfig = ReadinessProbeConfig()
    startup: ProbeConfig = ProbeConfig(period_seconds=5, failure_threshold=30)


class LoadBalancerHealthCheckConfig(ConfigModel):
    """The DigitalOcean load balancer's own check of each node (bounds and defaults are DigitalOcean's)."""

    path: str | None = Field(None, description="Defaults to dr:app.healthPath.")
    interval_seconds: int = Field(3, ge=3, le=300)
    timeout_seconds: int = Field(5, ge=3, le=300)
    healthy_threshold: int = Field(5, ge=2, le=10)
    unhealthy_threshold: int = Field(3, ge=2, le=10)

    _path = field_validator("path")(classmethod(lambda cls, v: v if v is None else check_http_path(v)))


class LoadBalancerConfig(ConfigModel):
    size_unit: int = Field(1, ge=1, le=100, description="Load balancer nodes (DigitalOcean's size unit).")
    health_check: LoadBalancerHealthCheckConfig = LoadBalancerHealthCheckConfig()


class TlsConfig(ConfigModel):
    """HTTPS on the load balancer with a certificate already in the DigitalOcean account."""

    certificate_name: str = Field(description="Name of a DigitalOcean certificate covering the record names.")
    redirect_http_to_https: bool = True

    @field_validator("certificate_name")
    @classmethod
    def _cert(cls, v: str) -> str:
        if not _CERT_NAME.match(v):
            raise ValueError(f"{v!r} is not a DigitalOcean certificate name")
        return v


class DigitalOceanConfig(ConfigModel):
    """The site-specific keys of the `digitalocean` layout."""

    sites: list[DoSiteConfig] = Field(min_length=2, max_length=6)
    app: KubernetesAppConfig
    cluster: ClusterConfig
    probes: ProbesConfig = ProbesConfig()
    load_balancer: LoadBalancerConfig = LoadBalancerConfig()
    tls: TlsConfig | None = None

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
    def scheme(self) -> Scheme:
        return "https" if self.tls else "http"

    @property
    def public_port(self) -> int:
        return 443 if self.tls else 80


class DigitalOceanStackConfig(CommonConfig):
    """The `digitalocean` layout: the DR plane's common keys plus the DOKS sites' keys."""

    layout: Literal["digitalocean"]
    accelerator_problem: ClassVar[str | None] = (
        "Global Accelerator endpoints must be AWS resources (an ALB, an NLB, an EC2 instance or an Elastic IP); "
        "a DigitalOcean load balancer cannot be one; keep dns"
    )
    app: KubernetesAppConfig
    sites: list[DoSiteConfig] = Field(min_length=2, max_length=6)
    cluster: ClusterConfig
    probes: ProbesConfig = ProbesConfig()
    load_balancer: LoadBalancerConfig = LoadBalancerConfig()
    tls: TlsConfig | None = None

    @property
    def regions(self) -> RegionsConfig:
        """The sites' AWS regions in failover priority: the plane's and the runtime's region keys."""
        return RegionsConfig(primary=self.sites[0].aws_region, secondaries=[s.aws_region for s in self.sites[1:]])

    @property
    def digitalocean(self) -> DigitalOceanConfig:
        return DigitalOceanConfig.model_construct(
            sites=self.sites,
            app=self.app,
            cluster=self.cluster,
            probes=self.probes,
            load_balancer=self.load_balancer,
            tls=self.tls,
        )

    @property
    def scale_kind(self) -> str:
        """Standbys that run fewer pods are scaled through the Kubernetes API on failover."""
        return "kubernetes" if self.app.standby_replicas < self.app.replicas else "none"
