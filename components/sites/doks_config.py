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
    AppConfig,
    CommonConfig,
    ConfigError,
    RegionsConfig,
    _check_http_path,
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
# Droplet size slugs a DOKS node pool takes: Basic (s-), General Purpose (g-, gd-), CPU-Optimized (c-, c2-),
# Memory-Optimized (m-, m3-, m6-) and Storage-Optimized (so-, so1_5-), with an optional disk and CPU vendor.
_SIZE_SLUG = re.compile(r"^(?P<family>s|g|gd|c2|m|m3|m6|so|so1_5)-(?P<vcpu>[1-9]\d*)vcpu-(?P<memory>[1-9]\d*)gb"
                        r"(?:-\d+gb)?(?:-(?:intel|amd))?$")
_CPU_SLUG = re.compile(r"^c-(?P<vcpu>[1-9]\d*)(?:-intel)?$")  # CPU-Optimized: 2 GB per vCPU
_SMALL_SLUG = re.compile(r"^s-(?P<vcpu>[1-9]\d*)vcpu-(?P<memory>\d+)mb(?:-\d+gb)?$")  # s-1vcpu-512mb-10gb
_GPU_SLUG = re.compile(r"^gpu-")
MIN_NODE_MEMORY_GB = 2
"""DOKS's smallest node (s-1vcpu-2gb): smaller Droplets cannot run the cluster's own pods."""
MAX_PODS_PER_NODE = 110
DOKS_SYSTEM_CPU = Decimal("0.25")
DOKS_SYSTEM_MEMORY = Decimal(350 * 2**20)
"""What the cluster's own pods (networking, DNS, CSI, the node agent) request on every node: kept off the app's
share of a node when counting how many of its pods fit."""
EVICTION_MEMORY = Decimal(100 * 2**20)
MIN_CPU = Decimal("0.01")
MIN_MEMORY = Decimal(32 * 2**20)
"""The least a container may request or be limited to (10m CPU, 32Mi): below that a container cannot start, or is
killed for memory as soon as it does."""
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
        vcpu, memory = node_size(v)
        if memory < MIN_NODE_MEMORY_GB:
            raise ValueError(f"{v} has {memory:g} GB of memory; DOKS nodes need at least {MIN_NODE_MEMORY_GB} GB "
                             "(like s-1vcpu-2gb)")
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


def node_size(slug: str) -> tuple[int, Decimal]:
    """(vCPUs, memory in GB) of a Droplet size slug; ValueError when the slug is not one DOKS takes."""
    match = _SIZE_SLUG.match(slug) if isinstance(slug, str) else None
    if match:
        return int(match.group("vcpu")), Decimal(match.group("memory"))
    match = _CPU_SLUG.match(slug) if isinstance(slug, str) else None
    if match:
        return int(match.group("vcpu")), Decimal(2 * int(match.group("vcpu")))
    match = _SMALL_SLUG.match(slug) if isinstance(slug, str) else None
    if match:
        return int(match.group("vcpu")), Decimal(match.group("memory")) / 1024
    if isinstance(slug, str) and _GPU_SLUG.match(slug):
        raise ValueError(f"{slug} is a GPU size: its slug names the GPUs' memory, not the node's, so the pods it "
                         "holds cannot be checked; this layout's app needs no GPU (use a CPU size like s-4vcpu-8gb)")
    raise ValueError(f"{slug!r} is not a Droplet size slug DOKS takes (like s-2vcpu-4gb, g-4vcpu-16gb, c-4, "
                     "m-2vcpu-16gb)")


