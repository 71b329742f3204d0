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
redelivered observation is dropped by id, so no observation is lost or stored twice. Committed records
are then fanned out on ``picture.<region>`` for API and egress nodes (:class:`PictureFeed`).

Rules are evaluated in the tracker's transaction (their memory is per track), so the ``rules`` role runs
the tracker worker; ``api`` and ``egress`` nodes are stateless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import sqlalchemy as sa

from concord.adapters.db import observations as observations_table
from concord.adapters.nats_bus import INGEST_STREAM, OBS_STREAM, Lease, LeaseBucket, NatsBus
from concord.domain.errors import Conflict, InvalidInput, Unavailable
from concord.domain.marking import Marking
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.domain.record import RecordRow
from concord.domain.types import ensure_utc
from concord.rules import RulesEngine
from concord.services.picture import PictureChange, PictureService
from concord.tracking import GeoTracker, Region

__all__ = [
    "ROLES",
    "IngestWorker",
    "ObservationPublisher",
    "Partition",
    "Partitioning",
    "PictureFeed",
    "LEASE_BUCKET",
    "PublishReport",
    "Role",
    "TrackerWorker",
    "observation_from_dict",
    "observation_to_dict",
    "record_row_from_dict",
    "RunningWorkers",
    "publish_committed",
    "record_row_to_dict",
    "roles_of",
    "run_workers",
]

log = logging.getLogger(__name__)

Role = Literal["api", "ingest", "tracker", "rules", "egress", "all"]
ROLES: tuple[str, ...] = get_args(Role)
LEASE_BUCKET = "concord_leases"
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


def record_row_to_dict(row: RecordRow) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "id": row.id,
        "version": row.version,
        "seq": row.seq,
        "marking": row.marking.to_dict(),
        "exercise": row.exercise,
        "status": row.status,
        "lat": row.lat,
        "lon": row.lon,
        "updated_at": row.updated_at.isoformat(),
        "data": row.data,
    }


