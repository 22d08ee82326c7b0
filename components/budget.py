"""RTO/RPO budget computed from the declared settings (plain arithmetic, no Pulumi).

The same functions serve the program's stack output, the offline preview and the policy pack, so the
number a deploy is gated on is the number the preview shows.

Writes are budgeted for the worst single-region failure: when the active region fails, only the
detection paths that do not run in it count. The Route 53 alarm path lives in us-east-1 (the only
region with health-check metrics); the monitor path runs in every orchestrator region. So when
us-east-1 is the active region, its failure leaves the monitor path alone, and the budget says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Route 53 health checkers give up on a check after a 4 s connect time-out plus a 2 s response time-out.
CHECKER_CONNECT_SECONDS = 4
CHECKER_RESPONSE_SECONDS = 2
# Route 53 answers alias records that point at an ALB with a fixed 60 s TTL.
ALIAS_TO_ALB_TTL_SECONDS = 60
# Route 53 publishes HealthCheckStatus once a minute, so a CloudWatch alarm on it has 60 s periods.
HEALTH_METRIC_PERIOD_SECONDS = 60
# Route 53's health-check metrics, and so the alarms on them, exist only in this region.
ALARM_REGION = "us-east-1"
# The two fenced writes of a transition, each bounded by the orchestrator's 2 s per-call deadline: the epoch bump
# that demotes the old region and the activation of the new one (the runtime benchmark measures each well under a
# second). Between them the transition waits the settle time (below); everything else runs concurrently or after.
TRANSITION_ALLOWANCE_SECONDS = 4
# A passive application asks the authority again at most every lease / PICKUP_DIVISOR seconds, so it starts writing
# at most that long after the activation.
PICKUP_DIVISOR = 5
# A warm standby starts serving full traffic once its new tasks/pods pass their health checks.
SCALE_UP_ALLOWANCE_SECONDS = {"ecs": 90, "kubernetes": 60, "none": 0}

# Global Accelerator (dr:traffic.mode accelerator). With load balancer endpoints it takes each endpoint's health from
# Elastic Load Balancing, not from the endpoint group's health-check settings (those apply to EC2 instances and
# Elastic IPs only), so each region's NLB checks `<health path>/accelerator` through the ALB with these settings.
ACCELERATOR_HEALTH_INTERVAL_SECONDS = 10
ACCELERATOR_HEALTHY_THRESHOLD = 2
"""The least an NLB target group takes (2-10): a region turns healthy after 2 passing checks, 2 x 10 s."""
ACCELERATOR_UNHEALTHY_THRESHOLD = 2
ACCELERATOR_HEALTH_TIMEOUT_SECONDS = 5
"""A hung region's entry fails a check only when it times out: its second failed check ends 2 x 10 s + 5 s after the
failure at worst (as Route 53's detection counts the checker's time-outs)."""
# From an endpoint's health change to Global Accelerator's routing (its reaction): AWS documents that routing returns
# to a healthy endpoint "after about 30 seconds or so" (Global Accelerator developer guide, "How failover works for
# unhealthy endpoints"); no figure is published for the way out of an unhealthy one, so the budget uses the same
# conservative 30 s both ways.
ACCELERATOR_PROPAGATION_SECONDS = 30
ACCELERATOR_SOURCE = (
    "https://docs.aws.amazon.com/global-accelerator/latest/dg/about-endpoints-endpoint-weights.unhealthy-endpoints.html"
)

Path = Literal["monitor", "alarm", "none"]
TrafficMode = Literal["dns", "accelerator"]


@dataclass(frozen=True)
class BudgetInputs:
    regions: tuple[str, ...]
    """Failover priority, primary first."""
    orchestrator_regions: tuple[str, ...]
    health_interval_seconds: int
    health_failure_threshold: int
    dns_ttl_seconds: int
    alarm_evaluation_periods: int
    """0 when no Route 53 alarm triggers the orchestrators."""
    probe_interval_seconds: float
    probe_timeout_seconds: float
    monitor_failure_threshold: int
    client_cache_seconds: int
    strong_consistency: bool
    rpo_gate_seconds: int
    automatic_failover: bool
    objective_rto_seconds: int
    objective_rpo_seconds: int
    scale_up_seconds: int = 0
    """0 for a hot standby (full size everywhere); the site kind's allowance for a warm one."""
    in_proxy_failover_seconds: float | None = None
    """ovh-hybrid: a site's HAProxy sends traffic to the next region after inter x fall, before DNS moves."""
    traffic_mode: TrafficMode = "dns"
    """accelerator: Global Accelerator moves traffic by endpoint health and deploy-time dials (no TTL)."""


