"""The application in one region: ALB, target group health check, ECS cluster and Fargate service."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.config_base import Scheme
from components.iam import ECS_TASKS_TRUST, secrets_read_policy, task_policy
from components.naming import (
    ECS_CLUSTER,
    ECS_SERVICE,
    IAM_ROLE,
    LOAD_BALANCER,
    LOG_GROUP,
    SECRET,
    SECURITY_GROUP,
    TARGET_GROUP,
    TASK_DEFINITION,
    autonamed,
    aws_name,
    aws_name_prefix,
)
from components.sites.ecs.entry import declare_accelerator_entry
from components.sites.ecs.network import PublicVpc

# AWS's managed policy for pulling images and writing logs; scoped by AWS, read-only to us.
TASK_EXECUTION_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


@dataclass(frozen=True)
class RegionalServiceArgs:
    app: str
    stack: str
    region: str
    image: str
    port: int
    health_path: str
    cpu: int
    memory: int
    desired_count: int
    """Full capacity for the primary, the warm-standby size elsewhere; later owned by the orchestrator."""
    environment: dict[str, str]
    """Plain container environment (the DR_* client settings are added to it)."""
    table_arns: pulumi.Input[Sequence[str]]
    parameter_arns: pulumi.Input[Sequence[str]]
    control_arns: pulumi.Input[Sequence[str]] = ()
    """The control table in its replica regions: the tasks confirm their write permission there."""
    certificate_arn: str | None = None
    """ACM certificate in this region: HTTPS listener on 443 (else HTTP on 80)."""
    vpc_id: str | None = None
    subnet_ids: list[str] = field(default_factory=list)
    vpc_cidr: str | None = None
    """CIDR for a VPC this component creates when no vpc_id is given."""
    secrets: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """NAME -> secret value: stored in Secrets Manager, injected by ECS, never in the task definition."""
    accelerator_health_path: str | None = None
    """Set with dr:traffic.mode accelerator: an NLB in front of the ALB, checking this path, is the region's
    Global Accelerator endpoint (`components.sites.ecs.entry`)."""


def cluster_name(app: str, stack: str) -> str:
    return aws_name(ECS_CLUSTER, f"{app}-{stack}")


def container_definitions(
    *,
    app: str,
    image: str,
    port: int,
    region: str,
    log_group: str,
    environment: dict[str, str],
    secret_arns: dict[str, str] | None = None,
) -> str:
    """The task's single container, logging to CloudWatch; secrets by ARN only. JSON as ECS expects it."""
    return json.dumps(
        [
            {
                "name": app,
                "image": image,
                "essential": True,
                "portMappings": [{"containerPort": port, "protocol": "tcp"}],
                "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
                "secrets": [{"name": k, "valueFrom": v} for k, v in sorted((secret_arns or {}).items())],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": log_group,
                        "awslogs-region": region,
                        "awslogs-stream-prefix": app,
                    },
                },
            }
        ],
        sort_keys=True,
    )


