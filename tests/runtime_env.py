"""Shared set-up for the runtime tests: real local HTTP health endpoints and a DR world on moto."""

from __future__ import annotations

import functools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3

from failover import projection

REGIONS = ["us-east-1", "us-east-2", "us-west-2"]
HOME = "us-east-2"
APP = "orders"
CONTROL = "orders-test-dr-control"
PARAM = "/orders/test/active_region"


_ITEM_OPERATIONS = ("get_item", "put_item", "update_item", "delete_item", "batch_get_item", "batch_write_item")


def make_moto_item_operations_atomic(monkeypatch) -> None:
    """moto applies an UpdateItem attribute by attribute, so a concurrent GetItem can see half an item;
    real DynamoDB is atomic per item. Tests that run invocations concurrently serialise moto's item
    operations, so what they observe is DynamoDB's behaviour, not moto's."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in _ITEM_OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def atomic(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)


class Clock:
    """Wall time the test controls; `sleep` advances it (the monitor sleeps between rounds)."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class HungServer:
    """A TCP server on loopback that accepts every connection and never answers: a hung region."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.held: list = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.held.append(conn)  # keep it open, read nothing, answer nothing

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        for conn in self.held:
            conn.close()
        self.sock.close()


class HealthServer:
    """A real HTTP server on loopback whose /health answers 200 or 503 as the test decides."""

    def __init__(self) -> None:
        self.healthy = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                code = 200 if outer.healthy else 503
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if code == 200 else b"no")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def build_world(servers: dict, regions: list[str] = REGIONS, home: str = HOME, **env_overrides) -> dict:
    """Create the control table, SSM parameters, ECS services, topics and SQS counters; return the env."""
    ddb = boto3.client("dynamodb", region_name=home)
    ddb.create_table(
        TableName=CONTROL,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topics, queues, services = {}, {}, {}
    for region in regions:
        boto3.client("ssm", region_name=region).put_parameter(
            Name=PARAM, Value=projection.initial_value(regions[0]), Type="String"
        )
        ecs = boto3.client("ecs", region_name=region)
        ecs.create_cluster(clusterName="orders-test")
        ecs.register_task_definition(
            family="orders", containerDefinitions=[{"name": "orders", "image": "x", "memory": 512}]
        )
        ecs.create_service(cluster="orders-test", serviceName="orders", taskDefinition="orders", desiredCount=1)
        services[region] = {"kind": "ecs", "cluster": "orders-test", "service": "orders", "desiredCount": 4}
        sns = boto3.client("sns", region_name=region)
        topic = sns.create_topic(Name="orders-dr")["TopicArn"]
        sqs = boto3.client("sqs", region_name=region)
        queue = sqs.create_queue(QueueName="orders-dr-count")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        topics[region], queues[region] = topic, queue
    env = {
        "DR_APP": APP,
        "DR_REGIONS": ",".join(regions),
        "DR_HOME_REGION": home,
        "DR_CONTROL_TABLE": CONTROL,
        "DR_ACTIVE_REGION_PARAMETER": PARAM,
        "DR_HEALTH_URLS": json.dumps({r: s.url for r, s in servers.items()}),
        "DR_ALARM_REGIONS": json.dumps({f"orders-test-{r}-unhealthy": r for r in regions}),
        "DR_SCALE_TARGETS": json.dumps(services),
        "DR_TOPIC_ARNS": json.dumps(topics),
        "DR_FAILURE_THRESHOLD": "3",
        "DR_RECOVERY_THRESHOLD": "3",
        "DR_MIN_DWELL_SECONDS": "300",
        # one probe round per monitor invocation unless a test asks for more
        "DR_PROBE_INTERVAL_SECONDS": "10",
        "DR_PROBE_TIMEOUT_SECONDS": "2",
        "DR_MONITOR_WINDOW_SECONDS": "10",
        # one control table (in the home region) stands for every replica; transitions settle fast in tests
        "DR_CONTROL_REGIONS": home,
        "DR_LEASE_SECONDS": "0.05",
    }
    env.update(env_overrides)
    return {"env": env, "queues": queues, "topics": topics}


def sns_messages(queues: dict) -> list[dict]:
    """Every notification that reached the SQS queues subscribed to the topics."""
    out = []
    for region, url in queues.items():
        sqs = boto3.client("sqs", region_name=region)
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not got:
                break
            for m in got:
                out.append(json.loads(json.loads(m["Body"])["Message"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def parameter(region: str) -> tuple[str, int, int]:
    """(region, epoch) the projection names in `region`, and the parameter's version."""
    p = boto3.client("ssm", region_name=region).get_parameter(Name=PARAM)["Parameter"]
    read = projection.parse(p["Value"])
    assert read is not None, p["Value"]
    return read.region, read.epoch, p["Version"]


def iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + ".000+0000"


def alarm_event(region: str, state: str = "ALARM", old: str = "OK", at: float | None = None) -> dict:
    """The SNS event CloudWatch sends for `region`'s health alarm (a state change at `at`, now by default)."""
    message = {
        "AlarmName": f"orders-test-{region}-unhealthy",
        "NewStateValue": state,
        "OldStateValue": old,
        "StateChangeTime": iso(time.time() if at is None else at),
    }
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(message)}}]}
