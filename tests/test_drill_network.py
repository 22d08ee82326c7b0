"""The drill's network and AWS model: gates per path (up, hung, refuse, trickle), partitions, quorum refusals,
held requests, and eventual replication of the control table. Real sockets and the moto server on loopback."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from drctl.drill.actors import http_status
from drctl.drill.aws import TRUTH_REGION, AwsModel, ControlReplication, HoldRule, Quorum, RegionSession, direct_client
from drctl.drill.moto_process import MotoProcess
from drctl.drill.network import INTERNET, Gates, Network

# Timing-sensitive (loopback deadlines, a drill's measured figures): under pytest-xdist these modules share
# one worker, so two of them never compete for the cores at once.
pytestmark = pytest.mark.xdist_group("loopback-timing")

REGIONS = ["us-east-1", "us-east-2", "us-west-2"]


class Upstream:
    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections open, like the SDKs' pooled connections

            def do_GET(self):
                body = b"x" * 200
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = ("127.0.0.1", self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def net():
    network = Network(REGIONS)
    gates = Gates(network, trickle_delay=0.02)
    upstream = Upstream()
    yield network, gates, upstream
    gates.close()
    upstream.close()


def url(gates, source, target, kind, upstream):
    return f"http://127.0.0.1:{gates.add(source, target, kind, lambda: upstream.address)}/"


def test_a_path_relays_hangs_refuses_and_relays_again(net):
    network, gates, upstream = net
    link = url(gates, "us-east-2", "us-east-1", "aws", upstream)
    assert http_status(link, 0.5, 0.5) == 200
    network.fail("us-east-1", "hung")
    began = time.monotonic()
    assert http_status(link, 0.5, 0.3) is None and time.monotonic() - began >= 0.3  # silent, not refused
    network.fail("us-east-1", "refuse")
    began = time.monotonic()
    assert http_status(link, 0.5, 0.5) is None and time.monotonic() - began < 0.3  # refused at once
    network.recover("us-east-1")
    assert http_status(link, 0.5, 0.5) == 200


def test_a_partition_cuts_regions_from_each_other_but_not_from_the_internet_or_themselves(net):
    network, gates, upstream = net
    paths = {(s, t): url(gates, s, t, "app", upstream) for s in (*REGIONS, INTERNET) for t in REGIONS}
    network.partition("us-east-1")
    for (source, target), link in paths.items():
        cut = (source == "us-east-1") != (target == "us-east-1") and INTERNET not in (source, target)
        assert (http_status(link, 0.3, 0.3) is None) == cut, (source, target)
    assert not network.reaches("us-east-2", "us-east-1") and network.reaches("us-east-2", "us-west-2")
    network.heal()
    assert all(http_status(link, 0.5, 0.5) == 200 for link in paths.values())


def test_a_one_way_cut_of_the_application_path_only(net):
    network, gates, upstream = net
    probe = url(gates, "us-east-2", "us-east-1", "app", upstream)
    aws = url(gates, "us-east-2", "us-east-1", "aws", upstream)
    back = url(gates, "us-east-1", "us-east-2", "app", upstream)
    network.cut("us-east-2", "us-east-1", "hung", kind="app")
    assert http_status(probe, 0.3, 0.3) is None
    assert http_status(aws, 0.5, 0.5) == 200 and http_status(back, 0.5, 0.5) == 200


def test_a_failed_application_answers_nobody_while_its_region_s_aws_still_answers_everyone(net):
    network, gates, upstream = net
    apps = {s: url(gates, s, "us-east-1", "app", upstream) for s in (*REGIONS, INTERNET)}
    aws = {s: url(gates, s, "us-east-1", "aws", upstream) for s in REGIONS}
    other = url(gates, INTERNET, "us-east-2", "app", upstream)
    network.fail_application("us-east-1", "refuse")
    assert all(http_status(link, 0.3, 0.3) is None for link in apps.values())
    assert all(http_status(link, 0.5, 0.5) == 200 for link in aws.values()) and http_status(other, 0.5, 0.5) == 200
    assert not network.is_down("us-east-1")  # the alarm path (us-east-1's AWS) still works
    network.heal("us-east-1")
    assert all(http_status(link, 0.5, 0.5) == 200 for link in apps.values())


def test_a_hold_rule_can_match_one_kind_of_request_by_its_body():
    rule = HoldRule("dynamodb", "UpdateItem", contains="SET activeRegion = :target", times=1)
    bump = '{"UpdateExpression": "SET activeRegion = :target, epoch = :next"}'
    lease = '{"UpdateExpression": "SET leaseUntil = :until"}'
    assert not rule.matches("us-east-1", "us-east-1", "dynamodb", "UpdateItem", lease)
    assert not rule.matches("us-east-1", "us-east-1", "dynamodb", "PutItem", bump)
    assert rule.matches("us-east-1", "us-west-2", "dynamodb", "UpdateItem", bump)
    assert HoldRule("ssm", "PutParameter").matches("a", "b", "ssm", "PutParameter")  # no body filter: any body


def test_a_trickling_endpoint_answers_each_byte_in_time_but_the_whole_answer_late(net):
    network, gates, upstream = net
    link = url(gates, INTERNET, "us-west-2", "app", upstream)
    network.trickle("us-west-2")
    conn = socket.create_connection(("127.0.0.1", int(link.rsplit(":", 1)[1].strip("/"))), timeout=0.5)
    conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
    began, got = time.monotonic(), b""
    while len(got) < 40:
        got += conn.recv(1)  # each byte within the 0.5 s socket timeout
    assert time.monotonic() - began > 0.5
    conn.close()
    assert http_status(link, 0.5, 0.5) is None  # a probe with a whole-answer deadline gives up


def test_a_connection_open_when_the_path_is_cut_stops_being_answered(net):
    network, gates, upstream = net
    link = url(gates, "us-east-2", "us-east-1", "aws", upstream)
    port = int(link.rsplit(":", 1)[1].strip("/"))
    conn = socket.create_connection(("127.0.0.1", port), timeout=1)
    conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.recv(4096).startswith(b"HTTP/1.1 200")
    network.partition("us-east-1")
    conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.settimeout(0.4)
    with pytest.raises(socket.timeout):
        conn.recv(4096)
    conn.close()


def test_quorum_of_a_strongly_consistent_table():
    network = Network(REGIONS)
    quorum = Quorum(tuple(REGIONS))
    assert all(quorum.reachable_from(r, network) for r in REGIONS)
    network.partition("us-east-1")
    assert not quorum.reachable_from("us-east-1", network)
    assert quorum.reachable_from("us-east-2", network) and quorum.reachable_from("us-west-2", network)
    network.heal()
    network.fail("us-west-2")
    assert quorum.reachable_from("us-east-1", network) and not quorum.reachable_from("us-west-2", network)
    witness = Quorum(("us-east-1", "us-west-2"), witness="us-east-2")
    network.recover("us-west-2")
    network.partition("us-west-2")
    assert witness.reachable_from("us-east-1", network) and not witness.reachable_from("us-west-2", network)


@pytest.fixture(scope="module")
def moto():
    process = MotoProcess().start()
    yield process
    process.stop()


def test_a_replica_cut_off_from_a_majority_refuses_and_the_others_share_one_history(moto):
    moto.reset()
    network = Network(REGIONS)
    gates = Gates(network)
    try:
        urls = {
            (c, t): f"http://127.0.0.1:{gates.add(c, t, 'aws', lambda: moto.address)}" for c in REGIONS for t in REGIONS
        }
        model = AwsModel(network, lambda c, t: urls[(c, t)], Config(connect_timeout=1, read_timeout=2))
        direct_client(moto.url, "dynamodb", TRUTH_REGION).create_table(
            TableName="ctl",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        model.linearizable["ctl"] = Quorum(tuple(REGIONS))
        east, west = (RegionSession(r, model).client("dynamodb", r) for r in ("us-east-1", "us-west-2"))
        east.put_item(TableName="ctl", Item={"pk": {"S": "k"}, "v": {"N": "1"}})
        assert west.get_item(TableName="ctl", Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"]["v"]["N"] == "1"
        network.partition("us-east-1")
        with pytest.raises(ClientError) as refused:
            east.put_item(TableName="ctl", Item={"pk": {"S": "k"}, "v": {"N": "2"}})
        assert refused.value.response["Error"]["Code"] == "InternalServerError"
        west.put_item(TableName="ctl", Item={"pk": {"S": "k"}, "v": {"N": "3"}})
        assert west.describe_table(TableName="ctl")["Table"]["TableName"] == "ctl"
    finally:
        gates.close()


def test_a_held_request_is_delivered_late(moto):
    moto.reset()
    network = Network(REGIONS)
    gates = Gates(network)
    try:
        urls = {
            (c, t): f"http://127.0.0.1:{gates.add(c, t, 'aws', lambda: moto.address)}" for c in REGIONS for t in REGIONS
        }
        model = AwsModel(network, lambda c, t: urls[(c, t)], Config(connect_timeout=1, read_timeout=2))
        rule = model.hold(HoldRule("ssm", "PutParameter", target="us-west-2", seconds=0.5))
        ssm = RegionSession("us-east-2", model).client("ssm", "us-west-2")
        began = time.monotonic()
        ssm.put_parameter(Name="/p", Value="late", Type="String", Overwrite=True)
        assert time.monotonic() - began >= 0.5 and rule.times == 0 and len(rule.held) == 1
        began = time.monotonic()
        ssm.put_parameter(Name="/p", Value="on time", Type="String", Overwrite=True)  # the rule is spent
        assert time.monotonic() - began < 0.5
    finally:
        gates.close()


def test_an_eventually_consistent_control_table_replicates_only_between_regions_that_reach_each_other(moto):
    moto.reset()
    network = Network(REGIONS)
    stop = threading.Event()
    for region in REGIONS:
        direct_client(moto.url, "dynamodb", region).create_table(
            TableName="ctl",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    replication = ControlReplication(
        REGIONS, "ctl", lambda r: direct_client(moto.url, "dynamodb", r), network, stop, period=0.05
    )
    replication.start()
    try:

        def value(region):
            item = direct_client(moto.url, "dynamodb", region).get_item(TableName="ctl", Key={"pk": {"S": "k"}})
            return item.get("Item", {}).get("v", {}).get("S")

        network.partition("us-east-1")
        direct_client(moto.url, "dynamodb", "us-east-1").put_item(
            TableName="ctl", Item={"pk": {"S": "k"}, "v": {"S": "east"}}
        )
        direct_client(moto.url, "dynamodb", "us-east-2").put_item(
            TableName="ctl", Item={"pk": {"S": "k"}, "v": {"S": "west"}}
        )
        time.sleep(0.5)
        assert value("us-east-1") == "east" and value("us-west-2") == "west"  # both "won" on their side
        network.heal()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len({value(r) for r in REGIONS}) > 1:
            time.sleep(0.05)
        assert len({value(r) for r in REGIONS}) == 1  # converged: one of the two writes was silently lost
    finally:
        stop.set()
        replication.join(2)
