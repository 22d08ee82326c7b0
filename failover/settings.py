"""The orchestrator's configuration, read from DR_* environment variables (each documented in docs/runtime.md).

The variable names are declared here once: the program that writes them (components/orchestrator.py),
this parser and the tests all use these constants, and a round-trip test parses what the program writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from failover.scaling import ScaleTarget, ScaleTargetError, parse_scale_target

APP = "DR_APP"
REGIONS = "DR_REGIONS"
HOME_REGION = "DR_HOME_REGION"
CONTROL_TABLE = "DR_CONTROL_TABLE"
DATA_TABLE = "DR_DATA_TABLE"
ACTIVE_REGION_PARAMETER = "DR_ACTIVE_REGION_PARAMETER"
HEALTH_URLS = "DR_HEALTH_URLS"
ALARM_REGIONS = "DR_ALARM_REGIONS"
SCALE_TARGETS = "DR_SCALE_TARGETS"
TOPIC_ARNS = "DR_TOPIC_ARNS"
FAILURE_THRESHOLD = "DR_FAILURE_THRESHOLD"
RECOVERY_THRESHOLD = "DR_RECOVERY_THRESHOLD"
MIN_DWELL_SECONDS = "DR_MIN_DWELL_SECONDS"
FAILBACK = "DR_FAILBACK"
AUTOMATIC_FAILOVER = "DR_AUTOMATIC_FAILOVER"
RPO_SECONDS = "DR_RPO_SECONDS"
PROBE_INTERVAL_SECONDS = "DR_PROBE_INTERVAL_SECONDS"
PROBE_TIMEOUT_SECONDS = "DR_PROBE_TIMEOUT_SECONDS"
MONITOR_WINDOW_SECONDS = "DR_MONITOR_WINDOW_SECONDS"
REPLICATION = "DR_REPLICATION"
CONTROL_REGIONS = "DR_CONTROL_REGIONS"
OBSERVER_REGIONS = "DR_OBSERVER_REGIONS"
LEASE_SECONDS = "DR_LEASE_SECONDS"

# A probe must finish well inside its interval, so a hung region costs one timeout per round.
MAX_PROBE_TIMEOUT_FRACTION = 0.5


class SettingsError(ValueError):
    """A missing or malformed environment variable; the message starts with its name."""


@dataclass(frozen=True)
class Settings:
    app: str
    regions: tuple[str, ...]
    home_region: str
    control_table: str
    parameter_name: str
    health_urls: Mapping[str, str]
    alarm_regions: Mapping[str, str]
    scale_targets: Mapping[str, ScaleTarget] = field(default_factory=dict)
    """region -> how its site is brought to full size when writes move there."""
    topic_arns: Mapping[str, str] = field(default_factory=dict)
    failure_threshold: int = 3
    recovery_threshold: int = 5
    min_dwell_seconds: int = 300
    failback: str = "manual"
    automatic: bool = True
    rpo_seconds: float | None = None
    data_table: str | None = None
    probe_interval_seconds: float = 10.0
    """The monitor probes every region this often inside one invocation."""
    probe_timeout_seconds: float = 3.0
    monitor_window_seconds: float = 60.0
    """How long one scheduled monitor invocation keeps probing (the schedule's period)."""
    replication: str = "global"
    """global (a global table: DynamoDB's ReplicationLatency in the source region) or streams (the
    replicator's lag metric, published in each receiving region)."""
    control_regions: tuple[str, ...] = ()
    """Where the control table has replicas (empty: the home region only)."""
    observer_regions: tuple[str, ...] = ()
    """Every region that runs an observing orchestrator (the quorum's denominator; empty: `regions`)."""
    client_lease_seconds: float = 5.0
    """How long an application may write after confirming its region is active (DR_CACHE_SECONDS of the
    applications): a transition waits this long between demoting the old region and promoting the new one."""

    def __post_init__(self) -> None:
        if not self.observer_regions:
            object.__setattr__(self, "observer_regions", self.regions)
        if not self.control_regions:
            object.__setattr__(self, "control_regions", (self.home_region,))

    @property
    def home(self) -> str:
        """The first region in priority order: where failback returns."""
        return self.regions[0]

    @property
    def observer_only(self) -> bool:
        """An orchestrator in a region without a site (the control table's witness region): it observes and
        votes, and never transitions."""
        return self.home_region not in self.regions

    @property
    def control_order(self) -> tuple[str, ...]:
        """The control table's replicas this orchestrator reads, nearest first (its own region when it has one)."""
        own = (self.home_region,) if self.home_region in self.control_regions else ()
        return own + tuple(r for r in self.control_regions if r != self.home_region)

    @property
    def control_key(self) -> str:
        return f"control#{self.app}"


def _json_object(env: Mapping[str, str], name: str, required: bool) -> dict:
    raw = env.get(name)
    if raw is None or raw == "":
        if required:
            raise SettingsError(f"{name} is not set")
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{name} is not valid JSON ({exc.msg} at position {exc.pos})") from None
    except ValueError as exc:  # valid syntax json still refuses, e.g. an integer over Python's 4300-digit limit
        raise SettingsError(f"{name} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{name} must be a JSON object")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, got {raw}")
    return value


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set")
    return value


def _region_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in (env.get(name) or "").split(",") if r.strip())


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse and cross-check the DR_* variables; raises SettingsError naming the first bad one."""
    env = os.environ if env is None else env
    regions = tuple(r.strip() for r in _required(env, REGIONS).split(",") if r.strip())
    if len(regions) < 2 or len(set(regions)) != len(regions):
        raise SettingsError(f"{REGIONS} must list at least two distinct regions, primary first")
    observers = _region_list(env, OBSERVER_REGIONS) or regions
    if len(set(observers)) != len(observers) or not set(regions) <= set(observers):
        raise SettingsError(
            f"{OBSERVER_REGIONS} must list every region of {REGIONS} once, and may add others (a witness region)"
        )
    home_region = env.get(HOME_REGION) or env.get("AWS_REGION") or ""
    if home_region not in observers:
        raise SettingsError(
            f"{HOME_REGION} (or AWS_REGION) must be one of {OBSERVER_REGIONS or REGIONS}, got {home_region!r}"
        )
    control_regions = _region_list(env, CONTROL_REGIONS) or (home_region,)
    if len(set(control_regions)) != len(control_regions) or not set(control_regions) <= set(observers):
        raise SettingsError(f"{CONTROL_REGIONS} must list distinct regions among {OBSERVER_REGIONS or REGIONS}")
    health_urls = _json_object(env, HEALTH_URLS, required=True)
    missing = [r for r in regions if r not in health_urls]
    if missing:
        raise SettingsError(f"{HEALTH_URLS} has no URL for {', '.join(missing)}")
    alarm_regions = _json_object(env, ALARM_REGIONS, required=False)
    for alarm, region in alarm_regions.items():
        if region not in regions:
            raise SettingsError(f"{ALARM_REGIONS} maps {alarm!r} to {region!r}, which is not in {REGIONS}")
    scale_targets = {}
    for region, ref in _json_object(env, SCALE_TARGETS, required=False).items():
        if region not in regions:
            raise SettingsError(f"{SCALE_TARGETS} names {region!r}, which is not in {REGIONS}")
        try:
            scale_targets[region] = parse_scale_target(region, ref)
        except ScaleTargetError as exc:
            raise SettingsError(str(exc)) from None
    topic_arns = _json_object(env, TOPIC_ARNS, required=False)
    failback = env.get(FAILBACK, "manual") or "manual"
    if failback not in ("manual", "automatic"):
        raise SettingsError(f"{FAILBACK} must be manual or automatic, got {failback!r}")
    automatic = (env.get(AUTOMATIC_FAILOVER, "true") or "true").lower()
    if automatic not in ("true", "false"):
        raise SettingsError(f"{AUTOMATIC_FAILOVER} must be true or false, got {automatic!r}")
    replication = env.get(REPLICATION) or "global"
    if replication not in ("global", "streams"):
        raise SettingsError(f"{REPLICATION} must be global or streams, got {replication!r}")
    interval = _seconds(env, PROBE_INTERVAL_SECONDS, 10.0, 1.0, 300.0)
    timeout = _seconds(env, PROBE_TIMEOUT_SECONDS, min(3.0, interval * MAX_PROBE_TIMEOUT_FRACTION), 0.1, 60.0)
    if timeout > interval * MAX_PROBE_TIMEOUT_FRACTION:
        raise SettingsError(
            f"{PROBE_TIMEOUT_SECONDS} ({timeout:g}) must be at most half of "
            f"{PROBE_INTERVAL_SECONDS} ({interval:g}), so a hung region costs one timeout per round"
        )
    return Settings(
        app=_required(env, APP),
        regions=regions,
        home_region=home_region,
        control_table=_required(env, CONTROL_TABLE),
        parameter_name=_required(env, ACTIVE_REGION_PARAMETER),
        health_urls={k: str(v) for k, v in health_urls.items()},
        alarm_regions={k: str(v) for k, v in alarm_regions.items()},
        scale_targets=scale_targets,
        topic_arns={k: str(v) for k, v in topic_arns.items()},
        failure_threshold=_int(env, FAILURE_THRESHOLD, 3, minimum=1),
        recovery_threshold=_int(env, RECOVERY_THRESHOLD, 5, minimum=1),
        min_dwell_seconds=_int(env, MIN_DWELL_SECONDS, 300),
        failback=failback,
        automatic=automatic == "true",
        rpo_seconds=_optional_seconds(env, RPO_SECONDS),
        data_table=env.get(DATA_TABLE) or None,
        probe_interval_seconds=interval,
        probe_timeout_seconds=timeout,
        monitor_window_seconds=_seconds(env, MONITOR_WINDOW_SECONDS, 60.0, 1.0, 840.0),
        replication=replication,
        control_regions=control_regions,
        observer_regions=observers,
        client_lease_seconds=_seconds(env, LEASE_SECONDS, 5.0, 0.0, 300.0),
    )


def _optional_seconds(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    return _seconds(env, name, 0.0, 0.0, 86400.0)


@dataclass(frozen=True)
class ReplicatorSettings:
    """The streams replicator's configuration (one Lambda per direction, running in the source region)."""

    source_region: str
    receiving_region: str
    receiving_table: str
    workers: int = 8
    failure_queue_url: str = ""
    """Where a record that can never be replicated as it is goes (DR_FAILURE_QUEUE_URL)."""
    conflicts_table: str = ""
    """Where conflicts are recorded (DR_CONFLICTS_TABLE, in the source region); empty: counted and logged only."""
    conflict_retention_days: int = 14
    """How long a conflict record is kept (DR_CONFLICT_RETENTION_DAYS; DynamoDB TTL)."""


