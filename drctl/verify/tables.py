"""The tables: each replica active and listed by the global table, in the declared consistency mode, with
point-in-time recovery, deletion protection and the encryption the stack declares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from drctl.verify.calls import Outcome
from drctl.verify.declared import DeclaredReplica, DeclaredTable
from drctl.verify.report import Check

if TYPE_CHECKING:
    from drctl.verify.facts import RegionFacts


def table_checks(table: DeclaredTable, facts: Mapping[str, RegionFacts]) -> list[Check]:
    checks = []
    primary = facts[table.primary].tables.get(table.name)
    for replica in table.replicas:
        region = replica.region
        described = facts[region].tables[table.name]
        what = f"table {table.name}"
        if described.error is not None:
            checks.append(Check(what, region, False, "missing" if described.missing else described.error))
            continue
        desc = described.value
        checks.append(Check(what, region, *_replica_status(table, region, desc, primary)))
        checks.append(
            Check(f"{what}: point-in-time recovery", region, *_pitr_status(replica, facts[region].backups[table.name]))
        )
        checks.append(Check(f"{what}: deletion protection", region, *_protection_status(table, replica, desc)))
        checks.append(Check(f"{what}: encryption", region, *_encryption_status(table, desc)))
    return checks


def _replica_status(table: DeclaredTable, region: str, desc: dict, primary: Outcome | None) -> tuple[bool, str]:
    if desc.get("TableStatus") != "ACTIVE":
        return False, f"table status {desc.get('TableStatus')}"
    if len(table.replicas) == 1:
        return True, "ACTIVE"
    # The primary's replica listing is the reference; when the primary does not answer (the outage this is
    # for), each region's own DescribeTable lists the global table's replicas too.
    lister, listing, note = table.primary, primary.value if primary is not None and primary.ok else None, ""
    if listing is None:
        lister, listing, note = region, desc, f" (listed by {region}: {table.primary} did not answer)"
    # moto 5.2.5 does not implement global tables version 2019.11.21: its DescribeTable never has
    # `Replicas`, so against moto every table is reported as not global. Real DynamoDB lists the replicas.
    listed = {r.get("RegionName"): r for r in listing.get("Replicas", [])}
    if not listed:
        return False, f"{lister} lists no replicas: not a global table (version 2019.11.21)"
    if region != lister:
        replica = listed.get(region, {})
        status = replica.get("ReplicaStatus")
        if status != "ACTIVE":
            why = f" ({replica['ReplicaStatusDescription']})" if replica.get("ReplicaStatusDescription") else ""
            return False, f"replica status in {lister}: {status or 'not a replica'}{why}"
    mode, declared_mode = listing.get("MultiRegionConsistency"), "STRONG" if table.strong else "EVENTUAL"
    if mode and mode != declared_mode:
        return False, f"multi-region consistency {mode}, the stack declares {declared_mode}"
    return True, "ACTIVE" + (f", {mode.lower()} consistency" if mode else "") + note


def _pitr_status(replica: DeclaredReplica, backups: Outcome) -> tuple[bool, str]:
    if backups.error is not None:
        return False, backups.error
    status = backups.value.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus", "DISABLED")
    if replica.point_in_time_recovery and status != "ENABLED":
        return False, (
            f"{status}; fix: aws dynamodb update-continuous-backups --region {replica.region} --table-name "
            "<table> --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true"
        )
    return True, status


def _protection_status(table: DeclaredTable, replica: DeclaredReplica, desc: dict) -> tuple[bool, str]:
    if desc.get("DeletionProtectionEnabled") or not replica.deletion_protection:
        return True, "on" if desc.get("DeletionProtectionEnabled") else "off (as declared)"
    why = (
        "known provider defect: strong-consistency replicas are created without it; "
        if table.strong and replica.region != table.primary
        else ""
    )
    return False, (
        f"off; {why}fix: aws dynamodb update-table --region {replica.region} --table-name {table.name} "
        "--deletion-protection-enabled (or `pulumi refresh` then `pulumi up`)"
    )


def _encryption_status(table: DeclaredTable, desc: dict) -> tuple[bool, str]:
    sse = desc.get("SSEDescription") or {}
    if sse.get("Status") in ("ENABLED", "UPDATING") and sse.get("SSEType") == "KMS":
        return True, f"KMS ({sse.get('KMSMasterKeyArn', 'AWS managed key')})"
    if table.kms:
        return False, f"not KMS-encrypted as declared (SSE {sse.get('Status', 'with an AWS owned key')})"
    return True, "AWS owned key (as declared)"
