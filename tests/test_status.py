"""`drctl status` against the moto server on loopback: a prod deployment's control table (the control item, the
observers' records written by the runtime's own store, audit records) and projections, read back as facts, shown
as tables and JSON, with exit codes as `drctl verify`; a hung region costs one deadline and is marked unreachable.

moto does not replicate global tables: the tests write the same items into every replica of the control table."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from drctl.status import (
    AuthorityReading,
    ObserverView,
    ProjectionView,
    StatusFacts,
    exit_code,
    findings,
    gather_status,
    newest_lag,
    observer_view,
    render_status,
    transition_record,
    watch,
    watch_live,
)
from drctl.verify import CONNECT_TIMEOUT_SECONDS, TOTAL_MAX_ATTEMPTS, client_config, declared_from_document
from drctl.verify import session_clients as verify_clients
from failover import projection
from failover.decisions import Observation
from failover.settings import load_settings
from failover.store import ControlStore
from tests.runtime_env import HungServer

ROOT = Path(__file__).resolve().parent.parent
REGIONS = ("us-east-1", "us-east-2", "us-west-2")
CONTROL, PARAM = "orders-prod-dr-control", "/orders/prod/active_region"
NOW = time.time()


def drctl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "drctl", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture(scope="module")
def declared():
    run = drctl("preview", "--stack", "prod", "--json")
    assert run.returncode == 0, run.stderr
    return declared_from_document(json.loads(run.stdout))


@pytest.fixture
def aws(moto_server, monkeypatch):
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGIONS[0],
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    return moto_server


def seen(observer: str, at: float, failing: tuple[str, ...] = ()) -> Observation:
    return Observation(
        observer,
        epoch=4,
        at=at,
        seen_at=at,
        failures={r: (3 if r in failing else 0) for r in REGIONS},
        last_success=dict.fromkeys(REGIONS, at - 60),
        latest={r: r not in failing for r in REGIONS},
    )


def build(declared, epoch: int = 4, ages: dict | None = None, failing: tuple[str, ...] = (), pending=()) -> None:
    """The control table in every replica (the control item, each observer's record with its lag memory, an audit
    record per past epoch) and the projection in every region, all naming us-east-1 at `epoch`."""
    ages = dict.fromkeys(REGIONS, 5.0) | (ages or {})
    for region in REGIONS:
        ddb = boto3.client("dynamodb", region_name=region)
        ddb.create_table(
            TableName=CONTROL,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        item = {"pk": {"S": "control#orders"}, "activeRegion": {"S": "us-east-1"}, "epoch": {"N": str(epoch)}}
        item |= {"previousRegion": {"S": "us-east-2"}, "phase": {"S": "active"}, "reason": {"S": "failback"}}
        if pending:
            item["pending"] = {"SS": list(pending)}
        ddb.put_item(TableName=CONTROL, Item=item)
        store = ControlStore(load_settings({**declared.runtime_environment, "DR_HOME_REGION": region}), ddb)
        for observer, age in ages.items():
            if age is None:
                continue
            store.claim_observer(observer, "test")
            lag = {"us-east-2": (0.4, True, NOW - age, 0.0), "us-west-2": (0.9, True, NOW - age, 0.0)}
            assert store.save_observation(seen(observer, NOW - age, failing), "test", lag)
        for e in range(1, epoch + 1):
            frm, to = ("us-east-1", "us-east-2") if e % 2 else ("us-east-2", "us-east-1")
            store.put_audit(e, {"from": frm, "to": to, "reason": f"drill {e}", "at": repr(1_700_000_000.0 + e)})
        boto3.client("ssm", region_name=region).put_parameter(
            Name=PARAM, Value=projection.render("us-east-1", epoch), Type="String"
        )


def gather(declared, **kwargs) -> StatusFacts:
    return gather_status(declared, session=boto3.Session(), read_timeout=3, clock=lambda: NOW, **kwargs)


# --- against moto ---------------------------------------------------------------------------------------------


def test_a_healthy_deployment_has_no_findings(aws, declared):
    build(declared)
    facts = gather(declared)
    assert facts.findings == [] and exit_code(facts) == 0
    assert (facts.authority.active_region, facts.authority.epoch, facts.authority.phase) == ("us-east-1", 4, "active")
    assert [(r.region, r.epoch) for r in facts.replicas] == [(r, 4) for r in REGIONS]
    assert [(o.region, o.fresh, round(o.age_seconds)) for o in facts.observers] == [(r, True, 5) for r in REGIONS]
    assert facts.observers[0].latest == dict.fromkeys(REGIONS, True)
    assert [(p.region, p.active_region, p.epoch, p.agrees) for p in facts.projections] == [
        (r, "us-east-1", 4, True) for r in REGIONS
    ]
    assert [(lag.target, lag.lag_seconds, lag.writes_seen) for lag in facts.lag] == [
        ("us-east-2", 0.4, True),
        ("us-west-2", 0.9, True),
    ]
    # the newest five epochs' audit records, newest first
    assert [(t.epoch, t.from_region, t.to_region, t.reason) for t in facts.transitions] == [
        (4, "us-east-2", "us-east-1", "drill 4"),
        (3, "us-east-1", "us-east-2", "drill 3"),
        (2, "us-east-2", "us-east-1", "drill 2"),
        (1, "us-east-1", "us-east-2", "drill 1"),
    ]
    assert facts.unreachable == [] and facts.rpo_seconds is None


def test_a_stale_observer_a_failing_region_and_a_disagreeing_projection_are_findings(aws, declared):
    build(declared, ages={"us-west-2": 600.0, "us-east-2": None}, failing=("us-west-2",), pending=("notify",))
    boto3.client("ssm", region_name="us-east-2").put_parameter(
        Name=PARAM, Value=projection.render("us-east-2", 3), Type="String", Overwrite=True
    )
    facts = gather(declared)
    assert exit_code(facts) == 1
    assert facts.findings == [
        "transition to us-east-1 (epoch 4) pending: notify",
        "observer us-east-1 sees us-west-2 failing (3 rounds)",
        "observer us-east-2: no record",
        "observer us-west-2: stale (last round 10 min ago)",
        "projection in us-east-2: us-east-2 (epoch 3), the authority says us-east-1 (epoch 4)",
    ]
    assert facts.authority.pending == ("notify",)


def test_a_replica_behind_and_more_than_five_transitions(aws, declared):
    build(declared, epoch=7)
    boto3.client("dynamodb", region_name="us-west-2").put_item(
        TableName=CONTROL,
        Item={"pk": {"S": "control#orders"}, "activeRegion": {"S": "us-east-2"}, "epoch": {"N": "6"}},
    )
    facts = gather(declared)
    assert [t.epoch for t in facts.transitions] == [7, 6, 5, 4, 3]
    assert "control item in us-west-2: epoch 6 (us-east-2), behind epoch 7" in facts.findings


@pytest.mark.parametrize("hung_region", ["us-east-1", "us-west-2"])
def test_a_hung_region_costs_one_deadline_and_is_marked_unreachable(aws, declared, hung_region):
    build(declared)
    hung, session = HungServer(), boto3.Session()
    normal, config, lock = verify_clients(session, 0.5), client_config(0.5), threading.Lock()

    def client(service: str, region: str):
        if region == hung_region:
            with lock:
                return session.client(service, region_name=region, endpoint_url=hung.url, config=config)
        return normal(service, region)

    start = time.monotonic()
    try:
        facts = gather_status(declared, session=session, client=client, read_timeout=0.5, clock=lambda: NOW)
    finally:
        hung.close()
    elapsed = time.monotonic() - start
    print(f"status with {hung_region} hung (read deadline 0.5 s): {elapsed:.2f} s")  # docs/measured.md
    # asked once (the first call and its one retry), then left alone: one call's deadline, plus the other regions'
    # quick answers
    assert 1 <= len(hung.held) <= TOTAL_MAX_ATTEMPTS
    assert elapsed < TOTAL_MAX_ATTEMPTS * (0.5 + min(CONNECT_TIMEOUT_SECONDS, 0.5)) + 3.0, elapsed
    assert facts.unreachable == [hung_region]
    assert facts.findings == [f"{hung_region}: did not answer in time"]
    assert [r.region for r in facts.replicas if r.unreachable] == [hung_region]
    assert [p.region for p in facts.projections if p.unreachable] == [hung_region]
    # the authority, the observers and the audit still come from a replica that answers
    assert facts.authority.epoch == 4 and all(o.fresh for o in facts.observers) and len(facts.transitions) == 4
    text = _text(render_status(facts, 80))
    assert "unreachable" in text and f"{hung_region}: did not answer in time" in text


# --- the facts as text and as a refreshed display -------------------------------------------------------------


def _text(renderable, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable, crop=False)
    return console.file.getvalue()


def _facts(findings_: list[str] | None = None, epoch: int = 4) -> StatusFacts:
    facts = StatusFacts(
        stack="prod",
        regions=REGIONS,
        checked_at=1_800_000_000.0,
        authority=AuthorityReading("us-east-1", "us-east-1", epoch, "active"),
        replicas=[AuthorityReading(r, "us-east-1", epoch, "active") for r in REGIONS],
        observers=[ObserverView(r, True, 1.0, 4.0, True, epoch, dict.fromkeys(REGIONS, True)) for r in REGIONS],
        projections=[ProjectionView(r, "v", "us-east-1", epoch, True) for r in REGIONS],
        lag=[],
        transitions=[transition_record(epoch, {"from": "us-east-2", "to": "us-east-1", "reason": "r", "at": "1.5"})],
        unreachable=[],
    )
    facts.findings = findings_ or []
    return facts


def test_render_fits_80_columns_and_names_every_part():
    text = _text(render_status(_facts(["observer us-west-2: stale (last round 10 min ago)"]), 80))
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.startswith("drctl status prod at 2027-01-15 08:00:00 UTC: active us-east-1, epoch 4")
    for title in ("Authority", "Observers", "Projection (SSM parameter)", "Last transitions (audit records)"):
        assert title in text
    assert "1 findings:" in text and "- observer us-west-2: stale" in text
    assert "no findings" in _text(render_status(_facts(), 80))


def test_json_carries_the_same_facts():
    doc = json.loads(json.dumps(_facts(["x"]).to_json()))
    assert doc["ok"] is False and doc["findings"] == ["x"]
    assert doc["authority"]["active_region"] == "us-east-1" and doc["transitions"][0]["from_region"] == "us-east-2"
    assert {o["region"] for o in doc["observers"]} == set(REGIONS)


def test_watch_gathers_every_interval_and_returns_the_last_code():
    rounds = iter([_facts(), _facts(["stale"], epoch=5), _facts(epoch=6)])
    shown, slept = [], []
    code = watch(lambda: next(rounds), shown.append, 7.5, sleep=slept.append, rounds=3)
    assert [f.authority.epoch for f in shown] == [4, 5, 6] and slept == [7.5, 7.5] and code == 0
    rounds = iter([_facts(), _facts(["stale"])])
    assert watch(lambda: next(rounds), shown.append, 1, sleep=slept.append, rounds=2) == 1


def test_watch_stops_on_interrupt_with_the_last_code():
    calls = []

    def gather():
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return _facts(["x"])

    assert watch(gather, lambda f: None, 1, sleep=lambda s: None) == 1 and len(calls) == 3


def test_watch_live_redraws_in_place():
    rounds = iter([_facts(epoch=4), _facts(epoch=9)])
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    assert watch_live(lambda: next(rounds), console, 2, sleep=lambda s: None, rounds=2) == 0
    out = console.file.getvalue()
    assert "active us-east-1, epoch 4" in out and "active us-east-1, epoch 9" in out
    assert "\x1b[" in out  # the cursor moved back over the previous frame (rich Live)


# --- plain functions ------------------------------------------------------------------------------------------


def test_observer_freshness_is_the_runtimes_rule():
    obs = seen("us-east-2", 1000.0)
    assert observer_view("us-east-2", (obs, {}), 10, 1030.0).fresh  # 3 intervals
    assert not observer_view("us-east-2", (obs, {}), 10, 1030.5).fresh
    assert observer_view("us-east-2", None, 10, 1030.0) == ObserverView("us-east-2")


def test_newest_lag_per_target():
    a, b = seen("us-east-1", 0), seen("us-east-2", 0)
    records = {"us-east-1": (a, {"t": (2.0, True, 90.0, 0.0)}), "us-east-2": (b, {"t": (0.5, False, 95.0, 1.0)})}
    (lag,) = newest_lag(records, 100.0)
    assert (lag.observer, lag.lag_seconds, lag.writes_seen, lag.stale_seconds, lag.age_seconds) == (
        "us-east-2",
        0.5,
        False,
        1.0,
        5.0,
    )


def test_lag_over_the_rpo_and_no_authority_are_findings():
    facts = _facts()
    facts.rpo_seconds = 5.0
    facts.lag = newest_lag({"us-east-1": (seen("us-east-1", 0), {"us-east-2": (2.0, True, 90.0, 7.5)})}, 100.0)
    assert findings(facts) == ["replication to us-east-2: 7.5 s behind, over the RPO of 5 s"]
    facts.authority = None
    facts.unreachable = ["us-west-2"]
    assert findings(facts) == [
        "us-west-2: did not answer in time",
        "no replica of the control table answered with a well-formed control item",
    ]


def test_transition_record_tolerates_a_garbled_time():
    record = transition_record(3, {"from": "a", "to": "b", "reason": "r", "at": "soon"})
    assert (record.epoch, record.from_region, record.to_region, record.at) == (3, "a", "b", None)


# --- the command line -----------------------------------------------------------------------------------------


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    }
    return env | extra


def test_cli_json_against_moto(aws, declared):
    build(declared, ages={"us-west-2": 900.0})
    run = drctl(
        "status",
        "--stack",
        "prod",
        "--json",
        env=_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=aws),
    )
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    assert doc["ok"] is False and doc["authority"]["epoch"] == 4
    assert [f for f in doc["findings"] if f.startswith("observer us-west-2: stale")]


def test_cli_usage_errors_exit_2_with_one_line():
    run = drctl("status", "--stack", "prod", env=_env())
    assert run.returncode == 2 and run.stdout == "" and run.stderr.count("\n") == 1
    assert run.stderr.startswith("error: no AWS credentials found")
    run = drctl("status", "--stack", "prod", "--json", "--watch", env=_env())
    assert run.returncode == 2 and run.stderr == "error: --json and --watch: give one or the other\n"
    assert drctl("status", "--stack", "prod", "--watch", "0").returncode == 2


@given(
    ages=st.lists(st.one_of(st.none(), st.floats(0, 1000, allow_nan=False)), min_size=1, max_size=5),
    disagree=st.sets(st.sampled_from(REGIONS)),
)
@settings(max_examples=200, deadline=None)
def test_findings_name_exactly_the_stale_or_missing_observers_and_disagreeing_projections(ages, disagree):
    """Property: an observer is a finding iff its last round is older than three probe intervals (or it has no
    record); a projection iff it names another epoch; nothing else is, and the exit code follows."""
    now, interval = 10_000.0, 10.0
    facts = _facts()
    records = {f"r-{i}": None if a is None else (seen(f"r-{i}", now - a), {}) for i, a in enumerate(ages)}
    facts.observers = [observer_view(r, rec, interval, now) for r, rec in records.items()]
    facts.projections = [
        ProjectionView(r, "v", "us-east-1", 3 if r in disagree else 4, r not in disagree) for r in REGIONS
    ]
    facts.findings = findings(facts)
    flagged = {line.split(":")[0].removeprefix("observer ") for line in facts.findings if line.startswith("observer")}
    # the age as the clock sees it (`now - (now - a)` rounds like the code's subtraction)
    expected = {f"r-{i}" for i, a in enumerate(ages) if a is None or now - (now - a) > 3 * interval}
    assert flagged == expected
    wrong = {line.split(":")[0].removeprefix("projection in ") for line in facts.findings if "projection" in line}
    assert wrong == disagree
    assert exit_code(facts) == (1 if expected or disagree else 0)
