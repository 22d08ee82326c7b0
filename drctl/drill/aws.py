"""AWS as the stack declares it, on the moto server: sessions per caller region, strong consistency where the
stack declares it, asynchronous last-writer-wins replication where it does not, and held requests.

- A `RegionSession` stands in for `boto3.Session` in one region: every client it makes reaches region R through
  the gate for (its region -> R), so a partition cuts exactly the calls it would cut.
- *Linearizable tables* (multi-region strong consistency): every replica is the same moto table, so reads and
  conditional writes see one history; a request is refused (HTTP 500, InternalServerError) when the replica it
  is sent to cannot reach a majority of the table's regions, as an isolated MRSC replica refuses strongly
  consistent reads and writes. The drill applies this to item operations on the control table (always, when
  the stack declares it strongly consistent) and the data table (strong mode).
- *Eventually consistent tables*: one moto table per region; `ControlReplication` copies the control table's
  changed items between regions asynchronously (last arrival wins), only while the two regions reach each other,
  so a partitioned region's conditional writes are checked against its own replica, as in a real MREC table.
  (The data table's eventual mode runs the project's streams replicator, `drctl.drill.eventual`.)
- A `HoldRule` delays matching requests in the network (a cross-region write held, then delivered late).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from drctl.drill.network import LOOPBACK, Network

TRUTH_REGION = "ca-central-1"
"""Where the single moto copy of each linearizable table lives (a region the drill never fails)."""
_DESERIALIZE = TypeDeserializer().deserialize
_ITEM_OPERATIONS = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchGetItem",
    "BatchWriteItem",
    "Query",
    "Scan",
    "TransactWriteItems",
    "TransactGetItems",
}


@dataclass
class Quorum:
    """A strongly consistent table's members: its replica regions and (two replicas) a witness."""

    replicas: tuple[str, ...]
    witness: str | None = None

    @property
    def members(self) -> tuple[str, ...]:
        return self.replicas + ((self.witness,) if self.witness else ())

    def reachable_from(self, region: str, network: Network) -> bool:
        """Whether a request served by `region`'s replica can reach a majority of the members."""
        if network.is_down(region):
            return False
        votes = sum(1 for m in self.members if m == region or network.reaches(region, m))
        return votes >= len(self.members) // 2 + 1


@dataclass
class HoldRule:
    """Hold requests matching (caller, target region, service, operation) for `seconds` before sending them."""

    service: str
    operation: str
    target: str | None = None
    caller: str | None = None
    seconds: float = 1.0
    times: int = 1
    """How many matching requests to hold (then the rule is spent)."""
    contains: str | None = None
    """Only requests whose body contains this text (e.g. one UpdateExpression)."""
    held: list = field(default_factory=list)
    """(time held, time sent, caller, target) of each request held, once sent."""
    holding: list = field(default_factory=list)
    """(time held, caller, target) of each request as its hold begins."""

    def matches(self, caller: str, target: str, service: str, operation: str, body: str = "") -> bool:
        return (
            self.times > 0
            and service == self.service
            and operation == self.operation
            and (self.target is None or target == self.target)
            and (self.caller is None or caller == self.caller)
            and (self.contains is None or self.contains in body)
        )


