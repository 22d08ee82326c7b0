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
from policies.rules_accelerator import (
    dials_follow_the_order,
    endpoint_group_checks,
    endpoint_group_per_region,
    entry_checks_successor_path,
)

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
        env={**os.environ, "COLUMNS": "260"},
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
    # us-east-1's entry unhealthy (2 x 10 s + the 5 s time-out of a hung region) + 30 s reaction: users on us-east-2
    # at 55, which accepts writes at 43
    assert budget.traffic_rto_seconds == 55 and budget.traffic_rto_seconds <= 60
    # a region made healthy by a move of writes: 43 + 2 x 10 + 30 (after a failover, double failure, failback)
    assert budget.after_failover_traffic_seconds == 93 and budget.traffic_follows_writes_seconds == 93
    assert budget.meets_rto and budget.misses() == []
    doc = budget.to_json()
    assert doc["trafficMode"] == "accelerator" and doc["trafficRtoSeconds"] == 55
    assert doc["trafficRtoParts"] == {
        "primary": "us-east-1",
        "successor": "us-east-2",
        "primaryUnhealthy": 25,
        "reaction": 30,
        "successorReached": 55,
        "writesMoved": 43,
        "newRegionHealthy": 20,
        "afterFailoverSeconds": 93,
        "reactionSource": "https://docs.aws.amazon.com/global-accelerator/latest/dg/"
        "about-endpoints-endpoint-weights.unhealthy-endpoints.html",
    }
    dns = compute_budget(budget_inputs_from_config(parse_stack_config(*raw_config("prod")))).to_json()
    assert "trafficMode" not in dns and dns["trafficRtoSeconds"] == 96


@given(write=st.integers(0, 600))
def test_accelerator_traffic_is_the_later_of_reaching_the_successor_and_its_writes(write):
    traffic = AcceleratorTraffic(write_seconds=write, primary="a", successor="b")
    assert traffic.reach_seconds == 25 + ACCELERATOR_PROPAGATION_SECONDS
    assert traffic.seconds == max(55, write) and traffic.seconds >= write
    assert traffic.after_failover_seconds == write + 20 + 30
    alone = AcceleratorTraffic(write_seconds=write, primary="a", successor=None)
    assert alone.seconds == alone.after_failover_seconds


def test_the_after_failover_figure_is_judged_too():
    """A budget whose primary-failure figure fits but whose after-failover figure does not misses, and says which."""
    raw, secret = raw_config("prod-accelerator", VARIANT)
    raw["objectives"] = {**raw["objectives"], "rtoSeconds": 60}
    budget = compute_budget(budget_inputs_from_config(parse_stack_config(raw, secret)))
    assert budget.traffic_rto_seconds == 55 and not budget.meets_rto
    assert budget.misses() == [
        "traffic RTO after a failover 93s exceeds the RTO objective of 60s (Global Accelerator: the region active "
        "since a failover fails, no entry is healthy until writes move on and the next region passes its checks)"
    ]


def test_drctl_budget_prints_the_accelerator_figures_and_why():
    run = drctl("budget", "--stack", "prod-accelerator", "--stack-file", str(VARIANT))
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    rows = [
        r"traffic RTO, us-east-1 fails \(Global Accelerator, no DNS TTL: users reach us-east-2 at 55 = us-east-1's "
        r"entry unhealthy 25 \+ reaction 30; writes accepted there at 43; served at the later\) │ 55 │ 120 │ meets",
        r"RTO \(slowest plane\) │ 55 │ 120 │ meets",
        r"why: dials set at deploy time \(us-east-1's group 100, the others 0\), and us-east-2's "
        r"/health/accelerator passing while us-east-1 is active: │",
        r"│ when us-east-1's entry fails, Global Accelerator sends everyone to us-east-2 before writes move, with no "
        r"API call",
        r"reaction: AWS documents about 30 s \(https://docs.aws.amazon.com/global-accelerator/latest/dg/"
        r"about-endpoints-endpoint-weights.unhealthy-endpoints.html\)",
        r"traffic RTO after a failover, until failback \(the active region fails: no entry healthy, Global "
        r"Accelerator fails open; writes moved 43 \+ next region healthy 20 \+ reaction 30\) │ 93 │ 120 │ meets",
        r"double failure \(us-east-2 failing when us-east-1 fails, so the orchestrator moves writes elsewhere\): the "
        r"same 93 s, failing open meanwhile",
        r"traffic back to us-east-1 after writes move there \(writes moved \+ its entry healthy \+ reaction\) │ 93",
    ]
    for row in rows:
        assert re.search(row, text), (row, text)


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
    assert {r: g["trafficDialPercentage"] for r, g in groups.items()} == {
        "us-east-1": 100,
        "us-east-2": 0,
        "us-west-2": 0,
    }
    assert accelerator["inputs"]["tags"] == {"dr:failoverOrder": "us-east-1,us-east-2,us-west-2"}
    for region, group in groups.items():
        assert group["healthCheckPath"] == "/health/accelerator"
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


