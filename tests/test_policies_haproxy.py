"""The HAProxy policies over delivered configs: through pulumi_policy's own types (as the policy pack runs),
through the offline preview's resource documents, and the rules directly with passing and failing configs."""

from __future__ import annotations

import pulumi
import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyProviderResource, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from components.sites.ovh.checks import parse_ovh_sites
from components.sites.ovh.haproxy_config import STAGED_CONFIG, render_site_config
from policies.offline import evaluate
from policies.pack import build_policies
from policies.rules import RESOURCE_RULES, Res
from policies.rules_haproxy import (
    HAPROXY_RULES,
    check_bounds,
    delivered_config,
    health_checked,
    parse_sections,
    stats_bound_private,
    stats_password_hashed,
)
from tests.haproxy_env import ovh_values, with_secrets

COPY = "command:remote:CopyToRemote"
POLICIES = {p.name: p for p in build_policies()}
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@pytest.fixture(scope="module")
def good() -> str:
    cfg = parse_ovh_sites(with_secrets(ovh_values()), frozenset({"siteSecrets"}))
    return render_site_config(cfg, "gra", "abcdefgh12345678")


def res(text: str, path: str = STAGED_CONFIG) -> Res:
    return Res(type=COPY, props={"source": {"asset": {"text": text}}, "remotePath": path, "connection": "[secret]"})


def run_policy(name: str, props: dict) -> list[str]:
    messages: list[str] = []
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    provider = PolicyProviderResource("pulumi:providers:command", {}, "urn:provider", "command")
    args = ResourceValidationArgs(COPY, unknown_checking_proxy(props), "urn:copy", "copy", opts, provider)
    POLICIES[name].validate(args, lambda m, urn=None: messages.append(m))
    return messages


def test_registered_in_the_pack():
    assert set(HAPROXY_RULES) <= set(RESOURCE_RULES)
    assert set(HAPROXY_RULES) <= set(POLICIES)


def test_rendered_config_passes_every_rule_in_the_pack(good):
    """As the policy pack sees it: the source is a pulumi.StringAsset behind the unknown-checking proxy."""
    props = {"source": pulumi.StringAsset(good), "remotePath": STAGED_CONFIG}
    for name in HAPROXY_RULES:
        assert run_policy(name, props) == [], name


def test_the_pack_reports_a_bad_config(good):
    bad = good.replace("bind 10.10.0.2:8404", "bind *:8404")
    messages = run_policy("haproxy-stats-private", {"source": pulumi.StringAsset(bad), "remotePath": STAGED_CONFIG})
    assert messages == ["listen stats: stats bound to every address (*:8404); bind one private address"]


def test_unknown_config_cannot_be_checked_at_preview():
    with pytest.raises(UnknownValueError):
        run_policy("haproxy-stats-private", {"source": UNKNOWN, "remotePath": STAGED_CONFIG})


def test_offline_preview_documents_are_checked(good):
    bad = good.replace("check inter 2000 rise 2 fall 3", "inter 2000", 1)
    resources = [
        {
            "urn": "urn:copy",
            "type": COPY,
            "name": "orders-gra-haproxy-cfg",
            "region": None,
            "custom": True,
            "inputs": {"source": {"asset": {"text": bad}}, "remotePath": STAGED_CONFIG},
            "options": {"protect": False, "ignoreChanges": [], "dependsOn": []},
        }
    ]
    found = [(v.policy, v.message) for v in evaluate(resources, "ovh") if v.policy.startswith("haproxy-")]
    assert found == [
        (
            "haproxy-health-checks",
            "backend app_servers: server gra-app-1 has no health check (neither `check` nor `track`)",
        )
    ]


def test_a_secret_config_is_judged_as_the_pack_sees_it(good):
    """The delivered config is a secret input (it holds the password's hash). Policy packs receive secrets in
    plain text; the offline preview keeps them apart (`policyInputs`) for the policies only."""
    bad = good.replace("bind 10.10.0.2:8404", "bind *:8404")
    resource = {
        "urn": "urn:copy",
        "type": COPY,
        "name": "orders-gra-haproxy-cfg",
        "region": None,
        "custom": True,
        "inputs": {"source": "[secret]", "remotePath": STAGED_CONFIG},
        "policyInputs": {"source": {"asset": {"text": bad}}, "remotePath": STAGED_CONFIG},
        "options": {"protect": False, "ignoreChanges": [], "dependsOn": []},
    }
    found = [v.policy for v in evaluate([resource], "ovh") if v.policy.startswith("haproxy-")]
    assert found == ["haproxy-stats-private"]
    blind = {k: v for k, v in resource.items() if k != "policyInputs"}
    assert [v for v in evaluate([blind], "ovh") if v.policy.startswith("haproxy-")] == []


def test_other_resources_and_files_are_ignored(good):
    assert delivered_config(Res(type="aws:sns/topic:Topic", props={})) is None
    assert delivered_config(res("just a file\n", path="notes.txt")) is None
    assert delivered_config(res(good, path="anywhere")) == good  # recognised by its header
    assert delivered_config(res("global\n", path="/etc/haproxy/haproxy.cfg")) == "global\n"


