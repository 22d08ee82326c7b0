"""`make test` on a GitHub-hosted runner (a non-root user with passwordless sudo, no haproxy, no graphviz):
`.ci/install-test-tools` against stand-ins for `id`, `sudo` and `apt-get` for every kind of user, and, as root, `.ci/nonroot-ci`, which runs
`CI=true make test` as a throwaway non-root user with sudo in a throwaway root filesystem and proves that haproxy
gets installed and the haproxy tests run rather than skip."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / ".ci" / "install-test-tools"
SYSTEM_TOOLS = ("sh", "chmod", "rm", "env")
"""The only programs the script (and the stand-ins) run besides the stand-ins: a PATH of these alone hides this
machine's own haproxy and dot."""

FAKE_ID = '#!/bin/sh\n[ "$1" = -u ] && echo "$FAKE_UID"\n'
# Records its argv; `-n true` answers whether sudo is passwordless; otherwise runs the command (as "root").
FAKE_SUDO = """#!/bin/sh
printf "sudo %s\n" "$*" >> "$CALLS"
[ "$1" = -n ] || { echo "sudo without -n would prompt" >&2; exit 1; }
shift
if [ "$1" = true ]; then [ "$FAKE_SUDO_OK" = 1 ]; exit; fi
exec "$@"
"""
# Records its argv, its DEBIAN_FRONTEND and what policy-rc.d says while it installs; FAKE_APT_FAIL=1 fails install.
FAKE_APT = """#!/bin/sh
echo "apt-get $* [DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-}]" >> "$CALLS"
if [ "$1" = install ]; then
    if [ -e "$POLICY_RC_D" ]; then "$POLICY_RC_D" haproxy start; echo "policy-rc.d: $?" >> "$CALLS"; fi
    [ "${FAKE_APT_FAIL:-0}" = 1 ] && exit 100
fi
exit 0
"""


