"""The CI workflows (.github/workflows): valid against GitHub's workflow schema (check-jsonschema's vendored
copy, offline), every preview and update with the policy pack, AWS by OIDC only, and the same commands as the
README and docs/tiers-and-ci.md."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from drctl import deploy
from drctl.stacks import POLICY_PACK

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PULUMI_ACTION = "pulumi/actions@v7"
# The inputs pulumi/actions v7 declares (its action.yml); check-jsonschema does not know an action's inputs.
PULUMI_ACTION_INPUTS = {
    "command",
    "stack-name",
    "pulumi-version",
    "pulumi-version-file",
    "work-dir",
    "comment-on-pr",
    "comment-on-pr-number",
    "comment-on-summary",
    "github-token",
    "cloud-url",
    "secrets-provider",
    "parallel",
    "message",
    "config-map",
    "expect-no-changes",
    "diff",
    "replace",
    "exclude",
    "exclude-dependents",
    "target",
    "target-dependents",
    "policyPacks",
    "policyPackConfigs",
    "refresh",
    "upsert",
    "remove",
    "edit-pr-comment",
    "color",
    "exclude-protected",
    "plan",
    "suppress-outputs",
    "suppress-progress",
    "always-include-summary",
    "continue-on-error",
    "log-verbosity",
    "log-flow",
    "debug",
}


def load(name: str) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps(doc: dict):
    for job_name, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, job, step


def drctl_commands(doc: dict) -> list[list[str]]:
    """Each `python -m drctl ...` a run step executes, as argv from `drctl` on (`${{ x }}` as one word `<x>`)."""
    out = []
    for _, _, step in steps(doc):
        for command in re.findall(r"-m (drctl[^)\"\n]*)", step.get("run", "")):
            out.append(shlex.split(re.sub(r"\$\{\{\s*(.*?)\s*\}\}", r"<\1>", command)))
    return out


def check(files: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_workflows_are_valid_github_workflows(tmp_path):
    assert [p.name for p in WORKFLOWS] == ["deploy-stack.yml", "deploy.yml", "drift.yml", "pull-request.yml"]
    done = check(WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text((ROOT / ".github/workflows/drift.yml").read_text().replace("runs-on:", "runs_on:", 1))
    assert check([broken]).returncode != 0  # the validator does reject a mistake


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy-stack.yml", "drift.yml"])
def test_every_preview_and_update_passes_the_policy_pack(name):
    doc = load(name)
    operations = 0
    for _, _, step in steps(doc):
        if step.get("uses", "").startswith("pulumi/actions"):
            assert step["uses"] == PULUMI_ACTION
            given = step.get("with", {})
            assert set(given) <= PULUMI_ACTION_INPUTS, set(given) - PULUMI_ACTION_INPUTS
            if given.get("command") in ("preview", "up", "update", "refresh"):
                assert given["policyPacks"] == POLICY_PACK
                assert given["policyPackConfigs"] == "${{ matrix.policyPackConfig }}"
                operations += 1
        for line in step.get("run", "").splitlines():
            if re.search(r"\bpulumi (preview|up|refresh)\b", line):
                assert f"--policy-pack {POLICY_PACK}" in line
                operations += 1
            if "-m drctl deploy" in line and "--configure-only" not in line:
                operations += 1  # drctl deploy passes the pack on every preview and update (below)
    assert operations >= 1


def test_drctl_deploy_passes_the_pack_and_the_base_stacks_levels():
    from drctl.stackfile import load_stack_config
    from drctl.stacks import plan_deployment

    for stack, configs in (("prod", []), ("staging", ["policies/config.staging.json"])):
        plan = plan_deployment(stack, *load_stack_config(ROOT, stack))
        runner = deploy.Deployer(plan, {}, None, deploy.DeployOptions())
        assert runner.policy_args() == {"policy_packs": ["policies"], "policy_pack_configs": configs}


def test_pull_requests_preview_every_tier_and_comment_and_run_the_tests():
    doc = load("pull-request.yml")
    assert list(doc["on"]) == ["pull_request"]
    assert any(s.get("run") == "make test" for _, _, s in steps(doc))
    assert doc["jobs"]["preview"]["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.tiers) }}"
    assert ["drctl", "stacks", "--all", "--json", "--production", "false"] in drctl_commands(doc)
    preview = [s for _, _, s in steps(doc) if s.get("with", {}).get("command") == "preview"]
    assert [s["with"]["comment-on-pr"] for s in preview] == [True]
    assert preview[0]["with"]["stack-name"] == "${{ matrix.qualifiedStack }}"
    assert doc["jobs"]["preview"]["permissions"]["pull-requests"] == "write"


def test_make_test_runs_the_lint_gate_before_the_tests():
    """CI runs `make test` (.ci/run and the workflows): it depends on `lint`, which runs ruff's rules, ruff's format
    check (over the four packages and the tests) and mypy (over the packages pyproject.toml names), before pytest."""
    makefile = (ROOT / "Makefile").read_text()
    rules = {m[1]: m[2].split() for m in re.finditer(r"^([\w.-]+):(?!=)[ \t]*(.*)$", makefile, flags=re.MULTILINE)}
    assert "lint" in rules["test"], rules["test"]
    dry = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", "-C", str(ROOT), "test"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    gate = [
        next(i for i, line in enumerate(dry) if line.startswith("venv/bin/ruff check ")),
        next(i for i, line in enumerate(dry) if line.startswith("venv/bin/ruff format --check ")),
        dry.index("venv/bin/mypy"),
    ]
    tests = next(i for i, line in enumerate(dry) if " -m pytest " in line)
    assert gate == sorted(gate) and gate[-1] < tests, dry
    for i in gate[:2]:
        assert {"components", "failover", "policies", "drctl", "tests"} <= set(dry[i].split()), dry[i]
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert mypy["packages"] == ["components", "failover", "policies", "drctl"]


# The environments' credentials are configured in GitHub (docs/tiers-and-ci.md, "CI workflows"): `preview` holds read-only ones
# (Pulumi: Stack Read on the non-production stacks only), `preview-main` read-only ones for main's code, and
# the environment named after a stack its write credentials.
READ_ONLY_ENVIRONMENTS = {"preview", "preview-main"}


def _jobs_with_credentials(doc: dict):
    for name, job in doc["jobs"].items():
        aws = [s for s in job.get("steps", []) if s.get("uses", "").startswith("aws-actions/")]
        if aws or "secrets." in str(job.get("env", {})):
            yield name, job, aws


def test_a_pull_requests_code_runs_with_read_only_credentials_only():
    """No write-capable token and no token that can decrypt a production stack's secrets in a pull request's jobs:
    every job with credentials is in the `preview` environment with the read-only AWS role; production stacks are
    previewed offline (no credentials), their real previews run from main (deploy-stack.yml)."""
    doc = load("pull-request.yml")
    assert doc["permissions"] == {"contents": "read"}  # each job asks for what it needs
    jobs = list(_jobs_with_credentials(doc))
    assert [name for name, _, _ in jobs] == ["preview"]
    for _, job, aws in jobs:
        assert job["environment"] == "preview"
        assert [s["with"]["role-to-assume"] for s in aws] == ["${{ vars.AWS_PREVIEW_ROLE_ARN }}"]
        assert "AWS_DEPLOY_ROLE_ARN" not in str(job)
        assert not [s for s in job["steps"] if s.get("with", {}).get("command") in ("up", "update", "destroy")]
        assert not [s for s in job["steps"] if re.search(r"drctl deploy(?!.*--configure-only)", s.get("run", ""))]
    offline = doc["jobs"]["offline-preview"]
    assert "environment" not in offline and "env" not in offline
    assert "secrets." not in str(offline) and "permissions" not in offline
    assert ["drctl", "stacks", "--all", "--json", "--production", "true"] in drctl_commands(doc)
    assert any(argv[:3] == ["drctl", "preview", "--stack"] for argv in drctl_commands(doc))
    assert "--all-tiers" in offline["steps"][-1]["run"]


def test_the_plan_splits_production_stacks_from_the_others():
    def bases(flag: str) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-m", "drctl", "stacks", "--all", "--json", "--production", flag],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        rows = json.loads(done.stdout)["include"]
        assert all(r["production"] is (flag == "true") for r in rows)
        return {r["base"] for r in rows}

    assert bases("false") == {"staging"}  # dr:production: false
    assert bases("true") == {"prod", "do", "ovh"}  # dr:production defaults to true


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy-stack.yml", "drift.yml"])
def test_previews_never_print_outputs_and_previews_never_hold_write_credentials(name):
    doc = load(name)
    for job_name, job, aws in _jobs_with_credentials(doc):
        previews = [
            s for s in job["steps"] if s.get("with", {}).get("command") == "preview" or "--preview" in s.get("run", "")
        ]
        for step in previews:
            if "with" in step:
                assert step["with"]["suppress-outputs"] is True, job_name
            else:
                assert "--suppress-outputs" in step["run"], job_name
        if previews or job.get("environment") in READ_ONLY_ENVIRONMENTS:
            assert job["environment"] in READ_ONLY_ENVIRONMENTS, job_name
            assert [s["with"]["role-to-assume"] for s in aws] == ["${{ vars.AWS_PREVIEW_ROLE_ARN }}"], job_name
        else:
            assert job["environment"] == "${{ inputs.stack }}", job_name
            assert [s["with"]["role-to-assume"] for s in aws] == ["${{ vars.AWS_DEPLOY_ROLE_ARN }}"], job_name


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy-stack.yml", "drift.yml"])
def test_every_aws_session_outlives_its_job(name):
    """configure-aws-credentials asks for 1 h by default; a job that outlives its session fails mid-update."""
    for job_name, job, aws in _jobs_with_credentials(load(name)):
        for step in aws:
            seconds = step["with"]["role-duration-seconds"]
            assert job["timeout-minutes"] * 60 < seconds, job_name


def test_a_deploy_gets_a_four_hour_session_after_a_read_only_preview():
    doc = load("deploy-stack.yml")
    preview, up = doc["jobs"]["preview"], doc["jobs"]["up"]
    assert up["needs"] == "preview"  # prod's approver reads the preview first
    assert preview["environment"] == "preview-main"
    assert ["drctl", "deploy", "--stack", "<inputs.stack>", "--preview", "--suppress-outputs"] in drctl_commands(doc)
    aws = next(s for s in up["steps"] if s.get("uses", "").startswith("aws-actions/"))
    assert aws["with"]["role-duration-seconds"] == 14400  # the deploy role's MaxSessionDuration must allow it


def test_main_deploys_in_tier_order_per_stack_with_environments_and_a_concurrency_group():
    main, one = load("deploy.yml"), load("deploy-stack.yml")
    assert main["on"]["push"]["branches"] == ["main"]
    assert main["jobs"]["deploy"]["strategy"]["matrix"]["stack"] == ["staging", "do", "ovh"]
    assert (main["jobs"]["deploy-prod"]["with"]["stack"], main["jobs"]["deploy-prod"]["needs"]) == ("prod", "deploy")
    job = one["jobs"]["up"]
    assert job["environment"] == "${{ inputs.stack }}"  # prod's environment requires an approval
    assert job["concurrency"] == {"group": "deploy-${{ inputs.stack }}", "cancel-in-progress": False}
    assert ["drctl", "deploy", "--stack", "<inputs.stack>", "--suppress-outputs"] in drctl_commands(one)


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy-stack.yml", "drift.yml"])
def test_aws_by_oidc_role_and_other_tokens_from_secrets(name):
    doc = load(name)
    for _, job, aws in _jobs_with_credentials(doc):
        if aws:
            assert job.get("permissions", doc["permissions"])["id-token"] == "write"
    aws = [s for _, _, s in steps(doc) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")]
    assert aws and all(s["uses"] == "aws-actions/configure-aws-credentials@v4" for s in aws)
    for s in aws:
        assert s["with"]["role-to-assume"].startswith("${{ vars.AWS_")
        assert not {"aws-access-key-id", "aws-secret-access-key"} & set(s["with"])
    text = (ROOT / ".github" / "workflows" / name).read_text()
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for job in doc["jobs"].values():
        if "steps" in job and any("pulumi/actions" in s.get("uses", "") for s in job["steps"]):
            env = job["env"]
            for token in ("PULUMI_ACCESS_TOKEN", "DIGITALOCEAN_TOKEN", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY"):
                assert env[token] == f"${{{{ secrets.{token} }}}}"


def test_drift_detection_runs_daily_expects_no_changes_and_fails_visibly():
    doc = load("drift.yml")
    assert doc["on"]["schedule"][0]["cron"]
    preview = [s for _, _, s in steps(doc) if s.get("with", {}).get("command") == "preview"]
    assert [(s["with"]["refresh"], s["with"]["expect-no-changes"]) for s in preview] == [(True, True)]
    report = doc["jobs"]["report"]
    assert (report["if"], report["needs"]) == ("failure()", "drift")
    assert "gh issue create" in report["steps"][0]["run"]


def test_the_workflows_run_the_commands_the_readme_documents():
    """Every `drctl` command a workflow runs is shown in a code block of the README or of a docs/ page (CI's
    commands are in docs/tiers-and-ci.md), and every `make` step is documented there too."""
    readme = (ROOT / "README.md").read_text()
    docs = "\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    code = "\n".join(re.findall(r"^```[a-z]*\n(.*?)^```", readme + "\n" + docs, flags=re.DOTALL | re.MULTILINE))
    documented = [
        shlex.split(line[line.index("drctl") :].split("#")[0]) for line in code.splitlines() if "-m drctl " in line
    ]
    for doc in map(load, [p.name for p in WORKFLOWS]):
        for argv in drctl_commands(doc):
            flags = {w for w in argv if w.startswith("--")}
            assert any(d[:2] == argv[:2] and flags <= set(d) for d in documented), " ".join(argv)
        for _, _, step in steps(doc):
            if step.get("run", "").startswith("make "):
                assert any(f"`{step['run']}`" in text or f"{step['run']} " in text for text in (readme, docs))


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy-stack.yml", "drift.yml"])
def test_jobs_that_reach_doks_clusters_install_doctl_first(name):
    """The DOKS kubeconfig's exec credential runs `doctl` at every connection (preview, up, refresh)."""
    for job_name, job, _ in _jobs_with_credentials(load(name)):
        uses = [s.get("uses", "") for s in job["steps"]]
        doctl = [i for i, u in enumerate(uses) if u.startswith("digitalocean/action-doctl@")]
        pulumi = [
            i
            for i, s in enumerate(job["steps"])
            if s.get("with", {}).get("command")
            or ("-m drctl deploy" in s.get("run", "") and "--configure-only" not in s.get("run", ""))
        ]
        assert doctl and pulumi and doctl[0] < min(pulumi), job_name
        step = job["steps"][doctl[0]]
        assert step["with"]["token"] == "${{ secrets.DIGITALOCEAN_TOKEN }}"
        assert step["if"] == "env.DIGITALOCEAN_TOKEN != ''"  # stacks without DOKS have no token
