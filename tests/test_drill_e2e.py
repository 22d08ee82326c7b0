"""The drill end to end, as a user runs it (a subprocess: the drill owns its moto server), and its self-test.

What must hold on any machine is asserted: the safety outcomes, the transitions, the report's shape, the time scale
stated, and the exit code agreeing with the report. Whether a figure is within its 20% is the drill's own verdict,
reported; here each budgeted figure must only be reached and within twice its budget (a shared 2-core machine may
be slower)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from drctl.drill.selftest import DEFECTS, DefectDoesNotApply, broken_copy

# Timing-sensitive (loopback deadlines, a drill's measured figures): under pytest-xdist these modules share
# one worker, so two of them never compete for the cores at once.
pytestmark = pytest.mark.xdist_group("loopback-timing")

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = (
    "name",
    "faults",
    "dualWriterSeconds",
    "lostAcknowledgedWrites",
    "transitions",
    "spuriousTransitions",
    "detectionSeconds",
    "writeRtoSeconds",
    "trafficRtoSeconds",
    "budget",
    "passed",
)


def drill(*args: str, timeout: int = 400) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled", "AWS_EC2_METADATA_DISABLED": "true"}
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "drctl", "drill", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_partitioned_primary_loses_writes_and_traffic_and_nobody_writes_twice(tmp_path):
    done = drill("--scenario", "partition", "--out", str(tmp_path))
    assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-4000:]
    report = json.loads((tmp_path / "drill-report.json").read_text())
    assert done.returncode == (0 if report["passed"] else 1), report["failures"]
    assert report["timeScale"]["factor"] == 10 and report["timeScale"]["referenceStack"] == "prod"
    assert report["timeScale"]["timers"]["probeInterval"] == {"production": 10.0, "drill": 1.0}
    assert report["controlTable"] == "strong"
    (part,) = report["scenarios"]
    assert set(REQUIRED) <= set(part)
    assert part["dualWriterSeconds"] == 0 and part["dualWrites"] == 0, part["safety"]
    assert part["transitions"] == 1 and part["spuriousTransitions"] == 0
    assert part["safety"] == [] and part["acknowledgedWrites"] > 50
    for name in ("writeRtoSeconds", "trafficRtoSeconds"):
        assert part[name] is not None and part[name] <= 2 * part["budget"][name], (name, part[name])
    assert (tmp_path / part["timeline"]).read_bytes()[:4] == b"\x89PNG"
    table = done.stdout
    assert "partition" in table and max(len(line) for line in table.splitlines()) <= 80


def test_every_defect_of_the_self_test_applies_to_the_runtime_as_it_is(tmp_path):
    """A defect whose edit no longer matches would make the self-test error out: catch that here, cheaply."""
    for defect in DEFECTS:
        broken = broken_copy(defect, tmp_path / defect.name)
        assert (broken / "failover" / defect.file).read_text() != (ROOT / "failover" / defect.file).read_text()
    with pytest.raises(DefectDoesNotApply):
        broken_copy(DEFECTS[0].__class__("x", "x", "store.py", "no such text", "y", "partition"), tmp_path / "x")


def test_the_self_test_catches_a_quorum_that_one_observer_can_make(tmp_path):
    done = drill("--self-test", "--defect", "quorum-disabled", "--out", str(tmp_path), timeout=600)
    result = json.loads((tmp_path / "self-test.json").read_text())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    verdicts = {(r["defect"], r["scenario"]): r["verdict"] for r in result["rows"]}
    assert verdicts == {("(none)", "asymmetric-probes"): "passes", ("quorum-disabled", "asymmetric-probes"): "caught"}
    caught = next(r for r in result["rows"] if r["defect"] == "quorum-disabled")
    assert "transitions" in caught["why"] or "spurious" in caught["why"]


def test_usage_errors_exit_2_with_one_line(tmp_path, capsys):
    from drctl.__main__ import main

    assert main(["drill", "--scenario", "no-such", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().startswith("error: --scenario no-such: unknown; one of primary-fails")
    (tmp_path / "file").write_text("x")
    assert main(["drill", "--out", str(tmp_path / "file")]) == 2
    with pytest.raises(SystemExit):
        main(["drill", "--factor", "50"])
    assert "not a time scale between 2 and 20" in capsys.readouterr().err
