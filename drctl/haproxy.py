"""`python -m drctl haproxy --stack NAME --site SITE`: one site's haproxy.cfg exactly as the program deploys it.

Reads only the keys the config needs (`dr:layout`, `dr:app.name`, `dr:sites`, `dr:siteSecrets`) from
`Pulumi.<stack>.yaml`. Two inputs live outside the stack file:
- the stats password: `secure:` values decrypt only in the Pulumi CLI, so by default the offline preview's
  placeholder is hashed; `--password-stdin` hashes the real one
  (`pulumi config get --path 'dr:siteSecrets.gra.statsPassword' | ... --password-stdin`);
- the salt: the program keeps it in Pulumi state (a RandomString named `<app>-<site>-stats-salt`); by default
  the offline preview's stand-in for it is used (`drctl.mock_providers.preview_random_string` of that name), so the
  output is byte for byte what `drctl preview` delivers; `--salt` takes the deployed one (the site's
  `statsSalt` output).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from components.config import ConfigError, decode_engine_config
from components.sites.haproxy_config import check_salt, haproxy_site, hash_stats_password, render_haproxy_config
from components.sites.ovh import STATS_SALT_LENGTH, STATS_SALT_SPECIAL, site_component_name, stats_salt_name
from components.sites.ovh_config import MIN_STATS_PASSWORD_LENGTH, parse_ovh_sites
from drctl.mock_providers import preview_random_string
from drctl.stackfile import SECRET_PLACEHOLDER, load_stack_config

LAYOUT = "ovh-hybrid"


class HaproxyCommandError(Exception):
    """A usage or config mistake; the message is the one line to show."""


def preview_stats_salt(app: str, site: str) -> str:
    """The salt the offline preview gives site `site`'s stats password (see drctl/mock_providers.py)."""
    return preview_random_string(
        stats_salt_name(site_component_name(app, site)), STATS_SALT_LENGTH, special=STATS_SALT_SPECIAL
    )


def render_stack_site(
    project_dir: Path,
    stack: str,
    site: str,
    *,
    stack_file: Path | None = None,
    salt: str | None = None,
    password: str | None = None,
    notes: TextIO | None = None,
) -> str:
    """Site `site`'s haproxy.cfg for stack `stack`. Raises StackFileError or HaproxyCommandError."""
    raw, secret = decode_engine_config(*load_stack_config(project_dir, stack, stack_file))
    layout = raw.get("layout")
    if layout != LAYOUT:
        raise HaproxyCommandError(f"dr:layout: stack {stack!r} has layout {layout!r}; `drctl haproxy` needs {LAYOUT!r}")
    try:
        cfg = parse_ovh_sites(raw, secret)
    except ConfigError as exc:
        raise HaproxyCommandError(str(exc)) from None
    app = raw.get("app", {}).get("name") if isinstance(raw.get("app"), dict) else None
    if not isinstance(app, str) or not app:
        raise HaproxyCommandError("dr:app.name: required key is missing")
    names = [s.name for s in cfg.sites]
    if site not in names:
        raise HaproxyCommandError(f"--site {site}: stack {stack!r} has no such site (sites: {', '.join(names)})")
    if salt is None:
        salt = preview_stats_salt(app, site)
        _note(
            notes,
            "the salt is the offline preview's stand-in; pass --salt with the site's statsSalt output "
            "for the deployed one",
        )
    else:
        try:
            check_salt(salt)
        except ValueError as exc:
            raise HaproxyCommandError(f"--salt: {exc}") from None
    if password is None:
        password = cfg.secrets_of(site).stats_password.get_secret_value()
        if password == SECRET_PLACEHOLDER:
            _note(
                notes,
                f"dr:siteSecrets.{site}.statsPassword is encrypted in the stack file; hashed the offline "
                "preview's placeholder (pipe the real one with --password-stdin)",
            )
    elif len(password) < MIN_STATS_PASSWORD_LENGTH:
        raise HaproxyCommandError(
            f"--password-stdin: the password must be at least {MIN_STATS_PASSWORD_LENGTH} characters"
        )
    return render_haproxy_config(haproxy_site(cfg, site), hash_stats_password(password, salt))


def _note(stream: TextIO | None, message: str) -> None:
    """A note on stderr in lines of at most 80 columns; a name is never split."""
    import textwrap

    if stream is not None:
        print(
            "\n".join(
                textwrap.wrap(
                    f"note: {message}", 80, subsequent_indent="      ", break_long_words=False, break_on_hyphens=False
                )
            ),
            file=stream,
        )


def read_password(stream: TextIO) -> str:
    """The password piped on stdin, without the newline `pulumi config get` ends it with."""
    return stream.read().rstrip("\r\n")


def main(
    stack: str, site: str, stack_file: Path | None, salt: str | None, password_stdin: bool, project_dir: Path
) -> int:
    sys.stdout.write(
        render_stack_site(
            project_dir,
            stack,
            site,
            stack_file=stack_file,
            salt=salt,
            password=read_password(sys.stdin) if password_stdin else None,
            notes=sys.stderr,
        )
    )
    return 0
