"""Every layout x replication mode x tier previews offline: stack-file variants of the shipped stacks (one per
layout) with `dr:table.replication` global and streams, each previewed as one stack and as every tier stack in
one process (`tests.tier_previews --variant`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.layouts import site_placements
from components.tiers import tier_kind
from drctl.stackfile import load_stack_config
from drctl.stacks import plan_deployment
from tests.test_tiers import _as_base, _cfg, _custom, location_of, region_violations

ROOT = Path(__file__).resolve().parent.parent
LAYOUTS = {"aws": "staging", "digitalocean": "do", "ovh-hybrid": "ovh"}
"""Layout -> the shipped stack the variants start from (eventual consistency: streams needs it)."""
MODES = ("global", "streams")
CASES = [(layout, mode) for layout in LAYOUTS for mode in MODES]


def variant_file(directory: Path, layout: str, mode: str) -> Path:
    base = LAYOUTS[layout]
    doc = yaml.safe_load((ROOT / f"Pulumi.{base}.yaml").read_text())
    table = doc["config"]["dr:table"]
    table["replication"] = mode
    if mode == "streams":
        table["streamViewType"] = "NEW_AND_OLD_IMAGES"
    path = directory / f"Pulumi.{base}-{mode}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> dict[tuple[str, str], Path]:
    directory = tmp_path_factory.mktemp("variants")
    return {(layout, mode): variant_file(directory, layout, mode) for layout, mode in CASES}


@pytest.fixture(scope="module")
def matrix(variants) -> dict:
    args = [
        a
        for (layout, mode), path in variants.items()
        for a in ("--variant", f"{layout}/{mode}", LAYOUTS[layout], str(path))
    ]
    run = subprocess.run(
        [sys.executable, "-m", "tests.tier_previews", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


@pytest.mark.parametrize("layout,mode", CASES)
def test_every_tier_of_every_layout_and_replication_mode_previews(matrix, variants, layout, mode):
    base = LAYOUTS[layout]
    plan = plan_deployment(base, *load_stack_config(ROOT, base, variants[layout, mode]))
    result = matrix[f"{layout}/{mode}"]
    assert list(result["tiers"]) == [t.name for t in plan.tiers]
    assert result["single"]["layout"] == layout
    for name, doc in result["tiers"].items():
        assert (doc["tier"], doc["layout"]) == (name, layout)
        assert _custom(doc), f"{name} declares nothing"
        assert doc["policies"]["violations"] == [], name


@pytest.mark.parametrize("layout,mode", CASES)
def test_the_tiers_declare_one_stacks_resources_and_regions_stay_apart(matrix, layout, mode):
    base = LAYOUTS[layout]
    result = matrix[f"{layout}/{mode}"]
    single = {r["urn"]: r for r in _custom(result["single"])}
    split: dict[str, dict] = {}
    for doc in result["tiers"].values():
        for r in _custom(doc):
            urn = _as_base(r["urn"], base)
            assert urn not in split, f"{urn} twice"
            split[urn] = r
    assert sorted(set(single) ^ set(split)) == []
    for urn, r in split.items():
        assert (r["inputs"], r["region"]) == (single[urn]["inputs"], single[urn]["region"]), urn
    placements = site_placements(_cfg(base))
    for name, doc in result["tiers"].items():
        if tier_kind(name) in ("site", "automation"):
            region = next(p.data_region for p in placements if name in (p.name, f"{p.name}-automation"))
            assert region_violations(doc, region, placements) == [], name


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_data_tier_holds_the_tables_and_replicators_of_its_mode(matrix, layout):
    placements = site_placements(_cfg(LAYOUTS[layout]))
    regions = sorted(p.data_region for p in placements)
    table_name = _cfg(LAYOUTS[layout]).table.name
    for mode in MODES:
        data = matrix[f"{layout}/{mode}"]["tiers"]["data"]
        tables = [
            r for r in _custom(data) if r["type"] == "aws:dynamodb/table:Table" and r["inputs"]["name"] == table_name
        ]
        functions = [r for r in _custom(data) if r["type"] == "aws:lambda/function:Function"]
        if mode == "global":
            assert [t["region"] for t in tables] == [placements[0].data_region]
            assert sorted(rep["regionName"] for rep in tables[0]["inputs"]["replicas"]) == sorted(
                p.data_region for p in placements[1:]
            )
            assert functions == []
        else:
            assert sorted(t["region"] for t in tables) == regions
            assert sorted(location_of(f, placements, {}) for f in functions) == regions  # one per direction
            assert all("replicas" not in t["inputs"] for t in tables)


def test_drctl_preview_of_the_data_tier_of_a_streams_digitalocean_stack(variants):
    """The reported failure: `drctl preview --tier data` on a streams variant of Pulumi.do.yaml."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "drctl",
            "preview",
            "--stack",
            "do",
            "--stack-file",
            str(variants["digitalocean", "streams"]),
            "--tier",
            "data",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    doc = json.loads(run.stdout)
    providers = sorted(r["region"] for r in doc["resources"] if r["type"] == "pulumi:providers:aws")
    assert providers == ["us-east-1", "us-west-2"]
