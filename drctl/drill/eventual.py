"""Eventual mode's replication: the real streams replicator (`failover.replicator.Replicator`) in every direction,
fed by a poller that stands in for Lambda's DynamoDB Streams event source mapping.

Like the mapping, each direction reads the source table's stream on its own (through the source region's gate),
hands batches to the replicator, and with ReportBatchItemFailures re-delivers from the first failed record on;
a batch where every record failed is delivered again whole. A hung source or receiving region stalls only its
own directions.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import BotoCoreError, ClientError

from drctl.drill.actors import pause
from failover.conflicts import create_table_arguments
from failover.replicator import Replicator
from failover.settings import ReplicatorSettings

POLL_SECONDS = 0.25
"""How often a direction polls its stream when it is idle (Lambda's mapping polls a shard about 4 times a second);
the drill passes the scaled value."""
BATCH_SIZE = 100


def as_lambda_record(record: dict, stream_arn: str, region: str) -> dict:
    """A GetRecords record in the shape Lambda delivers it: epoch seconds, the source ARN and region."""
    stream = dict(record["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):  # boto3 parses it; Lambda delivers epoch seconds
        stream["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": stream, "eventSourceARN": stream_arn, "awsRegion": region}


class Direction:
    """source -> receiving: one stream position, one replicator, the records not yet delivered."""

    def __init__(
        self, source: str, receiving: str, table: str, session: Any, stop: threading.Event, poll: float = POLL_SECONDS
    ) -> None:
        self.source = source
        self.poll = poll
        self.receiving = receiving
        self.table = table
        self.stop = stop
        self.streams = session.client("dynamodbstreams", source)
        self.replicator = Replicator(
            ReplicatorSettings(
                source_region=source,
                receiving_region=receiving,
                receiving_table=table,
                workers=1,
                conflicts_table=conflicts_table(table, source, receiving),
            ),
            session=session,
            emit=lambda document: None,  # the drill reads the conflicts tables; EMF lines would only clutter stdout
        )
        self.stream_arn: str | None = None
        self.shard: str | None = None
        self.iterator: str | None = None
        self.last_sequence: str | None = None
        self.pending: list[dict] = []
        self.last_error: str | None = None
        self.synced_at = 0.0
        """Everything the source table took before this time has been delivered."""
        self.delivered = 0
        self.thread = threading.Thread(target=self._run, name=f"replicate-{source}-{receiving}", daemon=True)

    def _position(self) -> str:
        """Where to read next (the stream, its shard, an iterator after the last record delivered); the stream's ARN."""
        if self.stream_arn is None:
            self.stream_arn = table_stream_arn(self.streams, self.table)
            self.shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0][
                "ShardId"
            ]
        where = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self.last_sequence}
            if self.last_sequence
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        self.iterator = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=self.shard, **where)[
            "ShardIterator"
        ]
        return self.stream_arn

    def _fetch(self) -> None:
        stream_arn = self._position() if self.iterator is None or self.stream_arn is None else self.stream_arn
        page = self.streams.get_records(ShardIterator=self.iterator, Limit=BATCH_SIZE)
        self.iterator = page.get("NextShardIterator")
        records = [as_lambda_record(r, stream_arn, self.source) for r in page["Records"]]
        if records:
            self.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
        self.pending = records

    def _deliver(self) -> None:
        try:
            response = self.replicator.handle({"Records": self.pending})
        except BatchProcessingError:
            return  # every record failed: the whole batch again next time
        done, self.pending = split_at_first_failure(self.pending, response)
        self.delivered += done

    def _run(self) -> None:
        while not self.stop.is_set():
            full = False
            try:
                read_at = None
                if not self.pending:
                    read_at = time.time()
                    self._fetch()
                    full = len(self.pending) == BATCH_SIZE
                if self.pending:
                    self._deliver()
                if read_at is not None and not full and not self.pending:
                    self.synced_at = read_at  # everything written before read_at is delivered
                    self.last_error = None
            except (BotoCoreError, ClientError) as exc:  # a region does not answer: position again, read again later
                self.iterator = None
                self.last_error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                self.iterator = None
                self.last_error = f"{type(exc).__name__}: {exc}"
            if pause(self.stop, time.time() + (0.0 if full and not self.pending else self.poll)):
                break


def conflicts_table(table: str, source: str, receiving: str) -> str:
    """The drill's conflicts table of one direction, in its source region (as the component declares it)."""
    return f"{table}-conflicts-{source}-{receiving}"


def create_conflict_tables(regions: Sequence[str], table: str, direct: Callable[[str], Any]) -> None:
    for source in regions:
        for receiving in regions:
            if source != receiving:
                direct(source).create_table(**create_table_arguments(conflicts_table(table, source, receiving)))


def recorded_conflict_keys(regions: Sequence[str], table: str, direct: Callable[[str], Any]) -> set[str]:
    """The partition keys (`pk`) of the data items every direction recorded a conflict for, read straight from
    moto; a table that cannot be read counts as recording nothing."""
    keys: set[str] = set()
    for source in regions:
        for receiving in regions:
            if source == receiving:
                continue
            kwargs: dict = {"TableName": conflicts_table(table, source, receiving)}
            try:
                while True:
                    page = direct(source).scan(**kwargs)
                    keys.update(json.loads(i["key"]["S"]).get("pk", {}).get("S", "") for i in page["Items"])
                    if "LastEvaluatedKey" not in page:
                        break
                    kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            except (BotoCoreError, ClientError):
                continue
    return keys


def split_at_first_failure(records: list[dict], response: Mapping[str, Any]) -> tuple[int, list[dict]]:
    """Like an event source mapping with ReportBatchItemFailures: the records before the first reported failure
    are done (the checkpoint moves past them); that one and every later one is delivered again."""
    failed = {f.get("itemIdentifier") for f in response.get("batchItemFailures", [])}
    first = next((i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] in failed), None)
    return (len(records), []) if first is None else (first, records[first:])


def table_stream_arn(streams: Any, table: str) -> str:
    """The table's stream ARN (the newest one listed for it)."""
    listed = streams.list_streams(TableName=table)["Streams"]
    if not listed:
        raise RuntimeError(f"table {table} has no stream")
    return listed[-1]["StreamArn"]


class StreamPumps:
    """Every direction between `regions`, each run in its source region (`sessions[source]`), as the replicator
    Lambda is: a partition between two regions stops exactly the directions between them."""

    def __init__(
        self,
        regions: Sequence[str],
        table: str,
        sessions: dict[str, Any],
        stop: threading.Event,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.directions = [Direction(s, r, table, sessions[s], stop, poll) for s in regions for r in regions if s != r]

    def start(self) -> None:
        for direction in self.directions:
            direction.thread.start()

    def caught_up(self, since: float) -> bool:
        """Every direction has delivered everything its source took before `since`."""
        return all(d.synced_at >= since for d in self.directions)

    def delivered(self) -> dict[str, int]:
        return {f"{d.source}->{d.receiving}": d.delivered for d in self.directions}

    def errors(self) -> dict[str, str]:
        """Each direction's error since it last caught up (a region that did not answer, usually)."""
        return {f"{d.source}->{d.receiving}": d.last_error for d in self.directions if d.last_error}

    def join(self, timeout: float) -> None:
        for direction in self.directions:
            direction.thread.join(timeout)
