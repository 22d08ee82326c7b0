"""The `ovh-hybrid` layout's kind of site: existing OVHcloud servers behind one HAProxy per region.

`config` holds the layout's own keys, `validators` the checks of their values, `checks` the rules across them,
`haproxy_config` the rendered haproxy.cfg and its install script, `names` what the operator CLI recomputes,
`component` the component (`OvhSite`). `LAYOUT_KEYS` is what the registry of layouts (`components.layouts`)
validates the layout with. The names of `names` are importable from here, where the operator CLI finds them.
"""

from components.common_config import LayoutKeys
from components.sites.ovh.checks import ovh_stack_checks
from components.sites.ovh.config import OvhStackConfig
from components.sites.ovh.names import STATS_SALT_LENGTH, STATS_SALT_SPECIAL, site_component_name, stats_salt_name

__all__ = ["LAYOUT_KEYS", "STATS_SALT_LENGTH", "STATS_SALT_SPECIAL", "site_component_name", "stats_salt_name"]

LAYOUT_KEYS = LayoutKeys(model=OvhStackConfig, own_checks=ovh_stack_checks)
