"""Rules for traffic through AWS Global Accelerator (`dr:traffic.mode: accelerator`).

Global Accelerator sends a client to the nearest region with a healthy endpoint and has no failover order, so
traffic follows writes only when the one healthy endpoint is the active region's: each region's entry (an NLB
whose target is the ALB) must check `<health path>/active`, every region must have an endpoint group, and no
group may be dialled down (a dial set at deploy time would silently hold traffic away from a region that the
runtime, which never calls Global Accelerator, later makes active).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from policies.resource import Res

ACCELERATOR = "aws:globalaccelerator/accelerator:Accelerator"
ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
ACTIVE_SUFFIX = "/active"
MAX_ENTRY_INTERVAL_SECONDS = 10
MAX_ENTRY_THRESHOLD = 3


def _get(props: Mapping[str, Any], *path: str, default: Any = None) -> Any:
    cur: Any = props
    for key in path:
        if not isinstance(cur, Mapping) or key not in cur or cur[key] is None:
            return default
        cur = cur[key]
    return cur


def entry_checks_active(r: Res) -> list[str]:
    """An NLB target group whose target is an ALB (the accelerator's entry) checks the active path, often."""
    if r.type != TARGET_GROUP or _get(r.props, "targetType") != "alb":
        return []
    out = []
    path = str(_get(r.props, "healthCheck", "path", default=""))
    if not path.endswith(ACTIVE_SUFFIX):
        out.append(
            f"the accelerator entry checks {path or 'no path'!r}, not the app's <health path>{ACTIVE_SUFFIX}: "
            "standbys would look healthy and take the traffic of the clients nearest them"
        )
    if _get(r.props, "healthCheck", "protocol", default="HTTP") not in ("HTTP", "HTTPS"):
        out.append("the accelerator entry's health check is not HTTP(S): it cannot ask the active path")
    interval = _get(r.props, "healthCheck", "interval", default=30)
    if interval > MAX_ENTRY_INTERVAL_SECONDS:
        out.append(f"the accelerator entry checks every {interval}s; at most {MAX_ENTRY_INTERVAL_SECONDS}s")
    for name in ("healthyThreshold", "unhealthyThreshold"):
        value = _get(r.props, "healthCheck", name, default=3)
        if value > MAX_ENTRY_THRESHOLD:
            out.append(f"the accelerator entry's {name} {value} is over {MAX_ENTRY_THRESHOLD}")
    return out


def endpoint_group_follows_health(r: Res) -> list[str]:
    """An endpoint group has an endpoint, takes its full share (dial 100) and names the active path."""
    if r.type != ENDPOINT_GROUP:
        return []
    out = []
    region = _get(r.props, "endpointGroupRegion", default="?")
    dial = _get(r.props, "trafficDialPercentage", default=100)
    if dial != 100:
        out.append(
            f"the endpoint group of {region} is dialled to {dial}%: failover is by health alone, and nothing at "
            "failover time turns a dial back up"
        )
    if not _get(r.props, "endpointConfigurations", default=[]):
        out.append(f"the endpoint group of {region} has no endpoint")
    if not str(_get(r.props, "healthCheckPath", default="")).endswith(ACTIVE_SUFFIX):
        out.append(f"the endpoint group of {region} does not name the app's <health path>{ACTIVE_SUFFIX}")
    return out


ACCELERATOR_RESOURCE_RULES: dict[str, tuple[str, Callable[[Res], list[str]]]] = {
    "accelerator-entry-checks-active": (
        "A Global Accelerator entry (NLB in front of an ALB) checks the active path every 10 s or less",
        entry_checks_active,
    ),
    "accelerator-endpoint-group": (
        "Global Accelerator endpoint groups have an endpoint, a 100% dial and the active path",
        endpoint_group_follows_health,
    ),
}


def endpoint_group_per_region(resources: list[Res]) -> list[tuple[str | None, str]]:
    """With an accelerator, every region with a Route 53 health check (a site) has an endpoint group."""
    accelerators = [r for r in resources if r.type == ACCELERATOR]
    if not accelerators:
        return []
    sites = {str(_get(h.props, "fqdn", default="")).split(".")[0] for h in resources if h.type == HEALTH_CHECK}
    grouped = {_get(g.props, "endpointGroupRegion") for g in resources if g.type == ENDPOINT_GROUP}
    return [
        (accelerators[0].urn, f"the accelerator has no endpoint group in {site}: its clients would never reach it")
        for site in sorted(sites - grouped)
    ]


ACCELERATOR_STACK_RULES: dict[str, tuple[str, Callable[[list[Res]], list[tuple[str | None, str]]]]] = {
    "accelerator-group-per-region": (
        "A Global Accelerator has an endpoint group in every region of the deployment",
        endpoint_group_per_region,
    ),
}
