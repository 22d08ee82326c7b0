"""The rules of streams replication, as plain functions over DynamoDB's wire format (`{"S": "x"}`).

Every replicated item carries a *stamp*, ordered as the tuple (version, origin, sequence):

- `_dr_version` (N): set by the writer (`failover.client.VersionedTable`: microseconds of its clock), or, for
  a write that carries none, the stream record's ApproximateCreationDateTime in microseconds;
- `_dr_origin` (S): the region the write was made in;
- `_dr_seq` (S): the source stream's sequence number, zero-padded to 40 digits; set only by the replicator,
  it orders two records of one origin that carry the same version (unstamped writes in the same second).

Last writer wins: a write is applied only if its stamp is strictly greater than the stored one, so
duplicates and re-deliveries change nothing and the order of delivery does not matter. A delete is a
*tombstone* (`_dr_deleted` true, the key and a stamp), so a late, older write never resurrects it.
The replicator never echoes: it copies only writes made in its source region; what a replicator wrote
carries another origin and a new stamp, and the replicator of the reverse direction skips it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

VERSION = "_dr_version"
ORIGIN = "_dr_origin"
SEQUENCE = "_dr_seq"
DELETED = "_dr_deleted"
STAMP_ATTRIBUTES = (VERSION, ORIGIN, SEQUENCE)
SEQUENCE_DIGITS = 40  # DynamoDB Streams sequence numbers are 21 to 40 digits long
MICROS = 1_000_000

# The lag metric, published by the replicator in the RECEIVING region (the failover's lag gate runs there).
LAG_NAMESPACE = "DynamoDR/Replication"
LAG_METRIC = "ReplicationLatency"
LAG_UNIT = "Milliseconds"

Item = dict[str, dict[str, Any]]
"""An item in DynamoDB's wire format: attribute name -> {"S": ...} / {"N": ...} / ..."""


class Stamp(NamedTuple):
    """Orders writes: version, then origin region name, then stream sequence ("" when none)."""

    version: int
    origin: str
    sequence: str = ""


def padded_sequence(sequence_number: str) -> str:
    """Zero-padded so that string order is numeric order (condition expressions compare strings)."""
    if not sequence_number.isdigit() or len(sequence_number) > SEQUENCE_DIGITS:
        raise ValueError(f"not a stream sequence number: {sequence_number!r}")
    return sequence_number.zfill(SEQUENCE_DIGITS)


def stamp_of(image: Mapping[str, Mapping[str, Any]] | None) -> Stamp | None:
    """The stamp an item carries, or None for an item no writer stamped."""
    if not image or VERSION not in image or "N" not in image[VERSION]:
        return None
    return Stamp(int(image[VERSION]["N"]), image.get(ORIGIN, {}).get("S", ""), image.get(SEQUENCE, {}).get("S", ""))


def is_tombstone(image: Mapping[str, Mapping[str, Any]] | None) -> bool:
    return image is not None and image.get(DELETED, {}).get("BOOL") is True


def is_newer(incoming: Stamp, stored: Stamp | None) -> bool:
    """The conflict rule: strictly greater wins; nothing stored (or an unstamped item) always loses."""
    return stored is None or incoming > stored


def newer_condition(incoming: Stamp) -> tuple[str, dict[str, str], dict[str, Any]]:
    """`is_newer` as a DynamoDB condition expression: (expression, names, values with plain Python values).

    A missing origin or sequence on the stored item counts as "", the lowest, as in `stamp_of`. Placeholders
    are `#dr_v`, `#dr_o`, `#dr_s` and `:dr_v`, `:dr_o`, `:dr_s`, so an update can SET the stamp with them.
    """
    names = {"#dr_v": VERSION, "#dr_o": ORIGIN}
    values: dict[str, Any] = {":dr_v": incoming.version, ":dr_o": incoming.origin}
    same_origin = ""
    if incoming.sequence:
        names["#dr_s"] = SEQUENCE
        values[":dr_s"] = incoming.sequence
        same_origin = " OR (#dr_o = :dr_o AND (attribute_not_exists(#dr_s) OR #dr_s < :dr_s))"
    expression = (
        "attribute_not_exists(#dr_v) OR #dr_v < :dr_v OR "
        f"(#dr_v = :dr_v AND (attribute_not_exists(#dr_o) OR #dr_o < :dr_o{same_origin}))"
    )
    return expression, names, values


def with_stamp(item: Mapping[str, Mapping[str, Any]], stamp: Stamp) -> Item:
    """A copy of `item` carrying `stamp` (no sequence attribute when the stamp has none)."""
    out = {k: dict(v) for k, v in item.items() if k not in STAMP_ATTRIBUTES}
    out[VERSION] = {"N": str(stamp.version)}
    out[ORIGIN] = {"S": stamp.origin}
    if stamp.sequence:
        out[SEQUENCE] = {"S": stamp.sequence}
    return out


