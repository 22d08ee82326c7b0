"""Reading the live state with verify's discipline: the credentials first, then every region asked at once, each
through its own fence (a region that does not answer is asked once, then left alone), every call with a short
deadline. The control table's records (observers, audit) are read from the first replica that answered; its
strongly consistent reads give the same answer from any replica that answers at all."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from drctl.status.facts import (
    TRANSITIONS_SHOWN,
    AuthorityReading,
    ProjectionView,
    StatusFacts,
    findings,
    newest_lag,
    observer_view,
    transition_record,
)
from drctl.verify import (
    DEFAULT_READ_TIMEOUT_SECONDS,
    ClientFactory,
    Declared,
    Outcome,
    RegionFence,
    VerifyUsageError,
    check_credentials,
    check_identity,
    read_control_item,
    session_clients,
)

_DESERIALIZE = TypeDeserializer().deserialize


def runtime_settings(declared: Declared, region: str):
    """The orchestrators' settings (`failover.settings`) as the orchestrator in `region` reads them."""
    from failover.settings import SettingsError, load_settings

    try:
        return load_settings({**declared.runtime_environment, "DR_HOME_REGION": region})
    except SettingsError as exc:
        raise VerifyUsageError(f"the orchestrator environment the stack declares is not usable: {exc}") from None


def gather_status(
    declared: Declared,
    session=None,
    client: ClientFactory | None = None,
    read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.time,
    transitions: int = TRANSITIONS_SHOWN,
) -> StatusFacts:
    """Everything status shows, read now; raises VerifyUsageError for credential/endpoint problems."""
    import boto3

    table = declared.control_table
    if table is None:
        name = declared.runtime_environment.get("DR_CONTROL_TABLE")
        raise VerifyUsageError(f"stack {declared.stack}: declares no control table {name}")
    session = session or boto3.Session()
    check_credentials(session)
    client = client or session_clients(session, read_timeout)
    control_regions = [r.region for r in table.replicas]
    regions = sorted({*control_regions, *declared.parameter_regions})
    fences = {r: RegionFence(r) for r in regions}
    with ThreadPoolExecutor(max_workers=len(regions)) as pool:
        check_identity(regions, client, fences, pool)
        control = dict(
            zip(
                control_regions,
                pool.map(
                    lambda r: fences[r].call(read_control_item, declared.runtime_environment, r, client("dynamodb", r)),
                    control_regions,
                ),
                strict=True,
            )
        )
        parameters = dict(
            zip(
                declared.parameter_regions,
                pool.map(lambda r: _read_parameter(declared, r, client, fences[r]), declared.parameter_regions),
                strict=True,
            )
        )
    replicas = [_authority(r, o, fences[r]) for r, o in control.items()]
    good = [r for r in replicas if r.error is None]
    authority = max(good, key=lambda r: r.epoch or 0, default=None)
    now = clock()
    records, audit, errors = _read_records(declared, [r.region for r in good], client, fences, authority, transitions)
    settings = runtime_settings(declared, control_regions[0])
    facts = StatusFacts(
        stack=declared.stack,
        regions=declared.regions,
        checked_at=now,
        authority=authority,
        replicas=replicas,
        observers=[
            observer_view(r, records.get(r), settings.probe_interval_seconds, now) for r in settings.observer_regions
        ],
        projections=[_projection(r, o, fences[r], authority) for r, o in parameters.items()],
        lag=newest_lag(records, now),
        transitions=audit,
        unreachable=[r for r in regions if fences[r].silent],
        rpo_seconds=settings.rpo_seconds,
    )
    facts.findings = errors + findings(facts)
    return facts


def _read_parameter(declared: Declared, region: str, client: ClientFactory, fence: RegionFence) -> Outcome:
    ssm = client("ssm", region)
    return fence.call(lambda: ssm.get_parameter(Name=declared.parameter_name)["Parameter"]["Value"])


def _authority(region: str, outcome: Outcome, fence: RegionFence) -> AuthorityReading:
    if outcome.ok:
        return AuthorityReading.of(region, outcome.value)
    return AuthorityReading(region, error=outcome.error, unreachable=bool(fence.silent))


def _projection(region: str, outcome: Outcome, fence: RegionFence, authority: AuthorityReading | None):
    from failover import projection

    if not outcome.ok:
        error = "missing" if outcome.missing else outcome.error
        return ProjectionView(region, error=error, unreachable=bool(fence.silent))
    seen = projection.parse(outcome.value)
    if seen is None:
        return ProjectionView(region, value=outcome.value, error=f"not a projection: {outcome.value!r}")
    agrees = authority is not None and (seen.region, seen.epoch) == (authority.active_region, authority.epoch)
    return ProjectionView(region, outcome.value, seen.region, seen.epoch, agrees)


def _read_records(
    declared: Declared,
    answered: list[str],
    client: ClientFactory,
    fences: Mapping[str, RegionFence],
    authority: AuthorityReading | None,
    count: int,
) -> tuple[dict, list, list[str]]:
    """(observer records, the newest audit records, errors) from the first replica that answers."""
    from failover.store import ControlStore

    errors: list[str] = []
    for region in answered:
        settings = runtime_settings(declared, region)
        ddb = client("dynamodb", region)
        records = fences[region].call(ControlStore(settings, ddb).read_observations)
        epochs = list(range(authority.epoch or 0, 0, -1))[:count] if authority else []
        audit = fences[region].call(_read_audit, ddb, settings, epochs) if epochs else Outcome(value=[])
        if fences[region].silent:
            continue  # it stopped answering meanwhile: the next replica
        for what, outcome in (("observer records", records), ("audit records", audit)):
            if not outcome.ok:
                errors.append(f"{what} in {region}: {outcome.error}")
        return records.value or {}, audit.value or [], errors
    return {}, [], errors


def _read_audit(ddb: Any, settings: Any, epochs: list[int]) -> list:
    """The audit records of `epochs` (newest first), strongly consistent; an epoch without one is skipped."""
    table = settings.control_table
    keys = [{"pk": {"S": f"audit#{settings.app}#{e:010d}"}} for e in epochs]
    got = ddb.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
    by_epoch = {}
    for item in got.get("Responses", {}).get(table, []):
        record = {k: _DESERIALIZE(v) for k, v in item.items()}
        by_epoch[int(str(record["pk"]).rsplit("#", 1)[-1])] = record
    return [transition_record(e, by_epoch[e]) for e in epochs if e in by_epoch]
