"""Journal events of a drill and of the lessons library.

A drill writes its whole plan and run configuration at the start (:class:`DrillStarted`), what it
injected and the ground truth it produced while running (:class:`DrillInjected`,
:class:`DrillTruthRecorded`), scripted partner messages and their acknowledgements, and a closing
:class:`DrillEnded` with the sensors' tallies. KPIs and after-action reviews are computed from these
events alone, so replaying the journal reproduces them exactly. Every drill event is exercise data.

Each event serialises with ``to_dict``/``from_dict`` (times as ISO 8601); the journal type is the class
name (``DrillStarted`` ...), listed in :data:`DRILL_EVENT_TYPES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from concord.domain.types import ensure_utc

__all__ = [
    "DRILL_EVENT_TYPES",
    "EXERCISE_PREFIX",
    "DrillEnded",
    "DrillInjected",
    "DrillMessageAcknowledged",
    "DrillMessageSent",
    "DrillStarted",
    "DrillTruthRecorded",
    "FeedbackSubmitted",
    "LessonRecorded",
    "drill_event_from_dict",
]

EXERCISE_PREFIX = "EXERCISE EXERCISE EXERCISE"
"""Opens every message and banner of exercise data, as radio and message traffic does in drills."""


def _t(value: Any) -> datetime:
    return ensure_utc(datetime.fromisoformat(str(value)))


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillStarted:
    type: ClassVar[str] = "DrillStarted"
    exercise_id: str
    at: datetime
    plan: Mapping[str, Any]
    plan_digest: str
    speed: float
    scenario_start: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercise_id": self.exercise_id,
            "at": self.at.isoformat(),
            "plan": dict(self.plan),
            "plan_digest": self.plan_digest,
            "speed": self.speed,
            "scenario_start": self.scenario_start.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillStarted:
        return cls(
            exercise_id=str(data["exercise_id"]),
            at=_t(data["at"]),
            plan=dict(data["plan"]),
            plan_digest=str(data["plan_digest"]),
            speed=float(data["speed"]),
            scenario_start=_t(data["scenario_start"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillInjected:
    """An inject took effect; ``details`` holds what it made (e.g. the truth id of a crossing mover)."""

    type: ClassVar[str] = "DrillInjected"
    exercise_id: str
    inject_id: str
    kind: str
    at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercise_id": self.exercise_id,
            "inject_id": self.inject_id,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillInjected:
        return cls(
            exercise_id=str(data["exercise_id"]),
            inject_id=str(data["inject_id"]),
            kind=str(data["kind"]),
            at=_t(data["at"]),
            details=dict(data.get("details", {})),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillTruthRecorded:
    """Ground-truth events of one simulator step (``TruthEvent.to_dict`` form)."""

    type: ClassVar[str] = "DrillTruthRecorded"
    exercise_id: str
    at: datetime
    events: tuple[Mapping[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercise_id": self.exercise_id,
            "at": self.at.isoformat(),
            "events": [dict(e) for e in self.events],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillTruthRecorded:
        return cls(
            exercise_id=str(data["exercise_id"]),
            at=_t(data["at"]),
            events=tuple(dict(e) for e in data.get("events", ())),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillMessageSent:
    """A scripted message from a partner agency (its text opens with :data:`EXERCISE_PREFIX`)."""

    type: ClassVar[str] = "DrillMessageSent"
    exercise_id: str
    message_id: str
    inject_id: str
    sender: str
    to: tuple[str, ...]
    text: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercise_id": self.exercise_id,
            "message_id": self.message_id,
            "inject_id": self.inject_id,
            "sender": self.sender,
            "to": list(self.to),
            "text": self.text,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillMessageSent:
        return cls(
            exercise_id=str(data["exercise_id"]),
            message_id=str(data["message_id"]),
            inject_id=str(data["inject_id"]),
            sender=str(data["sender"]),
            to=tuple(str(a) for a in data["to"]),
            text=str(data["text"]),
            at=_t(data["at"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillMessageAcknowledged:
    type: ClassVar[str] = "DrillMessageAcknowledged"
    exercise_id: str
    message_id: str
    agency: str
    user_id: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercise_id": self.exercise_id,
            "message_id": self.message_id,
            "agency": self.agency,
            "user_id": self.user_id,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillMessageAcknowledged:
        return cls(
            exercise_id=str(data["exercise_id"]),
            message_id=str(data["message_id"]),
            agency=str(data["agency"]),
            user_id=str(data["user_id"]),
            at=_t(data["at"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillEnded:
    """The run finished; ``sensor_stats`` maps a sensor kind to {"observations": n, "false_alarms": m}."""

    type: ClassVar[str] = "DrillEnded"
    exercise_id: str
    at: datetime
    steps: int
    sensor_stats: Mapping[str, Mapping[str, int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercise_id": self.exercise_id,
            "at": self.at.isoformat(),
            "steps": self.steps,
            "sensor_stats": {k: dict(v) for k, v in self.sensor_stats.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrillEnded:
        return cls(
            exercise_id=str(data["exercise_id"]),
            at=_t(data["at"]),
            steps=int(data["steps"]),
            sensor_stats={
                str(k): {str(a): int(b) for a, b in dict(v).items()}
                for k, v in dict(data["sensor_stats"]).items()
            },
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackSubmitted:
    """A participant's short structured feedback after a drill or an incident."""

    type: ClassVar[str] = "FeedbackSubmitted"
    feedback_id: str
    subject_kind: str  # "exercise" or "incident"
    subject_id: str
    user_id: str
    agency: str
    at: datetime
    rating: int
    went_well: str
    to_improve: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "feedback_id": self.feedback_id,
            "subject_kind": self.subject_kind,
            "subject_id": self.subject_id,
            "user_id": self.user_id,
            "agency": self.agency,
            "at": self.at.isoformat(),
            "rating": self.rating,
            "went_well": self.went_well,
            "to_improve": self.to_improve,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeedbackSubmitted:
        return cls(
            feedback_id=str(data["feedback_id"]),
            subject_kind=str(data["subject_kind"]),
            subject_id=str(data["subject_id"]),
            user_id=str(data["user_id"]),
            agency=str(data["agency"]),
            at=_t(data["at"]),
            rating=int(data["rating"]),
            went_well=str(data["went_well"]),
            to_improve=str(data["to_improve"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LessonRecorded:
    """A lesson for the shared library (a record of kind ``lesson``), possibly proposing a playbook change."""

    type: ClassVar[str] = "LessonRecorded"
    lesson_id: str
    title: str
    body: str
    tags: tuple[str, ...]
    subject_kind: str
    subject_id: str
    playbook_id: str | None
    proposed_playbook: str | None
    user_id: str
    agency: str
    at: datetime
    exercise: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "lesson_id": self.lesson_id,
            "title": self.title,
            "body": self.body,
            "tags": list(self.tags),
            "subject_kind": self.subject_kind,
            "subject_id": self.subject_id,
            "playbook_id": self.playbook_id,
            "proposed_playbook": self.proposed_playbook,
            "user_id": self.user_id,
            "agency": self.agency,
            "at": self.at.isoformat(),
            "exercise": self.exercise,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LessonRecorded:
        pb = data.get("playbook_id")
        proposed = data.get("proposed_playbook")
        return cls(
            lesson_id=str(data["lesson_id"]),
            title=str(data["title"]),
            body=str(data["body"]),
            tags=tuple(str(t) for t in data.get("tags", ())),
            subject_kind=str(data.get("subject_kind", "")),
            subject_id=str(data.get("subject_id", "")),
            playbook_id=None if pb is None else str(pb),
            proposed_playbook=None if proposed is None else str(proposed),
            user_id=str(data["user_id"]),
            agency=str(data["agency"]),
            at=_t(data["at"]),
            exercise=bool(data.get("exercise", False)),
        )


DrillEvent = (
    DrillStarted
    | DrillInjected
    | DrillTruthRecorded
    | DrillMessageSent
    | DrillMessageAcknowledged
    | DrillEnded
    | FeedbackSubmitted
    | LessonRecorded
)

_TYPES: dict[str, Any] = {
    cls.type: cls
    for cls in (
        DrillStarted,
        DrillInjected,
        DrillTruthRecorded,
        DrillMessageSent,
        DrillMessageAcknowledged,
        DrillEnded,
        FeedbackSubmitted,
        LessonRecorded,
    )
}

DRILL_EVENT_TYPES: frozenset[str] = frozenset(_TYPES)


def drill_event_from_dict(event_type: str, data: Mapping[str, Any]) -> DrillEvent:
    """Rebuild a drill or lesson event from its journal type and payload."""
    try:
        cls = _TYPES[event_type]
    except KeyError:
        raise ValueError(f"unknown drill event type {event_type!r}") from None
    event: DrillEvent = cls.from_dict(data)
    return event
