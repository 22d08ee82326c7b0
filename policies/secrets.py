"""Values that look like credentials, found by Yelp's detect-secrets (pinned in requirements.txt).

`no-plaintext-secrets` asks this module about every plain environment value a Lambda function or an
ECS task definition would carry: access keys, URLs with a password, private keys, JWTs, vendor tokens
and high-entropy strings are caught whatever the variable is called. JSON values (the stack's own
DR_* maps) are looked at leaf by leaf; ARNs are identifiers, not credentials, and are skipped (an
account id followed by a long name otherwise matches a bot-token pattern).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any, cast

# detect-secrets has no public call for scanning one in-memory line with entropy limits applied (its
# adhoc `scan_line` reports every candidate); this is the function its file and diff scans use.
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.core.scan import _process_line_based_plugins
from detect_secrets.plugins.base import BasePlugin
from detect_secrets.settings import transient_settings

EXCLUDED_PLUGINS = frozenset({"IPPublicDetector"})
"""A public IP address in an environment is configuration, not a credential."""
_ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:")
_LOCK = threading.Lock()  # detect-secrets keeps its settings in process-wide state


def _plugins() -> list[dict]:
    # detect-secrets types the mapping's values with a TypeVar that only its return type names (Type[Plugin]), so
    # mypy cannot solve it; they are plugin classes.
    classes = cast(dict[str, type[BasePlugin]], get_mapping_from_secret_type_to_class())
    return [{"name": cls.__name__} for cls in classes.values() if cls.__name__ not in EXCLUDED_PLUGINS]


def _leaves(value: Any) -> Iterator[str]:
    """The strings to look at: a JSON object or list is opened up, anything else is taken as it is."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            yield value
            return
        if isinstance(parsed, (dict, list)):
            yield from _leaves_of(parsed)
        else:
            yield value
    elif value is not None:
        yield str(value)


def _leaves_of(doc: Any) -> Iterator[str]:
    if isinstance(doc, dict):
        for v in doc.values():
            yield from _leaves_of(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _leaves_of(v)
    elif isinstance(doc, str):
        yield doc


def credential_kinds(environment: dict[str, Any]) -> dict[str, list[str]]:
    """Variable name -> the kinds of credential its value looks like (sorted), for each variable that has any.

    The values themselves are never returned or logged.
    """
    lines = [
        (name, f"{name}={json.dumps(leaf)}")
        for name, value in sorted(environment.items())
        for leaf in _leaves(value)
        if leaf and not _ARN.match(leaf)
    ]
    if not lines:
        return {}
    found: dict[str, set[str]] = {}
    with _LOCK, transient_settings({"plugins_used": _plugins()}):
        for number, (name, line) in enumerate(lines, start=1):
            for secret in _process_line_based_plugins([(number, line)], filename="environment"):
                found.setdefault(name, set()).add(secret.type)
    return {name: sorted(kinds) for name, kinds in found.items()}
