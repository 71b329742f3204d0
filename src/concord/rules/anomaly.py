"""Kinematic anomalies: faster than the target's kind can go, or a sharp course change.

Speed: the track's filtered speed above ``max_speed_mps[target] * tolerance_factor`` on
``min_consecutive_updates`` reports in a row (one filter overshoot after a jump is not enough).
Course: the course over ground turning by ``min_turn_deg`` or more within ``window_s`` while the
track moves at ``min_speed_mps`` or more (below that a course is noise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from concord.domain.alert import AlertKind
from concord.rules._common import combined_marking, impact_of, label
from concord.rules.base import Detection, DetectionAction, RuleContext, TrackState, TrackUpdate, status_factor

__all__ = ["CourseAnomalyRule", "SpeedAnomalyRule", "turn_deg"]


def turn_deg(a: float, b: float) -> float:
    """The smaller angle between two courses, in degrees (0..180)."""
    diff = abs(a - b) % 360.0
    return 360.0 - diff if diff > 180.0 else diff


class SpeedAnomalyRule:
    name = "speed-anomaly"

    def evaluate(self, update: TrackUpdate, state: TrackState, context: RuleContext) -> Sequence[Detection]:
        cfg = context.config.speed_anomaly
        track = update.track
        limit_mps = cfg.max_speed_mps.get(track.target)
        if not cfg.enabled or limit_mps is None or not update.is_report:
            return []
        speed = update.speed_mps
        if speed <= limit_mps * cfg.tolerance_factor:
            state.speed_over_count = 0
            return []
        state.speed_over_count += 1
        if state.speed_over_count < cfg.min_consecutive_updates:
            return []
        zones = tuple(sorted(update.zones))
        index = context.index
        ratio = speed / limit_mps
        # The spell opens (or re-opens) the alert once; while it lasts, evidence folds in throttled.
        action: DetectionAction = (
            "raise" if state.speed_over_count == cfg.min_consecutive_updates else "update"
        )
        return [
            Detection(
                kind=AlertKind.SPEED_ANOMALY,
                key=f"speed-anomaly|{track.id}",
                action=action,
                at=track.updated_at,
                track_ids=(track.id,),
                zone_ids=tuple(index.zones[z].id for z in zones),
                lat=track.lat,
                lon=track.lon,
                confidence=min(1.0, 0.4 + 0.3 * ratio) * status_factor(track),
                impact=impact_of(AlertKind.SPEED_ANOMALY, index, zones),
                marking=combined_marking((track,), index, zones),
                exercise=track.exercise,
                summary=(
                    f"{label(track)} at {speed:.1f} m/s, above {limit_mps:.1f} m/s for a {track.target.value}"
                ),
                rearm_s=cfg.rearm_s,
                evidence={
                    "speed_mps": round(speed, 2),
                    "max_speed_mps": limit_mps,
                    "target": track.target.value,
                    "consecutive_updates": state.speed_over_count,
                },
            )
        ]


class CourseAnomalyRule:
    name = "course-anomaly"

    def evaluate(self, update: TrackUpdate, state: TrackState, context: RuleContext) -> Sequence[Detection]:
        cfg = context.config.course_anomaly
        track = update.track
        if not cfg.enabled or track.target not in cfg.target_kinds or not update.is_report:
            return []
        at = track.updated_at
        history = state.courses
        horizon = at - timedelta(seconds=cfg.window_s)
        while history and history[0][0] < horizon:
            history.popleft()
        if update.speed_mps < cfg.min_speed_mps:
            history.clear()  # a stop breaks the course; turning on the spot is not an anomaly
            return []
        course = math.degrees(math.atan2(track.vel_east_mps, track.vel_north_mps)) % 360.0
        worst_turn, worst_from, worst_at = 0.0, course, at
        for then, before in history:
            diff = abs(before - course)  # turn_deg inlined: this loop runs on every moving update
            turn = 360.0 - diff if diff > 180.0 else diff
            if turn > worst_turn:
                worst_turn, worst_from, worst_at = turn, before, then
        history.append((at, course))
        if worst_turn < cfg.min_turn_deg:
            return []
        history.clear()  # this turn is reported; the next one is measured from the new course
        history.append((at, course))
        over_s = (at - worst_at).total_seconds()
        zones = tuple(sorted(update.zones))
        index = context.index
        return [
            Detection(
                kind=AlertKind.COURSE_ANOMALY,
                key=f"course-anomaly|{track.id}",
                action="raise",
                at=at,
                track_ids=(track.id,),
                zone_ids=tuple(index.zones[z].id for z in zones),
                lat=track.lat,
                lon=track.lon,
                confidence=min(1.0, 0.5 + 0.5 * worst_turn / 180.0) * status_factor(track),
                impact=impact_of(AlertKind.COURSE_ANOMALY, index, zones),
                marking=combined_marking((track,), index, zones),
                exercise=track.exercise,
                summary=f"{label(track)} turned {worst_turn:.0f} degrees in {over_s:.0f} s",
                rearm_s=cfg.rearm_s,
                evidence={
                    "from_course_deg": round(worst_from, 1),
                    "to_course_deg": round(course, 1),
                    "turn_deg": round(worst_turn, 1),
                    "over_s": round(over_s, 1),
                    "speed_mps": round(update.speed_mps, 2),
                },
                append={"turns": {"at": at.isoformat(), "turn_deg": round(worst_turn, 1)}},
            )
        ]
