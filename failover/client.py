"""Application side: which region takes writes, and a DynamoDB table handle for it.

    resolver = ActiveRegionResolver.from_environment()
    table = resolver.table()              # boto3 Table in the active region
    resolver.ensure_writable()            # raises NotActiveRegion in a passive region (active-passive)
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable, Optional, Sequence

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

FAST = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1, "mode": "standard"})


class ActiveRegionUnknown(RuntimeError):
    """No region's parameter could be read."""


class NotActiveRegion(RuntimeError):
    """This region is passive; writes must go to the active one."""


class ActiveRegionResolver:
    """Reads `/<app>/<stack>/active_region` from the local region, caching it for `cache_seconds`;
    when the local SSM is unreachable it asks the other regions in priority order."""

    def __init__(self, *, parameter_name: str, local_region: str, regions: Sequence[str], table_name: str,
                 cache_seconds: float = 5.0, session: Optional[boto3.Session] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.parameter_name = parameter_name
        self.local_region = local_region
        self.priority = list(regions)
        """Failover priority (primary first), as in DR_REGIONS."""
        self.regions = [local_region, *[r for r in regions if r != local_region]]
        self.table_name = table_name
        self.cache_seconds = cache_seconds
        self.session = session or boto3.Session()
        self.clock = clock
        self._cached: Optional[tuple[str, float]] = None
        self._lock = threading.Lock()
        self._ssm = {}

    @classmethod
    def from_environment(cls, **overrides) -> "ActiveRegionResolver":
        """DR_ACTIVE_REGION_PARAMETER, DR_REGIONS, DR_TABLE, AWS_REGION, DR_CACHE_SECONDS (set by the stack)."""
        env = os.environ
        missing = [n for n in ("DR_ACTIVE_REGION_PARAMETER", "DR_REGIONS", "DR_TABLE", "AWS_REGION") if not env.get(n)]
        if missing:
            raise ValueError(f"{', '.join(missing)} not set")
        kwargs = dict(parameter_name=env["DR_ACTIVE_REGION_PARAMETER"], local_region=env["AWS_REGION"],
                      regions=[r.strip() for r in env["DR_REGIONS"].split(",") if r.strip()],
                      table_name=env["DR_TABLE"], cache_seconds=float(env.get("DR_CACHE_SECONDS", "5")))
        kwargs.update(overrides)
        return cls(**kwargs)

    def _read(self, region: str) -> str:
        if region not in self._ssm:
            self._ssm[region] = self.session.client("ssm", region_name=region, config=FAST)
        return self._ssm[region].get_parameter(Name=self.parameter_name)["Parameter"]["Value"]

    def active_region(self) -> str:
        now = self.clock()
        with self._lock:
            if self._cached and now - self._cached[1] < self.cache_seconds:
                return self._cached[0]
        errors = []
        for region in self.regions:
            try:
                value = self._read(region)
            except (BotoCoreError, ClientError) as exc:
                errors.append(f"{region}: {exc}")
                continue
            with self._lock:
                self._cached = (value, now)
            return value
        with self._lock:
            if self._cached:  # every region unreachable: keep the last known answer rather than none
                return self._cached[0]
        raise ActiveRegionUnknown("; ".join(errors))

    def is_active(self) -> bool:
        return self.active_region() == self.local_region

    def ensure_writable(self) -> None:
        active = self.active_region()
        if active != self.local_region:
            raise NotActiveRegion(f"{self.local_region} is passive; {active} takes writes")

    def table(self):
        """A boto3 DynamoDB Table resource in the active region."""
        return self.session.resource("dynamodb", region_name=self.active_region()).Table(self.table_name)
