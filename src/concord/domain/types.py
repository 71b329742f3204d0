"""The shared vocabulary of ids, times and positions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NewType

__all__ = ["AgencyCode", "IncidentId", "ObservationId", "TrackId", "UserId", "ensure_utc"]

AgencyCode = NewType("AgencyCode", str)
UserId = NewType("UserId", str)
TrackId = NewType("TrackId", str)
ObservationId = NewType("ObservationId", str)
IncidentId = NewType("IncidentId", str)


def ensure_utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime; naive values are refused, not guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: Concord only handles timezone-aware times")
    return moment.astimezone(UTC)
