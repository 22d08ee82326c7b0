"""Application side: which region takes writes, and a DynamoDB table handle for it.

    resolver = ActiveRegionResolver.from_environment()
    table = resolver.table()              # boto3 Table in the active region
    resolver.ensure_writable()            # raises NotActiveRegion in a passive region (active-passive)

With streams replication, write through `VersionedTable`, which stamps every write with a version and
the writing region and turns deletes into tombstones (see `failover.replication`):

    items = VersionedTable(resolver.table(), region=resolver.local_region)
    items.put({"pk": "order#1", "total": 42})
    items.get({"pk": "order#1"})          # None once deleted: tombstones are hidden
    items.delete({"pk": "order#1"})
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import boto3
from boto3.dynamodb.conditions import Attr
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from failover.replication import DELETED, MICROS, ORIGIN, SEQUENCE, VERSION, Stamp, newer_condition

FAST = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1, "mode": "standard"})


class ActiveRegionUnknown(RuntimeError):
    """No region's parameter could be read."""


class NotActiveRegion(RuntimeError):
    """This region is passive; writes must go to the active one."""


class ActiveRegionResolver:
    """Reads `/<app>/<stack>/active_region` from the local region, caching it for `cache_seconds`;
    when the local SSM is unreachable it asks the other regions in priority order."""

    def __init__(self, *, parameter_name: str, local_region: str, regions: Sequence[str], table_name: str,
                 cache_seconds: float = 5.0, session: Optional[boto3.Session] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.parameter_name = parameter_name
        self.local_region = local_region
        self.priority = list(regions)
        """Failover priority (primary first), as in DR_REGIONS."""
        self.regions = [local_region, *[r for r in regions if r != local_region]]
        self.table_name = table_name
        self.cache_seconds = cache_seconds
        self.session = session or boto3.Session()
        self.clock = clock
        self._cached: Optional[tuple[str, float]] = None
        self._lock = threading.Lock()
        self._ssm = {}

    @classmethod
    def from_environment(cls, **overrides) -> "ActiveRegionResolver":
        """DR_ACTIVE_REGION_PARAMETER, DR_REGIONS, DR_TABLE, AWS_REGION, DR_CACHE_SECONDS (set by the stack)."""
        env = os.environ
        missing = [n for n in ("DR_ACTIVE_REGION_PARAMETER", "DR_REGIONS", "DR_TABLE", "AWS_REGION") if not env.get(n)]
        if missing:
            raise ValueError(f"{', '.join(missing)} not set")
        kwargs = dict(parameter_name=env["DR_ACTIVE_REGION_PARAMETER"], local_region=env["AWS_REGION"],
                      regions=[r.strip() for r in env["DR_REGIONS"].split(",") if r.strip()],
                      table_name=env["DR_TABLE"], cache_seconds=float(env.get("DR_CACHE_SECONDS", "5")))
        kwargs.update(overrides)
        return cls(**kwargs)

    def _read(self, region: str) -> str:
        if region not in self._ssm:
            self._ssm[region] = self.session.client("ssm", region_name=region, config=FAST)
        return self._ssm[region].get_parameter(Name=self.parameter_name)["Parameter"]["Value"]

    def active_region(self) -> str:
        now = self.clock()
        with self._lock:
            if self._cached and now - self._cached[1] < self.cache_seconds:
                return self._cached[0]
        errors = []
        for region in self.regions:
            try:
                value = self._read(region)
            except (BotoCoreError, ClientError) as exc:
                errors.append(f"{region}: {exc}")
                continue
            with self._lock:
                self._cached = (value, now)
            return value
        with self._lock:
            if self._cached:  # every region unreachable: keep the last known answer rather than none
                return self._cached[0]
        raise ActiveRegionUnknown("; ".join(errors))

    def is_active(self) -> bool:
        return self.active_region() == self.local_region

    def ensure_writable(self) -> None:
        active = self.active_region()
        if active != self.local_region:
            raise NotActiveRegion(f"{self.local_region} is passive; {active} takes writes")

    def table(self):
        """A boto3 DynamoDB Table resource in the active region."""
        return self.session.resource("dynamodb", region_name=self.active_region()).Table(self.table_name)


# -- versioned writes for streams replication -------------------------------------------------------------
NOT_DELETED = Attr(DELETED).not_exists()
"""A FilterExpression for Query and Scan that hides tombstones: `table.scan(FilterExpression=NOT_DELETED)`."""


def is_deleted(item: Optional[Mapping[str, Any]]) -> bool:
    """True for a tombstone (Python values, as the boto3 Table resource returns them)."""
    return bool(item) and item.get(DELETED) is True


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

    def __init__(self, table, *, region: str, versions: Optional[Callable[[], int]] = None) -> None:
        self.table = table
        self.region = region
        self.versions = versions or VersionClock()

    def stamp(self, version: Optional[int] = None) -> Stamp:
        return Stamp(self.versions() if version is None else int(version), self.region)

    def put(self, item: Mapping[str, Any], *, version: Optional[int] = None) -> bool:
        """Replace the item; False if a newer write is already stored."""
        stamp = self.stamp(version)
        body = {k: v for k, v in item.items() if k not in (VERSION, ORIGIN, SEQUENCE, DELETED)}
        body.update({VERSION: stamp.version, ORIGIN: stamp.origin})
        return self._conditional("put_item", stamp, Item=body)

    def delete(self, key: Mapping[str, Any], *, version: Optional[int] = None) -> bool:
        """Leave a tombstone carrying the delete's version; False if a newer write is already stored."""
        stamp = self.stamp(version)
        return self._conditional("put_item", stamp, Item={**key, VERSION: stamp.version, ORIGIN: stamp.origin,
                                                          DELETED: True})

    def update(self, key: Mapping[str, Any], changes: Mapping[str, Any], *, version: Optional[int] = None) -> bool:
        """Set the given attributes (an update of a deleted item brings it back with just these)."""
        stamp = self.stamp(version)
        condition, names, values = newer_condition(stamp)
        names.update({"#dr_d": DELETED, "#dr_s": SEQUENCE})
        sets = ["#dr_v = :dr_v", "#dr_o = :dr_o"]
        for i, (name, value) in enumerate(sorted(changes.items())):
            names[f"#a{i}"], values[f":a{i}"] = name, value
            sets.append(f"#a{i} = :a{i}")
        return self._call("update_item", Key=dict(key), UpdateExpression=f"SET {', '.join(sets)} REMOVE #dr_d, #dr_s",
                          ConditionExpression=condition, ExpressionAttributeNames=names,
                          ExpressionAttributeValues=values)

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> Optional[dict]:
        """The item, or None when it does not exist or was deleted."""
        item = self.table.get_item(Key=dict(key), ConsistentRead=consistent).get("Item")
        return None if item is None or is_deleted(item) else item

    def _conditional(self, method: str, stamp: Stamp, **kwargs) -> bool:
        expression, names, values = newer_condition(stamp)
        return self._call(method, ConditionExpression=expression, ExpressionAttributeNames=names,
                          ExpressionAttributeValues=values, **kwargs)

    def _call(self, method: str, **kwargs) -> bool:
        try:
            getattr(self.table, method)(**kwargs)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
