"""Stack files of every layout with the longest names the config model accepts (application, stack, table,
regions, sites, servers, secrets), for the tests that every physical name fits AWS's limits and that the
operator CLI prints every name whole."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

LONGEST_APP = "orders-checkout-platform-eu-2026"  # 32: dr:app.name allows 3-32
LONGEST_STACK = ("Checkout_Platform.Production-" * 4)[:99] + "x"  # 100: Pulumi's limit for a stack name
LONGEST_TABLE = ("orders.checkout_table-" * 12)[:255]  # 255: DynamoDB's limit
LONGEST_SITE = "gravelines-north"  # 16: an ovh-hybrid site name allows 2-16
LONGEST_SERVER = ("checkout-application-server-" * 3)[:62] + "1"  # 63
LONGEST_SECRET = "CHECKOUT_PLATFORM_PAYMENT_PROVIDER_API_TOKEN_" * 6 + "V2"  # an environment name has no limit
# MRSC's three-region sets with the longest names (14 characters); the streams variant spreads over the largest
# set (Europe's four: three control table replicas, and a fourth region that reads one of them).
STRONG_REGIONS = ["ap-northeast-1", "ap-northeast-2", "ap-northeast-3"]
EVENTUAL_REGIONS = ["eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3"]
SECRET = {"secure": "v1:ZXhhbXBsZS1vbmx5:ZHVtbXktc2VjcmV0LWZvci10ZXN0cw=="}  # decrypts nowhere


def _config(stack: str) -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"])


def _common(config: dict[str, Any]) -> None:
    config["dr:app"]["name"] = LONGEST_APP
    config["dr:table"]["name"] = LONGEST_TABLE
    config["dr:dns"]["recordName"] = "api." + "checkout-platform-" * 3 + "eu.example.com"
    config["dr:notifications"] = {"emails": ["oncall-checkout-platform@example.com"]}


def aws_strong() -> dict[str, Any]:
    config = _config("prod")
    _common(config)
    config["dr:regions"] = {"primary": STRONG_REGIONS[0], "secondaries": STRONG_REGIONS[1:]}
    config["dr:dns"]["certificateArns"] = {
        r: f"arn:aws:acm:{r}:123456789012:certificate/00000000-0000-0000-0000-00000000000{i}"
        for i, r in enumerate(STRONG_REGIONS)
    }
    config["dr:appSecrets"] = {LONGEST_SECRET: SECRET, "DB_PASSWORD": SECRET}
    config["dr:app"].update(standby="warm", desiredCount=2, standbyDesiredCount=1)
    return config


def aws_streams() -> dict[str, Any]:
    config = _config("staging")
    _common(config)
    config["dr:regions"] = {"primary": EVENTUAL_REGIONS[0], "secondaries": EVENTUAL_REGIONS[1:]}
    config["dr:table"].update(consistency="eventual", replication="streams")
    config.pop("dr:network", None)
    config["dr:dns"].pop("certificateArns", None)
    return config


def digitalocean() -> dict[str, Any]:
    config = _config("do")
    _common(config)
    sites = [("fra1", "eu-central-1"), ("ams3", "eu-west-1"), ("lon1", "eu-west-2"), ("blr1", "eu-west-3")]
    config["dr:sites"] = [{"region": slug, "awsRegion": aws} for slug, aws in sites]
    config["dr:table"]["replication"] = "streams"
    return config


def ovh() -> dict[str, Any]:
    config = _config("ovh")
    _common(config)
    regions = STRONG_REGIONS  # one MRSC set: automatic failover, a strongly consistent control table
    names = [LONGEST_SITE, "roubaix-north-01", "strasbourg-north"]
    template = config["dr:sites"]
    sites, secrets = [], {}
    for i, (name, region, ovh_region) in enumerate(zip(names, regions, ("GRA", "RBX", "SBG"))):
        site = copy.deepcopy(template[i % len(template)])
        site.update(name=name, awsRegion=region, ovhRegion=ovh_region)
        private = f"10.{10 * (i + 1)}.0.2"
        site["haproxy"].update(publicIp=f"203.0.113.{10 * (i + 1)}", privateAddress=private)
        site["stats"]["bindAddress"] = private
        site["servers"] = [
            {"name": f"{LONGEST_SERVER[:-1]}{n}-{i}"[-63:], "address": f"10.{10 * (i + 1)}.0.{11 + n}", "port": 8080}
            for n in range(2)
        ]
        sites.append(site)
        secrets[name] = {"statsPassword": SECRET, "sshPrivateKey": SECRET, "tlsKey": SECRET}
    config["dr:sites"] = sites
    config["dr:siteSecrets"] = secrets
    return config


LAYOUTS = {"aws-strong": aws_strong, "aws-streams": aws_streams, "digitalocean": digitalocean, "ovh-hybrid": ovh}


def write_stack_file(directory: Path, stack: str, config: dict[str, Any]) -> Path:
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path