@dataclass(frozen=True)
class AcceleratorTraffic:
    """Global Accelerator's traffic RTO. The dials (primary 100, the others 0) and the entries' health
    (`failover.health.accelerator_route`: the active region and, while the primary is active, its successor) are set
    so that when the primary fails Global Accelerator sends everyone to the successor on health alone, before writes
    move; the successor refuses writes until its lease confirms it active, so users are fully served at the later of
    the two. After a failover, until failback, only the active region is healthy: its failure leaves no healthy
    entry (Global Accelerator fails open) until the next active region passes its checks."""

    write_seconds: int
    """The write RTO: the successor (the orchestrator's target when it is healthy) accepts writes."""
    primary: str
    """Its endpoint group has the traffic dial 100."""
    successor: str | None
    """The first secondary: where Global Accelerator sends everyone when the primary fails."""
    unhealthy_seconds: int = (
        ACCELERATOR_HEALTH_INTERVAL_SECONDS * ACCELERATOR_UNHEALTHY_THRESHOLD + ACCELERATOR_HEALTH_TIMEOUT_SECONDS
    )
    healthy_seconds: int = ACCELERATOR_HEALTH_INTERVAL_SECONDS * ACCELERATOR_HEALTHY_THRESHOLD
    reaction_seconds: int = ACCELERATOR_PROPAGATION_SECONDS

    @property
    def reach_seconds(self) -> int:
        """Users reach the successor: the primary's entry fails its checks, then Global Accelerator reacts (the
        successor's entry has been healthy all along)."""
        return self.unhealthy_seconds + self.reaction_seconds

    @property
    def seconds(self) -> int:
        """The traffic RTO when the primary fails: users at the successor and writes accepted there."""
        if self.successor is None:
            return self.after_failover_seconds
        return max(self.reach_seconds, self.write_seconds)

    @property
    def after_failover_seconds(self) -> int:
        """A region turned healthy by a move of writes takes traffic: after a failover, the active region failing
        (until failback), or a double failure (the successor already failing when the primary fails); and traffic
        back to the primary when writes move back to it."""
        return self.write_seconds + self.healthy_seconds + self.reaction_seconds

    def to_json(self) -> dict:
        return {
            "primary": self.primary,
            "successor": self.successor,
            "primaryUnhealthy": self.unhealthy_seconds,
            "reaction": self.reaction_seconds,
            "successorReached": self.reach_seconds,
            "writesMoved": self.write_seconds,
            "newRegionHealthy": self.healthy_seconds,
            "afterFailoverSeconds": self.after_failover_seconds,
            "reactionSource": ACCELERATOR_SOURCE,
        }


