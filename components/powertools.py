"""The Powertools for AWS Lambda (Python) layer the orchestrator and the replicators use: which version, where
AWS publishes its ARN, and in which regions it exists (plain values and functions, no Pulumi imports, so that
config validation can ask before anything is declared).

AWS publishes the layer, and the public SSM parameter holding its ARN, only in the regions Powertools deploys
to (its release workflow's region list), not in every commercial region: a stack with an orchestrator in
another region would fail only at the real preview, when the parameter is read there. The list below is the one
Powertools published `LAYER_REGIONS_VERSION` to; it is pinned with that version (a test fails when
requirements.txt pins another version, so the list is looked at again on every Powertools upgrade).
"""

from __future__ import annotations

import importlib.metadata

RUNTIME = "python3.12"
ARCHITECTURE = "x86_64"
POWERTOOLS_DISTRIBUTION = "aws-lambda-powertools"

LAYER_REGIONS_VERSION = "3.37.0"
"""The aws-lambda-powertools release `LAYER_REGIONS` was checked for (requirements.txt pins the same)."""
LAYER_REGIONS: frozenset[str] = frozenset(
    {
        "af-south-1",
        "ap-east-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-south-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-southeast-3",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-7",
        "ca-central-1",
        "ca-west-1",
        "eu-central-1",
        "eu-central-2",
        "eu-north-1",
        "eu-south-1",
        "eu-south-2",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "il-central-1",
        "mx-central-1",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)
"""Commercial regions where AWS publishes `/aws/service/powertools/python/<arch>/<runtime>/<version>`."""


def pinned_powertools_version() -> str:
    """The aws-lambda-powertools the project installs (requirements.txt pins it) and the tests run against."""
    try:
        return importlib.metadata.version(POWERTOOLS_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(f"{POWERTOOLS_DISTRIBUTION} is not installed; run `make install`") from None


def powertools_layer_parameter(version: str, runtime: str = RUNTIME, architecture: str = ARCHITECTURE) -> str:
    """The public SSM parameter in which AWS publishes, in each of `LAYER_REGIONS`, the ARN of the Powertools
    layer that holds exactly `version`: the layer then always matches the pinned library."""
    return f"/aws/service/powertools/python/{architecture}/{runtime}/{version}"


def layer_region_problem(region: str) -> str | None:
    """Why the orchestrator cannot run in `region` (no Powertools layer published there), or None."""
    if region in LAYER_REGIONS:
        return None
    return (
        f"{region} has no Powertools layer ({POWERTOOLS_DISTRIBUTION} {LAYER_REGIONS_VERSION} is published in "
        f"{len(LAYER_REGIONS)} regions, not this one), and every region of the stack runs an orchestrator "
        "with it; pick another region"
    )