def _error_response(code: str, message: str) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()

    class Raw:
        def stream(self, **_):
            yield body

    return AWSResponse(
        "http://drill/", 500, {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.0"}, Raw()
    )


class AwsModel:
    """What is linearizable, what is held, and each region's AWS endpoint (its gate) for each caller."""

    def __init__(self, network: Network, endpoint: Callable[[str, str], str], clamp: Config) -> None:
        self.network = network
        self.endpoint = endpoint
        """(caller region, target region) -> the gate's URL."""
        self.clamp = clamp
        """The longest connect/read deadline any drill client may use (the scaled per-call deadline)."""
        self.linearizable: dict[str, Quorum] = {}
        """Table name -> its members, for tables with one history across regions."""
        self.holds: list[HoldRule] = []
        self._lock = threading.Lock()

    def hold(self, rule: HoldRule) -> HoldRule:
        with self._lock:
            self.holds.append(rule)
        return rule

    def _take_hold(self, caller: str, target: str, service: str, operation: str, body: str) -> HoldRule | None:
        with self._lock:
            for rule in self.holds:
                if rule.matches(caller, target, service, operation, body):
                    rule.times -= 1
                    return rule
        return None

    def before_send(self, caller: str, target: str, service: str):
        def handler(request, event_name: str = "", **_):
            operation = event_name.rsplit(".", 1)[-1]
            rule = self._take_hold(caller, target, service, operation, _text(request.body))
            if rule is not None:
                held_at = time.time()
                rule.holding.append((held_at, caller, target))
                time.sleep(rule.seconds)
                rule.held.append((held_at, time.time(), caller, target))
            if service != "dynamodb":
                return None
            tables = _tables_of(request.body)
            quorum = next((self.linearizable[t] for t in tables if t in self.linearizable), None)
            if quorum is None:
                return None
            if operation in _ITEM_OPERATIONS and not quorum.reachable_from(target, self.network):
                return _error_response(
                    "InternalServerError",
                    f"the {target} replica cannot reach a majority of {', '.join(quorum.members)}",
                )
            auth = request.headers.get("Authorization")
            if auth:
                text = auth.decode() if isinstance(auth, bytes) else auth
                request.headers["Authorization"] = text.replace(f"/{target}/dynamodb/", f"/{TRUTH_REGION}/dynamodb/")
            return None

        return handler


def _text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return body if isinstance(body, str) else ""


def _tables_of(body: Any) -> list[str]:
    try:
        doc = json.loads(body.decode() if isinstance(body, bytes) else body or "{}")
    except (ValueError, UnicodeDecodeError):
        return []
    names = [doc["TableName"]] if isinstance(doc.get("TableName"), str) else []
    names.extend(doc.get("RequestItems", {}) or {})
    return names


def _clamped(config: Config | None, clamp: Config) -> Config:
    base = config or clamp
    return base.merge(
        Config(
            connect_timeout=min(base.connect_timeout, clamp.connect_timeout),
            read_timeout=min(base.read_timeout, clamp.read_timeout),
            account_id_endpoint_mode="disabled",
        )
    )


class RegionSession:
    """`boto3.Session` for code running in `caller`: clients reach each region through the caller's gate to it,
    with dummy credentials, no call waiting longer than the drill's per-call deadline. Clients asked for without
    a config (or endpoint) are reused per (service, region); resources one per thread (they are not
    thread-safe). Clients are made under a lock: a boto3 session is not thread-safe."""

    def __init__(self, caller: str, model: AwsModel, clamp: Config | None = None) -> None:
        self.caller = caller
        self.model = model
        self.clamp = clamp or model.clamp
        """The longest deadlines this caller's clients may use (the orchestrators' and applications' per-call
        deadline by default; the replicator has its own, longer one)."""
        self.region_name = caller
        self._session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=caller)
        self._lock = threading.Lock()
        self._made: dict[tuple, Any] = {}

    def _make(
        self,
        kind: str,
        service: str,
        region_name: str | None,
        config: Config | None,
        endpoint_url: str | None,
        **kwargs,
    ):
        region = region_name or self.caller
        endpoint = endpoint_url or self.model.endpoint(self.caller, region)
        key = (kind, service, region, endpoint, threading.get_ident() if kind == "resource" else None)
        reuse = config is None and not kwargs
        with self._lock:
            if reuse and key in self._made:
                return self._made[key]
            factory = self._session.client if kind == "client" else self._session.resource
            made = factory(
                service, region_name=region, endpoint_url=endpoint, config=_clamped(config, self.clamp), **kwargs
            )
            client = made if kind == "client" else made.meta.client
            client.meta.events.register("before-send", self.model.before_send(self.caller, region, service))
            if reuse:
                self._made[key] = made
            return made

    def client(
        self,
        service: str,
        region_name: str | None = None,
        config: Config | None = None,
        endpoint_url: str | None = None,
        **kwargs,
    ):
        return self._make("client", service, region_name, config, endpoint_url, **kwargs)

    def resource(
        self,
        service: str,
        region_name: str | None = None,
        config: Config | None = None,
        endpoint_url: str | None = None,
        **kwargs,
    ):
        return self._make("resource", service, region_name, config, endpoint_url, **kwargs)


class ControlReplication:
    """An eventually consistent control table: one moto table per region; each change is stamped with when it was
    first seen in its region and copied to every other region every `period` seconds while the two regions reach
    each other; a region keeps the copy with the newest stamp (last writer wins), so replicas converge once they
    can talk, and a write made in a cut-off region can silently lose to one made elsewhere."""

    def __init__(
        self,
        regions: list[str],
        table: str,
        direct: Callable[[str], Any],
        network: Network,
        stop: threading.Event,
        period: float,
    ) -> None:
        self.regions = list(regions)
        self.table = table
        self.direct = direct
        self.network = network
        self.stop = stop
        self.period = period
        self._held: dict[str, dict[str, tuple[tuple[float, str], dict]]] = {r: {} for r in self.regions}
        """Per region: key -> (stamp, image) of the copy it holds (local changes show up as differences)."""
        self._outbox: dict[tuple[str, str], dict[str, tuple[tuple[float, str], dict]]] = {}
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, name="control-replication", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _scan(self, region: str) -> dict[str, dict]:
        items = self.direct(region).scan(TableName=self.table, ConsistentRead=True)["Items"]
        return {item["pk"]["S"]: item for item in items}

    def _round(self) -> None:
        now = time.time()
        for source in self.regions:
            if self.network.is_down(source):
                continue
            for key, image in self._scan(source).items():
                held = self._held[source].get(key)
                if held is None or held[1] != image:  # a local write
                    change = ((now, source), image)
                    self._held[source][key] = change
                    for receiving in self.regions:
                        if receiving != source:
                            self._outbox.setdefault((source, receiving), {})[key] = change
        for (source, receiving), items in self._outbox.items():
            if not items or not self.network.reaches(source, receiving) or self.network.is_down(receiving):
                continue
            client = self.direct(receiving)
            for key, (stamp, image) in list(items.items()):
                current = self._held[receiving].get(key)
                if current is None or stamp > current[0]:
                    client.put_item(TableName=self.table, Item=image)
                    self._held[receiving][key] = (stamp, image)  # not a local change there: not sent back
                    self.delivered += 1
                del items[key]

    def _run(self) -> None:
        while not self.stop.wait(self.period):
            try:
                self._round()
            except Exception:
                continue

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def direct_client(url: str, service: str, region: str):
    """A client straight to moto, outside every gate: the drill's own set-up and its reading of the truth."""
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            read_timeout=30, connect_timeout=5, retries={"total_max_attempts": 2}, account_id_endpoint_mode="disabled"
        ),
    )


def read_item(client: Any, table: str, key: str) -> dict | None:
    item = client.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
    return None if item is None else {k: _DESERIALIZE(v) for k, v in item.items()}


__all__ = [
    "LOOPBACK",
    "TRUTH_REGION",
    "AwsModel",
    "ControlReplication",
    "HoldRule",
    "Quorum",
    "RegionSession",
    "direct_client",
    "read_item",
]
