"""Conflicts of streams replication: acknowledged writes that lost to a concurrent write made in another region.

Where a write is lost: the replicator of direction source -> receiving puts a write W (made in `source`) into the
receiving table, and the put succeeds; what it replaced there, R, is returned by the same PutItem (`ALL_OLD`, no
extra capacity). R is an acknowledged write that is gone if it was made in the receiving region (its origin) and
W's writer never saw it: what W overwrote in its own region (the stream record's OldImage, S) is older than R.
Every region applies writes in increasing stamp order, so a region that had seen R holds a stamp at least R's
when W is written over it. Then R and W were concurrent and last writer wins dropped R: a conflict, recorded by
this direction. When S is R itself (R had been replicated to `source` and W was written over it) it is the
normal course of writes, not a conflict.

The other side of the same race is the `superseded` outcome: R, replicated the other way, is refused by W's
region because W is stored there. That refusal alone cannot tell a conflict from a re-delivery (a batch retry,
or the mapping's replay from TRIM_HORIZON, of a write that had been applied and then overwritten), so it records
nothing: each conflict is recorded once, by the direction that overwrites the loser in the loser's own region.

A record, in the conflicts table of the direction (in its source region, where the replicator runs), is keyed by
the data item's key and the loser's stamp and written conditionally, so a retried call never writes it twice;
it expires through DynamoDB TTL on `expiresAt`. Counts go out as CloudWatch embedded metric format (EMF) lines in
the replicator's log: namespace DynamoDR/Replication, `ConflictsRecorded` and `ConflictRecordFailures`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from failover.replication import LAG_NAMESPACE, Item, Stamp, is_tombstone, stamp_of

# The conflicts table's schema (the component declares it; the replicator writes it; drctl reads it).
KEY = "key"
"""Partition key (S): the data item's key attributes in wire format, as JSON with sorted keys."""
LOSER = "loser"
"""Sort key (S): the loser's stamp, `<version, 20 digits>#<origin>#<sequence>` (sorts like the stamp)."""
EXPIRES_AT = "expiresAt"
"""The TTL attribute (N, epoch seconds)."""
DEFAULT_RETENTION_DAYS = 14
RETENTION_BOUNDS = (1, 365)
DAY_SECONDS = 86_400

# The metrics, in the replication namespace (dimensions TableName = the receiving table, SourceRegion).
METRICS_NAMESPACE = LAG_NAMESPACE
RECORDED_METRIC = "ConflictsRecorded"
FAILED_METRIC = "ConflictRecordFailures"


@dataclass(frozen=True)
class Conflict:
    """An acknowledged write (`loser`, made in `destination_region`) replaced by a concurrent one (`winner`, made
    in `source_region`) in `destination_region`'s table."""

    keys: Item
    loser: Stamp
    winner: Stamp
    source_region: str
    destination_region: str
    table: str
    loser_deleted: bool = False
    """The loser was a delete (a tombstone): the item came back."""


def conflict_loser(replaced: Item | None, seen_at_source: Item | None, receiving_region: str) -> Stamp | None:
    """The stamp of the acknowledged write a successful replicated put dropped, or None when it dropped none.

    `replaced`: what the put replaced in the receiving table (PutItem's ALL_OLD); `seen_at_source`: what the
    winning write overwrote in its own region (the stream record's OldImage). A loser was made in the receiving
    region (not a copy of another region's write, not unstamped) and is newer than anything the winner's writer
    had: a replicated copy carries the writer's version and origin, so (version, origin) identifies a write."""
    loser = stamp_of(replaced)
    if loser is None or loser.origin != receiving_region:
        return None
    seen = stamp_of(seen_at_source)
    if seen is not None and (seen.version, seen.origin) >= (loser.version, loser.origin):
        return None
    return loser


def key_text(keys: Mapping[str, Any]) -> str:
    """The data item's key as the conflicts table's partition key: wire-format JSON, sorted, compact."""
    return json.dumps(keys, sort_keys=True, separators=(",", ":"))


def stamp_text(stamp: Stamp) -> str:
    return f"{stamp.version:020d}#{stamp.origin}#{stamp.sequence}"


