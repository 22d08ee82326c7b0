"""The orchestrators a stack deploys: one per region with the same environment and permissions, and the witness
region's observer; the plane and the tiered stacks both wire them from here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws

from components.active_region import control_table_name_for
from components.control import ControlPlacement, control_placement
from components.iam import merge_statements, table_arn
from components.orchestrator import OrchestratorArgs, orchestrator_environment
from components.site import Site
from components.traffic import health_alarm_name, regional_record_name

if TYPE_CHECKING:
    from components.plane import DataPlane


def endpoint_url(cfg, site: Site) -> str:
    return f"{site.endpoint.scheme}://{regional_record_name(cfg.dns.record_name, site.name)}"


def _environment(
    cfg,
    stack: str,
    data: DataPlane,
    sites: Mapping[str, Site],
    topic_arns: Mapping[str, pulumi.Input[str]],
    placement: ControlPlacement,
) -> dict[str, pulumi.Input[str]]:
    """The DR_* variables every orchestrator of the stack reads (only the home region differs, set per function)."""
    app = cfg.app.name
    regions = cfg.regions.all
    control = control_table_name_for(cfg, stack)
    return orchestrator_environment(
        app=app,
        regions=regions,
        control_table=control,
        data_table=cfg.table.name,
        parameter_name=data.parameter_name,
        health_urls={r: endpoint_url(cfg, sites[r]) + cfg.health_path for r in regions},
        alarm_regions={health_alarm_name(app, stack, s.name): r for r, s in sites.items()},
        scale_targets=pulumi.Output.all(**{r: sites[r].scale_target for r in regions}),
        topic_arns=dict(topic_arns),
        failure_threshold=cfg.failover.failure_threshold,
        recovery_threshold=cfg.failover.recovery_threshold,
        min_dwell_seconds=cfg.failover.min_dwell_seconds,
        failback=cfg.failover.failback,
        automatic=cfg.failover.mode == "automatic",
        rpo_seconds=None if cfg.table.consistency == "strong" else cfg.objectives.rpo_seconds,
        replication=cfg.table.replication,
        probe_interval_seconds=cfg.failover.probe_interval_seconds,
        probe_timeout_seconds=cfg.failover.probe_timeout_seconds,
        control_regions=list(placement.replicas),
        observer_regions=list(placement.observers),
        lease_seconds=cfg.failover.client_cache_seconds,
    )


def orchestrator_args(
    cfg,
    stack: str,
    data: DataPlane,
    sites: Mapping[str, Site],
    topic_arns: Mapping[str, pulumi.Input[str]],
    topic_key_arns: Mapping[str, pulumi.Input[str]],
    alarm_topic_arn: pulumi.Input[str],
) -> dict[str, OrchestratorArgs]:
    """Each region's orchestrator: the same environment and permissions everywhere (every region's sites,
    topics and tables), its own home region; and, for two regions, the observer in the control table's witness
    region (it probes and votes, never transitions: it needs the control table only)."""
    app = cfg.app.name
    regions = cfg.regions.all
    placement = control_placement(regions)
    control = control_table_name_for(cfg, stack)
    environment = _environment(cfg, stack, data, sites, topic_arns, placement)
    control_arns = data.account_id.apply(lambda acct: [table_arn(r, acct, control) for r in placement.replicas])
    policy_arns = pulumi.Output.all(
        acct=data.account_id,
        params=data.parameter_arns,
        scale=pulumi.Output.all(*[sites[r].orchestrator_statements for r in regions]),
        topics=pulumi.Output.all(*[topic_arns[r] for r in regions]),
        keys=pulumi.Output.all(*[topic_key_arns[r] for r in regions]),
    ).apply(
        lambda a: {
            "control_table_arns": [table_arn(r, a["acct"], control) for r in placement.replicas],
            "parameter_arns": list(a["params"]),
            "scale_statements": merge_statements([s for statements in a["scale"] for s in statements or []]),
            "topic_arns": list(a["topics"]),
            "topic_key_arns": list(a["keys"]),
        }
    )
    out = {
        region: OrchestratorArgs(
            app=app,
            stack=stack,
            region=region,
            environment=environment,
            policy_arns=policy_arns,
            alarm_topic_arn=alarm_topic_arn,
            reserved_concurrency=cfg.failover.reserved_concurrency,
            notice_topic_arn=topic_arns[region],
        )
        for region in regions
    }
    if placement.witness:
        out[placement.witness] = OrchestratorArgs(
            app=app,
            stack=stack,
            region=placement.witness,
            environment=environment,
            policy_arns=control_arns.apply(
                lambda arns: {
                    "control_table_arns": arns,
                    "parameter_arns": [],
                    "scale_statements": [],
                    "topic_arns": [],
                    "topic_key_arns": [],
                }
            ),
            alarm_topic_arn=alarm_topic_arn,
            reserved_concurrency=cfg.failover.reserved_concurrency,
            observer_only=True,
        )
    return out


def witness_provider(cfg, stack: str, providers: Mapping[str, aws.Provider]) -> dict[str, aws.Provider]:
    """The providers plus the control table's witness region's, when there is one (for its observer)."""
    witness = control_placement(cfg.regions.all).witness
    if witness is None or witness in providers:
        return dict(providers)
    from components.providers import regional_providers

    return {**providers, **regional_providers([witness], app=cfg.app.name, stack=stack, metrics=False)}
