"""Rendezvous: two tracks at sea, both slow and within ``max_distance_m`` of each other for a time.

Slow, eligible tracks are kept in a uniform grid of cells ``max_distance_m`` wide, so each update looks
at the nine cells around it instead of every track. A pair's clock starts when both are first seen
close and slow; it resets as soon as either is fast, far, or stale (no report for
``max_report_age_s``). "At sea": both targets are of a kind in ``target_kinds`` and neither is inside a
zone of ``excluded_zone_kinds`` (ports). Exercise tracks only meet exercise tracks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from concord.domain.alert import AlertKind
from concord.domain.track import Track, TrackStatus
from concord.rules._common import combined_marking, impact_of, iso, label
from concord.rules.base import Detection, DetectionAction, RuleContext, TrackState, TrackUpdate, status_factor

__all__ = ["RendezvousRule"]


class RendezvousRule:
    name = "rendezvous"

    def __init__(self) -> None:
        self._grid: dict[tuple[int, int], set[str]] = {}
        self._since: dict[tuple[str, str], datetime] = {}
        self._alerted: set[tuple[str, str]] = set()

    def _eligible(self, update: TrackUpdate, context: RuleContext) -> bool:
        cfg = context.config.rendezvous
        track = update.track
        return (
            track.status is not TrackStatus.DELETED
            and track.target in cfg.target_kinds
            and update.speed_mps <= cfg.max_speed_mps
            and not (update.zones & context.index.of_kinds(cfg.excluded_zone_kinds))
        )

    def _move(self, state: TrackState, cell: tuple[int, int] | None) -> None:
        if state.grid_cell == cell:
            return
        if state.grid_cell is not None:
            members = self._grid.get(state.grid_cell)
            if members is not None:
                members.discard(state.track_id)
                if not members:
                    del self._grid[state.grid_cell]
        if cell is not None:
            self._grid.setdefault(cell, set()).add(state.track_id)
        state.grid_cell = cell

    def evaluate(self, update: TrackUpdate, state: TrackState, context: RuleContext) -> Sequence[Detection]:
        cfg = context.config.rendezvous
        if not cfg.enabled:
            return []
        track = update.track
        at = track.updated_at
        eligible = self._eligible(update, context)
        if not eligible and state.grid_cell is None and not state.partners:
            return []
        close: dict[str, float] = {}
        if eligible:
            size = cfg.max_distance_m
            cx, cy = math.floor(update.x / size), math.floor(update.y / size)
            self._move(state, (cx, cy))
            for gx in (cx - 1, cx, cx + 1):
                for gy in (cy - 1, cy, cy + 1):
                    for other_id in self._grid.get((gx, gy), ()):
                        if other_id == track.id:
                            continue
                        other = context.states.get(other_id)
                        if other is None or other.last is None or other.last.exercise != track.exercise:
                            continue
                        if abs((at - other.last.updated_at).total_seconds()) > cfg.max_report_age_s:
                            continue
                        distance_m = math.hypot(update.x - other.x, update.y - other.y)
                        if distance_m <= cfg.max_distance_m:
                            close[other_id] = distance_m
        else:
            self._move(state, None)
        found: list[Detection] = []
        for other_id in sorted(state.partners - close.keys()):
            pair = _pair(track.id, other_id)
            self._since.pop(pair, None)
            state.partners.discard(other_id)
            other = context.states.get(other_id)
            if other is not None:
                other.partners.discard(track.id)
                if pair in self._alerted and other.last is not None:
                    found.append(self._detection("end", track, other.last, update, context, None, 0.0))
            self._alerted.discard(pair)
        for other_id, distance_m in sorted(close.items()):
            pair = _pair(track.id, other_id)
            start = self._since.setdefault(pair, at)
            state.partners.add(other_id)
            other = context.states[other_id]
            other.partners.add(track.id)
            duration_s = (at - start).total_seconds()
            if duration_s >= cfg.min_duration_s and other.last is not None:
                action: DetectionAction = "update" if pair in self._alerted else "raise"
                self._alerted.add(pair)
                found.append(self._detection(action, track, other.last, update, context, start, distance_m))
        return found

    def forget(self, state: TrackState, context: RuleContext) -> None:
        """Drop a track the engine forgets (its grid cell and its pairs)."""
        self._move(state, None)
        for other_id in state.partners:
            self._since.pop(_pair(state.track_id, other_id), None)
            self._alerted.discard(_pair(state.track_id, other_id))
            other = context.states.get(other_id)
            if other is not None:
                other.partners.discard(state.track_id)
        state.partners.clear()

    @staticmethod
    def _detection(
        action: DetectionAction,
        track: Track,
        other: Track,
        update: TrackUpdate,
        context: RuleContext,
        start: datetime | None,
        distance_m: float,
    ) -> Detection:
        cfg = context.config.rendezvous
        index = context.index
        pair = _pair(track.id, other.id)
        duration_s = 0.0 if start is None else (update.at - start).total_seconds()
        lat = (track.lat + other.lat) / 2.0
        lon = (track.lon + other.lon) / 2.0
        confidence = min(1.0, 0.5 + 0.5 * min(1.0, duration_s / (2.0 * cfg.min_duration_s))) * min(
            status_factor(track), status_factor(other)
        )
        first, second = (track, other) if track.id == pair[0] else (other, track)
        evidence: dict[str, object] = {}
        if start is not None:
            evidence = {
                "distance_m": round(distance_m, 1),
                "duration_s": round(duration_s, 1),
                "since": iso(start),
                "speeds_mps": [round(first.speed_mps, 2), round(second.speed_mps, 2)],
            }
        zones = tuple(sorted(update.zones))
        verb = "stopped meeting" if action == "end" else "meeting"
        return Detection(
            kind=AlertKind.RENDEZVOUS,
            key=_key(pair),
            action=action,
            at=update.at,
            track_ids=pair,
            zone_ids=tuple(index.zones[z].id for z in zones) if action == "raise" else (),
            lat=lat,
            lon=lon,
            confidence=confidence,
            impact=impact_of(AlertKind.RENDEZVOUS, index, zones),
            marking=combined_marking((first, second), index),
            exercise=track.exercise or other.exercise,
            summary=f"{label(first)} and {label(second)} {verb} at sea",
            rearm_s=cfg.rearm_s,
            evidence=evidence,
        )


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _key(pair: tuple[str, str]) -> str:
    return f"rendezvous|{pair[0]}|{pair[1]}"
