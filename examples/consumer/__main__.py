"""An application's own Pulumi program on the installed `dynamodb-dr` package: its `dr:` stack config read into
the package's model, the data and control planes declared by the package, one ECS site per region declared
here (the application's own choice of size and networks), and the DR plane (notifications, health checks and
failover DNS, orchestrators) over those sites. Nothing here comes from the package's repository."""

import pulumi

from components import (
    AwsStackConfig,
    ConfigError,
    RegionalService,
    RegionalServiceArgs,
    Site,
    SiteEndpoint,
    declare_data_plane,
    declare_dr_plane,
    ecs_scale_statements,
    load_stack_config,
    regional_providers,
)
from failover import EcsTarget, scale_target_json

stack = pulumi.get_stack()
try:
    cfg = load_stack_config()  # the `dr:` keys of Pulumi.<stack>.yaml, validated once
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None  # one line naming the key, as the CLI prints it
if not isinstance(cfg, AwsStackConfig):
    raise pulumi.RunError(f"dr:layout: this program declares ECS sites, so the layout is aws, not {cfg.layout}")

app = cfg.app
providers = regional_providers(cfg.regions.all, app=app.name, stack=stack)  # one explicit provider per region

# The global table (every replica hardened), the control table and the active-region parameter in every region.
data = declare_data_plane(cfg, stack, providers)

# One site per region: an ALB + Fargate service reading the table; the primary at full size, the standbys warm,
# scaled up by the orchestrator on failover.
sites = {}
for index, region in enumerate(cfg.regions.all):
    service = RegionalService(
        f"{app.name}-{region}",
        RegionalServiceArgs(
            app=app.name,
            stack=stack,
            region=region,
            image=app.image,
            port=app.port,
            health_path=cfg.health_path,
            cpu=app.cpu,
            memory=app.memory,
            desired_count=app.desired_count if index == 0 else app.standby_desired_count,
            environment={**app.environment, **data.client_env},  # DR_*: what failover.ActiveRegionResolver reads
            table_arns=data.data_arns,
            parameter_arns=data.parameter_arns,
            control_arns=data.control_arns,
            certificate_arn=cfg.dns.certificate_arns.get(region),
            vpc_cidr=f"10.{60 + index}.0.0/16",
        ),
        provider=providers[region],
    )
    https = service.scheme == "https"  # HTTPS when the region has a certificate (dr:dns.certificateArns)
    sites[region] = Site(
        name=region,
        location=region,
        data_region=region,
        endpoint=SiteEndpoint(
            scheme="https" if https else "http",
            port=443 if https else 80,
            alias_dns_name=service.dns_name,
            alias_zone_id=service.zone_id,
        ),
        scale_target=scale_target_json(EcsTarget(service.cluster_name, service.service_name, app.desired_count)),
        orchestrator_statements=service.service.arn.apply(lambda arn: ecs_scale_statements([arn])),
    )

# Notice topics, Route 53 health checks and their alarms, the failover records, an orchestrator in every region
# and the RTO/RPO budget; the outputs every layout of the package exports.
outputs = declare_dr_plane(cfg, stack, providers, data, sites)
for key, value in outputs.items():
    pulumi.export(key, value)
