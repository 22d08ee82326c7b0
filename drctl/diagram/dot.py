"""The topology as Graphviz DOT text (a plain function: the tests read the text; `dot` only draws it).

Clusters: one per site's provider region (for an AWS site, the same as its AWS region), one per AWS region of the
DR plane. Solid edges carry requests and writes; dashed ones, checks, alarms and the orchestrators' writes to the
control plane; dotted ones, replication."""

from __future__ import annotations

import itertools
import re

from drctl.diagram.topology import SiteNode, Topology

ORDINALS = ("1st", "2nd", "3rd")
COLORS = {"AWS": "#ff9900", "DigitalOcean": "#0069ff", "OVHcloud": "#123f6d"}
PLANE_FILL = {"data": "#fef7e0", "control": "#fce8e6", "orchestrator": "#e6f4ea", "param": "#f1f3f4"}


def quote(text: str) -> str:
    """A DOT string literal (line breaks as `\\n`)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def node_id(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p) for p in parts)


def _ordinal(i: int) -> str:
    return ORDINALS[i] if i < len(ORDINALS) else f"{i + 1}th"


def _attrs(**attrs: str) -> str:
    return "[" + ", ".join(f"{k}={quote(v)}" for k, v in attrs.items()) + "]"


def _node(nid: str, label: str, **attrs: str) -> str:
    return f"    {nid} {_attrs(label=label, **attrs)};"


def _edge(a: str, b: str, label: str = "", **attrs: str) -> str:
    return f"  {a} -> {b} {_attrs(label=label, **attrs)};"


def budget_caption(budget: dict) -> str:
    """The RTO/RPO budget (`components.budget`) in one or two lines."""
    if not budget:
        return ""
    objectives = budget.get("objectives") or {}
    line = (
        f"RTO/RPO budget: detection {budget.get('detectionSeconds')} s, traffic RTO {budget.get('trafficRtoSeconds')} "
        f"s, write RTO {budget.get('writeRtoSeconds')} s, RPO {budget.get('rpoSeconds')} s"
    )
    line += f" (objectives: RTO {objectives.get('rtoSeconds')} s, RPO {objectives.get('rpoSeconds')} s"
    line += f"; worst failure {budget.get('worstFailure')})" if budget.get("worstFailure") else ")"
    if budget.get("inProxyFailoverSeconds") is not None:
        line += f"\nin-proxy failover (HAProxy backup): {budget['inProxyFailoverSeconds']:g} s"
    return line


def _site_cluster(i: int, site: SiteNode, plane: list[str]) -> list[str]:
    role = "primary" if i == 0 else "standby"
    color = COLORS.get(site.provider, "#555555")
    lines = [
        f"  subgraph {node_id('cluster', site.provider, site.place)} {{",
        f"    label={quote(f'{site.provider} {site.place}: {_ordinal(i)} ({role}), site {site.name}')};",
        f"    color={quote(color)}; fontcolor={quote(color)}; style=rounded;",
        _node(node_id("entry", site.name), site.entry, fillcolor="#e8f0fe"),
        _node(node_id("compute", site.name), site.compute),
    ]
    lines += [_node(node_id("server", s.name), f"{s.name}\n{s.address}", fillcolor="#ffffff") for s in site.servers]
    lines += plane
    lines.append("  }")
    return lines


def _plane_nodes(t: Topology, region: str) -> list[str]:
    """The DR plane's nodes in one AWS region."""
    nodes = []
    if region in t.data.regions:
        nodes.append(
            _node(node_id("data", region), f"{t.data.name}\n({t.data.consistency})", fillcolor=PLANE_FILL["data"])
        )
    if region in t.control.regions:
        nodes.append(
            _node(node_id("control", region), f"{t.control.name}\ncontrol item, epoch", fillcolor=PLANE_FILL["control"])
        )
    elif region == t.witness:
        nodes.append(_node(node_id("control", region), "control table witness", fillcolor=PLANE_FILL["control"]))
    if region in t.orchestrators or region in t.observers:
        what = "orchestrator" if region in t.orchestrators else "observer (votes, never transitions)"
        nodes.append(_node(node_id("orch", region), what, fillcolor=PLANE_FILL["orchestrator"]))
    if region in t.parameter_regions:
        nodes.append(_node(node_id("param", region), f"SSM {t.parameter_name}", fillcolor=PLANE_FILL["param"]))
    if region in t.topics:
        nodes.append(_node(node_id("topic", region), "notice topic (SNS)", fillcolor="#ffffff"))
    if region == t.alarm_region:
        nodes.append(_node("alarms", f"{len(t.alarms)} Route 53 health alarms", fillcolor="#ffffff"))
        nodes.append(_node("alarm_topic", "alarm topic (SNS)", fillcolor="#ffffff"))
    return nodes


