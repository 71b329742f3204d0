"""Loitering: a track slower than ``max_speed_mps`` for ``min_duration_s`` inside a watched zone.

The slow spell counts from the later of "became slow" and "entered the zone". Speed must climb above
``resume_speed_mps`` (hysteresis) to end the spell, so a vessel drifting around the threshold is one
episode. Leaving the zone ends that zone's episode.
"""

from __future__ import annotations

from collections.abc import Sequence

from concord.domain.alert import AlertKind
from concord.domain.track import TrackStatus
from concord.rules._common import combined_marking, impact_of, iso, label
from concord.rules.base import Detection, DetectionAction, RuleContext, TrackState, TrackUpdate, status_factor

__all__ = ["LoiteringRule"]


class LoiteringRule:
    name = "loitering"

    def evaluate(self, update: TrackUpdate, state: TrackState, context: RuleContext) -> Sequence[Detection]:
        cfg = context.config.loitering
        if not cfg.enabled:
            return []
        track = update.track
        at = track.updated_at
        speed = update.speed_mps
        if track.status is TrackStatus.DELETED:
            speed = float("inf")  # a deleted track loiters no more
        if speed <= cfg.max_speed_mps:
            if state.slow_since is None:
                state.slow_since = at
        elif speed >= cfg.resume_speed_mps:
            state.slow_since = None
        if not state.loitering_zones and (
            state.slow_since is None or (at - state.slow_since).total_seconds() < cfg.min_duration_s
        ):
            return []  # the common case: nothing open and not slow long enough anywhere
        watched = update.zones & context.index.of_kinds(cfg.kinds)
        found: list[Detection] = []
        for zone in sorted(state.loitering_zones - watched if state.slow_since else state.loitering_zones):
            found.append(self._detection("end", zone, update, state, context, 0.0))
            state.loitering_zones.discard(zone)
        if state.slow_since is None:
            return found
        for zone in sorted(watched):
            entered = state.zone_since.get(zone, at)
            start = max(state.slow_since, entered)
            duration_s = (at - start).total_seconds()
            if duration_s < cfg.min_duration_s:
                continue
            action: DetectionAction = "update" if zone in state.loitering_zones else "raise"
            state.loitering_zones.add(zone)
            found.append(self._detection(action, zone, update, state, context, duration_s))
        return found

    @staticmethod
    def _detection(
        action: DetectionAction,
        zone: int,
        update: TrackUpdate,
        state: TrackState,
        context: RuleContext,
        duration_s: float,
    ) -> Detection:
        cfg = context.config.loitering
        index = context.index
        track = update.track
        target = index.zones[zone]
        confidence = min(1.0, 0.6 + 0.4 * min(1.0, duration_s / (2.0 * cfg.min_duration_s))) * status_factor(
            track
        )
        evidence: dict[str, object] = {"speed_mps": round(update.speed_mps, 2)}
        if action != "end":
            evidence["duration_s"] = round(duration_s, 1)
            if state.slow_since is not None:
                evidence["slow_since"] = iso(state.slow_since)
        summary = (
            f"{label(track)} stopped loitering in {target.name}"
            if action == "end"
            else f"{label(track)} loitering in {target.name} for {duration_s / 60.0:.0f} min"
        )
        return Detection(
            kind=AlertKind.LOITERING,
            key=f"loitering|{track.id}|{target.id}",
            action=action,
            at=track.updated_at,
            track_ids=(track.id,),
            zone_ids=(target.id,),
            lat=track.lat,
            lon=track.lon,
            confidence=confidence,
            impact=impact_of(AlertKind.LOITERING, index, (zone,)),
            marking=combined_marking((track,), index, (zone,)),
            exercise=track.exercise,
            summary=summary,
            rearm_s=cfg.rearm_s,
            evidence=evidence,
        )
