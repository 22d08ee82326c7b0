"""Names AWS accepts: the DNS names the stack derives and the physical names Pulumi generates.

Plain functions (no Pulumi import), shared by the config validation, the components and the tests, so a
name that AWS would reject is refused at preview instead of half-way through a `pulumi up`.
"""

from __future__ import annotations

import hashlib
from typing import Optional

# Pulumi auto-names a resource `<logical name>-<7 random hex characters>`: 8 characters more.
AUTONAME_SUFFIX_LENGTH = 8
LOAD_BALANCER_NAME_MAX = 32
"""Application load balancers and target groups."""
IAM_ROLE_NAME_MAX = 64
EVENT_RULE_NAME_MAX = 64
LAMBDA_FUNCTION_NAME_MAX = 64
DNS_NAME_MAX = 253
DNS_LABEL_MAX = 63
_HASH_LENGTH = 6


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


def dns_name_problem(name: str) -> Optional[str]:
    """Why Route 53 would refuse `name` (total or label length), or None."""
    text = name.rstrip(".")
    if len(text) > DNS_NAME_MAX:
        return f"{text} is {len(text)} characters; DNS names stop at {DNS_NAME_MAX}"
    for label in text.split("."):
        if len(label) > DNS_LABEL_MAX:
            return f"label {label!r} of {text} is {len(label)} characters; DNS labels stop at {DNS_LABEL_MAX}"
    return None
