"""A changed replica count reaches a running DOKS Deployment (components/sites/doks/replicas.py, run by the site's
command when a count changes) and never undoes a failover: the count is the one of the site's current role, read
from the active-region parameter. Against a TLS API server on loopback and moto's SSM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from components.sites.doks.component import REPLICAS_COMMAND
from components.sites.doks.replicas import active_region_of, main
from failover.scaling import scale_path
from tests.test_kubernetes_scaler import TOKEN, api, aws  # noqa: F401 (fixtures)

PARAMETER = "/orders/prod/active_region"


def environment(api_server, region: str, active: int = 4, standby: int = 2) -> dict[str, str]:
    return {
        "DR_REPLICAS_SERVER": api_server.url,
        "DR_REPLICAS_NAMESPACE": "orders",
        "DR_REPLICAS_DEPLOYMENT": "orders",
        "DR_REPLICAS_ACTIVE": str(active),
        "DR_REPLICAS_STANDBY": str(standby),
        "DR_REPLICAS_REGION": region,
        "DR_REPLICAS_PRIMARY": "us-east-1",
        "DR_REPLICAS_PARAMETER": PARAMETER,
        "DR_REPLICAS_TOKEN": TOKEN,
        "DR_REPLICAS_CA": api_server.ca_pem,
    }


def patched(api_server) -> list[int]:
    assert all(
        r["path"] == f"{scale_path('orders', 'orders')}?fieldManager=dynamodb-dr-orchestrator"
        and r["authorization"] == f"Bearer {TOKEN}"
        for r in api_server.requests
    )
    return [json.loads(r["body"])["spec"]["replicas"] for r in api_server.requests]


def test_before_the_first_transition_the_primary_is_active(api, aws, capsys):
    """The parameter does not exist yet (a first deploy creates the site before its projection)."""
    assert main(environment(api, "us-east-1")) == 0
    assert main(environment(api, "us-west-2")) == 0
    assert patched(api) == [4, 2]
    assert capsys.readouterr().out.splitlines() == [
        "orders/orders scaled to 4 replicas: the site is active",
        "orders/orders scaled to 2 replicas: the site is standby (active: us-east-1)",
    ]


def test_after_a_failover_the_promoted_standby_keeps_the_active_count(api, aws):
    """A config change (3 -> 5 active) made while us-west-2 is active: us-west-2 gets 5, the old primary the
    standby count; never the other way round."""
    for region in ("us-east-1", "us-west-2"):
        boto3.client("ssm", region_name=region).put_parameter(Name=PARAMETER, Value="us-west-2", Type="String")
    assert main(environment(api, "us-west-2", active=5)) == 0
    assert main(environment(api, "us-east-1", active=5)) == 0
    assert patched(api) == [5, 2]


def test_a_refused_patch_or_a_bad_setting_fails_the_command_with_one_line(api, aws, capsys):
    api.behaviour = "forbidden"
    assert main(environment(api, "us-east-1")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ScaleError: scaling orders/orders was refused: HTTP 403")
    assert main({k: v for k, v in environment(api, "us-east-1").items() if k != "DR_REPLICAS_TOKEN"}) == 1
    assert capsys.readouterr().err == "error: ValueError: DR_REPLICAS_TOKEN not set\n"
    assert main({**environment(api, "us-east-1"), "DR_REPLICAS_ACTIVE": "three"}) == 1
    assert "DR_REPLICAS_ACTIVE must be a whole number" in capsys.readouterr().err
    boto3.client("ssm", region_name="us-east-1").put_parameter(Name=PARAMETER, Value="nonsense", Type="String")
    api.behaviour = "ok"
    assert main(environment(api, "us-east-1")) == 1
    assert "holds 'nonsense', not a region" in capsys.readouterr().err
    assert len(api.requests) == 1  # only the forbidden attempt reached the API server


@pytest.mark.parametrize(
    "value, region",
    [
        ("us-west-2", "us-west-2"),
        (" eu-west-1\n", "eu-west-1"),
        ("us-east-2#7", "us-east-2"),
        ('{"activeRegion": "ap-northeast-1", "epoch": 3}', "ap-northeast-1"),
        ('{"region": "us-east-1"}', "us-east-1"),
        ("", None),
        ("{not json", None),
        ('{"activeRegion": 3}', None),
        ("primary", None),
    ],
)
def test_the_parameter_is_read_as_the_region_it_names(value, region):
    assert active_region_of(value) == region


def test_the_command_existing_sites_record_still_runs_the_replicas_module():
    """Every DOKS site's state records the command (a new one would update each site's Command): the module
    path it names keeps running the code, wherever that lives."""
    assert REPLICAS_COMMAND == "venv/bin/python -m components.sites.replicas"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DR_REPLICAS_")}
    run = subprocess.run(
        [sys.executable, "-m", "components.sites.replicas"],
        env=env,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=120,
    )
    assert run.returncode == 1
    assert run.stderr.startswith("error: ValueError: DR_REPLICAS_SERVER, DR_REPLICAS_NAMESPACE, ")
