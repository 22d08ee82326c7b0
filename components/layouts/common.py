"""What every layout module provides, besides `build(cfg, stack)` (one stack):

- `site_placements(cfg) -> list[SitePlacement]`: the sites in failover priority, from config alone;
- `declare_sites(cfg, stack, providers, data, only=None) -> {data region: DeclaredSite}`: the sites (all of
  them, or one region tier's), each handing the DR plane its `Site`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.site import Site


@dataclass(frozen=True)
class DeclaredSite:
    site: Site
    """What the site hands the DR plane."""
    outputs: dict[str, pulumi.Input] = field(default_factory=dict)
    """The site kind's own outputs (exported per site, by one stack or by the site's tier)."""
