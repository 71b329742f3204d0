"""AIS going dark: a vessel with an AIS identity stops reporting while in or near a watched zone.

Darkness is the absence of updates, so it is found by :meth:`AisDarkRule.tick`, called periodically
with the clock time: a track whose identity starts with one of ``identity_prefixes`` and whose last
*report* (not a coasting prediction) is older than ``gap_s`` raises an alert if that last report lay
within ``near_m`` of a watched zone. When the identity reports again, on the same track or a new one,
the episode ends with the gap and the distance between where it went dark and where it reappeared.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from concord.domain.alert import AlertKind
from concord.rules._common import combined_marking, impact_of, iso, label
from concord.rules.base import Detection, DetectionAction, RuleContext, TrackState, TrackUpdate

__all__ = ["AisDarkRule"]


class AisDarkRule:
    name = "ais-dark"

    def __init__(self) -> None:
        # identity -> track id whose dark episode is open (the vessel may come back on a new track)
        self._dark_by_identity: dict[str, str] = {}

    def evaluate(self, update: TrackUpdate, state: TrackState, context: RuleContext) -> Sequence[Detection]:
        cfg = context.config.ais_dark
        track = update.track
        if not cfg.enabled or not update.is_report or track.identity is None:
            return []
        if not track.identity.startswith(cfg.identity_prefixes):
            return []
        state.dark_checked = False
        dark_track_id = self._dark_by_identity.pop(track.identity, None)
        if dark_track_id is None:
            return []
        dark_state = context.states.get(dark_track_id, state if dark_track_id == track.id else None)
        if dark_state is None or dark_state.last_report is None:
            return []
        dark_state.dark_open = False
        last = dark_state.last_report
        gap_s = (track.updated_at - last.updated_at).total_seconds()
        moved_m = math.hypot(update.x - dark_state.report_x, update.y - dark_state.report_y)
        return [
            self._detection(
                "end",
                dark_track_id,
                dark_state,
                context,
                at=track.updated_at,
                lat=track.lat,
                lon=track.lon,
                zones=(),
                extra={
                    "reappeared_at": iso(track.updated_at),
                    "reappeared_track_id": track.id,
                    "reappeared": {"lat": track.lat, "lon": track.lon},
                    "gap_s": round(gap_s, 1),
                    "moved_m": round(moved_m, 1),
                },
                summary=f"{label(track)} reported again after {gap_s / 60.0:.0f} min dark",
            )
        ]

    def tick(self, now: datetime, context: RuleContext) -> Sequence[Detection]:
        cfg = context.config.ais_dark
        if not cfg.enabled:
            return []
        for identity, track_id in list(self._dark_by_identity.items()):
            if track_id not in context.states:  # forgotten by the engine: the episode was ended there
                del self._dark_by_identity[identity]
        found: list[Detection] = []
        cutoff = now - timedelta(seconds=cfg.gap_s)
        for state in context.states.values():
            last = state.last_report
            if state.dark_open or state.dark_checked or last is None or last.updated_at > cutoff:
                continue
            if last.identity is None or not last.identity.startswith(cfg.identity_prefixes):
                continue
            gap_s = (now - last.updated_at).total_seconds()
            # Checked once per silence: the answer cannot change until the track reports again.
            state.dark_checked = True
            near = context.index.near(state.report_x, state.report_y, cfg.near_m, cfg.kinds)
            if not near:
                continue
            state.dark_open = True
            self._dark_by_identity[last.identity] = state.track_id
            zones = tuple(z for z, _ in near)
            found.append(
                self._detection(
                    "raise",
                    state.track_id,
                    state,
                    context,
                    at=now,
                    lat=last.lat,
                    lon=last.lon,
                    zones=zones,
                    extra={
                        "last_report_at": iso(last.updated_at),
                        "last_report": {"lat": last.lat, "lon": last.lon},
                        "gap_s": round(gap_s, 1),
                        "near": [
                            {"zone_id": context.index.zones[z].id, "distance_m": round(d, 1)} for z, d in near
                        ],
                    },
                    summary=f"{label(last)} has not reported for {gap_s / 60.0:.0f} min",
                )
            )
        return found

    @staticmethod
    def _detection(
        action: DetectionAction,
        track_id: str,
        state: TrackState,
        context: RuleContext,
        *,
        at: datetime,
        lat: float,
        lon: float,
        zones: tuple[int, ...],
        extra: dict[str, object],
        summary: str,
    ) -> Detection:
        last = state.last_report
        assert last is not None  # both callers check
        index = context.index
        return Detection(
            kind=AlertKind.AIS_DARK,
            key=f"ais-dark|{last.identity}|{track_id}",
            action=action,
            at=at,
            track_ids=(track_id,),
            zone_ids=tuple(index.zones[z].id for z in zones),
            lat=lat,
            lon=lon,
            confidence=0.8 if action == "raise" else 0.0,
            impact=impact_of(AlertKind.AIS_DARK, index, zones),
            marking=combined_marking((last,), index, zones),
            exercise=last.exercise,
            summary=summary,
            rearm_s=context.config.ais_dark.rearm_s,
            evidence={"identity": last.identity, **extra},
        )