@pytest.fixture
def fake(tmp_path):
    bin_dir, system = tmp_path / "bin", tmp_path / "system"
    bin_dir.mkdir()
    system.mkdir()
    for name, text in (("id", FAKE_ID), ("sudo", FAKE_SUDO), ("apt-get", FAKE_APT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    for tool in SYSTEM_TOOLS:
        (system / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")

    def run(uid: int, sudo_ok: bool = True, apt_fails: bool = False, policy: str | None = None):
        calls = tmp_path / "calls"
        calls.write_text("")
        policy_rc_d = tmp_path / "policy-rc.d"
        if policy is not None:
            policy_rc_d.write_text(policy)
            policy_rc_d.chmod(0o755)
        env = {
            "PATH": f"{bin_dir}:{system}",
            "CALLS": str(calls),
            "FAKE_UID": str(uid),
            "FAKE_SUDO_OK": "1" if sudo_ok else "0",
            "FAKE_APT_FAIL": "1" if apt_fails else "0",
            "HAPROXY_BIN": str(tmp_path / "haproxy"),
            "DOT_BIN": str(tmp_path / "dot"),
            "POLICY_RC_D": str(policy_rc_d),
        }
        done = subprocess.run(["sh", str(INSTALL)], env=env, capture_output=True, text=True, timeout=30)
        return done, calls.read_text().splitlines(), policy_rc_d

    return run


def test_a_non_root_user_with_passwordless_sudo_installs_both_through_sudo(fake):
    done, calls, policy_rc_d = fake(uid=1001)
    assert done.returncode == 0, done.stderr
    assert "installing Debian's haproxy graphviz with sudo" in done.stdout
    assert calls == [
        "sudo -n true",
        f"sudo -n sh -c {calls[1].split(' -c ', 1)[1]}",
        "sudo -n apt-get update -qq",
        "apt-get update -qq [DEBIAN_FRONTEND=]",
        "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy graphviz",
        "apt-get install -y -qq --no-install-recommends haproxy graphviz [DEBIAN_FRONTEND=noninteractive]",
        "policy-rc.d: 101",  # while the package installs, every service start is denied
        f"sudo -n rm -f {policy_rc_d}",
    ]
    assert not policy_rc_d.exists()  # the one it added is gone


def test_root_installs_with_apt_get_directly(fake):
    done, calls, _ = fake(uid=0)
    assert done.returncode == 0, done.stderr
    assert "installing Debian's haproxy graphviz for" in done.stdout
    assert not [c for c in calls if c.startswith("sudo")]
    assert "apt-get install -y -qq --no-install-recommends haproxy graphviz [DEBIAN_FRONTEND=noninteractive]" in calls


def test_without_passwordless_sudo_nothing_is_installed_and_it_says_so(fake):
    done, calls, _ = fake(uid=1001, sudo_ok=False)
    assert done.returncode == 0
    assert done.stdout == (
        "not installed: haproxy graphviz, this is not root and sudo is not passwordless: the tests that need them "
        "will be skipped (and fail under CI=true)\n"
    )
    assert calls == ["sudo -n true"]


def test_an_existing_policy_rc_d_is_kept_and_a_failed_install_fails_and_cleans_up(fake):
    mine = "#!/bin/sh\nexit 101\n# the machine's own\n"
    done, calls, policy_rc_d = fake(uid=1001, policy=mine)
    assert done.returncode == 0 and policy_rc_d.read_text() == mine
    assert not [c for c in calls if "sh -c" in c or "rm -f" in c]
    policy_rc_d.unlink()
    done, calls, policy_rc_d = fake(uid=1001, apt_fails=True)
    assert done.returncode == 100
    assert not policy_rc_d.exists() and calls[-1] == f"sudo -n rm -f {policy_rc_d}"


@pytest.mark.parametrize(("present", "installed"), [("haproxy", "graphviz"), ("dot", "haproxy")])
def test_only_what_is_missing_is_installed(fake, tmp_path, present, installed):
    (tmp_path / present).write_text("#!/bin/sh\n")
    (tmp_path / present).chmod(0o755)
    done, calls, _ = fake(uid=0)
    assert done.returncode == 0 and f"installing Debian's {installed} for" in done.stdout
    assert f"apt-get install -y -qq --no-install-recommends {installed} [DEBIAN_FRONTEND=noninteractive]" in calls


def test_installed_programs_are_left_alone(fake, tmp_path):
    for program in ("haproxy", "dot"):
        (tmp_path / program).write_text("#!/bin/sh\n")
        (tmp_path / program).chmod(0o755)
    done, calls, _ = fake(uid=1001)
    assert (done.returncode, done.stdout, calls) == (0, "", [])


def test_make_test_calls_the_script_and_ci_runs_make_test():
    makefile = (ROOT / "Makefile").read_text()
    assert "\t@sh .ci/install-test-tools\n" in makefile
    assert "test: $(VENV)/.installed test-tools lint\n" in makefile
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("\nmake test")


def _can_build_a_throwaway_root() -> str | None:
    if os.geteuid() != 0:
        return "needs root (it creates a user and installs packages in a throwaway root filesystem)"
    if not shutil.which("unshare") or not shutil.which("apt-get"):
        return "needs unshare and apt-get"
    if not (ROOT / "venv" / ".installed").exists():
        return "needs ./venv (make install)"
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=30)
    return None if probe.returncode == 0 else "mount namespaces are not available here"


def test_ci_steps_as_a_non_root_user_with_sudo_install_haproxy_and_graphviz_and_run_their_tests():
    """The whole path, for real: `.ci/nonroot-ci` (a few minutes; apt-get needs the Debian mirror)."""
    reason = _can_build_a_throwaway_root()
    if reason:
        pytest.skip(reason)
    had = [Path(p).exists() for p in ("/usr/sbin/haproxy", "/usr/bin/dot")]
    done = subprocess.run([str(ROOT / ".ci" / "nonroot-ci")], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "installing Debian's haproxy graphviz with sudo" in done.stdout
    assert "== as ci-runner (uid " in done.stdout and "(uid 0)" not in done.stdout
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("nonroot-ci: OK:") and " passed in " in last
    assert [Path(p).exists() for p in ("/usr/sbin/haproxy", "/usr/bin/dot")] == had  # nothing reached this machine
