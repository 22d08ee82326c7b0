"""`drctl drill --live`: the poll step (given observations -> phase and figures), the verdict in the loopback
drill's report shape, the AWS calls on moto (FIS templates and experiments, Route 53 health checks, the control
item), a whole drill against moto with a scripted outage, and the user mistakes that start nothing (exit 2)."""

from __future__ import annotations

import datetime
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from rich.console import Console

from components.budget import budget_inputs_from_config, compute_budget
from components.config import parse_stack_config
from drctl.drill import live_aws
from drctl.drill.live_cli import LiveUsageError, run_live
from drctl.drill.live_run import LiveObservation, LiveProgress, live_result, plan_live_drill, step
from tests.stack_values import dr_values

ROOT = Path(__file__).resolve().parent.parent
FIS_STACK = ROOT / "tests" / "stacks" / "Pulumi.fis-drill.yaml"
SITES = ("us-east-1", "us-east-2", "us-west-2")
ALL_HEALTHY = dict.fromkeys(SITES, True)
PROD_BUDGET = compute_budget(budget_inputs_from_config(parse_stack_config(dr_values("prod"))))


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def plan(region="us-east-1", action="connectivity", active="us-east-1"):
    return plan_live_drill(
        stack="prod",
        region=region,
        action=action,
        active_region=active,
        sites=SITES,
        duration_minutes=5,
        budget=PROD_BUDGET,
        dns_ttl=60.0,
    )


def obs(at, experiment="running", down=(), epoch=0, active="us-east-1", transitioned=None, activated=None):
    return LiveObservation(
        at=at,
        experiment=experiment,
        healthy={s: s not in down for s in SITES},
        active_region=active,
        epoch=epoch,
        transitioned_at=transitioned,
        activated_at=activated,
    )


def run_steps(p, observations):
    progress = LiveProgress()
    phases = []
    for o in observations:
        progress = step(p, progress, o)
        phases.append(progress.phase)
    return progress, phases


# -- the poll step -------------------------------------------------------------------------------------------------
def test_cutting_the_active_site_off_measures_each_figure_then_stops_the_experiment():
    p = plan()
    assert p.transitions_allowed == (1, 1) and p.expects_failover
    progress, phases = run_steps(
        p,
        [
            obs(0, "initiating", epoch=3),
            obs(20, epoch=3),
            obs(35, down=["us-east-1"], epoch=3),
            obs(40, down=["us-east-1"], epoch=4, active="us-east-2", transitioned=36.5),  # still demoting
            obs(45, down=["us-east-1"], epoch=4, active="us-east-2", transitioned=36.5, activated=41.5),
            obs(50, "stopping", down=["us-east-1"], epoch=4, active="us-east-2", transitioned=36.5, activated=41.5),
            obs(55, "stopped", epoch=4, active="us-east-2", transitioned=36.5, activated=41.5),
        ],
    )
    assert phases == ["running", "running", "running", "running", "stopping", "stopping", "done"]
    assert (progress.detection, progress.decision, progress.write, progress.traffic) == (35, 36.5, 41.5, 95)
    assert (progress.transitions, progress.moved_to, progress.start_epoch, progress.ended) == (
        1,
        "us-east-2",
        3,
        "stopped",
    )
    result = live_result(p, progress, {})
    assert result.passed, result.failures()
    figures = {f.name: (f.production, f.budget) for f in result.figures}
    assert figures["writeRtoSeconds"] == (41.5, 43.0) and figures["trafficRtoSeconds"] == (95, 96.0)


def test_a_slow_failover_fails_the_verdict_by_its_figure():
    p = plan()
    progress, _ = run_steps(
        p,
        [
            obs(0, epoch=0),
            obs(35, down=["us-east-1"]),
            obs(80, down=["us-east-1"], epoch=1, active="us-east-2", transitioned=70, activated=75),
            obs(85, "stopped", epoch=1, active="us-east-2", transitioned=70, activated=75),
        ],
    )
    assert progress.phase == "done"
    assert live_result(p, progress, {}).failures() == [
        "decision (the fenced write) 70.0s exceeds its budget of 33s by more than 20%",
        "write RTO 75.0s exceeds its budget of 43s by more than 20%",
    ]


