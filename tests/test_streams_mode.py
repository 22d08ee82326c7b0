"""`dr:table.replication: streams`: a table per region, a replicator per direction, and a lag gate that reads
the replicator's metric in the receiving region, where it survives the source region's failure."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.exceptions import EndpointConnectionError

from components.config import ConfigError, parse_stack_config
from failover import orchestrator as orch
from failover.replication import lag_metric
from tests.runtime_env import HOME, Clock
from tests.stack_values import dr_values
from tests.test_runtime_moto import make, servers, world  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent


def test_streams_config_rules_name_their_keys():
    values = dr_values("staging")
    values["table"]["replication"] = "streams"
    assert parse_stack_config(values).table.replication == "streams"
    values["table"]["streamViewType"] = "NEW_IMAGE"
    with pytest.raises(ConfigError) as err:
        parse_stack_config(values)
    assert err.value.key == "dr:table.streamViewType"
    prod = dr_values("prod")
    prod["table"]["replication"] = "streams"
    with pytest.raises(ConfigError) as err:
        parse_stack_config(prod)
    assert err.value.key == "dr:table.replication" and "strong consistency needs a global table" in err.value.message


@pytest.fixture(scope="module")
def streams_preview(tmp_path_factory):
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    doc["config"]["dr:table"]["replication"] = "streams"
    path = tmp_path_factory.mktemp("streams") / "Pulumi.streams.yaml"
    path.write_text(yaml.safe_dump(doc))
    run = subprocess.run(
        [sys.executable, "-m", "drctl", "preview", "--stack", "streams", "--stack-file", str(path), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_streams_stack_declares_a_table_per_region_and_a_replicator_per_direction(streams_preview):
    res = streams_preview["resources"]
    data = [r for r in res if r["type"] == "aws:dynamodb/table:Table" and r["inputs"]["name"] == "orders-staging"]
    assert sorted(t["region"] for t in data) == ["eu-central-1", "eu-west-1"]
    for t in data:  # each copy hardened like a replica, no global-table replicas
        assert "replicas" not in t["inputs"] or t["inputs"]["replicas"] == []
        assert t["inputs"]["streamViewType"] == "NEW_AND_OLD_IMAGES" and t["inputs"]["deletionProtectionEnabled"]
        assert t["inputs"]["pointInTimeRecovery"] == {"enabled": True}
    replicators = [
        r
        for r in res
        if r["type"] == "aws:lambda/function:Function" and r["inputs"]["handler"] == "failover.replicator.handler"
    ]
    directions = sorted(
        (f["region"], f["inputs"]["environment"]["variables"]["DR_RECEIVING_REGION"]) for f in replicators
    )
    assert directions == [("eu-central-1", "eu-west-1"), ("eu-west-1", "eu-central-1")]
    mappings = [r for r in res if r["type"] == "aws:lambda/eventSourceMapping:EventSourceMapping"]
    assert len(mappings) == 2 and all(
        m["inputs"]["functionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings
    )
    orchestrators = [
        r
        for r in res
        if r["type"] == "aws:lambda/function:Function" and r["inputs"]["handler"] == "failover.orchestrator.handler"
    ]
    assert {o["inputs"]["environment"]["variables"]["DR_REPLICATION"] for o in orchestrators} == {"streams"}
    assert [v for v in streams_preview["policies"]["violations"] if v["level"] == "mandatory"] == []
    conflicts = sorted(
        (r["region"], r["inputs"]["name"], r["inputs"]["ttl"]["attributeName"])
        for r in res
        if r["type"] == "aws:dynamodb/table:Table" and "-conflicts-" in r["inputs"]["name"]
    )
    assert conflicts == [  # one per direction, where its replicator runs
        ("eu-central-1", "orders-streams-conflicts-eu-central-1-eu-west-1", "expiresAt"),
        ("eu-west-1", "orders-streams-conflicts-eu-west-1-eu-central-1", "expiresAt"),
    ]


def _replicator_lag(region: str, source: str, milliseconds: float) -> None:
    metric = lag_metric("orders", source)
    boto3.client("cloudwatch", region_name=region).put_metric_data(
        Namespace=metric["Namespace"],
        MetricData=[
            {
                "MetricName": metric["MetricName"],
                "Dimensions": metric["Dimensions"],
                "Value": milliseconds,
                "Unit": "Milliseconds",
                "Timestamp": dt.datetime.now(dt.UTC),
            }
        ],
    )


def test_the_gate_reads_the_replicators_lag_in_the_receiving_region_while_the_source_is_gone(world, monkeypatch):
    env = {"DR_RPO_SECONDS": "5", "DR_DATA_TABLE": "orders", "DR_REPLICATION": "streams"}
    _replicator_lag(HOME, "us-east-1", 1500.0)  # the us-east-1 -> us-east-2 replicator, seen in us-east-2
    o = make(Clock(time.time()), **env)
    assert o.measure_lag("us-east-1") == {
        "us-east-2": orch.LagReading(1.5, False, source="replicator"),
        "us-west-2": orch.LagReading(None, False, source="replicator"),
    }

    real_client = orch.Orchestrator.client

    def source_gone(self, service, region, timeout=None):
        if region == "us-east-1":
            raise EndpointConnectionError(endpoint_url=f"https://{service}.us-east-1.amazonaws.com")
        return real_client(self, service, region, timeout)

    monkeypatch.setattr(orch.Orchestrator, "client", source_gone)
    o = make(Clock(time.time()), **env)
    lag = o.measure_lag("us-east-1")
    assert lag["us-east-2"] == orch.LagReading(1.5, None, source="replicator")  # writes unknown, lag known
    assert o.handle(orch.Request("failover", target="us-east-2", reason="drill")).outcome == "transitioned"
    _replicator_lag("us-west-2", "us-east-2", 9000.0)
    refused = make(Clock(time.time()), **env).handle(orch.Request("failover", target="us-west-2", reason="drill"))
    assert refused.outcome == "refused" and "9.0s exceeds" in refused.reason


def test_a_bad_replication_setting_is_named(monkeypatch):
    from failover.settings import SettingsError, load_settings

    env = dict(
        os.environ,
        DR_APP="a",
        DR_REGIONS="us-east-1,us-east-2",
        DR_HOME_REGION="us-east-2",
        DR_CONTROL_TABLE="t",
        DR_ACTIVE_REGION_PARAMETER="/p",
        DR_HEALTH_URLS=json.dumps({"us-east-1": "http://a", "us-east-2": "http://b"}),
        DR_REPLICATION="sync",
    )
    with pytest.raises(SettingsError, match="DR_REPLICATION must be global or streams"):
        load_settings(env)
