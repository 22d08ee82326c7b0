"""Streams replicator: `handler(event, context)` copies a source table's DynamoDB Streams records into the
receiving region's table, one Lambda per direction, running in the source region.

The rules (stamps, last writer wins, tombstones, no echo) are `failover.replication`; this module adapts
Lambda's event to them with Powertools' batch utilities, so each failed record is reported on its own
(the event source mapping has ReportBatchItemFailures) and Lambda retries from the first failed one.
Replicated writes are conditional, so re-deliveries are harmless. After each batch the lag
(now - the oldest record's creation time) goes to CloudWatch in the receiving region.

A replicated write that replaces an acknowledged write it never saw (a concurrent write of the receiving region:
`failover.conflicts`) is recorded in the direction's conflicts table, in the source region; recording never
fails a record, and the batch's counts go out as EMF metrics in the log.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord, DynamoDBRecordEventName
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3.dynamodb.types import TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from failover.conflicts import (
    FAILED_METRIC,
    RECORDED_METRIC,
    Conflict,
    conflict_item,
    conflict_of,
    emf_metrics,
    parse_record,
    record_condition,
)
from failover.replication import (
    LAG_UNIT,
    MAX_ITEM_BYTES,
    EventName,
    Stamp,
    StreamChange,
    UnreplicableRecord,
    batch_lag_milliseconds,
    lag_metric,
    newer_condition,
    plan_replication,
)
from failover.settings import ReplicatorSettings, SettingsError, load_replicator_settings

logger = Logger()  # service name from POWERTOOLS_SERVICE_NAME

_EVENT_NAMES: dict[DynamoDBRecordEventName, EventName] = {
    DynamoDBRecordEventName.INSERT: "INSERT",
    DynamoDBRecordEventName.MODIFY: "MODIFY",
    DynamoDBRecordEventName.REMOVE: "REMOVE",
}

# The receiving region may be the one in trouble: fail fast, Lambda retries the record later.
RECEIVING = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
# Recording a conflict is local (the source region) and must never hold the batch up.
RECORDING = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
_SERIALIZE = TypeSerializer().serialize
UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError)


class ReceivingUnreachable(RuntimeError):
    """An earlier record of this batch could not connect: the rest fail at once instead of each timing out."""


def change_from_record(record: DynamoDBRecord) -> StreamChange:
    """Powertools' typed record -> the plain change `plan_replication` reads (images stay in wire format)."""
    stream = record.dynamodb
    if stream is None or record.event_name is None or stream.sequence_number is None:
        raise UnreplicableRecord("the record has no dynamodb section, eventName or SequenceNumber")
    return StreamChange(
        event_name=_EVENT_NAMES[record.event_name],
        keys=stream.get("Keys") or {},
        new_image=stream.get("NewImage"),
        old_image=stream.get("OldImage"),
        created_at=_epoch_seconds(stream.get("ApproximateCreationDateTime")),
        sequence_number=stream.sequence_number,
    )


def _epoch_seconds(value: Any) -> float:
    """Lambda sends epoch seconds; a datetime (boto3's GetRecords) is accepted too."""
    if isinstance(value, datetime):
        return value.timestamp()
    if value is None:
        raise UnreplicableRecord("the record has no ApproximateCreationDateTime")
    return float(value)


def _key_of(record: dict) -> str:
    return json.dumps((record.get("dynamodb") or {}).get("Keys"), sort_keys=True)


class KeyOrderedBatchProcessor(BatchProcessor):
    """Powertools' BatchProcessor, but records of different items run concurrently on `workers` threads while
    each item's records still run one after another in stream order. Safe because replicated writes are
    conditional on their stamps: their effect does not depend on the order across items."""

    def __init__(self, workers: int) -> None:
        super().__init__(event_type=EventType.DynamoDBStreams)
        self.workers = workers

    def process(self) -> list[tuple]:
        groups: dict[str, list[dict]] = {}
        for record in self.records:
            groups.setdefault(_key_of(record), []).append(record)
        if self.workers <= 1 or len(groups) <= 1:
            return super().process()
        with ThreadPoolExecutor(max_workers=min(self.workers, len(groups))) as pool:
            done = pool.map(lambda group: [self._process_record(r) for r in group], groups.values())
            return [result for group in done for result in group]


