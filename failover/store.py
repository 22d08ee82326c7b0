"""The control item in DynamoDB: every change to the active region is a conditional write on `epoch`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Optional

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from failover.decisions import ControlState
from failover.settings import Settings

STALE_EPOCH = "ConditionalCheckFailedException"
_DESERIALIZE = TypeDeserializer().deserialize


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (Decimal, int, float)) else 0.0


class ControlStore:
    """Reads and fenced writes of `control#<app>` in the home region's replica of the control table."""

    def __init__(self, settings: Settings, dynamodb_client) -> None:
        self.settings = settings
        self.db = dynamodb_client
        self.key = {"pk": {"S": settings.control_key}}

    def read(self) -> tuple[ControlState, dict]:
        """The current state (the first region at epoch 0 when there is no item yet) and raw extras."""
        item = self.db.get_item(TableName=self.settings.control_table, Key=self.key, ConsistentRead=True).get("Item")
        if not item:
            return ControlState(active_region=self.settings.regions[0]), {}
        d = {k: _DESERIALIZE(v) for k, v in item.items()}
        state = ControlState(
            active_region=d["activeRegion"],
            epoch=int(d.get("epoch", 0)),
            last_transition_at=_num(d.get("lastTransitionAt", 0)),
            failures={k: int(v) for k, v in d.get("failures", {}).items()},
            successes={k: int(v) for k, v in d.get("successes", {}).items()},
            healthy_since={k: _num(v) for k, v in d.get("healthySince", {}).items()},
            pending=tuple(sorted(d.get("pending", set()))),
            previous_region=d.get("previousRegion"),
            reason=d.get("reason", ""),
        )
        extras = {"lag": {k: _num(v) for k, v in d.get("lagSeconds", {}).items()},
                  "lagObservedAt": _num(d.get("lagObservedAt", 0))}
        return state, extras

    def _fence(self, epoch: int) -> tuple[str, dict]:
        if epoch == 0:
            return "attribute_not_exists(pk) OR epoch = :expected", {":expected": {"N": "0"}}
        return "epoch = :expected", {":expected": {"N": str(epoch)}}

    def save_observation(self, state: ControlState, lag: Optional[dict[str, float]] = None, now: float = 0.0) -> bool:
        """Store the monitor's counters, unless a transition changed the epoch meanwhile."""
        cond, values = self._fence(state.epoch)
        sets = ["activeRegion = if_not_exists(activeRegion, :active)", "epoch = if_not_exists(epoch, :zero)",
                "failures = :f", "successes = :s", "healthySince = :h"]
        values.update({
            ":active": {"S": state.active_region}, ":zero": {"N": "0"},
            ":f": {"M": {k: {"N": str(v)} for k, v in state.failures.items()}},
            ":s": {"M": {k: {"N": str(v)} for k, v in state.successes.items()}},
            ":h": {"M": {k: {"N": repr(v)} for k, v in state.healthy_since.items()}},
        })
        if lag:
            sets += ["lagSeconds = :lag", "lagObservedAt = :lagAt"]
            values[":lag"] = {"M": {k: {"N": repr(float(v))} for k, v in lag.items()}}
            values[":lagAt"] = {"N": repr(now)}
        return self._update("SET " + ", ".join(sets), cond, values)

    def transition(self, state: ControlState, target: str, reason: str, now: float, steps: list[str],
                   lease_seconds: float) -> bool:
        """Bump the epoch and move the authority to `target`, holding the lease on its pending steps;
        False when another writer got there first."""
        cond, values = self._fence(state.epoch)
        values.update({
            ":lease": {"N": repr(now + lease_seconds)},
            ":target": {"S": target}, ":next": {"N": str(state.epoch + 1)}, ":prev": {"S": state.active_region},
            ":at": {"N": repr(now)}, ":reason": {"S": reason or "-"}, ":steps": {"SS": steps},
            ":empty": {"M": {}},
        })
        expr = ("SET activeRegion = :target, epoch = :next, previousRegion = :prev, lastTransitionAt = :at, "
                "reason = :reason, pending = :steps, failures = :empty, successes = :empty, healthySince = :empty, "
                "leaseUntil = :lease")
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
        item.update({k: {"S": str(v)} for k, v in record.items()})
        try:
            self.db.put_item(TableName=self.settings.control_table, Item=item,
                             ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != STALE_EPOCH:
                raise

    def _update(self, expression: str, condition: str, values: dict) -> bool:
        try:
            self.db.update_item(TableName=self.settings.control_table, Key=self.key, UpdateExpression=expression,
                                ConditionExpression=condition, ExpressionAttributeValues=values)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == STALE_EPOCH:
                return False
            raise
