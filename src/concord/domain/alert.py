"""Alerts: what the rules say about tracks and zones, and the events that raise, update and acknowledge them.

One alert stands for one episode of one event (a crossing, a stay in a restricted area, a vessel gone
dark). Its ``dedup_key`` names the event (kind, tracks, zones); ``episode`` counts how often that event
re-armed. Later evidence about the same episode folds into the alert as :class:`AlertUpdated`; the
alert is never edited in place: each event carries the alert as it stands after the event, so a
projection is rebuilt by replaying :func:`fold_alert_events`.

Impact levels follow EUROSUR (low, medium, high, very high). An alert's level is a base level per
kind, moved by the impact level of the border sections or zones involved (:func:`impact_for`):
a low section lowers it one step, a high section raises it one step, a critical section two steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from concord.domain.marking import Marking
from concord.domain.types import ensure_utc
from concord.domain.zone import SectionImpact

__all__ = [
    "BASE_IMPACT",
    "SECTION_ADJUSTMENT",
    "Alert",
    "AlertAcknowledged",
    "AlertEvent",
    "AlertKind",
    "AlertRaised",
    "AlertUpdated",
    "ImpactLevel",
    "alert_event_from_dict",
    "fold_alert_events",
    "impact_for",
]


class AlertKind(StrEnum):
    BORDER_CROSSING = "border-crossing"
    ZONE_ENTRY = "zone-entry"
    ZONE_EXIT = "zone-exit"
    LOITERING = "loitering"
    AIS_DARK = "ais-dark"
    RENDEZVOUS = "rendezvous"
    SPEED_ANOMALY = "speed-anomaly"
    COURSE_ANOMALY = "course-anomaly"
    UNIDENTIFIED_NEAR_BORDER = "unidentified-near-border"


class ImpactLevel(StrEnum):
    """EUROSUR impact level of an event, lowest first."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very-high"

    @property
    def rank(self) -> int:
        return _IMPACT_ORDER.index(self)


_IMPACT_ORDER: tuple[ImpactLevel, ...] = (
    ImpactLevel.LOW,
    ImpactLevel.MEDIUM,
    ImpactLevel.HIGH,
    ImpactLevel.VERY_HIGH,
)

BASE_IMPACT: dict[AlertKind, ImpactLevel] = {
    AlertKind.BORDER_CROSSING: ImpactLevel.HIGH,
    AlertKind.ZONE_ENTRY: ImpactLevel.MEDIUM,
    AlertKind.ZONE_EXIT: ImpactLevel.LOW,
    AlertKind.LOITERING: ImpactLevel.MEDIUM,
    AlertKind.AIS_DARK: ImpactLevel.MEDIUM,
    AlertKind.RENDEZVOUS: ImpactLevel.HIGH,
    AlertKind.SPEED_ANOMALY: ImpactLevel.LOW,
    AlertKind.COURSE_ANOMALY: ImpactLevel.LOW,
    AlertKind.UNIDENTIFIED_NEAR_BORDER: ImpactLevel.MEDIUM,
}

SECTION_ADJUSTMENT: dict[SectionImpact, int] = {
    SectionImpact.LOW: -1,
    SectionImpact.MEDIUM: 0,
    SectionImpact.HIGH: 1,
    SectionImpact.CRITICAL: 2,
}


def impact_for(kind: AlertKind, zone_levels: Iterable[SectionImpact | None] = ()) -> ImpactLevel:
    """The EUROSUR impact level of an alert of ``kind`` involving zones with ``zone_levels``.

    The most severe zone decides the adjustment; zones without a level leave the base level alone.
    """
    adjustments = [SECTION_ADJUSTMENT[level] for level in zone_levels if level is not None]
    shift = max(adjustments) if adjustments else 0
    rank = min(max(BASE_IMPACT[kind].rank + shift, 0), len(_IMPACT_ORDER) - 1)
    return _IMPACT_ORDER[rank]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse_time(value: Any) -> datetime:
    return ensure_utc(datetime.fromisoformat(str(value)))