def tombstone(keys: Mapping[str, Mapping[str, Any]], stamp: Stamp) -> Item:
    """What a delete leaves: the key, the stamp of the delete, and the deleted flag."""
    return with_stamp({**keys, DELETED: {"BOOL": True}}, stamp)


EventName = Literal["INSERT", "MODIFY", "REMOVE"]


@dataclass(frozen=True)
class StreamChange:
    """One DynamoDB Streams record, reduced to what replication needs (images in wire format)."""

    event_name: EventName
    keys: Item
    new_image: Item | None
    old_image: Item | None
    created_at: float
    """ApproximateCreationDateTime, seconds since the epoch."""
    sequence_number: str


MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB's item size limit, attribute names included."""


def _value_size(value: Mapping[str, Any]) -> int:
    """A wire value's size as DynamoDB counts it, rounded up where the rules are approximate (numbers)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode("utf-8"))
    if kind == "N":
        digits = len(str(v).lstrip("-").replace(".", "").strip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(v) if isinstance(v, (bytes, bytearray)) else (len(v) * 3 + 3) // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: x}) for x in v)
    if kind == "L":
        return 3 + sum(1 + _value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + _value_size(x) for k, x in v.items())
    raise ValueError(f"not a DynamoDB attribute value type: {kind!r}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size as DynamoDB counts it against its 400 KB limit (names plus values)."""
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


@dataclass(frozen=True)
class Plan:
    """What to do with one record: put `item` if `stamp` is newer than what is stored, or skip (`item` None).
    `oversize`: the stamped item would exceed DynamoDB's item size limit; it cannot be replicated as it is."""

    outcome: Literal["replicate", "echo", "expired-tombstone", "oversize"]
    item: Item | None = None
    stamp: Stamp | None = None
    size: int = 0


class UnreplicableRecord(ValueError):
    """A record that can never be replicated as it is (wrong stream view type, malformed)."""


def plan_replication(change: StreamChange, source_region: str) -> Plan:
    """Decide what the replicator from `source_region` writes for one stream record.

    - A write whose new image carries another origin was made by a replicator (its stamp changed): an echo,
      skipped. If its stamp did not change, an application updated a replicated item without stamping it:
      that is a local write.
    - A stamped local write keeps its version; an unstamped one gets the record's creation time, and never
      less than the version it overwrote plus one.
    - A hard delete (REMOVE) becomes a tombstone stamped like an unstamped write; a REMOVE of a tombstone
      (its TTL expired) is garbage collection in this region only, and is not replicated.
    """
    sequence = padded_sequence(change.sequence_number)
    created = round(change.created_at * MICROS)
    old_stamp = stamp_of(change.old_image)
    floor = old_stamp.version + 1 if old_stamp else 0
    if change.event_name == "REMOVE":
        if is_tombstone(change.old_image):
            return Plan("expired-tombstone")
        stamp = Stamp(max(created, floor), source_region, sequence)
        return Plan("replicate", tombstone(change.keys, stamp), stamp)
    if change.event_name not in ("INSERT", "MODIFY"):
        raise UnreplicableRecord(f"unknown eventName {change.event_name!r}")
    if not change.new_image:
        raise UnreplicableRecord("the record has no NewImage: the stream view type must be NEW_AND_OLD_IMAGES")
    new_stamp = stamp_of(change.new_image)
    if new_stamp is not None and new_stamp.origin == source_region:
        stamp = Stamp(new_stamp.version, source_region, sequence)
    elif new_stamp is not None and (change.old_image is None or new_stamp != old_stamp):
        return Plan("echo")
    else:  # unstamped write, or an unstamped update of a replicated item
        stamp = Stamp(max(created, floor), source_region, sequence)
    item = with_stamp(change.new_image, stamp)
    size = item_size(item)
    if size > MAX_ITEM_BYTES:  # the stamp pushed it over (or it never fitted): the record goes to the failure queue
        return Plan("oversize", None, stamp, size)
    return Plan("replicate", item, stamp, size)


def lag_metric(table_name: str, source_region: str) -> dict[str, Any]:
    """The lag metric as CloudWatch names it (the `Metric` of a GetMetricData query), in the receiving region:
    namespace DynamoDR/Replication, ReplicationLatency in milliseconds, by receiving TableName and SourceRegion."""
    return {
        "Namespace": LAG_NAMESPACE,
        "MetricName": LAG_METRIC,
        "Dimensions": [{"Name": "TableName", "Value": table_name}, {"Name": "SourceRegion", "Value": source_region}],
    }


def batch_lag_milliseconds(created_at: list[float], now: float) -> float | None:
    """How far behind the stream the replicator is: now - the oldest record's creation time, in ms."""
    if not created_at:
        return None
    return max(0.0, (now - min(created_at)) * 1000.0)
