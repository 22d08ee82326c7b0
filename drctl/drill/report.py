"""The drill's outputs: `drill-report.json`, the terminal table (80 columns), one timeline picture per part."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.table import Table

from drctl.drill.history import History, acceptance_spans
from drctl.drill.verdict import TOLERANCE, PartResult

REPORT_NAME = "drill-report.json"


def timeline_name(part: str, picture_format: str = "png") -> str:
    return f"timeline-{part}.{picture_format}"


def part_json(result: PartResult, timeline: str | None) -> dict:
    """One part of a scenario, figures in production seconds (`figures` also gives the drill's seconds)."""
    figures = {f.name: f.to_json() for f in result.figures}
    failures = result.failures()
    return {
        "name": result.name,
        "scenario": result.scenario,
        "description": result.description,
        "faults": list(result.faults),
        "passed": not failures,
        "failures": failures,
        "safety": result.safety,
        "dualWriterSeconds": result.dual_writer_seconds,
        "dualWrites": result.dual_writes,
        "acknowledgedWrites": result.acknowledged,
        "lostAcknowledgedWrites": len(result.lost),
        "lostKeys": result.lost[:50],
        "lostRecordedAsConflicts": result.lost_as_conflicts,
        "lostWrites": result.lost_writes[:50],
        "transitions": result.transitions,
        "transitionsAllowed": list(result.transitions_allowed),
        "spuriousTransitions": result.spurious,
        **{
            name: figures[name]["production"]
            for name in ("detectionSeconds", "decisionSeconds", "writeRtoSeconds", "trafficRtoSeconds", "rpoSeconds")
        },
        "budget": {name: f.budget for name, f in ((f.name, f) for f in result.figures) if f.budget is not None},
        "figures": figures,
        "notes": result.notes,
        "details": result.details,
        "timeline": timeline,
    }


def report_json(
    *,
    time_scale: dict,
    mode: str,
    control: str,
    parts: list[dict],
    emulated: list[str],
    started_at: str,
    duration: float,
    selection: list[str],
) -> dict:
    failures = [f"{p['name']}: {message}" for p in parts for message in p["failures"]]
    return {
        "timeScale": time_scale,
        "mode": mode,
        "controlTable": control,
        "scenariosRun": selection,
        "tolerance": TOLERANCE,
        "startedAt": started_at,
        "durationSeconds": round(duration, 1),
        "emulated": emulated,
        "scenarios": parts,
        "passed": not failures,
        "failures": failures,
    }


def _seconds(value: float | None, budget: float | None, ok: bool) -> str:
    if budget is None:
        return "[dim]—[/dim]" if value is None else f"[dim]{value:.0f}[/dim]"
    text = f"{'never' if value is None else f'{value:.0f}'}/{budget:g}"
    return text if ok else f"[bold red]{text}[/bold red]"


def render_table(report: dict) -> Table:
    """One row per part; figures in production seconds as measured/budget (red beyond the tolerance)."""
    scale = report["timeScale"]
    table = Table(
        title=f"DR drill, {report['mode']} data, {report['controlTable']} control table: production "
        f"seconds (drill x{scale['factor']:g}), measured/budget",
        caption=f"moves: transitions/allowed; 2 writers: seconds with two regions accepting writes; "
        f"lost: acknowledged writes lost (Nc: N of them recorded as conflicts). Fails on any safety violation or a figure over "
        f"+{report['tolerance']:.0%}.",
        title_justify="left",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    for name, justify in (
        ("part", "left"),
        ("moves", "right"),
        ("2 writers", "right"),
        ("lost", "right"),
        ("detect", "right"),
        ("writes", "right"),
        ("traffic", "right"),
        ("", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for p in report["scenarios"]:
        low, high = p["transitionsAllowed"]
        moves = f"{p['transitions']}/{low if low == high else f'{low}-{high}'}"
        if not low <= p["transitions"] <= high:
            moves = f"[bold red]{moves}[/bold red]"
        dual = f"{p['dualWriterSeconds']:.1f}s" if p["dualWriterSeconds"] or p["dualWrites"] else "0"
        dual = f"[bold red]{dual}[/bold red]" if dual != "0" else dual
        lost = str(p["lostAcknowledgedWrites"])
        if report["mode"] == "eventual" and p["lostAcknowledgedWrites"]:
            lost += f" ({p['lostRecordedAsConflicts']}c)"
        figs = p["figures"]
        cells = [
            _seconds(figs[n]["production"], figs[n]["budget"], figs[n]["ok"])
            for n in ("detectionSeconds", "writeRtoSeconds", "trafficRtoSeconds")
        ]
        verdict = "[green]pass[/green]" if p["passed"] else "[bold red]FAIL[/bold red]"
        table.add_row(p["name"], moves, dual, lost, *cells, verdict)
    return table


def _segments(events: Sequence[tuple[float, str]], start: float, end: float) -> list[tuple[float, float, str]]:
    """[(from, to, state)] within [start, end] from (time, state) changes (the state before `start` carries in)."""
    before = [s for t, s in events if t <= start]
    points = [(start, before[-1])] if before else []
    points += [(t, s) for t, s in events if start < t < end]
    return [(t, (points[i + 1][0] if i + 1 < len(points) else end), s) for i, (t, s) in enumerate(points)]


def render_timeline(
    history: History, result: PartResult, regions: list[str], factor: float, path: Path, write_gap: float
) -> None:
    """Which region accepted writes when (the history checker's spans), where the authority and Route 53 pointed,
    Route 53's health view, and the drill's faults, in production seconds since the part started."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start, end = history.start, history.end
    rel = lambda t: (t - start) * factor  # noqa: E731
    colors = {r: plt.get_cmap("tab10")(i) for i, r in enumerate(regions)}
    index = {r: i for i, r in enumerate(regions)}
    fig, (accepts, where) = plt.subplots(
        2, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [1.2, 1.0]}
    )
    verdict = "pass" if result.passed else "FAIL"
    fig.suptitle(
        f"{result.name}: {verdict} — two writers {result.dual_writer_seconds:.1f}s, "
        f"{result.transitions} transition(s), {len(result.lost)} acknowledged writes lost",
        fontsize=11,
    )

    spans = acceptance_spans(history.writes, write_gap)
    for region in regions:
        i = index[region]
        for a, b in spans.get(region, []):
            accepts.broken_barh([(rel(a), max((b - a) * factor, 0.05))], (i - 0.3, 0.6), color=colors[region])
        seen = _segments(
            [(start - 1e9, "healthy")]
            + [(t, "healthy" if h else "unhealthy") for t, r, h in history.health_changes if r == region],
            start,
            end,
        )
        for a, b, state in seen:
            if state == "unhealthy":
                accepts.broken_barh([(rel(a), (b - a) * factor)], (i + 0.32, 0.12), color="#444444")
    for key in result.lost[:200]:
        w = next((w for w in history.writes if w.key == key and w.acked_at), None)
        if w is not None and w.acked_at is not None:
            accepts.scatter([rel(w.acked_at)], [index.get(w.region, 0)], marker="x", color="#e41a1c", s=30, zorder=3)
    accepts.set_yticks(range(len(regions)))
    accepts.set_yticklabels(regions, fontsize=8)
    accepts.set_ylim(len(regions) - 0.5, -0.5)
    accepts.set_title(
        "regions accepting writes (bars), Route 53 unhealthy (grey), acknowledged writes lost (x)",
        fontsize=9,
        loc="left",
    )

    for series, label, style, shift, color in (
        ([(t, a) for t, a, _ in history.active], "authority (control item)", "-", 0.0, "#1f78b4"),
        (history.answers, "Route 53's answer", "--", -0.12, "#ff7f00"),
    ):
        xs, ys = [], []
        for a, b, region in _segments(series, start, end):
            if region in index:
                xs += [rel(a), rel(b), float("nan")]
                ys += [index[region] + shift] * 2 + [float("nan")]
        where.plot(xs, ys, style, linewidth=2.2, label=label, color=color)
    for t in history.transitions:
        if start <= t.at <= end:
            where.axvline(rel(t.at), color="#6a3d9a", linewidth=1, linestyle=":")
    where.set_yticks(range(len(regions)))
    where.set_yticklabels(regions, fontsize=8)
    where.set_ylim(len(regions) - 0.5, -0.5)
    where.legend(loc="lower right", fontsize=8)
    where.set_title("where writes and traffic are sent (dotted: transitions)", fontsize=9, loc="left")
    where.set_xlabel("production seconds since the part started")
    for at, what in history.faults:
        for ax in (accepts, where):
            ax.axvline(rel(at), color="#e41a1c", linewidth=1, linestyle="--")
        accepts.text(rel(at), -0.45, f" {what[:60]}", color="#e41a1c", fontsize=7, va="top", rotation=0)
    for ax in (accepts, where):
        ax.set_xlim(0, max(rel(end), 1.0))
    fig.tight_layout()
    if path.suffix == ".svg":  # text, for documentation: fonts as paths, no timestamp, so the file is reproducible
        plt.rcParams["svg.hashsalt"] = "drill"
        fig.savefig(path, bbox_inches="tight", metadata={"Date": None})
    else:
        fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
