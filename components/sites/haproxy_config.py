"""Where the operator CLI (`drctl haproxy`) and bench/haproxy_hash_bench.py import the HAProxy config renderer
from; it is `components.sites.ovh.haproxy_config`. (Rendered configs name this path in their first comment.)"""

from components.sites.ovh.haproxy_config import check_salt, haproxy_site, hash_stats_password, render_haproxy_config

__all__ = ["check_salt", "haproxy_site", "hash_stats_password", "render_haproxy_config"]
