"""Small helpers the rules share: combined markings, zone impact levels, plain-text labels."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from concord.domain.alert import AlertKind, ImpactLevel, impact_for
from concord.domain.marking import Marking
from concord.domain.track import Track
from concord.rules._index import ZoneIndex

__all__ = ["clamp01", "combined_marking", "impact_of", "iso", "label", "zone_ids"]


def combined_marking(tracks: Iterable[Track], index: ZoneIndex, zones: Iterable[int] = ()) -> Marking:
    """The most restrictive marking of the tracks involved and of any marked zone involved."""
    markings = [t.marking for t in tracks]
    markings.extend(m for m in (index.zones[z].marking for z in zones) if m is not None)
    result = markings[0]
    for other in markings[1:]:
        result = result.combine(other)
    return result


def impact_of(kind: AlertKind, index: ZoneIndex, zones: Iterable[int]) -> ImpactLevel:
    return impact_for(kind, (index.zones[z].impact_level for z in zones))


def zone_ids(index: ZoneIndex, zones: Iterable[int]) -> tuple[str, ...]:
    return tuple(index.zones[z].id for z in zones)


def label(track: Track) -> str:
    """How a summary names a track: its identity or callsign when known, else its id."""
    if track.callsign:
        return f"{track.callsign} ({track.id})"
    if track.identity:
        return f"{track.identity} ({track.id})"
    return track.id


def clamp01(value: float) -> float:
    return min(1.0, max(0.0, value))


def iso(moment: datetime) -> str:
    return moment.isoformat()
