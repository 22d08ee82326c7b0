"""A whole deployment on loopback: the moto server as AWS for three regions, a gate per region, an application
per region, the writer, replication, Route 53 and a user's resolver, and the real orchestrators' monitors.

The control table: one table in moto (region `CONTROL_TABLE_REGION`) that every orchestrator reaches through
its *own* region's gate, as it would reach its region's replica of the global control table; so a failed
region's orchestrator loses it with everything else there, and the survivors share one fenced authority.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from contextlib import ExitStack
from typing import Any, Callable, Literal, Optional

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from drctl.drill.live import (
    ControlSampler,
    CrashingOrchestrator,
    CrashSwitch,
    MonitorFleet,
    Route53Emulator,
    SynchronousReplication,
    TrafficClient,
    Writer,
)
from drctl.drill.loopback import LOOPBACK, Gate, GateMode, LoopbackSession, RegionApplication, atomic_moto_items
from drctl.drill.verdict import DrillTimers
from failover import orchestrator as orch
from failover import settings as names
from failover.client import ActiveRegionResolver
from failover.settings import Settings, load_settings

Mode = Literal["strong", "eventual"]
REGIONS = ("us-east-1", "us-east-2", "us-west-2")
"""One MRSC region set (strong consistency needs exactly three): prod's regions."""
CONTROL_TABLE_REGION = "us-west-1"
APP = "orders"
TABLE = "orders-drill"
CONTROL_TABLE = "orders-drill-dr-control"
PARAMETER = "/orders/drill/active_region"
USERS = 4
"""Users sending traffic, each through its own resolver cache, their expiries spread over the TTL: the traffic
RTO is the slowest user's, so the drill sees close to the worst case the budget assumes."""


