"""What a user sees: an 80-column CI log where policy and resource names are never cut, one resource count
shared by the text view, the JSON and the README, and a hint on how to change a policy's level."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from drctl.preview import PreviewResult, resource_counts
from drctl.render import render_tree, render_violations
from policies.offline import Violation

ROOT = Path(__file__).resolve().parent.parent
LONG_RESOURCE = "abcdefghijklmnopqrstuvwxyz012345-orchestrator-ap-southeast-4-from-alarms"  # 71 characters


def _lines(renderable, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable, crop=False)
    return console.export_text().splitlines()


def test_violations_keep_policy_and_resource_names_whole_at_80_columns():
    urn = f"urn:pulumi:prod::dynamodb-dr::dr:automation:Orchestrator$aws:lambda/permission:Permission::{LONG_RESOURCE}"
    result = PreviewResult(
        stack="prod",
        layout="aws",
        resources=[],
        outputs={},
        budget=None,
        violations=[
            Violation(
                "dynamodb-strong-consistency-mrsc",
                "mandatory",
                urn,
                "strong consistency needs exactly three "
                "STRONG regions from one MRSC set; got us-east-1, eu-west-1, ap-northeast-1, which is a long "
                "message that has to wrap",
            ),
            Violation("health-check-per-endpoint", "advisory", None, "the load balancer in us-east-2 has no check"),
        ],
    )
    lines = _lines(render_violations(result, 80))
    assert any("dynamodb-strong-consistency-mrsc" in line and "mandatory" in line for line in lines)
    assert any(LONG_RESOURCE in line for line in lines)
    assert any("health-check-per-endpoint" in line for line in lines) and any("on the stack" in line for line in lines)
    assert all(len(line.rstrip()) <= 80 for line in lines), [line for line in lines if len(line.rstrip()) > 80]
    text = " ".join(line.strip() for line in lines)
    assert "`pulumi up` would refuse this stack" in text
    assert '{"dynamodb-strong-consistency-mrsc": "advisory"}' in text  # the level hint
    assert "--policy-pack-config" in text


def test_a_name_longer_than_the_line_overflows_instead_of_being_cut():
    urn = f"urn:pulumi:p::dynamodb-dr::aws:lambda/permission:Permission::{LONG_RESOURCE}"
    result = PreviewResult(
        stack="p",
        layout="aws",
        resources=[],
        outputs={},
        budget=None,
        violations=[Violation("dynamodb-strong-consistency-mrsc", "mandatory", urn, "message")],
    )
    lines = _lines(render_violations(result, 40), width=40)
    assert any(LONG_RESOURCE in line for line in lines)
    assert any("dynamodb-strong-consistency-mrsc" in line for line in lines)


def test_tree_never_cuts_a_name():
    def res(urn, name, type_, parent, custom=True):
        return {
            "urn": urn,
            "name": name,
            "type": type_,
            "parent": parent,
            "custom": custom,
            "region": "ap-southeast-4",
            "options": {"protect": False, "ignoreChanges": ["insecureValue"], "dependsOn": []},
        }

    resources = [
        res("s", "stack", "pulumi:pulumi:Stack", None, False),
        res(
            "c",
            "abcdefghijklmnopqrstuvwxyz012345-orchestrator-ap-southeast-4",
            "dr:automation:Orchestrator",
            "s",
            False,
        ),
        res("r", LONG_RESOURCE + "-x", "aws:lambda/permission:Permission", "c"),
    ]
    result = PreviewResult(stack="p", layout="aws", resources=resources, outputs={}, budget=None)
    lines = _lines(render_tree(result, 80))
    for r in resources[1:]:
        assert any(r["name"] in line for line in lines), r["name"]
    assert any("aws:lambda/permission:Permission" in line for line in lines)
    assert all(len(line) <= 80 for line in lines if LONG_RESOURCE not in line)


def test_no_hint_without_a_blocking_violation():
    result = PreviewResult(
        stack="s",
        layout="aws",
        resources=[],
        outputs={},
        budget=None,
        violations=[Violation("dns-failover-ttl", "advisory", None, "m")],
    )
    assert not any("--policy-pack-config" in line for line in _lines(render_violations(result, 80)))


def test_resource_counts_by_kind():
    def res(type_, custom=True):
        return {"type": type_, "custom": custom}

    resources = [
        res("pulumi:pulumi:Stack", False),
        res("dr:data:GlobalTable", False),
        res("pulumi:providers:aws"),
        res("aws:dynamodb/table:Table"),
        res("aws:iam/role:Role"),
        res("aws:iam/role:Role"),
    ]
    assert resource_counts(resources) == {
        "cloudResources": 3,
        "providers": 1,
        "components": 1,
        "stack": 1,
        "pulumiTotal": 6,
        "byType": {"aws:dynamodb/table:Table": 1, "aws:iam/role:Role": 2},
    }


@pytest.fixture(scope="module")
def prod_views() -> tuple[dict, str]:
    env = {**os.environ, "COLUMNS": "80"}
    runs = [
        subprocess.run(
            [sys.executable, "-m", "drctl", "preview", "--stack", "prod", *extra],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for extra in (["--json"], [])
    ]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    return json.loads(runs[0].stdout), runs[1].stdout


def test_text_json_and_readme_count_the_same(prod_views):
    doc, text = prod_views
    counts = doc["counts"]
    assert counts["cloudResources"] == sum(counts["byType"].values())
    assert counts["pulumiTotal"] == len(doc["resources"])
    assert counts["cloudResources"] == sum(
        1 for r in doc["resources"] if r["type"].startswith("aws:")
    )  # every cloud resource is AWS here
    assert f"{counts['cloudResources']} cloud resources by type" in text
    assert f"`pulumi preview` counts {counts['pulumiTotal']} to create" in " ".join(text.split())
    readme = (ROOT / "README.md").read_text()
    stated = re.search(
        r"prod declares \*\*(\d+) cloud resources\*\* \(`pulumi\s+preview` counts (\d+) to create", readme
    )
    assert stated, "the README states prod's counts"
    assert (int(stated.group(1)), int(stated.group(2))) == (counts["cloudResources"], counts["pulumiTotal"])


def test_every_resource_name_appears_whole_in_the_80_column_tree(prod_views):
    doc, text = prod_views
    lines = text.splitlines()
    names = {
        r["name"]
        for r in doc["resources"]
        if r["type"] != "pulumi:pulumi:Stack" and not r["type"].startswith("pulumi:providers:")
    }
    missing = sorted(n for n in names if not any(re.search(rf"(^|\s){re.escape(n)}(\s|$)", line) for line in lines))
    assert missing == []
