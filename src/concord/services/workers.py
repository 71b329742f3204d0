"""Process roles of a scaled-out deployment: ingest, tracker (with rules) and egress workers on the bus.

Observations are partitioned by region: a partition is a named longitude band, and every observation
travels on ``obs.<region>``. A tracker worker owns a set of regions through expiring leases in a
JetStream key-value bucket; one region is owned by one worker at a time, so a track is never fused by
two processes. Workers share the regions fairly (``ceil(regions / live workers)`` each): when a worker
joins, the others release their surplus; when one leaves (or dies, and its lease expires), the others
take its regions, rebuild their tracker state from the stored observations (warm start) and continue
from the region's durable consumer, which redelivers whatever the lost worker had not acknowledged.

Each region's observations go through a :class:`PictureService` of its own (fusion, rules and the
journal commit in one transaction); the bus messages are acknowledged only after that commit, and a
redelivered observation is dropped by id, so no observation is lost or stored twice. After the commit
the worker announces the committed observation ids on ``committed.<region>`` (core NATS).

API and egress nodes hand observations to the bus through :class:`BusIntake`, which answers the
caller only once the region's owner announced the commit (or the journal shows it), and hear of every
committed record through a :class:`~concord.services.follower.JournalFollower` reading the journal,
woken by those announcements. Rules are evaluated in the tracker's transaction (their memory is per
track), so the ``rules`` role runs the tracker worker; ``api`` and ``egress`` nodes keep no state of
their own beyond caches of the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import sqlalchemy as sa

from concord.adapters import records_store as store
from concord.adapters.db import observations as observations_table
from concord.adapters.nats_bus import INGEST_STREAM, OBS_STREAM, Lease, LeaseBucket, NatsBus, RouteBucket
from concord.domain.errors import Conflict, InvalidInput, Unavailable
from concord.domain.marking import Marking
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.domain.types import ensure_utc
from concord.ingest import AisDecoder, CotDecoder, Decoder, JsonBatchDecoder
from concord.rules import RulesEngine
from concord.services.follower import JournalFollower
from concord.services.picture import MAX_BATCH, IngestReceipt, PictureService
from concord.tracking import GeoTracker, Region

__all__ = [
    "COMMITTED_SUBJECT",
    "LEASE_BUCKET",
    "ROLES",
    "ROUTE_BUCKET",
    "RouteBook",
    "BusIntake",
    "IngestWorker",
    "ObservationPublisher",
    "Partition",
    "Partitioning",
    "PublishReport",
    "Role",
    "RunningWorkers",
    "TrackerWorker",
    "background_intake",
    "observation_from_dict",
    "observation_to_dict",
    "prepare_node",
    "roles_of",
    "run_workers",
]

log = logging.getLogger(__name__)

Role = Literal["api", "ingest", "tracker", "rules", "egress", "all"]
ROLES: tuple[str, ...] = get_args(Role)
LEASE_BUCKET = "concord_leases"
ROUTE_BUCKET = "concord_routes"
COMMITTED_SUBJECT = "committed"  # committed.<region>: {"ids": [...], "rejected": [{"id", "reason"}]}
_PUBLISH_CONCURRENCY = 256


# -- partitions --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class Partition:
    """A region of the partitioning: the longitudes ``[lon_min, lon_max)``."""

    name: str
    lon_min: float
    lon_max: float


class Partitioning:
    """Which region an observation belongs to; positions beyond the ends go to the nearest band."""

    def __init__(self, partitions: Sequence[Partition]) -> None:
        if not partitions:
            raise InvalidInput("at least one partition is needed", details={"field": "partitions"})
        ordered = sorted(partitions, key=lambda p: p.lon_min)
        names = [p.name for p in ordered]
        if len(set(names)) != len(names):
            raise InvalidInput("partition names repeat", details={"field": "partitions"})
        for p in ordered:
            if not p.name.replace("-", "").replace("_", "").isalnum() or len(p.name) > 32:
                raise InvalidInput(
                    f"partition name {p.name!r}: 1-32 letters, digits, '-' or '_'",
                    details={"field": "partitions"},
                )
            if not (math.isfinite(p.lon_min) and math.isfinite(p.lon_max) and p.lon_min < p.lon_max):
                raise InvalidInput(f"partition {p.name}: lon_min < lon_max", details={"field": "partitions"})
        for a, b in zip(ordered, ordered[1:], strict=False):
            if a.lon_max > b.lon_min:
                raise InvalidInput(
                    f"partitions {a.name} and {b.name} overlap", details={"field": "partitions"}
                )
        self.partitions = tuple(ordered)

    @classmethod
    def parse(cls, spec: str, *, default_name: str = "border") -> Partitioning:
        """``west:-180:26.5,east:26.5:180``; an empty spec is one region covering everything."""
        if not spec.strip():
            return cls([Partition(name=default_name, lon_min=-180.0, lon_max=180.0)])
        parts: list[Partition] = []
        for item in spec.split(","):
            fields = item.strip().split(":")
            if len(fields) != 3:
                raise InvalidInput(
                    f"partition {item!r} is not name:lon_min:lon_max", details={"field": "partitions"}
                )
            try:
                lon_min, lon_max = float(fields[1]), float(fields[2])
            except ValueError as exc:
                raise InvalidInput(
                    f"partition {item!r}: longitudes must be numbers", details={"field": "partitions"}
                ) from exc
            parts.append(Partition(name=fields[0], lon_min=lon_min, lon_max=lon_max))
        return cls(parts)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.partitions)

    def region_of(self, lon: float) -> str:
        for p in self.partitions:
            if lon < p.lon_max:
                return p.name
        return self.partitions[-1].name

    def bounds(self, name: str) -> tuple[float, float]:
        """The band of ``name``, the outer ones stretched to the antimeridian."""
        for i, p in enumerate(self.partitions):
            if p.name == name:
                lo = -180.0 if i == 0 else p.lon_min
                hi = 180.0 if i == len(self.partitions) - 1 else p.lon_max
                return lo, hi
        raise InvalidInput(f"no partition {name!r}", details={"field": "region"})

    @staticmethod
    def subject(name: str) -> str:
        return f"obs.{name}"


# -- wire formats ------------------------------------------------------------------------------------
def observation_to_dict(o: Observation) -> dict[str, Any]:
    return {
        "id": o.id,
        "source": o.source,
        "agency": o.agency,
        "sensor": o.sensor.value,
        "observed_at": o.observed_at.isoformat(),
        "lat": o.lat,
        "lon": o.lon,
        "marking": o.marking.to_dict(),
        "position_sigma_m": o.position_sigma_m,
        "hae_m": o.hae_m,
        "course_deg": o.course_deg,
        "speed_mps": o.speed_mps,
        "identity": o.identity,
        "callsign": o.callsign,
        "target": o.target.value,
        "exercise": o.exercise,
        "attributes": o.attributes,
    }


def observation_from_dict(data: dict[str, Any]) -> Observation:
    """Rebuild an Observation from a bus message; anything malformed is InvalidInput."""
    try:
        return Observation(
            id=str(data["id"]),
            source=str(data["source"]),
            agency=str(data["agency"]),
            sensor=SensorKind(data["sensor"]),
            observed_at=ensure_utc(datetime.fromisoformat(str(data["observed_at"]))),
            lat=float(data["lat"]),
            lon=float(data["lon"]),
            marking=Marking.from_dict(data["marking"]),
            position_sigma_m=float(data.get("position_sigma_m") or 50.0),
            hae_m=_opt_float(data.get("hae_m")),
            course_deg=_opt_float(data.get("course_deg")),
            speed_mps=_opt_float(data.get("speed_mps")),
            identity=_opt_str(data.get("identity")),
            callsign=_opt_str(data.get("callsign")),
            target=TargetKind(data.get("target") or "unknown"),
            exercise=bool(data.get("exercise", False)),
            attributes=dict(data.get("attributes") or {}),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"malformed observation message: {exc}", details={"field": "observation"}) from exc


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


# -- publishing --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class PublishReport:
    """Observations JetStream acknowledged; ``duplicates`` were already stored (a retry)."""

    acked: int
    duplicates: int
    acked_ids: tuple[str, ...] = ()


class RouteBook:
    """Which region fuses an identified target: the region of its first report, while it is reported.

    A vessel's AIS reports or a patrol's TAK reports carry an identity. Routed by position alone, a
    target crossing a band edge would end its track in one region and start a new one in the next;
    routed by this book it stays with the region that first tracked it, so its track is never split.
    The book is a JetStream key-value bucket shared by every door (the first door to see an identity
    names its region, compare-and-set), entries expire ``ttl_s`` after the last refresh, and each door
    keeps what it learnt for a quarter of that. Reports without identity (radar, cameras) go by position.
    When the bucket does not answer, routing falls back to position: a split track, never a lost report.
    """

    def __init__(self, bus: NatsBus, *, ttl_s: float = 900.0, bucket: str = ROUTE_BUCKET) -> None:
        self._bus = bus
        self.ttl_s = ttl_s
        # While the bucket elects a leader, a report is not held up longer than this.
        self.claim_timeout_s = 2.0
        self._bucket = bucket
        self._kv: RouteBucket | None = None
        self._opening = asyncio.Lock()  # one bucket creation, however many reports ask at once
        self._known: dict[str, tuple[str, float]] = {}

    async def region_for(self, identity: str, default: str, regions: Sequence[str]) -> str:
        now = time.monotonic()
        hit = self._known.get(identity)
        if hit is not None and now - hit[1] < self.ttl_s / 4 and hit[0] in regions:
            return hit[0]
        try:
            if self._kv is None:
                async with self._opening:
                    if self._kv is None:
                        self._kv = await self._bus.route_bucket(self._bucket, ttl_s=self.ttl_s)
            region = await asyncio.wait_for(
                self._kv.claim(_route_key(identity), default, regions, refresh=hit is not None),
                timeout=self.claim_timeout_s,
            )
        except (Unavailable, TimeoutError) as exc:
            log.debug("route book unavailable (%s); routing %s by position", exc, identity)
            return hit[0] if hit is not None and hit[0] in regions else default
        if len(self._known) > 100_000:
            self._known = {k: v for k, v in self._known.items() if now - v[1] < self.ttl_s / 4}
        self._known[identity] = (region, now)
        return region


def _route_key(identity: str) -> str:
    # Key-value keys allow few characters; identities (mmsi:..., uid:...) allow many.
    return "id." + hashlib.blake2b(identity.encode("utf-8"), digest_size=16).hexdigest()


class ObservationPublisher:
    """Puts observations on ``obs.<region>``, one message each, named by the observation id.

    The region is the target's (see :class:`RouteBook`) when the report names one, else the band of its
    position.
    """

    def __init__(self, bus: NatsBus, partitioning: Partitioning, *, routes: RouteBook | None = None) -> None:
        self._bus = bus
        self._partitioning = partitioning
        self._routes = routes

    async def region_of(self, o: Observation) -> str:
        band = self._partitioning.region_of(o.lon)
        if self._routes is None or not o.identity or len(self._partitioning.names) == 1:
            return band
        return await self._routes.region_for(o.identity, band, self._partitioning.names)

    async def publish(self, items: Sequence[Observation]) -> PublishReport:
        """Return once JetStream acknowledged every observation; raises Unavailable otherwise."""
        gate = asyncio.Semaphore(_PUBLISH_CONCURRENCY)

        async def one(o: Observation) -> bool:
            async with gate:
                subject = self._partitioning.subject(await self.region_of(o))
                ack = await self._bus.publish_durable(subject, observation_to_dict(o), msg_id=o.id)
                return ack.duplicate

        results = await asyncio.gather(*(one(o) for o in items))
        return PublishReport(acked=len(items), duplicates=sum(results), acked_ids=tuple(o.id for o in items))


# -- the doors' intake on the bus ------------------------------------------------------------------
_Outcome = tuple[bool, str | None]  # (committed, reason refused)


class BusIntake:
    """The :class:`~concord.services.picture.Intake` of an API or egress node: observations go to the
    region owners on the bus, and the caller is answered once they are committed to the journal.

    An observation counts as committed when its region's tracker announces it on ``committed.<region>``
    or, should that announcement be missed (a reconnect), when the journal holds it. An observation the
    tracker refused comes back with the tracker's reason. When the commit is not confirmed in
    ``timeout_s`` the caller gets :class:`Unavailable` and may send the same batch again: observations
    are named by content, JetStream stores a repeated id once and the trackers drop it by id.
    """

    def __init__(
        self,
        bus: NatsBus,
        partitioning: Partitioning,
        *,
        engine: Any,
        timeout_s: float = 15.0,
        check_every_s: float = 0.5,
    ) -> None:
        self._bus = bus
        self._publisher = ObservationPublisher(bus, partitioning, routes=RouteBook(bus))
        self._engine = engine
        self.timeout_s = timeout_s
        self._check_every_s = check_every_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: dict[str, list[asyncio.Future[_Outcome]]] = {}

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve ``ingest`` calls on ``loop`` (the loop the bus is connected in)."""
        self._loop = loop

    def ingest(self, items: Sequence[Observation], *, actor: str) -> IngestReceipt:
        """Blocking form for the doors' worker threads (never call it on the loop itself)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise Unavailable("this node is not connected to the bus yet")
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None  # a worker thread: the expected caller
        if here is loop:
            # Waiting here would stop the loop that has to deliver the answer.
            raise RuntimeError("BusIntake.ingest blocks: await submit() on the bus's loop instead")
        future = asyncio.run_coroutine_threadsafe(self.submit(items, actor=actor), loop)
        try:
            return future.result(timeout=self.timeout_s + 10)
        except TimeoutError as exc:
            future.cancel()
            raise Unavailable("the bus did not answer; send the same batch again") from exc

    async def submit(self, items: Sequence[Observation], *, actor: str) -> IngestReceipt:
        if len(items) > MAX_BATCH:
            raise InvalidInput(
                f"at most {MAX_BATCH} observations per batch", details={"field": "observations"}
            )
        ids = [o.id for o in items]
        if len(set(ids)) != len(ids):
            raise InvalidInput("observation ids repeat within the batch", details={"field": "id"})
        known = await asyncio.to_thread(self._stored, ids)
        fresh = [o for o in items if o.id not in known]
        loop = asyncio.get_running_loop()
        mine: dict[str, asyncio.Future[_Outcome]] = {}
        for o in fresh:
            mine[o.id] = loop.create_future()
            self._waiting.setdefault(o.id, []).append(mine[o.id])
        try:
            if fresh:
                await self._publisher.publish(fresh)
            outcomes = await self._await_commit(mine)
        finally:
            for oid, future in mine.items():
                waiting = self._waiting.get(oid, [])
                if future in waiting:
                    waiting.remove(future)
                if not waiting:
                    self._waiting.pop(oid, None)
        rejected: list[dict[str, object]] = [
            {"index": ids.index(oid), "id": oid, "reason": reason}
            for oid, (committed, reason) in outcomes.items()
            if not committed
        ]
        rejected.sort(key=lambda r: int(str(r["index"])))
        log.debug("%s: %d observations committed through the bus", actor, len(fresh) - len(rejected))
        return IngestReceipt(
            accepted=len(fresh) - len(rejected),
            duplicates=len(known),
            rejected=rejected,
            tracks_updated=None,
            alerts=None,
        )

    async def _await_commit(self, mine: dict[str, asyncio.Future[_Outcome]]) -> dict[str, _Outcome]:
        deadline = time.monotonic() + self.timeout_s
        while True:
            pending = [f for f in mine.values() if not f.done()]
            if not pending:
                return {oid: f.result() for oid, f in mine.items()}
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(
                    f"{len(pending)} of {len(mine)} observations are queued but their commit was not "
                    f"confirmed within {self.timeout_s:.0f} s; send the same batch again "
                    "(observations are deduplicated by id)",
                    details={"pending": len(pending)},
                )
            await asyncio.wait(pending, timeout=min(self._check_every_s, left))
            unsure = [oid for oid, f in mine.items() if not f.done()]
            if unsure:
                # An announcement may have been missed: the journal is the truth.
                for oid in await asyncio.to_thread(self._stored, unsure):
                    if not mine[oid].done():
                        mine[oid].set_result((True, None))

    def _stored(self, ids: Sequence[str]) -> set[str]:
        with self._engine.connect() as conn:
            return set(store.existing_observation_ids(conn, list(ids)))

    async def on_committed(self, message: dict[str, Any]) -> None:
        """A tracker's announcement on ``committed.<region>``."""
        for oid in message.get("ids") or []:
            self._resolve(str(oid), (True, None))
        for refused in message.get("rejected") or []:
            if isinstance(refused, dict) and "id" in refused:
                self._resolve(str(refused["id"]), (False, str(refused.get("reason") or "refused")))

    def _resolve(self, oid: str, outcome: _Outcome) -> None:
        for future in self._waiting.get(oid, []):
            if not future.done():
                future.set_result(outcome)


