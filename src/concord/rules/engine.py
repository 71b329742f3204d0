"""The rules engine: evaluates every rule on every track update and returns alert events.

Call :meth:`RulesEngine.evaluate_many` with the track snapshots of a tracker scan (or
:meth:`RulesEngine.evaluate` with one), and :meth:`RulesEngine.tick` periodically with the clock time
(every few seconds; darkness and stale episodes are found there). Both return ``AlertRaised`` and
``AlertUpdated`` events for the caller to journal and route. The engine is pure computation: it reads
no clock, does no I/O and is not thread-safe (one engine per region or partition).

Spatial facts of a batch are computed vectorised (see :mod:`concord.rules._index`); the rules then run
once per update in order, so two updates of the same track in one batch are seen as two steps.
Updates older than the last one seen for their track are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

from concord.domain.alert import Alert, AlertKind, AlertRaised, AlertUpdated
from concord.domain.track import Track, TrackStatus
from concord.domain.types import ensure_utc
from concord.domain.zone import Zone
from concord.rules._book import AlertBook
from concord.rules._index import Crossing, ZoneIndex
from concord.rules._projection import LocalProjection
from concord.rules.anomaly import CourseAnomalyRule, SpeedAnomalyRule
from concord.rules.base import Detection, Rule, RuleContext, TickingRule, TrackState, TrackUpdate
from concord.rules.config import RulesConfig
from concord.rules.crossing import BorderCrossingRule
from concord.rules.dark import AisDarkRule
from concord.rules.loitering import LoiteringRule
from concord.rules.rendezvous import RendezvousRule
from concord.rules.transit import ZoneTransitRule
from concord.rules.unidentified import UnidentifiedNearBorderRule

__all__ = ["EngineEvent", "RulesEngine", "default_rules"]

EngineEvent = AlertRaised | AlertUpdated

_NOT_REPORTS = frozenset({TrackStatus.COASTING, TrackStatus.DELETED})


def default_rules() -> list[Rule]:
    """One instance of every built-in rule, in evaluation order."""
    return [
        BorderCrossingRule(),
        ZoneTransitRule(),
        LoiteringRule(),
        AisDarkRule(),
        RendezvousRule(),
        SpeedAnomalyRule(),
        CourseAnomalyRule(),
        UnidentifiedNearBorderRule(),
    ]


class RulesEngine:
    """Zones, rules, per-track state and the alert book of one region.

    ``rules`` defaults to :func:`default_rules`; rule instances carry state, so never share them
    between engines. ``projection`` defaults to one centred on the zones (see ``_projection``).
    """

    def __init__(
        self,
        zones: Sequence[Zone],
        config: RulesConfig | None = None,
        *,
        rules: Sequence[Rule] | None = None,
        projection: LocalProjection | None = None,
    ) -> None:
        self.config = config or RulesConfig()
        self.index = ZoneIndex(zones, projection)
        self.rules: list[Rule] = list(default_rules() if rules is None else rules)
        self._ticking: list[TickingRule] = [r for r in self.rules if isinstance(r, TickingRule)]
        self._states: dict[str, TrackState] = {}
        self._book = AlertBook(update_interval_s=self.config.update_interval_s)
        self.context = RuleContext(index=self.index, config=self.config, states=self._states)

    @property
    def zones(self) -> tuple[Zone, ...]:
        return self.index.zones

    def track_state(self, track_id: str) -> TrackState | None:
        return self._states.get(track_id)

    def alerts(self) -> list[Alert]:
        """The alerts of the episodes the engine still tracks (open, or within their re-arm window)."""
        return self._book.alerts()

    def evaluate(self, track: Track) -> list[EngineEvent]:
        """Evaluate one track snapshot."""
        return self.evaluate_many((track,))

    def evaluate_many(self, tracks: Sequence[Track]) -> list[EngineEvent]:
        """Evaluate a batch of track snapshots, in order."""
        n = len(tracks)
        if n == 0:
            return []
        projection = self.index.projection
        lons = np.fromiter((t.lon for t in tracks), dtype=np.float64, count=n)
        lats = np.fromiter((t.lat for t in tracks), dtype=np.float64, count=n)
        xs, ys = projection.forward_many(lons, lats)
        x_list: list[float] = xs.tolist()
        y_list: list[float] = ys.tolist()
        states = self._states

        # Which updates count, and the step each one makes from its track's previous position.
        keep: list[bool] = [False] * n
        step_rows: list[int] = []
        step_x0: list[float] = []
        step_y0: list[float] = []
        latest: dict[str, tuple[datetime, float, float, bool]] = {}
        unidentified: list[int] = []
        for i, track in enumerate(tracks):
            previous = latest.get(track.id)
            if previous is None:
                state = states.get(track.id)
                if state is not None and state.last is not None:
                    previous = (state.last.updated_at, state.x, state.y, state.deleted)
            if previous is not None and track.updated_at < previous[0]:
                continue
            keep[i] = True
            deleted = track.status is TrackStatus.DELETED
            if previous is not None and not deleted and not previous[3]:
                step_rows.append(i)
                step_x0.append(previous[1])
                step_y0.append(previous[2])
            if track.identity is None and not deleted:
                unidentified.append(i)
            latest[track.id] = (track.updated_at, x_list[i], y_list[i], deleted)

        located = self.index.locate(xs, ys)
        crossings: dict[int, list[Crossing]] = {}
        if step_rows and self.config.border_crossing.enabled and self.index.has_borders:
            rows = np.asarray(step_rows, dtype=np.intp)
            per_step = self.index.crossings(
                np.asarray(step_x0, dtype=np.float64),
                np.asarray(step_y0, dtype=np.float64),
                xs[rows],
                ys[rows],
            )
            crossings = {step_rows[k]: found for k, found in per_step.items()}
        near: dict[int, list[tuple[int, float]]] = {}
        if unidentified and self.config.unidentified_near_border.enabled and self.index.has_borders:
            rows = np.asarray(unidentified, dtype=np.intp)
            per_point = self.index.near_borders(
                xs[rows], ys[rows], self.config.unidentified_near_border.near_m
            )
            near = {unidentified[k]: found for k, found in per_point.items()}

        events: list[EngineEvent] = []
        hypot = math.hypot
        for i, track in enumerate(tracks):
            if not keep[i]:
                continue
            crossed = crossings.get(i)
            nearby = near.get(i)
            update = TrackUpdate(
                track=track,
                x=x_list[i],
                y=y_list[i],
                speed_mps=hypot(track.vel_east_mps, track.vel_north_mps),
                zones=located[i],
                crossings=() if crossed is None else tuple(crossed),
                near_borders=() if nearby is None else tuple(nearby),
                is_report=track.status not in _NOT_REPORTS,
            )
            events.extend(self._apply(update))
        return events

    def _apply(self, update: TrackUpdate) -> list[EngineEvent]:
        track = update.track
        state = self._states.get(track.id)
        if state is None:
            state = TrackState(track_id=track.id)
            self._states[track.id] = state
        detections: list[Detection] = []
        for rule in self.rules:
            detections.extend(rule.evaluate(update, state, self.context))
        # The engine's own fields change only after every rule saw the state as it was.
        at = track.updated_at
        if track.status is TrackStatus.DELETED:
            state.deleted = True
            state.last = track
        else:
            state.deleted = False
            state.last = track
            state.x, state.y = update.x, update.y
            if update.zones is not state.zones and update.zones != state.zones:
                since = state.zone_since
                state.zone_since = {z: since.get(z, at) for z in update.zones}
                state.zones = update.zones
            if update.is_report:
                state.last_report = track
                state.report_x, state.report_y = update.x, update.y
        events: list[EngineEvent] = []
        for detection in detections:
            events.extend(self._book.apply(detection))
        return events

    def tick(self, now: datetime) -> list[EngineEvent]:
        """Run the time-driven rules, flush throttled updates, end stale episodes, forget old tracks."""
        now = ensure_utc(now)
        events: list[EngineEvent] = []
        for ticking in self._ticking:
            for detection in ticking.tick(now, self.context):
                events.extend(self._book.apply(detection))
        events.extend(self._book.flush(now))
        ttl_s = self.config.state_ttl_s
        cutoff = now - timedelta(seconds=ttl_s)
        for track_id, state in list(self._states.items()):
            if state.last is not None and state.last.updated_at < cutoff:
                for each in self.rules:
                    forget = getattr(each, "forget", None)
                    if forget is not None:
                        forget(state, self.context)
                del self._states[track_id]
        stale_s = self.config.episode_stale_s
        events.extend(
            self._book.prune(
                now,
                {
                    AlertKind.AIS_DARK: ttl_s,
                    AlertKind.LOITERING: stale_s,
                    AlertKind.RENDEZVOUS: stale_s,
                    AlertKind.UNIDENTIFIED_NEAR_BORDER: stale_s,
                },
            )
        )
        return events
