"""Application side: which region takes writes, whether this one may, and a DynamoDB table handle.

    resolver = ActiveRegionResolver.from_environment()
    resolver.ensure_writable()            # raises NotActiveRegion / WritesFenced unless this region may write now
    table = resolver.local_table()        # boto3 Table in this region
    resolver.active_region()              # where writes go (the projection: for routing and reads)

Writing is allowed only on a *confirmed* view: a strongly consistent read of the control item (in the control
table's nearest replica) saying this region is active, no older than the lease (`DR_CACHE_SECONDS`). A new write
starts only while at least `write_margin` of the lease is left, so every write started under a lease has finished
by the time it runs out; a transition waits the lease between demoting the old region and activating the new one.
When the authority cannot be read (this region cut off from the others, the control table unreachable), the lease
simply runs out and writes stop: fail closed. Views never go back to an older epoch.

With streams replication, write through `VersionedTable`, which stamps every write with a version and
the writing region and turns deletes into tombstones (see `failover.replication`):

    items = VersionedTable(resolver.local_table(), region=resolver.local_region)
    items.put({"pk": "order#1", "total": 42})
    items.get({"pk": "order#1"})          # None once deleted: tombstones are hidden
    items.delete({"pk": "order#1"})
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from failover import projection
from failover.replication import DELETED, MICROS, ORIGIN, SEQUENCE, VERSION, Stamp, newer_condition

FAST = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1, "mode": "standard"})
_DESERIALIZE = TypeDeserializer().deserialize


class ActiveRegionUnknown(RuntimeError):
    """No region's parameter could be read."""


class WritesFenced(ActiveRegionUnknown):
    """This region cannot confirm it is the active one (the authority is unreachable from here): no writes."""


class PartialUpdateRefused(TypeError):
    """A partial update under streams replication (see `VersionedTable.update`)."""


class NotActiveRegion(RuntimeError):
    """This region is passive (or a transition is settling); writes must not happen here now."""


@dataclass(frozen=True)
class ControlView:
    """The authority as one confirmed read saw it."""

    active_region: str
    epoch: int
    phase: str
    sent_at: float
    """When the confirming read was sent (the clock of the resolver): the lease counts from here."""

    @property
    def writable_region(self) -> str | None:
        return self.active_region if self.phase == "active" else None


