"""The control table: the fenced control item, one observation item per observer, audit items.

Every change to the active region is a conditional write on `epoch`. Each observer (an orchestrator
in one region) writes only its own item `observer#<app>#<region>`: separate items, so neither a
concurrent observer nor last-writer-wins replication between regions can overwrite its counts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping, Optional

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from failover.decisions import ControlState, Observation
from failover.settings import Settings

# Both mean "another writer got there first": a failed condition, or (strong consistency) a concurrent
# write to the same item from another region.
LOST_RACE = ("ConditionalCheckFailedException", "ReplicatedWriteConflictException", "TransactionConflictException")
MAX_REASON_CHARS = 500
_DESERIALIZE = TypeDeserializer().deserialize


class BadControlState(ValueError):
    """The control item exists but is not one this runtime wrote; the message says what is wrong."""


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (Decimal, int, float)) and not isinstance(v, bool) else 0.0


def clean_text(text: Any, limit: int = MAX_REASON_CHARS) -> str:
    """Printable, valid UTF-8, bounded: what may be stored, logged and published of a free-text field."""
    raw = str(text if text is not None else "")
    safe = raw.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes '?'
    safe = "".join(ch if ch.isprintable() else " " for ch in safe)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def _count_map(value: Any) -> dict[str, float]:
    return {str(k): _num(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


class ControlStore:
    """Reads and fenced writes of the control table in the orchestrator's own region."""

    def __init__(self, settings: Settings, dynamodb_client) -> None:
        self.settings = settings
        self.db = dynamodb_client
        self.key = {"pk": {"S": settings.control_key}}

    # -- the control item -------------------------------------------------------------------
    def read(self) -> ControlState:
        """The current state (the first region at epoch 0 when there is no item yet).

        Raises BadControlState when the item is malformed or names a region this runtime does not know."""
        item = self.db.get_item(TableName=self.settings.control_table, Key=self.key, ConsistentRead=True).get("Item")
        if not item:
            return ControlState(active_region=self.settings.regions[0])
        return parse_control_item({k: _DESERIALIZE(v) for k, v in item.items()}, self.settings.regions)

    def _fence(self, epoch: int) -> tuple[str, dict]:
        if epoch == 0:
            return "attribute_not_exists(pk) OR epoch = :expected", {":expected": {"N": "0"}}
        return "epoch = :expected", {":expected": {"N": str(epoch)}}

    def transition(self, state: ControlState, target: str, reason: str, now: float, steps: list[str],
                   lease_seconds: float) -> bool:
        """Bump the epoch and move the authority to `target`, holding the lease on its pending steps;
        False when another writer got there first."""
        cond, values = self._fence(state.epoch)
        values.update({
            ":lease": {"N": repr(now + lease_seconds)},
            ":target": {"S": target}, ":next": {"N": str(state.epoch + 1)}, ":prev": {"S": state.active_region},
            ":at": {"N": repr(now)}, ":reason": {"S": clean_text(reason) or "-"}, ":steps": {"SS": steps},
        })
        expr = ("SET activeRegion = :target, epoch = :next, previousRegion = :prev, lastTransitionAt = :at, "
                "reason = :reason, pending = :steps, leaseUntil = :lease")
        return self._update(expr, cond, values)

    def acquire_lease(self, epoch: int, now: float, lease_seconds: float) -> bool:
        """Only one invocation at a time completes pending steps; a crashed holder's lease expires."""
        return self._update(
            "SET leaseUntil = :until", "epoch = :expected AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)",
            {":expected": {"N": str(epoch)}, ":now": {"N": repr(now)}, ":until": {"N": repr(now + lease_seconds)}},
        )

    def release_lease(self, epoch: int) -> None:
        self._update("REMOVE leaseUntil", "epoch = :expected", {":expected": {"N": str(epoch)}})

    def finish_step(self, epoch: int, step: str) -> bool:
        """Remove `step` from the pending set; False if it was already gone (someone else claimed it)."""
        return self._update(
            "DELETE pending :step", "epoch = :expected AND contains(pending, :name)",
            {":expected": {"N": str(epoch)}, ":step": {"SS": [step]}, ":name": {"S": step}},
        )

    def put_audit(self, epoch: int, record: dict[str, Any]) -> None:
        """One audit item per epoch; a retry of the same epoch writes nothing new."""
        item = {"pk": {"S": f"audit#{self.settings.app}#{epoch:010d}"}}
        item.update({k: {"S": clean_text(v)} for k, v in record.items()})
        try:
            self.db.put_item(TableName=self.settings.control_table, Item=item,
                             ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in LOST_RACE:
                raise

    # -- observations -----------------------------------------------------------------------
    def observer_key(self, region: str) -> dict:
        return {"pk": {"S": f"observer#{self.settings.app}#{region}"}}

    def claim_observer(self, region: str, owner: str) -> None:
        """A new monitor invocation takes over the observer's record; an older one still running then
        fails its next conditional save and stops, so one invocation counts at a time."""
        self.db.update_item(TableName=self.settings.control_table, Key=self.observer_key(region),
                            UpdateExpression="SET #owner = :me", ExpressionAttributeNames={"#owner": "owner"},
                            ExpressionAttributeValues={":me": {"S": owner}})

    def read_observations(self) -> dict[str, tuple[Observation, dict]]:
        """Every observer's record (region -> (Observation, lag memory)); malformed records are skipped."""
        keys = [self.observer_key(r) for r in self.settings.regions]
        table = self.settings.control_table
        got = self.db.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
        out = {}
        for item in got.get("Responses", {}).get(table, []):
            d = {k: _DESERIALIZE(v) for k, v in item.items()}
            region = str(d["pk"]).rsplit("#", 1)[-1]
            if region not in self.settings.regions:
                continue
            out[region] = parse_observation(region, d)
        return out

    def save_observation(self, obs: Observation, owner: str,
                         lag: Optional[Mapping[str, tuple[Optional[float], Optional[bool], float]]] = None) -> bool:
        """Store this observer's counts and lag memory (target -> (seconds, writes seen, when read)), only
        while `owner` still holds the record."""
        item = {
            **self.observer_key(obs.observer), "owner": {"S": owner},
            "epoch": {"N": str(obs.epoch)}, "at": {"N": repr(obs.at)},
            "failures": _number_map(obs.failures), "successes": _number_map(obs.successes),
            "failingSince": _number_map(obs.failing_since), "healthySince": _number_map(obs.healthy_since),
            "lastSuccess": _number_map(obs.last_success),
        }
        if lag:
            item["lag"] = {"M": {region: {"M": {
                "lagSeconds": {"NULL": True} if seconds is None else {"N": repr(float(seconds))},
                "writesSeen": {"NULL": True} if writes is None else {"BOOL": bool(writes)},
                "at": {"N": repr(float(at))}}} for region, (seconds, writes, at) in lag.items()}}
        try:
            self.db.put_item(TableName=self.settings.control_table, Item=item,
                             ConditionExpression="attribute_not_exists(pk) OR #owner = :me",
                             ExpressionAttributeNames={"#owner": "owner"},
                             ExpressionAttributeValues={":me": {"S": owner}})
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] in LOST_RACE:
                return False
            raise

    def _update(self, expression: str, condition: str, values: dict) -> bool:
        try:
            self.db.update_item(TableName=self.settings.control_table, Key=self.key, UpdateExpression=expression,
                                ConditionExpression=condition, ExpressionAttributeValues=values)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] in LOST_RACE:
                return False
            raise


