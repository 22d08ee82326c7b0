"""What a DOKS node holds, as plain functions: Kubernetes quantities, Droplet size slugs, the share of a node left
to the app's pods, and how many of them fit. The config checks (`components.sites.doks.checks`) use these to
refuse a node pool that cannot hold the configured replicas."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# Droplet size slugs a DOKS node pool takes: Basic (s-), General Purpose (g-, gd-), CPU-Optimized (c-, c2-),
# Memory-Optimized (m-, m3-, m6-) and Storage-Optimized (so-, so1_5-), with an optional disk and CPU vendor.
_SIZE_SLUG = re.compile(
    r"^(?P<family>s|g|gd|c2|m|m3|m6|so|so1_5)-(?P<vcpu>[1-9]\d*)vcpu-(?P<memory>[1-9]\d*)gb"
    r"(?:-\d+gb)?(?:-(?:intel|amd))?$"
)
_CPU_SLUG = re.compile(r"^c-(?P<vcpu>[1-9]\d*)(?:-intel)?$")  # CPU-Optimized: 2 GB per vCPU
_SMALL_SLUG = re.compile(r"^s-(?P<vcpu>[1-9]\d*)vcpu-(?P<memory>\d+)mb(?:-\d+gb)?$")  # s-1vcpu-512mb-10gb
_GPU_SLUG = re.compile(r"^gpu-")
MIN_NODE_MEMORY_GB = 2
"""DOKS's smallest node (s-1vcpu-2gb): smaller Droplets cannot run the cluster's own pods."""
MAX_PODS_PER_NODE = 110
DOKS_SYSTEM_CPU = Decimal("0.25")
DOKS_SYSTEM_MEMORY = Decimal(350 * 2**20)
"""What the cluster's own pods (networking, DNS, CSI, the node agent) request on every node: kept off the app's
share of a node when counting how many of its pods fit."""
EVICTION_MEMORY = Decimal(100 * 2**20)
MIN_CPU = Decimal("0.01")
MIN_MEMORY = Decimal(32 * 2**20)
"""The least a container may request or be limited to (10m CPU, 32Mi): below that a container cannot start, or is
killed for memory as soon as it does."""

# Kubernetes resource quantities (apimachinery's resource.Quantity): a decimal number and a suffix.
_QUANTITY = re.compile(r"^(?P<number>[+]?(\d+\.?\d*|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity (`250m` -> 0.25, `512Mi` -> 536870912); ValueError otherwise."""
    match = _QUANTITY.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (like 250m, 1, 0.5, 512Mi, 1Gi)")
    try:
        number = Decimal(match.group("number"))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from None
    suffix = match.group("suffix") or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix:
        return number * (Decimal(10) ** int(suffix[1:]))
    return number


def node_size(slug: str) -> tuple[int, Decimal]:
    """(vCPUs, memory in GB) of a Droplet size slug; ValueError when the slug is not one DOKS takes."""
    match = _SIZE_SLUG.match(slug) if isinstance(slug, str) else None
    if match:
        return int(match.group("vcpu")), Decimal(match.group("memory"))
    match = _CPU_SLUG.match(slug) if isinstance(slug, str) else None
    if match:
        return int(match.group("vcpu")), Decimal(2 * int(match.group("vcpu")))
    match = _SMALL_SLUG.match(slug) if isinstance(slug, str) else None
    if match:
        return int(match.group("vcpu")), Decimal(match.group("memory")) / 1024
    if isinstance(slug, str) and _GPU_SLUG.match(slug):
        raise ValueError(
            f"{slug} is a GPU size: its slug names the GPUs' memory, not the node's, so the pods it "
            "holds cannot be checked; this layout's app needs no GPU (use a CPU size like s-4vcpu-8gb)"
        )
    raise ValueError(
        f"{slug!r} is not a Droplet size slug DOKS takes (like s-2vcpu-4gb, g-4vcpu-16gb, c-4, m-2vcpu-16gb)"
    )


def node_allocatable(slug: str) -> tuple[Decimal, Decimal]:
    """(CPU cores, memory bytes) a node of size `slug` leaves to the app's pods: its capacity less the kubelet's
    and the system's reservation (the tiered rule managed Kubernetes services use: 25% of the first 4 GiB of
    memory, 20% of the next 4, 10% of the next 8, 6% up to 128 GiB, 2% above, and 100 MiB for eviction; 6% of
    the first core, 1% of the second, 0.5% of the next two, 0.25% above) and the cluster's own pods. About 1 GiB
    of a 2 GB node and 2.5 GiB of a 4 GB node, as DigitalOcean documents."""
    vcpu, memory_gb = node_size(slug)
    memory = memory_gb * 2**30
    reserved, low = Decimal(0), Decimal(0)
    for high, share in ((4, "0.25"), (8, "0.20"), (16, "0.10"), (128, "0.06"), (None, "0.02")):
        top = memory if high is None else min(memory, Decimal(high * 2**30))
        if top > low:
            reserved += (top - low) * Decimal(share)
        low = max(low, top)
    cpu_reserved, left = Decimal(0), vcpu
    for cores, share in ((1, "0.06"), (1, "0.01"), (2, "0.005"), (None, "0.0025")):
        take = left if cores is None else min(left, cores)
        cpu_reserved += take * Decimal(share)
        left -= take
    return (vcpu - cpu_reserved - DOKS_SYSTEM_CPU, memory - reserved - EVICTION_MEMORY - DOKS_SYSTEM_MEMORY)


def pods_per_node(slug: str, cpu_request: Decimal, memory_request: Decimal) -> int:
    """How many of the app's pods one node of size `slug` can schedule by their requests."""
    cpu, memory = node_allocatable(slug)
    return max(0, min(int(cpu // cpu_request), int(memory // memory_request), MAX_PODS_PER_NODE))
