"""Cursor on Target out: released records as CoT XML events for TAK clients.

Every encoder here takes a :class:`~concord.sharing.Released` value (``Visible``), the release gate's
output, so nothing that the gate did not pass can be turned into CoT. Tracks become atoms (``a-…``),
alerts and incidents become map markers (``b-m-p-s-p-i``) with the summary in ``remarks``, chat
messages become GeoChat (``b-t-f``). Every event carries the record's marking banner in ``remarks``
and in a ``__concord`` detail element, and a stale time after which a TAK client greys it out.

A record that ended, was deleted, or stopped being visible to a viewer is removed from that viewer's
map with :func:`encode_delete` (``t-x-d-d`` with ``__forcedelete``), which names only the uid the
viewer already has.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from concord.domain.types import ensure_utc
from concord.ingest.cot import format_cot_time
from concord.sharing import Visible

__all__ = [
    "ALERT_COT_TYPE",
    "CotEncoding",
    "cot_uid",
    "encode_delete",
    "encode_ping",
    "encode_released",
    "is_removal",
]

ALERT_COT_TYPE = "b-m-p-s-p-i"
_UNKNOWN_ERROR = "9999999.0"
_MAX_REMARKS_CHARS = 4000

# Characters XML 1.0 cannot carry at all (escaping does not help): dropped from any text sent.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_ATTR_ENTITIES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}

# Tracks are drawn with the affiliation the sensors give: friendly only for our own units.
_TRACK_TYPES: Mapping[str, str] = {
    "unit": "a-f-G-U-C",
    "person": "a-u-G-U-C-I",
    "vehicle": "a-u-G-E-V",
    "vessel": "a-u-S-X",
    "boat": "a-u-S-X-R",
    "aircraft": "a-u-A",
    "unknown": "a-u-G",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CotEncoding:
    """How long each kind of event stays fresh on a TAK map (its ``stale`` time after its ``time``)."""

    track_stale_s: float = 120.0
    alert_stale_s: float = 600.0
    incident_stale_s: float = 3600.0
    message_stale_s: float = 86_400.0


def cot_uid(kind: str, record_id: str, fields: Mapping[str, Any]) -> str:
    """The CoT uid of a record: a TAK unit keeps its own uid, everything else is ``concord.<kind>.<id>``."""
    if kind == "track":
        identity = fields.get("identity")
        if isinstance(identity, str) and identity.startswith("tak:") and len(identity) > 4:
            return identity[4:]
    if kind == "message":
        return record_id
    return f"concord.{kind}.{record_id}"


def is_removal(kind: str, status: str | None) -> bool:
    """True when a record in this state should disappear from TAK maps."""
    if status == "deleted":
        return True
    if kind == "alert" and status == "ended":
        return True
    return kind == "incident" and status in ("closed", "resolved")


def _text(value: object, limit: int = 256) -> str:
    return _NOT_XML.sub("", str(value))[:limit]


def _time(value: object, fallback: datetime) -> datetime:
    if isinstance(value, datetime):
        return ensure_utc(value)
    if isinstance(value, str):
        try:
            return ensure_utc(datetime.fromisoformat(value))
        except ValueError:
            return fallback
    return fallback


def _coordinate(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _event(uid: str, cot_type: str, moment: datetime, stale: datetime, how: str = "m-g") -> ET.Element:
    return ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": _text(uid),
            "type": cot_type,
            "how": how,
            "time": format_cot_time(moment),
            "start": format_cot_time(moment),
            "stale": format_cot_time(stale),
        },
    )


def _point(event: ET.Element, lat: float, lon: float, ce_m: float | None = None) -> None:
    ET.SubElement(
        event,
        "point",
        {
            "lat": f"{lat:.7f}",
            "lon": f"{lon:.7f}",
            "hae": _UNKNOWN_ERROR,
            "ce": f"{ce_m:.1f}" if ce_m is not None and 0 < ce_m < 9_999_999 else _UNKNOWN_ERROR,
            "le": _UNKNOWN_ERROR,
        },
    )


def _concord_detail(detail: ET.Element, released: Visible) -> str:
    record = released.record
    banner = record.marking.banner()
    attrs = {"kind": _text(record.kind), "id": _text(record.record_id), "banner": _text(banner, 1024)}
    if record.exercise:
        attrs["exercise"] = "true"
    if released.redacted_fields:
        attrs["redacted"] = _text(",".join(released.redacted_fields), 1024)
    ET.SubElement(detail, "__concord", attrs)
    return ("EXERCISE " if record.exercise else "") + banner


def _tostring(event: ET.Element) -> bytes:
    data: bytes = ET.tostring(event, encoding="utf-8", xml_declaration=False)
    return data


def encode_released(released: Visible, *, now: datetime, encoding: CotEncoding | None = None) -> bytes | None:
    """The CoT event for one released record, or ``None`` when the record has no place on a map."""
    encoding = encoding or CotEncoding()
    kind = released.record.kind
    if kind == "track":
        return _track(released, now, encoding)
    if kind == "message":
        return _message(released, now, encoding)
    stale_s = encoding.alert_stale_s if kind == "alert" else encoding.incident_stale_s
    return _marker(released, now, stale_s)


def _attr(value: object, limit: int = 256) -> str:
    return escape(_text(value, limit), _ATTR_ENTITIES)


def _track(released: Visible, now: datetime, encoding: CotEncoding) -> bytes | None:
    # The hot path of the fan-out (every track update, once per viewer class), so it is written as
    # one format string with every value escaped rather than built as an element tree.
    record = released.record
    fields = record.fields
    lat, lon = _coordinate(fields.get("lat")), _coordinate(fields.get("lon"))
    if lat is None or lon is None:
        return None
    moment = _time(fields.get("updated_at"), now)
    stamp = format_cot_time(moment)
    stale = format_cot_time(moment + timedelta(seconds=encoding.track_stale_s))
    cot_type = _TRACK_TYPES.get(str(fields.get("target") or "unknown"), "a-u-G")
    sigma = _coordinate(fields.get("position_sigma_m"))
    ce = f"{sigma:.1f}" if sigma is not None and 0 < sigma < 9_999_999 else _UNKNOWN_ERROR
    callsign = fields.get("callsign") or fields.get("identity") or record.record_id
    east = _coordinate(fields.get("vel_east_mps")) or 0.0
    north = _coordinate(fields.get("vel_north_mps")) or 0.0
    course_deg = math.degrees(math.atan2(east, north)) % 360.0
    banner = record.marking.banner()
    header = ("EXERCISE " if record.exercise else "") + banner
    extra = ' exercise="true"' if record.exercise else ""
    if released.redacted_fields:
        extra += f' redacted="{_attr(",".join(released.redacted_fields), 1024)}"'
    remarks = escape(_text(f"{header} track {record.record_id} ({fields.get('status')})", _MAX_REMARKS_CHARS))
    text = (
        f'<event version="2.0" uid="{_attr(cot_uid("track", record.record_id, fields))}" type="{cot_type}" '
        f'how="m-f" time="{stamp}" start="{stamp}" stale="{stale}">'
        f'<point lat="{lat:.7f}" lon="{lon:.7f}" hae="{_UNKNOWN_ERROR}" ce="{ce}" le="{_UNKNOWN_ERROR}" />'
        f'<detail><contact callsign="{_attr(callsign, 128)}" />'
        f'<track course="{course_deg:.1f}" speed="{math.hypot(east, north):.2f}" />'
        f'<__concord kind="track" id="{_attr(record.record_id)}" banner="{_attr(banner, 1024)}"{extra} />'
        f"<remarks>{remarks}</remarks></detail></event>"
    )
    return text.encode("utf-8")


def _marker(released: Visible, now: datetime, stale_s: float) -> bytes | None:
    record = released.record
    fields = record.fields
    lat, lon = _coordinate(fields.get("lat")), _coordinate(fields.get("lon"))
    if lat is None or lon is None:
        return None
    moment = _time(fields.get("updated_at"), now)
    event = _event(
        cot_uid(record.kind, record.record_id, fields),
        ALERT_COT_TYPE,
        moment,
        max(moment, now) + timedelta(seconds=stale_s),
        how="h-g-i-g-o",
    )
    _point(event, lat, lon)
    detail = ET.SubElement(event, "detail")
    label = fields.get("kind") if record.kind == "alert" else fields.get("title")
    ET.SubElement(detail, "contact", {"callsign": f"{record.kind.upper()} {label or record.record_id}"[:128]})
    header = _concord_detail(detail, released)
    parts = [header]
    for name in ("summary", "impact", "status", "lead_agency"):
        value = fields.get(name)
        if value not in (None, ""):
            parts.append(f"{name}: {value}")
    remarks = ET.SubElement(detail, "remarks")
    remarks.text = _text("\n".join(parts), _MAX_REMARKS_CHARS)
    return _tostring(event)


def _message(released: Visible, now: datetime, encoding: CotEncoding) -> bytes | None:
    record = released.record
    fields = record.fields
    text = fields.get("text")
    if not isinstance(text, str):
        return None
    moment = _time(fields.get("sent_at"), now)
    event = _event(
        record.record_id, "b-t-f", moment, moment + timedelta(seconds=encoding.message_stale_s), "h-g-i-g-o"
    )
    _point(event, 0.0, 0.0)
    detail = ET.SubElement(event, "detail")
    chatroom = _text(fields.get("chatroom") or "All Chat Rooms")
    sender_uid = _text(fields.get("sender_uid") or "")
    callsign = _text(fields.get("sender_callsign") or sender_uid or "unknown", 128)
    chat = ET.SubElement(
        detail,
        "__chat",
        {
            "parent": "RootContactGroup",
            "groupOwner": "false",
            "chatroom": chatroom,
            "id": _text(fields.get("chat_id") or chatroom),
            "senderCallsign": callsign,
        },
    )
    ET.SubElement(chat, "chatgrp", {"uid0": sender_uid, "uid1": chatroom, "id": chatroom})
    if sender_uid:
        ET.SubElement(detail, "link", {"uid": sender_uid, "type": "a-f-G-U-C", "relation": "p-p"})
    _concord_detail(detail, released)
    remarks = ET.SubElement(
        detail, "remarks", {"source": f"BAO.F.ATAK.{sender_uid}", "time": format_cot_time(moment)}
    )
    remarks.text = _text(("EXERCISE " if record.exercise else "") + text, 8192)
    return _tostring(event)


def encode_delete(uid: str, *, now: datetime, cot_type: str = "a-u-G") -> bytes:
    """A ``t-x-d-d`` event telling a TAK client to drop the item ``uid`` from its map at once."""
    event = _event(f"concord.delete.{uid}", "t-x-d-d", now, now + timedelta(seconds=20), "h-g-i-g-o")
    _point(event, 0.0, 0.0)
    detail = ET.SubElement(event, "detail")
    ET.SubElement(detail, "link", {"uid": _text(uid), "relation": "none", "type": cot_type})
    ET.SubElement(detail, "__forcedelete")
    return _tostring(event)


def encode_ping(*, now: datetime, uid: str = "concord-ping") -> bytes:
    """A ``t-x-c-t`` keep-alive the server sends to a quiet connection."""
    event = _event(uid, "t-x-c-t", now, now + timedelta(seconds=20), "h-g-i-g-o")
    _point(event, 0.0, 0.0)
    ET.SubElement(event, "detail")
    return _tostring(event)
