"""A whole deployment on loopback, as the stack declares it: AWS (the moto server) for every region behind the
network's gates, the control table strongly or eventually consistent, the data table likewise (strong: one history;
eventual: a table per region and the streams replicator), an application and a writer per region, Route 53's
checks and the alarm on them, users behind resolver caches, and the real orchestrators on their schedule.

Nothing here decides anything: the runtime does (`failover.orchestrator`, `failover.client`, `failover.health`),
built by `drctl.drill.runtime` from the `DR_*` variables the stack would set, its timers divided by the time scale.
"""

from __future__ import annotations

import functools
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from botocore.config import Config

from drctl.drill import actors
from drctl.drill.accelerator import accelerated_traffic
from drctl.drill.actors import AlarmModel, Route53Emulator, TrafficClient
from drctl.drill.apps import Application, make_resolver
from drctl.drill.aws import (
    TRUTH_REGION,
    AwsModel,
    ControlReplication,
    HoldRule,
    Quorum,
    RegionSession,
    direct_client,
)
from drctl.drill.eventual import create_conflict_tables, recorded_conflict_keys
from drctl.drill.history import History, Observed, WriteRecord, writes_of_part
from drctl.drill.invocations import AuthoritySampler, Injection, MonitorFleet, read_notices
from drctl.drill.moto_process import MotoProcess
from drctl.drill.network import INTERNET, Gates, Network, PathMode
from drctl.drill.runtime import (
    APP,
    CONTROL_TABLE,
    PARAMETER,
    TABLE,
    alarm_name,
    initial_projection,
    invoker,
    scale_runtime_constants,
)
from drctl.drill.timescale import HEALTH_CHECKERS, TimeScale

Consistency = Literal["strong", "eventual"]
USERS = 4
ALARM_REGION = "us-east-1"


class Actor(Protocol):
    """A part of the world with its own thread, started once everything it watches exists."""

    def start(self) -> None: ...


@dataclass
class WorldOptions:
    control: Consistency = "strong"
    """How the stack declares the control table (the authority)."""
    alarms: bool = True
    """The Route 53 alarm path (alarm -> topic -> every orchestrator)."""
    duplicates: int = 1
    """Each scheduled monitor invocation delivered this many times (EventBridge delivers at least once)."""
    duplicate_delay: float = 0.45
    """Probe intervals between copies of one scheduled invocation."""
    schedule_spread: float = 1.0
    """Regions' schedules are offset from each other within this many probe intervals (0: they fire together, as
    `rate(1 minute)` schedules in every region do)."""
    skew: dict[str, float] = field(default_factory=dict)
    """Seconds added to each region's orchestrator clock."""
    start_applications: bool = True
    """False: a first deploy, whose scenario starts the applications (their names resolve) when it says."""
    initial_alarm_state: str = "OK"
    traffic: Literal["dns", "accelerator"] = "dns"
    """accelerator: users reach the regions through `drctl.drill.accelerator` (Route 53's checks and alarms stay)."""


