"""Raw feed payloads as real sensors would send them: AIS as NMEA AIVDM lines, TAK positions as CoT XML.

AIS is encoded by pyais. Positions are quantised to AIS resolution (1/10000 minute, 0.1 knot, 0.1
degree) before encoding, and the simulator's own AIS observations carry the same quantised values, so
the direct path and the ingest path agree. CoT events are built with the standard library's
ElementTree; the attribute set follows what ATAK sends for a self position report.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta

from pyais import encode_dict
from pyais.util import checksum

__all__ = [
    "AisPosition",
    "AisStatic",
    "CotPosition",
    "ais_position_lines",
    "ais_static_lines",
    "cot_event",
    "quantise_ais",
]

KNOT_MPS = 1852.0 / 3600.0
_AIS_DEG_STEP = 1.0 / 600_000.0  # 1/10000 minute of arc
_AIS_MAX_SPEED_KN = 102.2


@dataclass(frozen=True, slots=True, kw_only=True)
class AisPosition:
    """One class A position report (message type 1), already quantised."""

    mmsi: int
    lat: float
    lon: float
    speed_kn: float
    course_deg: float
    heading_deg: int
    second: int
    moored: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AisStatic:
    """Static and voyage data (message type 5)."""

    mmsi: int
    name: str
    callsign: str
    imo: int
    ship_type: int
    destination: str


def quantise_ais(
    lat: float, lon: float, speed_mps: float, course_deg: float
) -> tuple[float, float, float, float]:
    """Round to what AIS can carry: (lat, lon, speed in knots, course in degrees)."""
    q_lat = round(lat / _AIS_DEG_STEP) * _AIS_DEG_STEP
    q_lon = round(lon / _AIS_DEG_STEP) * _AIS_DEG_STEP
    speed_kn = min(round(speed_mps / KNOT_MPS, 1), _AIS_MAX_SPEED_KN)
    course = round(course_deg % 360.0, 1) % 360.0
    return (round(q_lat, 6), round(q_lon, 6), speed_kn, course)


def _tag_block(source: str, at: datetime) -> str:
    body = f"s:{source},c:{math.floor(at.timestamp())}"
    return f"\\{body}*{checksum(body.encode('ascii')):02X}\\"


def ais_position_lines(
    report: AisPosition, *, channel: str, tag_source: str | None, at: datetime
) -> list[str]:
    data: dict[str, str | int | float | bytes | bool] = {
        "msg_type": 1,
        "mmsi": report.mmsi,
        "status": 5 if report.moored else 0,
        "turn": -128,
        "speed": report.speed_kn,
        "accuracy": 1,
        "lon": report.lon,
        "lat": report.lat,
        "course": report.course_deg,
        "heading": report.heading_deg,
        "second": report.second,
    }
    lines = encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel=channel)
    return _with_tags(lines, tag_source, at)


def ais_static_lines(
    report: AisStatic, *, channel: str, tag_source: str | None, at: datetime, seq_id: int
) -> list[str]:
    data: dict[str, str | int | float | bytes | bool] = {
        "msg_type": 5,
        "mmsi": report.mmsi,
        "imo": report.imo,
        "callsign": report.callsign,
        "shipname": report.name,
        "ship_type": report.ship_type,
        "to_bow": 80,
        "to_stern": 20,
        "to_port": 8,
        "to_starboard": 8,
        "epfd": 1,
        "draught": 6.5,
        "destination": report.destination,
    }
    lines = encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel=channel, seq_id=seq_id % 10)
    return _with_tags(lines, tag_source, at)


def _with_tags(lines: list[str], tag_source: str | None, at: datetime) -> list[str]:
    if tag_source is None:
        return lines
    tag = _tag_block(tag_source, at)
    return [tag + line for line in lines]


@dataclass(frozen=True, slots=True, kw_only=True)
class CotPosition:
    """A TAK device's self report, already rounded to what the CoT text carries."""

    uid: str
    cot_type: str
    callsign: str
    team: str
    lat: float
    lon: float
    ce_m: float
    course_deg: float
    speed_mps: float


def _cot_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def cot_event(report: CotPosition, *, at: datetime, stale_s: float) -> bytes:
    """One CoT ``event`` element as UTF-8 bytes with an XML declaration."""
    event = ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": report.uid,
            "type": report.cot_type,
            "how": "m-g",
            "time": _cot_time(at),
            "start": _cot_time(at),
            "stale": _cot_time(at + timedelta(seconds=stale_s)),
        },
    )
    ET.SubElement(
        event,
        "point",
        {
            "lat": f"{report.lat:.7f}",
            "lon": f"{report.lon:.7f}",
            "hae": "9999999.0",
            "ce": f"{report.ce_m:.1f}",
            "le": "9999999.0",
        },
    )
    detail = ET.SubElement(event, "detail")
    ET.SubElement(detail, "contact", {"callsign": report.callsign})
    ET.SubElement(detail, "__group", {"name": report.team, "role": "Team Member"})
    ET.SubElement(detail, "track", {"course": f"{report.course_deg:.1f}", "speed": f"{report.speed_mps:.1f}"})
    ET.SubElement(detail, "precisionlocation", {"geopointsrc": "GPS", "altsrc": "???"})
    data: bytes = ET.tostring(event, encoding="utf-8", xml_declaration=True)
    return data
