"""The control plane's authority (the control table) and its projection (an SSM parameter per region)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.global_table import GlobalTable, GlobalTableArgs
from components.naming import DYNAMODB_TABLE, SSM_PARAMETER, aws_name


def active_region_parameter_name(app: str, stack: str) -> str:
    return aws_name(SSM_PARAMETER, f"/{app}/{stack}/active_region")


def control_table_name(app: str, stack: str) -> str:
    return aws_name(DYNAMODB_TABLE, f"{app}-{stack}-dr-control")


@dataclass(frozen=True)
class ActiveRegionArgs:
    app: str
    stack: str
    regions: list[str]
    """Primary first; the primary is the initial active region."""
    strong_consistency: bool
    """Use MRSC for the control table too, so the epoch fence holds across regions."""
    protect: bool = True
    tags: dict[str, str] | None = None
    """Tags on the control table; the layout records the objectives there for the policy pack."""
    parameter_regions: list[str] | None = None
    """Regions whose SSM projection this stack declares: every region (None, one stack) or a region tier's own."""
    control_table: bool = True
    """Declare the control table here (one stack, or the data tier); a region tier declares only its projection."""


class ActiveRegion(pulumi.ComponentResource):
    """Control table (partition key `pk`) replicated everywhere, and `/<app>/<stack>/active_region` in each region.

    The parameter's value is `ignore_changes`: after a failover the orchestrator owns it, and the
    next `pulumi up` must not move writes back.
    """

    parameter_name: str
    control_table: GlobalTable | None
    """None in a region tier, whose stack holds only that region's parameter."""
    parameters: dict[str, aws.ssm.Parameter]

    def __init__(
        self,
        name: str,
        args: ActiveRegionArgs,
        providers: dict[str, aws.Provider],
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("dr:control:ActiveRegion", name, None, opts)
        primary, *others = args.regions
        self.control_table = None if not args.control_table else GlobalTable(
            f"{name}-control",
            GlobalTableArgs(
                name=control_table_name(args.app, args.stack),
                primary_region=primary,
                replica_regions=others,
                hash_key="pk",
                attributes={"pk": "S"},
                strong_consistency=args.strong_consistency,
                stream_view_type="NEW_AND_OLD_IMAGES",
                protect=args.protect,
                tags=dict(args.tags or {}),
            ),
            provider=providers[primary],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.parameter_name = active_region_parameter_name(args.app, args.stack)
        self.parameters = {
            region: aws.ssm.Parameter(
                f"{name}-param-{region}",
                name=self.parameter_name,
                type="String",
                insecure_value=primary,  # not a secret: shown in previews and diffs
                description="Region that takes writes; written by the failover orchestrator, not by deploys.",
                opts=pulumi.ResourceOptions(parent=self, provider=providers[region], ignore_changes=["insecureValue"]),
            )
            for region in (args.regions if args.parameter_regions is None else args.parameter_regions)
        }
        self.register_outputs({"parameterName": self.parameter_name,
                               **({"controlTable": self.control_table.name} if self.control_table else {})})
