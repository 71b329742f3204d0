"""A fused track: the system's belief about one moving object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from concord.domain.marking import Marking
from concord.domain.observation import TargetKind

__all__ = ["Track", "TrackStatus"]


class TrackStatus(StrEnum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    COASTING = "coasting"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True, kw_only=True)
class Track:
    """A snapshot of a track after an update. Velocity is east/north in metres per second."""

    id: str
    updated_at: datetime
    lat: float
    lon: float
    vel_east_mps: float
    vel_north_mps: float
    position_sigma_m: float
    status: TrackStatus
    marking: Marking
    identity: str | None = None
    callsign: str | None = None
    target: TargetKind = TargetKind.UNKNOWN
    agencies: frozenset[str] = field(default_factory=frozenset)  # agencies whose sensors contributed
    sources: frozenset[str] = field(default_factory=frozenset)
    exercise: bool = False

    @property
    def speed_mps(self) -> float:
        return float((self.vel_east_mps**2 + self.vel_north_mps**2) ** 0.5)

    def __repr__(self) -> str:
        return (
            f"Track(id={self.id!r}, at={self.updated_at.isoformat()}, lat={self.lat:.5f}, "
            f"lon={self.lon:.5f}, status={self.status.value}, identity={self.identity!r})"
        )
