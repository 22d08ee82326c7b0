"""A stack's topology as plain data, from its offline preview (the recorded resources, the outputs, the budget) and
its validated config: the sites per region and provider, the DR plane (the data table and its replicas, the control
table and its witness, the orchestrators and observers, the alarms and topics, the projection), the traffic paths
and the failover order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TABLE = "aws:dynamodb/table:Table"
RECORD = "aws:route53/record:Record"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
PARAMETER = "aws:ssm/parameter:Parameter"
ECS_SERVICE = "aws:ecs/service:Service"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
CLUSTER = "digitalocean:index/kubernetesCluster:KubernetesCluster"
PROVIDERS = {"aws": "AWS", "digitalocean": "DigitalOcean", "ovh-hybrid": "OVHcloud"}


@dataclass(frozen=True)
class Server:
    name: str
    address: str


@dataclass(frozen=True)
class SiteNode:
    """Where the application runs in one place, in failover order."""

    name: str
    provider: str
    """AWS, DigitalOcean or OVHcloud"""
    place: str
    """The provider's region (an AWS region, a DigitalOcean region, an OVHcloud region)."""
    aws_region: str
    """The AWS region that serves its data and runs its orchestrator."""
    entry: str
    """What Route 53 sends users to: the ALB, the DigitalOcean load balancer, the HAProxy."""
    compute: str
    servers: tuple[Server, ...] = ()


@dataclass(frozen=True)
class TableNode:
    name: str
    regions: tuple[str, ...]
    """The table's own region first, then its replicas."""
    consistency: str
    """strong, eventual, or streams (a table per region and the replicator)"""


@dataclass
class Topology:
    stack: str
    layout: str
    record_name: str
    ttl_seconds: int | None
    """None: alias records (Route 53 answers them with the target's TTL, 60 s for an ALB)."""
    sites: list[SiteNode]
    data: TableNode
    control: TableNode
    witness: str | None
    orchestrators: list[str]
    """Regions whose orchestrator may transition (one per site's AWS region)."""
    observers: list[str]
    """Regions whose orchestrator only observes and votes (the witness region)."""
    alarm_region: str
    alarms: list[str]
    topics: list[str]
    """Regions with a notice topic."""
    parameter_name: str
    parameter_regions: list[str]
    haproxy_backup: bool
    """ovh-hybrid: each HAProxy forwards to the other sites' HAProxies when all of its own servers are down."""
    scales: bool = False
    """The orchestrator scales a standby site up when writes move there (a warm standby)."""
    budget: Mapping[str, Any] = field(default_factory=dict)

    @property
    def regions(self) -> list[str]:
        """Every AWS region the stack uses, in failover order, then the others (witness, alarms)."""
        out = [s.aws_region for s in self.sites]
        extra = [self.witness, self.alarm_region, *self.data.regions, *self.control.regions, *self.parameter_regions]
        return out + sorted({r for r in extra if r and r not in out})


def _of_type(doc: Mapping[str, Any], token: str) -> list[dict]:
    return [r for r in doc.get("resources", []) if r["type"] == token]


def _table(doc: Mapping[str, Any], name: str) -> TableNode:
    tables = [t for t in _of_type(doc, TABLE) if t["inputs"].get("name") == name]
    if len(tables) > 1:  # the streams replicator: one table per region
        return TableNode(name, tuple(t["region"] for t in tables), "streams")
    if not tables:
        return TableNode(name, (), "absent")
    inputs = tables[0]["inputs"]
    replicas = inputs.get("replicas") or []
    strong = any(r.get("consistencyMode") == "STRONG" for r in replicas)
    regions = (tables[0]["region"], *(r["regionName"] for r in replicas))
    return TableNode(name, regions, "strong" if strong else "eventual")


def _failover_record(doc: Mapping[str, Any]) -> tuple[str, int | None]:
    primary = [r for r in _of_type(doc, RECORD) if r["inputs"].get("failoverRoutingPolicies")]
    top = min(primary, key=lambda r: len(r["inputs"]["name"]), default=None)
    if top is None:
        return "", None
    ttl = top["inputs"].get("ttl")
    return top["inputs"]["name"], int(ttl) if ttl is not None else None


