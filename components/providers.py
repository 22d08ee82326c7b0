"""One explicit AWS provider per region; components receive them and never read `aws:region`."""

from __future__ import annotations

import os
from collections.abc import Iterable

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


DIGITALOCEAN_TOKEN_KEY = "digitalocean:token"
DIGITALOCEAN_TOKEN_ENV = ("DIGITALOCEAN_TOKEN", "DIGITALOCEAN_ACCESS_TOKEN")
"""Where pulumi-digitalocean documents that its token comes from when the stack config has none."""


def digitalocean_token() -> pulumi.Output[str] | None:
    """The DigitalOcean API token for an explicit `digitalocean.Provider`, which (like every explicit provider)
    never reads the stack's `digitalocean:*` config itself: `digitalocean:token` (a Pulumi secret; a plain value
    is refused by `components.config.load_stack_config`), else the environment variables the provider documents.
    Always a secret; None when neither is set (the provider then fails with its own message)."""
    token = pulumi.Config("digitalocean").get_secret("token")
    if token is not None:
        return token
    for name in DIGITALOCEAN_TOKEN_ENV:
        if os.environ.get(name):
            return pulumi.Output.secret(os.environ[name])
    return None


def opts_for(provider: aws.Provider, parent: pulumi.Resource, **extra) -> pulumi.ResourceOptions:
    """Child options: the component as parent and the region's provider, plus anything extra."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, **extra)
