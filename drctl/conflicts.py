"""`drctl conflicts --stack NAME [--since T] [--json]`: the conflicts the streams replicators recorded (acknowledged
writes that lost to a concurrent write in another region), read from every direction's conflicts table.

The tables are named from the stack's config (`components.replicator.conflicts_table_name`), one per direction in
its source region. Each region is read by its own worker with `drctl verify`'s deadlines and fence (a short
deadline per call, a region that does not answer once is not called again), so a hung region costs one deadline
and the others are still listed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drctl.verify.calls import DEFAULT_READ_TIMEOUT_SECONDS, ClientFactory, RegionFence, session_clients
from failover.conflicts import parse_record

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
MAX_PAGES = 50
"""Pages read per table (1 MB each): enough for any table a TTL keeps small; more is said, not read."""


class ConflictsUsageError(Exception):
    """A bad --since, a stack without streams replication, missing credentials: one line, exit 2."""


def parse_since(text: str, now: float) -> float:
    """`--since`: ISO-8601 (a time without a zone is UTC) or a duration back from now (`90s`, `15m`, `2h`, `7d`,
    `1w`); epoch seconds. Raises ConflictsUsageError naming the value."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        return now - float(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConflictsUsageError(
            f"--since {text!r}: not an ISO-8601 time (2026-05-01T12:00Z) nor a duration (30m, 2h, 7d)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def conflict_tables(stack: str, regions: list[str], app: str, replication: str) -> list[tuple[str, str]]:
    """(region, table) of every direction's conflicts table; raises ConflictsUsageError without streams."""
    from components.replicator import conflicts_table_name

    if replication != "streams":
        raise ConflictsUsageError(
            f"stack {stack} replicates with a global table (dr:table.replication: {replication}): "
            "DynamoDB resolves its conflicts and records none; conflicts tables exist in streams mode"
        )
    return [(s, conflicts_table_name(app, stack, s, r)) for s in regions for r in regions if s != r]