def _aws_cluster(region: str, nodes: list[str], note: str) -> list[str]:
    return [
        f"  subgraph {node_id('cluster_aws', region)} {{",
        f"    label={quote(f'AWS {region}{note}')}; color={quote(COLORS['AWS'])}; style=\"rounded,dashed\";",
        *nodes,
        "  }",
    ]


def _replication(t: Topology) -> list[str]:
    lines = []
    for kind, table in (("data", t.data), ("control", t.control)):
        regions = list(table.regions) + ([t.witness] if kind == "control" and t.witness else [])
        for a, b in itertools.pairwise(regions):
            label = f"{table.consistency} replication" if kind == "data" else "strong (quorum)"
            lines.append(
                _edge(node_id(kind, a), node_id(kind, b), label, style="dotted", dir="both", constraint="false")
            )
    return lines


def _traffic(t: Topology) -> list[str]:
    ttl = f"TTL {t.ttl_seconds} s" if t.ttl_seconds is not None else "alias records"
    lines = [
        _node("users", "users", shape="ellipse", fillcolor="#ffffff"),
        _node(
            "dns", f"Route 53 {t.record_name}\nfailover records ({ttl}), a health check per site", fillcolor="#e8f0fe"
        ),
        _edge("users", "dns"),
    ]
    for i, site in enumerate(t.sites):
        record = "PRIMARY" if i == 0 else "SECONDARY"
        lines.append(
            _edge("dns", node_id("entry", site.name), f"{_ordinal(i)}: {record}", penwidth="2" if i == 0 else "1")
        )
        lines.append(_edge(node_id("entry", site.name), node_id("compute", site.name)))
        lines += [_edge(node_id("compute", site.name), node_id("server", s.name)) for s in site.servers]
        lines.append(
            _edge(node_id("compute", site.name), node_id("data", site.aws_region), "reads, writes while active")
        )
        if t.scales and site.aws_region in t.orchestrators:
            lines.append(
                _edge(node_id("orch", site.aws_region), node_id("compute", site.name), "scales up", style="dashed")
            )
    if t.haproxy_backup:
        for a, b in itertools.pairwise(t.sites):
            lines.append(
                _edge(
                    node_id("entry", a.name),
                    node_id("entry", b.name),
                    "backup when all own servers are down",
                    style="dashed",
                    dir="both",
                    constraint="false",
                )
            )
    return lines


def _control_edges(t: Topology) -> list[str]:
    lines = []
    for region in [*t.orchestrators, *t.observers]:
        control = region if region in t.control.regions or region == t.witness else t.control.regions[0]
        lines.append(_edge(node_id("orch", region), node_id("control", control), "fenced epoch", style="dashed"))
        if region in t.parameter_regions:
            lines.append(_edge(node_id("orch", region), node_id("param", region), "projection", style="dashed"))
        if region in t.topics:
            lines.append(_edge(node_id("orch", region), node_id("topic", region), "notify", style="dashed"))
    if t.alarms:
        lines.append(_edge("alarms", "alarm_topic", style="dashed"))
        lines += [_edge("alarm_topic", node_id("orch", r), style="dashed", constraint="false") for r in t.orchestrators]
    return lines


def to_dot(t: Topology) -> str:
    """The DOT text of `t`: every site and region named, the failover order, the budget in the caption."""
    order = " -> ".join(f"{s.name} ({s.aws_region})" for s in t.sites)
    title = f"stack {t.stack}, layout {t.layout}: failover order {order}"
    caption = budget_caption(dict(t.budget))
    label = f"{title}\n{caption}" if caption else title
    lines = [
        f"digraph {quote('dr_' + t.stack)} {{",
        f"  graph [label={quote(label)}, labelloc=t, fontname=\"Helvetica\", "
        'fontsize=12, rankdir=TB, nodesep=0.35, ranksep=0.6, newrank=true, compound=true];',
        '  node [shape=box, style="rounded,filled", fillcolor="#f5f5f5", color="#555555", fontname="Helvetica", '
        'fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9, color="#444444", arrowsize=0.7];',
    ]
    aws_sites = {s.aws_region: s for s in t.sites if s.provider == "AWS"}
    for i, site in enumerate(t.sites):
        plane = _plane_nodes(t, site.aws_region) if site.provider == "AWS" else []
        lines += _site_cluster(i, site, plane)
    for region in t.regions:
        if region in aws_sites:
            continue
        served = next((s.name for s in t.sites if s.aws_region == region), None)
        if served is not None:
            note = f": data and control for site {served}"
        elif region == t.witness:
            note = ": control witness"
        else:
            note = ": alarms (Route 53 metrics)" if region == t.alarm_region else ""
        lines += _aws_cluster(region, _plane_nodes(t, region), note)
    lines += _traffic(t) + _replication(t) + _control_edges(t)
    lines.append("}")
    return "\n".join(lines) + "\n"
