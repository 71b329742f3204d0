"""Zone entry and exit: a track entering or leaving a watched zone (restricted, territorial sea, port...).

A track first seen already inside a watched zone raises an entry too (with lower confidence and
``first_seen`` in the evidence): appearing inside a restricted area is as notable as entering it.
Flapping on a boundary folds into the same alert while re-entries come within ``rearm_s``.
"""

from __future__ import annotations

from collections.abc import Sequence

from concord.domain.alert import AlertKind
from concord.domain.track import TrackStatus
from concord.rules._common import combined_marking, impact_of, label
from concord.rules.base import Detection, RuleContext, TrackState, TrackUpdate, status_factor

__all__ = ["ZoneTransitRule"]


class ZoneTransitRule:
    name = "zone-transit"

    def evaluate(self, update: TrackUpdate, state: TrackState, context: RuleContext) -> Sequence[Detection]:
        cfg = context.config.zone_transit
        zones = update.zones
        if not cfg.enabled or zones is state.zones or zones == state.zones:
            return []
        if update.track.status is TrackStatus.DELETED:
            return []
        watched = context.index.of_kinds(cfg.kinds)
        now = zones & watched
        before = (state.zones or frozenset()) & watched
        if now == before:
            return []
        first_seen = state.zones is None
        found = [
            self._detection(AlertKind.ZONE_ENTRY, z, update, state, context, first_seen)
            for z in sorted(now - before)
        ]
        found.extend(
            self._detection(AlertKind.ZONE_EXIT, z, update, state, context, False)
            for z in sorted(before - now)
        )
        return found

    @staticmethod
    def _detection(
        kind: AlertKind,
        zone: int,
        update: TrackUpdate,
        state: TrackState,
        context: RuleContext,
        first_seen: bool,
    ) -> Detection:
        index = context.index
        track = update.track
        target = index.zones[zone]
        confidence = (0.6 if first_seen else 0.9) * status_factor(track)
        verb = "entered" if kind is AlertKind.ZONE_ENTRY else "left"
        if first_seen:
            verb = "appeared inside"
        evidence: dict[str, object] = {"zone_kind": target.kind.value, "first_seen": first_seen}
        if kind is AlertKind.ZONE_EXIT and zone in state.zone_since:
            evidence["inside_s"] = round((track.updated_at - state.zone_since[zone]).total_seconds(), 1)
        return Detection(
            kind=kind,
            key=f"{kind.value}|{track.id}|{target.id}",
            action="raise",
            at=track.updated_at,
            track_ids=(track.id,),
            zone_ids=(target.id,),
            lat=track.lat,
            lon=track.lon,
            confidence=confidence,
            impact=impact_of(kind, index, (zone,)),
            marking=combined_marking((track,), index, (zone,)),
            exercise=track.exercise,
            summary=f"{label(track)} {verb} {target.kind.value} {target.name}",
            rearm_s=context.config.zone_transit.rearm_s,
            evidence=evidence,
            append={"transits": track.updated_at.isoformat()},
        )
