"""Human-readable preview: resource tree by component and region, counts, outputs, budget, violations.

Readable in an 80-column CI log: policy and resource names are printed whole on their own lines (they
are what users type into the policy config), and only prose wraps (`drctl.text`, the layout every command
shares).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable

from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from drctl.preview import PreviewResult, resource_counts
from drctl.text import name_then_value, prose


def _tokens(res: dict) -> list[tuple[str, str]]:
    """The words of a node's label with their styles: the name first, then type, region and flags."""
    tokens = [(res["name"], "bold"), (res["type"], "dim")]
    if res["region"]:
        tokens.append((res["region"], "cyan"))
    opts = res["options"]
    if opts["protect"]:
        tokens.append(("protected", "bold red"))
    if opts["ignoreChanges"]:
        tokens.append((f"ignores {', '.join(opts['ignoreChanges'])}", "yellow"))
    return tokens


def _node_lines(tokens: list[tuple[str, str]], first: str, rest: str, width: int) -> list[Text]:
    """Lay out a label after its guides: whole words only, so a name is never split or cropped (a name that does
    not fit after its guides gets a line of its own; one longer than the line overflows it); the other words go to
    continuation lines when they do not fit."""
    lines = [Text(first, no_wrap=True, overflow="ignore")]
    name = tokens[0][0] if tokens else ""
    if len(first) + len(name) > width and len(name) <= width:
        lines.append(Text("", no_wrap=True, overflow="ignore"))  # the name gets a line of its own, whole
    for i, (word, style) in enumerate(tokens):
        line = lines[-1]
        if i and line.cell_len + 1 + len(word) > width:
            line = Text(rest, no_wrap=True, overflow="ignore")
            lines.append(line)
        elif i:
            line.append(" ")
        line.append(word, style=style)
    return lines


def render_tree(result: PreviewResult, width: int = 80) -> Group:
    """The resources by component, with tree guides; print with `crop=False`."""
    children = defaultdict(list)
    for res in result.resources:
        if res["type"].startswith("pulumi:providers:"):
            continue
        children[res["parent"]].append(res)
    lines: list[Text] = prose(f"stack {result.stack} (layout {result.layout})", width, style="bold")

    def add(parent_urn, prefix: str) -> None:
        kids = sorted(children[parent_urn], key=lambda r: (r["custom"], r["region"] or "", r["name"]))
        for i, res in enumerate(kids):
            last = i == len(kids) - 1
            below = prefix + ("    " if last else "│   ")
            lines.extend(
                _node_lines(
                    _tokens(res),
                    prefix + ("└── " if last else "├── "),
                    below + ("│   " if children[res["urn"]] else "    "),
                    width,
                )
            )
            add(res["urn"], below)

    roots = [r for r in result.resources if r["type"] == "pulumi:pulumi:Stack"]
    add(roots[0]["urn"] if roots else None, "")
    return Group(*lines)


def render_counts(result: PreviewResult, width: int = 80) -> Group:
    """Cloud resources by type: one line each, the count first, so a long type name is never cut."""
    counts = resource_counts(result.resources)
    lines = [Text(f"{counts['cloudResources']} cloud resources by type", style="bold")]
    digits = max((len(str(n)) for n in counts["byType"].values()), default=1)
    for typ, n in counts["byType"].items():
        lines.append(Text(f"  {n:>{digits}}  {typ}", no_wrap=True, overflow="ignore"))
    lines += prose(
        f"`pulumi preview` counts {counts['pulumiTotal']} to create: these {counts['cloudResources']}, "
        f"{counts['providers']} providers, {counts['components']} components and the stack.",
        width,
        style="dim",
    )
    return Group(*lines)


def _flatten(value, path: str = ""):
    if isinstance(value, dict) and value:
        for k in sorted(value):
            yield from _flatten(value[k], f"{path}.{k}" if path else str(k))
    elif isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        for i, v in enumerate(value):
            yield from _flatten(v, f"{path}[{i}]")
    else:
        yield path, value


