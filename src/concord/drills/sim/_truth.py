"""Ground truth of a simulated scenario, kept apart from what the sensors report.

Drills score the live picture against it: time to detect a crossing, share of movers detected, whether a
dark period or a rendezvous was noticed. Truth values serialise with ``to_dict``/``from_dict`` (times as
ISO 8601 strings) so a drill can store them beside its journal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from concord.domain.observation import Observation, TargetKind
from concord.domain.types import ensure_utc

__all__ = ["SimStep", "TruthEvent", "TruthEventKind", "TruthKind", "TruthState"]


class TruthKind(StrEnum):
    """What a simulated mover is."""

    WALKER = "walker"
    VEHICLE = "vehicle"
    BOAT = "boat"
    VESSEL = "vessel"
    FOOT_PATROL = "foot-patrol"
    VEHICLE_PATROL = "vehicle-patrol"
    PATROL_BOAT = "patrol-boat"

    @property
    def target(self) -> TargetKind:
        return _TARGETS[self]

    @property
    def is_patrol(self) -> bool:
        return self in (TruthKind.FOOT_PATROL, TruthKind.VEHICLE_PATROL, TruthKind.PATROL_BOAT)


_TARGETS = {
    TruthKind.WALKER: TargetKind.PERSON,
    TruthKind.VEHICLE: TargetKind.VEHICLE,
    TruthKind.BOAT: TargetKind.BOAT,
    TruthKind.VESSEL: TargetKind.VESSEL,
    TruthKind.FOOT_PATROL: TargetKind.UNIT,
    TruthKind.VEHICLE_PATROL: TargetKind.UNIT,
    TruthKind.PATROL_BOAT: TargetKind.UNIT,
}


class TruthEventKind(StrEnum):
    """Things that happened in the ground truth (past tense)."""

    CROSSED_BORDER = "crossed-border"  # attributes: direction (inbound/outbound), crossing_point
    LANDED = "landed"  # a boat came ashore from the sea
    WENT_DARK = "went-dark"  # a vessel stopped transmitting AIS; ends_at says when it resumes
    AIS_RESUMED = "ais-resumed"
    RENDEZVOUS_STARTED = "rendezvous-started"  # two movers close and slow; ends_at says until when
    RENDEZVOUS_ENDED = "rendezvous-ended"
    SENSOR_OUTAGE_STARTED = "sensor-outage-started"  # attributes: sensor_id; ends_at
    SENSOR_OUTAGE_ENDED = "sensor-outage-ended"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    return ensure_utc(datetime.fromisoformat(str(value)))


def _require_time(value: Any, name: str) -> datetime:
    moment = _parse_time(value)
    if moment is None:
        raise ValueError(f"{name} is required")
    return moment


@dataclass(frozen=True, slots=True, kw_only=True)
class TruthState:
    """Where one mover really is at one time (WGS84 degrees; course clockwise from north)."""

    truth_id: str
    kind: TruthKind
    time: datetime
    lat: float
    lon: float
    course_deg: float
    speed_mps: float
    mmsi: int | None = None
    vessel_name: str | None = None
    ais_transmitting: bool | None = None
    tak_uid: str | None = None
    callsign: str | None = None
    agency: str | None = None

    @property
    def target(self) -> TargetKind:
        return self.kind.target

    @property
    def identity(self) -> str | None:
        """The identity a feed would give this mover (``mmsi:...``/``tak:...``), if any."""
        if self.mmsi is not None:
            return f"mmsi:{self.mmsi}"
        if self.tak_uid is not None:
            return f"tak:{self.tak_uid}"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "truth_id": self.truth_id,
            "kind": self.kind.value,
            "time": self.time.isoformat(),
            "lat": self.lat,
            "lon": self.lon,
            "course_deg": self.course_deg,
            "speed_mps": self.speed_mps,
            "mmsi": self.mmsi,
            "vessel_name": self.vessel_name,
            "ais_transmitting": self.ais_transmitting,
            "tak_uid": self.tak_uid,
            "callsign": self.callsign,
            "agency": self.agency,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TruthState:
        time = _require_time(data["time"], "time")
        mmsi = data.get("mmsi")
        return cls(
            truth_id=str(data["truth_id"]),
            kind=TruthKind(data["kind"]),
            time=time,
            lat=float(data["lat"]),
            lon=float(data["lon"]),
            course_deg=float(data["course_deg"]),
            speed_mps=float(data["speed_mps"]),
            mmsi=int(mmsi) if mmsi is not None else None,
            vessel_name=data.get("vessel_name"),
            ais_transmitting=data.get("ais_transmitting"),
            tak_uid=data.get("tak_uid"),
            callsign=data.get("callsign"),
            agency=data.get("agency"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TruthEvent:
    """One thing that happened, at the moment it happened (interpolated within the step)."""

    kind: TruthEventKind
    at: datetime
    truth_ids: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None
    ends_at: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "at": self.at.isoformat(),
            "truth_ids": list(self.truth_ids),
            "lat": self.lat,
            "lon": self.lon,
            "ends_at": _iso(self.ends_at),
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TruthEvent:
        at = _require_time(data["at"], "at")
        lat = data.get("lat")
        lon = data.get("lon")
        return cls(
            kind=TruthEventKind(data["kind"]),
            at=at,
            truth_ids=tuple(str(t) for t in data.get("truth_ids", ())),
            lat=float(lat) if lat is not None else None,
            lon=float(lon) if lon is not None else None,
            ends_at=_parse_time(data.get("ends_at")),
            attributes=dict(data.get("attributes", {})),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SimStep:
    """What one step of the simulator produced.

    ``observations`` are what the sensors reported; with ``output="raw"`` AIS and TAK reports appear only
    as ``raw_ais`` NMEA lines and ``raw_cot`` CoT events. ``detections`` maps each observation id to the
    truth id it came from, or None for a false alarm; it is ground truth, not sensor output.
    """

    index: int
    time: datetime
    observations: list[Observation]
    raw_cot: list[bytes]
    raw_ais: list[str]
    truth: list[TruthState]
    truth_events: list[TruthEvent]
    detections: dict[str, str | None]
