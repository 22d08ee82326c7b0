"""What the plane declares for operators to watch and be called by: the stack's dashboard (`components.dashboard`)
and the streams replicators' alarms (`components.alarms.ReplicatorAlarms`); the orchestrators' own alarm is part of
each `components.orchestrator.Orchestrator`. One stack and the per-tier stacks declare these through the same
functions, with the same names and inputs."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from components.alarms import ReplicatorAlarms, direction_key
from components.control import control_placement
from components.dashboard import Dashboard, DashboardInputs, replicators_from
from components.orchestrator import orchestrator_function_name
from components.providers import ROUTE53_METRICS_REGION
from components.replicator import replicator_function_name
from components.site import Site


def _replicator_functions(cfg, stack: str) -> dict[tuple[str, str], str]:
    regions = cfg.regions.all
    return {(s, r): replicator_function_name(cfg.app.name, stack, s, r) for s in regions for r in regions if s != r}


def declare_dashboard(
    cfg,
    stack: str,
    providers: Mapping[str, aws.Provider],
    *,
    sites: Mapping[str, Site],
    health_check_ids: Mapping[str, pulumi.Input[str]],
    table_name: pulumi.Input[str],
    failure_queue_names: pulumi.Input[dict],
) -> Dashboard:
    """The stack's dashboard, through the alarm region's provider; `health_check_ids` by data region,
    `failure_queue_names` by direction key (empty unless the table replicates through streams)."""
    app, regions = cfg.app.name, cfg.regions.all
    streams = cfg.table.replication == "streams"
    functions = _replicator_functions(cfg, stack)
    inputs = pulumi.Output.all(
        ids=pulumi.Output.all(**{r: health_check_ids[r] for r in regions}),
        table=table_name,
        queues=failure_queue_names,
    ).apply(
        lambda a: DashboardInputs(
            app=app,
            stack=stack,
            regions=list(regions),
            sites={r: sites[r].name for r in regions},
            health_check_ids=a["ids"],
            table_name=a["table"],
            orchestrator_function=orchestrator_function_name(app, stack),
            replication=cfg.table.replication,
            replicators=replicators_from(regions, functions, a["queues"]) if streams else [],
            observer_region=control_placement(regions).witness,
        )
    )
    return Dashboard(
        f"{app}-dr",
        inputs=inputs,
        app=app,
        stack=stack,
        opts=pulumi.ResourceOptions(provider=providers[ROUTE53_METRICS_REGION]),
    )


def declare_replicator_alarms(
    cfg,
    stack: str,
    providers: Mapping[str, aws.Provider],
    *,
    sources: list[str],
    failure_queue_names: pulumi.Input[dict],
    topic_arns: Mapping[str, pulumi.Input[str]],
) -> dict[tuple[str, str], ReplicatorAlarms]:
    """Each replicator's alarms whose source region is in `sources` (all of them in one stack, its own in an
    automation tier), to its source region's notice topic; none unless the table replicates through streams."""
    if cfg.table.replication != "streams":
        return {}
    app = cfg.app.name
    queues = pulumi.Output.from_input(failure_queue_names)

    def queue(source: str, receiving: str) -> pulumi.Output[str]:
        key = direction_key(source, receiving)
        return queues.apply(lambda q: q[key])

    return {
        (s, r): ReplicatorAlarms(
            f"{app}-replicate-{s}-to-{r}-alarms",
            app=app,
            stack=stack,
            source=s,
            receiving=r,
            function_name=function,
            queue_name=queue(s, r),
            topic_arn=topic_arns[s],
            opts=pulumi.ResourceOptions(provider=providers[s]),
        )
        for (s, r), function in _replicator_functions(cfg, stack).items()
        if s in sources
    }
