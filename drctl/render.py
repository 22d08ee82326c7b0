"""Human-readable preview: resource tree by component and region, counts, outputs, budget."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from drctl.preview import PreviewResult


def _label(res: dict) -> str:
    opts = res["options"]
    flags = []
    if opts["protect"]:
        flags.append("[bold red]protected[/]")
    if opts["ignoreChanges"]:
        flags.append(f"[yellow]ignores {', '.join(opts['ignoreChanges'])}[/]")
    region = f" [cyan]{res['region']}[/]" if res["region"] else ""
    return f"[bold]{res['name']}[/] [dim]{res['type']}[/]{region} {' '.join(flags)}".rstrip()


def render_tree(result: PreviewResult) -> Tree:
    children = defaultdict(list)
    for res in result.resources:
        if res["type"].startswith("pulumi:providers:"):
            continue
        children[res["parent"]].append(res)
    tree = Tree(f"[bold]stack {result.stack}[/] (layout {result.layout})")

    def add(node: Tree, parent_urn) -> None:
        for res in sorted(children[parent_urn], key=lambda r: (r["custom"], r["region"] or "", r["name"])):
            add(node.add(_label(res)), res["urn"])

    roots = [r for r in result.resources if r["type"] == "pulumi:pulumi:Stack"]
    add(tree, roots[0]["urn"] if roots else None)
    return tree


def render_counts(result: PreviewResult) -> Table:
    counts = Counter(r["type"] for r in result.resources if r["custom"])
    table = Table(title=f"{sum(counts.values())} resources by type")
    table.add_column("type")
    table.add_column("count", justify="right")
    for typ, n in sorted(counts.items()):
        table.add_row(typ, str(n))
    return table


def render_budget(budget: dict) -> Table:
    obj = budget["objectives"]
    rto = max(budget["trafficRtoSeconds"], budget["writeRtoSeconds"])
    table = Table(title="RTO/RPO budget (worst single-region failure, seconds)")
    for col in ("what", "budget", "objective", "verdict"):
        table.add_column(col, justify="right" if col != "what" else "left")

    def verdict(ok: bool) -> str:
        return "[green]meets[/]" if ok else "[bold red]misses[/]"

    path, failed = budget.get("writePath", "monitor"), budget.get("worstFailure")
    automatic = budget["automaticFailover"] and path != "none"
    table.add_row("detection (Route 53 health checks)", str(budget["detectionSeconds"]), "", "")
    traffic_label = "traffic RTO (detection + DNS TTL"
    if budget.get("scaleUpSeconds"):
        traffic_label += f"; warm standby: writes moved + {budget['scaleUpSeconds']} s scale-up"
    table.add_row(traffic_label + ")", str(budget["trafficRtoSeconds"]), str(obj["rtoSeconds"]),
                  verdict(budget["trafficRtoSeconds"] <= obj["rtoSeconds"]))
    if not budget["automaticFailover"]:
        write_label = "write RTO [manual failover: unbounded]"
    elif path == "none":
        write_label = f"write RTO [no detection path survives {failed}]"
    else:
        write_label = f"write RTO ({path} path, which survives {failed} failing; + transition + client cache)"
    write_ok = automatic and budget["writeRtoSeconds"] <= obj["rtoSeconds"]
    table.add_row(write_label, str(budget["writeRtoSeconds"]), str(obj["rtoSeconds"]), verdict(write_ok))
    table.add_row("RTO (slowest plane)", str(rto), str(obj["rtoSeconds"]), verdict(write_ok and rto <= obj["rtoSeconds"]))
    table.add_row("RPO", str(budget["rpoSeconds"]), str(obj["rpoSeconds"]), verdict(budget["rpoSeconds"] <= obj["rpoSeconds"]))
    if budget.get("inProxyFailoverSeconds") is not None:
        table.add_row("[dim]in-proxy failover: an HAProxy sends traffic to the next region (inter x fall)[/]",
                      f"[dim]{budget['inProxyFailoverSeconds']:g}[/]", "", "")
    if budget.get("trafficFollowsWritesSeconds"):
        table.add_row("[dim]traffic back to a higher-priority region after writes move there[/]",
                      f"[dim]{budget['trafficFollowsWritesSeconds']}[/]", "", "")
    return table


def budget_misses(budget: dict) -> bool:
    """True when the budget misses an objective (or cannot be guaranteed)."""
    obj = budget["objectives"]
    rto = max(budget["trafficRtoSeconds"], budget["writeRtoSeconds"])
    automatic = budget["automaticFailover"] and budget.get("writePath", "monitor") != "none"
    return not automatic or rto > obj["rtoSeconds"] or budget["rpoSeconds"] > obj["rpoSeconds"]


def print_human(result: PreviewResult, console: Console) -> None:
    console.print(render_tree(result))
    console.print(render_counts(result))
    outputs = {k: v for k, v in result.outputs.items() if k != "budget"}
    console.print("[bold]Outputs[/]")
    console.print_json(json.dumps(outputs, sort_keys=True))
    if result.budget:
        console.print(render_budget(result.budget))
        console.print(
            "[dim]For comparison, the seed settings (30 s x 3 checks, alarm 60 s x 3 periods, TTL 60) "
            "come to about 330 s.[/]"
        )
    if result.violations:
        console.print(render_violations(result))
    else:
        console.print("[green]Policy pack: no violations.[/]")


def render_violations(result: PreviewResult) -> Table:
    table = Table(title=f"Policy violations ({len(result.violations)})")
    for col in ("policy", "level", "resource", "message"):
        table.add_column(col)
    for v in result.violations:
        style = "bold red" if v.level == "mandatory" else "yellow"
        table.add_row(v.policy, f"[{style}]{v.level}[/]", (v.resource or "(stack)").split("::")[-1], v.message)
    return table


def as_json(result: PreviewResult) -> dict:
    return {
        "stack": result.stack,
        "layout": result.layout,
        "resources": [
            {k: r[k] for k in ("urn", "type", "name", "parent", "region", "inputs", "options")}
            for r in result.resources
        ],
        "outputs": result.outputs,
        "budget": result.budget,
        "policies": {"violations": [v.to_json() for v in result.violations]},
        **({"tier": result.tier, "baseStack": result.base_stack} if result.tier else {}),
    }
