"""The control table: the fenced control item, one observation item per observer, audit items.

The control table is strongly consistent across regions (multi-region strong consistency), so a conditional write
is checked against the one history every replica shares, and a replica cut off from a majority refuses strongly
consistent reads and writes: an isolated region can neither transition nor confirm itself active.

Every change to the active region is a conditional write on `epoch`; its activation is conditional on the
transition's `nonce`. Each observer (an orchestrator in one region) writes only its own item
`observer#<app>#<region>`, so no observer overwrites another's counts.

The store reads the replica in its own region and, when that one does not answer, the others in turn: the answer
is the same from any replica that answers at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ConnectTimeoutError, ReadTimeoutError

from failover.decisions import ControlState, Observation
from failover.settings import Settings

# Both mean "another writer got there first": a failed condition, or (strong consistency) a concurrent
# write to the same item from another region.
LOST_RACE = ("ConditionalCheckFailedException", "ReplicatedWriteConflictException", "TransactionConflictException")
UNANSWERED = (ConnectionError, ConnectTimeoutError, ReadTimeoutError)
"""The replica did not answer (or not in time): ask the next one."""
UNAVAILABLE_CODES = ("InternalServerError", "ServiceUnavailable", "ThrottlingException", "RequestLimitExceeded")
MAX_REASON_CHARS = 500
STEPS = ("activate", "scale", "notify", "audit")
"""What a transition leaves pending after its epoch bump, in the order they are done."""
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


def _unanswered(exc: Exception) -> bool:
    if isinstance(exc, UNANSWERED):
        return True
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in UNAVAILABLE_CODES


class ControlStore:
    """Reads and fenced writes of the control table, through the nearest replica that answers."""

    def __init__(self, settings: Settings, clients: Sequence[Any] | Any) -> None:
        self.settings = settings
        self.clients = list(clients) if isinstance(clients, (list, tuple)) else [clients]
        self.key = {"pk": {"S": settings.control_key}}

    @property
    def db(self):
        """The nearest replica's client (tests stub it)."""
        return self.clients[0]

    def _call(self, fn: Callable[[Any], Any]) -> Any:
        """`fn(client)` on the nearest replica; on no answer, the next one; the last error when none answers."""
        last: Exception | None = None
        for client in self.clients:
            try:
                return fn(client)
            except (BotoCoreError, ClientError) as exc:
                if not _unanswered(exc):
                    raise
                last = exc
        assert last is not None
        raise last

    # -- the control item -------------------------------------------------------------------------------------
    def read(self) -> ControlState:
        """The current state (the first region at epoch 0 when there is no item yet).

        Raises BadControlState when the item is malformed or names a region this runtime does not know."""
        item = self._call(
            lambda db: db.get_item(TableName=self.settings.control_table, Key=self.key, ConsistentRead=True)
        ).get("Item")
        if not item:
            return ControlState(active_region=self.settings.regions[0])
        return parse_control_item({k: _DESERIALIZE(v) for k, v in item.items()}, self.settings.regions)

    def _fence(self, epoch: int) -> tuple[str, dict]:
        if epoch == 0:
            return "attribute_not_exists(pk) OR epoch = :expected", {":expected": {"N": "0"}}
        return "epoch = :expected", {":expected": {"N": str(epoch)}}

    def transition(
        self,
        state: ControlState,
        target: str,
        reason: str,
        now: float,
        steps: Sequence[str],
        lease_seconds: float,
        nonce: str = "",
        settle_seconds: float = 0.0,
    ) -> bool:
        """The epoch bump: name `target` with phase `demoting` (nobody writes until the activation), holding the
        lease on the pending steps. False when another writer got there first (a write that did not answer and
        was tried again elsewhere counts as ours when the item carries our nonce)."""
        cond, values = self._fence(state.epoch)
        values.update(
            {
                ":lease": {"N": repr(now + lease_seconds)},
                ":target": {"S": target},
                ":next": {"N": str(state.epoch + 1)},
                ":prev": {"S": state.active_region},
                ":at": {"N": repr(now)},
                ":reason": {"S": clean_text(reason) or "-"},
                ":steps": {"SS": list(steps)},
                ":phase": {"S": "demoting"},
                ":nonce": {"S": nonce or "-"},
                ":settle": {"N": repr(float(settle_seconds))},
            }
        )
        expr = (
            "SET activeRegion = :target, epoch = :next, previousRegion = :prev, lastTransitionAt = :at, "
            "reason = :reason, pending = :steps, leaseUntil = :lease, phase = :phase, nonce = :nonce, "
            "settleSeconds = :settle"
        )
        if self._update(expr, cond, values):
            return True
        if not nonce:
            return False
        current = self.read()
        return current.epoch == state.epoch + 1 and current.nonce == nonce

    def activate(self, epoch: int, nonce: str, now: float) -> bool:
        """The new region may take writes: only for this transition (its epoch and nonce), only once."""
        return self._update(
            "SET phase = :active, activatedAt = :at DELETE pending :step",
            "epoch = :expected AND nonce = :nonce AND phase = :demoting",
            {
                ":expected": {"N": str(epoch)},
                ":nonce": {"S": nonce},
                ":active": {"S": "active"},
                ":demoting": {"S": "demoting"},
                ":at": {"N": repr(now)},
                ":step": {"SS": ["activate"]},
            },
        )

    def acquire_lease(self, epoch: int, now: float, lease_seconds: float) -> bool:
        """Only one invocation at a time completes pending steps; a crashed holder's lease expires."""
        return self._update(
            "SET leaseUntil = :until",
            "epoch = :expected AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)",
            {":expected": {"N": str(epoch)}, ":now": {"N": repr(now)}, ":until": {"N": repr(now + lease_seconds)}},
        )

    def release_lease(self, epoch: int) -> None:
        self._update("REMOVE leaseUntil", "epoch = :expected", {":expected": {"N": str(epoch)}})

    def finish_step(self, epoch: int, step: str) -> bool:
        """Remove `step` from the pending set; False if it was already gone (someone else claimed it)."""
        return self._update(
            "DELETE pending :step",
            "epoch = :expected AND contains(pending, :name)",
            {":expected": {"N": str(epoch)}, ":step": {"SS": [step]}, ":name": {"S": step}},
        )

    def put_audit(self, epoch: int, record: dict[str, Any]) -> None:
        """One audit item per epoch; a retry of the same epoch writes nothing new."""
        item = {"pk": {"S": f"audit#{self.settings.app}#{epoch:010d}"}}
        item.update({k: {"S": clean_text(v)} for k, v in record.items()})
        try:
            self._call(
                lambda db: db.put_item(
                    TableName=self.settings.control_table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in LOST_RACE:
                raise

    # -- observations -----------------------------------------------------------------------------------------
    def observer_key(self, region: str) -> dict:
        return {"pk": {"S": f"observer#{self.settings.app}#{region}"}}

    def claim_observer(self, region: str, owner: str) -> None:
        """A new monitor invocation takes over the observer's record; an older one still running then
        fails its next conditional save and stops, so one invocation counts at a time."""
        self._call(
            lambda db: db.update_item(
                TableName=self.settings.control_table,
                Key=self.observer_key(region),
                UpdateExpression="SET #owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        )

    def read_observations(self) -> dict[str, tuple[Observation, dict]]:
        """Every observer's record (region -> (Observation, lag memory)); malformed records are skipped."""
        keys = [self.observer_key(r) for r in self.settings.observer_regions]
        table = self.settings.control_table
        got = self._call(lambda db: db.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}}))
        out = {}
        for item in got.get("Responses", {}).get(table, []):
            d = {k: _DESERIALIZE(v) for k, v in item.items()}
            region = str(d["pk"]).rsplit("#", 1)[-1]
            if region not in self.settings.observer_regions:
                continue
            out[region] = parse_observation(region, d)
        return out

    def save_observation(
        self,
        obs: Observation,
        owner: str,
        lag: Mapping[str, tuple[float | None, bool | None, float, float]] | None = None,
    ) -> bool:
        """Store this observer's record and lag memory (target -> (seconds, writes seen, when read, silent
        seconds)), only while `owner` still holds the record."""
        item = {
            **self.observer_key(obs.observer),
            "owner": {"S": owner},
            "epoch": {"N": str(obs.epoch)},
            "at": {"N": repr(obs.at)},
            "seenAt": {"N": repr(obs.seen_at)},
            "failures": _number_map(obs.failures),
            "successes": _number_map(obs.successes),
            "failingSince": _number_map(obs.failing_since),
            "healthySince": _number_map(obs.healthy_since),
            "lastSuccess": _number_map(obs.last_success),
            "latest": {"M": {k: {"BOOL": bool(v)} for k, v in obs.latest.items()}},
        }
        if lag:
            item["lag"] = {
                "M": {
                    region: {
                        "M": {
                            "lagSeconds": {"NULL": True} if seconds is None else {"N": repr(float(seconds))},
                            "writesSeen": {"NULL": True} if writes is None else {"BOOL": bool(writes)},
                            "at": {"N": repr(float(at))},
                            "staleSeconds": {"N": repr(float(stale))},
                        }
                    }
                    for region, (seconds, writes, at, stale) in lag.items()
                }
            }
        try:
            self._call(
                lambda db: db.put_item(
                    TableName=self.settings.control_table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk) OR #owner = :me",
                    ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={":me": {"S": owner}},
                )
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] in LOST_RACE:
                return False
            raise

    def _update(self, expression: str, condition: str, values: dict) -> bool:
        try:
            self._call(
                lambda db: db.update_item(
                    TableName=self.settings.control_table,
                    Key=self.key,
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
            )
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
    phase = d.get("phase", "active")
    if phase not in ("active", "demoting"):
        raise BadControlState(f"the control item's phase {clean_text(phase, 40)!r} is not active or demoting")
    previous = d.get("previousRegion")
    nonce = d.get("nonce", "")
    return ControlState(
        active_region=active,
        epoch=int(epoch),
        last_transition_at=_num(d.get("lastTransitionAt", 0)),
        pending=tuple(sorted(pending)),
        previous_region=previous if isinstance(previous, str) else None,
        reason=clean_text(d.get("reason", "")),
        phase=phase,
        nonce=nonce if isinstance(nonce, str) else "",
        settle_seconds=_num(d.get("settleSeconds", 0)),
    )


def parse_observation(region: str, d: Mapping[str, Any]) -> tuple[Observation, dict]:
    """An observer's record as (Observation, {target: (lag seconds or None, writes seen or None, at, silent s)})."""
    latest = d.get("latest")
    obs = Observation(
        observer=region,
        epoch=int(_num(d.get("epoch", 0))),
        at=_num(d.get("at", 0)),
        seen_at=_num(d.get("seenAt", d.get("at", 0))),
        failures={k: int(v) for k, v in _count_map(d.get("failures")).items()},
        successes={k: int(v) for k, v in _count_map(d.get("successes")).items()},
        failing_since=_count_map(d.get("failingSince")),
        healthy_since=_count_map(d.get("healthySince")),
        last_success=_count_map(d.get("lastSuccess")),
        latest={str(k): v for k, v in latest.items() if isinstance(v, bool)} if isinstance(latest, Mapping) else {},
    )
    lag = {}
    raw_lag = d.get("lag")
    if isinstance(raw_lag, Mapping):
        for target, r in raw_lag.items():
            if isinstance(r, Mapping):
                seconds = r.get("lagSeconds")
                writes = r.get("writesSeen")
                lag[str(target)] = (
                    None if seconds is None else _num(seconds),
                    writes if isinstance(writes, bool) else None,
                    _num(r.get("at", 0)),
                    _num(r.get("staleSeconds", 0)),
                )
    return obs, lag