def render_outputs(outputs: dict, width: int = 80) -> Group:
    """The stack outputs as `key.path: value` lines; a value that does not fit beside its key gets a line of its
    own, so an ARN or a name is never cut. Multi-line values (an AWS config file) are shown line by line."""
    lines = [Text("Outputs", style="bold")]
    for path, value in _flatten(outputs):
        if isinstance(value, list):
            shown = ", ".join(json.dumps(v) if not isinstance(v, str) else v for v in value) or "[]"
            lines += prose(f"{path}: {shown}", width, indent=2, hang=4)
            continue
        if isinstance(value, str):
            shown = value
        else:
            shown = json.dumps(value)
        if "\n" in shown.strip():
            lines.append(Text(f"  {path}:", no_wrap=True, overflow="ignore"))
            for part in shown.strip().splitlines():
                lines += prose(part, width, indent=4, hang=8)
        else:
            lines += name_then_value(f"{path}:", shown or '""', width)
    return Group(*lines)


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
    traffic_label = _traffic_label(budget)
    if budget.get("scaleUpSeconds"):
        traffic_label += f"; warm standby: writes moved + {budget['scaleUpSeconds']} s scale-up"
    table.add_row(
        traffic_label + ")",
        str(budget["trafficRtoSeconds"]),
        str(obj["rtoSeconds"]),
        verdict(budget["trafficRtoSeconds"] <= obj["rtoSeconds"]),
    )
    if not budget["automaticFailover"]:
        write_label = "write RTO [manual failover: unbounded]"
    elif path == "none":
        write_label = f"write RTO [no detection path survives {failed}]"
    else:
        parts = budget.get("writeRtoParts") or {}
        write_label = (
            f"write RTO ({path} path, which survives {failed} failing: detection "
            f"{parts.get('detection', '?')} + two fenced writes {parts.get('fencedWrites', '?')} + settle "
            f"{parts.get('settle', '?')} + pickup {parts.get('pickup', '?')})"
        )
    write_ok = automatic and budget["writeRtoSeconds"] <= obj["rtoSeconds"]
    table.add_row(write_label, str(budget["writeRtoSeconds"]), str(obj["rtoSeconds"]), verdict(write_ok))
    table.add_row(
        "RTO (slowest plane)", str(rto), str(obj["rtoSeconds"]), verdict(write_ok and rto <= obj["rtoSeconds"])
    )
    table.add_row(
        "RPO", str(budget["rpoSeconds"]), str(obj["rpoSeconds"]), verdict(budget["rpoSeconds"] <= obj["rpoSeconds"])
    )
    if budget.get("inProxyFailoverSeconds") is not None:
        table.add_row(
            "[dim]in-proxy failover: an HAProxy sends traffic to the next region (inter x fall)[/]",
            f"[dim]{budget['inProxyFailoverSeconds']:g}[/]",
            "",
            "",
        )
    if budget.get("trafficMode") == "accelerator":
        _accelerator_rows(table, budget, verdict)
    elif budget.get("trafficFollowsWritesSeconds"):
        table.add_row(
            "[dim]traffic back to a higher-priority region after writes move there[/]",
            f"[dim]{budget['trafficFollowsWritesSeconds']}[/]",
            "",
            "",
        )
    return table


def _traffic_label(budget: dict) -> str:
    """What the traffic RTO is made of (without its closing parenthesis)."""
    if budget.get("trafficMode") != "accelerator":
        return "traffic RTO (detection + DNS TTL"
    p = budget["trafficRtoParts"]
    return (
        f"traffic RTO, {p['primary']} fails (Global Accelerator, no DNS TTL: users reach {p['successor']} at "
        f"{p['successorReached']} = {p['primary']}'s entry unhealthy {p['primaryUnhealthy']} + reaction "
        f"{p['reaction']}; writes accepted there at {p['writesMoved']}; served at the later"
    )


