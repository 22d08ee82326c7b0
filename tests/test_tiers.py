"""Per-tier stacks, through one offline preview of every tier of every shipped stack (and of each stack as one
stack): the tier plan, the region invariant, the same resources and inputs as one stack, the tier contracts,
StackReference names, and the policy pack per tier."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from components.config import ConfigError, parse_stack_config
from components.layouts import site_placements
from components.tiered import select_tier
from components.tiers import (
    AutomationTierOutputs,
    DataTierOutputs,
    SitePlacement,
    SiteTierOutputs,
    TierPlanError,
    TrafficTierOutputs,
    plan_tiers,
    tier_kind,
    whole_numbers,
)
from drctl.stackfile import load_stack_config
from drctl.stacks import PlanError, plan_deployment
from policies.offline import evaluate
from tests.stack_values import dr_values

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("prod", "staging", "do", "ovh")
AWS_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
# Resources that live nowhere in particular: keys and certificates computed by the engine, random strings, the
# DigitalOcean provider (one global API), components and the stack itself.
LOCATION_FREE = ("tls:", "random:", "pulumi:providers:digitalocean", "pulumi:pulumi:Stack")


@pytest.fixture(scope="module")
def previews() -> dict:
    run = subprocess.run(
        [sys.executable, "-m", "tests.tier_previews", *STACKS], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _custom(doc: dict) -> list[dict]:
    """Custom resources other than providers (`drctl preview --json` leaves `custom` out: components are dr:*)."""
    return [
        r
        for r in doc["resources"]
        if r.get("custom", not r["type"].startswith("dr:")) and not r["type"].startswith("pulumi:")
    ]


def _as_base(urn: str, base: str) -> str:
    return re.sub(r"^urn:pulumi:[^:]+::", f"urn:pulumi:{base}::", urn)


def _cfg(stack: str):
    return parse_stack_config(dr_values(stack), frozenset({"siteSecrets"}) if stack == "ovh" else frozenset())


def location_of(resource: dict, placements: list[SitePlacement], site_components: dict[str, str]) -> str | None:
    """The AWS region a resource lives in or serves: its AWS provider's region; a DigitalOcean slug or a
    Kubernetes cluster's slug mapped to the AWS region paired with that site; for commands (remote ones on an
    OVHcloud site's HAProxy host, whose connection is secret; a DOKS site's local replica command), the site
    whose component holds it."""
    region = resource["region"]
    if region and AWS_REGION.match(region):
        return region
    by_location = {p.location: p.data_region for p in placements}
    if region in by_location:
        return by_location[region]
    if resource["type"].startswith(("command:remote:", "command:local:")):
        return site_components.get(resource["parent"])
    return None


def _site_components(doc: dict, placements: list[SitePlacement]) -> dict[str, str]:
    """URN of each site component (`orders-<site>`) -> its site's AWS region: what runs on an OVHcloud site's
    HAProxy host, and a DOKS site's replica command (which reaches that site's cluster and AWS region only)."""
    by_name = {f"orders-{p.name}": p.data_region for p in placements}
    return {
        r["urn"]: by_name[r["name"]] for r in doc["resources"] if r["type"] in ("dr:sites:OvhSite", "dr:sites:DoksSite")
    }


def region_violations(doc: dict, region: str, placements: list[SitePlacement]) -> list[str]:
    """Resources of a region's tier that live in another region, or whose location is unknown."""
    hosts = _site_components(doc, placements)
    out = []
    for r in doc["resources"]:
        if r["custom"] is False and not r["type"].startswith("pulumi:providers:"):
            continue  # components only group their children
        where = location_of(r, placements, hosts)
        if where is None and r["type"].startswith(LOCATION_FREE):
            continue
        if where != region:
            out.append(f"{r['name']} ({r['type']}) is in {where or 'no known region'}")
    return sorted(out)


