"""`python -m drctl drill --self-test`: prove the drill can fail.

Each defect is a small edit of a copy of the runtime (`failover/`) that breaks one safety rule. The self-test first
runs the scenarios on the runtime as it is (they must pass: a scenario that always fails proves nothing), then
runs each defect's scenario against its broken copy in a separate process, and exits 0 only if every defect made
the drill fail. It prints which scenario caught which defect, and why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Defect:
    name: str
    what: str
    file: str
    """Under failover/."""
    old: str
    new: str
    scenario: str
    """The scenario that must catch it."""


DEFECTS: tuple[Defect, ...] = (
    Defect(
        "epoch-check-removed",
        "the epoch bump is no longer conditional on the epoch read",
        "store.py",
        '            return "attribute_not_exists(pk) OR epoch = :expected", {":expected": {"N": "0"}}\n'
        '        return "epoch = :expected", {":expected": {"N": str(epoch)}}',
        '            return "attribute_not_exists(pk) OR attribute_exists(pk)", {}\n'
        '        return "attribute_not_exists(pk) OR attribute_exists(pk)", {}',
        "alarm-fanout",
    ),
    Defect(
        "activation-without-settle",
        "the new region is activated at once, while the old one's clients may still hold their lease",
        "transition.py",
        "        if wait > 0:\n            self.sleep(wait)",
        "        pass",
        "primary-fails",
    ),
    Defect(
        "client-lease-ignored",
        "a client keeps writing on a confirmation however old",
        "client.py",
        "        if view is not None and now - view.sent_at < self.lease_seconds - self.write_margin:",
        "        if view is not None and view.writable_region == self.local_region:",
        "primary-fails",
    ),
    Defect(
        "quorum-disabled",
        "one observer's view is enough to fail a region over",
        "decisions.py",
        "    return len(settings.observer_regions) // 2 + 1",
        "    return 1",
        "asymmetric-probes",
    ),
    Defect(
        "projection-unfenced",
        "readers take whatever the projection says, even an older epoch",
        "projection.py",
        "    if seen is None or read.epoch >= seen.epoch:",
        "    if True:",
        "late-write",
    ),
    Defect(
        "repair-disabled",
        "no orchestrator repairs its region's projection",
        "orchestrator.py",
        '        if state.phase != "active":\n            return\n        ssm = ',
        '        if True:\n            return\n        ssm = ',
        "late-write",
    ),
    Defect(
        "client-trusts-the-projection",
        "a client writes when its cached projection names its region",
        "client.py",
        "        now = self.clock()\n        with self._lock:\n            view, attempted = self._view, self._attempted_at",
        "        if self.active_region() == self.local_region:\n            return\n"
        "        raise NotActiveRegion(f\"{self.local_region} is passive\")\n"
        "        now = self.clock()\n        with self._lock:\n            view, attempted = self._view, self._attempted_at",
        "primary-fails",
    ),
    Defect(
        "probes-share-one-deadline",
        "one probe that runs out of time fails the whole round",
        "probe.py",
        "            p.close()\n        results[region] = p.done.is_set() and p.result == 200",
        "            p.close()\n            return {r: False for r in probes}\n"
        "        results[region] = p.done.is_set() and p.result == 200",
        "trickle",
    ),
    Defect(
        "unarmed-votes",
        "an observer votes against a region it has never seen healthy",
        "decisions.py",
        "    return last_ok is not None and (since is None or last_ok < since)",
        "    return True",
        "first-deploy",
    ),
    Defect(
        "rounds-not-spaced",
        "every round counts, however soon after the last one",
        "decisions.py",
        "    counted = obs.at == 0 or now - obs.at >= ROUND_SPACING * interval",
        "    counted = True",
        "duplicate-deliveries",
    ),
    Defect(
        "route-health-fails-open",
        "a region that cannot confirm the authority keeps its traffic",
        "health.py",
        '        body["route"] = "fail-closed: the active region cannot be confirmed from here"\n        return 503, body',
        '        body["route"] = "fail-open"\n        return 200, body',
        "partition-refused",
    ),
)
BY_NAME = {d.name: d for d in DEFECTS}


class DefectDoesNotApply(RuntimeError):
    """The runtime changed so that a defect's edit no longer matches exactly once: the self-test must be updated."""


