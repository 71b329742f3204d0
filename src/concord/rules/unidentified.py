"""Unidentified track near the border: no identity within ``near_m`` of a border line for ``min_duration_s``.

Radar, camera and ground-sensor tracks carry no identity; one that lingers by the border line is what
a patrol should look at. The episode ends when the track moves away, is identified, or is deleted.
Friendly units (``excluded_target_kinds``) are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from concord.domain.alert import AlertKind
from concord.domain.track import TrackStatus
from concord.domain.zone import ZoneKind
from concord.rules._common import clamp01, combined_marking, impact_of, iso, label
from concord.rules.base import Detection, DetectionAction, RuleContext, TrackState, TrackUpdate, status_factor

__all__ = ["UnidentifiedNearBorderRule"]

_SECTIONS = frozenset({ZoneKind.BORDER_SECTION})


class UnidentifiedNearBorderRule:
    name = "unidentified-near-border"

    def evaluate(self, update: TrackUpdate, state: TrackState, context: RuleContext) -> Sequence[Detection]:
        cfg = context.config.unidentified_near_border
        if not cfg.enabled:
            return []
        track = update.track
        if not update.near_borders and not state.near_border_since:
            return []
        watching = (
            track.identity is None
            and track.target not in cfg.excluded_target_kinds
            and track.status is not TrackStatus.DELETED
        )
        near = dict(update.near_borders) if watching else {}
        found: list[Detection] = []
        for border in sorted(set(state.near_border_since) - near.keys()):
            del state.near_border_since[border]
            if border in state.near_border_open:
                state.near_border_open.discard(border)
                found.append(self._detection("end", border, update, context, None, 0.0))
        for border, distance_m in sorted(near.items()):
            since = state.near_border_since.setdefault(border, track.updated_at)
            if (track.updated_at - since).total_seconds() < cfg.min_duration_s:
                continue
            action: DetectionAction = "update" if border in state.near_border_open else "raise"
            state.near_border_open.add(border)
            found.append(self._detection(action, border, update, context, since, distance_m))
        return found

    @staticmethod
    def _detection(
        action: DetectionAction,
        border: int,
        update: TrackUpdate,
        context: RuleContext,
        since: datetime | None,
        distance_m: float,
    ) -> Detection:
        cfg = context.config.unidentified_near_border
        index = context.index
        track = update.track
        zone = index.zones[border]
        evidence: dict[str, object] = {}
        closeness = 0.0
        if since is not None:
            duration_s = (track.updated_at - since).total_seconds()
            evidence = {
                "distance_m": round(distance_m, 1),
                "duration_s": round(duration_s, 1),
                "since": iso(since),
            }
            closeness = 1.0 - distance_m / cfg.near_m
        sections = update.zones & index.of_kinds(_SECTIONS)
        involved = (border, *sorted(sections))
        where = "no longer near" if action == "end" else "near"
        return Detection(
            kind=AlertKind.UNIDENTIFIED_NEAR_BORDER,
            key=f"unidentified-near-border|{track.id}|{zone.id}",
            action=action,
            at=track.updated_at,
            track_ids=(track.id,),
            zone_ids=tuple(index.zones[z].id for z in involved),
            lat=track.lat,
            lon=track.lon,
            confidence=clamp01(0.5 + 0.5 * closeness) * status_factor(track),
            impact=impact_of(AlertKind.UNIDENTIFIED_NEAR_BORDER, index, involved),
            marking=combined_marking((track,), index, involved),
            exercise=track.exercise,
            summary=f"unidentified {label(track)} {where} {zone.name}",
            rearm_s=cfg.rearm_s,
            evidence=evidence,
        )
