"""The `digitalocean` and `ovh-hybrid` layouts on the shared DR plane, through the offline preview of their
shipped stack files (Pulumi.do.yaml, Pulumi.ovh.yaml), and their config errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from components.config import ConfigError, parse_stack_config
from failover.settings import load_settings
from tests.stack_values import dr_values

ROOT = Path(__file__).resolve().parent.parent


def preview(stack: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-m", "drctl", "preview", "--stack", stack, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def do():
    return preview("do")


@pytest.fixture(scope="module")
def ovh():
    return preview("ovh")


def of_type(doc: dict, type_: str) -> list[dict]:
    return [r for r in doc["resources"] if r["type"] == type_]


def test_digitalocean_sites_are_in_their_slugs_and_the_plane_in_the_paired_aws_regions(do):
    assert (do["layout"], do["outputs"]["regions"]) == ("digitalocean", ["us-east-1", "us-west-2"])
    clusters = of_type(do, "digitalocean:index/kubernetesCluster:KubernetesCluster")
    assert sorted(c["region"] for c in clusters) == ["nyc3", "sfo3"]
    tables = of_type(do, "aws:dynamodb/table:Table")
    assert {t["region"] for t in tables} == {"us-east-1"}
    assert {r["regionName"] for t in tables for r in t["inputs"]["replicas"]} == {"us-west-2"}
    control = next(t for t in tables if t["inputs"]["name"] == "orders-do-dr-authority")
    assert control["inputs"]["globalTableWitness"] == {"regionName": "us-east-2"}  # strongly consistent, 2 + witness
    assert control["inputs"]["replicas"][0]["consistencyMode"] == "STRONG"
    fns = of_type(do, "aws:lambda/function:Function")
    # an orchestrator in each site's region, and the observer in the control table's witness region
    assert sorted(f["region"] for f in fns) == ["us-east-1", "us-east-2", "us-west-2"]
    observer = next(f for f in fns if f["region"] == "us-east-2")["inputs"]["environment"]["variables"]
    assert (observer["DR_HOME_REGION"], observer["DR_OBSERVER_REGIONS"], observer["DR_CONTROL_REGIONS"]) == (
        "us-east-2",
        "us-east-1,us-west-2,us-east-2",
        "us-east-1,us-west-2",
    )
    assert not [r for r in do["resources"] if r["type"].startswith("aws:ecs")]  # no ECS in this layout


def test_route53_checks_each_load_balancer_ip_and_answers_a_records_with_the_configured_ttl(do):
    checks = {c["inputs"]["fqdn"]: c["inputs"] for c in of_type(do, "aws:route53/healthCheck:HealthCheck")}
    assert set(checks) == {"nyc3.api.orders.example.com", "sfo3.api.orders.example.com"}
    ips = {fqdn: c["ipAddress"] for fqdn, c in checks.items()}
    assert len(set(ips.values())) == 2  # each site's own load balancer
    for c in checks.values():  # HTTPS with the record name for SNI, on the route path
        assert (c["type"], c["port"], c["enableSni"], c["resourcePath"]) == ("HTTPS", 443, True, "/health/route")
    records = of_type(do, "aws:route53/record:Record")
    failover = {r["inputs"]["setIdentifier"]: r["inputs"] for r in records if r["inputs"].get("setIdentifier")}
    assert failover["nyc3-primary"]["records"] == [ips["nyc3.api.orders.example.com"]]
    assert failover["sfo3-secondary"]["records"] == [ips["sfo3.api.orders.example.com"]]
    assert {r["inputs"]["ttl"] for r in records} == {30}
    assert all("aliases" not in r["inputs"] for r in records)


def test_orchestrators_scale_the_kubernetes_sites_and_may_read_only_their_credentials(do):
    fn = of_type(do, "aws:lambda/function:Function")[0]
    settings = load_settings(fn["inputs"]["environment"]["variables"])
    assert settings.regions == ("us-east-1", "us-west-2")
    targets = settings.scale_targets
    assert {t.kind for t in targets.values()} == {"kubernetes"}
    assert targets["us-west-2"].replicas == 4 and targets["us-west-2"].deployment == "orders"
    assert json.loads(fn["inputs"]["environment"]["variables"]["DR_HEALTH_URLS"]) == {
        "us-east-1": "https://nyc3.api.orders.example.com/health",
        "us-west-2": "https://sfo3.api.orders.example.com/health",
    }
    policy = next(
        p for p in of_type(do, "aws:iam/rolePolicy:RolePolicy") if p["name"].startswith("orders-orchestrator")
    )
    statements = {s["Sid"]: s for s in json.loads(policy["inputs"]["policy"])["Statement"]}
    assert "ScaleTarget" not in statements
    secrets = statements["KubernetesScalerCredentials"]
    assert secrets["Action"] == ["secretsmanager:GetSecretValue"]
    assert all(":secretsmanager:" in arn and "-scaler-" in arn for arn in secrets["Resource"])


def test_digitalocean_budget_counts_the_kubernetes_scale_up_and_the_record_ttl(do):
    b = do["budget"]
    assert (b["detectionSeconds"], b["scaleUpSeconds"], b["writeRtoSeconds"]) == (36, 60, 43)
    assert b["trafficRtoSeconds"] == max(36 + 30, 33 + 4 + 60)  # detection + TTL, or the scale-up from the bump
    assert do["policies"]["violations"] == []


def test_ovh_sites_are_checked_on_their_haproxy_ips_and_need_no_scaling(ovh):
    assert (ovh["layout"], ovh["outputs"]["regions"]) == ("ovh-hybrid", ["eu-west-3", "eu-west-1"])
    checks = of_type(ovh, "aws:route53/healthCheck:HealthCheck")
    assert sorted((c["inputs"]["fqdn"], c["inputs"]["ipAddress"]) for c in checks) == sorted(
        (f"{site}.api.orders.example.com", ip)
        for site, ip in zip(ovh["outputs"]["sites"].values(), ovh["outputs"]["haproxyIps"].values())
    )
    fn = of_type(ovh, "aws:lambda/function:Function")[0]
    settings = load_settings(fn["inputs"]["environment"]["variables"])
    assert {t.kind for t in settings.scale_targets.values()} == {"none"}
    assert ovh["budget"]["inProxyFailoverSeconds"] == 6  # inter 2000 ms x fall 3
    assert ovh["budget"]["scaleUpSeconds"] == 0 and ovh["policies"]["violations"] == []


def test_ovh_haproxy_answers_route53s_path_from_its_own_servers(ovh):
    copies = of_type(ovh, "command:remote:CopyToRemote")
    assert copies and all(c["inputs"]["source"] == "[secret]" for c in copies)  # it holds the password's hash
    installs = of_type(ovh, "command:remote:Command")
    configs = [c["inputs"]["triggers"][0] for c in installs]  # the reviewable text, hash redacted
    assert all("path /health /health/route" in text and "password [secret" in text for text in configs)
    shown = json.dumps(ovh)
    assert "policyInputs" not in shown and "password $6$" not in shown  # no hash in what a preview prints
    counts = Counter(r["type"] for r in ovh["resources"])
    alarms = Counter(a["inputs"]["namespace"] for a in of_type(ovh, "aws:cloudwatch/metricAlarm:MetricAlarm"))
    # a health alarm per site, and each site region's orchestrator alarm on its own errors
    assert counts["command:remote:Command"] == 2 and alarms == {"AWS/Route53": 2, "DynamoDR/Orchestrator": 2}


def _error(values) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_stack_config(values, frozenset({"siteSecrets"}) if "siteSecrets" in values else frozenset())
    return info.value


def test_layout_config_errors_name_their_keys():
    do = dr_values("do")
    do["sites"][1]["awsRegion"] = "us-east-1"
    assert _error(do).key == "dr:sites[1].awsRegion"
    ovh = dr_values("ovh")
    ovh["sites"][0]["healthCheck"]["path"] = "/healthz"
    err = _error(ovh)
    assert err.key == "dr:sites[0].healthCheck.path" and "differs from app.healthPath" in err.message
    prod = dr_values("prod")
    prod["dns"]["ttl"] = 30
    assert _error(prod).key == "dr:dns.ttl"
    prod = dr_values("prod")
    prod["layout"] = "gcp"
    err = _error(prod)
    assert err.key == "dr:layout" and "use one of aws, digitalocean, ovh-hybrid" in err.message
    strong = dr_values("do")
    strong["table"]["consistency"] = "strong"
    assert _error(strong).key == "dr:table.consistency"  # two sites: not an MRSC set


@pytest.mark.parametrize(
    "stack, layout, model, module",
    [
        ("prod", "aws", "AwsStackConfig", "components.layouts.aws"),
        ("do", "digitalocean", "DigitalOceanStackConfig", "components.layouts.digitalocean"),
        ("ovh", "ovh-hybrid", "OvhStackConfig", "components.layouts.ovh_hybrid"),
    ],
)
def test_one_registry_of_layouts_serves_validation_and_dispatch(stack, layout, model, module):
    """The layout's stack file validates into its site kind's model, and dispatch builds it with its module."""
    from components.layouts import LAYOUTS, layout_module

    values = dr_values(stack)
    cfg = parse_stack_config(values, frozenset({"siteSecrets"}) if "siteSecrets" in values else frozenset())
    assert list(LAYOUTS) == ["aws", "digitalocean", "ovh-hybrid"]
    assert type(cfg).__name__ == model and cfg.layout == layout and LAYOUTS[layout].keys.model is type(cfg)
    assert layout_module(cfg).__name__ == module


def test_a_layout_that_is_no_name_is_refused_naming_the_key():
    for value in (["aws"], {"name": "aws"}, 3):
        prod = dr_values("prod")
        prod["layout"] = value
        err = _error(prod)
        assert (err.key, err.message) == (
            "dr:layout",
            f"{value!r} is not a layout; use one of aws, digitalocean, ovh-hybrid",
        )


@pytest.mark.parametrize("stack", ["do", "ovh"])
def test_workload_certificate_expiry_notices_go_to_the_sites_own_notice_topic(stack, request):
    doc = request.getfixturevalue(stack)
    topics = {t["region"]: t["urn"] for t in of_type(doc, "aws:sns/topic:Topic") if "notify" in t["name"]}
    schedules = of_type(doc, "aws:scheduler/schedule:Schedule")
    certificates = of_type(doc, "tls:index/locallySignedCert:LocallySignedCert")
    assert len(schedules) == len(certificates) + len(of_type(doc, "tls:index/selfSignedCert:SelfSignedCert"))
    for schedule in schedules:
        assert schedule["region"] in topics  # the site's AWS region, where its topic is
        assert topics[schedule["region"]] in schedule["options"]["dependsOn"]