def test_each_region_fronts_its_alb_with_an_nlb_checking_the_accelerator_path(previews):
    doc = previews["single"]
    entries = [t for t in of_type(doc, "aws:lb/targetGroup:TargetGroup") if t["inputs"].get("targetType") == "alb"]
    assert sorted(t["region"] for t in entries) == ["us-east-1", "us-east-2", "us-west-2"]
    for entry in entries:
        check = entry["inputs"]["healthCheck"]
        assert (check["path"], check["protocol"], check["interval"]) == ("/health/accelerator", "HTTPS", 10)
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
def test_entry_rule_wants_the_accelerator_path_often():
    entry = {
        "targetType": "alb",
        "healthCheck": {"path": "/health/accelerator", "protocol": "HTTPS", "interval": 10, "healthyThreshold": 2},
    }
    assert entry_checks_successor_path(Res("aws:lb/targetGroup:TargetGroup", entry)) == []
    bad = {"targetType": "alb", "healthCheck": {"path": "/health/active", "protocol": "TCP", "interval": 30}}
    messages = entry_checks_successor_path(Res("aws:lb/targetGroup:TargetGroup", bad))
    assert len(messages) == 3 and "a standby would look healthy out of turn" in messages[0]
    assert entry_checks_successor_path(Res("aws:lb/targetGroup:TargetGroup", {**bad, "targetType": "ip"})) == []


def test_endpoint_group_rule_wants_an_endpoint_and_the_accelerator_path():
    group = {
        "endpointGroupRegion": "us-east-2",
        "trafficDialPercentage": 0,
        "endpointConfigurations": [{"endpointId": "arn"}],
        "healthCheckPath": "/health/accelerator",
    }
    assert endpoint_group_checks(Res(GA + "endpointGroup:EndpointGroup", group)) == []
    bare = {**group, "endpointConfigurations": [], "healthCheckPath": "/health/route"}
    assert endpoint_group_checks(Res(GA + "endpointGroup:EndpointGroup", bare)) == [
        "the endpoint group of us-east-2 has no endpoint",
        "the endpoint group of us-east-2 does not name the app's <health path>/accelerator",
    ]


def test_dials_rule_wants_the_primary_at_100_and_the_others_at_0():
    order = {"dr:failoverOrder": "a-1,b-2,c-3"}
    accelerator = Res(GA + "accelerator:Accelerator", {}, urn="urn:acc", tags=order)

    def groups(**dials):
        return [
            Res(GA + "endpointGroup:EndpointGroup", {"endpointGroupRegion": r, "trafficDialPercentage": d}, urn=r)
            for r, d in dials.items()
        ]

    right = groups(**{"a-1": 100, "b-2": 0, "c-3": 0})
    assert dials_follow_the_order([accelerator, *right]) == []
    assert dials_follow_the_order(right) == []  # no accelerator: dns mode
    wrong = groups(**{"a-1": 50, "b-2": 100, "c-3": 0})
    assert dials_follow_the_order([accelerator, *wrong]) == [
        (
            "a-1",
            "the primary's endpoint group is dialled to 50%, not 100%: the dials give the failover order (primary "
            "100, others 0) and nothing changes them at failover time",
        ),
        (
            "b-2",
            "b-2's (not the primary a-1) endpoint group is dialled to 100%, not 0%: the dials give the failover order "
            "(primary 100, others 0) and nothing changes them at failover time",
        ),
    ]
    untagged = Res(GA + "accelerator:Accelerator", {}, urn="urn:acc")
    assert dials_follow_the_order([untagged, *right]) == [
        ("urn:acc", "the accelerator does not name its failover order (tag dr:failoverOrder): dials unchecked")
    ]


