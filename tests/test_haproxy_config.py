"""The rendered haproxy.cfg: its shape, the stats password as a sha512-crypt hash with a stable salt, every
config accepted by Debian's `haproxy -c`, and the install script run for real against a bad and a good config."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck as HypothesisHealthCheck
from hypothesis import given, settings
from hypothesis import strategies as st

from components.sites.ovh.checks import parse_ovh_sites
from components.sites.ovh.haproxy_config import (
    CONFIG_MARKER,
    HaproxySite,
    HealthCheck,
    HostRuntime,
    Server,
    deploy_script,
    haproxy_site,
    hash_stats_password,
    is_sha512_crypt,
    render_haproxy_config,
    render_site_config,
)
from tests.haproxy_env import PASSWORD, haproxy_check, ovh_values, require_haproxy, self_signed_pem, with_secrets

SALT = "abcdefgh12345678"
SECRET = frozenset({"siteSecrets"})


def sites(values=None):
    return parse_ovh_sites(with_secrets(values or ovh_values()), SECRET)


def section(text: str, header: str) -> list[str]:
    """The indented lines under `header` (exact header line)."""
    lines = text.splitlines()
    start = lines.index(header) + 1
    out = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        out.append(line.strip())
    return out


def test_hash_is_sha512_crypt_with_the_given_salt():
    hashed = hash_stats_password(PASSWORD, SALT)
    assert hashed.startswith(f"$6${SALT}$")
    assert len(hashed.split("$")[3]) == 86
    assert is_sha512_crypt(hashed)
    assert hash_stats_password(PASSWORD, SALT) == hashed  # stable: no spurious diff on the next `pulumi up`
    assert hash_stats_password(PASSWORD, "otherSalt1234567") != hashed
    assert hash_stats_password(PASSWORD + "x", SALT) != hashed


def test_hash_matches_libxcrypt():
    """An independent implementation (the C library HAProxy itself calls) computes the same hash."""
    name = ctypes.util.find_library("crypt")
    if name is None:
        pytest.skip("libcrypt is not installed")
    libcrypt = ctypes.CDLL(name)
    libcrypt.crypt.restype = ctypes.c_char_p
    libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    expected = libcrypt.crypt(PASSWORD.encode(), f"$6${SALT}$".encode()).decode()
    assert hash_stats_password(PASSWORD, SALT) == expected


@pytest.mark.parametrize(
    "value",
    ["plain-password", "$2b$12$" + "a" * 53, "$5$salt$" + "a" * 43, "$6$salt$short", "$6$salt$" + "a" * 85 + "!"],
)
def test_anything_but_a_sha512_crypt_hash_is_refused(value):
    assert not is_sha512_crypt(value)
    with pytest.raises(ValueError, match="sha512-crypt"):
        render_haproxy_config(haproxy_site(sites(), "gra"), value)


@pytest.mark.parametrize("salt", ["", "x" * 17, "has space 123456", "dollar$in"])
def test_bad_salts_are_refused(salt):
    with pytest.raises(ValueError, match="salt"):
        hash_stats_password(PASSWORD, salt)


def test_crypt_module_is_not_imported():
    """Python 3.11's `crypt` is deprecated (gone in 3.13): the hashing library must not pull it in."""
    code = (
        "import sys, components.sites.ovh.haproxy_config as h; h.hash_stats_password('x' * 16, 'abc'); "
        "sys.exit(1 if 'crypt' in sys.modules else 0)"
    )
    run = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr


def test_gra_config_shape():
    text = render_site_config(sites(), "gra", SALT)
    assert text.startswith(CONFIG_MARKER + " of site gra")
    assert PASSWORD not in text
    assert section(text, "backend app_servers") == [
        "balance roundrobin",
        "option httpchk",
        "http-check send meth GET uri /health ver HTTP/1.1 hdr Host api.orders.example.com",
        "http-check expect status 200",
        "server gra-app-1 10.10.0.11:8080 weight 100 check inter 2000 rise 2 fall 3",
        "server gra-app-2 10.10.0.12:8080 weight 100 check inter 2000 rise 2 fall 3",
        "server site_rbx 10.20.0.2:8081 backup check inter 2000 rise 2 fall 3",
    ]
    assert section(text, "backend local_servers") == [
        "balance roundrobin",
        "server gra-app-1 10.10.0.11:8080 weight 100 track app_servers/gra-app-1",
        "server gra-app-2 10.10.0.12:8080 weight 100 track app_servers/gra-app-2",
    ]
    assert section(text, "frontend public_http") == ["bind :80", "http-request redirect scheme https code 301"]
    assert section(text, "frontend public_https") == [
        "bind :443 ssl crt /etc/haproxy/certs/gra.pem alpn h2,http/1.1",
        "http-request set-header X-Forwarded-Proto https",
        "http-response set-header Strict-Transport-Security max-age=31536000",
        "use_backend local_servers if { path /health /health/route }",
        "default_backend app_servers",
    ]
    assert section(text, "frontend peer_in") == ["bind 10.10.0.2:8081", "default_backend local_servers"]
    assert section(text, "listen stats") == [
        "bind 10.10.0.2:8404",
        "stats enable",
        "stats uri /",
        "stats refresh 10s",
        "http-request auth realm haproxy-stats unless { http_auth(stats_users) }",
    ]
    assert section(text, "userlist stats_users") == [f"user admin password {hash_stats_password(PASSWORD, SALT)}"]
    assert "timeout check 2000ms" in section(text, "defaults")