@dataclass(frozen=True)
class Budget:
    detection_seconds: int
    traffic_rto_seconds: int
    write_rto_seconds: int
    rpo_seconds: int
    objective_rto_seconds: int
    objective_rpo_seconds: int
    automatic_failover: bool
    write_path: Path = "monitor"
    """The detection path the write RTO rests on (the fastest one that survives the failure)."""
    worst_failure: str | None = None
    """The active region whose failure gives the worst write RTO."""
    scale_up_seconds: int = 0
    in_proxy_failover_seconds: float | None = None
    traffic_follows_writes_seconds: int = 0
    """After writes move to a higher-priority region, the time until its health check passes again and
    the DNS answer changes: the cost of keeping traffic with writes (not part of the outage RTO)."""
    settle_seconds: float = 0.0
    """Between demoting the old region and activating the new one: the client lease (the old region's writers
    have stopped), with eventual consistency at least the lag gate's bound (what it wrote last has arrived)."""
    manual_write_rto_seconds: int = 0
    """An operator's transition, from the request to the new region's first write (no detection)."""
    write_trigger_seconds: float = 0.0
    """The detection part of the write RTO (the surviving path's)."""
    accelerator: AcceleratorTraffic | None = None
    """Set with dr:traffic.mode accelerator: how the traffic RTO is made up."""

    @property
    def rto_seconds(self) -> int:
        """Users are back when both traffic and writes have moved."""
        return max(self.traffic_rto_seconds, self.write_rto_seconds)

    @property
    def after_failover_traffic_seconds(self) -> int | None:
        """With an accelerator: the traffic RTO when the region active since a failover fails (until failback)."""
        return self.accelerator.after_failover_seconds if self.accelerator is not None else None

    @property
    def meets_rto(self) -> bool:
        after = self.after_failover_traffic_seconds or 0
        return (
            self.automatic_failover
            and self.write_path != "none"
            and max(self.rto_seconds, after) <= self.objective_rto_seconds
        )

    @property
    def meets_rpo(self) -> bool:
        return self.rpo_seconds <= self.objective_rpo_seconds

    def misses(self) -> list[str]:
        """One sentence per objective missed, naming the figure that misses it."""
        out = []
        if not self.automatic_failover:
            out.append("failover is manual: no automated RTO can be guaranteed")
        elif self.write_path == "none":
            out.append(
                f"no detection path survives the failure of {self.worst_failure}: put an orchestrator in another region"
            )
        elif self.rto_seconds > self.objective_rto_seconds:
            slowest = "traffic" if self.traffic_rto_seconds >= self.write_rto_seconds else "write"
            figure = self.traffic_rto_seconds if slowest == "traffic" else self.write_rto_seconds
            out.append(
                f"{slowest} RTO {figure}s exceeds the RTO objective of {self.objective_rto_seconds}s "
                f"(traffic {self.traffic_rto_seconds}s, writes {self.write_rto_seconds}s via the "
                f"{self.write_path} path when {self.worst_failure} fails)"
            )
        after = self.after_failover_traffic_seconds
        if self.automatic_failover and self.write_path != "none" and after and after > self.objective_rto_seconds:
            out.append(
                f"traffic RTO after a failover {after}s exceeds the RTO objective of {self.objective_rto_seconds}s "
                "(Global Accelerator: the region active since a failover fails, no entry is healthy until writes "
                "move on and the next region passes its checks)"
            )
        if self.rpo_seconds > self.objective_rpo_seconds:
            out.append(f"RPO {self.rpo_seconds}s exceeds the RPO objective of {self.objective_rpo_seconds}s")
        return out

    def _pickup(self) -> float:
        return pickup_seconds(self.settle_seconds)

    def to_json(self) -> dict:
        """The camelCase document used by the preview's JSON and the stack output."""
        return {
            "detectionSeconds": self.detection_seconds,
            "trafficRtoSeconds": self.traffic_rto_seconds,
            "writeRtoSeconds": self.write_rto_seconds,
            "writePath": self.write_path,
            "worstFailure": self.worst_failure,
            "scaleUpSeconds": self.scale_up_seconds,
            "trafficFollowsWritesSeconds": self.traffic_follows_writes_seconds,
            "writeRtoParts": {
                "detection": round(self.write_trigger_seconds, 1),
                "fencedWrites": TRANSITION_ALLOWANCE_SECONDS,
                "settle": round(self.settle_seconds, 1),
                "pickup": round(self.settle_seconds and self._pickup(), 1),
            },
            **(
                {"trafficMode": "accelerator", "trafficRtoParts": self.accelerator.to_json()}
                if self.accelerator is not None
                else {}
            ),
            "manualWriteRtoSeconds": self.manual_write_rto_seconds,
            "inProxyFailoverSeconds": self.in_proxy_failover_seconds,
            "rpoSeconds": self.rpo_seconds,
            "automaticFailover": self.automatic_failover,
            "objectives": {
                "rtoSeconds": self.objective_rto_seconds,
                "rpoSeconds": self.objective_rpo_seconds,
            },
        }


def settle_seconds(i: BudgetInputs) -> float:
    """The wait between a transition's two fenced writes (`failover.decisions.settle_seconds` at its bound)."""
    lease = float(i.client_cache_seconds)
    return lease if i.strong_consistency else max(lease, float(i.rpo_gate_seconds))


def pickup_seconds(settle: float) -> float:
    return settle / PICKUP_DIVISOR if settle else 0.0


def detection_seconds(interval: int, failure_threshold: int) -> int:
    """Worst case for Route 53 to call an endpoint unhealthy: N failed checks, the last one timing out."""
    return interval * failure_threshold + CHECKER_CONNECT_SECONDS + CHECKER_RESPONSE_SECONDS


def alarm_path_seconds(detection: int, evaluation_periods: int) -> int:
    """Health check unhealthy -> CloudWatch alarm fires -> SNS -> orchestrator invoked."""
    return detection + HEALTH_METRIC_PERIOD_SECONDS * evaluation_periods


def monitor_path_seconds(probe_interval: float, failure_threshold: int, probe_timeout: float) -> float:
    """The monitor probes every `probe_interval` seconds; the outage may start just after a passing probe,
    so N failed probes take N intervals, the last one taking up to its timeout."""
    return probe_interval * failure_threshold + probe_timeout