# -- the plan -------------------------------------------------------------------------------------------------
def test_the_plan_is_data_then_sites_then_their_orchestrators_then_traffic():
    plan = plan_deployment("prod", *load_stack_config(ROOT, "prod"))
    assert [(t.name, t.kind, t.wave, t.region) for t in plan.tiers] == [
        ("data", "data", 0, None),
        ("us-east-1", "site", 1, "us-east-1"),
        ("us-east-2", "site", 1, "us-east-2"),
        ("us-west-2", "site", 1, "us-west-2"),
        ("us-east-1-automation", "automation", 2, "us-east-1"),
        ("us-east-2-automation", "automation", 2, "us-east-2"),
        ("us-west-2-automation", "automation", 2, "us-west-2"),
        ("traffic", "traffic", 3, None),
    ]
    assert plan.by_name["us-east-2-automation"].requires == ("data", "us-east-1", "us-east-2", "us-west-2")
    assert plan.by_name["traffic"].requires[-1] == "us-west-2-automation"
    assert plan.qualified("us-east-2") == "acme/dynamodb-dr/prod-us-east-2"
    assert [t.name for t in plan_deployment("do", *load_stack_config(ROOT, "do")).tiers][1:3] == ["nyc3", "sfo3"]
    assert [t.region for t in plan_deployment("ovh", *load_stack_config(ROOT, "ovh")).tiers][1:3] == [
        "eu-west-3",
        "eu-west-1",
    ]


def test_a_site_or_automation_tier_has_its_own_region_and_the_others_span_several():
    plan = plan_tiers([SitePlacement("gra", "GRA", "eu-west-3", "https", 443, False, "dr:sites[0].name")])
    assert [(t.name, t.own_region()) for t in plan if t.kind in ("site", "automation")] == [
        ("gra", "eu-west-3"),
        ("gra-automation", "eu-west-3"),
    ]
    for tier in (t for t in plan if t.kind in ("data", "traffic")):
        with pytest.raises(ValueError, match=f"the {tier.kind} tier '{tier.name}' spans several regions"):
            tier.own_region()


def test_a_site_cannot_take_a_tier_name_and_the_error_names_its_key():
    site = SitePlacement("data", "GRA", "eu-west-3", "https", 443, False, "dr:sites[0].name")
    with pytest.raises(TierPlanError, match=r"^dr:sites\[0\]\.name: 'data' cannot name a site"):
        plan_tiers([site])
    values = dict(load_stack_config(ROOT, "ovh")[0].items())
    sites = json.loads(values["dr:sites"])
    sites[1]["name"] = "x-automation"
    secrets = json.loads(values["dr:siteSecrets"])
    values["dr:sites"], values["dr:siteSecrets"] = (
        json.dumps(sites),
        json.dumps({"gra": secrets["gra"], "x-automation": secrets["rbx"]}),
    )
    with pytest.raises(PlanError, match=r"^dr:sites\[1\]\.name: 'x-automation' cannot name a site"):
        plan_deployment("ovh", values, ["dr:siteSecrets"])


def test_tier_keys_come_together_and_a_tier_must_exist():
    values = dr_values("prod")
    with pytest.raises(ConfigError, match="^dr:baseStack: required with dr:tier"):
        parse_stack_config({**values, "tier": "data"})
    with pytest.raises(ConfigError, match="^dr:baseStack: only a tier's stack"):
        parse_stack_config({**values, "baseStack": "prod"})
    with pytest.raises(ConfigError, match="^dr:organization: required with dr:tier"):
        parse_stack_config(
            {**{k: v for k, v in values.items() if k != "organization"}, "tier": "data", "baseStack": "prod"}
        )
    # an unknown tier is refused by the config validation itself (at preview), and by the tier's program
    with pytest.raises(
        ConfigError,
        match="^dr:tier: 'eu-west-1' is not a tier of this deployment; its tiers are data, us-east-1, us-east-2",
    ):
        parse_stack_config({**values, "tier": "eu-west-1", "baseStack": "prod"})
    cfg = parse_stack_config({**values, "tier": "data", "baseStack": "prod"}).model_copy(update={"tier": "eu-west-1"})
    with pytest.raises(ConfigError, match="^dr:tier: 'eu-west-1' is not a tier of this deployment"):
        select_tier(cfg, site_placements(cfg))
    ok = parse_stack_config({**values, "tier": "us-west-2-automation", "baseStack": "prod"})
    assert select_tier(ok, site_placements(ok)).region == "us-west-2"


def test_a_base_stack_file_may_not_set_the_tier_keys():
    config, secret = load_stack_config(ROOT, "prod")
    with pytest.raises(PlanError, match=r"^dr:tier: set by `drctl deploy`"):
        plan_deployment("prod", {**config, "dr:tier": "data"}, secret)