def test_http_only_site_serves_its_frontend_and_backs_up_to_gra():
    values = ovh_values()
    del values["sites"][1]["tls"]
    text = render_site_config(sites(values), "rbx", SALT)
    assert section(text, "frontend public_http") == [
        "bind :80",
        "http-request set-header X-Forwarded-Proto http",
        "use_backend local_servers if { path /health /health/route }",
        "default_backend app_servers",
    ]
    assert "frontend public_https" not in text
    backend = section(text, "backend app_servers")
    assert "server site_gra 10.10.0.2:8081 backup check inter 2000 rise 2 fall 3" in backend


def test_same_inputs_render_the_same_text():
    assert render_site_config(sites(), "rbx", SALT) == render_site_config(sites(), "rbx", SALT)


def test_every_shipped_site_passes_haproxy_check(tmp_path):
    require_haproxy()
    cfg = sites()
    for site in cfg.sites:
        self_signed_pem(tmp_path, site.name)
        text = render_haproxy_config(
            haproxy_site(cfg, site.name), hash_stats_password(PASSWORD, SALT), HostRuntime(cert_dir=str(tmp_path))
        )
        run = haproxy_check(text, tmp_path)
        assert run.returncode == 0, f"{site.name}: {run.stdout}{run.stderr}"
        assert "Configuration file is valid" in run.stdout


def test_deployed_http_config_passes_haproxy_check_unchanged(tmp_path):
    """Without a certificate, exactly the text that is delivered (Debian paths) is checked."""
    require_haproxy()
    values = ovh_values()
    for site in values["sites"]:
        del site["tls"]
    cfg = sites(values)
    for site in cfg.sites:
        run = haproxy_check(render_site_config(cfg, site.name, SALT), tmp_path)
        assert run.returncode == 0, f"{site.name}: {run.stdout}{run.stderr}"


def test_haproxy_check_catches_a_broken_config(tmp_path):
    """The validator the deployment relies on does reject mistakes (so the passing checks above mean something)."""
    text = render_site_config(sites(), "rbx", SALT).replace("balance roundrobin", "balance round-robin", 1)
    self_signed_pem(tmp_path, "rbx")
    text = text.replace("/etc/haproxy/certs", str(tmp_path))
    run = haproxy_check(text, tmp_path)
    assert run.returncode != 0
    assert "balance only supports" in run.stdout + run.stderr


_names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
_octet = st.integers(min_value=1, max_value=254)


@st.composite
def haproxy_sites(draw):
    names = draw(st.lists(_names, min_size=1, max_size=6, unique=True))
    servers = tuple(
        Server(
            n,
            f"10.{draw(_octet)}.{draw(_octet)}.{draw(_octet)}",
            draw(st.integers(1, 65535)),
            draw(st.integers(1, 256)),
        )
        for n in names
    )
    backups = tuple(
        Server(f"site_{n}", f"10.99.{i}.2", 8081) for i, n in enumerate(draw(st.lists(_names, max_size=3, unique=True)))
    )
    return HaproxySite(
        name=draw(_names),
        http_port=draw(st.sampled_from([80, 8080])),
        peer_address="10.1.0.2",
        peer_port=8081,
        servers=servers,
        backups=backups,
        health_check=HealthCheck(
            draw(st.from_regex(r"/[a-z0-9/_-]{0,20}", fullmatch=True)),
            "api.example.test",
            draw(st.integers(200, 399)),
            draw(st.integers(500, 30000)),
            draw(st.integers(1, 10)),
            draw(st.integers(1, 10)),
        ),
        stats_address="10.1.0.2",
        stats_port=8404,
        stats_user=draw(st.from_regex(r"[a-z]{1,10}", fullmatch=True)),
        bind_address=draw(st.sampled_from([None, "10.1.0.2"])),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HypothesisHealthCheck.function_scoped_fixture])
