"""Pulumi mocks that answer like AWS would and record exactly what the program sends the engine.

Used by the offline preview and by the tests (tests/conftest.py installs them once per process).
Recording happens in the mock *monitor* (`drctl.mock_monitor`), so options such as protect and ignoreChanges are read
from the same RegisterResource requests the real engine receives; the other providers' answers are in
`drctl.mock_providers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from drctl.mock_monitor import RecordedResource, RecordingMonitor, unwrap_secrets
from drctl.mock_providers import (
    DOKS_CLUSTER,
    DUMMY_CERTIFICATE_PEM,
    DUMMY_CSR_PEM,
    DUMMY_PRIVATE_KEY_PEM,
    DUMMY_TOKEN,
    OVH_DATACENTERS,
    OVH_SERVERS,
    digitalocean_call,
    digitalocean_resource,
    fresh_token,
    kubernetes_state,
    offline_ovh_servers,
    ovh_server,
    preview_random_string,
    stable_hex,
    stable_uuid,
    tls_state,
)

ACCOUNT_ID = "123456789012"
POWERTOOLS_ACCOUNT = "017000801446"  # the account AWS publishes the Powertools layers from

# type token -> (service, resource path template) used to fake ARNs the way AWS shapes them
_ARN_SHAPES = {
    "aws:dynamodb/table:Table": ("dynamodb", "table/{name}"),
    "aws:ecs/cluster:Cluster": ("ecs", "cluster/{name}"),
    "aws:ecs/taskDefinition:TaskDefinition": ("ecs", "task-definition/{name}:1"),
    "aws:lb/loadBalancer:LoadBalancer": ("elasticloadbalancing", "loadbalancer/app/{name}/0123456789abcdef"),
    "aws:lb/targetGroup:TargetGroup": ("elasticloadbalancing", "targetgroup/{name}/0123456789abcdef"),
    "aws:lb/listener:Listener": ("elasticloadbalancing", "listener/app/{name}/0123456789abcdef"),
    "aws:sns/topic:Topic": ("sns", "{name}"),
    "aws:kms/key:Key": ("kms", "key/{id}"),
    "aws:lambda/function:Function": ("lambda", "function:{name}"),
    "aws:cloudwatch/logGroup:LogGroup": ("logs", "log-group:{name}"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("cloudwatch", "alarm:{name}"),
    "aws:cloudwatch/eventRule:EventRule": ("events", "rule/{name}"),
    "aws:ssm/parameter:Parameter": ("ssm", "parameter{name}"),
    "aws:ec2/vpc:Vpc": ("ec2", "vpc/{id}"),
    "aws:secretsmanager/secret:Secret": ("secretsmanager", "secret:{name}-AbCdEf"),
    "aws:ec2/subnet:Subnet": ("ec2", "subnet/{id}"),
    "aws:ec2/securityGroup:SecurityGroup": ("ec2", "security-group/{id}"),
    "aws:sqs/queue:Queue": ("sqs", "{name}"),
}
_GLOBAL_ARN_SHAPES = {
    "aws:iam/role:Role": ("iam", "role/{name}"),
    "aws:iam/policy:Policy": ("iam", "policy/{name}"),
    "aws:route53/healthCheck:HealthCheck": ("route53", "healthcheck/{id}"),
    "aws:globalaccelerator/accelerator:Accelerator": ("globalaccelerator", "accelerator/{id}"),
    "aws:globalaccelerator/listener:Listener": ("globalaccelerator", "accelerator/listener/{id}"),
    "aws:globalaccelerator/endpointGroup:EndpointGroup": ("globalaccelerator", "accelerator/endpoint-group/{id}"),
}
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
}
_ALB_ZONE = {"us-east-1": "Z35SXDOTRQ7X7K", "us-east-2": "Z3AADJGX6KTTL2", "us-west-2": "Z1H1FL5HABSF5"}
_ARN_SHAPES.update(
    {
        "aws:rolesanywhere/trustAnchor:TrustAnchor": ("rolesanywhere", "trust-anchor/{id}"),
        "aws:rolesanywhere/profile:Profile": ("rolesanywhere", "profile/{id}"),
    }
)
STACK_REFERENCE = "pulumi:pulumi:StackReference"


@dataclass(frozen=True)
class StackOutputs:
    """A stack's outputs as a StackReference reads them: plain values, and which of them are secret."""

    values: dict[str, Any]
    secret_names: frozenset[str] = frozenset()


class AwsLikeMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and invokes with AWS-shaped ids, ARNs and DNS names."""

    def __init__(
        self, stack_outputs: dict[str, StackOutputs] | None = None, ovh_servers: dict[str, dict] | None = None
    ) -> None:
        self.ovh_servers: dict[str, dict] = dict(ovh_servers or {})
        """Service name -> the OVHcloud server the lookup answers (before OVH_SERVERS and the default)."""
        self.provider_regions: dict[str, str] = {}
        self.cluster_regions: dict[str, str] = {}
        """DOKS cluster id -> its region slug, so a Kubernetes provider identified by it maps to the slug."""
        self.calls: list[tuple[str, dict, str | None]] = []
        """Each invoke as (token, arguments, region of its provider)."""
        self.stack_outputs: dict[str, StackOutputs] = dict(stack_outputs or {})
        """Fully qualified stack name -> what a StackReference to it reads (the offline preview of that stack)."""
        self.provider_inputs: dict[str, dict] = {}
        """Explicit provider name -> its inputs as the provider plugin receives them (secrets decrypted): what a
        test checks to see that a provider got the stack's credentials. Kept in memory only."""

    def _stack_reference(self, name: str) -> tuple[str, dict]:
        """What the engine answers for a StackReference: `{"outputs": {...}}` of the referenced stack."""
        if name not in self.stack_outputs:
            raise ValueError(
                f"the offline preview has no outputs for stack {name!r} "
                f"(known: {', '.join(sorted(self.stack_outputs)) or 'none'})"
            )
        found = self.stack_outputs[name]
        return name, {"name": name, "outputs": dict(found.values), "secretOutputNames": sorted(found.secret_names)}

    def region_of(self, provider_ref: str | None) -> str | None:
        """The region of the provider a request names; None for the default provider (no reference)."""
        return None if provider_ref is None else self.provider_regions.get(provider_ref)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(str(inputs.get("name") or args.resource_id or args.name))
        if args.typ.startswith("pulumi:providers:"):
            self.provider_inputs[args.name] = unwrap_secrets(inputs)
            return f"{args.name}-id", inputs  # RecordingMonitor maps its reference to the region
        if args.typ.startswith("kubernetes:"):
            return kubernetes_state(args.typ, args.name, inputs)
        if args.typ.startswith("tls:"):
            return stable_uuid(f"{args.typ}/{args.name}"), tls_state(args.typ, inputs)
        if args.typ.startswith("digitalocean:"):
            return digitalocean_resource(args.typ, args.name, inputs)
        region = self.region_of(args.provider) or "us-east-1"
        rid = _ID_PREFIX.get(args.typ, "") + stable_hex(f"{args.typ}/{args.name}")
        state = dict(inputs)
        name = inputs.get("name") or f"{args.name}-{stable_hex(args.name, 7)}"
        state.setdefault("name", name)
        if args.typ == "aws:dynamodb/table:Table":
            rid = name
            state["replicas"] = [
                {**r, "arn": f"arn:aws:dynamodb:{r['regionName']}:{ACCOUNT_ID}:table/{name}"}
                for r in inputs.get("replicas", [])
            ]
            state["streamArn"] = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}/stream/2026-01-01T00:00:00.000"
        if args.typ == "aws:lb/loadBalancer:LoadBalancer":
            state["dnsName"] = f"{name}-{stable_hex(name, 8)}.{region}.elb.amazonaws.com"
            state["zoneId"] = _ALB_ZONE.get(region, "Z" + stable_hex(region, 13).upper())
        if args.typ == "aws:globalaccelerator/accelerator:Accelerator":
            state["dnsName"] = f"a{stable_hex(name, 16)}.awsglobalaccelerator.com"
            state["hostedZoneId"] = "Z2BJ6XQ5FK7U4H"
            state["ipSets"] = [{"ipFamily": "IPv4", "ipAddresses": ["192.0.2.10", "192.0.2.11"]}]
        if args.typ == "aws:ssm/parameter:Parameter":
            rid = name
        if args.typ == "aws:sqs/queue:Queue":
            rid = state["url"] = f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{name}"
        if args.typ == "aws:ecs/service:Service":
            state["arn"] = (
                f"arn:aws:ecs:{region}:{ACCOUNT_ID}:service/{inputs.get('cluster', '').split('/')[-1]}/{name}"
            )
        if args.typ in _ARN_SHAPES:
            service, path = _ARN_SHAPES[args.typ]
            state["arn"] = f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{path.format(name=name, id=rid)}"
            if inputs.get("loadBalancerType") == "network":
                state["arn"] = state["arn"].replace("loadbalancer/app/", "loadbalancer/net/")
        elif args.typ in _GLOBAL_ARN_SHAPES:
            service, path = _GLOBAL_ARN_SHAPES[args.typ]
            state["arn"] = f"arn:aws:{service}::{ACCOUNT_ID}:{path.format(name=name, id=rid)}"
        if args.typ == "aws:kms/key:Key":
            state["keyId"] = rid
        if args.typ == "random:index/randomString:RandomString":
            state["result"] = preview_random_string(
                args.name,
                int(inputs["length"]),
                upper=inputs.get("upper", True),
                lower=inputs.get("lower", True),
                numeric=inputs.get("numeric", True),
                special=inputs.get("special", True),
                override_special=inputs.get("overrideSpecial"),
            )
        if args.typ == "command:remote:Command":
            state.update(stdout="", stderr="")
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token.startswith("digitalocean:"):
            answer = digitalocean_call(args)
            if answer is not None:
                return answer
        region = self.region_of(args.provider) or "us-east-1"
        self.calls.append((args.token, dict(args.args), self.region_of(args.provider)))
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/preview",
                "userId": "AIDAPREVIEW",
                "id": ACCOUNT_ID,
            }
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{z}" for z in "abc"]
            return {"names": names, "zoneIds": [f"{region[:3]}-az{i}" for i in (1, 2, 3)], "id": region}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if args.token == "ovh:index/getServer:getServer":
            return ovh_server(args.args["serviceName"], self.ovh_servers)
        if args.token == "aws:ssm/getParameter:getParameter":
            return self._public_parameter(str(args.args.get("name", "")), region)
        raise NotImplementedError(f"the offline mocks do not answer the invoke {args.token}")

    @staticmethod
    def _public_parameter(name: str, region: str) -> dict:
        """AWS's public Powertools parameters hold a layer version ARN; offline, its layer number is unknown
        and answered as 0 (the real preview reads the parameter AWS publishes for the pinned version)."""
        parts = name.split("/")  # /aws/service/powertools/python/<arch>/<runtime>/<version>
        if len(parts) != 8 or parts[1:5] != ["aws", "service", "powertools", "python"]:
            raise NotImplementedError(f"the offline mocks do not answer the SSM parameter {name}")
        arch, runtime = parts[5], parts[6].replace(".", "")
        arn = f"arn:aws:lambda:{region}:{POWERTOOLS_ACCOUNT}:layer:AWSLambdaPowertoolsPythonV3-{runtime}-{arch}:0"
        return {
            "name": name,
            "value": arn,
            "insecureValue": arn,
            "type": "String",
            "version": 1,
            "arn": f"arn:aws:ssm:{region}::parameter{name}",
            "id": name,
            "withDecryption": True,
        }