@contextlib.contextmanager
def background_intake(concord: Any) -> Iterator[BusIntake]:
    """A :class:`BusIntake` for synchronous code (a command-line import), its loop in a thread of its own.

    What it takes in is fused by the region owners, as through any other door of the deployment.
    """
    bus = concord.bus
    if not isinstance(bus, NatsBus):
        raise InvalidInput("the bus intake needs the NATS bus (CONCORD_BUS=nats)", details={"field": "bus"})
    settings = concord.settings
    partitioning = Partitioning.parse(settings.partitions, default_name=settings.region_name)
    intake = BusIntake(bus, partitioning, engine=concord.engine, timeout_s=settings.ingest_commit_timeout_s)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bus-intake", daemon=True)
    thread.start()

    async def connect() -> None:
        await bus.connect()
        await bus.ensure_streams()
        bus.subscribe(f"{COMMITTED_SUBJECT}.>", intake.on_committed)

    try:
        asyncio.run_coroutine_threadsafe(connect(), loop).result(timeout=60)
        intake.attach(loop)
        yield intake
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(bus.close(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


# -- ingest ------------------------------------------------------------------------------------------
class IngestWorker:
    """Takes unpartitioned batches from ``ingest.>``, decodes them and routes each observation to its region.

    Two message forms, both named by ``id`` (JetStream keeps a repeated id once):

    - raw feed data from a gateway (an AIS receiver, a TAK server, a sensor hub):
      ``{"id": ..., "agency": "CG", "format": "ais" | "cot" | "geojson", "payload": "<text>"}``,
      decoded by the same decoders as every other door, under the agency's default marking
      (``received_at``, ISO 8601, optional: when the gateway received it);
    - observations decoded elsewhere: ``{"id": ..., "observations": [observation dicts]}``.

    What a decoder refuses (malformed, hostile, out of time) is counted and logged by code, never
    routed; a message naming an unknown agency or format is dropped whole. The batch is acknowledged
    only once the region streams hold its observations. Decoding is CPU work that grows with the feeds,
    so any number of ingest workers share the one durable consumer. AIS multi-sentence messages must
    arrive in one payload: two workers do not share the assembly of a sentence group.
    """

    def __init__(
        self,
        bus: NatsBus,
        partitioning: Partitioning,
        *,
        marking_for: Callable[[str], Marking] | None = None,
        agencies: Callable[[], Sequence[str]] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._bus = bus
        self._publisher = ObservationPublisher(bus, partitioning, routes=RouteBook(bus))
        self._marking_for = marking_for
        self._agencies = agencies
        self._clock = clock or (lambda: datetime.now(UTC))
        self._decoders: dict[tuple[str, str], Decoder] = {}
        self.routed = 0
        self.dropped = 0
        self.rejected: dict[str, int] = {}

    def _decoder(self, agency: str, fmt: str) -> Decoder:
        key = (agency, fmt)
        if key not in self._decoders:
            if self._marking_for is None or self._agencies is None:
                raise InvalidInput("this ingest worker decodes no raw feeds", details={"field": "format"})
            if agency not in self._agencies():
                raise InvalidInput(f"unknown agency {agency!r}", details={"field": "agency"})
            marking = self._marking_for(agency)
            feed = f"{fmt}-gateway:{agency}"
            decoder: Decoder
            if fmt == "ais":
                decoder = AisDecoder(agency, marking, feed=feed)
            elif fmt == "cot":
                decoder = CotDecoder(agency, marking, feed=feed)
            elif fmt == "geojson":
                decoder = JsonBatchDecoder(agency, marking, feed=feed, partial=True)
            else:
                raise InvalidInput(
                    f"unknown format {fmt!r}; one of ais, cot, geojson", details={"field": "format"}
                )
            self._decoders[key] = decoder
        return self._decoders[key]

    def _decode(self, message: dict[str, Any]) -> list[Observation]:
        payload = message.get("payload")
        agency, fmt = message.get("agency"), message.get("format")
        if not (isinstance(payload, str) and isinstance(agency, str) and isinstance(fmt, str)):
            raise InvalidInput(
                "a raw batch needs agency, format and payload as text", details={"field": "payload"}
            )
        try:
            received_at = ensure_utc(datetime.fromisoformat(str(message["received_at"])))
        except (KeyError, TypeError, ValueError):
            received_at = self._clock()
        result = self._decoder(agency, fmt).decode(payload.encode("utf-8"), received_at=received_at)
        for rejection in result.rejections:
            self.rejected[rejection.code] = self.rejected.get(rejection.code, 0) + 1
        if result.rejections:
            log.warning(
                "ingest: %s refused %d records (first: %s)",
                result.rejections[0].feed,
                len(result.rejections),
                result.rejections[0].reason,
            )
        return list(result.observations)

    async def handle(self, batch: list[dict[str, Any]]) -> None:
        items: list[Observation] = []
        for message in batch:
            if "payload" in message:
                try:
                    items.extend(await asyncio.to_thread(self._decode, message))
                except InvalidInput as exc:
                    self.dropped += 1
                    log.warning("ingest dropped a batch: %s", exc)
                continue
            for raw in message.get("observations") or []:
                try:
                    items.append(observation_from_dict(raw))
                except InvalidInput as exc:
                    self.dropped += 1
                    log.warning("ingest dropped an observation: %s", exc)
        if items:
            await self._publisher.publish(_unique(items))
            self.routed += len(items)

    async def run(self, stop: asyncio.Event) -> None:
        await self._bus.consume(
            "ingest.>", durable="ingest", stream=INGEST_STREAM, handler=self.handle, stop=stop
        )


# -- tracker -----------------------------------------------------------------------------------------
@dataclass(slots=True)
class _RegionState:
    lease: Lease
    renewed_at: float
    stop: asyncio.Event
    task: asyncio.Task[None] | None = None
    picture: PictureService | None = None
    ingested: int = 0


@dataclass(slots=True)
class _Counters:
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    alerts: int = 0
    takeovers: int = 0
    handovers: list[dict[str, Any]] = field(default_factory=list)


class TrackerWorker:
    """Owns regions by lease and runs fusion and rules for their observations."""

    def __init__(
        self,
        *,
        concord: Any,
        bus: NatsBus,
        partitioning: Partitioning,
        worker_id: str | None = None,
        lease_ttl_s: float = 6.0,
        batch: int = 500,
        tick_s: float = 5.0,
        on_committed: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None,
    ) -> None:
        self._concord = concord
        self._bus = bus
        self._partitioning = partitioning
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self._ttl_s = lease_ttl_s
        self._batch = batch
        self._tick_s = tick_s
        self._on_committed = on_committed
        self._regions: dict[str, _RegionState] = {}
        self._leases: LeaseBucket | None = None
        self.counters = _Counters()

    @property
    def owned(self) -> tuple[str, ...]:
        return tuple(sorted(self._regions))

    async def run(self, stop: asyncio.Event) -> None:
        self._leases = await self._bus.lease_bucket(LEASE_BUCKET, ttl_s=self._ttl_s)
        zones = self._concord.zones
        await asyncio.to_thread(zones.refresh)  # notes the zones the regions start with
        me: Lease | None = None
        try:
            while not stop.is_set():
                try:
                    # Zones imported through an API node reach this process's rules here.
                    if await asyncio.to_thread(zones.refresh):
                        log.info("tracker %s: zones changed; rules reloaded", self.worker_id)
                except Exception:
                    log.exception("tracker %s: reading the zones failed", self.worker_id)
                try:
                    me = await self._heartbeat(me)
                except (Unavailable, TimeoutError, OSError) as exc:
                    log.warning("tracker %s: heartbeat failed (%s)", self.worker_id, exc)
                try:
                    await self._rebalance()
                except (Unavailable, TimeoutError, OSError) as exc:
                    log.warning("tracker %s: lease round failed (%s)", self.worker_id, exc)
                except Exception:
                    log.exception("tracker %s: lease round failed", self.worker_id)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self._ttl_s / 3)
                except TimeoutError:
                    pass
        finally:
            for name in list(self._regions):
                await self._let_go(name, release=True)
            if me is not None and self._leases is not None:
                try:
                    await self._leases.release(me)
                except Unavailable:
                    log.warning("tracker %s: could not release its worker key", self.worker_id)

    async def _heartbeat(self, me: Lease | None) -> Lease:
        assert self._leases is not None
        key = f"worker.{self.worker_id}"
        if me is not None:
            try:
                return await self._leases.renew(me)
            except Conflict:
                pass
        got = await self._leases.acquire(key, self.worker_id)
        if got is None:
            raise Unavailable(f"worker key {key} is held by another process")
        return got

    async def _rebalance(self) -> None:
        assert self._leases is not None
        # Renew first: a lease we cannot renew is someone else's now, so stop at once.
        for name, state in list(self._regions.items()):
            try:
                state.lease = await self._leases.renew(state.lease)
                state.renewed_at = time.monotonic()
            except Conflict:
                log.warning("tracker %s lost region %s", self.worker_id, name)
                await self._let_go(name, release=False)
            except Unavailable:
                # Keep the region only as long as the lease surely lasts; after that it may be another's.
                if not self._lease_valid(state):
                    log.warning("tracker %s cannot renew region %s; letting go", self.worker_id, name)
                    await self._let_go(name, release=False)
            if state.task is not None and state.task.done() and name in self._regions:
                await self._let_go(name, release=True)
        workers = await self._leases.holders("worker.")
        fair = math.ceil(len(self._partitioning.names) / max(1, len(workers)))
        for name in sorted(self._regions, reverse=True)[: max(0, len(self._regions) - fair)]:
            log.info("tracker %s hands region %s over", self.worker_id, name)
            await self._let_go(name, release=True)
        if len(self._regions) >= fair:
            return
        for name in self._partitioning.names:
            if len(self._regions) >= fair:
                break
            if name in self._regions or await self._leases.holder(f"region.{name}") is not None:
                continue
            lease = await self._leases.acquire(f"region.{name}", self.worker_id)
            if lease is not None:
                self._take(name, lease)

    def _lease_valid(self, state: _RegionState) -> bool:
        # A margin of one renewal round: the bucket's clock started the TTL before our reply arrived.
        return time.monotonic() - state.renewed_at < self._ttl_s * 2 / 3

    def _take(self, name: str, lease: Lease) -> None:
        stop = asyncio.Event()
        state = _RegionState(lease=lease, renewed_at=time.monotonic(), stop=stop)
        state.task = asyncio.create_task(self._serve_region(name, state))
        self._regions[name] = state
        self.counters.takeovers += 1

    async def _let_go(self, name: str, *, release: bool) -> None:
        state = self._regions.pop(name, None)
        if state is None:
            return
        state.stop.set()
        if state.task is None:
            return
        if state.picture is not None:
            self._forget(state.picture)
        try:
            await asyncio.wait_for(state.task, timeout=30)
        except (TimeoutError, asyncio.CancelledError):
            state.task.cancel()
        except Exception:
            log.exception("region %s worker ended with an error", name)
        if release and self._leases is not None:
            try:
                await self._leases.release(state.lease)
            except Unavailable:
                log.warning("tracker %s: could not release region %s", self.worker_id, name)

    async def _serve_region(self, name: str, state: _RegionState) -> None:
        async def fresh_picture() -> PictureService:
            picture = self._picture_for(name)
            warmed = await asyncio.to_thread(self._warm_start, picture, name)
            log.info("tracker %s: region %s warm (%d observations)", self.worker_id, name, warmed)
            return picture

        state.picture = await fresh_picture()

        async def handle(batch: list[dict[str, Any]]) -> None:
            items: list[Observation] = []
            for message in batch:
                try:
                    items.append(observation_from_dict(message))
                except InvalidInput as exc:
                    log.warning("region %s dropped a message: %s", name, exc)
            if not items:
                return
            if state.picture is None:
                state.picture = await fresh_picture()
            picture = state.picture
            batch_items = _unique(items)
            try:
                receipt = await asyncio.to_thread(picture.ingest, batch_items, actor=f"tracker:{name}")
            except Exception:
                # The tracker fused the batch before the commit failed: its memory is ahead of the
                # database. It is rebuilt from what was committed before the redelivered batch is fused.
                self._forget(picture)
                state.picture = None
                raise
            if receipt.rejected:
                log.warning(
                    "region %s: the tracker refused %d observations (first: %s)",
                    name,
                    len(receipt.rejected),
                    receipt.rejected[0].get("reason"),
                )
            self.counters.batches += 1
            self.counters.accepted += receipt.accepted
            self.counters.duplicates += receipt.duplicates
            self.counters.alerts += receipt.alerts or 0
            state.ingested += receipt.accepted
            if self._on_committed is not None:
                refused = {str(r.get("id")) for r in receipt.rejected}
                announcement = {
                    "region": name,
                    "ids": [o.id for o in batch_items if o.id not in refused],
                    "rejected": [{"id": r.get("id"), "reason": r.get("reason")} for r in receipt.rejected],
                }
                try:
                    await self._on_committed(name, announcement)
                except Exception:
                    # A convenience: waiting doors and followers also read the journal.
                    log.exception("region %s: announcing a commit failed", name)

        async def tick() -> None:
            # The time-driven rules (a vessel gone dark is the absence of reports) need the region's
            # rule memory, so they run where the region is owned.
            while not state.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.stop.wait(), timeout=self._tick_s)
                picture = state.picture
                if picture is None or state.stop.is_set():
                    continue
                try:
                    await asyncio.to_thread(picture.tick)
                except Exception:
                    log.exception("region %s: time-driven rules failed", name)

        ticker = asyncio.create_task(tick())
        try:
            await self._bus.consume(
                Partitioning.subject(name),
                durable=f"tracker-{name}",
                stream=OBS_STREAM,
                handler=handle,
                stop=state.stop,
                batch=self._batch,
                still_owner=lambda: self._regions.get(name) is state and self._lease_valid(state),
            )
        finally:
            state.stop.set()
            await ticker

    def _picture_for(self, name: str) -> PictureService:
        c = self._concord
        s = c.settings
        region = Region(
            name=name, origin_lat=s.region_lat, origin_lon=s.region_lon, radius_m=s.region_radius_m
        )
        picture = PictureService(
            engine=c.engine,
            uow=c.uow,
            clock=c.clock,
            tracker=GeoTracker(region),
            rules=RulesEngine(c.zones.zones()),
            region_name=name,
        )
        c.zones.on_change.append(picture.replace_zones)
        picture.subscribe(c.coordination.on_picture_change)
        return picture

    def _forget(self, picture: PictureService) -> None:
        with contextlib.suppress(ValueError):
            self._concord.zones.on_change.remove(picture.replace_zones)

    def _warm_start(self, picture: PictureService, name: str) -> int:
        """Rebuild the tracker from this region's stored observations, batch by batch as first fused.

        Observations committed together share their receipt time; replaying those batches in commit
        order feeds the tracker what the previous owner fed it, so its tracks come back under the same
        ids (when the replayed span covers the tracks' history, i.e. the tracker's memory).
        """
        lo, hi = self._partitioning.bounds(name)
        since = self._concord.clock.now() - timedelta(seconds=picture.tracker.config.max_silent_s)
        t = observations_table
        with self._concord.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t)
                .where(
                    t.c.received_at >= since,
                    sa.or_(
                        t.c.region == name,
                        # Stored before regions were recorded: by the region's band.
                        sa.and_(t.c.region.is_(None), t.c.lon >= lo, t.c.lon < hi),
                    ),
                )
                .order_by(t.c.received_at, t.c.observed_at)
            ).all()
        batches: dict[datetime, list[Observation]] = {}
        for r in rows:
            batches.setdefault(_utc(r.received_at), []).append(_stored_observation(r))
        for received_at, items in batches.items():
            result = picture.tracker.process(items, now=received_at)
            picture.rules.evaluate_many(result.tracks)
        return len(rows)


