"""Calls with deadlines, one fence per region: every AWS call verify makes has a short deadline, and a region
that does not answer once is not called again, so a hung region costs about one deadline instead of one per call."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

CONNECT_TIMEOUT_SECONDS = 2.0
DEFAULT_READ_TIMEOUT_SECONDS = 3.0
TOTAL_MAX_ATTEMPTS = 2
"""botocore counts the first attempt too: 2 means at most one retry."""
GLOBAL = "global"
"""Where Route 53 health checks live (no region)."""

_NO_ANSWER = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
_NOT_FOUND = {
    "ResourceNotFoundException",
    "TableNotFoundException",
    "ParameterNotFound",
    "NotFound",
    "NotFoundException",
    "NoSuchHealthCheck",
    "ResourceNotFound",
}


class VerifyUsageError(Exception):
    """Credentials missing or rejected, AWS unreachable, or a stack verify cannot read; one line, exit 2."""


class ControlItemMalformed(Exception):
    """The control item exists but the runtime cannot use it."""


def client_config(read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS) -> Config:
    """The deadline of every call: short timeouts and at most one retry."""
    return Config(
        connect_timeout=min(CONNECT_TIMEOUT_SECONDS, read_timeout),
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS},
    )


ClientFactory = Callable[[str, str], Any]
"""(service, region) -> boto3 client."""


def session_clients(session, read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS) -> ClientFactory:
    """Clients from one boto3 session, created once per (service, region); sessions are not thread-safe."""
    config, cache, lock = client_config(read_timeout), {}, threading.Lock()

    def client(service: str, region: str):
        with lock:
            if (service, region) not in cache:
                cache[service, region] = session.client(service, region_name=region, config=config)
            return cache[service, region]

    return client


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: str | None = None
    missing: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class RegionFence:
    """Every call into one region goes through here: after a call gets no answer, the region's other
    calls are not made (reported as not checked)."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.silent: str | None = None

    def call(self, fn: Callable, *args, **kwargs) -> Outcome:
        if self.silent:
            return Outcome(error=f"not checked: {self.silent}")
        try:
            return Outcome(value=fn(*args, **kwargs))
        except _NO_ANSWER as exc:
            self.silent = f"{self.region} did not answer ({type(exc).__name__})"
            return Outcome(error=f"no answer from {self.region}: {exc}")
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = err.get("Code", "")
            return Outcome(error=f"{code}: {err.get('Message', '')}".rstrip(": "), missing=code in _NOT_FOUND)
        except ControlItemMalformed as exc:
            return Outcome(error=f"malformed: {exc}")