class Replicator:
    """One direction, source -> receiving; `session` and `clock` are seams for tests and benchmarks."""

    def __init__(
        self,
        settings: ReplicatorSettings,
        session: boto3.Session | None = None,
        clock: Callable[[], float] = time.time,
        emit: Callable[[dict], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.emit = emit or _print_json
        session = session or boto3.Session()
        config = RECEIVING.merge(Config(max_pool_connections=max(10, settings.workers)))
        self.db = session.client("dynamodb", region_name=settings.receiving_region, config=config)
        self.cloudwatch = session.client("cloudwatch", region_name=settings.receiving_region, config=RECEIVING)
        self.sqs = session.client("sqs", region_name=settings.source_region, config=RECEIVING)
        self.conflicts_db = session.client("dynamodb", region_name=settings.source_region, config=RECORDING)
        self.conflicts: Counter[str] = Counter()
        """This batch's conflicts: recorded, duplicate (already recorded), failed, unrecorded (no table)."""
        self.processor = KeyOrderedBatchProcessor(settings.workers)
        self.outcomes: Counter[str] = Counter()
        self.unreachable: str | None = None
        self._lock = threading.Lock()

    def replicate(self, record: DynamoDBRecord) -> str:
        """The record handler: 'replicated', 'superseded' (a newer write is stored), 'echo', 'expired-tombstone'
        or 'oversize' (sent to the failure queue); raises when the write fails, so the record is reported and
        retried."""
        change = change_from_record(record)
        plan = plan_replication(change, self.settings.source_region)
        outcome: str = plan.outcome
        if outcome == "oversize":
            self._set_aside(change, f"the stamped item is {plan.size} bytes, over DynamoDB's {MAX_ITEM_BYTES}")
        if plan.item is not None and plan.stamp is not None:
            if self.unreachable:
                raise ReceivingUnreachable(self.unreachable)
            expression, names, values = newer_condition(plan.stamp)
            try:
                replaced = self.db.put_item(
                    TableName=self.settings.receiving_table,
                    Item=plan.item,
                    ConditionExpression=expression,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={k: _SERIALIZE(v) for k, v in values.items()},
                    ReturnValues="ALL_OLD",  # what the write replaced: a concurrent write it drops is a conflict
                ).get("Attributes")
                outcome = "replicated"
            except UNREACHABLE as exc:
                self.unreachable = f"{self.settings.receiving_region} unreachable: {exc}"
                raise
            except ClientError as exc:
                error = exc.response["Error"]
                if error["Code"] == "ValidationException" and "size" in error.get("Message", "").lower():
                    self._set_aside(change, f"DynamoDB refused the item: {error.get('Message', '')}")
                    outcome = "oversize"
                elif error["Code"] != "ConditionalCheckFailedException":
                    raise
                else:
                    outcome = "superseded"
            else:
                self._check_conflict(change, plan.stamp, replaced)
        with self._lock:
            self.outcomes[outcome] += 1
        return outcome

    def _check_conflict(self, change: StreamChange, winner: Stamp, replaced: dict | None) -> None:
        """After a replicated put: record the acknowledged write it dropped, if it dropped one (never raises)."""
        try:
            conflict = conflict_of(
                replaced,
                change.old_image,
                keys=change.keys,
                winner=winner,
                source_region=self.settings.source_region,
                receiving_region=self.settings.receiving_region,
                table=self.settings.receiving_table,
            )
        except ValueError as exc:  # a malformed stamp on the replaced item: the write itself is done
            logger.error("could not judge what a replicated write replaced", extra={"error": str(exc)})
            result: str | None = "failed"
        else:
            result = None if conflict is None else self.record(conflict)
        if result is not None:
            with self._lock:
                self.conflicts[result] += 1

    def record(self, conflict: Conflict) -> str:
        """Record `conflict` once: 'recorded', 'duplicate' (a retried call found it), 'unrecorded' (no table) or
        'failed' (logged). Never raises: a conflict that cannot be recorded does not hold replication up."""
        item = conflict_item(conflict, self.clock(), self.settings.conflict_retention_days)
        facts = parse_record(item)
        logger.warning("conflict: a replicated write replaced a concurrent acknowledged write", extra=facts)
        if not self.settings.conflicts_table:
            return "unrecorded"
        condition, names = record_condition()
        try:
            self.conflicts_db.put_item(
                TableName=self.settings.conflicts_table,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return "duplicate"
            logger.error("could not record a conflict", extra={**facts, "error": str(exc)})
            return "failed"
        except (BotoCoreError, ValueError) as exc:
            logger.error("could not record a conflict", extra={**facts, "error": str(exc)})
            return "failed"
        return "recorded"

    def _set_aside(self, change: StreamChange, why: str) -> None:
        """A record that can never be replicated as it is goes to the failure queue (its key needs a resync), so
        it does not block the shard behind it; raises (the record is retried) when the queue cannot take it."""
        message = {
            "reason": why,
            "keys": change.keys,
            "sequenceNumber": change.sequence_number,
            "eventName": change.event_name,
            "sourceRegion": self.settings.source_region,
            "receivingRegion": self.settings.receiving_region,
            "receivingTable": self.settings.receiving_table,
        }
        logger.error("record set aside: it cannot be replicated as it is", extra=message)
        if not self.settings.failure_queue_url:
            raise UnreplicableRecord(f"{why}; no failure queue is configured (DR_FAILURE_QUEUE_URL)")
        self.sqs.send_message(QueueUrl=self.settings.failure_queue_url, MessageBody=json.dumps(message, default=str))

    def handle(self, event: dict, context: LambdaContext | None = None) -> PartialItemFailureResponse:
        """Process one batch; the response lists the sequence numbers of the records that failed."""
        records = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(records, list) or not records:
            logger.warning("not a DynamoDB Streams event (no Records); nothing to do")
            return {"batchItemFailures": []}
        malformed = [r for r in records if not isinstance(r, dict)]
        if malformed:  # nothing identifies them, so nothing can be retried: said, and left out
            logger.error("records that are not objects were left out", extra={"count": len(malformed)})
            event = {**event, "Records": [r for r in records if isinstance(r, dict)]}
            if not event["Records"]:
                return {"batchItemFailures": []}
        self.outcomes.clear()
        self.conflicts.clear()
        self.unreachable = None
        try:
            return process_partial_response(
                event=event, record_handler=self.replicate, processor=self.processor, context=context
            )
        except BatchProcessingError:
            # Every record failed: a function error makes Lambda bisect the batch and retry the halves.
            logger.error("every record of the batch failed", extra={"records": len(records)})
            raise
        finally:
            failed = len(self.processor.fail_messages)
            logger.info(
                "batch",
                extra={
                    "outcomes": dict(self.outcomes),
                    "conflicts": dict(self.conflicts),
                    "failed": failed,
                    "unreachable": self.unreachable,
                },
            )
            self.publish_lag(event)
            self.publish_conflicts()

    def publish_conflicts(self) -> None:
        """The batch's conflict counts as an EMF line in the log (CloudWatch extracts the metrics)."""
        counts = {RECORDED_METRIC: self.conflicts["recorded"], FAILED_METRIC: self.conflicts["failed"]}
        document = emf_metrics(
            counts, self.settings.receiving_table, self.settings.source_region, int(self.clock() * 1000)
        )
        if document is not None:
            self.emit(document)

    def publish_lag(self, event: dict) -> float | None:
        """Put ReplicationLatency (ms) in the receiving region; a CloudWatch failure never fails the batch.
        Skipped when the batch found the receiving region unreachable (its CloudWatch is there too)."""
        if self.unreachable:
            return None
        created = []
        for record in event.get("Records", []):
            try:
                created.append(_epoch_seconds((record.get("dynamodb") or {}).get("ApproximateCreationDateTime")))
            except (UnreplicableRecord, TypeError, ValueError):
                continue
        lag = batch_lag_milliseconds(created, self.clock())
        if lag is None:
            return None
        metric = lag_metric(self.settings.receiving_table, self.settings.source_region)
        try:
            self.cloudwatch.put_metric_data(
                Namespace=metric["Namespace"],
                MetricData=[
                    {
                        "MetricName": metric["MetricName"],
                        "Dimensions": metric["Dimensions"],
                        "Timestamp": self.clock(),
                        "Value": lag,
                        "Unit": LAG_UNIT,
                    }
                ],
            )
        except (BotoCoreError, ClientError) as exc:
            logger.warning("could not publish the replication lag", extra={"error": str(exc), "lagMs": lag})
        return lag


def _print_json(document: dict) -> None:
    """EMF documents go to stdout, one line each, where Lambda's log capture picks them up."""
    print(json.dumps(document, separators=(",", ":")), flush=True)


_replicator: Replicator | None = None


def _all_failed(event: Any) -> dict[str, Any]:
    """Report every record as failed: Lambda keeps them and retries, nothing is checkpointed past them."""
    records = event.get("Records", []) if isinstance(event, dict) else []
    return {
        "batchItemFailures": [
            {"itemIdentifier": (r.get("dynamodb") or {}).get("SequenceNumber")} for r in records if isinstance(r, dict)
        ]
    }


def handler(event: dict, context: LambdaContext | None = None) -> Mapping[str, Any]:
    """Lambda entry point (DynamoDB Streams event source mapping with ReportBatchItemFailures). Without a Lambda
    context (a test, a replay script) it runs the same, without Powertools' context fields in the log."""
    if context is None:
        return _handle(event, None)
    return _handle_in_lambda(event, context)


def _handle(event: dict, context: LambdaContext | None) -> Mapping[str, Any]:
    global _replicator  # noqa: PLW0603 -- built once per Lambda environment, on the first event
    if _replicator is None:
        try:
            _replicator = Replicator(load_replicator_settings())
        except SettingsError as exc:
            logger.error(f"bad configuration, the batch is reported failed and will be retried: {exc}")
            return _all_failed(event)
    return _replicator.handle(event, context)


_handle_in_lambda = logger.inject_lambda_context(_handle)
