"""Traffic plane: Route 53 health checks, their us-east-1 alarms, and the failover record chain."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.alarms import HEALTH_CHECK_ID, HEALTH_CHECK_STATUS, ROUTE53_NAMESPACE
from components.naming import METRIC_ALARM, aws_name, chain_record_name, regional_record_name

__all__ = [
    "Endpoint",
    "EndpointHealth",
    "FailoverDns",
    "FailoverLink",
    "TrafficArgs",
    "failover_chain",
    "health_alarm_name",
    "health_alarm_name_pattern",
    "health_check_tag_name",
    "regional_record_name",
]


def health_alarm_name_pattern(app: str, stack: str) -> str:
    """Every region's health alarm name (`*` for the region), for the alarm topic's key policy."""
    return health_alarm_name(app, stack, "*")


def health_check_tag_name(app: str, stack: str, site: str) -> str:
    """The `Name` tag of a site's Route 53 health check (health checks have no name; tools find them by it)."""
    return f"{app}-{stack}-{site}"


def health_alarm_name(app: str, stack: str, site: str) -> str:
    """The CloudWatch alarm on a site's Route 53 health check; the orchestrator maps it back to the site's region."""
    return aws_name(METRIC_ALARM, f"{app}-{stack}-{site}-unhealthy")


@dataclass(frozen=True)
class FailoverLink:
    """One PRIMARY/SECONDARY pair: `name` answers with `primary_region` while healthy, else `secondary`."""

    name: str
    primary_region: str
    secondary_region: str | None
    """Set when the secondary is a region's endpoint."""
    secondary_chain: str | None
    """Set when the secondary is the next link of the chain (more than two regions)."""

    def next_link(self) -> str:
        """The name of the next link, which is this link's secondary when that is not a region."""
        if self.secondary_chain is None:
            raise ValueError(f"{self.name}: the secondary is {self.secondary_region}, not a next link")
        return self.secondary_chain


def failover_chain(record_name: str, regions: list[str]) -> list[FailoverLink]:
    """PRIMARY/SECONDARY pairs for any number of regions, in priority order.

    Route 53 failover records come in pairs, so three or more regions chain: the first pair's
    SECONDARY aliases a second pair named `failover-1.<record>`, and so on.
    """
    if len(regions) < 2:
        raise ValueError("failover needs at least two regions")
    links = []
    for i, region in enumerate(regions[:-1]):
        last_pair = i == len(regions) - 2
        links.append(
            FailoverLink(
                name=chain_record_name(record_name, i),
                primary_region=region,
                secondary_region=regions[i + 1] if last_pair else None,
                secondary_chain=None if last_pair else chain_record_name(record_name, i + 1),
            )
        )
    return links


@dataclass(frozen=True)
class Endpoint:
    """A site's public endpoint: an alias target (dns_name + zone_id, e.g. an ALB) or an IPv4 address
    answered with `ttl` (a DigitalOcean load balancer, an HAProxy host)."""

    region: str
    dns_name: pulumi.Input[str] | None
    zone_id: pulumi.Input[str] | None
    scheme: str
    ip_address: pulumi.Input[str] | None = None
    ttl: int = 60

    def record_target(self) -> dict:
        """The Record arguments that point at this endpoint."""
        if self.ip_address is not None:
            return {"records": [self.ip_address], "ttl": self.ttl}
        if self.dns_name is None or self.zone_id is None:
            raise ValueError(f"the endpoint in {self.region} has neither an IP address nor an alias target")
        return {
            "aliases": [
                aws.route53.RecordAliasArgs(name=self.dns_name, zone_id=self.zone_id, evaluate_target_health=True)
            ]
        }


@dataclass(frozen=True)
class TrafficArgs:
    app: str
    stack: str
    zone_id: str
    record_name: str
    health_path: str
    interval: int
    failure_threshold: int
    alarm_evaluation_periods: int