def test_tier_kinds_and_whole_numbers():
    assert [tier_kind(t) for t in (None, "data", "gra", "gra-automation", "traffic")] == [
        "single",
        "data",
        "site",
        "automation",
        "traffic",
    ]
    assert whole_numbers({"a": [2.0, 2.5, True], "b": 3.0}) == {"a": [2, 2.5, True], "b": 3}
    assert isinstance(whole_numbers(2.0), int)


@pytest.mark.parametrize("stack", STACKS)
def test_placements_match_the_sites_one_stack_declares(previews, stack):
    """The plain facts the traffic tier takes from config are those of the sites the layout declares."""
    single = previews[stack]["single"]
    checks = {
        c["inputs"]["fqdn"].split(".")[0]: c["inputs"]
        for c in single["resources"]
        if c["type"] == "aws:route53/healthCheck:HealthCheck"
    }
    placements = site_placements(_cfg(stack))
    assert sorted(p.name for p in placements) == sorted(checks)
    for p in placements:
        assert (checks[p.name]["type"], checks[p.name]["port"]) == (p.scheme.upper(), p.port)
        assert ("ipAddress" in checks[p.name]) == (not p.alias)


# -- the invariant: a region's tiers declare nothing elsewhere ----------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_a_region_tier_declares_no_resource_in_another_region(previews, stack):
    placements = site_placements(_cfg(stack))
    tiers = previews[stack]["tiers"]
    regional = [name for name in tiers if tier_kind(name) in ("site", "automation")]
    assert len(regional) == 2 * len(placements)
    for name in regional:
        region = next(p.data_region for p in placements if name in (p.name, f"{p.name}-automation"))
        assert region_violations(tiers[name], region, placements) == [], name
        assert _custom(tiers[name]), name
    # Only the data and traffic tiers reach beyond one region; the traffic tier also holds the observer in the
    # control table's witness region (two regions: staging's and ovh's eu-west-2, do's us-east-2).
    witness = {"prod": set(), "staging": {"eu-west-2"}, "do": {"us-east-2"}, "ovh": {"eu-west-2"}}[stack]
    assert {location_of(r, placements, {}) for r in _custom(tiers["traffic"])} == {
        placements[0].data_region,
        "us-east-1",
        *witness,
    }


def test_the_invariant_check_sees_a_resource_in_another_region(previews):
    placements = site_placements(_cfg("do"))
    doc = json.loads(json.dumps(previews["do"]["tiers"]["nyc3"]))
    assert region_violations(doc, "us-east-1", placements) == []
    cluster = next(r for r in doc["resources"] if r["type"].endswith("KubernetesCluster"))
    cluster["region"] = "sfo3"  # sfo3 is paired with us-west-2
    topic = next(r for r in doc["resources"] if r["type"] == "aws:sns/topic:Topic")
    topic["region"] = None
    assert region_violations(doc, "us-east-1", placements) == sorted(
        [
            f"{cluster['name']} ({cluster['type']}) is in us-west-2",
            f"{topic['name']} ({topic['type']}) is in no known region",
        ]
    )


# -- the same resources as one stack ------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_the_tiers_declare_exactly_the_resources_of_one_stack_with_the_same_names_and_inputs(previews, stack):
    """Physical names, inputs, regions and options are those of one stack (moving between the modes is a state
    move, never a replacement); dependencies inside a tier are kept, the others go through StackReferences."""
    single = {r["urn"]: r for r in _custom(previews[stack]["single"])}
    split: dict[str, tuple[str, dict]] = {}
    for name, doc in previews[stack]["tiers"].items():
        for r in _custom(doc):
            urn = _as_base(r["urn"], stack)
            assert urn not in split, f"{urn} is declared by {split[urn][0]} and {name}"
            split[urn] = (name, r)
    assert sorted(set(single) - set(split)) == [] and sorted(set(split) - set(single)) == []
    for urn, (tier, r) in split.items():
        one = single[urn]
        assert (r["inputs"], r["region"]) == (one["inputs"], one["region"]), f"{urn} differs in tier {tier}"
        assert {k: v for k, v in r["options"].items() if k != "dependsOn"} == {
            k: v for k, v in one["options"].items() if k != "dependsOn"
        }
        in_tier = {_as_base(u, stack) for u in r["options"]["dependsOn"] if "pulumi:pulumi:StackReference" not in u}
        assert in_tier == {u for u in one["options"]["dependsOn"] if u in in_tier or split.get(u, ("",))[0] == tier}


