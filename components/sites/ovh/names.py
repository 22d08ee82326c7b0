"""Names an OVHcloud site's component gives its resources, and the stats salt's arguments: what the operator CLI
(`drctl haproxy`) and the offline preview recompute to render the same haproxy.cfg as a deployment."""

# The salt's RandomString arguments; the offline preview's stand-in salt (drctl/mocks.py) follows them.
STATS_SALT_LENGTH = 16
STATS_SALT_SPECIAL = False


def site_component_name(app: str, site: str) -> str:
    """The OvhSite's Pulumi name for site `site` of application `app` (its children's names derive from it)."""
    return f"{app}-{site}"


def stats_salt_name(component_name: str) -> str:
    return f"{component_name}-stats-salt"