def _ecs_label(service: Mapping[str, Any], app: str) -> str:
    count = service.get("desiredCount")
    tasks = "" if count is None else f" ({int(count)} task{'' if int(count) == 1 else 's'})"
    return f"ECS service {service.get('name', app)}{tasks}"


def _sites(doc: Mapping[str, Any], cfg: Any) -> list[SiteNode]:
    layout, outputs = doc.get("layout") or "aws", doc.get("outputs", {})
    if layout == "aws":
        services = {r["region"]: r["inputs"] for r in _of_type(doc, ECS_SERVICE)}
        albs = {r["region"]: r["name"] for r in _of_type(doc, LOAD_BALANCER)}
        return [
            SiteNode(
                region,
                "AWS",
                region,
                region,
                f"ALB {albs.get(region, '')}".strip(),
                _ecs_label(services.get(region, {}), cfg.app.name),
            )
            for region in cfg.regions.all
        ]
    if layout == "digitalocean":
        ips, clusters = outputs.get("loadBalancerIps", {}), {r["region"]: r for r in _of_type(doc, CLUSTER)}
        return [
            SiteNode(
                s.region,
                "DigitalOcean",
                s.region,
                s.aws_region,
                f"load balancer {ips.get(s.aws_region, '')}".strip(),
                f"DOKS {clusters.get(s.region, {}).get('inputs', {}).get('name', s.region)}: "
                f"Deployment {cfg.app.name} ({cfg.app.replicas} pods active, {cfg.app.standby_replicas} standby)",
            )
            for s in cfg.sites
        ]
    ips = outputs.get("haproxyIps", {})
    return [
        SiteNode(
            s.name,
            "OVHcloud",
            s.ovh_region,
            s.aws_region,
            f"HAProxy {ips.get(s.aws_region, s.haproxy.public_ip)}",
            f"{len(s.servers)} servers",
            tuple(Server(v.name, f"{v.address}:{v.port}") for v in s.servers),
        )
        for s in cfg.sites
    ]


def topology_from(doc: Mapping[str, Any], cfg: Any) -> Topology:
    """The topology of the stack previewed as `doc` (`drctl preview --json`), whose validated config is `cfg`."""
    outputs = doc.get("outputs", {})
    sites = _sites(doc, cfg)
    data = _table(doc, outputs.get("tableName", ""))
    control = _table(doc, outputs.get("controlTableName", ""))
    observers = sorted(outputs.get("observerFunctionArns", {}))
    record_name, ttl = _failover_record(doc)
    # The health alarms on the Route 53 checks (the alarm path); the operator alarms of each region are not drawn.
    alarms = [a for a in _of_type(doc, ALARM) if a["inputs"].get("namespace") == "AWS/Route53"]
    parameter = outputs.get("activeRegionParameter", "")
    return Topology(
        stack=str(doc.get("stack", "")),
        layout=str(doc.get("layout") or "aws"),
        record_name=record_name,
        ttl_seconds=ttl,
        sites=sites,
        data=data,
        control=control,
        witness=observers[0] if observers else None,
        orchestrators=[s.aws_region for s in sites],
        observers=observers,
        alarm_region=alarms[0]["region"] if alarms else "us-east-1",
        alarms=sorted(a["inputs"].get("name", a["name"]) for a in alarms),
        topics=sorted(t["region"] for t in _of_type(doc, TOPIC) if "notify" in t["name"]),
        parameter_name=parameter,
        parameter_regions=sorted(p["region"] for p in _of_type(doc, PARAMETER) if p["inputs"].get("name") == parameter),
        haproxy_backup=doc.get("layout") == "ovh-hybrid",
        scales=getattr(cfg, "scale_kind", "none") != "none",
        budget=doc.get("budget") or {},
    )
