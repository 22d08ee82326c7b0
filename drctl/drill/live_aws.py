"""`drctl drill --live`, the AWS calls: find the stack's FIS template for a region and fault (by its tags), start
and stop the experiment and read its state, read Route 53's view of the sites' health checks (found by their
`Name` tag) and the control item. Clients come from one factory, so tests hand in stubbed ones."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from components.budget import ALARM_REGION
from components.drill_fis import ACTION_TAG, REGION_TAG, STACK_TAG

ClientFactory = Callable[[str, str], Any]
"""(service, region) -> a boto3 client."""
HEALTHY_CHECKER_SHARE = 0.18
"""Route 53 calls an endpoint healthy when more than 18% of its checkers report it healthy."""
EXPERIMENT_TAG = "dr:drill"


def find_template(fis: Any, stack: str, region: str, action: str) -> dict | None:
    """The experiment template `dr:drill.fis` declared for this stack, region and fault; None when there is none."""
    wanted = {STACK_TAG: stack, REGION_TAG: region, ACTION_TAG: action}
    token: str | None = None
    while True:
        page = fis.list_experiment_templates(**({"nextToken": token} if token else {}))
        for template in page.get("experimentTemplates", []):
            tags = template.get("tags") or {}
            if all(tags.get(k) == v for k, v in wanted.items()):
                return template
        token = page.get("nextToken")
        if not token:
            return None


def start_experiment(fis: Any, template_id: str, client_token: str) -> tuple[str, datetime.datetime | None]:
    """(experiment id, its start time); `client_token` makes a retried start start nothing twice."""
    experiment = fis.start_experiment(
        clientToken=client_token, experimentTemplateId=template_id, tags={EXPERIMENT_TAG: "live"}
    )["experiment"]
    return experiment["id"], experiment.get("startTime")


def experiment_state(fis: Any, experiment_id: str) -> tuple[str, str]:
    """(status, reason) of the experiment."""
    state = fis.get_experiment(id=experiment_id)["experiment"].get("state", {})
    return state.get("status", "unknown"), state.get("reason", "")


def stop_experiment(fis: Any, experiment_id: str) -> None:
    """Ask FIS to stop (it rolls the fault back: the subnets' ACL, the replica's policy); already over is fine."""
    with contextlib.suppress(fis.exceptions.ConflictException, fis.exceptions.ValidationException):
        fis.stop_experiment(id=experiment_id)


def health_check_ids(route53: Any, names: Mapping[str, str]) -> dict[str, str]:
    """Site -> health check id, for the checks tagged `Name` = names[site] (`<app>-<stack>-<site>`)."""
    listed = [h["Id"] for page in route53.get_paginator("list_health_checks").paginate() for h in page["HealthChecks"]]
    by_name: dict[str, str] = {}
    for start in range(0, len(listed), 10):
        sets = route53.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=listed[start : start + 10])
        for tag_set in sets["ResourceTagSets"]:
            for tag in tag_set["Tags"]:
                if tag["Key"] == "Name":
                    by_name[tag["Value"]] = tag_set["ResourceId"]
    return {site: by_name[name] for site, name in names.items() if name in by_name}


def checkers_healthy(observations: Sequence[Mapping[str, Any]]) -> bool | None:
    """Route 53's verdict from its checkers' last reports (None when none has reported)."""
    reports = [str(o.get("StatusReport", {}).get("Status", "")) for o in observations]
    if not reports:
        return None
    return sum(r.startswith("Success") for r in reports) / len(reports) > HEALTHY_CHECKER_SHARE


def health(route53: Any, ids: Mapping[str, str]) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    for site, check in ids.items():
        out[site] = checkers_healthy(route53.get_health_check_status(HealthCheckId=check)["HealthCheckObservations"])
    return out


def _number(item: Mapping[str, Any], name: str) -> float | None:
    value = item.get(name, {}).get("N")
    return float(value) if value is not None else None


def read_control(dynamodb: Sequence[Any], table: str, app: str) -> dict[str, Any]:
    """The control item's active region, epoch, phase and timestamps (wall clock), from the first replica that
    answers; {} when there is no item yet (the first region active at epoch 0)."""
    last: Exception | None = None
    for client in dynamodb:
        try:
            item = client.get_item(TableName=table, Key={"pk": {"S": f"control#{app}"}}, ConsistentRead=True)
        except Exception as exc:
            last = exc
            continue
        found = item.get("Item") or {}
        if not found:
            return {}
        return {
            "activeRegion": found.get("activeRegion", {}).get("S"),
            "epoch": int(_number(found, "epoch") or 0),
            "phase": found.get("phase", {}).get("S", "active"),
            "lastTransitionAt": _number(found, "lastTransitionAt"),
            "activatedAt": _number(found, "activatedAt"),
        }
    raise RuntimeError(f"no replica of the control table {table} answered: {last}")


def read_audits(dynamodb: Sequence[Any], table: str, app: str, epochs: Sequence[int]) -> list[dict[str, Any]]:
    """The orchestrators' audit records of these epochs (`audit#<app>#<epoch>`: from, to, reason, at), those written
    so far, from the first replica that answers; [] when none answers (the report then says less, nothing fails)."""
    for client in dynamodb:
        out = []
        try:
            for epoch in epochs:
                key = {"pk": {"S": f"audit#{app}#{epoch:010d}"}}
                item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
                if item:
                    out.append({"epoch": epoch, **{k: v["S"] for k, v in item.items() if k != "pk" and "S" in v}})
        except Exception:
            continue
        return out
    return []


class LiveAws:
    """The calls of one live drill, every client from `client(service, region)`."""

    def __init__(self, client: ClientFactory, region: str, control_regions: Sequence[str]) -> None:
        self.fis = client("fis", region)
        self.route53 = client("route53", ALARM_REGION)
        # Read the control item through the other regions first: the drilled one may be cut off.
        ordered = [r for r in control_regions if r != region] + [r for r in control_regions if r == region]
        self.dynamodb = [client("dynamodb", r) for r in ordered]
