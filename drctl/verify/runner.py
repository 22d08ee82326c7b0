"""Putting it together: the credentials first, then every region asked at once (each by its own worker), then the
calls that need other regions' answers, then the checks in a fixed order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import BotoCoreError

from drctl.verify.calls import (
    DEFAULT_READ_TIMEOUT_SECONDS,
    GLOBAL,
    ClientFactory,
    RegionFence,
    VerifyUsageError,
    session_clients,
)
from drctl.verify.control import control_checks, parameter_checks
from drctl.verify.declared import Declared, declared_from_document
from drctl.verify.facts import collect_region
from drctl.verify.health import alarm_checks, collect_health_checks, health_check_checks
from drctl.verify.orchestrators import function_checks
from drctl.verify.report import VerifyReport
from drctl.verify.tables import table_checks
from drctl.verify.topics import collect_topics, referenced_topics, resolve_topic, topic_checks


def check_credentials(session) -> None:
    try:
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        raise VerifyUsageError(f"AWS credentials: {exc}") from None
    if credentials is None:
        raise VerifyUsageError(
            "no AWS credentials found (boto3's default chain: AWS_PROFILE, AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, SSO, instance role)"
        )


def check_identity(
    regions: Iterable[str], client: ClientFactory, fences: Mapping[str, RegionFence], pool: ThreadPoolExecutor
) -> None:
    """Ask STS in every region at once: exit 2 when the credentials are rejected or no region answers;
    a region that does not answer stays fenced off (its rows say so). Route 53 is asked at the same time
    (when `fences` has the GLOBAL one), so a hung Route 53 costs the same single deadline."""
    regions = list(regions)
    route53 = pool.submit(
        lambda: (
            fences[GLOBAL].call(lambda: client("route53", "us-east-1").get_health_check_count())
            if GLOBAL in fences
            else None
        )
    )
    answers = dict(
        zip(
            regions,
            pool.map(lambda r: fences[r].call(lambda: client("sts", r).get_caller_identity()), regions),
            strict=True,
        )
    )
    route53.result()
    if any(a.ok for a in answers.values()):
        return
    rejected = [a for r, a in answers.items() if not fences[r].silent]
    if rejected:
        raise VerifyUsageError(f"AWS rejected the credentials: {rejected[0].error}")
    endpoint = client("sts", regions[0]).meta.endpoint_url
    raise VerifyUsageError(f"cannot reach AWS at {endpoint}: {answers[regions[0]].error}")


def verify_declared(
    declared: Declared,
    session=None,
    client: ClientFactory | None = None,
    read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
) -> VerifyReport:
    """Check the deployment against `declared`; raises VerifyUsageError for credential/endpoint problems."""
    import boto3

    session = session or boto3.Session()
    check_credentials(session)
    client = client or session_clients(session, read_timeout)
    regions = sorted(
        {
            *declared.regions,
            *(r.region for t in declared.tables for r in t.replicas),
            *declared.parameter_regions,
            *(f.region for f in declared.functions),
            *(t.region for t in declared.topics),
            *(a.region for a in declared.alarms),
        }
    )
    fences = {r: RegionFence(r) for r in [*regions, GLOBAL]}
    with ThreadPoolExecutor(max_workers=len(fences)) as pool:
        check_identity(regions, client, fences, pool)
        health = pool.submit(collect_health_checks, declared, client, fences[GLOBAL])
        facts = dict(
            zip(regions, pool.map(lambda r: collect_region(r, declared, client, fences[r]), regions), strict=True)
        )
        referenced = referenced_topics(facts)
        resolved = {t.urn: resolve_topic(t, facts[t.region].topic_names, referenced) for t in declared.topics}
        attributes, subscriptions = {}, {}
        for attrs, subs in pool.map(lambda r: collect_topics(r, declared, resolved, client, fences[r]), regions):
            attributes.update(attrs)
            subscriptions.update(subs)
        found_health = health.result()
    checks = [c for t in declared.tables for c in table_checks(t, facts)]
    control_rows, authority = control_checks(declared, facts)
    checks += control_rows + parameter_checks(declared, facts, authority)
    checks += function_checks(declared, facts, resolved, subscriptions)
    checks += topic_checks(declared, resolved, attributes)
    health_rows, health_ids = health_check_checks(declared, found_health)
    checks += health_rows + alarm_checks(declared, facts, resolved, health_ids)
    return VerifyReport(declared.stack, checks)


def run_verify(
    stack: str,
    stack_file=None,
    session=None,
    read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
) -> VerifyReport:
    """Preview `stack` offline to learn what it declares, then check it against AWS."""
    import boto3

    from drctl.preview import as_json, run_preview

    session = session or boto3.Session()
    check_credentials(session)  # before the preview's few seconds
    declared = declared_from_document(as_json(run_preview(stack, stack_file=stack_file)))
    return verify_declared(declared, session=session, read_timeout=read_timeout)
