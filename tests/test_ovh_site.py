"""OvhSite under Pulumi's mocks: assertions read the RegisterResource requests the engine would receive."""

from __future__ import annotations

import subprocess
import sys

import pulumi
import pytest

from components.config import decode_engine_config
from components.sites.ovh.checks import parse_ovh_sites
from components.sites.ovh.component import OvhSite, OvhSiteArgs, server_lookup_problem
from components.sites.ovh.haproxy_config import (
    REDACTED_HASH,
    STAGED_CONFIG,
    deploy_script,
    hash_stats_password,
    redact_password_hashes,
    render_site_config,
)
from components.sites.ovh.names import site_component_name
from drctl import mocks
from drctl.stackfile import SECRET_PLACEHOLDER, load_stack_config
from tests.haproxy_env import PASSWORD, ROOT, ovh_values, with_secrets

SECRET = frozenset({"siteSecrets"})
SALT = "random:index/randomString:RandomString"
COPY = "command:remote:CopyToRemote"
INSTALL = "command:remote:Command"


def sites(values=None):
    return parse_ovh_sites(with_secrets(values or ovh_values()), SECRET)


def _declare(cfg, name="gra"):
    def declare():
        site = OvhSite(site_component_name("orders", name), OvhSiteArgs.from_config(cfg, name))
        endpoint = site.site.endpoint
        return pulumi.Output.all(
            ip=endpoint.ip_address,
            scale=site.site.scale_target,
            salt=site.stats_salt,
            outputs=site.site.outputs,
            config=site.config,
        )

    return declare


def _text(copy) -> str:
    """The delivered haproxy.cfg: a secret input (it holds the password's hash), read as the policy pack sees it."""
    assert copy.inputs["source"] == "[secret]"
    return copy.revealed_inputs["source"]["asset"]["text"]


def test_gra_delivers_the_rendered_config_with_a_hash_only(recorder):
    cfg = sites()
    rec = recorder(_declare(cfg))
    component = rec.one("dr:sites:OvhSite")
    assert component.name == "orders-gra"
    salt = rec.one(SALT)
    assert salt.name == "orders-gra-stats-salt"
    assert salt.inputs == {"length": 16, "special": False, "keepers": {"statsPassword": "[secret]"}}
    copy, install = rec.one(COPY), rec.one(INSTALL)
    for child in (salt, copy, install):
        assert child.parent == component.urn
    assert (copy.name, install.name) == ("orders-gra-haproxy-cfg", "orders-gra-haproxy-install")
    text = _text(copy)
    expected = render_site_config(cfg, "gra", salt.outputs["result"])
    assert text == expected
    password_hash = hash_stats_password(PASSWORD, salt.outputs['result'])
    assert f"password {password_hash}" in text
    assert PASSWORD not in str([r.inputs for r in rec.resources])
    assert password_hash not in str([r.inputs for r in rec.resources])  # what state and previews show
    assert PASSWORD not in text
    assert copy.inputs["remotePath"] == STAGED_CONFIG
    assert copy.inputs["connection"] == "[secret]"  # carries the private key
    assert install.inputs["connection"] == "[secret]"
    assert install.inputs["create"] == deploy_script(site="gra", tls=True, sudo=True)
    assert install.inputs["stdin"] == "[secret]"  # certificate + key
    # a changed config re-runs the install; its diff is reviewable, all but the hash
    assert install.inputs["triggers"] == [redact_password_hashes(text), "[secret]"]
    assert redact_password_hashes(text) == text.replace(password_hash, REDACTED_HASH)
    assert install.revealed_inputs["triggers"] == [redact_password_hashes(text), text]
    assert copy.urn in install.depends_on
    assert rec.value["config"] == text


