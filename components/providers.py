"""One explicit AWS provider per region; components receive them and never read `aws:region`."""

from __future__ import annotations

from typing import Iterable

import pulumi
import pulumi_aws as aws

# Route 53 publishes health-check metrics only in us-east-1; the alarms on them live there.
ROUTE53_METRICS_REGION = "us-east-1"


def regional_providers(
    regions: Iterable[str], *, app: str, stack: str, metrics: bool = True
) -> dict[str, aws.Provider]:
    """A provider per region (plus us-east-1 for health-check alarms unless `metrics` is false: a region's
    own tier declares nothing there), tagging everything it creates."""
    wanted = list(dict.fromkeys([*regions, *([ROUTE53_METRICS_REGION] if metrics else [])]))
    tags = {"dr:app": app, "dr:stack": stack, "managed-by": "pulumi"}
    return {
        region: aws.Provider(
            f"aws-{region}",
            region=region,
            default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
        )
        for region in wanted
    }


def opts_for(provider: aws.Provider, parent: pulumi.Resource, **extra) -> pulumi.ResourceOptions:
    """Child options: the component as parent and the region's provider, plus anything extra."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, **extra)