def test_the_same_fault_on_a_standby_must_move_nothing_and_waits_out_the_fault():
    p = plan(region="us-west-2")
    assert p.transitions_allowed == (0, 0) and p.budgets["writeRtoSeconds"] is None
    quiet = [obs(t, down=["us-west-2"] if 30 <= t < 300 else ()) for t in range(0, 420, 15)]
    progress, phases = run_steps(p, [*quiet, obs(420, "completed")])
    assert "stopping" not in phases[: 300 // 15] and phases[-1] == "done"
    assert progress.detection == 30 and progress.transitions == 0
    assert live_result(p, progress, {}).passed
    moved, _ = run_steps(p, [obs(0), obs(60, epoch=1, active="us-east-2", transitioned=55, activated=58)])
    assert live_result(p, moved, {}).failures() == ["1 transitions, at most 0 allowed (1 spurious)"]


def test_a_failover_that_never_comes_is_stopped_at_the_window_and_fails():
    p = plan()
    late = p.window_seconds + 1
    progress, phases = run_steps(p, [obs(0), obs(35, down=["us-east-1"]), obs(late, down=["us-east-1"])])
    assert phases == ["running", "running", "stopping"]
    progress = step(p, progress, obs(late + 5, "stopped", down=["us-east-1"]))
    assert progress.phase == "done"
    failures = live_result(p, progress, {}).failures()
    assert "0 transitions, 1 expected" in failures and "write RTO never reached (budget 43s)" in failures
    assert any("the drill's window" in n for n in progress.notes)


def test_an_experiment_its_stop_condition_ended_is_noted_and_the_drill_keeps_watching():
    p = plan()
    progress, phases = run_steps(p, [obs(0), obs(20, "stopped")])
    assert phases == ["running", "running"]  # nothing measured yet, the window is not over
    assert progress.ended == "stopped"
    assert progress.notes == ("the experiment ended stopped before the drill asked it to stop",)


def test_stopped_tasks_that_come_back_before_any_move_are_judged_on_detection_only():
    p = plan(action="tasks")
    assert p.fault_seconds == 0 and p.transitions_allowed == (0, 1)
    progress, _ = run_steps(p, [obs(0, "completed"), obs(30, "completed", down=["us-east-1"]), obs(100, "completed")])
    assert progress.phase == "done" and progress.transitions == 0
    result = live_result(p, progress, {})
    assert result.passed and {f.name for f in result.figures if f.budget is not None} == {"detectionSeconds"}


STATES = st.sampled_from(["pending", "initiating", "running", "stopping", "completed", "stopped", "failed"])


@settings(max_examples=200, deadline=None)
@given(
    region=st.sampled_from(SITES),
    action=st.sampled_from(["connectivity", "replication", "tasks"]),
    polls=st.lists(
        st.tuples(st.floats(0.5, 120), STATES, st.frozensets(st.sampled_from(SITES)), st.integers(0, 2)),
        min_size=1,
        max_size=40,
    ),
)
def test_figures_never_change_once_measured_and_done_needs_a_finished_experiment(region, action, polls):
    p = plan(region=region, action=action)
    progress, at, seen_stopping = LiveProgress(), 0.0, False
    for gap, state, down, moves in polls:
        at += gap
        before = progress
        active = "us-east-2" if moves else "us-east-1"
        progress = step(p, progress, obs(at, state, down=down, epoch=moves, active=active, transitioned=at))
        for name in ("detection", "decision", "write", "traffic", "start_epoch", "ended"):
            if getattr(before, name) is not None:
                assert getattr(progress, name) == getattr(before, name)
        if before.phase == "done":
            assert progress == before
        if progress.phase == "done":
            assert progress.ended is not None
        if seen_stopping:
            assert progress.phase in ("stopping", "done")  # a stop once asked for is never taken back
        seen_stopping = seen_stopping or progress.phase == "stopping"
        if progress.detection is not None and progress.traffic is not None:
            assert progress.traffic == progress.detection + 60.0


# -- the AWS calls, on moto ----------------------------------------------------------------------------------------
def _template(fis, stack, region, action):
    return fis.create_experiment_template(
        clientToken=f"{stack}-{region}-{action}",
        description="drill",
        roleArn="arn:aws:iam::123456789012:role/fis",
        stopConditions=[{"source": "aws:cloudwatch:alarm", "value": "arn:aws:cloudwatch:us-east-1:1:alarm:g"}],
        targets={"tasks": {"resourceType": "aws:ecs:task", "selectionMode": "ALL", "parameters": {"cluster": "c"}}},
        actions={action: {"actionId": "aws:ecs:stop-task", "targets": {"Tasks": "tasks"}}},
        tags={"dr:stack": stack, "dr:region": region, "dr:drillAction": action},
    )["experimentTemplate"]


def _control_table(regions, table, item=None):
    for region in regions:
        db = boto3.client("dynamodb", region_name=region)
        db.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        if item:
            db.put_item(TableName=table, Item=item)


@mock_aws
def test_templates_are_found_by_the_stack_region_and_action_tags_and_experiments_start_and_stop():
    fis = boto3.client("fis", region_name="us-east-2")
    _template(fis, "other", "us-east-2", "tasks")
    wanted = _template(fis, "prod", "us-east-2", "tasks")
    _template(fis, "prod", "us-east-2", "connectivity")
    assert live_aws.find_template(fis, "prod", "us-east-2", "tasks")["id"] == wanted["id"]
    assert live_aws.find_template(fis, "prod", "us-west-2", "tasks") is None
    experiment, started = live_aws.start_experiment(fis, wanted["id"], "token-1")
    assert started is not None
    assert live_aws.experiment_state(fis, experiment)[0] in ("pending", "initiating", "running")
    live_aws.stop_experiment(fis, experiment)
    live_aws.stop_experiment(fis, experiment)  # twice: already stopping or over is fine
    assert live_aws.experiment_state(fis, experiment)[0] in ("stopping", "stopped")
    tags = fis.list_tags_for_resource(resourceArn=fis.get_experiment(id=experiment)["experiment"]["arn"])["tags"]
    assert tags == {"dr:drill": "live"}


@mock_aws
def test_health_checks_are_found_by_their_name_tag_and_judged_by_their_checkers():
    route53 = boto3.client("route53", region_name="us-east-1")
    ids = {}
    for site in (*SITES, "elsewhere"):
        check = route53.create_health_check(
            CallerReference=site,
            HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": f"{site}.example.com", "Port": 443},
        )["HealthCheck"]["Id"]
        route53.change_tags_for_resource(
            ResourceType="healthcheck", ResourceId=check, AddTags=[{"Key": "Name", "Value": f"orders-prod-{site}"}]
        )
        ids[site] = check
    found = live_aws.health_check_ids(route53, {s: f"orders-prod-{s}" for s in SITES})
    assert found == {s: ids[s] for s in SITES}
    assert live_aws.health(route53, found) == ALL_HEALTHY  # moto's checkers always succeed
    report = lambda status: {"StatusReport": {"Status": status}}  # noqa: E731
    assert live_aws.checkers_healthy([report("Success: HTTP 200")] + [report("Failure: timeout")] * 4) is True
    assert live_aws.checkers_healthy([report("Success: HTTP 200")] + [report("Failure: timeout")] * 5) is False
    assert live_aws.checkers_healthy([]) is None


@mock_aws
def test_the_control_item_is_read_from_the_first_replica_that_answers():
    item = {
        "pk": {"S": "control#orders"},
        "activeRegion": {"S": "us-east-2"},
        "epoch": {"N": "4"},
        "phase": {"S": "active"},
        "lastTransitionAt": {"N": "1000.5"},
        "activatedAt": {"N": "1005.25"},
    }
    _control_table(["us-east-2"], "orders-prod-control", item)
    broken = boto3.client("dynamodb", region_name="eu-west-1")  # no such table there: refuses, the next answers
    answer = live_aws.read_control(
        [broken, boto3.client("dynamodb", region_name="us-east-2")], "orders-prod-control", "orders"
    )
    assert answer == {
        "activeRegion": "us-east-2",
        "epoch": 4,
        "phase": "active",
        "lastTransitionAt": 1000.5,
        "activatedAt": 1005.25,
    }
    with pytest.raises(RuntimeError, match="no replica of the control table"):
        live_aws.read_control([broken], "orders-prod-control", "orders")


# -- a whole live drill on moto, with a scripted outage --------------------------------------------------------
class ScriptedWorld:
    """moto for the calls; Route 53's verdicts and FIS's progress scripted (moto's checkers always pass, its
    experiments progress on reads); the orchestrator's transition written to the control item on schedule."""

    def __init__(self, fail_at=30.0, bump_at=37.0, activate_at=42.0):
        self.now = 1_000_000.0
        self.started: float | None = None
        self.stopped_at: float | None = None
        self.fail_at, self.bump_at, self.activate_at = fail_at, bump_at, activate_at
        self.stops = 0

    def elapsed(self):
        return 0.0 if self.started is None else self.now - self.started

    def clock(self):
        return self.now

    def sleep(self, seconds):
        before = self.elapsed()
        self.now += seconds
        after = self.elapsed()
        db = boto3.client("dynamodb", region_name="us-east-2")
        key = {"pk": {"S": "control#orders"}}
        if before < self.bump_at <= after:
            db.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="SET activeRegion = :r, epoch = :e, phase = :p, lastTransitionAt = :t",
                ExpressionAttributeValues={
                    ":r": {"S": "us-east-2"},
                    ":e": {"N": "1"},
                    ":p": {"S": "demoting"},
                    ":t": {"N": repr(self.started + self.bump_at)},
                },
            )
        if before < self.activate_at + 2 <= after:  # the audit record: the transition's last step
            db.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": "audit#orders#0000000001"},
                    "from": {"S": "us-east-1"},
                    "to": {"S": "us-east-2"},
                    "reason": {"S": "monitor: us-east-1 failed 3 probes"},
                    "at": {"S": repr(self.started + self.activate_at + 2)},
                },
            )
        if before < self.activate_at <= after:
            db.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="SET phase = :p, activatedAt = :t",
                ExpressionAttributeValues={":p": {"S": "active"}, ":t": {"N": repr(self.started + self.activate_at)}},
            )

    def client(self, service, region):
        real = boto3.client(service, region_name=region)
        if service == "fis":
            return _Proxy(real, self._fis(real))
        if service == "route53":
            return _Proxy(real, {"get_health_check_status": self._status(real)})
        return real

    def _fis(self, real):
        def start_experiment(**kwargs):
            answer = real.start_experiment(**kwargs)
            answer["experiment"]["startTime"] = datetime.datetime.fromtimestamp(self.now)
            self.started = self.now
            return answer

        def get_experiment(**kwargs):
            answer = real.get_experiment(**kwargs)
            status = (
                "running" if self.stopped_at is None else ("stopping" if self.now - self.stopped_at < 5 else "stopped")
            )
            answer["experiment"]["state"] = {"status": status, "reason": ""}
            return answer

        def stop_experiment(**kwargs):
            self.stops += 1
            self.stopped_at = self.stopped_at or self.now
            return real.stop_experiment(**kwargs)

        return {
            "start_experiment": start_experiment,
            "get_experiment": get_experiment,
            "stop_experiment": stop_experiment,
        }

    def _status(self, real):
        names = {}

        def status(HealthCheckId):
            if not names:
                tags = real.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=self.ids)
                names.update({t["ResourceId"]: t["Tags"][0]["Value"] for t in tags["ResourceTagSets"]})
            down = (
                names[HealthCheckId].endswith("us-east-1")
                and self.fail_at <= self.elapsed()
                and self.stopped_at is None
            )
            verdict = "Failure: connection timed out" if down else "Success: HTTP Status Code 200"
            return {"HealthCheckObservations": [{"StatusReport": {"Status": verdict}}] * 8}

        return status


