"""What a sensor, a patrol or a feed says it saw: where, when, who, with what uncertainty."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from concord.domain.marking import Marking
from concord.domain.types import ensure_utc

__all__ = ["Observation", "SensorKind", "TargetKind"]


class SensorKind(StrEnum):
    """What produced an observation; it sets the default position uncertainty and false-alarm model."""

    AIS = "ais"
    TAK = "tak"
    RADAR = "radar"
    CAMERA = "camera"
    UGS = "ugs"  # unattended ground sensor
    PATROL = "patrol"
    OTHER = "other"


class TargetKind(StrEnum):
    PERSON = "person"
    VEHICLE = "vehicle"
    VESSEL = "vessel"
    BOAT = "boat"
    AIRCRAFT = "aircraft"
    UNIT = "unit"  # a friendly patrol or resource
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """One report of one object at one time.

    Positions are WGS84 degrees; ``position_sigma_m`` is the 1-sigma horizontal uncertainty in metres.
    ``identity`` is a stable external id when the feed has one (``mmsi:211234567``, ``tak:ANDROID-xyz``).
    """

    id: str
    source: str  # feed or sensor id, e.g. "cot:BP", "ais:CG-coastal", "radar:CG-R1"
    agency: str
    sensor: SensorKind
    observed_at: datetime
    lat: float
    lon: float
    marking: Marking
    position_sigma_m: float = 50.0
    hae_m: float | None = None
    course_deg: float | None = None
    speed_mps: float | None = None
    identity: str | None = None
    callsign: str | None = None
    target: TargetKind = TargetKind.UNKNOWN
    exercise: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "observed_at", ensure_utc(self.observed_at))
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise ValueError(f"latitude {self.lat!r} outside [-90, 90]")
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"longitude {self.lon!r} outside [-180, 180]")
        if not (math.isfinite(self.position_sigma_m) and self.position_sigma_m > 0):
            raise ValueError(f"position_sigma_m {self.position_sigma_m!r} must be a positive number")
        if self.speed_mps is not None and not (math.isfinite(self.speed_mps) and self.speed_mps >= 0):
            raise ValueError(f"speed_mps {self.speed_mps!r} must be a non-negative number")
        if self.course_deg is not None and not math.isfinite(self.course_deg):
            raise ValueError(f"course_deg {self.course_deg!r} must be a finite number")

    def __repr__(self) -> str:
        return (
            f"Observation(id={self.id!r}, source={self.source!r}, at={self.observed_at.isoformat()}, "
            f"lat={self.lat:.5f}, lon={self.lon:.5f}, identity={self.identity!r})"
        )
