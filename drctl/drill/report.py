"""The drill's outputs: the JSON document, the terminal table, and one timeline picture per scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from rich.table import Table

from drctl.drill.verdict import TOLERANCE, ScenarioResult, scenario_failures

REPORT_NAME = "drill-report.json"
TABLE_FIGURES = ("detectionSeconds", "monitorDetectionSeconds", "writeRtoSeconds", "trafficRtoSeconds", "rpoSeconds")
SHORT_LABELS = {"detectionSeconds": "detection", "monitorDetectionSeconds": "monitor",
                "writeRtoSeconds": "write RTO", "trafficRtoSeconds": "traffic RTO", "rpoSeconds": "RPO"}


def timeline_name(scenario: str) -> str:
    return f"timeline-{scenario}.png"


def scenario_json(result: ScenarioResult, description: str, tolerance: float = TOLERANCE,
                  timeline: Optional[str] = None) -> dict:
    failures = scenario_failures(result, tolerance)
    return {
        "name": result.name, "kind": result.kind, "description": description,
        "transitions": result.transitions, "transitionsAllowed": list(result.transitions_allowed),
        "figures": {f.name: f.to_json(tolerance) for f in result.figures},
        "writes": {"acknowledged": result.acknowledged, "lost": result.lost},
        "details": result.details, "notes": list(result.notes), "failures": failures, "ok": not failures,
        "timeline": timeline,
    }


def report_json(*, mode: str, short: bool, regions: Sequence[str], timers: dict, budget: dict,
                scenarios: list[dict], emulated: list[str], started_at: str, duration: float,
                tolerance: float = TOLERANCE) -> dict:
    failures = [f"{s['name']}: {message}" for s in scenarios for message in s["failures"]]
    return {
        "mode": mode, "short": short, "regions": list(regions), "timers": timers, "budget": budget,
        "tolerance": tolerance, "startedAt": started_at, "durationSeconds": round(duration, 1),
        "emulated": emulated, "scenarios": scenarios, "ok": not failures, "failures": failures,
    }


_NOT_MEASURED = {"measured": None, "budget": None, "ok": True}


def _cell(figure: dict) -> str:
    measured, budget = figure["measured"], figure["budget"]
    if budget is None:
        return "[dim]—[/dim]" if measured is None else f"[dim]{measured:.1f}s[/dim]"
    shown = "never" if measured is None else f"{measured:.1f}s"
    text = f"{shown} / {budget:g}s"
    return text if figure["ok"] else f"[bold red]{text}[/bold red]"


def render_table(report: dict) -> Table:
    """One row per scenario: each figure as measured / budget (red beyond the tolerance), the verdict."""
    table = Table(title=f"DR drill ({report['mode']} mode{', short' if report['short'] else ''}): "
                        f"measured / budget, failing beyond +{report['tolerance']:.0%}",
                  caption="detection: Route 53 marks the region unhealthy; monitor: the orchestrators' probes "
                          "to the epoch bump")
    table.add_column("scenario")
    table.add_column("transitions", justify="right")
    for name in TABLE_FIGURES:
        table.add_column(SHORT_LABELS[name], justify="right")
    table.add_column("writes acked/lost", justify="right")
    table.add_column("verdict")
    for s in report["scenarios"]:
        low, high = s["transitionsAllowed"]
        allowed = str(low) if low == high else f"{low}–{high}"
        transitions = f"{s['transitions']} ({allowed})"
        if not low <= s["transitions"] <= high:
            transitions = f"[bold red]{transitions}[/bold red]"
        lost = s["writes"]["lost"]
        writes = f"{s['writes']['acknowledged']} / " + (f"[bold red]{lost}[/bold red]" if lost else "0")
        verdict = "[green]pass[/green]" if s["ok"] else "[bold red]FAIL[/bold red]"
        cells = [_cell(s["figures"].get(n, _NOT_MEASURED)) for n in TABLE_FIGURES]
        table.add_row(s["name"], transitions, *cells, writes, verdict)
    return table


def figure_line(result: ScenarioResult) -> str:
    parts = []
    for f in result.figures:
        if f.budget is None:
            continue
        shown = "never" if f.measured is None else f"{f.measured:.1f}s"
        parts.append(f"{SHORT_LABELS[f.name]} {shown}/{f.budget:g}s")
    parts.append(f"transitions {result.transitions}")
    parts.append(f"lost writes {result.lost}")
    return "   ".join(parts)


def _segments(events: Sequence[tuple[float, str]], start: float, end: float) -> list[tuple[float, float, str]]:
    """[(from, to, state)] within [start, end] from (time, state) changes (the state before `start` carries in)."""
    before = [s for t, s in events if t <= start]
    points = [(start, before[-1])] if before else []
    points += [(t, s) for t, s in events if start < t < end]
    return [(t, (points[i + 1][0] if i + 1 < len(points) else end), s) for i, (t, s) in enumerate(points)]


def render_timeline(run, result: ScenarioResult, mode: str, path: Path) -> None:
    """Health per region (what the drill did and what Route 53 saw), where writes and traffic went, and the
    writes acknowledged and lost, over the scenario's time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = run_regions_order(run)
    colors = {r: plt.get_cmap("tab10")(i) for i, r in enumerate(regions)}
    start, end = run.start, run.end
    rel = lambda t: t - start  # noqa: E731

    fig, (health, where, writes) = plt.subplots(3, 1, figsize=(12, 8.5), sharex=True,
                                                gridspec_kw={"height_ratios": [1.3, 1.0, 1.2]})
    verdict = "pass" if not scenario_failures(result) else "FAIL"
    fig.suptitle(f"{run.name} ({mode} mode): {verdict}\n{figure_line(result)}", fontsize=11)

    state_colors = {"up": "#7fc97f", "down": "#e41a1c", "impaired": "#fdae61"}
    for i, region in enumerate(regions):
        drill = _segments([(t, s) for t, r, s in run.states if r == region], start, end)
        for a, b, state in drill:
            health.broken_barh([(rel(a), b - a)], (i + 0.05, 0.4), color=state_colors[state])
        seen = _segments([(start - 1e9, "healthy")] + [(t, "healthy" if h else "unhealthy")
                                                       for t, r, h in run.health_changes if r == region], start, end)
        for a, b, state in seen:
            health.broken_barh([(rel(a), b - a)], (i - 0.45, 0.4),
                               color="#1b9e77" if state == "healthy" else "#444444")
    health.set_yticks([i + y for i in range(len(regions)) for y in (-0.25, 0.25)])
    health.set_yticklabels([f"{r} {label}" for r in regions for label in ("Route 53", "drill")], fontsize=8)
    health.set_ylim(len(regions) - 0.4, -0.6)  # the primary on top
    health.set_title("health: what the drill did (up green, down red, impaired orange) and Route 53's view "
                     "(healthy teal, unhealthy grey)", fontsize=9, loc="left")

    index = {r: i for i, r in enumerate(regions)}
    for series, label, style, shift, color in ((run.active, "writes (control item)", "-", 0.0, "#1f78b4"),
                                               (run.answers, "Route 53's answer", "--", -0.1, "#ff7f00")):
        xs, ys = [], []
        for a, b, region in _segments(series, start, end):
            xs += [rel(a), rel(b)]
            ys += [index[region] + shift] * 2
        where.plot(xs, ys, style, linewidth=2.2, label=label, color=color)
    for user, answers in sorted(run.user_answers.items()):  # one thin line per user's resolver cache
        for a, b, region in _segments(answers, start, end):
            where.hlines(index[region] - 0.2 - 0.05 * user, rel(a), rel(b), color="#6a3d9a", linewidth=1.6,
                         label="users' cached answers (one line each)" if user == 0 and a == start else None)
    for t in run.transitions:
        if start <= t.at <= end:
            where.axvline(rel(t.at), color="#6a3d9a", linewidth=1, linestyle=":")
    where.set_yticks(range(len(regions)))
    where.set_yticklabels(regions, fontsize=8)
    where.set_ylim(len(regions) - 0.5, -0.5)
    crash = run.details.get("crash")
    if crash:
        where.axvline(rel(run.fault_at) + crash["at"], color="black", linewidth=1.2, linestyle="-.",
                      label=f"orchestrator in {crash['region']} crashed after the epoch bump")
    where.legend(loc="lower right", fontsize=8)
    where.set_title("where writes and traffic go (dotted: epoch bumps)", fontsize=9, loc="left")

    width = 0.5
    bins = int((end - start) / width) + 1
    bottom = [0] * bins
    for region in regions:
        counts = [0] * bins
        for w in run.writes:
            if w.acked_at is not None and w.region == region and start <= w.acked_at < end:
                counts[int((w.acked_at - start) / width)] += 1
        writes.bar([i * width for i in range(bins)], counts, width=width, bottom=bottom, align="edge",
                   color=colors[region], label=f"acknowledged in {region}")
        bottom = [a + b for a, b in zip(bottom, counts)]
    failed = [0] * bins
    for w in run.writes:
        if w.acked_at is None and start <= w.sent_at < end:
            failed[int((w.sent_at - start) / width)] += 1
    writes.bar([i * width for i in range(bins)], [-c for c in failed], width=width, align="edge", color="#bbbbbb",
               label="not acknowledged (failed, timed out)")
    lost_keys = set(result.details.get("lostKeys", []))
    lost = [w for w in run.writes if w.key in lost_keys and w.acked_at is not None]
    if lost:
        top = max(bottom) if bottom else 1
        writes.scatter([rel(w.acked_at) for w in lost], [top + 0.5] * len(lost), marker="x", color="#e41a1c",
                       s=40, label=f"acknowledged, then lost ({result.lost})", zorder=3)
    writes.axhline(0, color="black", linewidth=0.6)
    writes.set_ylabel("writes / 0.5 s", fontsize=8)
    writes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), fontsize=7, ncol=4, frameon=False)
    writes.set_title("writes", fontsize=9, loc="left")
    writes.set_xlabel("seconds since the scenario started")

    label = "operator's failback" if run.kind == "failback" else "fault"
    for ax in (health, where, writes):
        ax.axvline(rel(run.fault_at), color="#e41a1c", linewidth=1.2, linestyle="--")
        ax.set_xlim(0, rel(end))
    health.text(rel(run.fault_at), -0.55, f" {label}", color="#e41a1c", fontsize=8, va="top")
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def run_regions_order(run) -> list[str]:
    """Regions in the order the drill started them (priority order)."""
    seen: list[str] = []
    for _, region, _ in run.states:
        if region not in seen:
            seen.append(region)
    return seen
