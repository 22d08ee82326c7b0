"""Showing the facts: rich tables for a terminal or an 80-column log, and `--watch`, which gathers and redraws in
place (rich Live) every few seconds. The loop takes its sleep and its number of rounds from the caller, so tests
drive it without waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from drctl.status.facts import StatusFacts, exit_code


def _when(at: float | None) -> str:
    if not at:
        return "-"
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.0f} min"


def _table(title: str, *columns: str):
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _authority_table(facts: StatusFacts):
    table = _table("Authority (control item, strongly consistent read)", "replica", "active", "epoch", "state")
    for r in facts.replicas:
        if r.error:
            table.add_row(r.region, "-", "-", f"[red]{'unreachable' if r.unreachable else r.error}[/]")
            continue
        state = r.phase or "-"
        if r.pending:
            state += f"; pending: {', '.join(r.pending)}"
        table.add_row(r.region, r.active_region or "-", str(r.epoch), state)
    return table


def _observer_table(facts: StatusFacts):
    table = _table("Observers", "observer", "last round", "view")
    for o in facts.observers:
        if not o.found:
            table.add_row(o.region, "[red]no record[/]", "-")
            continue
        age = _seconds(o.age_seconds) + " ago"
        seen = ", ".join(
            f"{r} ok" if ok else f"[red]{r} FAIL ({o.failures.get(r, 0)})[/]" for r, ok in sorted(o.latest.items())
        )
        table.add_row(o.region, age if o.fresh else f"[red]{age} (stale)[/]", seen or "-")
    return table


def _projection_table(facts: StatusFacts):
    table = _table("Projection (SSM parameter)", "region", "names", "")
    for p in facts.projections:
        if p.unreachable:
            table.add_row(p.region, "-", "[red]unreachable[/]")
        elif p.error:
            table.add_row(p.region, "-", f"[red]{p.error}[/]")
        else:
            table.add_row(
                p.region, f"{p.active_region} (epoch {p.epoch})", "agrees" if p.agrees else "[red]disagrees[/]"
            )
    return table


def _lag_table(facts: StatusFacts):
    table = _table("Replication lag (newest reading)", "to", "lag", "writes", "read", "by")
    for lag in facts.lag:
        writes = "-" if lag.writes_seen is None else ("yes" if lag.writes_seen else "no")
        shown = _seconds(lag.lag_seconds)
        if lag.stale_seconds:
            shown += f" (silent {_seconds(lag.stale_seconds)})"
        table.add_row(lag.target, shown, writes, _seconds(lag.age_seconds) + " ago", lag.observer)
    return table


def _transition_table(facts: StatusFacts):
    table = _table("Last transitions (audit records)", "epoch", "at (UTC)", "from -> to", "reason")
    for t in facts.transitions:
        table.add_row(str(t.epoch), _when(t.at), f"{t.from_region} -> {t.to_region}", t.reason)
    return table


def render_status(facts: StatusFacts, width: int = 80):
    """The headline, one table per kind of fact, then the findings."""
    from rich.console import Group
    from rich.text import Text

    from drctl.text import prose

    auth = facts.authority
    head = f"drctl status {facts.stack} at {_when(facts.checked_at)} UTC: "
    head += f"active {auth.active_region}, epoch {auth.epoch}" if auth else "no authority readable"
    parts: list[Any] = [*prose(head, width, style="bold")]
    parts += [_authority_table(facts), _observer_table(facts), _projection_table(facts)]
    if facts.lag:
        parts.append(_lag_table(facts))
    if facts.transitions:
        parts.append(_transition_table(facts))
    if facts.findings:
        parts += prose(f"{len(facts.findings)} findings:", width, style="bold red")
        for line in facts.findings:
            parts += prose(f"- {line}", width, indent=0, hang=2)
    else:
        parts.append(Text("no findings", style="bold green"))
    return Group(*parts)


def watch(
    gather: Callable[[], StatusFacts],
    show: Callable[[Any], None],
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    rounds: int | None = None,
) -> int:
    """Gather and `show` every `interval` seconds, `rounds` times (None: until interrupted); the exit code of the
    last round gathered."""
    code, done = 0, 0
    try:
        while rounds is None or done < rounds:
            if done:
                sleep(interval)
            facts = gather()
            code = exit_code(facts)
            show(facts)
            done += 1
    except KeyboardInterrupt:
        pass
    return code


def watch_live(
    gather: Callable[[], StatusFacts],
    console,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    rounds: int | None = None,
) -> int:
    """`watch` redrawing one rich Live display in place."""
    from rich.live import Live

    with Live(console=console, auto_refresh=False, transient=False) as live:
        return watch(
            gather,
            lambda facts: live.update(render_status(facts, console.width), refresh=True),
            interval,
            sleep,
            rounds,
        )
