"""`drctl deploy` on the Pulumi Automation API, against a recording stand-in for the pulumi CLI: the exact
commands, the config each tier stack gets (plain values and copied secrets), the policy pack on every preview
and update, the order of the waves, the failure paths and their exit codes."""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import operator
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components.config import decode_engine_config
from drctl import deploy
from drctl.stackfile import load_stack_config, load_stack_document
from drctl.stacks import derive_config, plan_deployment
from tests.pulumi_fake import CONFLICT, RecordingPulumiCommand, stack_of

ROOT = Path(__file__).resolve().parent.parent
ORG = "acme/dynamodb-dr"


def run(argv: list[str], fake: RecordingPulumiCommand, work_dir: Path = ROOT) -> int:
    parser = argparse.ArgumentParser()
    deploy.add_arguments(parser)
    return deploy.main(parser.parse_args(argv), command_factory=lambda: fake, work_dir=work_dir)


def masked(argv: list[str]) -> list[str]:
    """The argv with the Automation API's temporary event-log path replaced."""
    return ["<event-log>" if a.startswith("/") and "eventlog" in a else a for a in argv]


# -- the CLI's documented path-config typing, to read back what `config set-all` stores ---------------------
def _typed(text: str):
    """`pulumi config set --path`: "true"/"false" are booleans, integers are numbers, the rest are strings."""
    if text in ("true", "false"):
        return text == "true"
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else text


def _path_parts(path: str) -> list:
    parts: list = []
    for m in re.finditer(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]', path):
        name, index, quoted = m.groups()
        parts.append(name if name is not None else int(index) if index else json.loads(quoted))
    assert (
        "".join(m.group(0) for m in re.finditer(r'\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\]', path))
        == path
    ), path
    return parts


def apply_set_all(calls: list[list[str]]) -> dict:
    """The config a stack ends up with after these `config set-all` commands, as the CLI stores it."""
    config: dict = {}
    for argv in calls:
        path = "--path" in argv
        for flag, pair in itertools.pairwise(argv):
            if flag != "--plaintext":
                continue
            key, _, value = pair.partition("=")
            if not path:
                config[key] = value
                continue
            top, _, rest = (
                key.partition(".")
                if not re.match(r"^[^.\[]+\[", key)
                else (key[: key.index("[")], "", key[key.index("[") :])
            )
            parts = _path_parts(("." + rest) if rest and not rest.startswith("[") else rest)
            node = config.setdefault(top, [] if parts and isinstance(parts[0], int) else {})
            for here, nxt in zip(parts, [*parts[1:], None]):
                empty = [] if isinstance(nxt, int) else {}
                if isinstance(node, list):
                    while len(node) <= here:
                        node.append(None)
                    if nxt is None:
                        node[here] = _typed(value)
                    else:
                        node[here] = node[here] if node[here] is not None else empty
                        node = node[here]
                else:
                    if nxt is None:
                        node[here] = _typed(value)
                    else:
                        node = node.setdefault(here, empty)
    return config