def node_allocatable(slug: str) -> tuple[Decimal, Decimal]:
    """(CPU cores, memory bytes) a node of size `slug` leaves to the app's pods: its capacity less the kubelet's
    and the system's reservation (the tiered rule managed Kubernetes services use: 25% of the first 4 GiB of
    memory, 20% of the next 4, 10% of the next 8, 6% up to 128 GiB, 2% above, and 100 MiB for eviction; 6% of
    the first core, 1% of the second, 0.5% of the next two, 0.25% above) and the cluster's own pods. About 1 GiB
    of a 2 GB node and 2.5 GiB of a 4 GB node, as DigitalOcean documents."""
    vcpu, memory_gb = node_size(slug)
    memory = memory_gb * 2**30
    reserved, low = Decimal(0), Decimal(0)
    for high, share in ((4, "0.25"), (8, "0.20"), (16, "0.10"), (128, "0.06"), (None, "0.02")):
        top = memory if high is None else min(memory, Decimal(high * 2**30))
        if top > low:
            reserved += (top - low) * Decimal(share)
        low = max(low, top)
    cpu_reserved, left = Decimal(0), vcpu
    for cores, share in ((1, "0.06"), (1, "0.01"), (2, "0.005"), (None, "0.0025")):
        take = left if cores is None else min(left, cores)
        cpu_reserved += take * Decimal(share)
        left -= take
    return (vcpu - cpu_reserved - DOKS_SYSTEM_CPU,
            memory - reserved - EVICTION_MEMORY - DOKS_SYSTEM_MEMORY)


def pods_per_node(slug: str, cpu_request: Decimal, memory_request: Decimal) -> int:
    """How many of the app's pods one node of size `slug` can schedule by their requests."""
    cpu, memory = node_allocatable(slug)
    return max(0, min(int(cpu // cpu_request), int(memory // memory_request), MAX_PODS_PER_NODE))


class ResourceAmounts(_Model):
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

    _image = field_validator("image")(classmethod(lambda cls, v: AppConfig._image(v)))
    _health = field_validator("health_path")(classmethod(lambda cls, v: _check_http_path(v)))

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


class ProbeConfig(_Model):
    """An HTTP GET probe on the app's port. `path` defaults to `dr:app.healthPath`."""

    path: Optional[str] = None
    initial_delay_seconds: int = Field(0, ge=0, le=3600)
    period_seconds: int = Field(10, ge=1, le=300)
    timeout_seconds: int = Field(2, ge=1, le=60)
    failure_threshold: int = Field(3, ge=1, le=100)

    _path = field_validator("path")(classmethod(lambda cls, v: v if v is None else _check_http_path(v)))


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

    _path = field_validator("path")(classmethod(lambda cls, v: v if v is None else _check_http_path(v)))


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
    _check_capacity(cfg)
    for kind in ("liveness", "readiness", "startup"):
        probe: ProbeConfig = getattr(cfg.probes, kind)
        if probe.timeout_seconds > probe.period_seconds:
            raise ConfigError(f"{key}probes.{kind}.timeoutSeconds",
                              f"{probe.timeout_seconds} is longer than periodSeconds ({probe.period_seconds})")


def _check_capacity(cfg: DigitalOceanConfig) -> None:
    """The node pool at its largest must hold app.replicas pods and the one more a rolling update starts
    (maxSurge 1), by their requests."""
    app, cluster = cfg.app, cfg.cluster
    per_node = pods_per_node(cluster.node_size, parse_quantity(app.resources.requests.cpu),
                             parse_quantity(app.resources.requests.memory))
    capacity = per_node * cluster.max_nodes
    if app.replicas + 1 > capacity:
        cpu, memory = node_allocatable(cluster.node_size)
        raise ConfigError(
            f"{NAMESPACE}:app.replicas",
            f"{app.replicas} pods (+1 during a rolling update) do not fit: {cluster.max_nodes} {cluster.node_size} "
            f"nodes hold {capacity} pods requesting {app.resources.requests.cpu} CPU and "
            f"{app.resources.requests.memory} ({per_node} per node: {cpu:.2f} CPU and {memory / 2**30:.2f} GiB "
            "allocatable); raise cluster.maxNodes or nodeSize, or lower the requests")


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
