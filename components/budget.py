"""RTO/RPO budget computed from the declared settings (plain arithmetic, no Pulumi).

The same functions serve the program's stack output, the offline preview and the policy pack,
so the number a deploy is gated on is the number the preview shows.
"""

from __future__ import annotations

from dataclasses import dataclass

# Route 53 health checkers give up on a check after a 4 s connect time-out plus a 2 s response time-out.
CHECKER_CONNECT_SECONDS = 4
CHECKER_RESPONSE_SECONDS = 2
# Route 53 answers alias records that point at an ALB with a fixed 60 s TTL.
ALIAS_TO_ALB_TTL_SECONDS = 60
# Route 53 publishes HealthCheckStatus once a minute, so a CloudWatch alarm on it has 60 s periods.
HEALTH_METRIC_PERIOD_SECONDS = 60
# Allowance for the orchestrator's transition (probe, conditional write, SSM in every region,
# ECS update, SNS). The runtime benchmark measures it; see the README.
TRANSITION_ALLOWANCE_SECONDS = 10


@dataclass(frozen=True)
class BudgetInputs:
    health_interval_seconds: int
    health_failure_threshold: int
    dns_ttl_seconds: int
    alarm_evaluation_periods: int
    monitor_interval_seconds: int
    monitor_failure_threshold: int
    client_cache_seconds: int
    strong_consistency: bool
    rpo_gate_seconds: int
    automatic_failover: bool
    objective_rto_seconds: int
    objective_rpo_seconds: int


@dataclass(frozen=True)
class Budget:
    detection_seconds: int
    traffic_rto_seconds: int
    write_rto_seconds: int
    rpo_seconds: int
    objective_rto_seconds: int
    objective_rpo_seconds: int
    automatic_failover: bool

    @property
    def rto_seconds(self) -> int:
        """Users are back when both traffic and writes have moved."""
        return max(self.traffic_rto_seconds, self.write_rto_seconds)

    @property
    def meets_rto(self) -> bool:
        return self.automatic_failover and self.rto_seconds <= self.objective_rto_seconds

    @property
    def meets_rpo(self) -> bool:
        return self.rpo_seconds <= self.objective_rpo_seconds

    def to_json(self) -> dict:
        """The camelCase document used by the preview's JSON and the stack output."""
        return {
            "detectionSeconds": self.detection_seconds,
            "trafficRtoSeconds": self.traffic_rto_seconds,
            "writeRtoSeconds": self.write_rto_seconds,
            "rpoSeconds": self.rpo_seconds,
            "automaticFailover": self.automatic_failover,
            "objectives": {
                "rtoSeconds": self.objective_rto_seconds,
                "rpoSeconds": self.objective_rpo_seconds,
            },
        }


def detection_seconds(interval: int, failure_threshold: int) -> int:
    """Worst case for Route 53 to call an endpoint unhealthy: N failed checks, the last one timing out."""
    return interval * failure_threshold + CHECKER_CONNECT_SECONDS + CHECKER_RESPONSE_SECONDS


def alarm_path_seconds(detection: int, evaluation_periods: int) -> int:
    """Health check unhealthy -> CloudWatch alarm fires -> SNS -> orchestrator invoked."""
    return detection + HEALTH_METRIC_PERIOD_SECONDS * evaluation_periods


def monitor_path_seconds(monitor_interval: int, failure_threshold: int) -> int:
    """The scheduled monitor needs N consecutive failed ticks; the outage may start just after a tick."""
    return monitor_interval * failure_threshold


def compute_budget(i: BudgetInputs) -> Budget:
    """Worst-case seconds for each plane, per DESIGN.md's RTO/RPO budget.

    Writes move on whichever trigger fires first (alarm or monitor); with manual failover the
    write RTO is unbounded by automation and the budget says so through `automatic_failover`.
    """
    detection = detection_seconds(i.health_interval_seconds, i.health_failure_threshold)
    traffic = detection + i.dns_ttl_seconds
    trigger = min(
        alarm_path_seconds(detection, i.alarm_evaluation_periods),
        monitor_path_seconds(i.monitor_interval_seconds, i.monitor_failure_threshold),
    )
    write = trigger + TRANSITION_ALLOWANCE_SECONDS + i.client_cache_seconds
    rpo = 0 if i.strong_consistency else i.rpo_gate_seconds
    return Budget(
        detection_seconds=detection,
        traffic_rto_seconds=traffic,
        write_rto_seconds=write,
        rpo_seconds=rpo,
        objective_rto_seconds=i.objective_rto_seconds,
        objective_rpo_seconds=i.objective_rpo_seconds,
        automatic_failover=i.automatic_failover,
    )


def budget_inputs_from_config(cfg) -> BudgetInputs:
    """Read the budget's inputs from a StackConfig (kept here so every caller agrees)."""
    return BudgetInputs(
        health_interval_seconds=cfg.health_check.interval,
        health_failure_threshold=cfg.health_check.failure_threshold,
        dns_ttl_seconds=ALIAS_TO_ALB_TTL_SECONDS,
        alarm_evaluation_periods=cfg.failover.alarm_evaluation_periods,
        monitor_interval_seconds=cfg.failover.monitor_interval_minutes * 60,
        monitor_failure_threshold=cfg.failover.failure_threshold,
        client_cache_seconds=cfg.failover.client_cache_seconds,
        strong_consistency=cfg.table.consistency == "strong",
        rpo_gate_seconds=cfg.objectives.rpo_seconds,
        automatic_failover=cfg.failover.mode == "automatic",
        objective_rto_seconds=cfg.objectives.rto_seconds,
        objective_rpo_seconds=cfg.objectives.rpo_seconds,
    )



