"""Where the operator CLI (`drctl haproxy`) imports the OVHcloud sites' keys from; they are in
`components.sites.ovh` (`config`, `checks`)."""

from components.sites.ovh.checks import parse_ovh_sites
from components.sites.ovh.config import MIN_STATS_PASSWORD_LENGTH

__all__ = ["MIN_STATS_PASSWORD_LENGTH", "parse_ovh_sites"]
