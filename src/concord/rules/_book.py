"""The alert book: turns detections into alert events, one alert per episode of an event.

Deduplication: a detection's ``key`` names the event (kind, tracks, zones). The book keeps the latest
episode of every key it has seen recently. A ``raise`` folds into that episode when the episode is open
or was last active less than ``rearm_s`` ago, otherwise it opens a new episode (a new alert). An
``update`` for an episode the book has closed counts as a ``raise``. Folding continuous evidence
(``update``) is throttled to one ``AlertUpdated`` per ``update_interval_s`` unless the impact level
rises; the alert snapshot still carries everything folded so far.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from concord.domain.alert import Alert, AlertKind, AlertRaised, AlertUpdated, UpdateReason
from concord.rules.base import Detection

__all__ = ["DURATIVE_KINDS", "AlertBook"]

# Kinds whose episodes last (and end explicitly); the others are instantaneous events.
DURATIVE_KINDS: frozenset[AlertKind] = frozenset(
    {AlertKind.LOITERING, AlertKind.AIS_DARK, AlertKind.RENDEZVOUS, AlertKind.UNIDENTIFIED_NEAR_BORDER}
)

_EVIDENCE_LIST_CAP = 50


@dataclass(slots=True)
class _Episode:
    alert: Alert
    last_activity_at: datetime
    last_emitted_at: datetime
    rearm_s: float
    pending: bool = False


def _alert_id(key: str, at: datetime) -> str:
    digest = hashlib.sha256(f"{key}|{at.isoformat()}".encode()).hexdigest()
    return f"alert-{digest[:24]}"


def _merge_evidence(old: dict[str, Any], detection: Detection) -> dict[str, Any]:
    merged = dict(old)
    merged.update(detection.evidence)
    for name, value in detection.append.items():
        previous = merged.get(name)
        items = list(previous) if isinstance(previous, list) else []
        items.append(value)
        merged[name] = items[-_EVIDENCE_LIST_CAP:]
    return merged


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return first + tuple(x for x in second if x not in first)


class AlertBook:
    """Open and recently active alert episodes, keyed by detection key."""

    def __init__(self, *, update_interval_s: float = 60.0) -> None:
        self._episodes: dict[str, _Episode] = {}
        self._update_interval = timedelta(seconds=update_interval_s)

    def __len__(self) -> int:
        return len(self._episodes)

    def get(self, key: str) -> Alert | None:
        episode = self._episodes.get(key)
        return None if episode is None else episode.alert

    def is_open(self, key: str) -> bool:
        episode = self._episodes.get(key)
        return episode is not None and episode.alert.ended_at is None

    def alerts(self) -> list[Alert]:
        return [e.alert for e in self._episodes.values()]

    def apply(self, detection: Detection) -> list[AlertRaised | AlertUpdated]:
        episode = self._episodes.get(detection.key)
        if detection.action == "raise":
            return self._raise(detection, episode)
        if episode is None or episode.alert.ended_at is not None:
            # A rule continues an episode the book has already closed (ended as stale while the
            # track was silent, or forgotten): the continuing event is a new occurrence.
            return self._raise(detection, episode) if detection.action == "update" else []
        if detection.action == "end":
            episode.alert = self._fold(episode.alert, detection, ended_at=detection.at)
            return [self._emit(episode, detection.at, "ended")]
        old_rank = episode.alert.impact.rank
        episode.alert = self._fold(episode.alert, detection, ended_at=None)
        episode.last_activity_at = max(episode.last_activity_at, detection.at)
        if (
            episode.alert.impact.rank > old_rank
            or detection.at - episode.last_emitted_at >= self._update_interval
        ):
            return [self._emit(episode, detection.at, "folded")]
        episode.pending = True
        return []

    def _raise(self, detection: Detection, episode: _Episode | None) -> list[AlertRaised | AlertUpdated]:
        events: list[AlertRaised | AlertUpdated] = []
        if episode is not None:
            alert = episode.alert
            if alert.ended_at is None or detection.at - alert.ended_at <= timedelta(
                seconds=detection.rearm_s
            ):
                recent = detection.at - episode.last_activity_at <= timedelta(seconds=detection.rearm_s)
                if alert.ended_at is not None or recent or alert.kind in DURATIVE_KINDS:
                    reason: UpdateReason = "resumed" if alert.ended_at is not None else "folded"
                    episode.alert = replace(
                        self._fold(alert, detection, ended_at=None), update_count=alert.update_count + 1
                    )
                    episode.last_activity_at = max(episode.last_activity_at, detection.at)
                    episode.rearm_s = detection.rearm_s
                    return [self._emit(episode, detection.at, reason)]
            if alert.kind in DURATIVE_KINDS and alert.ended_at is None:
                episode.alert = replace(alert, ended_at=episode.last_activity_at)
                events.append(self._emit(episode, episode.last_activity_at, "ended"))
        number = 1 if episode is None else episode.alert.episode + 1
        alert = Alert(
            id=_alert_id(detection.key, detection.at),
            kind=detection.kind,
            dedup_key=detection.key,
            episode=number,
            raised_at=detection.at,
            updated_at=detection.at,
            impact=detection.impact,
            confidence=detection.confidence,
            track_ids=detection.track_ids,
            zone_ids=detection.zone_ids,
            lat=detection.lat,
            lon=detection.lon,
            marking=detection.marking,
            summary=detection.summary,
            exercise=detection.exercise,
            evidence=_merge_evidence({}, detection),
        )
        self._episodes[detection.key] = _Episode(
            alert=alert,
            last_activity_at=detection.at,
            last_emitted_at=detection.at,
            rearm_s=detection.rearm_s,
        )
        events.append(AlertRaised(alert=alert))
        return events

    @staticmethod
    def _fold(alert: Alert, detection: Detection, *, ended_at: datetime | None) -> Alert:
        return replace(
            alert,
            updated_at=max(alert.updated_at, detection.at),
            impact=max(alert.impact, detection.impact, key=lambda level: level.rank),
            confidence=max(alert.confidence, detection.confidence),
            track_ids=_union(alert.track_ids, detection.track_ids),
            zone_ids=_union(alert.zone_ids, detection.zone_ids),
            lat=detection.lat,
            lon=detection.lon,
            marking=alert.marking.combine(detection.marking),
            summary=detection.summary,
            exercise=alert.exercise or detection.exercise,
            evidence=_merge_evidence(dict(alert.evidence), detection),
            ended_at=ended_at,
        )

    @staticmethod
    def _emit(episode: _Episode, at: datetime, reason: UpdateReason) -> AlertUpdated:
        episode.last_emitted_at = max(episode.last_emitted_at, at)
        episode.pending = False
        return AlertUpdated(alert=episode.alert, reason=reason)

    def flush(self, now: datetime) -> list[AlertUpdated]:
        """Emit folded evidence held back by the throttle once ``update_interval_s`` has passed."""
        events: list[AlertUpdated] = []
        for episode in self._episodes.values():
            if episode.pending and now - episode.last_emitted_at >= self._update_interval:
                events.append(self._emit(episode, now, "folded"))
        return events

    def prune(self, now: datetime, stale_s: Mapping[AlertKind, float]) -> list[AlertUpdated]:
        """Forget episodes past their re-arm window; end durative ones silent for ``stale_s[kind]``."""
        events: list[AlertUpdated] = []
        for key, episode in list(self._episodes.items()):
            alert = episode.alert
            idle = (now - episode.last_activity_at).total_seconds()
            if alert.kind in DURATIVE_KINDS and alert.ended_at is None:
                if idle >= stale_s.get(alert.kind, float("inf")):
                    episode.alert = replace(alert, ended_at=episode.last_activity_at)
                    events.append(self._emit(episode, now, "ended"))
                continue
            since = (now - (alert.ended_at or episode.last_activity_at)).total_seconds()
            if since > episode.rearm_s and idle > episode.rearm_s and not episode.pending:
                del self._episodes[key]
        return events