class DrillWorld:
    """`start()` builds and starts everything; `close()` stops it all (every thread is bounded)."""

    def __init__(self, scale: TimeScale, moto: MotoProcess, options: WorldOptions | None = None) -> None:
        self.scale = scale
        self.moto = moto
        self.options = options or WorldOptions()
        self.regions = list(scale.reference.regions)
        self.mode = scale.reference.mode
        self.stop = threading.Event()
        self.faults: list[tuple[float, str]] = []
        self.observed: list[Observed] = []
        self.writes: list[WriteRecord] = []
        self._records_lock = threading.Lock()
        self._exit = ExitStack()
        self._direct: dict[tuple[str, str], Any] = {}
        self.injection: Injection | None = None

    # -- set-up --------------------------------------------------------------------------------------------------
    def start(self) -> DrillWorld:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        s = self.scale
        self.moto.reset()
        self._exit.callback(self._stop_all)
        scale_runtime_constants(s, self._exit)
        self.network = Network(self.regions)
        self.gates = Gates(self.network, trickle_delay=s.probe_timeout / 3)
        self._exit.callback(self.gates.close)
        callers = [*self.regions, INTERNET]
        self.aws_urls = {
            (c, t): f"http://127.0.0.1:{self.gates.add(c, t, 'aws', lambda: self.moto.address)}"
            for c in callers
            for t in self.regions
        }
        self.aws = AwsModel(
            self.network,
            lambda c, t: self.aws_urls[(c, t)],
            Config(connect_timeout=s.connect_timeout, read_timeout=s.call_timeout),
        )
        self.sessions = {r: RegionSession(r, self.aws) for r in self.regions}
        self._create_resources()
        self.apps = {r: self._application(r) for r in self.regions}
        self.app_urls = {
            (c, t): f"http://127.0.0.1:{self.gates.add(c, t, 'app', self.apps[t].upstream)}"
            for c in callers
            for t in self.regions
        }
        self._start_replication()
        self._start_traffic()
        self._start_observers()
        if self.options.start_applications:
            for app in self.apps.values():
                app.start()
        actors: tuple[Actor, ...] = (self.sampler, self.route53, *self.users)
        for actor in actors:
            actor.start()
        if self.options.alarms:
            self.alarms.start()
        self.monitors_started = time.time()
        self.monitors.start(self.monitors_started, spread=self.options.schedule_spread * s.probe_interval)

    def _start_replication(self) -> None:
        """The streams pumps of an eventually consistent data table, and the control table's when it is too."""
        s = self.scale
        self.pumps = self._start_data_replication() if self.mode == "eventual" else None
        self.control_replication = None
        if self.options.control == "eventual":
            self.control_replication = ControlReplication(
                self.regions,
                CONTROL_TABLE,
                lambda r: self.direct("dynamodb", r),
                self.network,
                self.stop,
                period=s.call_timeout / 2,
            )
            self.control_replication.start()

    def _start_traffic(self) -> None:
        """Route 53's health checkers and failover answer, and the users who resolve and call through them."""
        s = self.scale
        self.route53 = Route53Emulator(
            self.regions,
            {r: self.app_urls[(INTERNET, r)] + "/health/route" for r in self.regions},
            s.health_interval,
            s.reference.health_threshold,
            HEALTH_CHECKERS,
            s.checker_connect,
            s.checker_response,
            self.stop,
        )
        began = time.time()
        self.users = [
            TrafficClient(
                self.route53,
                {r: self.app_urls[(INTERNET, r)] for r in self.regions},
                s.dns_ttl,
                self.stop,
                user=i,
                first_expiry=began + s.dns_ttl * (i + 1) / USERS,
                period=s.health_interval / 5,
                timeout=s.checker_connect,
            )
            for i in range(USERS)
        ]
        if self.options.traffic == "accelerator":  # the started emulator, and users that ask it on every request
            self.accelerator, self.users = accelerated_traffic(self, USERS)

    def _start_observers(self) -> None:
        """The authority sampler, the scheduled monitors and the CloudWatch alarms on the health checks."""
        s = self.scale
        self.sampler = AuthoritySampler(
            self._read_authority, self.regions, f"control#{APP}", self.stop, period=s.call_timeout / 2
        )
        self.monitors = MonitorFleet(
            self.regions, functools.partial(invoker, self), lambda r: not self.network.is_down(r), s.schedule, self.stop
        )
        self.monitors.duplicates = self.options.duplicates
        self.monitors.duplicate_delay = self.options.duplicate_delay * s.probe_interval
        self.alarms = AlarmModel(
            self.regions,
            {r: alarm_name(r) for r in self.regions},
            ALARM_REGION,
            s.alarm_period,
            s.reference.alarm_periods,
            self._deliver_alarm,
            lambda a, b: not self.network.is_down(a) and self.network.reaches(a, b),
            self.regions,
            self.stop,
            initial=self.options.initial_alarm_state,
        )
        if self.options.alarms:
            self.route53.listeners.append(self.alarms.health_changed)

    def direct(self, service: str, region: str):
        key = (service, region)
        if key not in self._direct:
            self._direct[key] = direct_client(self.moto.url, service, region)
        return self._direct[key]

    def _create_resources(self) -> None:
        key = {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
        members = Quorum(tuple(self.control_regions), None)
        if self.mode == "strong":
            self.direct("dynamodb", TRUTH_REGION).create_table(TableName=TABLE, **key)
            self.aws.linearizable[TABLE] = members
        else:
            for region in self.regions:
                self.direct("dynamodb", region).create_table(
                    TableName=TABLE,
                    StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
                    **key,
                )
            create_conflict_tables(self.regions, TABLE, lambda r: self.direct("dynamodb", r))
        if self.options.control == "strong":
            self.direct("dynamodb", TRUTH_REGION).create_table(TableName=CONTROL_TABLE, **key)
            self.aws.linearizable[CONTROL_TABLE] = members
        else:
            for region in self.regions:
                self.direct("dynamodb", region).create_table(TableName=CONTROL_TABLE, **key)
        self.topics: dict[str, str] = {}
        self.queues: dict[str, str] = {}
        initial = initial_projection(self.regions[0])
        for region in self.regions:
            self.direct("ssm", region).put_parameter(Name=PARAMETER, Value=initial, Type="String")
            topic = self.direct("sns", region).create_topic(Name=f"{APP}-drill-dr")["TopicArn"]
            queue = self.direct("sqs", region).create_queue(QueueName=f"{APP}-drill-notices")["QueueUrl"]
            arn = self.direct("sqs", region).get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
            self.direct("sns", region).subscribe(
                TopicArn=topic,
                Protocol="sqs",
                Endpoint=arn["Attributes"]["QueueArn"],
                Attributes={"RawMessageDelivery": "true"},
            )
            self.topics[region], self.queues[region] = topic, queue

    def _application(self, region: str) -> Application:
        session = self.sessions[region]
        resolver = make_resolver(
            region,
            self.regions,
            session,
            parameter=PARAMETER,
            table=TABLE,
            control_table=CONTROL_TABLE,
            app=APP,
            cache_seconds=self.scale.client_cache,
            control_regions=self.control_regions,
            log=self._observe,
        )
        return Application(
            region,
            resolver,
            session.client("dynamodb", region_name=region),
            session.resource("dynamodb", region_name=region).Table(TABLE),
            versioned=self.mode == "eventual",
            write_period=self.scale.health_interval / 20,
            write_records=self.writes,
            lock=self._records_lock,
        )

    def _observe(self, seen: Observed) -> None:
        with self._records_lock:
            self.observed.append(seen)

    def _start_data_replication(self):
        from drctl.drill.eventual import POLL_SECONDS, StreamPumps
        from failover.replicator import RECEIVING

        # The replicator's own deadlines (not the orchestrators'), scaled; Lambda's mapping polls a shard about four
        # times a second: scaled, but no faster than ten polls a second per direction (the drill's one process
        # shares its CPU with everything else, so replication here is slower than in production, never faster)
        clamp = Config(
            connect_timeout=RECEIVING.connect_timeout / self.scale.factor,
            read_timeout=RECEIVING.read_timeout / self.scale.factor,
        )
        sessions = {r: RegionSession(r, self.aws, clamp) for r in self.regions}
        pumps = StreamPumps(self.regions, TABLE, sessions, self.stop, poll=max(0.1, POLL_SECONDS / self.scale.factor))
        pumps.start()
        self._exit.callback(pumps.join, 3.0)
        return pumps

    def _read_authority(self) -> dict[str, dict | None]:
        from drctl.drill.aws import read_item

        if self.options.control == "strong":
            return {"-": read_item(self.direct("dynamodb", TRUTH_REGION), CONTROL_TABLE, f"control#{APP}")}
        return {r: read_item(self.direct("dynamodb", r), CONTROL_TABLE, f"control#{APP}") for r in self.regions}

    # -- the orchestrators (built by `drctl.drill.runtime`) --------------------------------------------------------
    @property
    def control_regions(self) -> list[str]:
        """The control table's replica regions (a strongly consistent table has three, or two and a witness)."""
        return self.regions[:3] if self.options.control == "strong" else list(self.regions)

    def invoke(self, region: str, event: dict) -> dict | None:
        """An invocation in `region` now (an operator's, or an alarm's), recorded like the scheduled ones."""
        return self.monitors.invoke(region, event)

    def _deliver_alarm(self, region: str, event: dict) -> None:
        if not self.network.is_down(region):
            self.monitors.invoke(region, event)

    # -- faults --------------------------------------------------------------------------------------------------
    def fault(self, what: str) -> float:
        at = time.time()
        self.faults.append((at, what))
        return at

    def fail_region(self, region: str, mode: str = "hung") -> float:
        """The region fails: every path into it hangs (or refuses), its application and writer stop."""
        at = self.fault(f"{region} fails ({mode})")
        self.network.fail(region, mode)  # type: ignore[arg-type]
        self.apps[region].stop()
        return at

    def fail_application(self, region: str, mode: PathMode = "hung") -> float:
        """`region`'s application stops answering (its front door hangs); the region's AWS still answers, and the
        application's writer keeps writing whenever the runtime lets it."""
        at = self.fault(f"{region}'s application fails ({mode}); the region's AWS still answers")
        self.network.fail_application(region, mode)
        return at

    def recover_region(self, region: str) -> float:
        at = self.fault(f"{region} recovers")
        self.network.recover(region)
        self.apps[region].start()
        return at

    def partition(self, region: str, mode: PathMode = "hung") -> float:
        at = self.fault(f"{region} partitioned from the other regions (users still reach it; paths {mode})")
        self.network.partition(region, mode)
        return at

    def heal(self, region: str | None = None) -> float:
        at = self.fault(f"partition healed{'' if region is None else ' around ' + region}")
        self.network.heal(region)
        return at

    def hold(self, rule: HoldRule, what: str) -> HoldRule:
        self.fault(what)
        return self.aws.hold(rule)

    # -- reading the outcome -------------------------------------------------------------------------------------
    def authority(self):
        return self.sampler.current()

    def keys_in(self, region: str) -> set[str]:
        """Every item key in `region`'s data table (tombstones excluded), read straight from moto."""
        client = self.direct("dynamodb", TRUTH_REGION if self.mode == "strong" else region)
        keys: set[str] = set()
        kwargs: dict = {"TableName": TABLE, "ConsistentRead": True}
        while True:
            page = client.scan(**kwargs)
            keys.update(i["pk"]["S"] for i in page["Items"] if not i.get("_dr_deleted", {}).get("BOOL"))
            if "LastEvaluatedKey" not in page:
                return keys
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def projection(self, region: str) -> str | None:
        try:
            return self.direct("ssm", region).get_parameter(Name=PARAMETER)["Parameter"]["Value"]
        except Exception:
            return None

    def notices(self) -> list:
        out = []
        for region, queue in self.queues.items():

            def receive(queue: str = queue, region: str = region) -> list[dict]:
                got: list[dict] = []
                while True:
                    page = self.direct("sqs", region).receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
                    messages = page.get("Messages", [])
                    if not messages:
                        return got
                    got.extend(messages)
                    self.direct("sqs", region).delete_message_batch(
                        QueueUrl=queue,
                        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                    )

            out.extend(read_notices(receive, region))
        return out

    def history(self, start: float, end: float, checked_region: str, present: set[str] | None = None) -> History:
        with self._records_lock:
            writes = writes_of_part(self.writes, start, end)
            observed = [o for o in self.observed if start <= o.at <= end]
        return History(
            start=start,
            end=end,
            writes=writes,
            traffic=sorted(
                (r for u in self.users for r in list(u.records) if start <= r.at <= end), key=lambda r: r.at
            ),
            transitions=list(self.sampler.transitions),
            observed=observed,
            invocations=[i for i in self.monitors.invocations if start <= i.at <= end],
            notices=self.notices(),
            health_changes=self.route53.changes(),
            answers=list(self.route53.answers),
            user_answers={u.user: list(u.answers) for u in self.users},
            active=[s for s in self.sampler.samples if start <= s[0] <= end],
            faults=[f for f in self.faults if start <= f[0] <= end],
            present=self.keys_in(checked_region) if present is None else present,
            conflicts=set()
            if self.mode == "strong"
            else recorded_conflict_keys(self.regions, TABLE, lambda r: self.direct("dynamodb", r)),
            checked_region=checked_region,
            projections={r: self.projection(r) for r in self.regions},
        )

    # -- closing -------------------------------------------------------------------------------------------------
    def _stop_all(self) -> None:
        self.stop.set()
        for app in getattr(self, "apps", {}).values():
            app.close()
        for actor in [
            getattr(self, n, None) for n in ("route53", "accelerator", "sampler", "monitors", "alarms")
        ] + getattr(self, "users", []):
            if actor is not None:
                actor.join(2.0)

    def close(self) -> None:
        self.stop.set()
        self._exit.close()


__all__ = ["APP", "CONTROL_TABLE", "PARAMETER", "TABLE", "DrillWorld", "WorldOptions", "actors"]
