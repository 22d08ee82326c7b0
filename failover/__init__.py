"""Failover runtime: orchestrator Lambda, monitor, application client and health endpoint.

Never imports Pulumi: this package ships in Lambda zips and application images. The Lambdas' entry points are
`failover.orchestrator.handler` and `failover.replicator.handler`. What an application imports is `__all__`,
importable from the package itself (`from failover import ActiveRegionResolver`), loaded on first use so that a
Lambda or an application pays only for the modules it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from failover.client import (
        ActiveRegionResolver,
        ActiveRegionUnknown,
        NotActiveRegion,
        PartialUpdateRefused,
        VersionedTable,
        WritesFenced,
    )
    from failover.health import health_report, route_health, wsgi_app
    from failover.scaling import EcsTarget, KubernetesTarget, NoScaling, scale_target_json
    from failover.settings import Settings, SettingsError, load_settings

_HOMES: dict[str, tuple[str, ...]] = {
    # the application side: where writes go, whether this region may write now, a versioned table handle
    "failover.client": (
        "ActiveRegionResolver",
        "ActiveRegionUnknown",
        "NotActiveRegion",
        "PartialUpdateRefused",
        "VersionedTable",
        "WritesFenced",
    ),
    # the application's health endpoints (`/health`, `/health/route`)
    "failover.health": ("health_report", "route_health", "wsgi_app"),
    # how the orchestrator brings a site to full size (what a site hands the DR plane as its scale target)
    "failover.scaling": ("EcsTarget", "KubernetesTarget", "NoScaling", "scale_target_json"),
    # the orchestrator's settings, read from the environment the program writes
    "failover.settings": ("Settings", "SettingsError", "load_settings"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "ActiveRegionResolver",
    "ActiveRegionUnknown",
    "EcsTarget",
    "KubernetesTarget",
    "NoScaling",
    "NotActiveRegion",
    "PartialUpdateRefused",
    "Settings",
    "SettingsError",
    "VersionedTable",
    "WritesFenced",
    "health_report",
    "load_settings",
    "route_health",
    "scale_target_json",
    "wsgi_app",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (then cached); anything else, including a submodule
    not imported yet, is an AttributeError, so `from failover import settings` still imports the submodule."""
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