def as_engine(config: dict) -> dict[str, str]:
    """Objects as the JSON text the engine passes a program; strings as they are."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


# -- tests --------------------------------------------------------------------------------------------------
def test_one_tier_runs_exactly_these_commands():
    fake = RecordingPulumiCommand(existing_stacks=frozenset({f"{ORG}/staging-eu-central-1"}))
    assert run(["--stack", "staging", "--tier", "eu-central-1"], fake) == deploy.EXIT_OK
    stack = f"{ORG}/staging-eu-central-1"
    shapes = [masked(c)[:3] if c[:2] != ["config", "set-all"] else [*c[:2], "--path" in c] for c in fake.calls]
    assert shapes == [
        ["stack", "select", "--stack"],
        ["config", "--json", "--stack"],
        ["config", "set-all", True],
        ["config", "set-all", False],
        ["stack", "tag", "set"],
        ["stack", "tag", "set"],
        ["up", "--yes", "--skip-preview"],
        ["stack", "output", "--json"],
        ["stack", "output", "--json"],
        ["stack", "history", "--json"],
    ]
    assert fake.calls[4] == ["stack", "tag", "set", "dr:tier", "eu-central-1", "--stack", stack]
    assert fake.calls[5] == ["stack", "tag", "set", "dr:baseStack", "staging", "--stack", stack]
    assert masked(fake.calls[6]) == [
        "up",
        "--yes",
        "--skip-preview",
        "--policy-pack",
        "policies",
        "--policy-pack-config",
        "policies/config.staging.json",
        "--exec-kind",
        "auto.local",
        "--stack",
        stack,
    ]
    assert fake.calls[9] == ["stack", "history", "--json", "--page-size", "1", "--page", "1", "--stack", stack]
    assert all(stack_of(c) == stack for c in fake.calls)


def test_a_new_tier_stack_is_created_and_previewed_with_the_policy_pack():
    fake = RecordingPulumiCommand()
    assert run(["--stack", "prod", "--tier", "data", "--preview"], fake) == deploy.EXIT_OK
    stack = f"{ORG}/prod-data"
    assert fake.calls[:2] == [["stack", "select", "--stack", stack], ["stack", "init", stack]]
    previews = [masked(c) for c in fake.calls if c[0] == "preview"]
    assert previews == [
        [
            "preview",
            "--policy-pack",
            "policies",
            "--exec-kind",
            "auto.local",
            "--event-log",
            "<event-log>",
            "--stack",
            stack,
        ]
    ]  # prod has no policies/config.prod.json
    assert not [c for c in fake.calls if c[0] == "up"]


@pytest.mark.parametrize("stack", ["prod", "staging", "do", "ovh"])
def test_each_tier_stack_gets_its_base_stacks_config_and_its_tier(stack):
    fake = RecordingPulumiCommand()
    assert run(["--stack", stack, "--configure-only", "--parallel", "1"], fake) == deploy.EXIT_OK
    base, secrets = load_stack_config(ROOT, stack)
    plan = plan_deployment(stack, base, secrets)
    assert [c[2] for c in fake.calls if c[:2] == ["stack", "init"]] == [plan.qualified(t.name) for t in plan.tiers]
    for tier in plan.tiers:
        name = plan.qualified(tier.name)
        mine = [c for c in fake.calls if stack_of(c) == name or (c[:2] == ["config", "cp"] and name in c)]
        stored = as_engine(apply_set_all([c for c in mine if c[:2] == ["config", "set-all"]]))
        copied = [c[2] for c in mine if c[:2] == ["config", "cp"]]
        expected = {k: v for k, v in base.items() if k not in secrets}
        assert (
            decode_engine_config(stored)[0]
            == decode_engine_config(
                {**expected, "dr:tier": tier.name, "dr:baseStack": stack, "dr:organization": "acme"}
            )[0]
        )
        assert copied == secrets
        assert [c for c in mine if c[0] in ("preview", "up")] == []  # --configure-only


def test_secrets_are_copied_by_the_cli_and_never_appear_in_an_argument_or_the_output(capsys):
    fake = RecordingPulumiCommand()
    assert run(["--stack", "ovh", "--tier", "gra", "--preview"], fake) == deploy.EXIT_OK
    cp = [c for c in fake.calls if c[:2] == ["config", "cp"]]
    assert cp == [["config", "cp", "dr:siteSecrets", "--stack", f"{ORG}/ovh", "--dest", f"{ORG}/ovh-gra"]]
    ciphertexts = re.findall(r"secure: (\S+)", (ROOT / "Pulumi.ovh.yaml").read_text())
    assert ciphertexts
    printed = capsys.readouterr()
    for text in ["\n".join(" ".join(c) for c in fake.calls), printed.out, printed.err]:
        assert not any(c in text for c in ciphertexts)
        assert "siteSecrets." not in text and "preview-placeholder-secret" not in text


def test_every_preview_and_update_passes_the_policy_pack_and_the_waves_run_in_order():
    fake = RecordingPulumiCommand()
    assert run(["--stack", "prod", "--preview"], fake) == deploy.EXIT_OK
    plan = plan_deployment("prod", *load_stack_config(ROOT, "prod"))
    operations = [c for c in fake.calls if c[0] in ("preview", "up")]
    assert len(operations) == len(plan.tiers) == 8
    for c in operations:
        assert c[c.index("--policy-pack") + 1] == "policies"
    wave_of = {plan.qualified(t.name): t.wave for t in plan.tiers}
    waves = [wave_of[stack_of(c)] for c in fake.calls]
    assert waves == sorted(waves)  # no command of a wave before every command of the one before has run
    for tier in plan.tiers:  # each stack's own sequence, whatever the interleaving inside its wave
        mine = [c[:2] for c in fake.calls if stack_of(c) == plan.qualified(tier.name)]
        assert mine == [
            ["stack", "select"],
            ["stack", "init"],
            ["config", "--json"],
            ["config", "set-all"],
            ["config", "set-all"],
            ["stack", "tag"],
            ["stack", "tag"],
            ["preview", "--policy-pack"],
        ]


def test_ci_suppresses_the_stacks_outputs():
    fake = RecordingPulumiCommand()
    assert run(["--stack", "staging", "--tier", "data", "--preview", "--suppress-outputs"], fake) == deploy.EXIT_OK
    assert run(["--stack", "staging", "--tier", "data", "--suppress-outputs"], fake) == deploy.EXIT_OK
    operations = [c for c in fake.calls if c[0] in ("preview", "up")]
    assert [c[0] for c in operations] == ["preview", "up"]
    assert all("--suppress-outputs" in c for c in operations)
    fake = RecordingPulumiCommand()
    assert run(["--stack", "staging", "--tier", "data", "--preview"], fake) == deploy.EXIT_OK
    assert not [c for c in fake.calls if "--suppress-outputs" in c]


def test_tiers_of_a_wave_take_turns_in_the_workspace_and_preview_in_parallel():
    """`stack select`/`init` rewrite the one workspace file of the directory: concurrent `create_or_select`s race
    on it. The tiers of a wave select and configure their stacks one at a time; their previews still overlap."""
    from tests.pulumi_fake import kind_of

    fake = RecordingPulumiCommand()
    fake.delays = {"workspace": 0.02, "operation": 0.4}
    assert run(["--stack", "prod", "--preview", "--parallel", "4"], fake) == deploy.EXIT_OK
    assert fake.most_at_once["workspace"] == 1
    assert fake.most_at_once["operation"] == 3  # prod's three sites (then automation tiers) preview at once
    blocks: list[str] = []  # the stack of each uninterrupted run of workspace commands
    for argv in fake.calls:
        if kind_of(argv) == "workspace" and (not blocks or blocks[-1] != stack_of(argv)):
            blocks.append(stack_of(argv))
    assert len(blocks) == len(set(blocks)) == 8  # each tier's selection and configuration in one piece


def test_a_tier_stack_forgets_keys_removed_from_the_base_stack():
    stack = f"{ORG}/staging-data"
    fake = RecordingPulumiCommand(
        existing_stacks=frozenset({stack}), existing_config={stack: ["dr:app", "dr:oldKey", "dr:tier"]}
    )
    assert run(["--stack", "staging", "--tier", "data", "--configure-only"], fake) == deploy.EXIT_OK
    assert [c[:2] for c in fake.calls[:4]] == [
        ["stack", "select"],
        ["config", "--json"],
        ["config", "rm-all"],
        ["config", "set-all"],
    ]
    assert fake.calls[2] == ["config", "rm-all", "--stack", stack, "dr:app", "dr:oldKey", "dr:tier"]


def test_the_first_failure_stops_the_run_and_exits_3(capsys):
    fake = RecordingPulumiCommand()
    fake.fail(
        lambda c: c[0] == "up" and stack_of(c) == f"{ORG}/prod-us-east-2",
        "error: update failed: creating ECS Service: AccessDeniedException",
    )
    assert run(["--stack", "prod"], fake) == deploy.EXIT_DEPLOY_FAILED
    touched = {stack_of(c) for c in fake.calls}
    assert f"{ORG}/prod-us-east-2" in touched and f"{ORG}/prod-data" in touched
    assert not {s for s in touched if s.endswith(("-automation", "-traffic"))}  # later waves never start
    out = capsys.readouterr().out
    assert re.search(r"us-east-2\s.*up\s.*failed\s.*AccessDeniedException", out)
    assert re.search(r"traffic\s.*up\s.*not run", out)


def test_a_concurrent_update_exits_4():
    fake = RecordingPulumiCommand()
    fake.fail(lambda c: c[0] == "preview" and stack_of(c) == f"{ORG}/do-data", CONFLICT)
    assert run(["--stack", "do", "--preview"], fake) == deploy.EXIT_CONCURRENT_UPDATE
    assert {stack_of(c) for c in fake.calls} == {f"{ORG}/do-data"}


def test_usage_and_config_mistakes_exit_2_before_any_command(capsys):
    fake = RecordingPulumiCommand()
    assert run(["--stack", "prod", "--tier", "nyc3"], fake) == deploy.EXIT_CONFIG_ERROR
    assert run(["--stack", "nope"], fake) == deploy.EXIT_CONFIG_ERROR
    assert run(["--stack", "prod", "--preview", "--configure-only"], fake) == deploy.EXIT_CONFIG_ERROR
    assert fake.calls == []
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: --tier nyc3: not a tier of prod; its tiers are data, us-east-1")
    assert err[1].startswith("error: Pulumi.nope.yaml: no such stack file")
    assert len(err) == 3


def test_a_budget_that_misses_its_objectives_stops_before_any_tier(tmp_path, capsys):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    doc["config"]["dr:objectives"] = {"rtoSeconds": 20, "rpoSeconds": 5}
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump(doc))
    fake = RecordingPulumiCommand()
    assert run(["--stack", "staging"], fake, work_dir=tmp_path) == deploy.EXIT_POLICY_VIOLATION
    assert fake.calls == []
    assert "misses its objectives" in capsys.readouterr().err


def test_without_the_pulumi_cli_one_line_says_how_to_install_it():
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    assert shutil.which("pulumi", path=env["PATH"]) is None
    done = subprocess.run(
        [sys.executable, "-m", "drctl", "deploy", "--stack", "prod", "--preview"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: the pulumi CLI is not installed")
    assert "get.pulumi.com" in done.stderr


# -- the config encoding, for any values ----------------------------------------------------------------------
_keys = st.text(alphabet="abcXYZ_-.9 ", min_size=1, max_size=6)
_leaves = st.one_of(
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.text(max_size=8),
    st.sampled_from(["8080", "true", "false", "007", "-3", "1.5"]),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["dr:app", "dr:sites", "dr:x", "aws:y"]), _values, min_size=1))
def test_derived_config_reads_back_as_the_base_stacks_whatever_the_values(document):
    plan = plan_deployment("prod", *load_stack_config(ROOT, "prod"))
    derived = derive_config(document, plan, "data")
    argv = [
        [
            "config",
            "set-all",
            "--path",
            *functools.reduce(operator.iadd, (["--plaintext", f"{k}={v}"] for k, v in derived.path_values.items()), []),
        ],
        [
            "config",
            "set-all",
            *functools.reduce(
                operator.iadd, (["--plaintext", f"{k}={v}"] for k, v in derived.whole_values.items()), []
            ),
        ],
    ]
    stored = as_engine(apply_set_all(argv))
    expected = {
        k: v
        if isinstance(v, str)
        else json.dumps(v)
        if isinstance(v, (dict, list))
        else ("true" if v is True else "false" if v is False else str(v))
        for k, v in document.items()
    }
    assert (
        decode_engine_config(stored)[0]
        == decode_engine_config({**expected, "dr:tier": "data", "dr:baseStack": "prod", "dr:organization": "acme"})[0]
    )


def test_the_shipped_stack_files_use_the_path_form_for_structured_values():
    plan = plan_deployment("prod", *load_stack_config(ROOT, "prod"))
    derived = derive_config(load_stack_document(ROOT, "prod"), plan, "us-east-2")
    assert derived.path_values["dr:app.port"] == "8080"
    assert derived.path_values['dr:dns.certificateArns["us-east-1"]'].startswith("arn:aws:acm:us-east-1:")
    assert derived.path_values["pulumi:disable-default-providers[0]"] == "aws"
    assert derived.whole_values == {
        "dr:layout": "aws",
        "dr:organization": "acme",
        "dr:protect": "true",
        "dr:production": "true",
        "dr:tier": "us-east-2",
        "dr:baseStack": "prod",
    }
    assert derived.secret_keys == []


# -- drctl stacks --moves ------------------------------------------------------------------------------------
FAKE_PULUMI = """#!/bin/sh
printf '%s\\n' "$*" >> "$CALLS"
n=$(wc -l < "$CALLS")
if [ "$n" -eq "${FAIL_AT:-0}" ]; then echo "error: [409] Conflict: the stack is being updated" >&2; exit 255; fi
exit 0
"""


@pytest.fixture(scope="module")
def moves_script(tmp_path_factory) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "drctl", "stacks", "--stack", "staging", "--moves", "to-tiers"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    path = tmp_path_factory.mktemp("moves") / "moves.sh"
    path.write_text(done.stdout)
    return path


def _run_moves(script: Path, tmp_path: Path, fail_at: int) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "pulumi").write_text(FAKE_PULUMI)
    (bin_dir / "pulumi").chmod(0o755)
    calls = tmp_path / f"calls-{fail_at}"
    calls.write_text("")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(calls), "FAIL_AT": str(fail_at)}
    done = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
    return done, calls.read_text().splitlines()


def test_the_moves_script_runs_every_move_then_the_delete(moves_script, tmp_path):
    lines = moves_script.read_text().splitlines()
    assert lines[0] == "#!/bin/sh" and "set -eu" in lines
    commands = [ln for ln in lines if ln.startswith("pulumi ")]
    done, calls = _run_moves(moves_script, tmp_path, fail_at=0)
    assert done.returncode == 0, done.stderr
    assert len(calls) == len(commands) == 7  # staging: six tiers, then the delete
    assert calls[-1] == "state delete --stack acme/dynamodb-dr/staging --all --yes"


def test_a_failed_state_move_stops_the_script_before_the_delete(moves_script, tmp_path):
    done, calls = _run_moves(moves_script, tmp_path, fail_at=2)
    assert done.returncode != 0
    assert "the stack is being updated" in done.stderr
    assert len(calls) == 2 and all(c.startswith("state move ") for c in calls)
    assert not [c for c in calls if c.startswith("state delete")]