def conflict_item(conflict: Conflict, recorded_at: float, retention_days: int) -> Item:
    """The conflicts table's item (wire format), expiring `retention_days` after `recorded_at`."""
    item: Item = {
        KEY: {"S": key_text(conflict.keys)},
        LOSER: {"S": stamp_text(conflict.loser)},
        "loserVersion": {"N": str(conflict.loser.version)},
        "loserOrigin": {"S": conflict.loser.origin},
        "loserDeleted": {"BOOL": conflict.loser_deleted},
        "winnerVersion": {"N": str(conflict.winner.version)},
        "winnerOrigin": {"S": conflict.winner.origin},
        "sourceRegion": {"S": conflict.source_region},
        "destinationRegion": {"S": conflict.destination_region},
        "table": {"S": conflict.table},
        "recordedAt": {"N": f"{recorded_at:.3f}"},
        EXPIRES_AT: {"N": str(int(recorded_at) + retention_days * DAY_SECONDS)},
    }
    if conflict.loser.sequence:
        item["loserSequence"] = {"S": conflict.loser.sequence}
    if conflict.winner.sequence:
        item["winnerSequence"] = {"S": conflict.winner.sequence}
    return item


def conflict_of(
    replaced: Item | None,
    seen_at_source: Item | None,
    *,
    keys: Item,
    winner: Stamp,
    source_region: str,
    receiving_region: str,
    table: str,
) -> Conflict | None:
    """`conflict_loser` with everything a record needs."""
    loser = conflict_loser(replaced, seen_at_source, receiving_region)
    if loser is None:
        return None
    return Conflict(keys, loser, winner, source_region, receiving_region, table, is_tombstone(replaced))


def record_condition() -> tuple[str, dict[str, str]]:
    """Put only if this (key, loser) is not recorded yet: a retried call finds it and changes nothing."""
    return "attribute_not_exists(#k)", {"#k": KEY}


def emf_metrics(counts: Mapping[str, int], table: str, source_region: str, timestamp_ms: int) -> dict | None:
    """The counts as one EMF document (Powertools' CloudWatch EMF provider), or None when every count is 0.
    Powertools is imported here: the components import this module's names, the Lambda's layer has it."""
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    if not any(counts.values()):
        return None
    provider = AmazonCloudWatchEMFProvider(namespace=METRICS_NAMESPACE)
    for name, value in sorted(counts.items()):
        provider.add_metric(name=name, unit=MetricUnit.Count, value=value)
    provider.add_dimension(name="TableName", value=table)
    provider.add_dimension(name="SourceRegion", value=source_region)
    provider.set_timestamp(timestamp_ms)
    return dict(provider.serialize_metric_set())


def parse_record(item: Mapping[str, Any]) -> dict[str, Any]:
    """A conflicts table item (wire format) as plain facts, for operators (`drctl conflicts`)."""

    def s(name: str) -> str:
        return str(item.get(name, {}).get("S", ""))

    def n(name: str) -> float | None:
        value = item.get(name, {}).get("N")
        return None if value is None else float(value)

    try:
        keys = json.loads(s(KEY))
    except ValueError:
        keys = s(KEY)
    return {
        "key": keys,
        "loser": {"version": int(n("loserVersion") or 0), "origin": s("loserOrigin"), "sequence": s("loserSequence")},
        "winner": {
            "version": int(n("winnerVersion") or 0),
            "origin": s("winnerOrigin"),
            "sequence": s("winnerSequence"),
        },
        "loserDeleted": bool(item.get("loserDeleted", {}).get("BOOL", False)),
        "sourceRegion": s("sourceRegion"),
        "destinationRegion": s("destinationRegion"),
        "table": s("table"),
        "recordedAt": n("recordedAt"),
        "expiresAt": n(EXPIRES_AT),
    }


def create_table_arguments(name: str) -> dict[str, Any]:
    """CreateTable's arguments for a conflicts table (the component declares the same schema): for tests,
    the drill and stores created by hand. TTL is a separate call (UpdateTimeToLive on `expiresAt`)."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": KEY, "KeyType": "HASH"}, {"AttributeName": LOSER, "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": KEY, "AttributeType": "S"},
            {"AttributeName": LOSER, "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
