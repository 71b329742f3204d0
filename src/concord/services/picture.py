"""The live operational picture: observations in, fused tracks and alerts out.

``PictureService.ingest`` takes a batch of observations from any door (the API, the CoT listener, an
AIS feed, the simulator), drops the ones already seen (redelivery changes nothing twice), fuses the rest
into tracks, evaluates the rules, and commits in one transaction: the raw observations, the new track
states and the alert events in the journal. Only then are the changes published to live subscribers, so
nothing is announced that was not stored.

The tracker and the rules keep their state in memory and are not thread-safe; one lock serialises
batches. On start, :meth:`PictureService.warm_start` feeds the tracker the recent observations so that a
restarted process continues its tracks instead of starting new ones.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from concord.adapters import records_store as store
from concord.adapters.db import observations as observations_table
from concord.adapters.db import records
from concord.adapters.journal import Projector, UnitOfWorkFactory
from concord.domain.alert import (
    Alert,
    AlertAcknowledged,
    AlertRaised,
    AlertUpdated,
    alert_event_from_dict,
    fold_alert_events,
)
from concord.domain.errors import Conflict, InvalidInput, NotFound
from concord.domain.events import JournalEvent, envelope
from concord.domain.marking import Marking
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.domain.ports import Clock
from concord.domain.record import RecordRow
from concord.domain.track import Track
from concord.domain.zone import Zone
from concord.rules import EngineEvent, RulesEngine
from concord.services.records import alert_row, track_row
from concord.tracking import GeoTracker, RejectedObservation

__all__ = [
    "ChangeSource",
    "IngestReceipt",
    "Intake",
    "PictureChange",
    "PictureService",
    "register_picture_projections",
]

log = logging.getLogger(__name__)

MAX_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class PictureChange:
    """Records that changed in one committed batch, in change order (what live streams fan out)."""

    rows: tuple[RecordRow, ...]


@dataclass(frozen=True, slots=True)
class IngestReceipt:
    """What became of a batch. ``tracks_updated`` and ``alerts`` are None when the batch was fused by
    tracker workers on the bus, which fuse many callers' batches together."""

    accepted: int
    duplicates: int
    rejected: list[dict[str, object]] = field(default_factory=list)
    tracks_updated: int | None = 0
    alerts: int | None = 0


class Intake(Protocol):
    """Where the doors hand observations: this process's picture, or the bus to the region owners.

    ``ingest`` returns once the batch is committed to the journal (or raises); it blocks, so doors
    call it from a worker thread.
    """

    def ingest(self, items: Sequence[Observation], *, actor: str) -> IngestReceipt: ...


class ChangeSource(Protocol):
    """Where live egress (stream, TAK) hears of committed records."""

    def subscribe(self, listener: Callable[[PictureChange], None]) -> None: ...


def _alert_projection(conn: Connection, event: JournalEvent) -> None:
    parsed = alert_event_from_dict(event.payload)
    alert_id = parsed.alert_id if isinstance(parsed, AlertAcknowledged) else parsed.alert.id
    state: dict[str, Alert] = {}
    current = store.get_record(conn, "alert", alert_id)
    if current is not None:
        state[alert_id] = Alert.from_dict({**current.data, "marking": current.marking.to_dict()})
    fold_alert_events([parsed], state)
    if alert_id in state:
        store.upsert_records(conn, [alert_row(state[alert_id], seq=store.next_seqs(conn, 1))])


def _reset_alerts(conn: Connection) -> None:
    conn.execute(records.delete().where(records.c.kind == "alert"))


def register_picture_projections(projector: Projector) -> None:
    for event_type in ("AlertRaised", "AlertUpdated", "AlertAcknowledged"):
        projector.register(event_type, _alert_projection)
    projector.add_reset(_reset_alerts)


