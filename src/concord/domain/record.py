"""A record of the operational picture as stored and streamed: what the release gate decides on.

Tracks, alerts, zones, incidents, tasks and messages all travel as :class:`RecordRow`: kind, id,
a change number (``seq``), the marking, the exercise flag, a position when it has one, and its fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from concord.domain.marking import Marking

__all__ = ["RecordRow"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordRow:
    kind: str
    id: str
    version: int
    seq: int
    marking: Marking
    exercise: bool
    status: str | None
    lat: float | None
    lon: float | None
    updated_at: datetime
    data: dict[str, Any]

    @property
    def deleted(self) -> bool:
        return self.status == "deleted"