class _Proxy:
    def __init__(self, real, overrides):
        self._real, self._overrides = real, overrides
        self.exceptions = real.exceptions

    def __getattr__(self, name):
        return self._overrides.get(name) or getattr(self._real, name)


def _deploy(world, stack="fis-drill"):
    fis = boto3.client("fis", region_name="us-east-1")
    for action in ("connectivity", "replication", "tasks"):
        _template(fis, stack, "us-east-1", action)
    route53 = boto3.client("route53", region_name="us-east-1")
    world.ids = []
    for site in SITES:
        check = route53.create_health_check(
            CallerReference=site,
            HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": f"{site}.example.com", "Port": 443},
        )["HealthCheck"]["Id"]
        route53.change_tags_for_resource(
            ResourceType="healthcheck", ResourceId=check, AddTags=[{"Key": "Name", "Value": f"orders-{stack}-{site}"}]
        )
        world.ids.append(check)
    from components.active_region import control_table_name_for

    world.table = control_table_name_for(parse_stack_config(_fis_values()), stack)
    item = {
        "pk": {"S": "control#orders"},
        "activeRegion": {"S": "us-east-1"},
        "epoch": {"N": "0"},
        "phase": {"S": "active"},
    }
    _control_table(SITES, world.table)
    boto3.client("dynamodb", region_name="us-east-2").put_item(TableName=world.table, Item=item)