class RegionalService(pulumi.ComponentResource):
    """One region's copy of the application behind its own load balancer.

    `desired_count` is `ignore_changes`: the orchestrator scales a standby up on failover, and
    the next deploy must not scale it back down.
    """

    alb: aws.lb.LoadBalancer
    service: aws.ecs.Service
    dns_name: pulumi.Output[str]
    zone_id: pulumi.Output[str]
    scheme: Scheme
    cluster_name: str
    service_name: str
    vpc_id: pulumi.Input[str]
    subnet_ids: list
    """The subnets of the load balancer and the tasks (given in config, or of the VPC this component creates)."""
    accelerator_endpoint_arn: pulumi.Output[str] | None
    """The NLB Global Accelerator sends this region's traffic to (None without dr:traffic.mode accelerator)."""

    def __init__(
        self,
        name: str,
        args: RegionalServiceArgs,
        provider: aws.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("dr:compute:RegionalService", name, None, opts)
        self._aws_provider = provider
        self._child = pulumi.ResourceOptions(parent=self, provider=provider)
        https = args.certificate_arn is not None
        self.scheme = "https" if https else "http"
        vpc_id, subnet_ids = self._network(name, args)
        self.vpc_id, self.subnet_ids = vpc_id, subnet_ids
        task_sg, target_group, listener = self._load_balancer(name, args, vpc_id, subnet_ids)
        self.accelerator_endpoint_arn = None
        if args.accelerator_health_path is not None:
            self.accelerator_endpoint_arn = declare_accelerator_entry(
                name,
                alb=self.alb,
                alb_listener=listener,
                port=443 if https else 80,
                https=https,
                vpc_id=vpc_id,
                subnet_ids=subnet_ids,
                accelerator_health_path=args.accelerator_health_path,
                opts=self._child,
            ).arn
        self.cluster_name = cluster_name(args.app, args.stack)
        self.service_name = aws_name(ECS_SERVICE, args.app)
        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=self.cluster_name,
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            opts=self._child,
        )
        task = self._task_definition(name, args)
        self.service = aws.ecs.Service(
            f"{name}-service",
            name=self.service_name,
            cluster=cluster.arn,
            task_definition=task.arn,
            desired_count=args.desired_count,
            launch_type="FARGATE",
            health_check_grace_period_seconds=30,
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=subnet_ids, security_groups=[task_sg.id], assign_public_ip=True
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=target_group.arn, container_name=args.app, container_port=args.port
                )
            ],
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, ignore_changes=["desiredCount"], depends_on=[listener]
            ),
        )
        self.dns_name = self.alb.dns_name
        self.zone_id = self.alb.zone_id
        self.register_outputs({"dnsName": self.dns_name, "serviceArn": self.service.arn})

    def _network(self, name: str, args: RegionalServiceArgs) -> tuple[pulumi.Input[str], list]:
        """The VPC and subnets given in config, or a VPC of public subnets this component creates."""
        if args.vpc_id:
            return args.vpc_id, list(args.subnet_ids)
        vpc = PublicVpc(
            f"{name}-net",
            cidr=args.vpc_cidr or "10.10.0.0/16",
            provider=self._aws_provider,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return vpc.vpc_id, vpc.subnet_ids

    def _load_balancer(
        self,
        name: str,
        args: RegionalServiceArgs,
        vpc_id: pulumi.Input[str],
        subnet_ids: list,
    ) -> tuple[aws.ec2.SecurityGroup, aws.lb.TargetGroup, aws.lb.Listener]:
        """The public ALB (HTTPS on 443 with the region's certificate, else HTTP on 80) forwarding to a target
        group that checks the health path; returns the tasks' security group (reachable from the ALB only), the
        target group and the listener."""
        child = self._child
        https = args.certificate_arn is not None
        listen_port = 443 if https else 80
        everywhere = [aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"])]
        alb_sg = aws.ec2.SecurityGroup(
            autonamed(SECURITY_GROUP, f"{name}-alb"),
            vpc_id=vpc_id,
            description="Public listener of the DR load balancer",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=listen_port, to_port=listen_port, cidr_blocks=["0.0.0.0/0"]
                )
            ],
            egress=everywhere,
            opts=child,
        )
        task_sg = aws.ec2.SecurityGroup(
            autonamed(SECURITY_GROUP, f"{name}-tasks"),
            vpc_id=vpc_id,
            description="Application tasks, reachable only from the load balancer",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=args.port, to_port=args.port, security_groups=[alb_sg.id]
                )
            ],
            egress=everywhere,
            opts=child,
        )
        # Load balancer and target group names stop at 32 characters, Pulumi's 8-character suffix included.
        self.alb = aws.lb.LoadBalancer(
            autonamed(LOAD_BALANCER, f"{name}-alb"),
            load_balancer_type="application",
            security_groups=[alb_sg.id],
            subnets=subnet_ids,
            drop_invalid_header_fields=True,
            opts=child,
        )
        target_group = aws.lb.TargetGroup(
            autonamed(TARGET_GROUP, f"{name}-tg"),
            port=args.port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=vpc_id,
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                path=args.health_path,
                matcher="200",
                interval=10,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=2,
            ),
            opts=child,
        )
        listener = aws.lb.Listener(
            f"{name}-listener",
            load_balancer_arn=self.alb.arn,
            port=listen_port,
            protocol="HTTPS" if https else "HTTP",
            certificate_arn=args.certificate_arn,
            ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06" if https else None,
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)],
            opts=child,
        )
        return task_sg, target_group, listener

    def _task_definition(self, name: str, args: RegionalServiceArgs) -> aws.ecs.TaskDefinition:
        """The Fargate task: its log group, the execution role (image pull, logs, the app's secrets, which are
        stored in Secrets Manager and injected by ECS) and the task role (the data table, the active-region
        parameter and the control table only)."""
        child = self._child
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=aws_name(LOG_GROUP, f"/ecs/{args.app}-{args.stack}"),
            retention_in_days=30,
            opts=child,
        )
        execution_role = aws.iam.Role(
            autonamed(IAM_ROLE, f"{name}-exec"), assume_role_policy=json.dumps(ECS_TASKS_TRUST), opts=child
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-exec", role=execution_role.name, policy_arn=TASK_EXECUTION_POLICY_ARN, opts=child
        )
        secret_arns = self._secrets(name, args, execution_role)
        task_role = aws.iam.Role(
            autonamed(IAM_ROLE, f"{name}-task"), assume_role_policy=json.dumps(ECS_TASKS_TRUST), opts=child
        )
        aws.iam.RolePolicy(
            f"{name}-task",
            role=task_role.id,
            policy=pulumi.Output.all(args.table_arns, args.parameter_arns, args.control_arns).apply(
                lambda a: json.dumps(task_policy(table_arns=a[0], parameter_arns=a[1], control_table_arns=a[2]))
            ),
            opts=child,
        )
        return aws.ecs.TaskDefinition(
            f"{name}-task",
            family=aws_name(TASK_DEFINITION, f"{args.app}-{args.stack}"),
            cpu=str(args.cpu),
            memory=str(args.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            container_definitions=pulumi.Output.all(log_group.name, pulumi.Output.all(**secret_arns)).apply(
                lambda a: container_definitions(
                    app=args.app,
                    image=args.image,
                    port=args.port,
                    region=args.region,
                    log_group=a[0],
                    environment=args.environment,
                    secret_arns=dict(a[1]),
                )
            ),
            opts=child,
        )

    def _secrets(
        self, name: str, args: RegionalServiceArgs, execution_role: aws.iam.Role
    ) -> dict[str, pulumi.Output[str]]:
        """Each app secret in Secrets Manager, readable by the execution role only; NAME -> its ARN."""
        child = self._child
        secret_arns: dict[str, pulumi.Output[str]] = {}
        for secret_name, value in sorted(args.secrets.items()):
            secret = aws.secretsmanager.Secret(
                f"{name}-{secret_name.lower().replace('_', '-')}",
                name_prefix=aws_name_prefix(SECRET, f"{args.app}/{args.stack}/{secret_name}-"),
                recovery_window_in_days=7,
                opts=child,
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-{secret_name.lower().replace('_', '-')}",
                secret_id=secret.id,
                secret_string=pulumi.Output.secret(value),
                opts=child,
            )
            secret_arns[secret_name] = secret.arn
        if secret_arns:
            aws.iam.RolePolicy(
                f"{name}-exec-secrets",
                role=execution_role.id,
                policy=pulumi.Output.all(*secret_arns.values()).apply(
                    lambda arns: json.dumps(secrets_read_policy(list(arns)))
                ),
                opts=child,
            )
        return secret_arns
