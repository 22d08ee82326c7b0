"""Rules for traffic through AWS Global Accelerator (`dr:traffic.mode: accelerator`).

The order is set at deploy time and kept by health alone: the primary's endpoint group has the traffic dial 100 and
every other group 0, and each region's entry (an NLB whose target is the ALB) checks `<health path>/accelerator`,
which passes in the active region and, while the primary is active, in its successor. When no group with a dial
above 0 has a healthy endpoint, Global Accelerator sends clients to the nearest healthy group whatever its dial, so
traffic moves to the successor with no API call. A dial other than 100 on the primary, or above 0 elsewhere, would
split the clients between regions; an entry checking another path would make a standby healthy out of turn; a region
without a group would never be reached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from policies.resource import Res

ACCELERATOR = "aws:globalaccelerator/accelerator:Accelerator"
ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
ACCELERATOR_SUFFIX = "/accelerator"
FAILOVER_ORDER_TAG = "dr:failoverOrder"
"""On the accelerator (`components.accelerator`): the failover order, primary first."""
MAX_ENTRY_INTERVAL_SECONDS = 10
MAX_ENTRY_THRESHOLD = 3


def _get(props: Mapping[str, Any], *path: str, default: Any = None) -> Any:
    cur: Any = props
    for key in path:
        if not isinstance(cur, Mapping) or key not in cur or cur[key] is None:
            return default
        cur = cur[key]
    return cur


def entry_checks_successor_path(r: Res) -> list[str]:
    """An NLB target group whose target is an ALB (the accelerator's entry) checks the accelerator path, often."""
    if r.type != TARGET_GROUP or _get(r.props, "targetType") != "alb":
        return []
    out = []
    path = str(_get(r.props, "healthCheck", "path", default=""))
    if not path.endswith(ACCELERATOR_SUFFIX):
        out.append(
            f"the accelerator entry checks {path or 'no path'!r}, not the app's <health path>{ACCELERATOR_SUFFIX}: "
            "a standby would look healthy out of turn and take the clients nearest it when the primary fails"
        )
    if _get(r.props, "healthCheck", "protocol", default="HTTP") not in ("HTTP", "HTTPS"):
        out.append("the accelerator entry's health check is not HTTP(S): it cannot ask the accelerator path")
    interval = _get(r.props, "healthCheck", "interval", default=30)
    if interval > MAX_ENTRY_INTERVAL_SECONDS:
        out.append(f"the accelerator entry checks every {interval}s; at most {MAX_ENTRY_INTERVAL_SECONDS}s")
    for name in ("healthyThreshold", "unhealthyThreshold"):
        value = _get(r.props, "healthCheck", name, default=3)
        if value > MAX_ENTRY_THRESHOLD:
            out.append(f"the accelerator entry's {name} {value} is over {MAX_ENTRY_THRESHOLD}")
    return out


def endpoint_group_checks(r: Res) -> list[str]:
    """An endpoint group has an endpoint and names the accelerator path (the dials: `dials_follow_the_order`)."""
    if r.type != ENDPOINT_GROUP:
        return []
    out = []
    region = _get(r.props, "endpointGroupRegion", default="?")
    if not _get(r.props, "endpointConfigurations", default=[]):
        out.append(f"the endpoint group of {region} has no endpoint")
    if not str(_get(r.props, "healthCheckPath", default="")).endswith(ACCELERATOR_SUFFIX):
        out.append(f"the endpoint group of {region} does not name the app's <health path>{ACCELERATOR_SUFFIX}")
    return out


ACCELERATOR_RESOURCE_RULES: dict[str, tuple[str, Callable[[Res], list[str]]]] = {
    "accelerator-entry-checks-successor-path": (
        "A Global Accelerator entry (NLB in front of an ALB) checks the accelerator path every 10 s or less",
        entry_checks_successor_path,
    ),
    "accelerator-endpoint-group": (
        "Global Accelerator endpoint groups have an endpoint and name the accelerator path",
        endpoint_group_checks,
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


def dials_follow_the_order(resources: list[Res]) -> list[tuple[str | None, str]]:
    """With an accelerator, the primary's endpoint group (the first region of its failover order tag) has the traffic
    dial 100 and every other group 0."""
    accelerators = [r for r in resources if r.type == ACCELERATOR]
    if not accelerators:
        return []
    urn = accelerators[0].urn
    order = [r for r in str(accelerators[0].tags.get(FAILOVER_ORDER_TAG, "")).split(",") if r]
    if not order:
        return [(urn, f"the accelerator does not name its failover order (tag {FAILOVER_ORDER_TAG}): dials unchecked")]
    out: list[tuple[str | None, str]] = []
    for group in (g for g in resources if g.type == ENDPOINT_GROUP):
        region = _get(group.props, "endpointGroupRegion", default="?")
        dial = _get(group.props, "trafficDialPercentage", default=100)
        want = 100 if region == order[0] else 0
        if dial != want:
            role = "the primary's" if want == 100 else f"{region}'s (not the primary {order[0]})"
            out.append(
                (
                    group.urn or urn,
                    f"{role} endpoint group is dialled to {dial}%, not {want}%: the dials give the failover order "
                    "(primary 100, others 0) and nothing changes them at failover time",
                )
            )
    return out


ACCELERATOR_STACK_RULES: dict[str, tuple[str, Callable[[list[Res]], list[tuple[str | None, str]]]]] = {
    "accelerator-group-per-region": (
        "A Global Accelerator has an endpoint group in every region of the deployment",
        endpoint_group_per_region,
    ),
    "accelerator-dials": (
        "Global Accelerator's traffic dials: the primary's endpoint group 100, every other group 0",
        dials_follow_the_order,
    ),
}