def record_row_from_dict(data: dict[str, Any]) -> RecordRow:
    try:
        return RecordRow(
            kind=str(data["kind"]),
            id=str(data["id"]),
            version=int(data["version"]),
            seq=int(data["seq"]),
            marking=Marking.from_dict(data["marking"]),
            exercise=bool(data["exercise"]),
            status=_opt_str(data.get("status")),
            lat=_opt_float(data.get("lat")),
            lon=_opt_float(data.get("lon")),
            updated_at=ensure_utc(datetime.fromisoformat(str(data["updated_at"]))),
            data=dict(data["data"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"malformed record message: {exc}", details={"field": "record"}) from exc


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


class ObservationPublisher:
    """Puts observations on ``obs.<region>``, one message each, named by the observation id."""

    def __init__(self, bus: NatsBus, partitioning: Partitioning) -> None:
        self._bus = bus
        self._partitioning = partitioning

    async def publish(self, items: Sequence[Observation]) -> PublishReport:
        """Return once JetStream acknowledged every observation; raises Unavailable otherwise."""
        gate = asyncio.Semaphore(_PUBLISH_CONCURRENCY)

        async def one(o: Observation) -> bool:
            async with gate:
                subject = self._partitioning.subject(self._partitioning.region_of(o.lon))
                ack = await self._bus.publish_durable(subject, observation_to_dict(o), msg_id=o.id)
                return ack.duplicate

        results = await asyncio.gather(*(one(o) for o in items))
        return PublishReport(acked=len(items), duplicates=sum(results), acked_ids=tuple(o.id for o in items))


# -- ingest ------------------------------------------------------------------------------------------
class IngestWorker:
    """Takes unpartitioned batches from ``ingest.>`` and routes each observation to its region.

    A batch message is ``{"id": ..., "observations": [observation dicts]}``; malformed observations are
    logged and dropped, the rest are acknowledged to the door only once their region stream has them.
    Stateless: any number of ingest workers share the one durable consumer.
    """

    def __init__(self, bus: NatsBus, partitioning: Partitioning) -> None:
        self._bus = bus
        self._publisher = ObservationPublisher(bus, partitioning)
        self.routed = 0
        self.dropped = 0

    async def handle(self, batch: list[dict[str, Any]]) -> None:
        items: list[Observation] = []
        for message in batch:
            for raw in message.get("observations") or []:
                try:
                    items.append(observation_from_dict(raw))
                except InvalidInput as exc:
                    self.dropped += 1
                    log.warning("ingest dropped an observation: %s", exc)
        if items:
            await self._publisher.publish(items)
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
        on_committed: Callable[[str, Sequence[RecordRow]], Awaitable[None]] | None = None,
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
        me: Lease | None = None
        try:
            while not stop.is_set():
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
        committed: list[RecordRow] = []
        lock = threading.Lock()

        def collect(change: PictureChange) -> None:
            with lock:
                committed.extend(change.rows)

        async def fresh_picture() -> PictureService:
            picture = self._picture_for(name)
            warmed = await asyncio.to_thread(self._warm_start, picture, name)
            picture.subscribe(collect)
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
            try:
                receipt = await asyncio.to_thread(picture.ingest, _unique(items), actor=f"tracker:{name}")
            except Exception:
                # The tracker fused the batch before the commit failed: its memory is ahead of the
                # database. It is rebuilt from what was committed before the redelivered batch is fused.
                self._forget(picture)
                state.picture = None
                with lock:
                    committed.clear()
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
            self.counters.alerts += receipt.alerts
            state.ingested += receipt.accepted
            with lock:
                rows = list(committed)
                committed.clear()
            if rows and self._on_committed is not None:
                try:
                    await self._on_committed(name, rows)
                except Exception:
                    # Fan-out is a convenience: the journal holds the records and clients resume from it.
                    log.exception("region %s: fan-out of %d records failed", name, len(rows))

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
                .where(t.c.received_at >= since, t.c.lon >= lo, t.c.lon < hi)
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


# -- fan-out -----------------------------------------------------------------------------------------
class PictureFeed:
    """Records other processes committed, from ``picture.>``, handed to local listeners (API, egress).

    Messages are ``{"region": ..., "rows": [record dicts]}``; a row already seen (same kind, id and
    version) is not handed out twice. Missed messages are not replayed here: a client resumes from the
    journal with ``RecordQueries.changes(after_seq=...)``.
    """

    def __init__(self, bus: NatsBus) -> None:
        self._bus = bus
        self._listeners: list[Callable[[PictureChange], None]] = []
        self._seen: dict[tuple[str, str], int] = {}
        self.delivered = 0

    def subscribe(self, listener: Callable[[PictureChange], None]) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        self._bus.subscribe("picture.>", self.handle)

    async def handle(self, message: dict[str, Any]) -> None:
        rows: list[RecordRow] = []
        for raw in message.get("rows") or []:
            try:
                row = record_row_from_dict(raw)
            except InvalidInput as exc:
                log.warning("picture feed dropped a record: %s", exc)
                continue
            key = (row.kind, row.id)
            if self._seen.get(key, -1) >= row.version:
                continue
            self._seen[key] = row.version
            rows.append(row)
        if not rows:
            return
        change = PictureChange(rows=tuple(sorted(rows, key=lambda r: r.seq)))
        self.delivered += len(rows)
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                log.exception("picture feed listener failed")


async def publish_committed(bus: NatsBus, region: str, rows: Sequence[RecordRow]) -> None:
    """Fan committed records out on ``picture.<region>`` (after the commit; the journal stays the truth)."""
    await bus.publish_durable(
        f"picture.{region}", {"region": region, "rows": [record_row_to_dict(r) for r in rows]}
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
    """What :func:`run_workers` started, for status reports and tests."""

    tracker: TrackerWorker | None = None
    ingest: IngestWorker | None = None
    feed: PictureFeed | None = None


async def run_workers(
    concord: Any,
    role: str,
    *,
    stop: asyncio.Event,
    worker_id: str | None = None,
    started: Callable[[RunningWorkers], None] | None = None,
) -> RunningWorkers:
    """Run the bus-side workers of ``role`` on ``concord.bus`` (a :class:`NatsBus`) until ``stop``."""
    bus = concord.bus
    if not isinstance(bus, NatsBus):
        raise InvalidInput("worker roles need the NATS bus (CONCORD_BUS=nats)", details={"field": "bus"})
    settings = concord.settings
    roles = roles_of(role)
    partitioning = Partitioning.parse(settings.partitions, default_name=settings.region_name)
    if not bus.connected:
        await bus.connect()
    await bus.ensure_streams()
    running = RunningWorkers()
    tasks: list[asyncio.Task[Any]] = []
    if roles & {"api", "egress"}:
        running.feed = PictureFeed(bus)
        running.feed.start()
    if "ingest" in roles:
        running.ingest = IngestWorker(bus, partitioning)
        tasks.append(asyncio.create_task(running.ingest.run(stop)))
    if "tracker" in roles:

        async def fan_out(region: str, rows: Sequence[RecordRow]) -> None:
            await publish_committed(bus, region, rows)

        running.tracker = TrackerWorker(
            concord=concord,
            bus=bus,
            partitioning=partitioning,
            worker_id=worker_id or settings.worker_id or None,
            lease_ttl_s=settings.lease_ttl_s,
            on_committed=fan_out,
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
