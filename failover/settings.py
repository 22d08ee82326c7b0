"""The orchestrator's configuration, read from DR_* environment variables (see the README)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Mapping, Optional


class SettingsError(ValueError):
    """A missing or malformed environment variable; the message starts with its name."""


@dataclass(frozen=True)
class ServiceRef:
    cluster: str
    service: str
    desired_count: int


@dataclass(frozen=True)
class Settings:
    app: str
    regions: tuple[str, ...]
    home_region: str
    control_table: str
    parameter_name: str
    health_urls: Mapping[str, str]
    alarm_regions: Mapping[str, str]
    services: Mapping[str, ServiceRef] = field(default_factory=dict)
    topic_arns: Mapping[str, str] = field(default_factory=dict)
    failure_threshold: int = 3
    recovery_threshold: int = 5
    min_dwell_seconds: int = 300
    failback: str = "manual"
    automatic: bool = True
    rpo_seconds: Optional[int] = None
    data_table: Optional[str] = None
    probe_timeout_seconds: float = 3.0

    @property
    def home(self) -> str:
        """The first region in priority order: where failback returns."""
        return self.regions[0]

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
    except ValueError as exc:
        raise SettingsError(f"{name} is not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(value, dict):
        raise SettingsError(f"{name} must be a JSON object")
    return value


def _int(env: Mapping[str, str], name: str, default: Optional[int], minimum: int = 0) -> Optional[int]:
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


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set")
    return value


def load_settings(env: Optional[Mapping[str, str]] = None) -> Settings:
    """Parse and cross-check the DR_* variables; raises SettingsError naming the first bad one."""
    env = os.environ if env is None else env
    regions = tuple(r.strip() for r in _required(env, "DR_REGIONS").split(",") if r.strip())
    if len(regions) < 2 or len(set(regions)) != len(regions):
        raise SettingsError("DR_REGIONS must list at least two distinct regions, primary first")
    home_region = env.get("DR_HOME_REGION") or env.get("AWS_REGION") or ""
    if home_region not in regions:
        raise SettingsError(f"DR_HOME_REGION (or AWS_REGION) must be one of DR_REGIONS, got {home_region!r}")
    health_urls = _json_object(env, "DR_HEALTH_URLS", required=True)
    missing = [r for r in regions if r not in health_urls]
    if missing:
        raise SettingsError(f"DR_HEALTH_URLS has no URL for {', '.join(missing)}")
    alarm_regions = _json_object(env, "DR_ALARM_REGIONS", required=True)
    for alarm, region in alarm_regions.items():
        if region not in regions:
            raise SettingsError(f"DR_ALARM_REGIONS maps {alarm!r} to {region!r}, which is not in DR_REGIONS")
    services = {}
    for region, ref in _json_object(env, "DR_SERVICES", required=False).items():
        try:
            services[region] = ServiceRef(str(ref["cluster"]), str(ref["service"]), int(ref["desiredCount"]))
        except (KeyError, TypeError, ValueError):
            raise SettingsError(
                f"DR_SERVICES[{region!r}] needs cluster, service and a whole-number desiredCount"
            ) from None
    topic_arns = _json_object(env, "DR_TOPIC_ARNS", required=False)
    failback = env.get("DR_FAILBACK", "manual") or "manual"
    if failback not in ("manual", "automatic"):
        raise SettingsError(f"DR_FAILBACK must be manual or automatic, got {failback!r}")
    automatic = (env.get("DR_AUTOMATIC_FAILOVER", "true") or "true").lower()
    if automatic not in ("true", "false"):
        raise SettingsError(f"DR_AUTOMATIC_FAILOVER must be true or false, got {automatic!r}")
    return Settings(
        app=_required(env, "DR_APP"),
        regions=regions,
        home_region=home_region,
        control_table=_required(env, "DR_CONTROL_TABLE"),
        parameter_name=_required(env, "DR_ACTIVE_REGION_PARAMETER"),
        health_urls={k: str(v) for k, v in health_urls.items()},
        alarm_regions={k: str(v) for k, v in alarm_regions.items()},
        services=services,
        topic_arns={k: str(v) for k, v in topic_arns.items()},
        failure_threshold=_int(env, "DR_FAILURE_THRESHOLD", 3, minimum=1),
        recovery_threshold=_int(env, "DR_RECOVERY_THRESHOLD", 5, minimum=1),
        min_dwell_seconds=_int(env, "DR_MIN_DWELL_SECONDS", 300),
        failback=failback,
        automatic=automatic == "true",
        rpo_seconds=_int(env, "DR_RPO_SECONDS", None),
        data_table=env.get("DR_DATA_TABLE") or None,
    )


@dataclass(frozen=True)
class ReplicatorSettings:
    """The streams replicator's configuration (one Lambda per direction, running in the source region)."""

    source_region: str
    receiving_region: str
    receiving_table: str
    workers: int = 8


REPLICATOR_MAX_WORKERS = 64


def load_replicator_settings(env: Optional[Mapping[str, str]] = None) -> ReplicatorSettings:
    """DR_SOURCE_REGION (default AWS_REGION), DR_RECEIVING_REGION, DR_RECEIVING_TABLE, DR_REPLICATOR_WORKERS;
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
    return ReplicatorSettings(source_region=source, receiving_region=receiving,
                              receiving_table=_required(env, "DR_RECEIVING_TABLE"), workers=workers)