@dataclass
class ConflictsReport:
    stack: str
    since: float | None
    conflicts: list[dict] = field(default_factory=list)
    unread: dict[str, str] = field(default_factory=dict)
    """table (region) -> why it was not read."""

    def to_json(self) -> dict:
        return {
            "stack": self.stack,
            "since": None if self.since is None else _iso(self.since),
            "conflicts": self.conflicts,
            "unread": self.unread,
        }


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _scan(client: Any, table: str, since: float | None) -> tuple[list[dict], bool]:
    """The records of `table` recorded since `since`, page by page; True when MAX_PAGES left some unread."""
    kwargs: dict[str, Any] = {"TableName": table}
    if since is not None:
        kwargs |= {
            "FilterExpression": "#at >= :since",
            "ExpressionAttributeNames": {"#at": "recordedAt"},
            "ExpressionAttributeValues": {":since": {"N": f"{since:.3f}"}},
        }
    items: list[dict] = []
    for _ in range(MAX_PAGES):
        page = client.scan(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items, False
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items, True


def _read_region(
    region: str, tables: list[str], client: ClientFactory, since: float | None
) -> tuple[list[dict], dict[str, str]]:
    fence, found, unread = RegionFence(region), [], {}
    for table in tables:
        outcome = fence.call(lambda t=table: _scan(client("dynamodb", region), t, since))
        if outcome.ok:
            items, truncated = outcome.value
            found += [{**parse_record(item), "recordedIn": region} for item in items]
            if truncated:
                unread[f"{table} ({region})"] = f"more than {MAX_PAGES} pages: the rest not read (narrow --since)"
        else:
            unread[f"{table} ({region})"] = "missing" if outcome.missing else str(outcome.error)
    return found, unread


def read_conflicts(
    stack: str, tables: list[tuple[str, str]], client: ClientFactory, since: float | None
) -> ConflictsReport:
    """Every region read at once, each by its own worker; newest records first."""
    by_region: dict[str, list[str]] = {}
    for region, table in tables:
        by_region.setdefault(region, []).append(table)
    report = ConflictsReport(stack, since)
    with ThreadPoolExecutor(max_workers=max(1, len(by_region))) as pool:
        results = pool.map(lambda r: _read_region(r, by_region[r], client, since), by_region)
        for found, unread in results:
            report.conflicts += found
            report.unread |= unread
    report.conflicts.sort(key=lambda c: (-(c["recordedAt"] or 0), str(c["key"])))
    for c in report.conflicts:
        c["recordedAtIso"] = _iso(c["recordedAt"])
    return report


def run_conflicts(
    stack: str,
    stack_file: Path | None = None,
    since: str | None = None,
    session: Any = None,
    read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
    now: Callable[[], float] | None = None,
) -> ConflictsReport:
    """Read the stack's config, then its conflicts tables; raises ConflictsUsageError, or the config's errors."""
    import time

    import boto3

    from components.config import ConfigError, decode_engine_config, parse_stack_config
    from drctl.preview import PROJECT_DIR, PreviewConfigError
    from drctl.stackfile import load_stack_config

    start = None if since is None else parse_since(since, (now or time.time)())
    raw, secret = decode_engine_config(*load_stack_config(PROJECT_DIR, stack, stack_file))
    try:
        cfg: Any = parse_stack_config(raw, secret)  # a layout's model: app and regions are the layout's
    except ConfigError as exc:
        raise PreviewConfigError(str(exc)) from None
    named = cfg.base_stack or stack
    tables = conflict_tables(named, cfg.regions.all, cfg.app.name, cfg.table.replication)
    session = session or boto3.Session()
    if session.get_credentials() is None:
        raise ConflictsUsageError("no AWS credentials found (boto3's default chain)")
    return read_conflicts(named, tables, session_clients(session, read_timeout), start)


def _stamp(side: dict) -> str:
    return f"{side['origin']} v{side['version']}"


def render_conflicts(report: ConflictsReport) -> Any:
    """A rich table (newest first), then one line per table that could not be read."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    since = f" since {_iso(report.since)}" if report.since is not None else ""
    title = f"drctl conflicts {report.stack}: {len(report.conflicts)} recorded{since}"
    table = Table(title=title, title_justify="left")
    for column in ("recorded (UTC)", "key", "lost write", "won by", "regions"):
        table.add_column(column, overflow="fold")
    for c in report.conflicts:
        key = c["key"] if isinstance(c["key"], str) else ", ".join(f"{k}={v}" for k, v in _plain(c["key"]).items())
        lost = _stamp(c["loser"]) + (" (a delete)" if c["loserDeleted"] else "")
        table.add_row(
            c["recordedAtIso"] or "?",
            key,
            lost,
            _stamp(c["winner"]),
            f"{c['sourceRegion']} -> {c['destinationRegion']}",
        )
    lines = [Text(f"not read: {where}: {why}", style="yellow") for where, why in sorted(report.unread.items())]
    return Group(table, *lines)


def _plain(keys: dict) -> dict:
    """{"pk": {"S": "a"}} -> {"pk": "a"}."""
    return {k: next(iter(v.values())) if isinstance(v, dict) and v else v for k, v in keys.items()}


def add_arguments(parser: argparse.ArgumentParser, timeout_type: Callable[[str], float]) -> None:
    """`drctl conflicts`'s arguments (`timeout_type` checks --timeout like verify's)."""
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--since", help="ISO-8601 time (UTC if no zone) or a duration back: 90s, 15m, 2h, 7d")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--stack-file", type=Path, help="read the config from this file instead")
    parser.add_argument(
        "--timeout", type=timeout_type, default=None, help="read deadline of each AWS call in seconds (default 3)"
    )


def main(args: argparse.Namespace) -> int:
    """Exit 0 when every conflicts table was read, 1 when one was not, 2 for usage, config or credential errors."""
    from drctl.preview import PreviewConfigError
    from drctl.stackfile import StackFileError
    from policies.levels import PolicyConfigError

    try:
        report = run_conflicts(
            args.stack,
            stack_file=args.stack_file,
            since=args.since,
            read_timeout=args.timeout or DEFAULT_READ_TIMEOUT_SECONDS,
        )
    except (ConflictsUsageError, StackFileError, PreviewConfigError, PolicyConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        from rich.console import Console

        Console().print(render_conflicts(report), crop=False)
    return 1 if report.unread else 0
