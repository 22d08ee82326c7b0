"""Two regions' tables with streams on moto, stream records read with dynamodbstreams GetRecords and shaped
as Lambda delivers them, and replicators for both directions."""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from failover.replicator import Replicator
from failover.settings import ReplicatorSettings

TABLE = "orders"
EAST, WEST = "us-east-1", "us-west-2"


@dataclass
class FakeContext:
    """The fields Powertools' Logger reads from Lambda's context."""

    function_name: str = "orders-test-dr-replicator"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:orders-test-dr-replicator"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


def create_table(region: str, name: str = TABLE, key_type: str = "S") -> str:
    """A table with a NEW_AND_OLD_IMAGES stream; returns the stream ARN."""
    ddb = boto3.client("dynamodb", region_name=region)
    table = ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": key_type}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return table["TableDescription"]["LatestStreamArn"]


def as_lambda_record(record: dict, stream_arn: str, region: str) -> dict:
    """GetRecords' shape -> the shape of a record in Lambda's event (epoch seconds, eventSourceARN)."""
    stream = dict(record["dynamodb"])
    stream["ApproximateCreationDateTime"] = stream["ApproximateCreationDateTime"].timestamp()
    return {**record, "dynamodb": stream, "eventSourceARN": stream_arn, "awsRegion": region}


class StreamReader:
    """Reads one table's stream from the start, keeping its position like an event source mapping."""

    def __init__(self, region: str, stream_arn: str) -> None:
        self.region = region
        self.stream_arn = stream_arn
        self.streams = boto3.client("dynamodbstreams", region_name=region)
        shard = self.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def fetch(self) -> list[dict]:
        """The records written since the last fetch, as Lambda would deliver them."""
        out = []
        while True:
            page = self.streams.get_records(ShardIterator=self.iterator, Limit=1000)
            self.iterator = page["NextShardIterator"]
            if not page["Records"]:
                return out
            out += [as_lambda_record(r, self.stream_arn, self.region) for r in page["Records"]]


def replicator(source: str, receiving: str, workers: int = 1, clock=None) -> Replicator:
    settings = ReplicatorSettings(
        source_region=source, receiving_region=receiving, receiving_table=TABLE, workers=workers
    )
    return Replicator(settings, clock=clock) if clock else Replicator(settings)


def scan(region: str) -> dict:
    """Every item (wire format) by partition key, the replicator's sequence attribute left out: it is the only
    attribute that differs between the writer's copy and the replicated copy of the same write."""
    items = boto3.client("dynamodb", region_name=region).scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return {i["pk"]["S"]: {k: v for k, v in i.items() if k != "_dr_seq"} for i in items}