def test_parse_sections(good):
    sections = parse_sections(good)
    assert [s.title for s in sections] == [
        "global",
        "defaults",
        "frontend public_http",
        "frontend public_https",
        "frontend peer_in",
        "backend app_servers",
        "backend local_servers",
        "listen stats",
        "userlist stats_users",
    ]
    assert next(s for s in sections if s.title == "listen stats").lines[0] == ["bind", "10.10.0.2:8404"]


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("bind 10.10.0.2:8404", "bind 0.0.0.0:8404", "listen stats: stats bound to every address (0.0.0.0:8404)"),
        ("bind 10.10.0.2:8404", "bind :8404", "listen stats: stats bound to every address (:8404)"),
        ("bind 10.10.0.2:8404", "bind ipv6@:::8404", "listen stats: stats bound to every address (ipv6@:::8404)"),
        (
            "bind 10.10.0.2:8404",
            "bind 10.10.0.2:8404,203.0.113.10:8404",
            "listen stats: stats bound to 203.0.113.10, which is not a private address",
        ),
        ("    bind 10.10.0.2:8404\n", "", "listen stats: the stats page has no bind line of its own"),
        ("defaults\n", "defaults\n    stats enable\n", "defaults: stats enabled in defaults would serve the page"),
    ],
)
def test_stats_binding_violations(good, old, new, message):
    bad = good.replace(old, new)
    assert bad != good
    found = stats_bound_private(res(bad))
    assert len(found) == 1 and found[0].startswith(message), found


def test_stats_on_a_unix_socket_or_loopback_is_private(good):
    assert stats_bound_private(res(good.replace("bind 10.10.0.2:8404", "bind 127.0.0.1:8404"))) == []
    assert stats_bound_private(res(good.replace("bind 10.10.0.2:8404", "bind unix@/run/stats.sock"))) == []


def _user_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith("user admin password"))


@pytest.mark.parametrize(
    "replace, message",
    [
        (
            lambda t: t.replace(_user_line(t), "    user admin insecure-password hunter2hunter2hunter2"),
            "userlist stats_users: user admin has a plain-text insecure-password",
        ),
        (
            lambda t: t.replace(_user_line(t), "    user admin password $2b$12$" + "a" * 53),
            "userlist stats_users: user admin's password is not a sha512-crypt hash ($6$...)",
        ),
        (
            lambda t: t.replace(_user_line(t), "    user admin password plain"),
            "userlist stats_users: user admin's password is not a sha512-crypt hash ($6$...)",
        ),
        (
            lambda t: t.replace("    http-request auth realm haproxy-stats unless { http_auth(stats_users) }\n", ""),
            "listen stats: the stats page asks for no password",
        ),
        (
            lambda t: t.replace("stats refresh 10s", "stats refresh 10s\n    stats auth admin:hunter2"),
            "listen stats: `stats auth` keeps the password in plain text",
        ),
        (
            lambda t: t.replace("http_auth(stats_users)", "http_auth(admins)"),
            "listen stats: authentication refers to userlist admins, which is not declared",
        ),
        (
            lambda t: t.replace(" unless { http_auth(stats_users) }", ""),
            "listen stats: the stats authentication checks no userlist",
        ),
    ],
)
def test_stats_password_violations(good, replace, message):
    bad = replace(good)
    assert bad != good
    found = stats_password_hashed(res(bad))
    assert len(found) == 1 and found[0].startswith(message), found


def test_health_check_violations(good):
    no_check = good.replace(
        "server gra-app-2 10.10.0.12:8080 weight 100 check inter 2000 rise 2 fall 3",
        "server gra-app-2 10.10.0.12:8080 weight 100",
    )
    assert health_checked(res(no_check)) == [
        "backend app_servers: server gra-app-2 has no health check (neither `check` nor `track`)"
    ]
    tcp_only = good.replace("    option httpchk\n", "")
    assert health_checked(res(tcp_only)) == [
        "backend app_servers: servers are checked at TCP level only; add `option httpchk` with the health path"
    ]
    default_check = no_check.replace(
        "    balance roundrobin\n    option httpchk",
        "    balance roundrobin\n    default-server check\n    option httpchk",
        1,
    )
    assert health_checked(res(default_check)) == []  # inherited from default-server


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("rise 2 fall 3", "rise 0 fall 3", "server gra-app-1 rise 0 is outside 1-10"),
        ("rise 2 fall 3", "rise 2 fall 20", "server gra-app-1 fall 20 is outside 1-10"),
        ("check inter 2000", "check inter 100ms", "server gra-app-1 inter 100ms is outside 500-30000 ms"),
        ("check inter 2000", "check inter 2m", "server gra-app-1 inter 2m is outside 500-30000 ms"),
        ("check inter 2000", "check inter soon", "server gra-app-1 inter soon is outside 500-30000 ms"),
    ],
)
def test_check_bounds_violations(good, old, new, message):
    bad = good.replace(old, new, 1)
    assert bad != good
    assert check_bounds(res(bad)) == [f"backend app_servers: {message}"]


def test_check_bounds_accept_units_and_defaults(good):
    assert check_bounds(res(good.replace("check inter 2000", "check inter 2s", 1))) == []
    bare = good.replace("check inter 2000 rise 2 fall 3", "check")  # HAProxy's defaults: 2000 ms, rise 2, fall 3
    assert check_bounds(res(bare)) == []
    override = bare.replace("    option httpchk", "    default-server rise 20\n    option httpchk", 1)
    assert check_bounds(res(override)) == [
        f"backend app_servers: server {n} rise 20 is outside 1-10" for n in ("gra-app-1", "gra-app-2", "site_rbx")
    ]
