"""The rules of `policies.rules` as pulumi_policy policies (constructing the PolicyPack is left to
`policies/__main__.py`, because constructing it starts the analyzer server)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from components.tiers import TIER_TAG, tier_kind
from policies.rules import RESOURCE_RULES, STACK_RULE_SCOPES, STACK_RULES, Res

# The CLI prints a policy's description with each of its violations: say there where the level is set.
LEVEL_NOTE = "Its level (mandatory, advisory, disabled) is set in the file given as --policy-pack-config."


def _region(provider) -> str | None:
    props = getattr(provider, "props", None) or {}
    return props.get("region") if hasattr(props, "get") else None


def _tags(props) -> dict:
    """AWS-style tag maps; other providers' tags (DigitalOcean's are a list of strings) carry no DR metadata."""
    tags = props.get("tags") if hasattr(props, "get") else None
    return dict(tags) if tags and hasattr(tags, "keys") else {}


def res_from_resource_args(args: ResourceValidationArgs) -> Res:
    return Res(
        type=args.resource_type,
        props=args.props,
        urn=args.urn,
        region=_region(args.provider),
        protect=bool(getattr(args.opts, "protect", False)),
        tags=_tags(args.props),
    )


def res_from_policy_resource(r) -> Res:
    return Res(
        type=r.resource_type,
        props=r.props,
        urn=r.urn,
        region=_region(r.provider),
        protect=bool(getattr(r.opts, "protect", False)),
        tags=_tags(r.props),
    )


def _resource_validator(rule):
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule(res_from_resource_args(args)):
            report_violation(message, None)  # no URN: pulumi_policy reports it against the resource validated

    return validate


def stack_kind(stack_tags) -> str:
    """ "single" for the whole deployment in one stack, else the kind of tier its `dr:tier` tag names."""
    return tier_kind((stack_tags or {}).get(TIER_TAG))


def _stack_validator(name: str, rule):
    scopes = STACK_RULE_SCOPES[name]

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        if stack_kind(getattr(args, "stack_tags", None)) not in scopes:
            return  # this tier does not hold what the rule reasons about (see STACK_RULE_SCOPES)
        for urn, message in rule([res_from_policy_resource(r) for r in args.resources]):
            report_violation(message, urn)

    return validate


def build_policies(default_level: EnforcementLevel = EnforcementLevel.MANDATORY) -> list:
    """Every rule as a policy; levels can be overridden per policy with `--policy-pack-config`."""
    policies: list = [
        ResourceValidationPolicy(
            name=name,
            description=f"{desc}. {LEVEL_NOTE}",
            validate=_resource_validator(rule),
            enforcement_level=default_level,
        )
        for name, (desc, rule) in RESOURCE_RULES.items()
    ]
    policies += [
        StackValidationPolicy(
            name=name,
            description=f"{desc}. {LEVEL_NOTE}",
            validate=_stack_validator(name, rule),
            enforcement_level=default_level,
        )
        for name, (desc, rule) in STACK_RULES.items()
    ]
    return policies
