"""One site's haproxy.cfg and the shell script that installs it, as plain functions.

Layout of the rendered config (names are fixed, so policies and operators can rely on them):
- `frontend public_http` (and `public_https` with a certificate, `public_http` then only redirects): every
  request goes to `backend app_servers`, except the health path, which goes to `backend local_servers`.
- `backend app_servers`: the site's servers, health-checked (`option httpchk`, Host header, expected status,
  `check inter rise fall`), `balance roundrobin`, then the other sites' HAProxies as `backup` servers in
  failover priority: when every local server is DOWN, traffic moves to the next region within inter x fall.
- `backend local_servers`: the same servers tracking the checks above, and no backup. The public health
  path answers from it, so Route 53 sees the site's *own* health (a site serving through its backups is
  unhealthy to DNS, and writes move); the private `peer_in` frontend, where other regions' HAProxies
  send their overflow, uses it too, so two dead sites never bounce requests between each other.
- `listen stats`: bound to one private address, behind `userlist stats_users` whose password is a
  sha512-crypt hash (HAProxy checks it on every request: sha512-crypt at 5000 rounds costs about a
  millisecond, bcrypt would cost each request far more).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from components.sites.ovh.config import OvhSiteConfig, OvhSitesConfig, backup_sites

CONFIG_MARKER = "# dynamodb-dr haproxy.cfg"
SALT_LENGTH = 16
SALT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SHA512_CRYPT = re.compile(r"^\$6\$(rounds=\d{4,9}\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$")
STATS_USERLIST = "stats_users"
APP_BACKEND = "app_servers"
LOCAL_BACKEND = "local_servers"
LIVE_CONFIG = "/etc/haproxy/haproxy.cfg"
STAGED_CONFIG = ".dynamodb-dr/haproxy.cfg"  # relative to the SSH user's home: where the config is copied first


@dataclass(frozen=True)
class HostRuntime:
    """Where HAProxy runs on the host; the defaults are Debian's haproxy package."""

    log_target: str = "/dev/log"
    chroot: str | None = "/var/lib/haproxy"
    user: str | None = "haproxy"
    group: str | None = "haproxy"
    stats_socket: str = "/run/haproxy/admin.sock"
    daemon: bool = True
    cert_dir: str = "/etc/haproxy/certs"
    maxconn: int = 4096
    """Concurrent connections; HAProxy needs about twice as many file descriptors (raise it with LimitNOFILE)."""


@dataclass(frozen=True)
class Server:
    name: str
    address: str
    port: int
    weight: int = 100


@dataclass(frozen=True)
class HealthCheck:
    path: str
    host: str
    expect_status: int
    inter_ms: int
    rise: int
    fall: int


@dataclass(frozen=True)
class HaproxySite:
    """Everything one site's haproxy.cfg depends on, besides the password hash."""

    name: str
    http_port: int
    peer_address: str
    peer_port: int
    servers: tuple[Server, ...]
    backups: tuple[Server, ...]
    """Other sites' HAProxies (their private address and peer port), in the order they are used."""
    health_check: HealthCheck
    stats_address: str
    stats_port: int
    stats_user: str
    bind_address: str | None = None
    """Address of the public frontends; None binds every IPv4 address of the host."""
    https_port: int | None = None
    """Set when the site has a certificate: HTTPS there, and HTTP redirects to it."""


def haproxy_site(cfg: OvhSitesConfig, name: str) -> HaproxySite:
    """The render inputs of site `name` of a validated config (KeyError if there is no such site)."""
    site = cfg.site(name)
    return haproxy_site_inputs(site, backup_sites(cfg.sites, name))


def haproxy_site_inputs(site: OvhSiteConfig, backups: list[OvhSiteConfig]) -> HaproxySite:
    hc = site.health_check
    return HaproxySite(
        name=site.name,
        http_port=site.haproxy.http_port,
        https_port=site.haproxy.https_port if site.tls else None,
        bind_address=site.haproxy.bind_address,
        peer_address=site.haproxy.private_address,
        peer_port=site.haproxy.peer_port,
        servers=tuple(Server(s.name, s.address, s.port, s.weight) for s in site.servers),
        backups=tuple(Server(f"site_{b.name}", b.haproxy.private_address, b.haproxy.peer_port) for b in backups),
        health_check=HealthCheck(hc.path, hc.host, hc.expect_status, hc.inter_ms, hc.rise, hc.fall),
        stats_address=site.stats.bind_address,
        stats_port=site.stats.port,
        stats_user=site.stats.user,
    )


def is_sha512_crypt(value: str) -> bool:
    return bool(SHA512_CRYPT.match(value))


def check_salt(salt: str) -> str:
    if not 1 <= len(salt) <= SALT_LENGTH or any(c not in SALT_ALPHABET for c in salt):
        raise ValueError(f"a sha512-crypt salt is 1-{SALT_LENGTH} characters of [./0-9A-Za-z]")
    return salt


