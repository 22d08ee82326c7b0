"""Pulumi ComponentResources, the typed stack-config model and the layouts that wire them.

The public API is `__all__`, importable from the package itself (`from components import GlobalTable`); the
modules behind it may move. Names load on first use, so `import components.config` still imports no provider SDK
and a stack imports only the providers its layout uses. docs/package.md shows a program built from them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.active_region import ActiveRegion, ActiveRegionArgs
    from components.budget import Budget, BudgetInputs, budget_inputs_from_config, compute_budget
    from components.common_config import CommonConfig
    from components.config import load_stack_config, parse_stack_config
    from components.config_base import ConfigError
    from components.global_table import GlobalTable, GlobalTableArgs, RegionalTables
    from components.iam import ecs_scale_statements
    from components.layouts import LAYOUTS, build, site_placements
    from components.notifications import NotificationTopic
    from components.orchestrator import Orchestrator, OrchestratorArgs
    from components.plane import (
        DataPlane,
        data_plane_from,
        declare_data_plane,
        declare_dr_plane,
        declare_notice_topics,
        declare_traffic,
    )
    from components.providers import regional_providers
    from components.replicator import StreamReplicator, StreamReplicatorArgs
    from components.site import Site, SiteEndpoint
    from components.sites.doks.component import DoksSite, DoksSiteArgs
    from components.sites.doks.config import DigitalOceanStackConfig
    from components.sites.ecs.config import AwsStackConfig
    from components.sites.ecs.network import PublicVpc
    from components.sites.ecs.service import RegionalService, RegionalServiceArgs
    from components.sites.ovh.component import OvhSite, OvhSiteArgs
    from components.sites.ovh.config import OvhStackConfig
    from components.traffic import Endpoint, EndpointHealth, FailoverDns, TrafficArgs
    from components.workload_identity import WorkloadIdentity, WorkloadIdentityArgs

_HOMES: dict[str, tuple[str, ...]] = {
    # config: the `dr:` stack config read once into a validated model, and the whole deployment it describes
    "components.config": ("load_stack_config", "parse_stack_config"),
    "components.config_base": ("ConfigError",),
    "components.common_config": ("CommonConfig",),
    "components.sites.ecs.config": ("AwsStackConfig",),
    "components.sites.doks.config": ("DigitalOceanStackConfig",),
    "components.sites.ovh.config": ("OvhStackConfig",),
    "components.layouts": ("LAYOUTS", "build", "site_placements"),
    # the DR plane: providers, data and control, notifications, traffic, automation, budget
    "components.providers": ("regional_providers",),
    "components.plane": (
        "DataPlane",
        "data_plane_from",
        "declare_data_plane",
        "declare_dr_plane",
        "declare_notice_topics",
        "declare_traffic",
    ),
    "components.global_table": ("GlobalTable", "GlobalTableArgs", "RegionalTables"),
    "components.active_region": ("ActiveRegion", "ActiveRegionArgs"),
    "components.notifications": ("NotificationTopic",),
    "components.traffic": ("Endpoint", "EndpointHealth", "FailoverDns", "TrafficArgs"),
    "components.orchestrator": ("Orchestrator", "OrchestratorArgs"),
    "components.replicator": ("StreamReplicator", "StreamReplicatorArgs"),
    "components.budget": ("Budget", "BudgetInputs", "budget_inputs_from_config", "compute_budget"),
    # sites: the contract a site hands the plane, and the three kinds of site
    "components.site": ("Site", "SiteEndpoint"),
    "components.iam": ("ecs_scale_statements",),
    "components.sites.ecs.service": ("RegionalService", "RegionalServiceArgs"),
    "components.sites.ecs.network": ("PublicVpc",),
    "components.sites.doks.component": ("DoksSite", "DoksSiteArgs"),
    "components.sites.ovh.component": ("OvhSite", "OvhSiteArgs"),
    "components.workload_identity": ("WorkloadIdentity", "WorkloadIdentityArgs"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "LAYOUTS",
    "ActiveRegion",
    "ActiveRegionArgs",
    "AwsStackConfig",
    "Budget",
    "BudgetInputs",
    "CommonConfig",
    "ConfigError",
    "DataPlane",
    "DigitalOceanStackConfig",
    "DoksSite",
    "DoksSiteArgs",
    "Endpoint",
    "EndpointHealth",
    "FailoverDns",
    "GlobalTable",
    "GlobalTableArgs",
    "NotificationTopic",
    "Orchestrator",
    "OrchestratorArgs",
    "OvhSite",
    "OvhSiteArgs",
    "OvhStackConfig",
    "PublicVpc",
    "RegionalService",
    "RegionalServiceArgs",
    "RegionalTables",
    "Site",
    "SiteEndpoint",
    "StreamReplicator",
    "StreamReplicatorArgs",
    "TrafficArgs",
    "WorkloadIdentity",
    "WorkloadIdentityArgs",
    "budget_inputs_from_config",
    "build",
    "compute_budget",
    "data_plane_from",
    "declare_data_plane",
    "declare_dr_plane",
    "declare_notice_topics",
    "declare_traffic",
    "ecs_scale_statements",
    "load_stack_config",
    "parse_stack_config",
    "regional_providers",
    "site_placements",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (then cached); anything else, including a submodule
    not imported yet, is an AttributeError, so `from components import iam` still imports the submodule."""
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