class ActiveRegionResolver:
    """Reads `/<app>/<stack>/active_region` (the projection) from the local region, caching it for
    `cache_seconds`, never going back to an older epoch; and confirms write permission against the control item."""

    def __init__(
        self,
        *,
        parameter_name: str,
        local_region: str,
        regions: Sequence[str],
        table_name: str,
        cache_seconds: float = 5.0,
        session: boto3.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        control_table: str | None = None,
        app: str | None = None,
        control_regions: Sequence[str] | None = None,
        write_margin: float | None = None,
    ) -> None:
        self.parameter_name = parameter_name
        self.local_region = local_region
        self.priority = list(regions)
        """Failover priority (primary first), as in DR_REGIONS."""
        self.regions = [local_region, *[r for r in regions if r != local_region]]
        self.table_name = table_name
        self.cache_seconds = cache_seconds
        self.lease_seconds = cache_seconds
        self.write_margin = cache_seconds * 0.4 if write_margin is None else write_margin
        """A write starts only while this much of the lease is left (the writes' own deadline must be shorter)."""
        self.retry_seconds = cache_seconds / 5
        """A passive region asks the authority again at most this often."""
        self.session = session or boto3.Session()
        self.clock = clock
        self.control_table = control_table
        self.control_key = f"control#{app}" if app else None
        replicas = list(control_regions or [local_region])
        self.control_regions = ([local_region] if local_region in replicas else []) + [
            r for r in replicas if r != local_region
        ]
        self._projection: projection.Projection | None = None
        self._projection_at: float | None = None
        self._view: ControlView | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], Any] = {}

    @classmethod
    def from_environment(cls, **overrides) -> ActiveRegionResolver:
        """DR_ACTIVE_REGION_PARAMETER, DR_REGIONS, DR_TABLE, AWS_REGION, DR_CACHE_SECONDS, DR_CONTROL_TABLE, DR_APP
        and DR_CONTROL_REGIONS (all set by the stack)."""
        env = os.environ
        required = ("DR_ACTIVE_REGION_PARAMETER", "DR_REGIONS", "DR_TABLE", "AWS_REGION", "DR_CONTROL_TABLE", "DR_APP")
        missing = [n for n in required if not env.get(n)]
        if missing:
            raise ValueError(f"{', '.join(missing)} not set")
        split = lambda text: [r.strip() for r in text.split(",") if r.strip()]  # noqa: E731
        kwargs: dict[str, Any] = {
            "parameter_name": env["DR_ACTIVE_REGION_PARAMETER"],
            "local_region": env["AWS_REGION"],
            "regions": split(env["DR_REGIONS"]),
            "table_name": env["DR_TABLE"],
            "cache_seconds": float(env.get("DR_CACHE_SECONDS", "5")),
            "control_table": env["DR_CONTROL_TABLE"],
            "app": env["DR_APP"],
            "control_regions": split(env.get("DR_CONTROL_REGIONS", "")) or None,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    def _client(self, service: str, region: str):
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.session.client(service, region_name=region, config=FAST)
        return self._clients[key]

    # -- the projection (routing, reads) ---------------------------------------------------------------------
    @property
    def known_epoch(self) -> int | None:
        """The highest epoch this resolver has seen, projected or confirmed."""
        epochs = [p.epoch for p in (self._projection,) if p] + [v.epoch for v in (self._view,) if v]
        return max(epochs) if epochs else None

    def _newest_region(self) -> str | None:
        view, seen = self._view, self._projection
        if view is not None and (seen is None or view.epoch >= seen.epoch):
            return view.active_region
        return seen.region if seen else None

    def active_region(self) -> str:
        """The region writes go to, as far as this resolver knows: the projection (cached), or a newer confirmed
        view; never an older epoch than one it has seen."""
        now = self.clock()
        with self._lock:
            if self._projection_at is not None and now - self._projection_at < self.cache_seconds:
                region = self._newest_region()
                if region:
                    return region
        errors = []
        for region in self.regions:
            try:
                value = self._client("ssm", region).get_parameter(Name=self.parameter_name)["Parameter"]["Value"]
            except (BotoCoreError, ClientError) as exc:
                errors.append(f"{region}: {exc}")
                continue
            read = projection.parse(value)
            if read is None:
                errors.append(f"{region}: {value[:80]!r} is not an active-region value")
                continue
            with self._lock:
                self._projection = projection.newest(self._projection, read)
                self._projection_at = now
                return self._newest_region() or read.region
        with self._lock:
            region = self._newest_region()
        if region:  # every region unreachable: keep the last known answer rather than none
            return region
        raise ActiveRegionUnknown("; ".join(errors))

    def is_active(self) -> bool:
        return self.active_region() == self.local_region

    # -- the authority (writes) ------------------------------------------------------------------------------
    def confirm(self) -> ControlView:
        """Read the control item (strongly consistent) from the nearest control replica that answers.

        Raises WritesFenced when none answers: a region cut off from a majority of the control table's regions
        is refused strongly consistent reads, and that is what stops its writes."""
        if not self.control_table or not self.control_key:
            raise WritesFenced("no control table is configured (DR_CONTROL_TABLE, DR_APP): writes cannot be fenced")
        errors = []
        for region in self.control_regions:
            sent = self.clock()
            try:
                item = (
                    self._client("dynamodb", region)
                    .get_item(TableName=self.control_table, Key={"pk": {"S": self.control_key}}, ConsistentRead=True)
                    .get("Item")
                )
            except (BotoCoreError, ClientError) as exc:
                errors.append(f"{region}: {type(exc).__name__}")
                continue
            view = self._view_of(item, sent)
            with self._lock:
                if self._view is None or view.epoch >= self._view.epoch:
                    self._view = view
                return self._view
        raise WritesFenced(f"cannot confirm the active region from {self.local_region}: {'; '.join(errors)}")

    def _view_of(self, item: dict | None, sent: float) -> ControlView:
        if not item:
            return ControlView(self.priority[0], 0, "active", sent)
        d = {k: _DESERIALIZE(v) for k, v in item.items()}
        region = d.get("activeRegion")
        if not isinstance(region, str) or region not in self.priority:
            raise WritesFenced(f"the control item names {region!r}, which is not one of {', '.join(self.priority)}")
        phase = d.get("phase", "active")
        return ControlView(
            region, int(d.get("epoch", 0)), phase if phase in ("active", "demoting") else "demoting", sent
        )

    def confirmed_view(self) -> ControlView | None:
        """A view confirmed within the lease (read again when older), or None when it cannot be confirmed."""
        with self._lock:
            view = self._view
        if view is not None and self.clock() - view.sent_at < self.lease_seconds:
            return view
        try:
            return self.confirm()
        except WritesFenced:
            return None

    def ensure_writable(self) -> None:
        """Return when this region may start a write now; raise NotActiveRegion (passive, or a transition is
        settling) or WritesFenced (the authority cannot be read: fail closed)."""
        now = self.clock()
        with self._lock:
            view, attempted = self._view, self._attempted_at
        if view is not None and now - view.sent_at < self.lease_seconds - self.write_margin:
            if view.writable_region == self.local_region:
                return
            if attempted is not None and now - attempted < self.retry_seconds:
                raise NotActiveRegion(self._passive_reason(view))
        with self._lock:
            self._attempted_at = now
        view = self.confirm()
        if view.writable_region == self.local_region:
            return
        raise NotActiveRegion(self._passive_reason(view))

    def _passive_reason(self, view: ControlView) -> str:
        if view.active_region == self.local_region:
            return f"{self.local_region} becomes active at epoch {view.epoch} once the old region has stopped"
        return f"{self.local_region} is passive; {view.active_region} takes writes (epoch {view.epoch})"

    @property
    def write_epoch(self) -> int | None:
        """The epoch the current write permission was confirmed under (None without one)."""
        view = self._view
        return view.epoch if view is not None and view.writable_region == self.local_region else None

    def table(self):
        """A boto3 DynamoDB Table resource in the active region (per the projection)."""
        return self.session.resource("dynamodb", region_name=self.active_region()).Table(self.table_name)

    def local_table(self):
        """A boto3 DynamoDB Table resource in this region (what `ensure_writable` guards)."""
        return self.session.resource("dynamodb", region_name=self.local_region).Table(self.table_name)


# -- versioned writes for streams replication -------------------------------------------------------------
NOT_DELETED = Attr(DELETED).not_exists()
"""A FilterExpression for Query and Scan that hides tombstones: `table.scan(FilterExpression=NOT_DELETED)`."""


def is_deleted(item: Mapping[str, Any] | None) -> bool:
    """True for a tombstone (Python values, as the boto3 Table resource returns them)."""
    return item is not None and item.get(DELETED) is True


def hide_tombstones(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [item for item in items if not is_deleted(item)]


class VersionClock:
    """Versions for one process: microseconds of the wall clock, strictly increasing even within a microsecond."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._last = max(int(self.clock() * MICROS), self._last + 1)
            return self._last


class VersionedTable:
    """Writes that take part in last-writer-wins replication: each carries a version and this region.

    Every write is conditional on being newer than what is stored (the same rule the replicator applies),
    so a write that a newer one (from this or another region) already superseded changes nothing and
    returns False. A delete writes a tombstone; `get` and `NOT_DELETED` hide tombstones from readers.
    """

    def __init__(self, table, *, region: str, versions: Callable[[], int] | None = None) -> None:
        self.table = table
        self.region = region
        self.versions = versions or VersionClock()

    def stamp(self, version: int | None = None) -> Stamp:
        return Stamp(self.versions() if version is None else int(version), self.region)

    def put(self, item: Mapping[str, Any], *, version: int | None = None) -> bool:
        """Replace the item; False if a newer write is already stored."""
        stamp = self.stamp(version)
        body = {k: v for k, v in item.items() if k not in (VERSION, ORIGIN, SEQUENCE, DELETED)}
        body.update({VERSION: stamp.version, ORIGIN: stamp.origin})
        return self._conditional("put_item", stamp, Item=body)

    def delete(self, key: Mapping[str, Any], *, version: int | None = None) -> bool:
        """Leave a tombstone carrying the delete's version; False if a newer write is already stored."""
        stamp = self.stamp(version)
        return self._conditional(
            "put_item", stamp, Item={**key, VERSION: stamp.version, ORIGIN: stamp.origin, DELETED: True}
        )

    def update(self, key: Mapping[str, Any], changes: Mapping[str, Any], *, version: int | None = None) -> bool:
        """Refused: under streams replication the replicator copies whole items, last writer wins, so a partial
        update made in one region replaces the item in the others and silently drops a concurrent update of other
        attributes made there. Read the item, change it, and `put` it whole (what replicates is then what you
        wrote). `update_unsafe` keeps the old behaviour for callers that accept that loss."""
        raise PartialUpdateRefused(
            f"VersionedTable.update({dict(key)!r}): partial updates are refused under streams replication (a "
            "concurrent update of other attributes in another region would be silently lost); read the item, "
            "change it and put it whole"
        )

    def update_unsafe(self, key: Mapping[str, Any], changes: Mapping[str, Any], *, version: int | None = None) -> bool:
        """Set the given attributes (an update of a deleted item brings it back with just these). Replicates as
        the whole new item: a concurrent update of other attributes in another region is lost (see `update`)."""
        stamp = self.stamp(version)
        condition, names, values = newer_condition(stamp)
        names.update({"#dr_d": DELETED, "#dr_s": SEQUENCE})
        sets = ["#dr_v = :dr_v", "#dr_o = :dr_o"]
        for i, (name, value) in enumerate(sorted(changes.items())):
            names[f"#a{i}"], values[f":a{i}"] = name, value
            sets.append(f"#a{i} = :a{i}")
        return self._call(
            "update_item",
            Key=dict(key),
            UpdateExpression=f"SET {', '.join(sets)} REMOVE #dr_d, #dr_s",
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> dict | None:
        """The item, or None when it does not exist or was deleted."""
        item = self.table.get_item(Key=dict(key), ConsistentRead=consistent).get("Item")
        return None if item is None or is_deleted(item) else item

    def _conditional(self, method: str, stamp: Stamp, **kwargs) -> bool:
        expression, names, values = newer_condition(stamp)
        return self._call(
            method,
            ConditionExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            **kwargs,
        )

    def _call(self, method: str, **kwargs) -> bool:
        try:
            getattr(self.table, method)(**kwargs)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