def _accelerator_rows(table: Table, budget: dict, verdict: Callable[[bool], str]) -> None:
    """Why the accelerator's traffic RTO is what it is, and the figure after a failover (until failback)."""
    p, objective = budget["trafficRtoParts"], budget["objectives"]["rtoSeconds"]
    dim = [
        f"why: dials set at deploy time ({p['primary']}'s group 100, the others 0), and {p['successor']}'s "
        f"/health/accelerator passing while {p['primary']} is active:",
        f"when {p['primary']}'s entry fails, Global Accelerator sends everyone to {p['successor']} before writes move, "
        "with no API call",
        f"reaction: AWS documents about 30 s ({p['reactionSource']})",
    ]
    for line in dim:
        table.add_row(Text(line, style="dim", overflow="fold"), "", "", "")
    after = p["afterFailoverSeconds"]
    table.add_row(
        f"traffic RTO after a failover, until failback (the active region fails: no entry healthy, Global Accelerator "
        f"fails open; writes moved {p['writesMoved']} + next region healthy {p['newRegionHealthy']} + reaction "
        f"{p['reaction']})",
        str(after),
        str(objective),
        verdict(after <= objective),
    )
    table.add_row(
        f"[dim]double failure ({p['successor']} failing when {p['primary']} fails, so the orchestrator moves writes "
        f"elsewhere): the same {after} s, failing open meanwhile[/]",
        "",
        "",
        "",
    )
    table.add_row(
        f"[dim]traffic back to {p['primary']} after writes move there (writes moved + its entry healthy + reaction)[/]",
        f"[dim]{budget['trafficFollowsWritesSeconds']}[/]",
        "",
        "",
    )


def print_human(result: PreviewResult, console: Console) -> None:
    width = console.width
    console.print(render_tree(result, width), crop=False)
    console.print(render_counts(result, width), crop=False)
    outputs = {k: v for k, v in result.outputs.items() if k != "budget"}
    console.print(render_outputs(outputs, width), crop=False)
    if result.budget:
        console.print(render_budget(result.budget))
        console.print(
            Group(
                *prose(
                    "For comparison, the seed settings (30 s x 3 checks, alarm 60 s x 3 periods, "
                    "TTL 60) come to about 330 s.",
                    width,
                    style="dim",
                )
            ),
            crop=False,
        )
    for warning in getattr(result, "warnings", []):
        console.print(Group(*prose(f"warning: {warning}", width, style="yellow")), crop=False)
    if result.violations:
        console.print(render_violations(result, console.width), crop=False)
    else:
        console.print("[green]Policy pack: no violations.[/]")


LEVEL_HINT = (
    "A policy's level is set in the policy-config file (policies/config.<stack>.json here; "
    "`--policy-pack-config FILE` for the Pulumi CLI), e.g. {{\"{name}\": \"advisory\"}}; "
    "levels: mandatory, advisory, disabled."
)


def _whole(text: str, style: str = "") -> Text:
    """A line that wraps only at spaces and never folds or crops a word (a name longer than the line
    overflows it instead); print with `crop=False`."""
    return Text(text, style=style, overflow="ignore")


def render_violations(result: PreviewResult, width: int = 80) -> Group:
    """One block per violation: the policy name and the resource name whole, then the wrapped message."""
    blocking = [v for v in result.violations if v.blocking]
    title = Text(f"Policy violations: {len(result.violations)}", style="bold")
    if blocking:
        title.append(f" ({len(blocking)} mandatory: `pulumi up` would refuse this stack)", style="bold red")
    parts: list = [title]
    for v in result.violations:
        style = "bold red" if v.blocking else "yellow"
        head = _whole("x " if v.blocking else "! ", style)
        head.append(v.policy, style="bold")
        head.append(f"  {v.level}", style=style)
        parts.append(head)
        urn = (v.resource or "").split("::")
        name, typ = (urn[-1], urn[-2].split("$")[-1]) if len(urn) > 1 else ("the stack", "")
        where = f"    on {name}"
        if typ and len(where) + 2 + len(typ) <= width:
            parts.append(_whole(f"{where}  {typ}"))
        else:
            parts += [_whole(where)] + ([_whole(f"    {typ}", "dim")] if typ else [])
        parts.append(Padding(Text(v.message), (0, 0, 0, 4)))
    if blocking:
        parts.append(Text(LEVEL_HINT.format(name=blocking[0].policy), style="dim"))
    return Group(*parts)
