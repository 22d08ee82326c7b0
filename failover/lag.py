"""How far replication from the active region lags behind, for the lag gate (`failover.decisions.lag_gate`).

Global table: DynamoDB's `ReplicationLatency` (per receiving region) and `ConsumedWriteCapacityUnits` in the
source region. Streams replication: the replicator's own lag metric, which it publishes in each receiving region, so
it is readable while the source is down. Either way, a metric that has gone silent while the source kept taking
writes is lag too: a replicator that stopped four minutes ago reported 0.4 s then, and that reading says nothing
about the writes since; the age of the newest datapoint, when writes came after it, counts as lag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from failover.decisions import LagReading
from failover.replication import lag_metric
from failover.settings import Settings
from failover.timing import Timing

Series = list[tuple[float, float]]
"""(timestamp, value) datapoints, newest first."""
MemoryEntry = tuple[float | None, bool | None, float, float]
"""What an observer remembers of one target: (lag seconds, writes seen, when read, silent seconds)."""


def _series(result: Mapping[str, Any]) -> Series:
    stamps = result.get("Timestamps", [])
    values = result.get("Values", [])
    out = []
    for stamp, value in zip(stamps, values, strict=False):  # the two lists are parallel; tolerate a short one
        at = stamp.timestamp() if isinstance(stamp, datetime) else float(stamp)
        out.append((at, float(value)))
    return sorted(out, reverse=True)


def reading_from(lag: Series, writes: Series | None, period: float, source: str) -> LagReading:
    """One target's reading from its latency datapoints (milliseconds) and the source's write datapoints.

    - `lag_seconds`: the worst latency in the window (None without a datapoint);
    - `writes_seen`: any write in the window (None when the source could not be read);
    - `stale_seconds`: when writes happened after the newest latency datapoint's period, the time from the end of
      that period to the newest write (replication silent while the source wrote)."""
    worst = max((v for _, v in lag), default=None)
    writes_seen = None if writes is None else any(v > 0 for _, v in writes)
    stale = 0.0
    if writes:
        newest_write = max((t for t, v in writes if v > 0), default=None)
        newest_lag = max((t for t, _ in lag), default=None)
        if newest_write is not None and newest_lag is not None and newest_write > newest_lag + period:
            stale = newest_write - (newest_lag + period)
    return LagReading(None if worst is None else worst / 1000.0, writes_seen, source=source, stale_seconds=stale)


class LagMeter:
    """Reads replication lag from `source` towards every other region. `client(service, region)` gives a boto3
    client with the invocation's deadline; `run_concurrently(tasks, timeout)` runs region calls side by side."""

    def __init__(
        self,
        settings: Settings,
        client: Callable[[str, str], Any],
        clock: Callable[[], float],
        timing: Timing,
        run_concurrently: Callable[[Mapping[str, Callable[[], Any]], float], dict],
    ) -> None:
        self.settings = settings
        self.client = client
        self.clock = clock
        self.timing = timing
        self.run_concurrently = run_concurrently

    def _query(self, query_id: str, metric: dict, stat: str) -> dict:
        return {
            "Id": query_id,
            "ReturnData": True,
            "MetricStat": {"Metric": metric, "Period": max(1, round(self.timing.lag_period_seconds)), "Stat": stat},
        }

    def _writes_query(self) -> dict:
        return self._query(
            "writes",
            {
                "Namespace": "AWS/DynamoDB",
                "MetricName": "ConsumedWriteCapacityUnits",
                "Dimensions": [{"Name": "TableName", "Value": self.settings.data_table}],
            },
            "Sum",
        )

    def _read(self, region: str, queries: list[dict]) -> dict[str, Series]:
        now = self.clock()
        data = self.client("cloudwatch", region).get_metric_data(
            MetricDataQueries=queries,
            StartTime=now - self.timing.lag_window_seconds,
            EndTime=now + self.timing.lag_period_seconds,
        )
        return {r["Id"]: _series(r) for r in data.get("MetricDataResults", [])}

    def measure(self, source: str) -> dict[str, LagReading]:
        s = self.settings
        if not s.data_table:
            return {}
        if s.replication == "streams":
            return self._measure_replicator(source)
        others = [r for r in s.regions if r != source]
        queries = [
            self._query(
                f"lag{i}",
                {
                    "Namespace": "AWS/DynamoDB",
                    "MetricName": "ReplicationLatency",
                    "Dimensions": [
                        {"Name": "TableName", "Value": s.data_table},
                        {"Name": "ReceivingRegion", "Value": region},
                    ],
                },
                "Maximum",
            )
            for i, region in enumerate(others)
        ]
        values = self._read(source, [*queries, self._writes_query()])
        writes = values.get("writes", [])
        return {
            region: reading_from(values.get(f"lag{i}", []), writes, self.timing.lag_period_seconds, "cloudwatch")
            for i, region in enumerate(others)
        }

    def _measure_replicator(self, source: str) -> dict[str, LagReading]:
        s = self.settings
        others = [r for r in s.regions if r != source]
        tasks: dict[str, Callable[[], Any]] = {
            r: partial(self._read, r, [self._query("lag", lag_metric(s.data_table or "", source), "Maximum")])
            for r in others
        }
        tasks["writes"] = lambda: self._read(source, [self._writes_query()])
        done = self.run_concurrently(tasks, self.timing.call_timeout_seconds + 0.5)
        got = done["writes"]
        writes = None if isinstance(got, BaseException) else got.get("writes", [])
        out = {}
        for region in others:
            result = done[region]
            if isinstance(result, BaseException):
                continue  # unknown in that region; the memory or the gate decides
            out[region] = reading_from(result.get("lag", []), writes, self.timing.lag_period_seconds, "replicator")
        return out


def remembered(
    memory: Mapping[str, Mapping[str, MemoryEntry]], target: str, now: float, max_age: float
) -> LagReading | None:
    """The freshest reading any observer recorded towards `target` within `max_age` (observer -> target -> entry)."""
    entries = [lag[target] for lag in memory.values() if target in lag and now - lag[target][2] <= max_age]
    if not entries:
        return None
    seconds, writes, _, stale = max(entries, key=lambda e: e[2])
    return LagReading(seconds, writes, source="memory", stale_seconds=stale)


def to_memory(readings: Mapping[str, LagReading], at: float) -> dict[str, MemoryEntry]:
    return {target: (r.lag_seconds, r.writes_seen, at, r.stale_seconds) for target, r in readings.items()}