class DrillWorld:
    """Start with `start()`, stop with `close()` (also on error: every thread is bounded and stops)."""

    def __init__(self, mode: Mode, timers: DrillTimers, regions: tuple[str, ...] = REGIONS) -> None:
        self.mode = mode
        self.timers = timers
        self.regions = list(regions)
        self.writer_region = self.regions[-1]
        """The writer runs beside the lowest-priority region's application, which no scenario fails."""
        self.stop = threading.Event()
        self.down: set[str] = set()
        self.states: list[tuple[float, str, str]] = []
        """(time, region, "up" | "down" | "impaired"): what the drill did to each region."""
        self.crash = CrashSwitch()
        self._exit = ExitStack()
        self.moto: Optional[ThreadedMotoServer] = None
        self._direct: dict[tuple[str, str], Any] = {}

    # -- set-up ------------------------------------------------------------------------------------------------
    def start(self) -> "DrillWorld":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        t = self.timers
        self._exit.enter_context(atomic_moto_items())
        self._exit.callback(setattr, orch, "LEASE_SECONDS", orch.LEASE_SECONDS)
        orch.LEASE_SECONDS = t.lease_seconds  # a module constant, not a setting: scaled like the function timeout
        werkzeug = logging.getLogger("werkzeug")  # moto's server logs every request otherwise
        self._exit.callback(werkzeug.setLevel, werkzeug.level)
        werkzeug.setLevel(logging.ERROR)
        self.moto = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
        self.moto.start()
        self._exit.callback(self.moto.stop)
        host, port = self.moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        urllib.request.urlopen(urllib.request.Request(f"{self.moto_url}/moto-api/reset", method="POST"), timeout=10)
        self.gates = {r: Gate(f"aws-{r}", (host, port)) for r in self.regions}
        for gate in self.gates.values():
            self._exit.callback(gate.close)
        self.session = LoopbackSession(lambda region: self.gates[region].url
                                       if region in self.gates else self.moto_url)
        self._create_resources()
        self.apps = {r: RegionApplication(r, self.regions, self.session, PARAMETER, TABLE, t.client_cache_seconds)
                     for r in self.regions}
        for app in self.apps.values():
            self._exit.callback(app.close)
            app.start()
            self.states.append((time.time(), app.region, "up"))
        self._exit.callback(self._stop_actors)
        self.replication = (SynchronousReplication(self.regions, TABLE, lambda r: self.session.client("dynamodb", r))
                            if self.mode == "strong" else None)
        if self.replication is not None:
            self._exit.callback(self.replication.close)
        self.pumps = self._start_eventual_replication() if self.mode == "eventual" else None
        resolver = ActiveRegionResolver(parameter_name=PARAMETER, local_region=self.writer_region,
                                        regions=self.regions, table_name=TABLE,
                                        cache_seconds=t.client_cache_seconds, session=self.session)
        self.writer = Writer(resolver, self._put, self.stop)
        self.route53 = Route53Emulator(self.regions, {r: a.url + "/health/route" for r, a in self.apps.items()},
                                       t.health_interval_seconds, t.health_failure_threshold, t.health_checkers,
                                       self.stop)
        began = time.time()
        self.users = [TrafficClient(self.route53, {r: a.url for r, a in self.apps.items()}, t.dns_ttl_seconds,
                                    self.stop, user=i, first_expiry=began + t.dns_ttl_seconds * (i + 1) / USERS)
                      for i in range(USERS)]
        self.sampler = ControlSampler(self.direct("dynamodb", CONTROL_TABLE_REGION), CONTROL_TABLE, f"control#{APP}",
                                      self.regions, self.stop)
        self.monitors = MonitorFleet(self.regions, self.orchestrator, lambda r: r not in self.down,
                                     t.schedule_seconds, self.stop)
        for actor in (self.sampler, self.route53, *self.users, self.writer, self.monitors):
            actor.start()

    def direct(self, service: str, region: str):
        """A client straight to moto, outside every gate: the drill's own set-up and its reading of the truth."""
        key = (service, region)
        if key not in self._direct:
            self._direct[key] = boto3.client(service, region_name=region, endpoint_url=self.moto_url,
                                             aws_access_key_id="testing", aws_secret_access_key="testing",
                                             config=Config(read_timeout=30, account_id_endpoint_mode="disabled"))
        return self._direct[key]

    def _create_resources(self) -> None:
        stream = ({"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
                  if self.mode == "eventual" else {})
        self.topics: dict[str, str] = {}
        for region in self.regions:
            self.direct("dynamodb", region).create_table(
                TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                **stream)
            self.direct("ssm", region).put_parameter(Name=PARAMETER, Value=self.regions[0], Type="String")
            self.topics[region] = self.direct("sns", region).create_topic(Name=f"{APP}-drill-dr")["TopicArn"]
        self.direct("dynamodb", CONTROL_TABLE_REGION).create_table(
            TableName=CONTROL_TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")

    def _start_eventual_replication(self):
        from drctl.drill.eventual import StreamPumps

        pumps = StreamPumps(self.regions, TABLE, self.session, self.stop)
        pumps.start()
        self._exit.callback(pumps.join, 3.0)
        return pumps

    def _put(self, table: Any, region: str, item: dict) -> bool:
        if self.replication is not None:
            return self.replication.put(table, region, item)
        from failover.client import VersionedTable

        return VersionedTable(table, region=region).put(item)

    def _stop_actors(self) -> None:
        self.stop.set()
        for actor in [getattr(self, n, None) for n in ("writer", "route53", "sampler", "monitors")] + \
                getattr(self, "users", []):
            if actor is not None:
                actor.join(3.0)

    # -- the orchestrators -----------------------------------------------------------------------------------
    def settings(self, region: str) -> Settings:
        """The real settings parser over the DR_* variables the stack would set, with the drill's timers."""
        t = self.timers
        env = {
            names.APP: APP, names.REGIONS: ",".join(self.regions), names.HOME_REGION: region,
            names.CONTROL_TABLE: CONTROL_TABLE, names.ACTIVE_REGION_PARAMETER: PARAMETER,
            names.HEALTH_URLS: json.dumps({r: a.url + "/health" for r, a in self.apps.items()}),
            names.SCALE_TARGETS: json.dumps({r: {"kind": "none"} for r in self.regions}),
            names.TOPIC_ARNS: json.dumps(self.topics), names.DATA_TABLE: TABLE,
            names.FAILURE_THRESHOLD: str(t.failure_threshold), names.RECOVERY_THRESHOLD: str(t.recovery_threshold),
            names.MIN_DWELL_SECONDS: str(t.min_dwell_seconds), names.FAILBACK: "manual",
            names.AUTOMATIC_FAILOVER: "true", names.PROBE_INTERVAL_SECONDS: str(t.probe_interval_seconds),
            names.PROBE_TIMEOUT_SECONDS: str(t.probe_timeout_seconds),
            names.MONITOR_WINDOW_SECONDS: str(t.monitor_window_seconds),
        }
        if self.mode == "eventual":  # as the stack sets them for a table replicated by streams
            env[names.RPO_SECONDS] = str(t.rpo_objective_seconds)
            env[names.REPLICATION] = "streams"
        return load_settings(env)

    def orchestrator(self, region: str, sleep: Callable[[float], None]) -> orch.Orchestrator:
        """A fresh invocation in `region`: AWS through the gates, the control table through its own gate."""
        endpoints = {r: g.url for r, g in self.gates.items()}
        endpoints[CONTROL_TABLE_REGION] = self.gates[region].url
        return CrashingOrchestrator(self.settings(region), session=self.session, sleep=sleep,
                                    deadline=orch.Deadline(self.timers.invocation_seconds), endpoints=endpoints,
                                    control_region=CONTROL_TABLE_REGION, crash=self.crash)

    def operator(self, event: dict, region: Optional[str] = None) -> Optional[orch.Result]:
        """An operator invokes the orchestrator (e.g. `{"action": "failback"}`), in the writer's region."""
        region = region or self.writer_region
        request = orch.parse_event(event, self.settings(region))
        return self.monitors.invoke(region, request)

    # -- what scenarios do to regions -------------------------------------------------------------------------
    def fail_region(self, region: str, aws: GateMode = "hung") -> None:
        """The region goes down: its application stops (its port refuses), its AWS endpoints hang or refuse,
        and its orchestrator stops with it."""
        self.states.append((time.time(), region, "down"))
        self.down.add(region)
        self.gates[region].set_mode(aws)
        self.apps[region].stop()

    def recover_region(self, region: str) -> None:
        """The region comes back: AWS first (strong mode: its table catches up before anything uses it), then
        the application, then its orchestrator's schedule."""
        self.gates[region].set_mode("up")
        if self.replication is not None:
            self.replication.repair(region)
        self.apps[region].start()
        self.down.discard(region)
        self.states.append((time.time(), region, "up"))

    def impair(self, region: str, impaired: bool) -> None:
        """Flapping: the region's AWS endpoints refuse (the application stays up and reports 503) or answer."""
        self.states.append((time.time(), region, "impaired" if impaired else "up"))
        self.gates[region].set_mode("refuse" if impaired else "up")
        if not impaired and self.replication is not None:
            self.replication.repair(region, rounds=1)

    # -- reading the outcome ----------------------------------------------------------------------------------
    def traffic(self) -> list:
        """Every user's requests, in time order."""
        return sorted((r for user in self.users for r in list(user.records)), key=lambda r: r.at)

    def user_answers(self) -> dict[int, list[tuple[float, str]]]:
        return {user.user: list(user.answers) for user in self.users}

    def keys_in(self, region: str) -> set[str]:
        """Every item key in `region`'s table (tombstones excluded), read straight from moto."""
        client = self.direct("dynamodb", region)
        keys: set[str] = set()
        kwargs: dict = {"TableName": TABLE, "ConsistentRead": True}
        while True:
            page = client.scan(**kwargs)
            keys.update(i["pk"]["S"] for i in page["Items"] if not i.get("_dr_deleted", {}).get("BOOL"))
            if "LastEvaluatedKey" not in page:
                return keys
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def parameter(self, region: str) -> Optional[str]:
        client = self.direct("ssm", region)
        return client.get_parameter(Name=PARAMETER)["Parameter"]["Value"]

    def close(self) -> None:
        self.stop.set()
        self._exit.close()
