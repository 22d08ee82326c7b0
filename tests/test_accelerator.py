"""dr:traffic.mode accelerator: the key and its refusals, the accelerator's traffic budget, the resources one stack
and the tiers declare (tests/stacks/Pulumi.prod-accelerator.yaml: prod with only the mode changed), and its rules."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.budget import (
    ACCELERATOR_PROPAGATION_SECONDS,
    AcceleratorTraffic,
    budget_inputs_from_config,
    compute_budget,
)
from components.config import ConfigError, decode_engine_config, parse_stack_config
from drctl.stackfile import load_stack_config
from policies.resource import Res
from policies.rules_accelerator import endpoint_group_follows_health, endpoint_group_per_region, entry_checks_active

ROOT = Path(__file__).resolve().parent.parent
VARIANT = ROOT / "tests" / "stacks" / "Pulumi.prod-accelerator.yaml"
GA = "aws:globalaccelerator/"


def raw_config(stack: str, stack_file: Path | None = None) -> tuple[dict, frozenset[str]]:
    return decode_engine_config(*load_stack_config(ROOT, stack, stack_file))


def drctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "drctl", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "220"},
    )


# -- config ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["prod", "staging", "do", "ovh"])
def test_shipped_stacks_keep_dns(stack):
    assert parse_stack_config(*raw_config(stack)).traffic.mode == "dns"


def test_the_variant_differs_from_prod_by_the_mode_only():
    prod, variant = raw_config("prod")[0], raw_config("prod-accelerator", VARIANT)[0]
    assert variant.pop("traffic") == {"mode": "accelerator"}
    assert variant == prod


@pytest.mark.parametrize(
    "stack, what",
    [("do", "a DigitalOcean load balancer cannot be one"), ("ovh", "an HAProxy host at OVHcloud cannot be one")],
)
def test_accelerator_is_refused_where_sites_are_not_aws_resources(stack, what):
    raw, secret = raw_config(stack)
    raw["traffic"] = {"mode": "accelerator"}
    with pytest.raises(ConfigError) as err:
        parse_stack_config(raw, secret)
    assert err.value.key == "dr:traffic.mode"
    assert "endpoints must be AWS resources" in err.value.message and what in err.value.message
    assert err.value.message.endswith("keep dns")


def test_accelerator_is_refused_beyond_three_regions():
    raw, secret = raw_config("staging")
    raw["regions"] = {"primary": "us-east-1", "secondaries": ["us-east-2", "us-west-2", "eu-west-1"]}
    raw["failover"] = {**raw.get("failover", {}), "mode": "manual", "failback": "manual"}
    raw["traffic"] = {"mode": "accelerator"}
    with pytest.raises(ConfigError) as err:
        parse_stack_config(raw, secret)
    assert err.value.key == "dr:traffic.mode" and "at most 3 regions (got 4)" in err.value.message
    raw["traffic"] = {"mode": "dns"}
    assert parse_stack_config(raw, secret).traffic.mode == "dns"


def test_an_unknown_mode_names_the_key():
    raw, secret = raw_config("prod")
    raw["traffic"] = {"mode": "anycast"}
    with pytest.raises(ConfigError) as err:
        parse_stack_config(raw, secret)
    assert err.value.key == "dr:traffic.mode"


# -- budget ------------------------------------------------------------------------------------------------------
def test_the_accelerator_budget_of_the_prod_variant():
    budget = compute_budget(budget_inputs_from_config(parse_stack_config(*raw_config("prod-accelerator", VARIANT))))
    assert budget.write_rto_seconds == 43
    # writes moved 43 + the new region's NLB healthy (2 x 10) + 30 s propagation; the old one drops in 20 meanwhile
    assert budget.traffic_rto_seconds == 93 and budget.traffic_follows_writes_seconds == 93
    doc = budget.to_json()
    assert doc["trafficMode"] == "accelerator"
    assert doc["trafficRtoParts"] == {
        "writesMoved": 43,
        "newRegionHealthy": 20,
        "oldRegionUnhealthy": 20,
        "propagation": 30,
        "propagationSource": "https://docs.aws.amazon.com/global-accelerator/latest/dg/"
        "about-endpoints-endpoint-weights.unhealthy-endpoints.html",
    }
    dns = compute_budget(budget_inputs_from_config(parse_stack_config(*raw_config("prod")))).to_json()
    assert "trafficMode" not in dns and dns["trafficRtoSeconds"] == 96


@given(write=st.integers(0, 600))
def test_accelerator_traffic_waits_for_writes_and_never_for_a_ttl(write):
    traffic = AcceleratorTraffic(write_seconds=write)
    assert traffic.seconds == max(20, write + 20) + ACCELERATOR_PROPAGATION_SECONDS
    assert traffic.seconds > write


def test_drctl_budget_prints_the_accelerator_figures_and_why():
    run = drctl("budget", "--stack", "prod-accelerator", "--stack-file", str(VARIANT))
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    assert re.search(
        r"traffic RTO \(Global Accelerator: max\(writes moved 43 \+ new region healthy 20, old region unhealthy 20\) "
        r"\+ propagation 30; no DNS TTL\) │ 93 │ 120 │ meets",
        text,
    ), text
    assert "sends clients only to the region that takes writes" in text
    assert "about-endpoints-endpoint-weights.unhealthy-endpoints.html" in text


# -- resources ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def previews() -> dict:
    run = subprocess.run(
        [sys.executable, "-m", "tests.tier_previews", "--variant", "acc", "prod-accelerator", str(VARIANT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)["acc"]


def of_type(doc: dict, token: str) -> list[dict]:
    return [r for r in doc["resources"] if r["type"] == token]


def test_one_stack_declares_the_accelerator_and_no_failover_records(previews):
    doc = previews["single"]
    assert doc["policies"] == {"violations": []}
    (accelerator,) = of_type(doc, GA + "accelerator:Accelerator")
    assert accelerator["region"] == "us-west-2" and accelerator["inputs"]["name"] == "orders-prod-accelerator"
    (listener,) = of_type(doc, GA + "listener:Listener")
    assert listener["region"] == "us-west-2"
    assert (listener["inputs"]["protocol"], listener["inputs"]["clientAffinity"]) == ("TCP", "NONE")
    assert listener["inputs"]["portRanges"] == [{"fromPort": 443, "toPort": 443}]
    nlbs = {
        r["region"]: r
        for r in of_type(doc, "aws:lb/loadBalancer:LoadBalancer")
        if r["inputs"]["loadBalancerType"] == "network"
    }
    groups = {g["inputs"]["endpointGroupRegion"]: g["inputs"] for g in of_type(doc, GA + "endpointGroup:EndpointGroup")}
    assert sorted(groups) == sorted(nlbs) == ["us-east-1", "us-east-2", "us-west-2"]
    for region, group in groups.items():
        assert group["trafficDialPercentage"] == 100 and group["healthCheckPath"] == "/health/active"
        assert (group["healthCheckIntervalSeconds"], group["thresholdCount"]) == (10, 2)
        (endpoint,) = group["endpointConfigurations"]
        assert endpoint["endpointId"].startswith(
            f"arn:aws:elasticloadbalancing:{region}:123456789012:loadbalancer/net/"
        )
    records = of_type(doc, "aws:route53/record:Record")
    assert not [r for r in records if r["inputs"].get("failoverRoutingPolicies")]
    (alias,) = [r for r in records if r["inputs"]["name"] == "api.orders.example.com"]
    assert alias["inputs"]["aliases"][0]["zoneId"] == "Z2BJ6XQ5FK7U4H"
    assert alias["inputs"]["aliases"][0]["name"].endswith(".awsglobalaccelerator.com")
    assert sorted(r["inputs"]["name"] for r in records if r is not alias) == [
        f"{region}.api.orders.example.com" for region in ("us-east-1", "us-east-2", "us-west-2")
    ]
    assert len(of_type(doc, "aws:route53/healthCheck:HealthCheck")) == 3  # the alarm path and verify keep them
    assert doc["outputs"]["accelerator"]["dnsName"] == alias["inputs"]["aliases"][0]["name"]


def test_each_region_fronts_its_alb_with_an_nlb_checking_the_active_path(previews):
    doc = previews["single"]
    entries = [t for t in of_type(doc, "aws:lb/targetGroup:TargetGroup") if t["inputs"].get("targetType") == "alb"]
    assert sorted(t["region"] for t in entries) == ["us-east-1", "us-east-2", "us-west-2"]
    for entry in entries:
        check = entry["inputs"]["healthCheck"]
        assert (check["path"], check["protocol"], check["interval"]) == ("/health/active", "HTTPS", 10)
        assert (check["healthyThreshold"], check["unhealthyThreshold"]) == (2, 2)
        assert (entry["inputs"]["protocol"], entry["inputs"]["port"]) == ("TCP", 443)
    attachments = of_type(doc, "aws:lb/targetGroupAttachment:TargetGroupAttachment")
    assert sorted(a["inputs"]["targetId"].split(":")[3] for a in attachments) == ["us-east-1", "us-east-2", "us-west-2"]
    assert all("loadbalancer/app/" in a["inputs"]["targetId"] for a in attachments)
    # the ALBs' own target groups keep checking /health: a standby passes it, so ECS keeps its tasks
    apps = [t for t in of_type(doc, "aws:lb/targetGroup:TargetGroup") if t["inputs"].get("targetType") == "ip"]
    assert {t["inputs"]["healthCheck"]["path"] for t in apps} == {"/health"}


def test_the_tiers_declare_the_same_resources_and_the_traffic_tier_holds_the_accelerator(previews):
    def named(doc):
        return {(r["type"], r["name"]) for r in doc["resources"] if r["custom"] and not r["type"].startswith("pulumi:")}

    tiers = previews["tiers"]
    assert set().union(*(named(d) for d in tiers.values())) == named(previews["single"])
    holders = {name for name, d in tiers.items() if [r for r in d["resources"] if r["type"].startswith(GA)]}
    assert holders == {"traffic"}
    for region in ("us-east-1", "us-east-2", "us-west-2"):
        nlbs = [
            r
            for r in of_type(tiers[region], "aws:lb/loadBalancer:LoadBalancer")
            if r["inputs"]["loadBalancerType"] == "network"
        ]
        assert [r["region"] for r in nlbs] == [region]
    assert all(d["policies"] == {"violations": []} for d in tiers.values())


def test_the_human_preview_ends_with_no_violations():
    run = drctl("preview", "--stack", "prod-accelerator", "--stack-file", str(VARIANT))
    assert run.returncode == 0, run.stderr
    assert run.stdout.rstrip().endswith("Policy pack: no violations.")


# -- rules -------------------------------------------------------------------------------------------------------
def test_entry_rule_wants_the_active_path_often():
    entry = {
        "targetType": "alb",
        "healthCheck": {"path": "/health/active", "protocol": "HTTPS", "interval": 10, "healthyThreshold": 2},
    }
    assert entry_checks_active(Res("aws:lb/targetGroup:TargetGroup", entry)) == []
    bad = {"targetType": "alb", "healthCheck": {"path": "/health", "protocol": "TCP", "interval": 30}}
    messages = entry_checks_active(Res("aws:lb/targetGroup:TargetGroup", bad))
    assert len(messages) == 3 and "standbys would look healthy" in messages[0]
    assert entry_checks_active(Res("aws:lb/targetGroup:TargetGroup", {**bad, "targetType": "ip"})) == []


def test_endpoint_group_rule_wants_a_full_dial_an_endpoint_and_the_active_path():
    group = {
        "endpointGroupRegion": "us-east-2",
        "trafficDialPercentage": 100,
        "endpointConfigurations": [{"endpointId": "arn"}],
        "healthCheckPath": "/health/active",
    }
    assert endpoint_group_follows_health(Res("aws:globalaccelerator/endpointGroup:EndpointGroup", group)) == []
    dialled = {**group, "trafficDialPercentage": 0, "endpointConfigurations": []}
    messages = endpoint_group_follows_health(Res("aws:globalaccelerator/endpointGroup:EndpointGroup", dialled))
    assert messages == [
        "the endpoint group of us-east-2 is dialled to 0%: failover is by health alone, and nothing at failover time "
        "turns a dial back up",
        "the endpoint group of us-east-2 has no endpoint",
    ]


def test_group_per_region_rule_names_the_region_left_out():
    checks = [Res("aws:route53/healthCheck:HealthCheck", {"fqdn": f"{r}.api.example.com"}) for r in ("a-1", "b-2")]
    group = Res("aws:globalaccelerator/endpointGroup:EndpointGroup", {"endpointGroupRegion": "a-1"})
    accelerator = Res("aws:globalaccelerator/accelerator:Accelerator", {}, urn="urn:acc")
    assert endpoint_group_per_region([*checks, group]) == []  # no accelerator: dns mode
    assert endpoint_group_per_region([*checks, group, accelerator]) == [
        ("urn:acc", "the accelerator has no endpoint group in b-2: its clients would never reach it")
    ]


def test_the_failover_runtime_never_calls_global_accelerator():
    """Failover by health alone: nothing under failover/ builds a Global Accelerator client or names its API."""
    sources = {p: p.read_text() for p in (ROOT / "failover").glob("*.py")}
    assert sources
    for path, text in sources.items():
        assert not re.search(r"globalaccelerator|endpoint_?group|traffic_?dial", text, re.IGNORECASE), path


# -- the drill's model -------------------------------------------------------------------------------------------
def test_the_drill_sends_a_client_to_its_nearest_healthy_region_else_fails_open():
    from drctl.drill.accelerator import accelerator_answer, nearest_first

    regions = ["us-east-1", "us-east-2", "us-west-2"]
    assert nearest_first(regions, 0) == regions and nearest_first(regions, 4) == ["us-east-2", "us-west-2", "us-east-1"]
    assert accelerator_answer(["us-west-2", "us-east-1", "us-east-2"], {"us-east-2": True}) == "us-east-2"
    assert accelerator_answer(["us-west-2", "us-east-1", "us-east-2"], {}) == "us-west-2"  # fail open: nearest
    five = ["a", "b", "c", "d", "e"]
    assert accelerator_answer(five, {"d": True}) == "d" and accelerator_answer(five, {"e": True}) == "a"


def test_the_edge_learns_each_change_after_the_propagation_delay():
    from drctl.drill.accelerator import edge_view

    changes = [(10.0, "a", True), (20.0, "a", False), (21.0, "b", True)]
    assert edge_view(["a", "b"], changes, 12.0, 3.0) == {"a": False, "b": False}  # entries start unhealthy
    assert edge_view(["a", "b"], changes, 13.0, 3.0) == {"a": True, "b": False}
    assert edge_view(["a", "b"], changes, 24.0, 3.0) == {"a": False, "b": True}


def test_the_accelerator_scenario_is_judged_on_the_accelerator_budget():
    from drctl.drill.scenarios import BY_NAME
    from drctl.drill.timescale import TimeScale, load_reference

    scale = TimeScale(load_reference("strong"))
    judged = BY_NAME["accelerator"].scale(scale)
    assert (scale.reference.budget.traffic_rto_seconds, judged.reference.budget.traffic_rto_seconds) == (96, 93)
    assert (judged.accelerator_interval, judged.accelerator_propagation) == (1.0, 3.0)
    assert BY_NAME["accelerator"].options(judged).traffic == "accelerator" and not BY_NAME["accelerator"].default