def test_physical_names_come_from_the_base_stack_not_the_tier_stack(previews):
    tiers = previews["prod"]["tiers"]
    table = next(r for r in _custom(tiers["data"]) if r["name"] == "orders-active-region-control-table")
    assert (table["inputs"]["name"], table["inputs"]["tags"]["dr:stack"]) == ("orders-prod-dr-control", "prod")
    fn = next(r for r in _custom(tiers["us-east-2-automation"]) if r["type"] == "aws:lambda/function:Function")
    assert fn["inputs"]["name"] == "orders-prod-dr-orchestrator"
    param = next(r for r in _custom(tiers["us-east-2"]) if r["type"] == "aws:ssm/parameter:Parameter")
    assert param["inputs"]["name"] == "/orders/prod/active_region"
    providers = [r for r in tiers["us-east-2"]["resources"] if r["type"] == "pulumi:providers:aws"]
    assert [(p["name"], json.loads(p["inputs"]["defaultTags"])["tags"]["dr:stack"]) for p in providers] == [
        ("aws-us-east-2", "prod")
    ]


# -- what tiers hand each other -----------------------------------------------------------------------------
def test_each_tier_exports_its_contract(previews):
    tiers = previews["do"]["tiers"]
    shared = {"tier", "layout"}
    assert set(tiers["data"]["outputs"]) == set(DataTierOutputs.output_names()) | shared
    assert set(tiers["nyc3"]["outputs"]) == set(SiteTierOutputs.output_names()) | shared
    assert set(tiers["nyc3-automation"]["outputs"]) == set(AutomationTierOutputs.output_names()) | shared
    assert set(tiers["traffic"]["outputs"]) == set(TrafficTierOutputs.output_names()) | shared | {"budget"}
    assert tiers["nyc3"]["outputs"]["endpoint"] == {"ip": tiers["nyc3"]["outputs"]["siteOutputs"]["loadBalancerIp"]}
    assert set(previews["prod"]["tiers"]["us-east-2"]["outputs"]["endpoint"]) == {"dnsName", "zoneId"}
    assert tiers["traffic"]["budget"] == previews["do"]["single"]["budget"]


@pytest.mark.parametrize("stack", ["prod", "do"])
def test_tiers_read_exactly_the_tiers_they_require_by_fully_qualified_name(previews, stack):
    plan = plan_deployment(stack, *load_stack_config(ROOT, stack))
    for name, doc in previews[stack]["tiers"].items():
        referenced = {
            u.split("::")[-1]
            for r in doc["resources"]
            for u in r["options"]["dependsOn"]
            if "pulumi:pulumi:StackReference" in u
        }
        assert referenced == {f"acme/dynamodb-dr/{stack}-{t}" for t in plan.by_name[name].requires}, name


# -- the policy pack per tier -------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_tier_passes_the_policy_pack(previews, stack):
    for name, doc in previews[stack]["tiers"].items():
        assert doc["policies"]["violations"] == [], name


def test_stack_rules_judge_only_the_stacks_that_hold_their_inputs(previews):
    """The budget, orchestrator and health-check rules need the whole deployment: a tier (tagged dr:tier) is not
    judged by them, while the same resources judged as one stack fail them."""
    traffic = previews["prod"]["tiers"]["traffic"]["resources"]
    as_tier = evaluate(traffic, "prod", stack_tags={"dr:tier": "traffic", "dr:baseStack": "prod"})
    as_one_stack = evaluate(traffic, "prod")
    assert as_tier == []
    assert sorted({v.policy for v in as_one_stack}) == ["orchestrator-outside-primary", "rto-rpo-budget"]
    site = previews["prod"]["tiers"]["us-east-2"]["resources"]
    assert {v.policy for v in evaluate(site, "prod")} == {
        "orchestrator-outside-primary",
        "health-check-per-endpoint",
        "rto-rpo-budget",
    }
    assert evaluate(site, "prod", stack_tags={"dr:tier": "us-east-2"}) == []