def hash_stats_password(password: str, salt: str) -> str:
    """sha512-crypt of the password (5000 rounds, glibc's default): the same salt gives the same hash, so a
    salt kept in Pulumi state keeps the rendered config, and the preview, unchanged from run to run."""
    # libpass, the maintained passlib fork (no import of the deprecated `crypt`); imported here, so the policy
    # pack and the layouts without an HAProxy, which import this module for its checks, do not load it
    from passlib.hash import sha512_crypt

    return sha512_crypt.using(salt=check_salt(salt), rounds=5000).hash(password)


def _addr(address: str | None, port: int) -> str:
    return f"{address}:{port}" if address else f":{port}"


def route_health_path(health_path: str) -> str:
    """The path Route 53 checks (failover.health.route_health), derived as the DR plane derives it."""
    return health_path.rstrip("/") + "/route"


COMMENT_WIDTH = 80


def comment(text: str) -> list[str]:
    """`text` as `# ` comment lines of at most 80 columns (a word is never split: one longer than the line
    overflows it)."""
    import textwrap

    return textwrap.wrap(
        text, COMMENT_WIDTH, initial_indent="# ", subsequent_indent="# ", break_long_words=False, break_on_hyphens=False
    )


def render_haproxy_config(site: HaproxySite, stats_password_hash: str, runtime: HostRuntime = HostRuntime()) -> str:
    """The whole haproxy.cfg of one site. Only a sha512-crypt hash is accepted for the stats password."""
    if not is_sha512_crypt(stats_password_hash):
        raise ValueError("the stats password must be given as a sha512-crypt hash ($6$...), never in plain text")
    return "\n".join(
        [
            # The path this comment names (now a re-export of this module) stays: a new text would reinstall every
            # site's config at the next deployment.
            *comment(
                f"{CONFIG_MARKER[2:]} of site {site.name}: rendered by components/sites/haproxy_config.py, "
                "delivered by Pulumi; changes made on the host are overwritten by the next deployment."
            ),
            "",
            *_global_section(runtime),
            *_defaults_section(site.health_check),
            *_public_frontends(site, runtime),
            *_peer_frontend(site),
            *_backends(site),
            *_stats_sections(site, stats_password_hash),
        ]
    )


def _global_section(runtime: HostRuntime) -> list[str]:
    """Process settings (the host's layout) and TLS 1.2+ with forward-secret ciphers only."""
    return [
        "global",
        f"    log {runtime.log_target} local0",
        f"    log {runtime.log_target} local1 notice",
        *([f"    chroot {runtime.chroot}"] if runtime.chroot else []),
        f"    stats socket {runtime.stats_socket} mode 660 level admin",
        "    stats timeout 30s",
        *([f"    user {runtime.user}"] if runtime.user else []),
        *([f"    group {runtime.group}"] if runtime.group else []),
        *(["    daemon"] if runtime.daemon else []),
        f"    maxconn {runtime.maxconn}",
        "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
        "    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
        "ECDHE-RSA-CHACHA20-POLY1305",
        "    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
        "",
    ]


def _defaults_section(hc: HealthCheck) -> list[str]:
    return [
        "defaults",
        "    log global",
        "    mode http",
        "    option httplog",
        "    option dontlognull",
        "    option forwardfor",
        "    option redispatch",
        "    retries 2",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 5s",
        "    timeout queue 10s",
        f"    timeout check {min(hc.inter_ms, 5000)}ms",
        "",
    ]


def _public_frontends(site: HaproxySite, runtime: HostRuntime) -> list[str]:
    """HTTP (only a redirect when the site has a certificate) and HTTPS. The health path and Route 53's route
    path (<health path>/route: traffic follows writes) both answer from the site's own servers, so DNS sees a
    site serving only through its backups as unhealthy."""
    hc = site.health_check
    health = f"{{ path {hc.path} {route_health_path(hc.path)} }}"
    if site.https_port is None:
        return [
            "frontend public_http",
            f"    bind {_addr(site.bind_address, site.http_port)}",
            "    http-request set-header X-Forwarded-Proto http",
            f"    use_backend {LOCAL_BACKEND} if {health}",
            f"    default_backend {APP_BACKEND}",
            "",
        ]
    pem = f"{runtime.cert_dir}/{site.name}.pem"
    return [
        "frontend public_http",
        f"    bind {_addr(site.bind_address, site.http_port)}",
        "    http-request redirect scheme https code 301",
        "",
        "frontend public_https",
        f"    bind {_addr(site.bind_address, site.https_port)} ssl crt {pem} alpn h2,http/1.1",
        "    http-request set-header X-Forwarded-Proto https",
        "    http-response set-header Strict-Transport-Security max-age=31536000",
        f"    use_backend {LOCAL_BACKEND} if {health}",
        f"    default_backend {APP_BACKEND}",
        "",
    ]


