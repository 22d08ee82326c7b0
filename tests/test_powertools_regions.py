"""The Powertools layer exists only in the regions Powertools publishes to: a stack region without it is a
config error naming its key, at preview, before anything is declared (not a failed parameter read in the real
preview of that region)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.config import ConfigError, parse_stack_config
from components.config_base import commercial_regions
from components.powertools import LAYER_REGIONS, LAYER_REGIONS_VERSION, layer_region_problem, pinned_powertools_version
from tests.stack_values import dr_values

ROOT = Path(__file__).resolve().parent.parent
WITHOUT_LAYER = sorted(commercial_regions() - LAYER_REGIONS)


def test_the_region_list_is_pinned_with_the_powertools_version():
    pinned = re.search(r"^aws-lambda-powertools==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE).group(
        1
    )
    # Upgrading Powertools means checking where the new version is published and updating the list with it.
    assert LAYER_REGIONS_VERSION == pinned == pinned_powertools_version()
    assert commercial_regions() >= LAYER_REGIONS  # every listed region is one the stack accepts
    assert {"us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-west-3", "eu-central-1"} <= LAYER_REGIONS
    assert WITHOUT_LAYER, "botocore knows no commercial region without the layer: the check below tests nothing"


def test_the_plain_function():
    assert layer_region_problem("eu-west-1") is None
    problem = layer_region_problem("me-south-1")
    assert problem.startswith("me-south-1 has no Powertools layer (aws-lambda-powertools ")
    assert "\n" not in problem


def _set(path: list, value):
    def mutate(values: dict) -> None:
        node = values
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        values.pop("network", None)  # per-region VPC settings name the old regions

    return mutate


@pytest.mark.parametrize(
    "stack,path,key",
    [
        ("staging", ["regions", "primary"], "dr:regions.primary"),
        ("prod", ["regions", "secondaries", 1], "dr:regions.secondaries[1]"),
        ("do", ["sites", 1, "awsRegion"], "dr:sites[1].awsRegion"),
        ("ovh", ["sites", 0, "awsRegion"], "dr:sites[0].awsRegion"),
    ],
)
@pytest.mark.parametrize("region", WITHOUT_LAYER[:2])
def test_a_region_without_the_layer_is_refused_naming_its_key(stack, path, key, region):
    values = dr_values(stack)
    _set(path, region)(values)
    with pytest.raises(ConfigError) as info:
        parse_stack_config(values, frozenset({"siteSecrets"}) if stack == "ovh" else frozenset())
    assert info.value.key == key
    assert info.value.message == layer_region_problem(region)


def test_drctl_preview_exits_2_with_one_line(tmp_path):
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    doc["config"]["dr:regions"]["secondaries"] = [WITHOUT_LAYER[0]]
    doc["config"].pop("dr:network", None)
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(yaml.safe_dump(doc))
    run = subprocess.run(
        [sys.executable, "-m", "drctl", "preview", "--stack", "x", "--stack-file", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == f"error: dr:regions.secondaries[0]: {layer_region_problem(WITHOUT_LAYER[0])}\n"
