"""The journal's envelope and the identity events of the foundation.

Every state change in Concord is a :class:`JournalEvent` appended to the journal; read models are
projections of it. Domain packages define their own event dataclasses and turn them into envelopes
with :func:`envelope`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from concord.domain.marking import Marking
from concord.domain.types import ensure_utc

__all__ = ["JournalEvent", "envelope"]


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEvent:
    """One entry of the append-only journal. ``seq`` is assigned by the store on append."""

    type: str
    payload: dict[str, Any]
    occurred_at: datetime
    actor: str
    agency: str
    marking: Marking
    exercise: bool = False
    event_id: str = ""
    seq: int | None = None
    recorded_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "occurred_at", ensure_utc(self.occurred_at))
        if not self.type or len(self.type) > 80:
            raise ValueError("event type must be 1-80 characters")

    def __repr__(self) -> str:
        return f"JournalEvent(seq={self.seq}, type={self.type!r}, actor={self.actor!r})"


def envelope(
    type_: str,
    payload: dict[str, Any],
    *,
    at: datetime,
    actor: str,
    agency: str,
    marking: Marking,
    exercise: bool = False,
) -> JournalEvent:
    return JournalEvent(
        type=type_,
        payload=payload,
        occurred_at=at,
        actor=actor,
        agency=agency,
        marking=marking,
        exercise=exercise,
    )
