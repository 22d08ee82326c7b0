"""The `digitalocean` layout's kind of site: a DigitalOcean Kubernetes (DOKS) cluster per region, running the
app behind a DigitalOcean load balancer.

`config` holds the layout's own keys, `checks` the rules across them, `capacity` what a node holds,
`manifests` the Kubernetes objects, `inputs` what the component computes from config, `component` the
component (`DoksSite`), `replicas` the command that applies a changed replica count. `LAYOUT_KEYS` is what the
registry of layouts (`components.layouts`) validates the layout with.
"""

from components.common_config import LayoutKeys
from components.sites.doks.checks import digitalocean_stack_checks
from components.sites.doks.config import DigitalOceanStackConfig

LAYOUT_KEYS = LayoutKeys(model=DigitalOceanStackConfig, own_checks=digitalocean_stack_checks)