@given(site=haproxy_sites(), password=st.text(min_size=16, max_size=40).filter(lambda p: "\x00" not in p))
def test_any_valid_site_renders_a_config_haproxy_accepts(tmp_path, site, password):
    require_haproxy()
    text = render_haproxy_config(site, hash_stats_password(password, SALT))
    run = haproxy_check(text, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    for server in site.servers:
        assert f"server {server.name} {server.address}:{server.port} weight {server.weight} check " in text
    assert text.count(" backup check ") == len(site.backups)


# -- the install script, run for real with the real haproxy and a recording stand-in for systemctl ---------------
def _install_env(tmp_path: Path) -> tuple[dict, Path]:
    haproxy = require_haproxy()
    bin_dir = tmp_path / "bin"
    calls = tmp_path / "systemctl.calls"
    calls.unlink(missing_ok=True)
    if not bin_dir.exists():
        bin_dir.mkdir()
        (bin_dir / "systemctl").write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
        (bin_dir / "systemctl").chmod(0o755)
        (bin_dir / "haproxy").symlink_to(haproxy)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    return env, calls


def _group() -> str:
    import grp

    return grp.getgrgid(os.getgid()).gr_name


def _run_install(tmp_path: Path, text: str, tls: bool, stdin: str = "") -> tuple[subprocess.CompletedProcess, Path]:
    env, calls = _install_env(tmp_path)
    staged = tmp_path / "home" / ".dynamodb-dr" / "haproxy.cfg"
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_text(text)
    script = deploy_script(
        site="gra",
        tls=tls,
        sudo=False,
        staged=str(staged),
        live=str(tmp_path / "live.cfg"),
        cert_dir=str(tmp_path / "certs"),
        group=_group(),
    )
    run = subprocess.run(["sh", "-c", script], input=stdin, env=env, capture_output=True, text=True, timeout=60)
    return run, calls


def test_install_refuses_a_bad_config_and_keeps_the_running_proxy(tmp_path):
    live = tmp_path / "live.cfg"
    live.write_text("the config the proxy runs\n")
    run, calls = _run_install(tmp_path, "global\n    not-a-directive\n", tls=False)
    assert run.returncode == 1
    assert "haproxy -c rejected the new config" in run.stderr
    assert live.read_text() == "the config the proxy runs\n"
    assert not calls.exists()  # no reload, no restart


def test_install_puts_a_good_config_in_place_and_reloads(tmp_path):
    values = ovh_values()
    del values["sites"][0]["tls"]
    text = render_site_config(sites(values), "gra", SALT)
    live = tmp_path / "live.cfg"
    live.write_text("old\n")
    run, calls = _run_install(tmp_path, text, tls=False)
    assert run.returncode == 0, run.stderr
    assert live.read_text() == text
    assert (tmp_path / "live.cfg.previous").read_text() == "old\n"
    assert oct(live.stat().st_mode & 0o777) == "0o640"
    assert calls.read_text() == "reload-or-restart haproxy\n"


def test_install_rolls_the_certificate_back_when_the_check_fails(tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    old_pem = self_signed_pem(certs, "gra").read_text()
    new_pem = self_signed_pem(tmp_path, "new").read_text()
    text = render_site_config(sites(), "gra", SALT).replace("/etc/haproxy/certs", str(certs))
    broken = text.replace("balance roundrobin", "balance nope", 1)
    run, calls = _run_install(tmp_path, broken, tls=True, stdin=new_pem)
    assert run.returncode == 1
    assert (certs / "gra.pem").read_text() == old_pem
    assert not calls.exists()
    run, calls = _run_install(tmp_path, text, tls=True, stdin=new_pem)
    assert run.returncode == 0, run.stderr
    assert (certs / "gra.pem").read_text() == new_pem
    assert oct((certs / "gra.pem").stat().st_mode & 0o777) == "0o600"
    assert calls.read_text() == "reload-or-restart haproxy\n"


def test_install_uses_sudo_for_a_non_root_user():
    script = deploy_script(site="gra", tls=True, sudo=True)
    commands = [line for line in script.splitlines() if "haproxy -c" in line or "systemctl" in line or " mv " in line]
    assert commands and all("sudo -n " in line for line in commands)
    assert "sudo" not in deploy_script(site="gra", tls=True, sudo=False)


def test_missing_haproxy_fails_under_ci_and_skips_elsewhere(monkeypatch):
    import tests.haproxy_env as env

    monkeypatch.setattr(env, "haproxy_path", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="haproxy is not installed"):
        env.require_haproxy()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="haproxy is not installed"):
        env.require_haproxy()
