"""`python -m drctl drill --short` end to end, as a user runs it (a subprocess: the drill owns its moto server).

It asserts what must hold on any machine: the safety outcomes (no acknowledged write lost in strong mode, exactly
one transition per scenario, the operator's failback done, traffic kept with writes), every budgeted figure
measured and within twice its budget, and the exit code agreeing with the report. Whether a figure is within the
20% tolerance is the drill's own verdict, reported but not asserted here: a shared 2-core machine may be slower.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from components.budget import compute_budget
from drctl.drill.verdict import DrillTimers, budget_inputs
from drctl.drill.world import REGIONS

ROOT = Path(__file__).resolve().parent.parent


def test_the_short_drill_fails_over_and_back_without_losing_an_acknowledged_write(tmp_path):
    env = {**os.environ, "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "drctl", "drill", "--short", "--out", str(tmp_path)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=200)
    # 1 is also the drill's watchdog (a hang): its stderr then holds every thread's stack
    assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-6000:]
    assert (tmp_path / "drill-report.json").exists(), done.stdout[-2000:] + done.stderr[-6000:]
    report = json.loads((tmp_path / "drill-report.json").read_text())
    assert done.returncode == (0 if report["ok"] else 1), report["failures"]
    assert report["mode"] == "strong" and report["short"] is True
    assert report["budget"] == compute_budget(budget_inputs(DrillTimers(), REGIONS, True)).to_json()
    scenarios = {s["name"]: s for s in report["scenarios"]}
    assert list(scenarios) == ["primary-fails", "failback"]
    for scenario in scenarios.values():
        assert scenario["transitions"] == 1, scenario
        assert scenario["writes"]["lost"] == 0 and scenario["writes"]["acknowledged"] > 20, scenario
        for name, figure in scenario["figures"].items():
            if figure["budget"] is not None:
                assert figure["measured"] is not None, (scenario["name"], name)
                assert figure["measured"] <= 2 * figure["budget"], (scenario["name"], name, figure)
        assert (tmp_path / scenario["timeline"]).read_bytes()[:4] == b"\x89PNG"
    assert scenarios["primary-fails"]["details"]["checkedRegion"] == "us-east-2"
    assert scenarios["failback"]["details"]["operator"]["outcome"] == "transitioned"
    assert scenarios["failback"]["details"]["checkedRegion"] == "us-east-1"
    assert not any("traffic went back" in f for f in report["failures"]), report["failures"]
    assert "primary-fails" in done.stdout and "failback" in done.stdout  # the table
