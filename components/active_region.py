"""The control plane's authority (the control table) and its projection (an SSM parameter per region)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.control import ControlPlacement, control_placement
from components.global_table import GlobalTable, GlobalTableArgs
from components.naming import DYNAMODB_TABLE, SSM_PARAMETER, aws_name
from failover import projection


def active_region_parameter_name(app: str, stack: str) -> str:
    return aws_name(SSM_PARAMETER, f"/{app}/{stack}/active_region")


def control_table_name(app: str, stack: str, authority: bool = False) -> str:
    """`<app>-<stack>-dr-control`; `-dr-authority` for a stack whose data is eventually consistent and whose control
    table became strongly consistent (a table's consistency cannot change in place, so the strong one is new, and
    `pulumi up` replaces the eventually consistent one: docs/runtime.md, "The authority and where it lives")."""
    return aws_name(DYNAMODB_TABLE, f"{app}-{stack}-dr-{'authority' if authority else 'control'}")


def control_table_name_for(cfg, stack: str) -> str:
    """The control table name of a validated stack config."""
    placement = control_placement(cfg.regions.all)
    return control_table_name(cfg.app.name, stack, authority=placement.strong and cfg.table.consistency != "strong")


def control_table_consistency(regions: list[str]) -> str:
    """How a stack with `regions` declares its control table: `strong` wherever DynamoDB can make it so."""
    return control_placement(regions).consistency


@dataclass(frozen=True)
class ActiveRegionArgs:
    app: str
    stack: str
    regions: list[str]
    """Primary first; the primary is the initial active region."""
    placement: ControlPlacement
    """Where the control table's replicas (and witness) are, and whether it is strongly consistent."""
    table_name: str
    """The control table's physical name (`control_table_name_for`)."""
    protect: bool = True
    tags: dict[str, str] | None = None
    """Tags on the control table; the layout records the objectives there for the policy pack."""
    parameter_regions: list[str] | None = None
    """Regions whose SSM projection this stack declares: every region (None, one stack) or a region tier's own."""
    control_table: bool = True
    """Declare the control table here (one stack, or the data tier); a region tier declares only its projection."""


class ActiveRegion(pulumi.ComponentResource):
    """The control table (partition key `pk`), strongly consistent across its replica regions (and witness) where
    DynamoDB allows it, and `/<app>/<stack>/active_region` in each region.

    The parameter's value is `ignore_changes`: after a failover the orchestrator owns it, and the next `pulumi up`
    must not move writes back. It starts as `{"region": <primary>, "epoch": 0}`.
    """

    parameter_name: str
    control_table: GlobalTable | None
    """None in a region tier, whose stack holds only that region's parameter."""
    parameters: dict[str, aws.ssm.Parameter]

    def __init__(
        self,
        name: str,
        args: ActiveRegionArgs,
        providers: Mapping[str, aws.Provider],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dr:control:ActiveRegion", name, None, opts)
        primary = args.regions[0]
        home, *others = args.placement.replicas
        self.control_table = (
            None
            if not args.control_table
            else GlobalTable(
                f"{name}-control",
                GlobalTableArgs(
                    name=args.table_name,
                    primary_region=home,
                    replica_regions=others,
                    hash_key="pk",
                    attributes={"pk": "S"},
                    strong_consistency=args.placement.strong,
                    witness_region=args.placement.witness,
                    stream_view_type="NEW_AND_OLD_IMAGES",
                    protect=args.protect,
                    tags=dict(args.tags or {}),
                ),
                provider=providers[home],
                opts=pulumi.ResourceOptions(parent=self),
            )
        )
        self.parameter_name = active_region_parameter_name(args.app, args.stack)
        self.parameters = {
            region: aws.ssm.Parameter(
                f"{name}-param-{region}",
                name=self.parameter_name,
                type="String",
                insecure_value=projection.initial_value(primary),  # not a secret: shown in previews and diffs
                description="Region that takes writes; written by the failover orchestrator, not by deploys.",
                opts=pulumi.ResourceOptions(parent=self, provider=providers[region], ignore_changes=["insecureValue"]),
            )
            for region in (args.regions if args.parameter_regions is None else args.parameter_regions)
        }
        self.register_outputs(
            {
                "parameterName": self.parameter_name,
                **({"controlTable": self.control_table.name} if self.control_table else {}),
            }
        )