REPLICATOR_MAX_WORKERS = 64


def load_replicator_settings(env: Mapping[str, str] | None = None) -> ReplicatorSettings:
    """DR_SOURCE_REGION (default AWS_REGION), DR_RECEIVING_REGION, DR_RECEIVING_TABLE, DR_REPLICATOR_WORKERS,
    DR_FAILURE_QUEUE_URL, DR_CONFLICTS_TABLE, DR_CONFLICT_RETENTION_DAYS;
    raises SettingsError naming the first bad one."""
    env = os.environ if env is None else env
    source = (env.get("DR_SOURCE_REGION") or env.get("AWS_REGION") or "").strip()
    if not source:
        raise SettingsError("DR_SOURCE_REGION is not set (nor AWS_REGION)")
    receiving = _required(env, "DR_RECEIVING_REGION")
    if receiving == source:
        raise SettingsError(f"DR_RECEIVING_REGION must differ from the source region {source}")
    workers = _int(env, "DR_REPLICATOR_WORKERS", 8, minimum=1)
    if workers > REPLICATOR_MAX_WORKERS:
        raise SettingsError(f"DR_REPLICATOR_WORKERS must be at most {REPLICATOR_MAX_WORKERS}, got {workers}")
    retention = _int(env, "DR_CONFLICT_RETENTION_DAYS", 14, minimum=1)
    return ReplicatorSettings(
        source_region=source,
        receiving_region=receiving,
        receiving_table=_required(env, "DR_RECEIVING_TABLE"),
        workers=workers,
        failure_queue_url=(env.get("DR_FAILURE_QUEUE_URL") or "").strip(),
        conflicts_table=(env.get("DR_CONFLICTS_TABLE") or "").strip(),
        conflict_retention_days=retention,
    )
