"""HAProxy guardrails over the haproxy.cfg a stack delivers (the text of a pulumi-command CopyToRemote).

The config is read as HAProxy reads it (sections, then directive lines), independently of the code that
renders it, so a hand-edited template or another renderer is held to the same rules:
- the stats page is bound to private addresses only (never a public address, never `*`/0.0.0.0/::);
- its password is a sha512-crypt hash in a `userlist` (no `insecure-password`, no `stats auth user:pass`),
  and the page cannot be reached without authentication;
- every server is health-checked (`check`, or `track` of a checked server), with `option httpchk`;
- rise, fall and inter stay within the bounds the config model enforces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from components.sites.ovh.config import FALL_BOUNDS, INTER_MS_BOUNDS, RISE_BOUNDS
from components.sites.ovh.haproxy_config import CONFIG_MARKER, is_sha512_crypt
from components.sites.ovh.validators import is_private_ipv4, is_wildcard
from policies.resource import Res

COPY_TO_REMOTE = "command:remote:CopyToRemote"
SECTION_KEYWORDS = (
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "userlist",
    "peers",
    "resolvers",
    "cache",
    "program",
    "http-errors",
    "ring",
    "mailers",
)
HAPROXY_DEFAULTS = {"inter": 2000, "rise": 2, "fall": 3}
_HTTP_AUTH = re.compile(r"http_auth(?:_group)?\(([^),\s]+)")
_TIME = re.compile(r"^(\d+)(us|ms|s|m|h|d)?$")
_TIME_MS = {"us": 0.001, "ms": 1, None: 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class Section:
    def __init__(self, keyword: str, name: str) -> None:
        self.keyword = keyword
        self.name = name
        self.lines: list[list[str]] = []

    @property
    def title(self) -> str:
        return f"{self.keyword} {self.name}".strip()

    def directives(self, *first: str) -> Iterator[list[str]]:
        """Lines whose leading words are `first` (e.g. `directives("stats", "auth")`)."""
        for words in self.lines:
            if words[: len(first)] == list(first):
                yield words


def parse_sections(text: str) -> list[Section]:
    """haproxy.cfg as sections of tokenised lines (comments dropped)."""
    sections: list[Section] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] in SECTION_KEYWORDS and raw[:1] not in (" ", "\t"):
            sections.append(Section(words[0], " ".join(words[1:2])))
        elif sections:
            sections[-1].lines.append(words)
    return sections


def _asset_text(source: Any) -> str | None:
    """The text of a StringAsset as the policy pack (pulumi.StringAsset) or the offline preview (dict) sees it."""
    text = getattr(source, "text", None)
    if isinstance(text, str):
        return text
    if isinstance(source, Mapping):
        inner = source.get("asset", source)
        if isinstance(inner, Mapping) and isinstance(inner.get("text"), str):
            return inner["text"]
    return None


def delivered_config(r: Res) -> str | None:
    """The haproxy.cfg a resource copies to a host, or None if it copies none."""
    if r.type != COPY_TO_REMOTE:
        return None
    text = _asset_text(r.props.get("source"))
    path = str(r.props.get("remotePath") or "")
    if text is None or not (text.startswith(CONFIG_MARKER) or path.endswith("haproxy.cfg")):
        return None
    return text


def _bind_hosts(words: list[str]) -> list[str]:
    """Hosts of a `bind` line (`bind 10.0.0.2:8404`, `bind :80,:8080`, `bind ipv4@*:80`)."""
    if len(words) < 2:
        return []
    hosts = []
    for address in words[1].split(","):
        address = re.sub(r"^(ipv4|ipv6|tcp4|tcp6|tcp)@", "", address)
        if address.startswith(("unix@", "/", "abns@", "fd@", "sockpair@")):
            continue  # a local socket: not on the network
        host = address.rsplit(":", 1)[0] if ":" in address else address
        hosts.append(host.strip("[]"))
    return hosts


def _stats_sections(sections: list[Section]) -> list[Section]:
    return [
        s
        for s in sections
        if s.keyword in ("frontend", "listen")
        and (any(s.directives("stats", "enable")) or any(s.directives("stats", "uri")))
    ]


def stats_bound_private(r: Res) -> list[str]:
    text = delivered_config(r)
    if text is None:
        return []
    sections = parse_sections(text)
    out = [
        f"{d.title}: stats enabled in defaults would serve the page on every proxy"
        for d in sections
        if d.keyword == "defaults" and any(d.directives("stats", "enable"))
    ]
    for s in _stats_sections(sections):
        binds = list(s.directives("bind"))
        if not binds:
            out.append(f"{s.title}: the stats page has no bind line of its own")
        for words in binds:
            for host in _bind_hosts(words):
                if is_wildcard(host):
                    out.append(f"{s.title}: stats bound to every address ({words[1]}); bind one private address")
                elif not is_private_ipv4(host):
                    out.append(f"{s.title}: stats bound to {host}, which is not a private address")
    return out


def stats_password_hashed(r: Res) -> list[str]:
    text = delivered_config(r)
    if text is None:
        return []
    sections = parse_sections(text)
    out = []
    userlists = {s.name: s for s in sections if s.keyword == "userlist"}
    for ul in userlists.values():
        for words in ul.directives("user"):
            user = words[1] if len(words) > 1 else "?"
            if "insecure-password" in words:
                out.append(f"{ul.title}: user {user} has a plain-text insecure-password")
            elif "password" in words:
                value = words[words.index("password") + 1] if words.index("password") + 1 < len(words) else ""
                if not is_sha512_crypt(value):
                    out.append(f"{ul.title}: user {user}'s password is not a sha512-crypt hash ($6$...)")
    for s in _stats_sections(sections):
        if any(s.directives("stats", "auth")):
            out.append(f"{s.title}: `stats auth` keeps the password in plain text; use a userlist with a hash")
        auth = [w for w in s.lines if w[:2] == ["http-request", "auth"] or w[:3] == ["stats", "http-request", "auth"]]
        names = {m.group(1) for w in auth for m in _HTTP_AUTH.finditer(" ".join(w))}
        if not auth:
            out.append(f"{s.title}: the stats page asks for no password (no http-request auth against a userlist)")
        elif not names:
            out.append(f"{s.title}: the stats authentication checks no userlist (add `unless {{ http_auth(LIST) }}`)")
        for name in sorted(names - set(userlists)):
            out.append(f"{s.title}: authentication refers to userlist {name}, which is not declared")
    return out


def _server_lines(section: Section) -> list[tuple[str, list[str]]]:
    """(server name, its words with the section's default-server words first) of a backend or listen."""
    defaults = [w for line in section.directives("default-server") for w in line[1:]]
    return [(words[1] if len(words) > 1 else "?", defaults + words[3:]) for words in section.directives("server")]


def health_checked(r: Res) -> list[str]:
    text = delivered_config(r)
    if text is None:
        return []
    out = []
    for s in parse_sections(text):
        if s.keyword not in ("backend", "listen"):
            continue
        checked = False
        for name, words in _server_lines(s):
            if "check" in words:
                checked = True
            elif "track" not in words:
                out.append(f"{s.title}: server {name} has no health check (neither `check` nor `track`)")
        if checked and not any(s.directives("option", "httpchk")):
            out.append(f"{s.title}: servers are checked at TCP level only; add `option httpchk` with the health path")
    return out


def _milliseconds(value: str) -> float | None:
    m = _TIME.match(value)
    return int(m.group(1)) * _TIME_MS[m.group(2)] if m else None


def _setting(words: list[str], key: str) -> str | None:
    """The last value of `key` on a server line (a server's own value follows and wins over default-server's)."""
    found = None
    for i, word in enumerate(words[:-1]):
        if word == key:
            found = words[i + 1]
    return found


def check_bounds(r: Res) -> list[str]:
    text = delivered_config(r)
    if text is None:
        return []
    out = []
    bounds = {"rise": RISE_BOUNDS, "fall": FALL_BOUNDS}
    for s in parse_sections(text):
        if s.keyword not in ("backend", "listen"):
            continue
        for name, words in _server_lines(s):
            if "check" not in words:
                continue
            for key, (low, high) in bounds.items():
                raw = _setting(words, key) or str(HAPROXY_DEFAULTS[key])
                if not raw.isdigit() or not low <= int(raw) <= high:
                    out.append(f"{s.title}: server {name} {key} {raw} is outside {low}-{high}")
            inter = _setting(words, "inter") or str(HAPROXY_DEFAULTS["inter"])
            ms = _milliseconds(inter)
            if ms is None or not INTER_MS_BOUNDS[0] <= ms <= INTER_MS_BOUNDS[1]:
                out.append(
                    f"{s.title}: server {name} inter {inter} is outside {INTER_MS_BOUNDS[0]}-{INTER_MS_BOUNDS[1]} ms"
                )
    return out


HAPROXY_RULES: dict[str, tuple[str, Callable[[Res], list[str]]]] = {
    "haproxy-stats-private": ("HAProxy stats are bound to private addresses only", stats_bound_private),
    "haproxy-stats-password-hashed": (
        "HAProxy stats need a password, kept as a sha512-crypt hash",
        stats_password_hashed,
    ),
    "haproxy-health-checks": ("Every HAProxy server is health-checked over HTTP", health_checked),
    "haproxy-check-bounds": ("HAProxy check rise, fall and inter within bounds", check_bounds),
}
