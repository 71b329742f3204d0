"""Border crossing: a step of a track that crosses a border line, with its direction.

The engine finds the crossings of the step from the previous position to the current one
(:meth:`ZoneIndex.crossings`); the side the previous point was on gives the direction: leaving the
border's home side is outbound, entering it inbound. Crossings within ``crossing_point_radius_m`` of
an authorised crossing point are expected traffic and raise nothing unless configured otherwise.
The impact level is that of the most severe border section containing the crossing point, or the
border line's own level.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from concord.domain.alert import AlertKind
from concord.domain.zone import ZoneKind
from concord.rules._common import clamp01, combined_marking, impact_of, iso, label, zone_ids
from concord.rules.base import Detection, RuleContext, TrackState, TrackUpdate, status_factor

__all__ = ["BorderCrossingRule"]

_CROSSING_POINTS = frozenset({ZoneKind.CROSSING_POINT})


class BorderCrossingRule:
    name = "border-crossing"

    def evaluate(self, update: TrackUpdate, state: TrackState, context: RuleContext) -> Sequence[Detection]:
        cfg = context.config.border_crossing
        if not cfg.enabled or not update.crossings or state.last is None:
            return []
        index = context.index
        track = update.track
        previous = state.last
        step_s = (track.updated_at - previous.updated_at).total_seconds()
        sections = index.of_kinds(frozenset({ZoneKind.BORDER_SECTION}))
        found: list[Detection] = []
        for crossing in update.crossings:
            border = index.zones[crossing.zone]
            near_points = index.near(crossing.x, crossing.y, cfg.crossing_point_radius_m, _CROSSING_POINTS)
            if near_points and not cfg.alert_at_crossing_points:
                continue
            lon, lat = index.projection.inverse(crossing.x, crossing.y)
            at = previous.updated_at + timedelta(seconds=step_s * crossing.fraction)
            here = index.locate_one(crossing.x, crossing.y) & sections
            involved = (crossing.zone, *sorted(here))
            sigma_m = max(track.position_sigma_m, 1.0)
            confidence = clamp01(0.5 + 0.5 * min(1.0, crossing.margin_m / (2.0 * sigma_m))) * status_factor(
                track
            )
            if near_points:
                confidence *= 0.5
            found.append(
                Detection(
                    kind=AlertKind.BORDER_CROSSING,
                    key=f"border-crossing|{track.id}|{border.id}",
                    action="raise",
                    at=at,
                    track_ids=(track.id,),
                    zone_ids=zone_ids(index, involved),
                    lat=lat,
                    lon=lon,
                    confidence=confidence,
                    impact=impact_of(AlertKind.BORDER_CROSSING, index, involved),
                    marking=combined_marking((track, previous), index, involved),
                    exercise=track.exercise,
                    summary=f"{label(track)} crossed {border.name} {crossing.direction}",
                    rearm_s=cfg.rearm_s,
                    evidence={
                        "direction": crossing.direction,
                        "border_id": border.id,
                        "from": {"lat": previous.lat, "lon": previous.lon, "at": iso(previous.updated_at)},
                        "to": {"lat": track.lat, "lon": track.lon, "at": iso(track.updated_at)},
                        "margin_m": round(crossing.margin_m, 1),
                        "at_crossing_point": [index.zones[z].id for z, _ in near_points],
                    },
                    append={"crossings": {"at": iso(at), "direction": crossing.direction}},
                )
            )
        return found