def broken_copy(defect: Defect | None, into: Path) -> Path:
    """A copy of the runtime (`into/failover`), with `defect` applied; returns `into`."""
    shutil.copytree(ROOT / "failover", into / "failover", ignore=shutil.ignore_patterns("__pycache__"))
    if defect is not None:
        path = into / "failover" / defect.file
        text = path.read_text()
        if text.count(defect.old) != 1:
            raise DefectDoesNotApply(
                f"defect {defect.name}: the text it edits occurs {text.count(defect.old)} times "
                f"in failover/{defect.file} (expected once)"
            )
        path.write_text(text.replace(defect.old, defect.new))
    return into


def run_scenario(runtime: Path, scenario: str, out: Path, factor: float, mode: str = "strong") -> tuple[int, dict]:
    """The drill on one scenario in a fresh process whose `failover` package is `runtime/failover`, run as
    `python -m drctl` runs it (the same collector settings, so the same pauses)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2]); "
        "from drctl.__main__ import run_as_process; sys.exit(run_as_process(sys.argv[3:]))"
    )
    env = {
        **os.environ,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(name, None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(runtime),
            str(ROOT),
            "drill",
            "--scenario",
            scenario,
            "--mode",
            mode,
            "--factor",
            f"{factor:g}",
            "--out",
            str(out),
        ],
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report_path = out / "drill-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    if not report:
        report = {"failures": [f"the drill did not finish (exit {done.returncode}): {done.stderr[-400:]}"]}
    return done.returncode, report


def run_self_test(
    out: Path, defects: Sequence[str] | None = None, factor: float = 10.0, console: Console | None = None
) -> int:
    """Exit 0 only when the scenarios pass on the runtime as it is and every chosen defect fails its scenario."""
    console = console or Console()
    unknown = [d for d in (defects or []) if d not in BY_NAME]
    if unknown:
        print(f"error: --defect {unknown[0]}: unknown; one of {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    chosen = [BY_NAME[d] for d in defects] if defects else list(DEFECTS)
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="drill-selftest-") as tmp:
        work = Path(tmp)
        try:
            for defect in chosen:  # every edit must apply before anything runs
                broken_copy(defect, work / f"check-{defect.name}")
        except DefectDoesNotApply as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        intact = broken_copy(None, work / "intact")
        for scenario in sorted({d.scenario for d in chosen}):
            code, report = run_scenario(intact, scenario, out / f"intact-{scenario}", factor)
            passed = code == 0
            ok &= passed
            rows.append(
                (
                    "(none)",
                    scenario,
                    "passes" if passed else "FAILS",
                    "" if passed else "; ".join(report.get("failures", []))[:300],
                )
            )
            console.print(
                f"intact runtime, {scenario}: {'pass' if passed else 'FAIL'} ({time.monotonic() - began:.0f}s)"
            )
        for defect in chosen:
            runtime = broken_copy(defect, work / defect.name)
            code, report = run_scenario(runtime, defect.scenario, out / defect.name, factor)
            caught = code == 1 and not report.get("passed", True)
            ok &= caught
            why = "; ".join(report.get("failures", []))[:300]
            rows.append((defect.name, defect.scenario, "caught" if caught else "MISSED", why))
            console.print(
                f"{defect.name}: {'caught' if caught else 'MISSED'} by {defect.scenario} "
                f"({time.monotonic() - began:.0f}s)"
            )
    _report(console, out, rows, ok, factor, time.monotonic() - began)
    return 0 if ok else 1


def _report(
    console: Console, out: Path, rows: list[tuple[str, str, str, str]], ok: bool, factor: float, duration: float
) -> None:
    """The table on the terminal and self-test.json beside the scenarios' reports."""
    table = Table(
        title="drill self-test: each defect against the scenario that must catch it",
        show_lines=True,
        title_justify="left",
    )
    for column in ("defect", "scenario", "verdict", "why the drill failed"):
        table.add_column(column, overflow="fold")
    for defect_name, scenario, verdict, why in rows:
        color = "green" if verdict in ("caught", "passes") else "bold red"
        table.add_row(defect_name, scenario, f"[{color}]{verdict}[/{color}]", why)
    console.print(table)
    (out / "self-test.json").write_text(
        json.dumps(
            {
                "passed": ok,
                "factor": factor,
                "durationSeconds": round(duration, 1),
                "rows": [
                    {
                        "defect": d,
                        "what": BY_NAME[d].what if d in BY_NAME else "the runtime as it is",
                        "scenario": s,
                        "verdict": v,
                        "why": w,
                    }
                    for d, s, v, w in rows
                ],
            },
            indent=2,
        )
        + "\n"
    )
