"""The `aws` layout's kind of site: an ALB + ECS (Fargate) service in each AWS region.

`config` holds the layout's own keys, `checks` the rules across them, `service` the component
(`RegionalService`), `network` the VPC it creates when none is given, `addressing` that VPC's address plan.
`LAYOUT_KEYS` is what the registry of layouts (`components.layouts`) validates the layout with.
"""

from components.common_config import LayoutKeys
from components.sites.ecs.checks import aws_checks, aws_region_checks
from components.sites.ecs.config import AwsStackConfig

LAYOUT_KEYS = LayoutKeys(model=AwsStackConfig, own_checks=aws_region_checks, late_checks=aws_checks)
