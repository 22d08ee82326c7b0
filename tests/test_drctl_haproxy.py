"""`python -m drctl haproxy` as an operator runs it: a subprocess, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import yaml

from components.sites.ovh.haproxy_config import hash_stats_password
from drctl.haproxy import preview_stats_salt
from drctl.stackfile import SECRET_PLACEHOLDER
from tests.haproxy_env import PASSWORD, ROOT, haproxy_check, require_haproxy


def drctl(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "drctl", "haproxy", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_prints_the_site_config_with_the_preview_salt_and_placeholder():
    run = drctl("--stack", "ovh", "--site", "gra")
    assert run.returncode == 0, run.stderr
    salt = preview_stats_salt("orders", "gra")
    assert f"    user admin password {hash_stats_password(SECRET_PLACEHOLDER, salt)}\n" in run.stdout
    assert run.stdout.startswith("# dynamodb-dr haproxy.cfg of site gra")
    assert "server site_rbx 10.20.0.2:8081 backup check inter 2000 rise 2 fall 3" in run.stdout
    notes = " ".join(run.stderr.split())  # wrapped at 80 columns
    assert "the salt is the offline preview's stand-in" in notes
    assert "hashed the offline preview's placeholder" in notes
    assert all(len(line) <= 80 for line in run.stderr.splitlines())


def test_password_from_stdin_and_deployed_salt():
    run = drctl(
        "--stack", "ovh", "--site", "rbx", "--salt", "DeployedSalt0001", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert run.returncode == 0, run.stderr
    assert f"    user admin password {hash_stats_password(PASSWORD, 'DeployedSalt0001')}\n" in run.stdout
    assert PASSWORD not in run.stdout + run.stderr
    assert run.stderr == ""


def test_unknown_stack_exits_2_naming_it():
    run = drctl("--stack", "nope", "--site", "gra")
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and "Pulumi.nope.yaml: no such stack file" in run.stderr


def test_unknown_site_exits_2_naming_it():
    run = drctl("--stack", "ovh", "--site", "sbg")
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr == "error: --site sbg: stack 'ovh' has no such site (sites: gra, rbx)\n"


def test_stack_of_another_layout_exits_2():
    run = drctl("--stack", "prod", "--site", "gra")
    assert run.returncode == 2
    assert run.stderr == "error: dr:layout: stack 'prod' has layout 'aws'; `drctl haproxy` needs 'ovh-hybrid'\n"


def test_bad_salt_and_short_password_exit_2():
    run = drctl("--stack", "ovh", "--site", "gra", "--salt", "no spaces allowed")
    assert (run.returncode, run.stderr.startswith("error: --salt: ")) == (2, True), run.stderr
    run = drctl("--stack", "ovh", "--site", "gra", "--password-stdin", stdin="short\n")
    assert run.returncode == 2 and "at least 16 characters" in run.stderr and "short" not in run.stderr.split(":")[-1]


def test_config_error_exits_2_with_the_key_path(tmp_path):
    doc = yaml.safe_load((ROOT / "Pulumi.ovh.yaml").read_text())
    doc["config"]["dr:sites"][0]["stats"]["bindAddress"] = "0.0.0.0"
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    run = drctl("--stack", "bad", "--site", "gra", "--stack-file", str(path))
    assert run.returncode == 2
    assert run.stderr.startswith("error: dr:sites[0].stats.bindAddress: 0.0.0.0 is the wildcard address")
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_printed_http_config_passes_haproxy_check(tmp_path):
    require_haproxy()
    doc = yaml.safe_load((ROOT / "Pulumi.ovh.yaml").read_text())
    for site in doc["config"]["dr:sites"]:
        site.pop("tls")
    for secrets in doc["config"]["dr:siteSecrets"].values():
        secrets.pop("tlsKey")
    path = tmp_path / "Pulumi.http.yaml"
    path.write_text(yaml.safe_dump(doc))
    run = drctl("--stack", "http", "--site", "rbx", "--stack-file", str(path))
    assert run.returncode == 0, run.stderr
    check = haproxy_check(run.stdout, tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