def _peer_frontend(site: HaproxySite) -> list[str]:
    return [
        *comment("Overflow from the other sites' HAProxies: local servers only, so requests never loop between sites."),
        "frontend peer_in",
        f"    bind {_addr(site.peer_address, site.peer_port)}",
        f"    default_backend {LOCAL_BACKEND}",
        "",
    ]


def _backends(site: HaproxySite) -> list[str]:
    """The checked servers with the other sites as backups, and the same servers tracking those checks alone."""
    hc = site.health_check
    check = f"check inter {hc.inter_ms} rise {hc.rise} fall {hc.fall}"
    return [
        f"backend {APP_BACKEND}",
        "    balance roundrobin",
        "    option httpchk",
        f"    http-check send meth GET uri {hc.path} ver HTTP/1.1 hdr Host {hc.host}",
        f"    http-check expect status {hc.expect_status}",
        *(f"    server {s.name} {s.address}:{s.port} weight {s.weight} {check}" for s in site.servers),
        *(f"    server {b.name} {b.address}:{b.port} backup {check}" for b in site.backups),
        "",
        f"backend {LOCAL_BACKEND}",
        "    balance roundrobin",
        *(
            f"    server {s.name} {s.address}:{s.port} weight {s.weight} track {APP_BACKEND}/{s.name}"
            for s in site.servers
        ),
        "",
    ]


def _stats_sections(site: HaproxySite, stats_password_hash: str) -> list[str]:
    return [
        "listen stats",
        f"    bind {site.stats_address}:{site.stats_port}",
        "    stats enable",
        "    stats uri /",
        "    stats refresh 10s",
        f"    http-request auth realm haproxy-stats unless {{ http_auth({STATS_USERLIST}) }}",
        "",
        f"userlist {STATS_USERLIST}",
        f"    user {site.stats_user} password {stats_password_hash}",
        "",
    ]


REDACTED_HASH = "[secret sha512-crypt hash]"
_USERLIST_PASSWORD = re.compile(r"^(\s+user\s+\S+\s+password\s+)\S+", re.MULTILINE)


def redact_password_hashes(config: str) -> str:
    """The config with every userlist password replaced by `REDACTED_HASH`: what a preview may show. The hash is
    a Pulumi secret (an offline guess of the password against it costs only 5000 sha512 rounds per try)."""
    return _USERLIST_PASSWORD.sub(lambda m: m.group(1) + REDACTED_HASH, config)


def render_site_config(cfg: OvhSitesConfig, name: str, salt: str) -> str:
    """Site `name`'s haproxy.cfg with its stats password (from `cfg.site_secrets`) hashed with `salt`."""
    password = cfg.secrets_of(name).stats_password.get_secret_value()
    return render_haproxy_config(haproxy_site(cfg, name), hash_stats_password(password, salt))


def deploy_script(
    *,
    site: str,
    tls: bool,
    sudo: bool,
    staged: str = STAGED_CONFIG,
    live: str = LIVE_CONFIG,
    cert_dir: str = HostRuntime.cert_dir,
    group: str = "haproxy",
) -> str:
    """The remote command that installs a staged config: `haproxy -c` first, and the running proxy is reloaded
    only when the check passes. With `tls`, stdin carries the certificate chain and key (one PEM), which is put
    in place for the check and rolled back if the check fails. A failed check exits 1 and leaves the live
    config, the certificate and the running proxy as they were."""
    run = "sudo -n " if sudo else ""
    q = shlex.quote
    pem = f"{cert_dir}/{site}.pem"
    lines = [
        "set -eu",
        f"staged={q(staged)}; live={q(live)}",
        'chmod 600 "$staged"',
    ]
    if tls:
        lines += [
            f"pem={q(pem)}",
            f"{run}install -d -m 0700 {q(cert_dir)}",
            f"{run}sh -c 'umask 077 && cat > \"$1.new\"' sh \"$pem\"",
            f"if {run}test -f \"$pem\"; then {run}cp -p \"$pem\" \"$pem.previous\"; "
            f"else {run}rm -f \"$pem.previous\"; fi",
            f"{run}mv -f \"$pem.new\" \"$pem\"",
        ]
    restore = (
        f"if {run}test -f \"$pem.previous\"; then {run}mv -f \"$pem.previous\" \"$pem\"; else {run}rm -f \"$pem\"; fi; "
        if tls
        else ""
    )
    lines += [
        f"if ! {run}haproxy -c -f \"$staged\" >&2; then",
        f"    {restore}echo \"haproxy -c rejected the new config; $live and the running proxy are unchanged\" >&2",
        "    exit 1",
        "fi",
        f"{run}install -m 0640 -g {q(group)} \"$staged\" \"$live.new\"",
        f"if {run}test -f \"$live\"; then {run}cp -p \"$live\" \"$live.previous\"; fi",
        f"{run}mv -f \"$live.new\" \"$live\"",
        f"{run}systemctl reload-or-restart haproxy",
        "echo \"haproxy config installed and reloaded\"",
    ]
    return "\n".join(lines) + "\n"
