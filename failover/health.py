"""Health endpoints for the application.

- `/health` (`health_report`): this region can serve: DynamoDB answers. Load balancers, Kubernetes
  probes and the failover orchestrator's monitor use it; passive regions pass it.
- `/health/route` (`route_health`): what Route 53 checks. It keeps traffic with writes: a passive
  region that ranks *above* the active one in failover priority answers 503, so a recovered old primary
  does not take traffic back before writes move back to it. It fails closed: a region that cannot confirm
  the authority (the control item, read within the client lease) answers 503, so a region cut off from the
  others loses its traffic as it loses its writes. (When every region answers 503, Route 53 answers with the
  primary record anyway.)
- `/health/accelerator` (`accelerator_health`): what each region's Global Accelerator entry checks
  (`dr:traffic.mode: accelerator`). The traffic dials, set at deploy time, give the order: the primary's endpoint
  group 100, every other 0, and Global Accelerator sends everyone to the nearest healthy group, ignoring the dials,
  only when the dial-100 group has no healthy endpoint. So this path passes (`accelerator_route`) in the active
  region and, while the primary is active, in its successor (the first secondary): when the primary fails, traffic
  moves to the successor on health alone, before writes do, and the successor refuses writes until its lease
  confirms it active. After a failover the primary stays unhealthy until writes move back; a failure of the new
  active region then leaves no healthy endpoint (Global Accelerator fails open) until the next active region
  passes. It fails closed like `/health/route`.

All return (status code, JSON-able body) for any framework; `wsgi_app(...)` serves them without
dependencies.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from failover.client import ActiveRegionResolver, ActiveRegionUnknown, ControlView


def health_report(
    resolver: ActiveRegionResolver, dynamodb_client, clock: Callable[[], float] = time.perf_counter
) -> tuple[int, dict]:
    """200 when the local table answers; 503 otherwise. Passive regions are healthy (they must
    pass Route 53 checks to be failover targets); `active` tells them apart."""
    body: dict = {"region": resolver.local_region, "table": resolver.table_name}
    start = clock()
    try:
        dynamodb_client.describe_table(TableName=resolver.table_name)
        body["dynamodb"] = "ok"
    except (BotoCoreError, ClientError) as exc:
        body["dynamodb"] = f"error: {type(exc).__name__}"
    body["dynamodbLatencyMs"] = round((clock() - start) * 1000, 1)
    try:
        active = resolver.active_region()
        body["activeRegion"], body["active"] = active, active == resolver.local_region
    except ActiveRegionUnknown:
        body["activeRegion"], body["active"] = None, False
    return (200 if body["dynamodb"] == "ok" else 503), body


def route_health(
    resolver: ActiveRegionResolver, dynamodb_client, clock: Callable[[], float] = time.perf_counter
) -> tuple[int, dict]:
    """`health_report`, plus "traffic follows writes" from the confirmed authority: 503 in a passive region that
    ranks above the active region (it would pull traffic away from where writes go), and 503 when the authority
    cannot be confirmed from here."""
    status, body = health_report(resolver, dynamodb_client, clock)
    if status != 200:
        return status, body
    view = resolver.confirmed_view()
    local = resolver.local_region
    if view is None:
        body["route"] = "fail-closed: the active region cannot be confirmed from here"
        return 503, body
    active = view.active_region
    body["confirmedRegion"], body["epoch"] = active, view.epoch
    if (
        active != local
        and active in resolver.priority
        and local in resolver.priority
        and resolver.priority.index(local) < resolver.priority.index(active)
    ):
        body["route"] = f"passive and ranked above the active region {active}: traffic stays with writes"
        return 503, body
    body["route"] = "serves traffic"
    return 200, body


def successor(priority: Sequence[str]) -> str | None:
    """The region Global Accelerator falls back to while the primary is active: the first secondary."""
    return priority[1] if len(priority) > 1 else None


def accelerator_route(local: str, view: ControlView | None, priority: Sequence[str]) -> tuple[bool, str]:
    """Whether `local`'s Global Accelerator entry should pass, from the confirmed authority `view` (None when it
    cannot be confirmed) and the failover order `priority` (primary first, the primary's endpoint group dialled to
    100, the others to 0), and why. At most two regions pass: the active one and, while the primary is active, its
    successor; the primary passes only while it is active."""
    if view is None:
        return False, "fail-closed: the active region cannot be confirmed from here"
    active = view.active_region
    if active == local:
        return True, "serves traffic: the active region"
    if priority and active == priority[0] and local == successor(priority):
        return True, f"successor of the active primary {active}: takes traffic if it fails, writes once they move"
    return False, f"passive: writes go to {active}, and traffic with them"


def accelerator_health(
    resolver: ActiveRegionResolver, dynamodb_client, clock: Callable[[], float] = time.perf_counter
) -> tuple[int, dict]:
    """`health_report`, plus `accelerator_route` of the confirmed authority: 200 in the active region and, while the
    primary is active, in its successor; 503 elsewhere and when the authority cannot be confirmed."""
    status, body = health_report(resolver, dynamodb_client, clock)
    if status != 200:
        return status, body
    view = resolver.confirmed_view()
    if view is not None:
        body["confirmedRegion"], body["epoch"] = view.active_region, view.epoch
    serves, body["route"] = accelerator_route(resolver.local_region, view, resolver.priority)
    return (200 if serves else 503), body


def wsgi_app(
    resolver: ActiveRegionResolver,
    dynamodb_client=None,
    path: str = "/health",
    route_path: str = "/health/route",
    accelerator_path: str = "/health/accelerator",
):
    """A WSGI app answering `path` with `health_report`, `route_path` with `route_health`, `accelerator_path` with
    `accelerator_health`, 404 elsewhere."""
    client: object | None = dynamodb_client
    handlers = {path: health_report, route_path: route_health, accelerator_path: accelerator_health}

    def app(environ, start_response):
        nonlocal client
        requested = environ.get("PATH_INFO")
        if requested not in handlers:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if client is None:
            client = resolver.session.client("dynamodb", region_name=resolver.local_region)
        status, body = handlers[requested](resolver, client)
        payload = json.dumps(body).encode()
        start_response(
            f"{status} {'OK' if status == 200 else 'Service Unavailable'}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(payload))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [payload]

    return app