def write_trigger(i: BudgetInputs, failed: str) -> tuple[float | None, Path]:
    """The fastest detection path that survives the failure of `failed`, and its seconds."""
    paths: list[tuple[float, Path]] = []
    survivors = [r for r in i.orchestrator_regions if r != failed]
    if survivors:
        paths.append(
            (
                monitor_path_seconds(i.probe_interval_seconds, i.monitor_failure_threshold, i.probe_timeout_seconds),
                "monitor",
            )
        )
        if i.alarm_evaluation_periods > 0 and failed != ALARM_REGION:
            detection = detection_seconds(i.health_interval_seconds, i.health_failure_threshold)
            paths.append((alarm_path_seconds(detection, i.alarm_evaluation_periods), "alarm"))
    if not paths:
        return None, "none"
    return min(paths)


def compute_budget(i: BudgetInputs) -> Budget:
    """Worst-case seconds for each plane.

    The write RTO is computed for each region failing while it is the active one, and the worst is kept:
    the primary in normal operation, any standby after a failover. Manual failover is unbounded by
    automation and the budget says so through `automatic_failover`."""
    detection = detection_seconds(i.health_interval_seconds, i.health_failure_threshold)
    worst: tuple[float, Path, str | None] = (-1.0, "monitor", None)
    for region in i.regions:
        seconds, path = write_trigger(i, region)
        if seconds is None:
            worst = (float("inf"), "none", region)
            break
        if seconds > worst[0]:
            worst = (seconds, path, region)
    trigger, path, failed = worst
    settle = settle_seconds(i)
    after_decision = TRANSITION_ALLOWANCE_SECONDS + settle + pickup_seconds(settle)
    if path == "none":
        write = 0
        trigger = 0.0
    else:
        write = _ceil(trigger + after_decision)
    accelerator = (
        AcceleratorTraffic(write, i.regions[0], i.regions[1] if len(i.regions) > 1 else None)
        if i.traffic_mode == "accelerator"
        else None
    )
    traffic = accelerator.seconds if accelerator else detection + i.dns_ttl_seconds
    if i.scale_up_seconds:
        traffic = max(traffic, _ceil(trigger + TRANSITION_ALLOWANCE_SECONDS + i.scale_up_seconds))
    follows = (
        accelerator.after_failover_seconds
        if accelerator
        else write + i.health_interval_seconds * i.health_failure_threshold + i.dns_ttl_seconds
    )
    return Budget(
        detection_seconds=detection,
        traffic_rto_seconds=traffic,
        write_rto_seconds=write,
        rpo_seconds=0 if i.strong_consistency else i.rpo_gate_seconds,
        objective_rto_seconds=i.objective_rto_seconds,
        objective_rpo_seconds=i.objective_rpo_seconds,
        automatic_failover=i.automatic_failover,
        write_path=path,
        worst_failure=failed,
        scale_up_seconds=i.scale_up_seconds,
        in_proxy_failover_seconds=i.in_proxy_failover_seconds,
        traffic_follows_writes_seconds=follows,
        settle_seconds=settle,
        manual_write_rto_seconds=_ceil(after_decision),
        write_trigger_seconds=trigger,
        accelerator=accelerator,
    )


def _ceil(seconds: float) -> int:
    whole = int(seconds)
    return whole if whole == seconds else whole + 1


def budget_inputs_from_config(cfg, orchestrator_regions: tuple[str, ...] | None = None) -> BudgetInputs:
    """Read the budget's inputs from a validated stack config of any layout (kept here so every caller
    agrees): the layout's model says how its standbys scale (`scale_kind`) and its records' TTL (`dns_ttl`)."""
    regions = tuple(cfg.regions.all)
    in_proxy = getattr(cfg, "in_proxy_failover_seconds", None)
    return BudgetInputs(
        regions=regions,
        orchestrator_regions=orchestrator_regions if orchestrator_regions is not None else regions,
        health_interval_seconds=cfg.health_check.interval,
        health_failure_threshold=cfg.health_check.failure_threshold,
        dns_ttl_seconds=cfg.dns_ttl,
        alarm_evaluation_periods=cfg.failover.alarm_evaluation_periods,
        probe_interval_seconds=cfg.failover.probe_interval_seconds,
        probe_timeout_seconds=cfg.failover.probe_timeout_seconds,
        monitor_failure_threshold=cfg.failover.failure_threshold,
        client_cache_seconds=cfg.failover.client_cache_seconds,
        strong_consistency=cfg.table.consistency == "strong",
        rpo_gate_seconds=cfg.objectives.rpo_seconds,
        automatic_failover=cfg.failover.mode == "automatic",
        objective_rto_seconds=cfg.objectives.rto_seconds,
        objective_rpo_seconds=cfg.objectives.rpo_seconds,
        scale_up_seconds=SCALE_UP_ALLOWANCE_SECONDS[cfg.scale_kind],
        in_proxy_failover_seconds=in_proxy() if in_proxy else None,
        traffic_mode=cfg.traffic.mode,
    )