@mock_aws
def test_a_live_drill_on_moto_follows_the_outage_to_its_end_and_writes_the_drill_report(tmp_path):
    world = ScriptedWorld()
    _deploy(world)
    report, code = run_live(
        "fis-drill",
        "us-east-1",
        "connectivity",
        tmp_path,
        yes=True,
        stdin=io.StringIO(),
        stdout=io.StringIO(),
        client=world.client,
        stack_file=FIS_STACK,
        clock=world.clock,
        sleep=world.sleep,
        poll_seconds=5.0,
        console=Console(file=io.StringIO(), width=80),
    )
    assert code == 0, report["failures"]
    assert world.stops == 1  # asked once, as soon as writes and traffic had moved
    written = json.loads((tmp_path / "drill-report.json").read_text())
    (part,) = written["scenarios"]
    assert part["name"] == "live-connectivity-us-east-1" and part["passed"]
    assert (part["detectionSeconds"], part["decisionSeconds"], part["writeRtoSeconds"], part["trafficRtoSeconds"]) == (
        30.0,
        37.0,
        42.0,
        90.0,
    )
    assert part["budget"] == {
        "detectionSeconds": 36,
        "decisionSeconds": 33.0,
        "writeRtoSeconds": 43,
        "trafficRtoSeconds": 96,
    }
    assert part["transitions"] == 1 and part["details"]["movedTo"] == "us-east-2"
    (audit,) = part["details"]["audit"]
    assert {k: audit[k] for k in ("epoch", "from", "to", "reason")} == {
        "epoch": 1,
        "from": "us-east-1",
        "to": "us-east-2",
        "reason": "monitor: us-east-1 failed 3 probes",
    }
    assert written["timeScale"]["factor"] == 1.0 and written["timeScale"]["live"] is True
    assert written["scenariosRun"] == ["live-connectivity"] and written["passed"] is True