def install(
    project: str = "dynamodb-dr",
    stack: str = "test",
    preview: bool = True,
    stack_outputs: dict[str, StackOutputs] | None = None,
    ovh_servers: dict[str, dict] | None = None,
) -> RecordingMonitor:
    """Set process-global Pulumi mocks; returns the monitor whose `recorded` list fills as resources register.

    Each install starts a new root stack resource, so one process can preview several stacks in turn (the
    tiers of a deployment); `stack_outputs` answers the StackReferences of the stack about to run."""
    from pulumi.runtime import settings

    settings.set_root_resource(None)  # type: ignore[arg-type]
    mocks = AwsLikeMocks(stack_outputs, ovh_servers)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    return monitor


__all__ = [
    "ACCOUNT_ID",
    "DOKS_CLUSTER",
    "DUMMY_CERTIFICATE_PEM",
    "DUMMY_CSR_PEM",
    "DUMMY_PRIVATE_KEY_PEM",
    "DUMMY_TOKEN",
    "OVH_DATACENTERS",
    "OVH_SERVERS",
    "POWERTOOLS_ACCOUNT",
    "STACK_REFERENCE",
    "AwsLikeMocks",
    "RecordedResource",
    "RecordingMonitor",
    "StackOutputs",
    "fresh_token",
    "install",
    "offline_ovh_servers",
    "preview_random_string",
]
