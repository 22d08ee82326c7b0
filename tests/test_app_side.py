"""Application side: active-region resolution with cache and fallback, and the /health endpoint."""

from __future__ import annotations

import json
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server
import urllib.request
import urllib.error

import boto3
import pytest
from moto import mock_aws

from failover.client import ActiveRegionResolver, ActiveRegionUnknown, NotActiveRegion
from failover.health import health_report, route_health, wsgi_app

PARAM = "/orders/test/active_region"


@pytest.fixture
def aws(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        for r in ("us-east-1", "us-east-2"):
            boto3.client("ssm", region_name=r).put_parameter(Name=PARAM, Value="us-east-1", Type="String")
        boto3.client("dynamodb", region_name="us-east-2").create_table(
            TableName="orders", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        yield


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


def resolver(clock, local="us-east-2"):
    return ActiveRegionResolver(parameter_name=PARAM, local_region=local, regions=["us-east-1", "us-east-2"],
                                table_name="orders", cache_seconds=5, clock=clock)


def test_cache_then_refresh(aws):
    clock = Clock()
    r = resolver(clock)
    assert r.active_region() == "us-east-1" and not r.is_active()
    with pytest.raises(NotActiveRegion, match="us-east-2 is passive; us-east-1 takes writes"):
        r.ensure_writable()
    for region in ("us-east-1", "us-east-2"):
        boto3.client("ssm", region_name=region).put_parameter(Name=PARAM, Value="us-east-2", Type="String", Overwrite=True)
    clock.t = 4.9
    assert r.active_region() == "us-east-1"  # still cached
    clock.t = 5.1
    assert r.active_region() == "us-east-2"
    r.ensure_writable()
    assert r.table().name == "orders" and r.table().meta.client.meta.region_name == "us-east-2"


def test_falls_back_to_other_regions_when_local_ssm_is_unreachable(aws, monkeypatch):
    from botocore.exceptions import EndpointConnectionError

    clock = Clock()
    r = resolver(clock)
    real = r._read

    def read(region):
        if region == "us-east-2":
            raise EndpointConnectionError(endpoint_url="https://ssm.us-east-2.amazonaws.com")
        return real(region)

    monkeypatch.setattr(r, "_read", read)
    assert r.active_region() == "us-east-1"


def test_unknown_when_nothing_answers(aws):
    r = ActiveRegionResolver(parameter_name="/missing", local_region="us-east-2", regions=["us-east-1"],
                             table_name="orders", clock=Clock())
    with pytest.raises(ActiveRegionUnknown):
        r.active_region()


def test_health_report_ok_and_failing(aws):
    r = resolver(Clock())
    code, body = health_report(r, boto3.client("dynamodb", region_name="us-east-2"))
    assert code == 200 and body["dynamodb"] == "ok" and body["active"] is False and body["activeRegion"] == "us-east-1"
    assert body["dynamodbLatencyMs"] >= 0
    code, body = health_report(r, boto3.client("dynamodb", region_name="us-west-2"))  # no table there
    assert code == 503 and body["dynamodb"].startswith("error")


def test_route_health_keeps_traffic_with_writes(aws):
    """Route 53 checks the route path: a passive region ranked above the active one answers 503, so a
    recovered old primary does not pull traffic back before writes return; lower-ranked ones stay 200."""
    client = boto3.client("dynamodb", region_name="us-east-2")
    assert route_health(resolver(Clock(), local="us-east-2"), client)[0] == 200  # active us-east-1 ranks above
    for r in ("us-east-1", "us-east-2"):
        boto3.client("ssm", region_name=r).put_parameter(Name=PARAM, Value="us-east-2", Type="String", Overwrite=True)
    code, body = route_health(resolver(Clock(), local="us-east-1"), client)
    assert code == 503 and "ranked above the active region us-east-2" in body["route"]
    assert health_report(resolver(Clock(), local="us-east-1"), client)[0] == 200  # its LB and probes still pass
    assert route_health(resolver(Clock(), local="us-east-2"), client)[0] == 200


def test_route_health_fails_open_when_the_active_region_cannot_be_read(aws):
    for r in ("us-east-1", "us-east-2"):
        boto3.client("ssm", region_name=r).delete_parameter(Name=PARAM)
    code, body = route_health(resolver(Clock(), local="us-east-1"), boto3.client("dynamodb", region_name="us-east-2"))
    assert code == 200 and body["route"].startswith("fail-open")
    code, _ = route_health(resolver(Clock(), local="us-east-1"), boto3.client("dynamodb", region_name="us-west-2"))
    assert code == 503  # but never for a region that cannot serve


def test_wsgi_app_over_real_http(aws):
    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, wsgi_app(resolver(Clock()), boto3.client("dynamodb", region_name="us-east-2")),
                         handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(base + "/health", timeout=5) as resp:
            assert resp.status == 200 and json.loads(resp.read())["region"] == "us-east-2"
        with urllib.request.urlopen(base + "/health/route", timeout=5) as resp:
            assert resp.status == 200 and json.loads(resp.read())["route"] == "serves traffic"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/other", timeout=5)
        assert err.value.code == 404
    finally:
        server.shutdown()
