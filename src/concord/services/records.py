"""Records of the operational picture as stored rows and as the release gate sees them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from concord.domain.alert import Alert
from concord.domain.record import RecordRow
from concord.domain.track import Track
from concord.sharing import DEFAULT_FIELD_CATEGORIES, Shareable

__all__ = ["alert_row", "shareable_of", "track_row"]

# Which fields of which record kind carry a need-to-know category, beyond the common ones.
FIELD_CATEGORIES: dict[str, Mapping[str, str]] = {
    "track": DEFAULT_FIELD_CATEGORIES,
    "alert": DEFAULT_FIELD_CATEGORIES,
}


def track_row(track: Track, *, seq: int, version: int = 1) -> RecordRow:
    data: dict[str, Any] = {
        "id": track.id,
        "updated_at": track.updated_at.isoformat(),
        "lat": track.lat,
        "lon": track.lon,
        "vel_east_mps": round(track.vel_east_mps, 3),
        "vel_north_mps": round(track.vel_north_mps, 3),
        "speed_mps": round(track.speed_mps, 3),
        "position_sigma_m": round(track.position_sigma_m, 2),
        "status": track.status.value,
        "identity": track.identity,
        "callsign": track.callsign,
        "target": track.target.value,
        "agencies": sorted(track.agencies),
        "sources": sorted(track.sources),
    }
    return RecordRow(
        kind="track",
        id=track.id,
        version=version,
        seq=seq,
        marking=track.marking,
        exercise=track.exercise,
        status=track.status.value,
        lat=track.lat,
        lon=track.lon,
        updated_at=track.updated_at,
        data=data,
    )


def alert_row(alert: Alert, *, seq: int) -> RecordRow:
    data = alert.to_dict()
    data.pop("marking", None)
    data["status"] = alert.status
    return RecordRow(
        kind="alert",
        id=alert.id,
        version=alert.update_count + 1,
        seq=seq,
        marking=alert.marking,
        exercise=alert.exercise,
        status=alert.status,
        lat=alert.lat,
        lon=alert.lon,
        updated_at=alert.updated_at,
        data=data,
    )


def shareable_of(row: RecordRow) -> Shareable:
    return Shareable(
        kind=row.kind,
        record_id=row.id,
        marking=row.marking,
        fields=row.data,
        field_categories=FIELD_CATEGORIES.get(row.kind, DEFAULT_FIELD_CATEGORIES),
        exercise=row.exercise,
    )
