"""The ovh-hybrid site keys: the shipped stack validates, each mistake names its key path, secrets stay secret."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.config import ConfigError, parse_stack_config
from components.sites.ovh.checks import parse_ovh_sites
from components.sites.ovh.config import backup_sites, in_proxy_failover_seconds
from components.sites.ovh.validators import OVH_REGIONS, authorized_key_from_known_hosts, datacenter_region
from components.stack_file import SECRET_KEYS
from tests.haproxy_env import PASSWORD, host_key_line, ovh_values, with_secrets
from tests.stack_values import dr_values

SECRET = frozenset({"siteSecrets"})


def parse(values: dict):
    return parse_ovh_sites(values, SECRET)


def test_shipped_stack_is_valid():
    cfg = parse(with_secrets(ovh_values()))
    assert [(s.name, s.ovh_region, s.aws_region) for s in cfg.sites] == [
        ("gra", "GRA", "eu-west-3"),
        ("rbx", "RBX", "eu-west-1"),
    ]
    gra = cfg.site("gra")
    assert gra.scheme == "https" and gra.public_port == 443
    assert [s.name for s in gra.servers] == ["gra-app-1", "gra-app-2"]
    assert (gra.health_check.inter_ms, gra.health_check.rise, gra.health_check.fall) == (2000, 2, 3)
    assert gra.haproxy.pinned_host_key.startswith("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")
    assert cfg.secrets_of("gra").stats_password.get_secret_value() == PASSWORD


def test_shipped_stack_file_holds_secrets_only_as_secure_values():
    """Read as the CLI hands it over: siteSecrets is a secret key, and nothing else is."""
    from drctl.stackfile import SECRET_PLACEHOLDER, load_stack_config
    from tests.haproxy_env import ROOT

    config, secret_keys = load_stack_config(ROOT, "ovh")
    assert secret_keys == ["dr:siteSecrets"]
    from components.config import decode_engine_config

    cfg = parse_ovh_sites(*decode_engine_config(config, secret_keys))
    assert cfg.secrets_of("rbx").stats_password.get_secret_value() == SECRET_PLACEHOLDER


def test_site_secrets_are_a_secret_key_of_the_common_model():
    assert "siteSecrets" in SECRET_KEYS
    values = dr_values("prod")
    values["siteSecrets"] = {"gra": {"statsPassword": "x" * 20}}
    with pytest.raises(ConfigError) as info:  # plain in an aws stack: refused before anything else
        parse_stack_config(values)
    assert info.value.key == "dr:siteSecrets" and "--secret" in info.value.message


def _site(values: dict, i: int = 0) -> dict:
    return values["sites"][i]


CASES = [
    (lambda v: _site(v).__setitem__("ovhRegion", "PAR1"), "dr:sites[0].ovhRegion", "not an OVHcloud region code"),
    (lambda v: _site(v).__setitem__("awsRegion", "paris"), "dr:sites[0].awsRegion", "not an AWS region"),
    (
        lambda v: _site(v, 1).__setitem__("awsRegion", "eu-west-3"),
        "dr:sites[1].awsRegion",
        "already used by dr:sites[0]",
    ),
    (lambda v: _site(v, 1).__setitem__("ovhRegion", "GRA"), "dr:sites[1].name", "already used"),
    (lambda v: v.__setitem__("sites", v["sites"][:1]), "dr:sites", "at least 2"),
    (
        lambda v: _site(v)["servers"][1].__setitem__("address", "51.15.0.3"),
        "dr:sites[0].servers[1].address",
        "not a private address",
    ),
    (
        lambda v: _site(v)["servers"][1].__setitem__("address", "10.0.0"),
        "dr:sites[0].servers[1].address",
        "not an IPv4 address",
    ),
    (
        lambda v: _site(v)["servers"][1].__setitem__("name", "gra-app-1"),
        "dr:sites[0].servers[1].name",
        "already servers[0]",
    ),
    (
        lambda v: _site(v)["servers"][1].update(address="10.10.0.11"),
        "dr:sites[0].servers[1].address",
        "10.10.0.11:8080 is already servers[0]",
    ),
    (lambda v: _site(v)["servers"][0].__setitem__("weight", 0), "dr:sites[0].servers[0].weight", "greater than"),
    (lambda v: _site(v)["servers"][0].__setitem__("port", 70000), "dr:sites[0].servers[0].port", "less than"),
    (lambda v: _site(v).__setitem__("servers", []), "dr:sites[0].servers", "at least 1"),
    (
        lambda v: _site(v)["haproxy"].__setitem__("publicIp", "10.1.2.3"),
        "dr:sites[0].haproxy.publicIp",
        "not a public IPv4",
    ),
    (
        lambda v: _site(v)["haproxy"].__setitem__("serviceName", "ns1.ip-1-2-3.eu"),
        "dr:sites[0].haproxy.publicIp",
        "either publicIp or serviceName",
    ),
    (lambda v: _site(v)["haproxy"].pop("publicIp"), "dr:sites[0].haproxy.publicIp", "either publicIp or serviceName"),
    (
        lambda v: _site(v)["haproxy"].__setitem__("privateAddress", "0.0.0.0"),
        "dr:sites[0].haproxy.privateAddress",
        "wildcard",
    ),
    (lambda v: _site(v)["haproxy"].__setitem__("sshUser", "Root User"), "dr:sites[0].haproxy.sshUser", "Unix user"),
    (
        lambda v: _site(v)["haproxy"].__setitem__("sshHostKey", "ssh-ed25519 AAAA"),
        "dr:sites[0].haproxy.sshHostKey",
        "known_hosts line",
    ),
    (
        lambda v: _site(v)["haproxy"].__setitem__("sshHostKey", "h ssh-dss AAAA"),
        "dr:sites[0].haproxy.sshHostKey",
        "not an SSH host key type",
    ),
    (lambda v: _site(v)["haproxy"].__setitem__("peerPort", 8404), "dr:sites[0].stats.port", "already haproxy.peerPort"),
    (lambda v: _site(v)["healthCheck"].__setitem__("rise", 0), "dr:sites[0].healthCheck.rise", "greater than"),
    (lambda v: _site(v)["healthCheck"].__setitem__("fall", 11), "dr:sites[0].healthCheck.fall", "less than"),
    (lambda v: _site(v)["healthCheck"].__setitem__("interMs", 100), "dr:sites[0].healthCheck.interMs", "500"),
    (lambda v: _site(v)["healthCheck"].__setitem__("interMs", 60000), "dr:sites[0].healthCheck.interMs", "30000"),
    (
        lambda v: _site(v)["healthCheck"].__setitem__("path", "/health check"),
        "dr:sites[0].healthCheck.path",
        "absolute URL path",
    ),
    (
        lambda v: _site(v)["healthCheck"].__setitem__("path", "/health#x"),
        "dr:sites[0].healthCheck.path",
        "absolute URL path",
    ),
    (lambda v: _site(v)["healthCheck"].pop("host"), "dr:sites[0].healthCheck.host", "required key is missing"),
    (
        lambda v: _site(v)["healthCheck"].__setitem__("expectStatus", 99),
        "dr:sites[0].healthCheck.expectStatus",
        "greater than",
    ),
    (lambda v: _site(v)["stats"].__setitem__("bindAddress", "0.0.0.0"), "dr:sites[0].stats.bindAddress", "wildcard"),
    (
        lambda v: _site(v)["stats"].__setitem__("bindAddress", "203.0.113.10"),
        "dr:sites[0].stats.bindAddress",
        "not a private address",
    ),
    (
        lambda v: _site(v)["stats"].__setitem__("bindAddress", "*"),
        "dr:sites[0].stats.bindAddress",
        "not an IPv4 address",
    ),
    (lambda v: _site(v)["stats"].__setitem__("passwd", "x"), "dr:sites[0].stats.passwd", "unknown key"),
    (lambda v: _site(v)["tls"].__setitem__("certificate", "not a pem"), "dr:sites[0].tls.certificate", "PEM"),
    (lambda v: v["siteSecrets"].pop("rbx"), "dr:siteSecrets.rbx.statsPassword", "pulumi config set --secret"),
    (lambda v: v["siteSecrets"]["gra"].pop("tlsKey"), "dr:siteSecrets.gra.tlsKey", "no key"),
    (lambda v: v["siteSecrets"].__setitem__("sbg", v["siteSecrets"]["gra"]), "dr:siteSecrets.sbg", "not a site"),
    (
        lambda v: v["siteSecrets"]["gra"].pop("sshPrivateKey"),
        "dr:siteSecrets.gra.sshPrivateKey",
        "required key is missing",
    ),
    (
        lambda v: v["siteSecrets"]["gra"].__setitem__("statsPassword", "short-secret"),
        "dr:siteSecrets.gra.statsPassword",
        "at least 16 characters",
    ),
]


@pytest.mark.parametrize("mutate, key, words", CASES)
def test_each_mistake_names_its_key(mutate, key, words):
    values = with_secrets(ovh_values())
    mutate(values)
    with pytest.raises(ConfigError) as info:
        parse(values)
    err = info.value
    assert err.key == key, str(err)
    assert words in err.message, str(err)
    assert "\n" not in str(err) and str(err).startswith(key + ": ")


def test_site_secrets_in_plain_text_are_refused():
    with pytest.raises(ConfigError) as info:
        parse_ovh_sites(with_secrets(ovh_values()), frozenset())
    assert info.value.key == "dr:siteSecrets"
    assert "pulumi config set --secret --path 'dr:siteSecrets." in info.value.message


def test_sites_as_a_secret_are_refused():
    with pytest.raises(ConfigError) as info:
        parse_ovh_sites(with_secrets(ovh_values()), frozenset({"siteSecrets", "sites"}))
    assert info.value.key == "dr:sites" and "plain configuration" in info.value.message


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(max_size=15), st.integers(), st.lists(st.text(max_size=5), max_size=2)))
def test_a_bad_secret_value_never_appears_in_the_message(bad):
    values = with_secrets(ovh_values())
    values["siteSecrets"]["gra"]["statsPassword"] = bad
    with pytest.raises(ConfigError) as info:
        parse(values)
    assert info.value.key.startswith("dr:siteSecrets.gra.statsPassword")
    if str(bad):
        assert repr(bad) not in str(info.value) and f"got {bad}" not in str(info.value)


def test_service_name_replaces_the_public_ip():
    values = with_secrets(ovh_values())
    _site(values)["haproxy"].pop("publicIp")
    _site(values)["haproxy"]["serviceName"] = "ns3012345.ip-51-210-1.eu"
    _site(values)["servers"][0]["serviceName"] = "ns3012346.ip-51-210-1.eu"
    cfg = parse(values)
    assert cfg.site("gra").haproxy.public_ip is None
    assert cfg.site("gra").haproxy.service_name == "ns3012345.ip-51-210-1.eu"


def test_site_without_certificate_is_http():
    values = ovh_values()
    del _site(values, 1)["tls"]
    cfg = parse(with_secrets(values))
    assert (cfg.site("rbx").scheme, cfg.site("rbx").public_port) == ("http", 80)
    assert cfg.secrets_of("rbx").tls_key is None


def test_known_hosts_line_becomes_the_pinned_key():
    line = host_key_line("203.0.113.10")
    assert authorized_key_from_known_hosts(line) == line.split(" ", 1)[1]
    assert authorized_key_from_known_hosts(line + " comment") == line.split(" ", 1)[1]
    mislabelled = line.replace("ssh-ed25519 ", "ecdsa-sha2-nistp256 ")
    with pytest.raises(ValueError, match="is a 'ssh-ed25519' key"):
        authorized_key_from_known_hosts(mislabelled)
    with pytest.raises(ValueError, match="not valid base64"):
        authorized_key_from_known_hosts("h ssh-ed25519 !!!")
    with pytest.raises(ValueError, match="markers"):
        authorized_key_from_known_hosts("@cert-authority *.example.com " + line.split(" ", 1)[1])
    assert base64.b64decode(line.split()[2])[4:15] == b"ssh-ed25519"


@pytest.mark.parametrize(
    "datacenter, region",
    [("gra3", "GRA"), ("rbx-hz", "RBX"), ("rbx8", "RBX"), ("ynm1", "YNM"), ("p19", None), ("", None)],
)
def test_datacenter_region(datacenter, region):
    assert datacenter_region(datacenter) == region


def test_in_proxy_failover_time_is_inter_times_fall():
    assert in_proxy_failover_seconds(parse(with_secrets(ovh_values())).site("gra")) == 6.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(sorted(OVH_REGIONS)), min_size=2, max_size=5, unique=True))
def test_backups_are_the_other_sites_next_in_priority_first(regions):
    values = with_secrets(ovh_values())
    template = values["sites"][0]
    aws = ["eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1"]
    private = [f"10.{10 + i}.0.2" for i in range(len(regions))]  # sites never share an address or a server name
    values["sites"] = [
        {
            **template,
            "ovhRegion": r,
            "awsRegion": aws[i],
            "haproxy": {**template["haproxy"], "publicIp": f"203.0.113.{10 + i}", "privateAddress": private[i]},
            "stats": {**template["stats"], "bindAddress": private[i]},
            "servers": [{**s, "name": f"{r.lower()}-{s['name']}"} for s in template["servers"]],
        }
        for i, r in enumerate(regions)
    ]
    values = with_secrets(values)
    sites = parse(values).sites
    names = [s.name for s in sites]
    for i, name in enumerate(names):
        order = [s.name for s in backup_sites(sites, name)]
        assert sorted(order) == sorted(n for n in names if n != name)
        assert order[0] == names[(i + 1) % len(names)]


@pytest.mark.parametrize("key_type", ["ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"])
def test_rsa_host_keys_are_refused_naming_the_key_and_the_way_out(key_type):
    """pulumi-command offers only ssh-rsa (SHA-1) for an RSA host key, which OpenSSH 8.8 and later refuse."""
    values = with_secrets(ovh_values())
    blob = base64.b64encode(b"\x00\x00\x00\x07ssh-rsa" + b"\x00" * 8).decode()
    values["sites"][1]["haproxy"]["sshHostKey"] = f"203.0.113.20 {key_type} {blob}"
    with pytest.raises(ConfigError) as info:
        parse(values)
    assert info.value.key == "dr:sites[1].haproxy.sshHostKey"
    assert f"{key_type} is an RSA host key" in info.value.message
    assert "ed25519" in info.value.message and "ECDSA" in info.value.message and "OpenSSH 8.8" in info.value.message
    assert authorized_key_from_known_hosts(host_key_line("203.0.113.20")).startswith("ssh-ed25519 ")


def test_an_expired_certificate_is_refused():
    import datetime

    from components.sites.ovh.validators import certificate_chain_problem

    pem = ovh_values()["sites"][0]["tls"]["certificate"]
    certificate_chain_problem(pem)  # valid until 2035
    later = datetime.datetime(2036, 1, 1, tzinfo=datetime.UTC)
    with pytest.raises(ValueError, match="certificate 1 of the chain expired on 2035-12-30"):
        certificate_chain_problem(pem, now=later)
