"""What `drctl verify` found: one row per check, the report as JSON, its exit code, and the 80-column text."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Check:
    what: str
    where: str
    ok: bool
    detail: str


@dataclass
class VerifyReport:
    stack: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict:
        return {"stack": self.stack, "ok": self.ok, "checks": [asdict(c) for c in self.checks]}


def exit_code(report: VerifyReport) -> int:
    return 0 if report.ok else 1


def render_report(report: VerifyReport, width: int = 80):
    """One block per check for an 80-column log: `ok`/`FAIL`, what was checked and where (whole: a name that does
    not fit beside the status gets a line of its own), then the detail as prose wrapped at spaces."""
    from rich.console import Group
    from rich.text import Text

    from drctl.text import prose

    failed = sum(1 for c in report.checks if not c.ok)
    lines = prose(f"drctl verify {report.stack}: {len(report.checks)} checks, {failed} failed", width, style="bold")
    for c in report.checks:
        status = Text(f"{'ok' if c.ok else 'FAIL':<5}", style="green" if c.ok else "bold red")
        head = prose(f"{c.what} [{c.where}]", width, indent=5)
        if head[0].plain.startswith(" " * 5):
            head[0] = status + head[0][5:]
        else:  # a name longer than the line: the status on a line of its own
            head.insert(0, status)
        lines += head
        lines += prose(c.detail, width, indent=5)
    return Group(*lines)