def test_a_site_tier_is_still_judged_by_the_rules_of_its_site(previews):
    """do-lb-health-check-path reasons about one DOKS site, so it judges a site tier too."""
    doc = json.loads(json.dumps(previews["do"]["tiers"]["sfo3"]["resources"]))
    service = next(r for r in doc if r["type"] == "kubernetes:core/v1:Service")
    service["inputs"]["metadata"]["annotations"].pop("service.beta.kubernetes.io/do-loadbalancer-healthcheck-path")
    violations = evaluate(doc, "do", stack_tags={"dr:tier": "sfo3"})
    assert [v.policy for v in violations] == ["do-lb-health-check-path"]


# -- the CLI ------------------------------------------------------------------------------------------------
def test_drctl_preview_of_one_tier_and_its_errors():
    run = subprocess.run(
        [sys.executable, "-m", "drctl", "preview", "--stack", "prod", "--tier", "us-east-2", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert (doc["stack"], doc["tier"], doc["baseStack"]) == ("prod-us-east-2", "us-east-2", "prod")
    assert {r["region"] for r in _custom(doc)} == {"us-east-2"}
    bad = subprocess.run(
        [sys.executable, "-m", "drctl", "preview", "--stack", "prod", "--tier", "eu-west-1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr == (
        "error: --tier eu-west-1: not a tier of prod; its tiers are data, us-east-1, us-east-2, "
        "us-west-2, us-east-1-automation, us-east-2-automation, us-west-2-automation, traffic\n"
    )


def test_drctl_stacks_json_is_a_matrix_in_deploy_order():
    run = subprocess.run(
        [sys.executable, "-m", "drctl", "stacks", "--all", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)["include"]
    assert sorted({r["base"] for r in rows}) == ["do", "ovh", "prod", "staging"]
    for base in ("do", "ovh", "prod", "staging"):
        waves = [r["wave"] for r in rows if r["base"] == base]
        assert waves == sorted(waves) and waves[0] == 0 and waves[-1] == 3
    staging = [r for r in rows if r["base"] == "staging"]
    assert staging[1] == {
        "base": "staging",
        "tier": "eu-west-1",
        "kind": "site",
        "wave": 1,
        "stack": "staging-eu-west-1",
        "qualifiedStack": "acme/dynamodb-dr/staging-eu-west-1",
        "region": "eu-west-1",
        "location": "eu-west-1",
        "requires": ["data"],
        "policyPackConfig": "policies/config.staging.json",
        "production": False,
    }
    one_wave = subprocess.run(
        [sys.executable, "-m", "drctl", "stacks", "--stack", "do", "--wave", "2", "--json", "--org", "other"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert [r["qualifiedStack"] for r in json.loads(one_wave.stdout)["include"]] == [
        "other/dynamodb-dr/do-nyc3-automation",
        "other/dynamodb-dr/do-sfo3-automation",
    ]


@pytest.mark.parametrize("stack", ["staging", "ovh"])
def test_the_moves_hand_every_resource_of_one_stack_to_exactly_one_tier_and_back(previews, stack):
    from drctl.stacks import migration_commands

    plan = plan_deployment(stack, *load_stack_config(ROOT, stack))
    tier_docs = {t: d["resources"] for t, d in previews[stack]["tiers"].items()}
    single = sorted(r["urn"] for r in _custom(previews[stack]["single"]))
    to_tiers = migration_commands(plan, tier_docs, "to-tiers")
    moved: list[str] = []
    for tier, command in zip(plan.tiers, to_tiers):
        head = f"pulumi state move --source acme/dynamodb-dr/{stack} --dest acme/dynamodb-dr/{stack}-{tier.name} --yes "
        assert command.startswith(head)
        moved += re.findall(r"'([^']+)'", command[len(head) :])
    assert sorted(moved) == single
    assert to_tiers[len(plan.tiers) :] == [f"pulumi state delete --stack acme/dynamodb-dr/{stack} --all --yes"]
    back = migration_commands(plan, tier_docs, "to-single")
    returned = [_as_base(u, stack) for c in back[: len(plan.tiers)] for u in re.findall(r"'([^']+)'", c)]
    assert sorted(returned) == single
    assert back[len(plan.tiers)] == f"pulumi state delete --stack acme/dynamodb-dr/{stack}-data --all --yes"
    assert back[-1] == f"pulumi stack rm --yes acme/dynamodb-dr/{stack}-traffic"