def test_the_hash_and_the_config_are_secret_outputs_and_the_reviewable_config_is_not(recorder):
    """Secret-ness is not applied to mocked resource outputs: the component wraps them itself (asserted here on
    the outputs' own flags, resolved inside the test program)."""
    cfg = sites()

    def declare():
        site = OvhSite("orders-gra", OvhSiteArgs.from_config(cfg, "gra"))
        return pulumi.Output.all(
            hash_secret=site.stats_password_hash.is_secret(),
            config_secret=site.config.is_secret(),
            reviewable_secret=site.reviewable_config.is_secret(),
            salt_secret=site.stats_salt.is_secret(),
            password_hash=pulumi.Output.unsecret(site.stats_password_hash),
            reviewable=site.reviewable_config,
        )

    value = recorder(declare).value
    assert (value["hash_secret"], value["config_secret"], value["reviewable_secret"], value["salt_secret"]) == (
        True,
        True,
        False,
        False,
    )
    assert value["password_hash"].startswith("$6$rounds=5000$") or value["password_hash"].startswith("$6$")
    assert value["password_hash"] not in value["reviewable"] and REDACTED_HASH in value["reviewable"]


def test_redaction_covers_every_userlist_password():
    text = "userlist a\n    user admin password $6$abc$def\n    user ops password $6$x$y\nlisten stats\n"
    assert redact_password_hashes(text) == (
        f"userlist a\n    user admin password {REDACTED_HASH}\n    user ops password {REDACTED_HASH}\nlisten stats\n"
    )


def _connections(cfg, name="gra"):
    """Declares the site and resolves the SSH connection each child is given (read before registration: the
    engine sees the connection only as a secret)."""
    seen: dict[str, object] = {}

    def capture(args: pulumi.ResourceTransformationArgs):
        if "connection" in args.props:
            seen[args.name] = args.props["connection"]
        return None

    def declare():
        OvhSite(
            site_component_name("orders", name),
            OvhSiteArgs.from_config(cfg, name),
            pulumi.ResourceOptions(transformations=[capture]),
        )
        return pulumi.Output.all(
            **{
                child: pulumi.Output.all(
                    host=c.host,
                    user=c.user,
                    port=c.port,
                    host_key=c.host_key,
                    key_is_secret=pulumi.Output.from_input(c.private_key).is_secret(),
                )
                for child, c in seen.items()
            }
        )

    return declare


def test_connection_is_pinned_to_the_host_key(recorder):
    cfg = sites()
    value = recorder(_connections(cfg)).value
    assert sorted(value) == ["orders-gra-haproxy-cfg", "orders-gra-haproxy-install"]
    for connection in value.values():
        assert connection == {
            "host": "203.0.113.10",
            "user": "debian",
            "port": 22,
            "host_key": cfg.site("gra").haproxy.pinned_host_key,
            "key_is_secret": True,
        }
    assert cfg.site("gra").haproxy.pinned_host_key.startswith("ssh-ed25519 AAAA")


def test_site_handed_to_the_plane(recorder):
    cfg = sites()
    captured = {}

    def declare():
        site = OvhSite("orders-rbx", OvhSiteArgs.from_config(cfg, "rbx"))
        captured["site"] = site.site
        return pulumi.Output.all(ip=site.site.endpoint.ip_address, scale=site.site.scale_target)

    rec = recorder(declare)
    site = captured["site"]
    assert (site.name, site.location, site.data_region) == ("rbx", "RBX", "eu-west-1")
    assert (site.endpoint.scheme, site.endpoint.port, site.endpoint.is_alias) == ("https", 443, False)
    assert rec.value == {"ip": "203.0.113.20", "scale": {"kind": "none"}}
    assert site.orchestrator_statements == []


def test_http_site_has_no_certificate_on_stdin(recorder):
    values = ovh_values()
    del values["sites"][0]["tls"]
    cfg = sites(values)
    captured = {}

    def declare():
        site = OvhSite("orders-gra", OvhSiteArgs.from_config(cfg, "gra"))
        captured["endpoint"] = site.site.endpoint
        return site.config

    rec = recorder(declare)
    install = rec.one(INSTALL)
    assert "stdin" not in install.inputs
    assert install.inputs["create"] == deploy_script(site="gra", tls=False, sudo=True)
    assert (captured["endpoint"].scheme, captured["endpoint"].port) == ("http", 80)


def test_root_user_runs_without_sudo(recorder):
    values = ovh_values()
    values["sites"][0]["haproxy"]["sshUser"] = "root"
    rec = recorder(_declare(sites(values)))
    assert "sudo" not in rec.one(INSTALL).inputs["create"]