def _parse_optional_time(value: Any) -> datetime | None:
    return None if value is None else _parse_time(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert as it stands. ``evidence`` holds JSON-able values only (numbers, strings, lists, dicts)."""

    id: str
    kind: AlertKind
    dedup_key: str
    episode: int
    raised_at: datetime
    updated_at: datetime
    impact: ImpactLevel
    confidence: float
    track_ids: tuple[str, ...]
    zone_ids: tuple[str, ...]
    lat: float
    lon: float
    marking: Marking
    summary: str
    exercise: bool = False
    evidence: Mapping[str, Any] = field(default_factory=dict)
    update_count: int = 0
    ended_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", AlertKind(self.kind))
        object.__setattr__(self, "impact", ImpactLevel(self.impact))
        object.__setattr__(self, "raised_at", ensure_utc(self.raised_at))
        object.__setattr__(self, "updated_at", ensure_utc(self.updated_at))
        object.__setattr__(self, "track_ids", tuple(self.track_ids))
        object.__setattr__(self, "zone_ids", tuple(self.zone_ids))
        if self.ended_at is not None:
            object.__setattr__(self, "ended_at", ensure_utc(self.ended_at))
        if self.acknowledged_at is not None:
            object.__setattr__(self, "acknowledged_at", ensure_utc(self.acknowledged_at))
        if not (math.isfinite(self.confidence) and 0.0 <= self.confidence <= 1.0):
            raise ValueError(f"alert confidence {self.confidence!r} outside [0, 1]")
        if not self.track_ids:
            raise ValueError("an alert names at least one track")
        if self.episode < 1:
            raise ValueError("alert episodes count from 1")

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_by is not None

    @property
    def status(self) -> Literal["open", "acknowledged", "ended"]:
        if self.ended_at is not None:
            return "ended"
        return "acknowledged" if self.acknowledged else "open"

    def acknowledge(self, user_id: str, at: datetime, note: str | None = None) -> AlertAcknowledged:
        """The event that records ``user_id`` acknowledging this alert at ``at``."""
        if not user_id:
            raise ValueError("an acknowledgement names the user")
        return AlertAcknowledged(alert_id=self.id, user_id=user_id, at=ensure_utc(at), note=note)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "dedup_key": self.dedup_key,
            "episode": self.episode,
            "raised_at": self.raised_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "impact": self.impact.value,
            "confidence": self.confidence,
            "track_ids": list(self.track_ids),
            "zone_ids": list(self.zone_ids),
            "lat": self.lat,
            "lon": self.lon,
            "marking": self.marking.to_dict(),
            "summary": self.summary,
            "exercise": self.exercise,
            "evidence": dict(self.evidence),
            "update_count": self.update_count,
            "ended_at": _iso(self.ended_at),
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": _iso(self.acknowledged_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        return cls(
            id=str(data["id"]),
            kind=AlertKind(data["kind"]),
            dedup_key=str(data["dedup_key"]),
            episode=int(data["episode"]),
            raised_at=_parse_time(data["raised_at"]),
            updated_at=_parse_time(data["updated_at"]),
            impact=ImpactLevel(data["impact"]),
            confidence=float(data["confidence"]),
            track_ids=tuple(str(t) for t in data["track_ids"]),
            zone_ids=tuple(str(z) for z in data.get("zone_ids", ())),
            lat=float(data["lat"]),
            lon=float(data["lon"]),
            marking=Marking.from_dict(dict(data["marking"])),
            summary=str(data.get("summary", "")),
            exercise=bool(data.get("exercise", False)),
            evidence=dict(data.get("evidence", {})),
            update_count=int(data.get("update_count", 0)),
            ended_at=_parse_optional_time(data.get("ended_at")),
            acknowledged_by=None if data.get("acknowledged_by") is None else str(data["acknowledged_by"]),
            acknowledged_at=_parse_optional_time(data.get("acknowledged_at")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRaised:
    """A new alert (a new episode of an event)."""

    type: ClassVar[str] = "alert-raised"
    alert: Alert

    @property
    def alert_id(self) -> str:
        return self.alert.id

    @property
    def at(self) -> datetime:
        return self.alert.raised_at

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "alert": self.alert.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertRaised:
        return cls(alert=Alert.from_dict(data["alert"]))


UpdateReason = Literal["folded", "ended", "resumed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertUpdated:
    """New evidence folded into an open alert, or its episode ended; ``alert`` is the alert afterwards."""

    type: ClassVar[str] = "alert-updated"
    alert: Alert
    reason: UpdateReason = "folded"

    @property
    def alert_id(self) -> str:
        return self.alert.id

    @property
    def at(self) -> datetime:
        return self.alert.updated_at

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "reason": self.reason, "alert": self.alert.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertUpdated:
        reason = str(data.get("reason", "folded"))
        if reason not in ("folded", "ended", "resumed"):
            raise ValueError(f"unknown alert update reason {reason!r}")
        return cls(alert=Alert.from_dict(data["alert"]), reason=reason)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertAcknowledged:
    """A user acknowledged an alert (it stays in the picture; later updates still fold into it)."""

    type: ClassVar[str] = "alert-acknowledged"
    alert_id: str
    user_id: str
    at: datetime
    note: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", ensure_utc(self.at))

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "alert_id": self.alert_id,
            "user_id": self.user_id,
            "at": self.at.isoformat(),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertAcknowledged:
        note = data.get("note")
        return cls(
            alert_id=str(data["alert_id"]),
            user_id=str(data["user_id"]),
            at=_parse_time(data["at"]),
            note=None if note is None else str(note),
        )


AlertEvent = AlertRaised | AlertUpdated | AlertAcknowledged

_EVENT_TYPES: dict[str, type[AlertRaised] | type[AlertUpdated] | type[AlertAcknowledged]] = {
    AlertRaised.type: AlertRaised,
    AlertUpdated.type: AlertUpdated,
    AlertAcknowledged.type: AlertAcknowledged,
}


def alert_event_from_dict(data: Mapping[str, Any]) -> AlertEvent:
    """Rebuild any alert event from its ``to_dict`` form (dispatching on ``type``)."""
    kind = data.get("type")
    try:
        event_type = _EVENT_TYPES[str(kind)]
    except KeyError:
        raise ValueError(f"unknown alert event type {kind!r}") from None
    return event_type.from_dict(data)


def fold_alert_events(
    events: Iterable[AlertEvent], alerts: dict[str, Alert] | None = None
) -> dict[str, Alert]:
    """Apply alert events in order to a projection keyed by alert id (a new one when ``alerts`` is None).

    An acknowledgement survives later updates: the engine that folds evidence does not know who
    acknowledged, so the projection keeps it.
    """
    state: dict[str, Alert] = {} if alerts is None else alerts
    for event in events:
        if isinstance(event, AlertAcknowledged):
            current = state.get(event.alert_id)
            if current is None:
                raise KeyError(f"acknowledgement of unknown alert {event.alert_id!r}")
            state[event.alert_id] = replace(current, acknowledged_by=event.user_id, acknowledged_at=event.at)
            continue
        previous = state.get(event.alert.id)
        alert = event.alert
        if previous is not None and previous.acknowledged and not alert.acknowledged:
            alert = replace(
                alert, acknowledged_by=previous.acknowledged_by, acknowledged_at=previous.acknowledged_at
            )
        state[alert.id] = alert
    return state
