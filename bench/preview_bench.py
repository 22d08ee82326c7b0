"""Benchmark: wall time of the offline preview for stacks of 2 to 6 regions, against the import floor.

    venv/bin/python bench/preview_bench.py [--runs 5]

Each run is a fresh `python -m drctl preview --json` process (what a user runs); the floor is a
process that only imports pulumi and the pulumi_aws modules the aws layout uses.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
REGION_POOL = ["us-east-1", "us-east-2", "us-west-2", "us-west-1", "ca-central-1", "eu-west-1"]
STRONG_SET = REGION_POOL[:3]  # DynamoDB's multi-region strong consistency: 2 or 3 regions of one set
# The digitalocean layout also imports these provider SDKs (each loads its whole package on import).
DO_FLOOR = (
    "import pulumi, pulumi_aws, pulumi_digitalocean as do, pulumi_kubernetes as k8s, pulumi_tls; "
    "do.KubernetesCluster; do.get_kubernetes_versions; k8s.Provider; k8s.apps.v1.Deployment; k8s.core.v1.Service; "
    "k8s.core.v1.Namespace; k8s.policy.v1.PodDisruptionBudget; k8s.rbac.v1.Role"
)
FLOOR = (
    "import pulumi, pulumi_aws as aws; aws.Provider; aws.dynamodb.Table; aws.ecs.Service; aws.lb.LoadBalancer; "
    "aws.ec2.Vpc; aws.route53.Record; aws.lambda_.Function; aws.iam.Role; aws.sns.Topic; aws.kms.Key; "
    "aws.ssm.Parameter; aws.cloudwatch.MetricAlarm; aws.secretsmanager.Secret"
)


# As on a user's machine: the project's modules are compiled once and read from __pycache__ afterwards (an
# environment with PYTHONDONTWRITEBYTECODE set would compile them on every run: about 0.2 s more per preview).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL)
    assert done.returncode in (0, 1), f"{cmd}: exit {done.returncode}"  # 1: a policy blocks it, still a preview
    return time.perf_counter() - start


def stack_file(n: int, folder: Path) -> Path:
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    doc["config"]["dr:regions"] = {"primary": REGION_POOL[0], "secondaries": REGION_POOL[1:n]}
    doc["config"].pop("dr:network", None)
    # automatic failover needs the control table's regions in one strong set; manual failover then misses the
    # budget (`rto-rpo-budget` blocks the preview with exit 1), which costs the preview the same work
    if n > len(STRONG_SET):
        doc["config"]["dr:failover"].update(mode="manual", failback="manual")
    path = folder / f"Pulumi.bench{n}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    py = sys.executable
    timed([py, "-m", "drctl", "preview", "--stack", "do", "--json"])  # writes the bytecode caches, not measured
    # the floor and prod alternate, so a change in the machine's load shifts both alike
    floor, prod = [], []
    for _ in range(args.runs):
        floor.append(timed([py, "-c", FLOOR]))
        prod.append(timed([py, "-m", "drctl", "preview", "--stack", "prod", "--json"]))
    print(f"import floor (pulumi + used pulumi_aws modules): median {statistics.median(floor):.2f}s")
    print(
        f"prod (3 regions): median {statistics.median(prod):.2f}s, "
        f"{statistics.median(prod) / statistics.median(floor):.2f}x the import floor",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(2, 7):
            path = stack_file(n, Path(tmp))
            times = [
                timed([py, "-m", "drctl", "preview", "--stack", f"bench{n}", "--stack-file", str(path), "--json"])
                for _ in range(args.runs)
            ]
            out = subprocess.run(
                [py, "-m", "drctl", "preview", "--stack", f"bench{n}", "--stack-file", str(path), "--json"],
                cwd=ROOT,
                env=ENV,
                capture_output=True,
                text=True,
            ).stdout
            counts = json.loads(out)["counts"]  # the same counting as the text view and the README
            rows.append((n, counts["cloudResources"], counts["pulumiTotal"], statistics.median(times), max(times)))
    do_floor = [timed([py, "-c", DO_FLOOR]) for _ in range(args.runs)]
    print(
        f"import floor of the digitalocean layout (+ DigitalOcean, Kubernetes, TLS SDKs): "
        f"median {statistics.median(do_floor):.2f}s"
    )
    for stack in ("do", "ovh"):
        times = [timed([py, "-m", "drctl", "preview", "--stack", stack, "--json"]) for _ in range(args.runs)]
        print(f"{stack} (2 sites): median {statistics.median(times):.2f}s")
    print("regions  cloud_resources  pulumi_total  median_s  max_s  over_floor_s")
    for n, cloud, total, med, worst in rows:
        print(f"{n:7d}  {cloud:15d}  {total:12d}  {med:8.2f}  {worst:5.2f}  {med - statistics.median(floor):12.2f}")
    per_region = (rows[-1][3] - rows[0][3]) / (rows[-1][0] - rows[0][0])
    print(f"marginal cost per extra region: {per_region:.3f}s")


if __name__ == "__main__":
    main()
