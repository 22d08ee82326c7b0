"""`/health` for the application: DynamoDB reachability and latency, region, whether active.

`health_report(...)` returns (status code, JSON-able body) for any framework; `wsgi_app(...)`
is a dependency-free WSGI app to mount or run as is.
"""

from __future__ import annotations

import json
import time
from typing import Callable, Optional

from botocore.exceptions import BotoCoreError, ClientError

from failover.client import ActiveRegionResolver, ActiveRegionUnknown


def health_report(resolver: ActiveRegionResolver, dynamodb_client, clock: Callable[[], float] = time.perf_counter) -> tuple[int, dict]:
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


def wsgi_app(resolver: ActiveRegionResolver, dynamodb_client=None, path: str = "/health"):
    """A WSGI app answering `path` with the health report and 404 elsewhere."""
    client: Optional[object] = dynamodb_client

    def app(environ, start_response):
        nonlocal client
        if environ.get("PATH_INFO") != path:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if client is None:
            client = resolver.session.client("dynamodb", region_name=resolver.local_region)
        status, body = health_report(resolver, client)
        payload = json.dumps(body).encode()
        start_response(f"{status} {'OK' if status == 200 else 'Service Unavailable'}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                        ("Cache-Control", "no-store")])
        return [payload]

    return app