def test_service_name_reads_the_server_from_ovhcloud(recorder):
    values = ovh_values()
    host = values["sites"][0]["haproxy"]
    host.pop("publicIp")
    host["serviceName"] = "ns-gra-lb.example.eu"
    values["sites"][0]["servers"][0]["serviceName"] = "ns-gra-app1.example.eu"
    mocks.OVH_SERVERS["ns-gra-lb.example.eu"] = {"ip": "203.0.113.77", "datacenter": "gra2", "state": "ok"}
    mocks.OVH_SERVERS["ns-gra-app1.example.eu"] = {"ip": "203.0.113.78", "datacenter": "gra3", "state": "ok"}
    try:
        rec = recorder(_declare(sites(values)))
        connections = recorder(_connections(sites(values))).value
    finally:
        mocks.OVH_SERVERS.clear()
    assert rec.value["ip"] == "203.0.113.77"
    assert rec.value["outputs"]["publicIp"] == "203.0.113.77"
    assert {c["host"] for c in connections.values()} == {"203.0.113.77"}


_WRONG_REGION_PROGRAM = """
import sys
import pulumi
from drctl import mocks
mocks.install()
from components.sites.ovh.checks import parse_ovh_sites
from components.sites.ovh.component import OvhSite, OvhSiteArgs
from tests.haproxy_env import ovh_values, with_secrets

values = ovh_values()
values["sites"][0]["servers"][1]["serviceName"] = "ns-somewhere.example.eu"
mocks.OVH_SERVERS["ns-somewhere.example.eu"] = {"ip": "203.0.113.79", "datacenter": "rbx5", "state": "ok"}
cfg = parse_ovh_sites(with_secrets(values), frozenset({"siteSecrets"}))

@pulumi.runtime.test
def program():
    return OvhSite("orders-gra", OvhSiteArgs.from_config(cfg, "gra")).config

try:
    program()
except Exception as exc:
    print(f"refused: {exc}")
    sys.exit(0)
print("deployed")
sys.exit(1)
"""


def test_a_server_in_another_region_stops_the_deployment():
    """In its own interpreter: after a Pulumi program fails under the mocks, Python 3.11.7's shared AST state
    was seen inconsistent here (cpython gh-106905), failing later imports of the same test process."""
    run = subprocess.run(
        [sys.executable, "-c", _WRONG_REGION_PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (
        "server gra-app-2 (ns-somewhere.example.eu): the OVHcloud server is in datacenter rbx5, not in region GRA"
        in run.stdout
    )


@pytest.mark.parametrize(
    "datacenter, state, problem",
    [
        ("gra3", "ok", None),
        ("rbx-hz", "ok", "x: the OVHcloud server is in datacenter rbx-hz, not in region GRA"),
        ("gra1", "hacked", "x: the OVHcloud server is in state 'hacked', not 'ok'"),
        ("", "ok", "x: the OVHcloud server is in datacenter ?, not in region GRA"),
    ],
)
def test_server_lookup_problem(datacenter, state, problem):
    assert server_lookup_problem("x", "GRA", datacenter, state) == problem


def test_certificate_without_key_is_refused():
    cfg = sites()
    args = OvhSiteArgs.from_config(cfg, "gra")
    with pytest.raises(ValueError, match="certificate but no tls_key"):
        OvhSite(
            "orders-gra",
            OvhSiteArgs(
                site=args.site,
                backups=args.backups,
                stats_password=args.stats_password,
                ssh_private_key=args.ssh_private_key,
            ),
        )


def test_drctl_haproxy_prints_exactly_what_the_offline_preview_delivers(recorder):
    """Same stack file, same placeholder password, same salt derivation: byte for byte the delivered text."""
    raw, secret = decode_engine_config(*load_stack_config(ROOT, "ovh"))
    cfg = parse_ovh_sites(raw, secret)
    assert cfg.secrets_of("rbx").stats_password.get_secret_value() == SECRET_PLACEHOLDER
    delivered = _text(recorder(_declare(cfg, "rbx")).one(COPY))
    run = subprocess.run(
        [sys.executable, "-m", "drctl", "haproxy", "--stack", "ovh", "--site", "rbx"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == delivered
