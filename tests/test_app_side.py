"""Application side: write permission confirmed against the control item (a lease, fail closed), the projection read
with its epoch (never going back), and the health endpoints."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from failover import projection
from failover.client import ActiveRegionResolver, ActiveRegionUnknown, ControlView, NotActiveRegion, WritesFenced
from failover.health import accelerator_health, accelerator_route, health_report, route_health, wsgi_app

PARAM = "/orders/test/active_region"
CONTROL = "orders-test-dr-control"
REGIONS = ["us-east-1", "us-east-2"]


@pytest.fixture
def aws(monkeypatch):
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        for r in REGIONS:
            boto3.client("ssm", region_name=r).put_parameter(
                Name=PARAM, Value=projection.initial_value("us-east-1"), Type="String"
            )
            boto3.client("dynamodb", region_name=r).create_table(
                TableName=CONTROL,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        boto3.client("dynamodb", region_name="us-east-2").create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


def resolver(clock, local="us-east-2", **kw):
    return ActiveRegionResolver(
        parameter_name=PARAM,
        local_region=local,
        regions=REGIONS,
        table_name="orders",
        cache_seconds=5,
        clock=clock,
        control_table=CONTROL,
        app="orders",
        **kw,
    )


def set_authority(region: str, epoch: int, phase: str = "active", regions=REGIONS) -> None:
    for r in regions:
        boto3.client("dynamodb", region_name=r).put_item(
            TableName=CONTROL,
            Item={
                "pk": {"S": "control#orders"},
                "activeRegion": {"S": region},
                "epoch": {"N": str(epoch)},
                "phase": {"S": phase},
            },
        )


def project(region: str, epoch: int, regions=REGIONS) -> None:
    for r in regions:
        boto3.client("ssm", region_name=r).put_parameter(
            Name=PARAM, Value=projection.render(region, epoch), Type="String", Overwrite=True
        )


def test_a_passive_region_may_not_write_and_asks_again_at_most_every_fifth_of_the_lease(aws):
    clock = Clock()
    r = resolver(clock)
    with pytest.raises(NotActiveRegion, match="us-east-2 is passive; us-east-1 takes writes"):
        r.ensure_writable()
    set_authority("us-east-2", 1)
    clock.t = 0.9
    with pytest.raises(NotActiveRegion):  # not asked again yet
        r.ensure_writable()
    clock.t = 1.1
    r.ensure_writable()
    assert r.write_epoch == 1


def test_the_lease_runs_out_and_writes_stop_when_the_authority_cannot_be_read(aws, monkeypatch):
    """Fail closed: a region cut off from the control table keeps writing only until its lease runs out, and no
    write starts in the last `write_margin` of the lease."""
    clock = Clock()
    set_authority("us-east-2", 1)
    r = resolver(clock)
    r.ensure_writable()
    real = r._client

    def cut_off(service, region):
        client = real(service, region)
        if service == "dynamodb":

            def fail(**kwargs):
                raise EndpointConnectionError(endpoint_url=f"https://dynamodb.{region}.amazonaws.com")

            client.get_item = fail
        return client

    monkeypatch.setattr(r, "_client", cut_off)
    clock.t = 2.9  # within lease - margin (5 - 2)
    r.ensure_writable()
    clock.t = 3.1
    with pytest.raises(WritesFenced, match="cannot confirm the active region from us-east-2"):
        r.ensure_writable()
    assert isinstance(WritesFenced("x"), ActiveRegionUnknown)


def test_a_demoting_authority_lets_nobody_write(aws):
    set_authority("us-east-2", 3, phase="demoting")
    with pytest.raises(NotActiveRegion, match="becomes active at epoch 3"):
        resolver(Clock(), local="us-east-2").ensure_writable()
    with pytest.raises(NotActiveRegion, match="passive; us-east-2 takes writes"):
        resolver(Clock(), local="us-east-1").ensure_writable()


def test_the_control_table_is_read_in_the_nearest_replica_that_answers(aws, monkeypatch):
    set_authority("us-east-2", 2, regions=["us-east-1"])  # only us-east-1's replica (stands in for the global one)
    r = resolver(Clock(), control_regions=["us-east-2", "us-east-1"])
    real = r._client

    def local_down(service, region):
        client = real(service, region)
        if service == "dynamodb" and region == "us-east-2":

            def fail(**kwargs):
                raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-2.amazonaws.com")

            client.get_item = fail
        return client

    monkeypatch.setattr(r, "_client", local_down)
    r.ensure_writable()
    assert r.control_regions == ["us-east-2", "us-east-1"]


def test_without_a_control_table_writes_are_fenced(aws):
    r = ActiveRegionResolver(
        parameter_name=PARAM, local_region="us-east-1", regions=REGIONS, table_name="orders", clock=Clock()
    )
    with pytest.raises(WritesFenced, match="DR_CONTROL_TABLE"):
        r.ensure_writable()


def test_the_projection_is_cached_and_never_goes_back_to_an_older_epoch(aws):
    clock = Clock()
    r = resolver(clock)
    assert r.active_region() == "us-east-1" and not r.is_active()
    project("us-east-2", 2)
    clock.t = 4.9
    assert r.active_region() == "us-east-1"  # still cached
    clock.t = 5.1
    assert r.active_region() == "us-east-2" and r.known_epoch == 2
    project("us-east-1", 1)  # a late write of an older epoch
    clock.t = 10.2
    assert r.active_region() == "us-east-2" and r.known_epoch == 2
    project("us-east-1", 3)
    clock.t = 15.3
    assert r.active_region() == "us-east-1"


def test_a_plain_region_value_reads_as_epoch_zero_and_garbage_is_not_believed(aws):
    for r in REGIONS:
        boto3.client("ssm", region_name=r).put_parameter(Name=PARAM, Value="us-east-2", Type="String", Overwrite=True)
    assert resolver(Clock()).active_region() == "us-east-2"
    assert projection.parse('{"region": 5}') is None and projection.parse("not a region!") is None
    assert projection.parse(projection.render("eu-west-1", 7)) == projection.Projection(7, "eu-west-1")


def test_falls_back_to_other_regions_when_local_ssm_is_unreachable(aws, monkeypatch):
    r = resolver(Clock())
    real = r._client

    def unreachable(service, region):
        client = real(service, region)
        if service == "ssm" and region == "us-east-2":

            def fail(**kwargs):
                raise EndpointConnectionError(endpoint_url="https://ssm.us-east-2.amazonaws.com")

            client.get_parameter = fail
        return client

    monkeypatch.setattr(r, "_client", unreachable)
    assert r.active_region() == "us-east-1"


def test_unknown_when_nothing_answers(aws):
    r = ActiveRegionResolver(
        parameter_name="/missing", local_region="us-east-2", regions=["us-east-1"], table_name="orders", clock=Clock()
    )
    with pytest.raises(ActiveRegionUnknown):
        r.active_region()


def test_health_report_ok_and_failing(aws):
    r = resolver(Clock())
    code, body = health_report(r, boto3.client("dynamodb", region_name="us-east-2"))
    assert code == 200 and body["dynamodb"] == "ok" and body["active"] is False and body["activeRegion"] == "us-east-1"
    assert body["dynamodbLatencyMs"] >= 0
    code, body = health_report(r, boto3.client("dynamodb", region_name="us-west-2"))  # no table there
    assert code == 503 and body["dynamodb"].startswith("error")


def test_route_health_keeps_traffic_with_the_confirmed_writes(aws):
    """Route 53 checks the route path: a passive region ranked above the active one answers 503, so a
    recovered old primary does not pull traffic back before writes return; lower-ranked ones stay 200."""
    client = boto3.client("dynamodb", region_name="us-east-2")
    assert route_health(resolver(Clock(), local="us-east-2"), client)[0] == 200  # active us-east-1 ranks above
    set_authority("us-east-2", 1)
    code, body = route_health(resolver(Clock(), local="us-east-1"), client)
    assert code == 503 and "ranked above the active region us-east-2" in body["route"]
    assert health_report(resolver(Clock(), local="us-east-1"), client)[0] == 200  # its LB and probes still pass
    code, body = route_health(resolver(Clock(), local="us-east-2"), client)
    assert code == 200 and body["epoch"] == 1


def test_accelerator_health_passes_in_the_active_region_and_the_primarys_successor(aws):
    """With dials primary 100 / others 0, Global Accelerator needs the successor healthy before the primary fails:
    us-east-2 (the first secondary) passes while us-east-1 is active; after a failover the old primary fails."""
    client = boto3.client("dynamodb", region_name="us-east-2")
    code, body = accelerator_health(resolver(Clock(), local="us-east-2"), client)
    assert code == 200 and body["confirmedRegion"] == "us-east-1"
    assert body["route"] == (
        "successor of the active primary us-east-1: takes traffic if it fails, writes once they move"
    )
    set_authority("us-east-2", 1)
    code, body = accelerator_health(resolver(Clock(), local="us-east-2"), client)
    assert (code, body["epoch"], body["route"]) == (200, 1, "serves traffic: the active region")
    code, body = accelerator_health(resolver(Clock(), local="us-east-1"), client)
    assert code == 503 and body["route"] == "passive: writes go to us-east-2, and traffic with them"
    assert route_health(resolver(Clock(), local="us-east-1"), client)[0] == 503  # the route path agrees here


def test_accelerator_health_fails_closed_and_on_a_failing_table(aws, monkeypatch):
    failing = boto3.client("dynamodb", region_name="us-west-2")
    code, body = accelerator_health(resolver(Clock(), local="us-east-2"), failing)
    assert code == 503 and body["dynamodb"].startswith("error") and "route" not in body
    r = resolver(Clock(), local="us-east-2")
    monkeypatch.setattr(r, "confirmed_view", lambda: None)
    code, body = accelerator_health(r, boto3.client("dynamodb", region_name="us-east-2"))
    assert code == 503 and body["route"].startswith("fail-closed") and "confirmedRegion" not in body


THREE = ("us-east-1", "us-east-2", "us-west-2")


def view_of(active: str, phase: str = "active") -> ControlView:
    return ControlView(active, 1, phase, 0.0)


def passing(active: str | None, priority, phase: str = "active") -> set[str]:
    view = None if active is None else view_of(active, phase)
    return {r for r in priority if accelerator_route(r, view, priority)[0]}


def test_accelerator_route_in_each_state_of_three_regions():
    assert passing("us-east-1", THREE) == {"us-east-1", "us-east-2"}  # steady: the primary and its successor
    assert passing("us-east-2", THREE) == {"us-east-2"}  # after a failover, until failback
    assert passing("us-west-2", THREE) == {"us-west-2"}  # after a second failover
    assert passing(None, THREE) == set()  # nobody can confirm the authority: every entry fails closed
    assert accelerator_route("us-west-2", view_of("us-east-1"), THREE) == (
        False,
        "passive: writes go to us-east-1, and traffic with them",
    )
    assert passing("solo-1", ("solo-1",)) == {"solo-1"} and passing("solo-1", ("solo-1",), "settling") == {"solo-1"}


@given(
    priority=st.lists(st.sampled_from([*THREE, "eu-west-1", "eu-west-2"]), min_size=1, max_size=3, unique=True),
    pick=st.integers(0, 2),
    phase=st.sampled_from(["active", "settling"]),
)
def test_accelerator_route_keeps_traffic_with_writes(priority, pick, phase):
    """Never more than two healthy regions, and of two one is the active region; the dial-100 group (the primary's)
    is healthy only when it is active; while the primary is active, a second region is ready to take its traffic."""
    active = priority[pick % len(priority)]
    healthy = passing(active, priority, phase)
    assert active in healthy and len(healthy) <= 2
    assert (priority[0] in healthy) == (active == priority[0])
    if active != priority[0]:
        assert healthy == {active}  # after a failover: the one healthy endpoint is where writes go
    elif len(priority) > 1:
        assert healthy == {active, priority[1]}
    assert passing(None, priority, phase) == set()


def test_route_health_fails_closed_when_the_authority_cannot_be_confirmed(aws, monkeypatch):
    r = resolver(Clock(), local="us-east-1")
    real = r._client

    def cut_off(service, region):
        client = real(service, region)
        if service == "dynamodb":

            def fail(**kwargs):
                raise EndpointConnectionError(endpoint_url=f"https://dynamodb.{region}.amazonaws.com")

            client.get_item = fail
        return client

    monkeypatch.setattr(r, "_client", cut_off)
    code, body = route_health(r, boto3.client("dynamodb", region_name="us-east-2"))
    assert code == 503 and body["route"].startswith("fail-closed")


def test_wsgi_app_over_real_http(aws):
    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server(
        "127.0.0.1",
        0,
        wsgi_app(resolver(Clock()), boto3.client("dynamodb", region_name="us-east-2")),
        handler_class=Quiet,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(base + "/health", timeout=5) as resp:
            assert resp.status == 200 and json.loads(resp.read())["region"] == "us-east-2"
        with urllib.request.urlopen(base + "/health/route", timeout=5) as resp:
            assert resp.status == 200 and json.loads(resp.read())["route"] == "serves traffic"
        with urllib.request.urlopen(base + "/health/accelerator", timeout=5) as resp:  # the primary's successor
            assert resp.status == 200 and json.loads(resp.read())["route"].startswith("successor of the active")
        with pytest.raises(urllib.error.HTTPError) as gone:
            urllib.request.urlopen(base + "/health/active", timeout=5)
        assert gone.value.code == 404
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/other", timeout=5)
        assert err.value.code == 404
    finally:
        server.shutdown()


def test_from_environment_reads_what_the_stack_sets(monkeypatch):
    for name, value in {
        "DR_ACTIVE_REGION_PARAMETER": PARAM,
        "DR_REGIONS": "us-east-1, us-east-2",
        "DR_TABLE": "orders",
        "AWS_REGION": "us-east-2",
        "DR_CACHE_SECONDS": "4",
        "DR_CONTROL_TABLE": CONTROL,
        "DR_APP": "orders",
        "DR_CONTROL_REGIONS": "us-east-1,us-east-2",
    }.items():
        monkeypatch.setenv(name, value)
    r = ActiveRegionResolver.from_environment()
    assert (r.lease_seconds, r.control_key, r.control_regions) == (4.0, "control#orders", ["us-east-2", "us-east-1"])
    monkeypatch.delenv("DR_CONTROL_TABLE")
    with pytest.raises(ValueError, match="DR_CONTROL_TABLE not set"):
        ActiveRegionResolver.from_environment()
