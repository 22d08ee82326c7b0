"""Names AWS accepts: the DNS names the stack derives and the physical names Pulumi generates.

Plain functions (no Pulumi import), shared by the config validation, the components and the tests, so a
name that AWS would reject is refused at preview instead of half-way through a `pulumi up`.

Every physical AWS name the program declares goes through this module: an explicit name through
`aws_name(type, text)`, a name prefix through `aws_name_prefix(type, text)`, and a name Pulumi generates
(`<logical name>-<7 random hex>`) through `autonamed(type, logical)`. `AWS_NAME_RULES` is the table of
AWS's limits per resource type that these helpers and the tests (tests/test_names.py) share.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Pulumi auto-names a resource `<logical name>-<7 random hex characters>`: 8 characters more. Where the
# provider knows the limit (an IAM role's 64), a longer logical name fails the preview ("plus 7 random chars
# is longer than maximum length"); where it does not, AWS refuses the name during `pulumi up`.
AUTONAME_RANDOM_LENGTH = 7
AUTONAME_SUFFIX_LENGTH = AUTONAME_RANDOM_LENGTH + 1
# A name prefix (`name_prefix`) gets a 26-character unique suffix from the provider (timestamp + counter).
PREFIX_SUFFIX_LENGTH = 26
LOAD_BALANCER_NAME_MAX = 32
"""Application load balancers and target groups."""
IAM_ROLE_NAME_MAX = 64
EVENT_RULE_NAME_MAX = 64
LAMBDA_FUNCTION_NAME_MAX = 64
DNS_NAME_MAX = 253
DNS_LABEL_MAX = 63
_HASH_LENGTH = 6


@dataclass(frozen=True)
class NameRule:
    """What AWS accepts as the name of one resource type."""

    max_length: int
    allowed: str
    """The characters AWS accepts, as the inside of a regex character class."""
    prefix_max: int | None = None
    """The longest `name_prefix` the provider accepts (None: the type has no name prefix)."""
    field: str = "name"
    """The input that holds the name (`family` for a task definition)."""
    autonamed: bool = True
    """Pulumi generates the name (`<logical>-<7 hex>`) when the program gives none."""
    edges: str = ""
    """Characters a name may not start or end with."""
    min_length: int = 1
    reserved_prefixes: tuple[str, ...] = ()
    """Beginnings AWS refuses (`internal-` for a load balancer, `sg-` for a security group)."""

    def problem(self, name: str, *, prefix: bool = False) -> str | None:
        """Why AWS would refuse `name` (or the name prefix `name`), or None."""
        limit = self.prefix_max if prefix else self.max_length
        what = "name prefix" if prefix else "name"
        if limit is not None and len(name) > limit:
            return f"{what} {name!r} is {len(name)} characters; the limit is {limit}"
        if not prefix and len(name) < self.min_length:
            return f"{what} {name!r} is shorter than {self.min_length} characters"
        bad = sorted(set(re.sub(f"[{self.allowed}]", "", name)))
        if bad:
            return f"{what} {name!r} has characters AWS refuses here: {''.join(bad)!r}"
        if self.edges and name and (name[0] in self.edges or (not prefix and name[-1] in self.edges)):
            return f"{what} {name!r} starts or ends with one of {self.edges!r}"
        reserved = next((p for p in self.reserved_prefixes if name.lower().startswith(p)), None)
        if reserved:
            return f"{what} {name!r} starts with {reserved!r}, which AWS reserves"
        return None


# Type tokens of the named resources the components declare.
IAM_ROLE = "aws:iam/role:Role"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
SQS_QUEUE = "aws:sqs/queue:Queue"
SNS_TOPIC = "aws:sns/topic:Topic"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
DYNAMODB_TABLE = "aws:dynamodb/table:Table"
SSM_PARAMETER = "aws:ssm/parameter:Parameter"
TRUST_ANCHOR = "aws:rolesanywhere/trustAnchor:TrustAnchor"
ROLES_ANYWHERE_PROFILE = "aws:rolesanywhere/profile:Profile"
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
ECS_SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
SECRET = "aws:secretsmanager/secret:Secret"
SCHEDULE = "aws:scheduler/schedule:Schedule"
ACCELERATOR = "aws:globalaccelerator/accelerator:Accelerator"

_IAM = r"\w+=,.@-"
# AWS's limits per Pulumi type token (the API references' constraints; prefix limits are the provider's).
AWS_NAME_RULES: dict[str, NameRule] = {
    "aws:iam/role:Role": NameRule(IAM_ROLE_NAME_MAX, _IAM, prefix_max=38),
    "aws:iam/rolePolicy:RolePolicy": NameRule(128, _IAM, prefix_max=102),
    "aws:iam/policy:Policy": NameRule(128, _IAM, prefix_max=102),
    "aws:lambda/function:Function": NameRule(LAMBDA_FUNCTION_NAME_MAX, "A-Za-z0-9_-"),
    "aws:cloudwatch/eventRule:EventRule": NameRule(EVENT_RULE_NAME_MAX, "A-Za-z0-9._-", prefix_max=38),
    "aws:sqs/queue:Queue": NameRule(80, "A-Za-z0-9_-", prefix_max=54),
    "aws:sns/topic:Topic": NameRule(256, "A-Za-z0-9_-", prefix_max=230),
    "aws:lb/loadBalancer:LoadBalancer": NameRule(
        LOAD_BALANCER_NAME_MAX, "A-Za-z0-9-", prefix_max=6, edges="-", reserved_prefixes=("internal-",)
    ),
    "aws:lb/targetGroup:TargetGroup": NameRule(LOAD_BALANCER_NAME_MAX, "A-Za-z0-9-", prefix_max=6, edges="-"),
    "aws:cloudwatch/logGroup:LogGroup": NameRule(512, "A-Za-z0-9._/#-", prefix_max=483),
    "aws:cloudwatch/metricAlarm:MetricAlarm": NameRule(255, r"\x20-\x7e"),
    "aws:cloudwatch/dashboard:Dashboard": NameRule(255, "A-Za-z0-9_-", field="dashboardName", autonamed=False),
    "aws:dynamodb/table:Table": NameRule(255, "A-Za-z0-9_.-", min_length=3),
    "aws:ssm/parameter:Parameter": NameRule(1011, "A-Za-z0-9_./-"),
    "aws:kms/alias:Alias": NameRule(256, "A-Za-z0-9/_-", prefix_max=230),
    "aws:rolesanywhere/trustAnchor:TrustAnchor": NameRule(255, "A-Za-z0-9 _-"),
    "aws:rolesanywhere/profile:Profile": NameRule(255, "A-Za-z0-9 _-"),
    "aws:ecs/cluster:Cluster": NameRule(255, "A-Za-z0-9_-"),
    "aws:ecs/service:Service": NameRule(255, "A-Za-z0-9_-"),
    "aws:ecs/taskDefinition:TaskDefinition": NameRule(255, "A-Za-z0-9_-", field="family", autonamed=False),
    "aws:ec2/securityGroup:SecurityGroup": NameRule(
        255, r"A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*", prefix_max=229, reserved_prefixes=("sg-",)
    ),
    "aws:secretsmanager/secret:Secret": NameRule(512, "A-Za-z0-9/_+=.@-", prefix_max=486),
    "aws:scheduler/schedule:Schedule": NameRule(64, "A-Za-z0-9._-", prefix_max=38),
    # The provider requires a name: 64 characters, letters, digits and hyphens, not at either end.
    "aws:globalaccelerator/accelerator:Accelerator": NameRule(64, "A-Za-z0-9-", edges="-", autonamed=False),
}
"""Resource types with a physical name, and what AWS accepts there."""

AWS_UNNAMED_TYPES = frozenset(
    {
        "aws:cloudwatch/eventTarget:EventTarget",  # target_id: generated by the provider when not given
        "aws:dynamodb/tableReplica:TableReplica",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:fis/experimentTemplate:ExperimentTemplate",  # named by its Name tag
        "aws:globalaccelerator/endpointGroup:EndpointGroup",
        "aws:globalaccelerator/listener:Listener",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:kms/key:Key",
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
        "aws:lambda/permission:Permission",  # statement_id: generated by the provider when not given
        "aws:lb/listener:Listener",
        "aws:lb/targetGroupAttachment:TargetGroupAttachment",
        "aws:route53/healthCheck:HealthCheck",  # named by its Name tag (tag values: 256 characters)
        "aws:route53/record:Record",  # DNS names: dns_name_problem
        "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:sns/topicSubscription:TopicSubscription",
    }
)
"""AWS resource types the program declares that have no physical name of their own."""
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256


def fit_name(name: str, max_length: int) -> str:
    """`name` when it fits, else its prefix plus a short hash of the whole name.

    Deterministic (the same input gives the same name on every run and machine) and distinct for
    distinct inputs, so a long name neither changes between deploys nor collides with a sibling.
    """
    if max_length <= _HASH_LENGTH + 1:
        raise ValueError(f"cannot fit a name into {max_length} characters")
    if len(name) <= max_length:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LENGTH]
    return f"{name[: max_length - _HASH_LENGTH - 1].rstrip('-')}-{digest}"


def logical_name(name: str, physical_max: int) -> str:
    """A logical name whose auto-generated physical name (logical + 8 characters) fits `physical_max`."""
    return fit_name(name, physical_max - AUTONAME_SUFFIX_LENGTH)


def _rule(type_token: str) -> NameRule:
    try:
        return AWS_NAME_RULES[type_token]
    except KeyError:
        raise ValueError(f"no naming rule for {type_token}; add it to AWS_NAME_RULES") from None


def _fit(text: str, allowed: str, limit: int, edges: str = "", reserved: tuple[str, ...] = ()) -> str:
    """`text` with characters outside `allowed` replaced by '-', fitted to `limit`. A name that had to change
    characters always ends with a hash of the original, so two texts that differ only there stay distinct."""
    clean = re.sub(f"[^{allowed}]", "-", text)
    if any(clean.lower().startswith(p) for p in reserved):
        clean = "dr-" + clean  # a beginning AWS reserves
    if limit <= _HASH_LENGTH + 1:  # no room for a hash (a load balancer's 6-character name prefix)
        fitted = clean[:limit]
    elif clean == text:
        fitted = fit_name(text, limit)
    else:
        digest = hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]
        fitted = f"{clean[: limit - _HASH_LENGTH - 1].rstrip('-')}-{digest}"
    return fitted.strip(edges) if edges else fitted


def aws_name(type_token: str, text: str) -> str:
    """The explicit physical name of a `type_token` resource: `text` when AWS accepts it (existing names never
    move), else `text` with refused characters replaced and fitted to the type's limit with a stable hash."""
    rule = _rule(type_token)
    return (
        text
        if rule.problem(text) is None
        else _fit(text, rule.allowed, rule.max_length, rule.edges, rule.reserved_prefixes)
    )