class EndpointHealth(pulumi.ComponentResource):
    """A Route 53 health check on one regional endpoint and a CloudWatch alarm on its status (us-east-1)."""

    health_check: aws.route53.HealthCheck
    alarm: aws.cloudwatch.MetricAlarm
    alarm_name: str

    def __init__(
        self,
        name: str,
        *,
        fqdn: str,
        scheme: str,
        args: TrafficArgs,
        region: str,
        alarm_topic_arn: pulumi.Input[str],
        global_provider: aws.Provider,
        metrics_provider: aws.Provider,
        ip_address: pulumi.Input[str] | None = None,
        port: int | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`ip_address`: check that address (the fqdn then only sets Host and SNI); else resolve the fqdn."""
        super().__init__("dr:traffic:EndpointHealth", name, None, opts)
        https = scheme == "https"
        self.health_check = aws.route53.HealthCheck(
            f"{name}-check",
            fqdn=fqdn,
            ip_address=ip_address,
            port=port or (443 if https else 80),
            type="HTTPS" if https else "HTTP",
            enable_sni=https or None,
            resource_path=args.health_path,
            request_interval=args.interval,
            failure_threshold=args.failure_threshold,
            measure_latency=True,
            tags={"Name": health_check_tag_name(args.app, args.stack, region)},
            opts=pulumi.ResourceOptions(parent=self, provider=global_provider),
        )
        self.alarm_name = health_alarm_name(args.app, args.stack, region)
        self.alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-alarm",
            name=self.alarm_name,
            namespace=ROUTE53_NAMESPACE,
            metric_name=HEALTH_CHECK_STATUS,
            dimensions={HEALTH_CHECK_ID: self.health_check.id},
            statistic="Minimum",
            period=60,
            evaluation_periods=args.alarm_evaluation_periods,
            threshold=1,
            comparison_operator="LessThanThreshold",
            # Missing data is Route 53 not (yet) publishing, not an outage: a new alarm goes OK, never straight to
            # ALARM, before the first datapoint (the orchestrators also ignore INSUFFICIENT_DATA -> ALARM).
            treat_missing_data="notBreaching",
            alarm_description=f"{region} endpoint of {args.app} ({args.stack}) failed its Route 53 health check",
            alarm_actions=[alarm_topic_arn],
            ok_actions=[alarm_topic_arn],
            opts=pulumi.ResourceOptions(parent=self, provider=metrics_provider),
        )
        self.register_outputs({"healthCheckId": self.health_check.id, "alarmArn": self.alarm.arn})


class FailoverDns(pulumi.ComponentResource):
    """Regional alias records (the health checks, `drctl verify` and operators reach a region by them), then the
    PRIMARY/SECONDARY chain that follows health-check state.

    Nothing here is changed at failover time: Route 53's data plane answers from health state,
    so traffic moves even when its us-east-1 control plane is impaired.
    """

    records: list[aws.route53.Record]

    def __init__(
        self,
        name: str,
        *,
        args: TrafficArgs,
        endpoints: dict[str, Endpoint],
        health_check_ids: dict[str, pulumi.Input[str]],
        regions: list[str],
        provider: aws.Provider,
        chain: bool = True,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`chain` false (dr:traffic.mode accelerator): the regional records only; the record name is the
        accelerator's alias (`components.accelerator`)."""
        super().__init__("dr:traffic:FailoverDns", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.records = []
        for region in regions:
            self.records.append(
                aws.route53.Record(
                    f"{name}-{region}",
                    zone_id=args.zone_id,
                    name=regional_record_name(args.record_name, region),
                    type="A",
                    **endpoints[region].record_target(),
                    opts=child,
                )
            )

        if not chain:
            self.register_outputs({"recordName": args.record_name})
            return
        # Last link first: Route 53 refuses an alias to a name of the same zone that does not exist yet,
        # so a link's SECONDARY (which aliases the next link's name) waits for that link's records.
        links = failover_chain(args.record_name, regions)
        next_link: list[aws.route53.Record] = []
        chained: list[aws.route53.Record] = []
        for i in reversed(range(len(links))):
            link = links[i]
            primary = aws.route53.Record(
                f"{name}-link{i}-primary",
                zone_id=args.zone_id,
                name=link.name,
                type="A",
                set_identifier=f"{link.primary_region}-primary",
                failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type="PRIMARY")],
                health_check_id=health_check_ids[link.primary_region],
                **endpoints[link.primary_region].record_target(),
                opts=child,
            )
            if link.secondary_region:
                secondary_target = endpoints[link.secondary_region].record_target()
                secondary_check = health_check_ids[link.secondary_region]
                ident = f"{link.secondary_region}-secondary"
            else:
                # The next pair in the same zone; its own records carry the health checks.
                secondary_target = {
                    "aliases": [
                        aws.route53.RecordAliasArgs(
                            name=link.next_link(), zone_id=args.zone_id, evaluate_target_health=True
                        )
                    ]
                }
                secondary_check = None
                ident = f"chain-{i + 1}-secondary"
            secondary = aws.route53.Record(
                f"{name}-link{i}-secondary",
                zone_id=args.zone_id,
                name=link.name,
                type="A",
                set_identifier=ident,
                failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type="SECONDARY")],
                health_check_id=secondary_check,
                **secondary_target,
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=next_link),
            )
            next_link = [primary, secondary]
            chained[:0] = next_link
        self.records.extend(chained)
        self.register_outputs({"recordName": args.record_name})