class PictureService:
    """Takes in observations and keeps the tracks and alerts of one region."""

    def __init__(
        self,
        *,
        engine: Engine,
        uow: UnitOfWorkFactory,
        clock: Clock,
        tracker: GeoTracker,
        rules: RulesEngine,
        publish: Callable[[PictureChange], None] | None = None,
        slice_s: float = 2.0,
        region_name: str | None = None,
    ) -> None:
        self._engine = engine
        self._uow = uow
        self._clock = clock
        # The tracker fuses drill reports in a twin of its own: an exercise report never joins a live track.
        self.tracker = tracker
        self.rules = rules
        self._publish = publish
        self._lock = threading.Lock()
        # Observation time covered by one fusion-and-rules pass (see _fuse_in_slices).
        self.slice_s = slice_s
        # Stored with every observation this picture fuses (a region's owner replays its own).
        self.region_name = region_name
        self._listeners: list[Callable[[PictureChange], None]] = [publish] if publish else []

    def replace_zones(self, zones: Sequence[Zone]) -> None:
        """Use new zones from now on (the rules' per-track memory starts afresh)."""
        with self._lock:
            self.rules = RulesEngine(zones, self.rules.config)

    def subscribe(self, listener: Callable[[PictureChange], None]) -> None:
        self._listeners.append(listener)

    # -- the batch ---------------------------------------------------------------------------------
    def ingest(self, items: Sequence[Observation], *, actor: str) -> IngestReceipt:
        if len(items) > MAX_BATCH:
            raise InvalidInput(
                f"at most {MAX_BATCH} observations per batch", details={"field": "observations"}
            )
        with self._lock:
            now = self._clock.now()
            ids = [o.id for o in items]
            if len(set(ids)) != len(ids):
                raise InvalidInput("observation ids repeat within the batch", details={"field": "id"})
            with self._engine.connect() as conn:
                seen = store.existing_observation_ids(conn, ids)
            fresh = [o for o in items if o.id not in seen]
            tracks, refused, alert_events = self._fuse_in_slices(fresh, now)
            kept = [o for o in fresh if o.id not in {r.observation_id for r in refused}]
            changed: list[RecordRow] = []
            with self._uow() as uow:
                store.insert_observations(uow.conn, kept, now, region=self.region_name)
                # Journal first, change numbers second: every writer takes the journal lock before the
                # change counter (a coordination command does too), so two writers never deadlock.
                for ev in alert_events:
                    uow.append(self._alert_envelope(ev, actor=actor))
                if tracks:
                    first = store.next_seqs(uow.conn, len(tracks))
                    rows = [track_row(t, seq=first + i) for i, t in enumerate(tracks)]
                    store.upsert_records(uow.conn, rows)
                    changed.extend(rows)
                uow.commit()
                changed.extend(self._alert_rows(uow.events))
        self._announce(changed)
        rejected: list[dict[str, object]] = [
            {
                "index": ids.index(r.observation_id) if r.observation_id in ids else r.index,
                "id": r.observation_id,
                "reason": r.reason,
            }
            for r in refused
        ]
        return IngestReceipt(
            accepted=len(kept),
            duplicates=len(items) - len(fresh),
            rejected=rejected,
            tracks_updated=len(tracks),
            alerts=len(alert_events),
        )

    def _fuse(
        self, fresh: Sequence[Observation], now: datetime | None
    ) -> tuple[list[Track], list[RejectedObservation]]:
        """Fuse reports into tracks; the tracks touched and the reports refused."""
        if not fresh:
            return [], []
        result = self.tracker.process(fresh, now=now)
        return result.tracks, result.rejected

    def _fuse_in_slices(
        self, fresh: Sequence[Observation], now: datetime | None
    ) -> tuple[list[Track], list[RejectedObservation], list[EngineEvent]]:
        """Fuse a batch slice by slice of observation time, evaluating the rules after each slice.

        A batch may span minutes (a feed catching up, a bus worker draining its backlog). The rules
        judge a track by its successive states (a turn, a burst of speed, a line crossed), so they must
        see it as often as a live feed would show it, not only at the end of the batch. Every slice is
        fused and judged in turn; the batch is still stored in one transaction, with each track's last
        state.
        """
        if not fresh:
            return [], [], []
        times = [o.observed_at.timestamp() for o in fresh]
        first, last = min(times), max(times)
        if last - first <= self.slice_s:
            tracks, refused = self._fuse(fresh, now)
            return tracks, refused, (self.rules.evaluate_many(tracks) if tracks else [])
        order = sorted(range(len(fresh)), key=times.__getitem__)
        latest: dict[str, Track] = {}
        refused_all: list[RejectedObservation] = []
        events: list[EngineEvent] = []
        start = 0
        while start < len(order):
            end = start
            # Slices are aligned on multiples of slice_s, as a steady feed's batches would be.
            edge = (math.floor(times[order[start]] / self.slice_s) + 1) * self.slice_s
            while end < len(order) and times[order[end]] < edge:
                end += 1
            positions = order[start:end]
            tracks, refused = self._fuse([fresh[i] for i in positions], now)
            refused_all.extend(replace(r, index=positions[r.index]) for r in refused)
            if tracks:
                events.extend(self.rules.evaluate_many(tracks))
                for t in tracks:
                    latest.pop(t.id, None)
                    latest[t.id] = t
            start = end
        refused_all.sort(key=lambda r: r.index)
        return list(latest.values()), refused_all, events

    def tick(self) -> int:
        """Run the time-driven rules (a vessel gone dark is the absence of reports)."""
        with self._lock:
            events = self.rules.tick(self._clock.now())
            if not events:
                return 0
            with self._uow() as uow:
                for ev in events:
                    uow.append(self._alert_envelope(ev, actor="rules"))
                uow.commit()
                changed = self._alert_rows(uow.events)
        self._announce(changed)
        return len(events)

    def acknowledge(self, alert_id: str, *, user_id: str, agency: str, note: str | None = None) -> RecordRow:
        with self._engine.connect() as conn:
            current = store.get_record(conn, "alert", alert_id)
        if current is None:
            raise NotFound("no such alert")
        if current.data.get("acknowledged_by"):
            raise Conflict(
                "the alert is already acknowledged",
                details={"acknowledged_by": current.data["acknowledged_by"]},
            )
        event = AlertAcknowledged(alert_id=alert_id, user_id=user_id, at=self._clock.now(), note=note)
        with self._uow() as uow:
            uow.append(
                envelope(
                    "AlertAcknowledged",
                    event.to_dict(),
                    at=event.at,
                    actor=user_id,
                    agency=agency,
                    marking=current.marking,
                    exercise=current.exercise,
                )
            )
            uow.commit()
            rows = self._alert_rows(uow.events)
        self._announce(rows)
        return rows[-1]

    def warm_start(self, *, horizon_s: float | None = None) -> int:
        """Feed the tracker the observations of the last ``horizon_s`` seconds (default: its memory)."""
        horizon = horizon_s if horizon_s is not None else self.tracker.config.max_silent_s
        since = self._clock.now() - timedelta(seconds=horizon)
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(observations_table)
                .where(observations_table.c.observed_at >= since)
                .order_by(observations_table.c.observed_at)
            ).all()
        obs = [_observation_of(r) for r in rows]
        with self._lock:
            for start in range(0, len(obs), MAX_BATCH):
                self._fuse_in_slices(obs[start : start + MAX_BATCH], None)
        return len(obs)

    # -- helpers -----------------------------------------------------------------------------------
    def _alert_envelope(self, ev: AlertRaised | AlertUpdated, *, actor: str) -> JournalEvent:
        alert = ev.alert
        return envelope(
            type(ev).__name__,
            ev.to_dict(),
            at=alert.updated_at,
            actor=actor,
            agency=alert.marking.originator,
            marking=alert.marking,
            exercise=alert.exercise,
        )

    def _alert_rows(self, events: Sequence[JournalEvent]) -> list[RecordRow]:
        ids = [
            e.payload.get("alert", {}).get("id") or e.payload.get("alert_id")
            for e in events
            if e.type.startswith("Alert")
        ]
        if not ids:
            return []
        with self._engine.connect() as conn:
            rows = [store.get_record(conn, "alert", str(i)) for i in dict.fromkeys(ids)]
        return [r for r in rows if r is not None]

    def announce(self, rows: Sequence[RecordRow]) -> None:
        """Publish records another service committed (incidents, tasks, messages) to the listeners."""
        self._announce(rows)

    def _announce(self, rows: Sequence[RecordRow]) -> None:
        if not rows:
            return
        change = PictureChange(rows=tuple(sorted(rows, key=lambda r: r.seq)))
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                log.exception("picture listener failed")


def _observation_of(row: sa.Row) -> Observation:  # type: ignore[type-arg]
    data = dict(row.data)
    return Observation(
        id=row.id,
        source=row.source,
        agency=row.agency,
        sensor=SensorKind(row.sensor),
        observed_at=row.observed_at,
        lat=row.lat,
        lon=row.lon,
        marking=Marking.from_dict(row.marking),
        position_sigma_m=float(data.get("position_sigma_m") or 50.0),
        hae_m=data.get("hae_m"),
        course_deg=data.get("course_deg"),
        speed_mps=data.get("speed_mps"),
        identity=row.identity,
        callsign=data.get("callsign"),
        target=TargetKind(data.get("target") or "unknown"),
        exercise=bool(row.exercise),
        attributes=dict(data.get("attributes") or {}),
    )
