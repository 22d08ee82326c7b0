"""A DynamoDB global table (version 2019.11.21) with every replica hardened for DR."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class GlobalTableArgs:
    name: str
    """Physical table name, identical in every region."""
    primary_region: str
    """Region of the provider that owns the table; the others become replicas."""
    replica_regions: list[str]
    """Every other region, in failover priority order."""
    hash_key: str
    attributes: dict[str, str]
    """Key attribute name -> DynamoDB type (S, N or B)."""
    range_key: str | None = None
    strong_consistency: bool = False
    """MRSC: RPO 0, three regions from one MRSC set (or two and a witness), fixed at creation."""
    witness_region: str | None = None
    """MRSC with two replicas: the region of the witness (it holds no readable replica)."""
    billing_mode: str = "PAY_PER_REQUEST"
    read_capacity: int | None = None
    write_capacity: int | None = None
    stream_view_type: str = "NEW_AND_OLD_IMAGES"
    protect: bool = True
    """Pulumi `protect`: a deploy can never delete the data."""
    tags: dict[str, str] = field(default_factory=dict)


def _field(replica, name: str):
    """Read a replica output field whether the SDK hands back its output type or a plain dict."""
    if isinstance(replica, dict) and name not in replica:
        camel = name.split("_")[0] + "".join(w.title() for w in name.split("_")[1:])
        return replica.get(camel)
    return replica[name] if isinstance(replica, dict) else getattr(replica, name)


class GlobalTable(pulumi.ComponentResource):
    """The table in its primary region with a replica in each other region.

    Every replica gets point-in-time recovery, deletion protection, server-side encryption and
    streams (the audit trail and any replicator read them).
    """

    table: aws.dynamodb.Table
    name: pulumi.Output[str]
    arns: pulumi.Output[dict]
    """region -> table ARN for every region."""

    def __init__(
        self, name: str, args: GlobalTableArgs, provider: aws.Provider, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("dr:data:GlobalTable", name, None, opts)
        mode = "STRONG" if args.strong_consistency else "EVENTUAL"
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            **hardened_table_args(args),
            replicas=[
                aws.dynamodb.TableReplicaArgs(
                    region_name=region,
                    point_in_time_recovery=True,
                    deletion_protection_enabled=True,
                    propagate_tags=True,
                    consistency_mode=mode,
                )
                for region in args.replica_regions
            ],
            global_table_witness=(
                aws.dynamodb.TableGlobalTableWitnessArgs(region_name=args.witness_region)
                if args.witness_region
                else None
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=provider, protect=args.protect),
        )
        self.name = self.table.name
        primary = args.primary_region
        self.arns = pulumi.Output.all(self.table.arn, self.table.replicas).apply(
            lambda a: {primary: a[0], **{_field(r, "region_name"): _field(r, "arn") for r in (a[1] or [])}}
        )
        self.register_outputs({"name": self.name, "arns": self.arns})


def hardened_table_args(args: GlobalTableArgs) -> dict:
    """The Table arguments every copy of the data gets: point-in-time recovery, deletion protection,
    server-side encryption, streams (the audit trail and any replicator read them)."""
    return {
        "name": args.name,
        "billing_mode": args.billing_mode,
        "read_capacity": args.read_capacity,
        "write_capacity": args.write_capacity,
        "hash_key": args.hash_key,
        "range_key": args.range_key,
        "attributes": [aws.dynamodb.TableAttributeArgs(name=k, type=t) for k, t in sorted(args.attributes.items())],
        "stream_enabled": True,
        "stream_view_type": args.stream_view_type,
        "point_in_time_recovery": aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
        "server_side_encryption": aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
        "deletion_protection_enabled": True,
        "tags": args.tags,
    }


class RegionalTables(pulumi.ComponentResource):
    """The same table, independently, in every region (no global table): for `dr:table.replication: streams`,
    where a `StreamReplicator` per direction copies the items. Each copy is hardened like a replica.

    `providers` maps every region of `[primary_region, *replica_regions]` to its provider."""

    tables: dict[str, aws.dynamodb.Table]
    name: pulumi.Output[str]
    arns: pulumi.Output[dict]
    """region -> table ARN for every region."""
    stream_arns: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: GlobalTableArgs,
        providers: dict[str, aws.Provider],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dr:data:RegionalTables", name, None, opts)
        regions = [args.primary_region, *args.replica_regions]
        self.tables = {
            region: aws.dynamodb.Table(
                f"{name}-{region}",
                **hardened_table_args(args),
                opts=pulumi.ResourceOptions(parent=self, provider=providers[region], protect=args.protect),
            )
            for region in regions
        }
        self.name = self.tables[args.primary_region].name
        self.arns = pulumi.Output.all(**{r: t.arn for r, t in self.tables.items()})
        self.stream_arns = {r: t.stream_arn for r, t in self.tables.items()}
        self.register_outputs({"name": self.name, "arns": self.arns})