def _unique(items: list[Observation]) -> list[Observation]:
    """A redelivered batch may hold one id twice; PictureService refuses that, so keep the first."""
    seen: set[str] = set()
    out: list[Observation] = []
    for o in items:
        if o.id not in seen:
            seen.add(o.id)
            out.append(o)
    return out


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stored_observation(row: Any) -> Observation:
    data = dict(row.data or {})
    return observation_from_dict(
        {
            **data,
            "id": row.id,
            "source": row.source,
            "agency": row.agency,
            "sensor": row.sensor,
            "observed_at": _utc(row.observed_at).isoformat(),
            "lat": row.lat,
            "lon": row.lon,
            "marking": row.marking,
            "identity": row.identity,
            "exercise": row.exercise,
        }
    )


# -- a process's roles -------------------------------------------------------------------------------
def roles_of(role: str) -> frozenset[str]:
    """The worker roles a ``--role`` runs (``all`` is every one; ``rules`` runs in the tracker)."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}", details={"field": "role"})
    if role == "all":
        return frozenset({"api", "ingest", "tracker", "egress"})
    if role == "rules":
        return frozenset({"tracker"})
    return frozenset({role})


@dataclass(slots=True)
class RunningWorkers:
    """What a process of a scaled-out deployment runs, for status reports and tests."""

    tracker: TrackerWorker | None = None
    ingest: IngestWorker | None = None
    intake: BusIntake | None = None
    follower: JournalFollower | None = None


def prepare_node(concord: Any, role: str) -> RunningWorkers:
    """Point an API or egress node's doors at the bus and its live egress at the journal follower.

    Call before the doors start serving; :func:`run_workers` then connects and runs what is prepared.
    """
    bus = concord.bus
    if not isinstance(bus, NatsBus):
        raise InvalidInput("worker roles need the NATS bus (CONCORD_BUS=nats)", details={"field": "bus"})
    settings = concord.settings
    running = RunningWorkers()
    if roles_of(role) & {"api", "egress"}:
        partitioning = Partitioning.parse(settings.partitions, default_name=settings.region_name)
        running.intake = BusIntake(
            bus, partitioning, engine=concord.engine, timeout_s=settings.ingest_commit_timeout_s
        )
        running.follower = JournalFollower(concord.engine)
        concord.intake = running.intake
        concord.live = running.follower
        # What this node commits itself (acknowledgements, messages) is read back at once.
        concord.picture.subscribe(running.follower.poke)
    return running


async def run_workers(
    concord: Any,
    role: str,
    *,
    stop: asyncio.Event,
    worker_id: str | None = None,
    started: Callable[[RunningWorkers], None] | None = None,
    running: RunningWorkers | None = None,
) -> RunningWorkers:
    """Run the bus-side workers of ``role`` on ``concord.bus`` (a :class:`NatsBus`) until ``stop``."""
    running = running if running is not None else prepare_node(concord, role)
    bus: NatsBus = concord.bus
    settings = concord.settings
    roles = roles_of(role)
    partitioning = Partitioning.parse(settings.partitions, default_name=settings.region_name)
    tasks: list[asyncio.Task[Any]] = []
    if running.follower is not None:
        # Followed from the start: a change committed while the bus connects is not missed.
        tasks.append(asyncio.create_task(running.follower.run(stop)))
    if not bus.connected:
        await bus.connect()
    await bus.ensure_streams()
    if running.intake is not None:
        running.intake.attach(asyncio.get_running_loop())
        follower = running.follower
        intake = running.intake

        async def committed(message: dict[str, Any]) -> None:
            await intake.on_committed(message)
            if follower is not None:
                follower.poke()

        bus.subscribe(f"{COMMITTED_SUBJECT}.>", committed)
    if "ingest" in roles:
        running.ingest = IngestWorker(
            bus,
            partitioning,
            marking_for=concord.accounts.default_marking,
            agencies=lambda: [a.code for a in concord.accounts.list_agencies()],
            clock=concord.clock.now,
        )
        tasks.append(asyncio.create_task(running.ingest.run(stop)))
    if "tracker" in roles:

        async def announce(region: str, message: dict[str, Any]) -> None:
            await bus.publish(f"{COMMITTED_SUBJECT}.{region}", message)

        running.tracker = TrackerWorker(
            concord=concord,
            bus=bus,
            partitioning=partitioning,
            worker_id=worker_id or settings.worker_id or None,
            lease_ttl_s=settings.lease_ttl_s,
            on_committed=announce,
        )
        tasks.append(asyncio.create_task(running.tracker.run(stop)))
    if started is not None:
        started(running)
    try:
        await stop.wait()
    finally:
        stop.set()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    return running
