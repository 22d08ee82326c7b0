"""Pulumi mocks that answer like AWS would and record exactly what the program sends the engine.

Used by the offline preview and by the tests (tests/conftest.py installs them once per process).
Recording happens in the mock *monitor*, so options such as protect and ignoreChanges are read
from the same RegisterResource requests the real engine receives.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor

ACCOUNT_ID = "123456789012"
POWERTOOLS_ACCOUNT = "017000801446"  # the account AWS publishes the Powertools layers from
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
_ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"

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
}
_GLOBAL_ARN_SHAPES = {
    "aws:iam/role:Role": ("iam", "role/{name}"),
    "aws:iam/policy:Policy": ("iam", "policy/{name}"),
    "aws:route53/healthCheck:HealthCheck": ("route53", "healthcheck/{id}"),
}
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
}
_ALB_ZONE = {"us-east-1": "Z35SXDOTRQ7X7K", "us-east-2": "Z3AADJGX6KTTL2", "us-west-2": "Z1H1FL5HABSF5"}


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    provider: str
    region: Optional[str]
    inputs: dict
    protect: bool
    ignore_changes: list[str]
    depends_on: list[str]
    outputs: dict = field(default_factory=dict)


def _hex(text: str, n: int = 17) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _plain(value: Any) -> Any:
    """Turn the wire form into readable JSON: secrets -> "[secret]", unknowns -> "[unknown]"."""
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SECRET_SIG:
            return "[secret]"
        if sig == _ARCHIVE_SIG:
            return {"archive": {k: _plain(v) for k, v in value.items() if k != _SIG_KEY}}
        if sig == _ASSET_SIG:
            return {"asset": {k: _plain(v) for k, v in value.items() if k != _SIG_KEY}}
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value == _UNKNOWN:
        return "[unknown]"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Structs carry every number as a double
    return value


class AwsLikeMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and invokes with AWS-shaped ids, ARNs and DNS names."""

    def __init__(self) -> None:
        self.provider_regions: dict[str, str] = {}
        self.calls: list[tuple[str, dict, Optional[str]]] = []
        """Each invoke as (token, arguments, region of its provider)."""

    def region_of(self, provider_ref: str) -> Optional[str]:
        return self.provider_regions.get(provider_ref)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-id", inputs  # RecordingMonitor maps its reference to the region
        region = self.region_of(args.provider) or "us-east-1"
        rid = _ID_PREFIX.get(args.typ, "") + _hex(f"{args.typ}/{args.name}")
        state = dict(inputs)
        name = inputs.get("name") or f"{args.name}-{_hex(args.name, 7)}"
        state.setdefault("name", name)
        if args.typ == "aws:dynamodb/table:Table":
            rid = name
            state["replicas"] = [
                {**r, "arn": f"arn:aws:dynamodb:{r['regionName']}:{ACCOUNT_ID}:table/{name}"}
                for r in inputs.get("replicas", [])
            ]
            state["streamArn"] = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{name}/stream/2026-01-01T00:00:00.000"
        if args.typ == "aws:lb/loadBalancer:LoadBalancer":
            state["dnsName"] = f"{name}-{_hex(name, 8)}.{region}.elb.amazonaws.com"
            state["zoneId"] = _ALB_ZONE.get(region, "Z" + _hex(region, 13).upper())
        if args.typ == "aws:ssm/parameter:Parameter":
            rid = name
        if args.typ == "aws:ecs/service:Service":
            state["arn"] = f"arn:aws:ecs:{region}:{ACCOUNT_ID}:service/{inputs.get('cluster', '').split('/')[-1]}/{name}"
        if args.typ in _ARN_SHAPES:
            service, path = _ARN_SHAPES[args.typ]
            state["arn"] = f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{path.format(name=name, id=rid)}"
        elif args.typ in _GLOBAL_ARN_SHAPES:
            service, path = _GLOBAL_ARN_SHAPES[args.typ]
            state["arn"] = f"arn:aws:{service}::{ACCOUNT_ID}:{path.format(name=name, id=rid)}"
        if args.typ == "aws:kms/key:Key":
            state["keyId"] = rid
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs):
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
        return {"name": name, "value": arn, "insecureValue": arn, "type": "String", "version": 1,
                "arn": f"arn:aws:ssm:{region}::parameter{name}", "id": name, "withDecryption": True}


class RecordingMonitor(MockMonitor):
    """A MockMonitor that keeps each RegisterResource request as a RecordedResource."""

    def __init__(self, mocks: AwsLikeMocks) -> None:
        super().__init__(mocks)
        self.aws_mocks = mocks
        self.recorded: list[RecordedResource] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        inputs = _plain(json_format.MessageToDict(request.object))
        if request.type.startswith("pulumi:providers:") and "region" in inputs:
            self.aws_mocks.provider_regions[f"{response.urn}::{response.id}"] = inputs["region"]
        outputs = _plain(json_format.MessageToDict(response.object)) if response.object else {}
        record = RecordedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=bool(request.custom),
            provider=request.provider,
            region=(
                inputs.get("region")
                if request.type.startswith("pulumi:providers:")
                else self.aws_mocks.region_of(request.provider)
            ),
            inputs=inputs,
            protect=bool(request.protect),
            ignore_changes=list(request.ignoreChanges),
            depends_on=list(request.dependencies),
            outputs=outputs,
        )
        with self._lock:
            self.recorded.append(record)
        return response

    def reset(self) -> None:
        with self._lock:
            self.recorded.clear()
        self.aws_mocks.provider_regions.clear()
        self.aws_mocks.calls.clear()
        self.resources.clear()


def install(project: str = "dynamodb-dr", stack: str = "test", preview: bool = True) -> RecordingMonitor:
    """Set process-global Pulumi mocks; returns the monitor whose `recorded` list fills as resources register."""
    mocks = AwsLikeMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    return monitor