def aws_name_prefix(type_token: str, text: str) -> str:
    """A `name_prefix` the provider accepts for `type_token` (it appends 26 characters of its own)."""
    rule = _rule(type_token)
    if rule.prefix_max is None:
        raise ValueError(f"{type_token} has no name prefix")
    if rule.problem(text, prefix=True) is None:
        return text
    fitted = _fit(text.rstrip("-"), rule.allowed, rule.prefix_max - 1)
    return fitted + "-"


def autonamed(type_token: str, logical: str) -> str:
    """A logical name for a `type_token` resource whose Pulumi auto-name (logical + '-' + 7 hex) AWS accepts."""
    rule = _rule(type_token)
    if not rule.autonamed:
        raise ValueError(f"Pulumi does not auto-name {type_token}")
    if rule.problem(logical + "-" + "0" * AUTONAME_RANDOM_LENGTH) is None:
        return logical
    return _fit(logical, rule.allowed, rule.max_length - AUTONAME_SUFFIX_LENGTH, rule.edges, rule.reserved_prefixes)


def physical_name_problem(type_token: str, inputs: dict, logical: str) -> str | None:
    """Why AWS would refuse the physical name a resource registered with `inputs` gets (its explicit name, its
    name prefix, or Pulumi's auto-name from `logical`), or None. Unknown AWS types are a problem too, so a
    new resource type is classified before it ships."""
    if type_token in AWS_UNNAMED_TYPES:
        return None
    rule = AWS_NAME_RULES.get(type_token)
    if rule is None:
        return f"{type_token} is in neither AWS_NAME_RULES nor AWS_UNNAMED_TYPES"
    name, prefix = inputs.get(rule.field), inputs.get("namePrefix")
    if isinstance(name, str) and name not in ("[unknown]", "[secret]"):
        return rule.problem(name)
    if isinstance(prefix, str):
        return rule.problem(prefix, prefix=True)
    if rule.autonamed:
        return rule.problem(f"{logical}-{'f' * AUTONAME_RANDOM_LENGTH}")
    return f"{type_token} needs an explicit {rule.field}"


def regional_record_name(record_name: str, region: str) -> str:
    """Each region's own name (`us-east-1.api.example.com`): health checks and probes use it, so TLS matches."""
    return f"{region}.{record_name}"


def chain_record_name(record_name: str, link: int) -> str:
    """The name of the failover chain's link `link` (0 is the public name itself)."""
    return record_name if link == 0 else f"failover-{link}.{record_name}"


def record_names(record_name: str, regions: list[str]) -> list[str]:
    """Every DNS name the traffic plane creates for `regions` (primary first)."""
    chain = [chain_record_name(record_name, i) for i in range(max(len(regions) - 1, 1))]
    return chain + [regional_record_name(record_name, r) for r in regions]


def dns_name_problem(name: str) -> str | None:
    """Why Route 53 would refuse `name` (total or label length), or None."""
    text = name.rstrip(".")
    if len(text) > DNS_NAME_MAX:
        return f"{text} is {len(text)} characters; DNS names stop at {DNS_NAME_MAX}"
    for label in text.split("."):
        if len(label) > DNS_LABEL_MAX:
            return f"label {label!r} of {text} is {len(label)} characters; DNS labels stop at {DNS_LABEL_MAX}"
    return None