def test_traffic_dials_of_the_order():
    from components.accelerator import traffic_dials

    assert traffic_dials(["us-east-1", "us-east-2", "us-west-2"]) == {"us-east-1": 100, "us-east-2": 0, "us-west-2": 0}
    assert traffic_dials(["eu-west-1"]) == {"eu-west-1": 100}


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
def test_the_drill_prefers_the_dialled_group_then_the_nearest_healthy_then_fails_open():
    from drctl.drill.accelerator import accelerator_answer, nearest_first

    regions = ["us-east-1", "us-east-2", "us-west-2"]
    dials = {"us-east-1": 100, "us-east-2": 0, "us-west-2": 0}
    assert nearest_first(regions, 0) == regions and nearest_first(regions, 4) == ["us-east-2", "us-west-2", "us-east-1"]
    west = ["us-west-2", "us-east-1", "us-east-2"]  # a client nearest us-west-2
    steady = {"us-east-1": True, "us-east-2": True}
    assert accelerator_answer(west, steady, dials) == "us-east-1"  # the dial-100 group, though not the nearest
    assert accelerator_answer(west, {"us-east-2": True}, dials) == "us-east-2"  # failover ignores the dials
    assert accelerator_answer(west, {"us-east-2": True, "us-west-2": True}, dials) == "us-west-2"  # the nearest
    assert accelerator_answer(west, {}, dials) == "us-west-2"  # fail open: the nearest group
    five = ["a", "b", "c", "d", "e"]
    assert accelerator_answer(five, {"c": True}, {"e": 100}) == "c"
    assert accelerator_answer(five, {"d": True}, {"e": 100}) == "a"  # beyond the three closest: fail open
    assert accelerator_answer(five, {"d": True, "e": True}, {"e": 100}) == "e"


@given(
    active=st.sampled_from(["us-east-1", "us-east-2", "us-west-2"]),
    failed=st.sets(st.sampled_from(["us-east-1", "us-east-2", "us-west-2"])),
    user=st.integers(0, 5),
)
def test_with_the_accelerator_path_a_client_goes_where_writes_go_or_to_the_successor(active, failed, user):
    """The model over the entries' health from `failover.health.accelerator_route`: in steady state every client is
    on the primary; with the primary failed, on the successor; after a failover, on the active region; with no
    healthy entry, failing open."""
    from drctl.drill.accelerator import accelerator_answer, nearest_first
    from failover.client import ControlView
    from failover.health import accelerator_route

    order = ["us-east-1", "us-east-2", "us-west-2"]
    view = ControlView(active, 1, "active", 0.0)
    healthy = {r: r not in failed and accelerator_route(r, view, order)[0] for r in order}
    answer = accelerator_answer(nearest_first(order, user), healthy, {"us-east-1": 100})
    if healthy["us-east-1"]:
        assert answer == "us-east-1" == active
    elif any(healthy.values()):
        (only,) = [r for r, h in healthy.items() if h]  # never two candidates once the primary is out
        assert answer == only and only in (active, "us-east-2")
    else:
        assert answer == nearest_first(order, user)[0]


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
    assert (scale.reference.budget.traffic_rto_seconds, judged.reference.budget.traffic_rto_seconds) == (96, 55)
    assert (judged.accelerator_interval, judged.accelerator_propagation) == (1.0, 3.0)
    assert BY_NAME["accelerator"].options(judged).traffic == "accelerator" and not BY_NAME["accelerator"].default