def _fis_values():
    from components.config import decode_engine_config
    from drctl.stackfile import load_stack_config

    return decode_engine_config(load_stack_config(ROOT, "fis-drill", FIS_STACK)[0])[0]


@mock_aws
def test_without_a_terminal_and_without_yes_nothing_starts(tmp_path):
    world = ScriptedWorld()
    _deploy(world)

    class Pipe(io.StringIO):
        def isatty(self):
            return False

    with pytest.raises(LiveUsageError, match="confirm it at a terminal, or pass --yes"):
        run_live(
            "fis-drill",
            "us-east-1",
            "tasks",
            tmp_path,
            yes=False,
            stdin=Pipe(),
            stdout=io.StringIO(),
            client=world.client,
            stack_file=FIS_STACK,
            clock=world.clock,
            sleep=world.sleep,
        )
    assert boto3.client("fis", region_name="us-east-1").list_experiments()["experiments"] == []

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    with pytest.raises(LiveUsageError, match="not confirmed"):
        run_live(
            "fis-drill",
            "us-east-1",
            "tasks",
            tmp_path,
            yes=False,
            stdin=Terminal("us-west-2\n"),
            stdout=io.StringIO(),
            client=world.client,
            stack_file=FIS_STACK,
            clock=world.clock,
            sleep=world.sleep,
        )
    assert boto3.client("fis", region_name="us-east-1").list_experiments()["experiments"] == []


@mock_aws
def test_no_template_in_the_region_is_a_usage_error(tmp_path):
    world = ScriptedWorld()
    _deploy(world)
    with pytest.raises(LiveUsageError, match="no FIS template for stack fis-drill, region us-east-2, action tasks"):
        run_live(
            "fis-drill",
            "us-east-2",
            "tasks",
            tmp_path,
            yes=True,
            stdin=io.StringIO(),
            stdout=io.StringIO(),
            client=world.client,
            stack_file=FIS_STACK,
            clock=world.clock,
            sleep=world.sleep,
        )


@pytest.mark.parametrize(
    "args, words",
    [
        (["--live"], "error: --live needs --stack and --region"),
        (["--live", "--stack", "nope", "--region", "us-east-1"], "error: Pulumi.nope.yaml: no such stack file"),
        (
            ["--live", "--stack", "prod", "--region", "eu-west-1"],
            "error: --region eu-west-1: not a region of stack prod",
        ),
        (["--live", "--stack", "prod", "--region", "us-east-1"], "error: stack prod declares no FIS templates"),
        (
            ["--live", "--stack", "staging", "--region", "eu-west-1", "--action", "tasks", "--yes"],
            "error: stack staging declares no FIS templates",
        ),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(args, words):
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}
    done = subprocess.run(
        [sys.executable, "-m", "drctl", "drill", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(words) and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_whatever_interrupts_the_drill_a_running_experiment_is_asked_to_stop():
    from drctl.drill.live_cli import follow

    class Fis:
        class exceptions:
            ConflictException = ValidationException = type("Never", (Exception,), {})

        def __init__(self):
            self.stopped = []

        def stop_experiment(self, id):
            self.stopped.append(id)

    class Aws:
        fis = Fis()

    def observe_once(at):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        follow(Aws(), plan(), "EXP1", 0.0, observe_once, clock=lambda: 0.0, sleep=lambda s: None)
    assert Aws.fis.stopped == ["EXP1"]