def _number_map(values: Mapping[str, float]) -> dict:
    return {"M": {k: {"N": repr(float(v)) if isinstance(v, float) else str(v)} for k, v in values.items()}}


def parse_control_item(d: Mapping[str, Any], regions: tuple[str, ...]) -> ControlState:
    """The control item as a ControlState, or BadControlState saying exactly what is wrong with it."""
    active = d.get("activeRegion")
    if not isinstance(active, str):
        raise BadControlState("the control item has no activeRegion")
    if active not in regions:
        raise BadControlState(f"the control item names {active!r} as active, which is not one of {', '.join(regions)}")
    epoch = d.get("epoch", 0)
    if isinstance(epoch, bool) or not isinstance(epoch, (int, Decimal)) or epoch < 0 or epoch != int(epoch):
        raise BadControlState(f"the control item's epoch {epoch!r} is not a whole number >= 0")
    pending = d.get("pending", set())
    if not isinstance(pending, (set, frozenset)) or not all(isinstance(p, str) for p in pending):
        raise BadControlState("the control item's pending steps are not a string set")
    previous = d.get("previousRegion")
    return ControlState(
        active_region=active,
        epoch=int(epoch),
        last_transition_at=_num(d.get("lastTransitionAt", 0)),
        pending=tuple(sorted(pending)),
        previous_region=previous if isinstance(previous, str) else None,
        reason=clean_text(d.get("reason", "")),
    )


def parse_observation(region: str, d: Mapping[str, Any]) -> tuple[Observation, dict]:
    """An observer's record as (Observation, {target region: (lag seconds or None, writes seen or None, at)})."""
    obs = Observation(
        observer=region, epoch=int(_num(d.get("epoch", 0))), at=_num(d.get("at", 0)),
        failures={k: int(v) for k, v in _count_map(d.get("failures")).items()},
        successes={k: int(v) for k, v in _count_map(d.get("successes")).items()},
        failing_since=_count_map(d.get("failingSince")), healthy_since=_count_map(d.get("healthySince")),
        last_success=_count_map(d.get("lastSuccess")),
    )
    lag = {}
    raw_lag = d.get("lag")
    if isinstance(raw_lag, Mapping):
        for target, r in raw_lag.items():
            if isinstance(r, Mapping):
                seconds = r.get("lagSeconds")
                writes = r.get("writesSeen")
                lag[str(target)] = (None if seconds is None else _num(seconds),
                                    writes if isinstance(writes, bool) else None, _num(r.get("at", 0)))
    return obs, lag
