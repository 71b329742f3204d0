"""CAP 1.2 export of alerts, and an Atom feed of them: built only from what the release gate released.

:func:`build_cap_message` turns one released alert (a :class:`concord.sharing.Released` value, the
gate's output; nothing else is accepted) into a CAP 1.2 message that is valid against the OASIS XSD
and CAP's business rules (:func:`validate_cap`). Only the released fields are read, so a field the gate
redacted for the viewer never reaches the message; the marking banner, which the viewer is entitled
to see, goes into ``restriction`` and a ``parameter``.

The mapping (documented for users in docs/cap.md):

- ``identifier`` is ``<prefix>.<alert id>.<version>`` (version = updates folded in + 1), so each alert
  version has one stable identifier; ``sender`` comes from :class:`CapConfig`.
- ``status`` is Exercise for exercise records (drills stay marked end to end), else Actual.
- ``msgType`` is Cancel once the alert's episode has ended, Update when evidence has been folded into
  it since it was raised, else Alert. Updates and cancels reference the original message
  (``sender,identifier,sent`` of version 1, sent when the alert was raised).
- ``scope`` is Restricted with ``restriction`` = the marking banner.
- ``info``: category Security; event = the alert kind in words; urgency from the EUROSUR impact level
  (very high and high: Immediate, medium: Expected, low: Future; Past once ended); severity from the
  impact level (very high: Extreme, high: Severe, medium: Moderate, low: Minor); certainty from the
  confidence (0.9 and above: Observed, above 0.5: Likely, above 0.05: Possible, else Unlikely); any
  of them Unknown when the field was redacted.
- ``area``: a circle round the alert position (radius from :class:`CapConfig`), ``areaDesc`` naming
  the zones involved.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, TypeVar
from urllib.parse import quote

from concord.domain.alert import AlertKind, ImpactLevel
from concord.domain.errors import InvalidInput
from concord.egress._cap_validate import (
    ATOM_NS,
    CAP_NS,
    CAP_PROBLEM_CODES,
    CapProblem,
    CapProblemCode,
    cap_schema,
    validate_atom,
    validate_cap,
)
from concord.sharing import Full, Redacted, Released

__all__ = [
    "ATOM_MEDIA_TYPE",
    "ATOM_NS",
    "CAP_MEDIA_TYPE",
    "CAP_NS",
    "CAP_PROBLEM_CODES",
    "EVENT_NAMES",
    "AlertRelease",
    "CapConfig",
    "CapMessage",
    "CapProblem",
    "CapProblemCode",
    "build_atom_feed",
    "build_cap",
    "build_cap_message",
    "cap_identifier",
    "cap_schema",
    "cap_time",
    "certainty_for",
    "severity_for",
    "urgency_for",
    "validate_atom",
    "validate_cap",
]

CAP_MEDIA_TYPE: Final = "application/cap+xml"
ATOM_MEDIA_TYPE: Final = "application/atom+xml"

#: The one input the builders accept: an alert as the release gate released it to one viewer.
AlertRelease = Released[Full] | Released[Redacted]

MsgType = Literal["Alert", "Update", "Cancel"]
Urgency = Literal["Immediate", "Expected", "Future", "Past", "Unknown"]
Severity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
Certainty = Literal["Observed", "Likely", "Possible", "Unlikely", "Unknown"]

#: The CAP ``event`` of each alert kind: the kind in words.
EVENT_NAMES: Final[Mapping[AlertKind, str]] = {
    AlertKind.BORDER_CROSSING: "Border crossing",
    AlertKind.ZONE_ENTRY: "Zone entry",
    AlertKind.ZONE_EXIT: "Zone exit",
    AlertKind.LOITERING: "Loitering",
    AlertKind.AIS_DARK: "Vessel gone dark (AIS silent)",
    AlertKind.RENDEZVOUS: "Rendezvous",
    AlertKind.SPEED_ANOMALY: "Speed anomaly",
    AlertKind.COURSE_ANOMALY: "Course anomaly",
    AlertKind.UNIDENTIFIED_NEAR_BORDER: "Unidentified target near the border",
}

_SEVERITY: Final[Mapping[ImpactLevel, Severity]] = {
    ImpactLevel.VERY_HIGH: "Extreme",
    ImpactLevel.HIGH: "Severe",
    ImpactLevel.MEDIUM: "Moderate",
    ImpactLevel.LOW: "Minor",
}
_URGENCY: Final[Mapping[ImpactLevel, Urgency]] = {
    ImpactLevel.VERY_HIGH: "Immediate",
    ImpactLevel.HIGH: "Immediate",
    ImpactLevel.MEDIUM: "Expected",
    ImpactLevel.LOW: "Future",
}

_HEADLINE_CHARS: Final = 160  # CAP 1.2 asks for headlines under 160 characters
_DESCRIPTION_CHARS: Final = 8000
_SENDER_OK = re.compile(r"^[^\s,<&]+$")
# Characters XML 1.0 cannot carry at all (most C0 controls, surrogates, U+FFFE/U+FFFF).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ID_SAFE: Final = "-._~:"

_E = TypeVar("_E", AlertKind, ImpactLevel)


@dataclass(frozen=True, slots=True, kw_only=True)
class CapConfig:
    """How this deployment signs its CAP messages.

    ``sender`` identifies the deployment (e.g. ``concord@eastern-border``); ``radius_km`` is the radius
    of the circle drawn round an alert's position; ``expires_after_s`` how long an Alert or Update
    stays in force after it was sent unless updated again.
    """

    sender: str
    sender_name: str = "Concord"
    identifier_prefix: str = "concord.alert"
    radius_km: float = 1.0
    expires_after_s: float = 3600.0
    language: str = "en-US"

    def __post_init__(self) -> None:
        for name in ("sender", "identifier_prefix"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _SENDER_OK.match(value):
                raise InvalidInput(
                    f"{name} must be non-empty without spaces, commas, '<' or '&'", details={"field": name}
                )
        if not (math.isfinite(self.radius_km) and 0 <= self.radius_km <= 1000):
            raise InvalidInput("radius_km must be 0-1000", details={"field": "radius_km"})
        if not (math.isfinite(self.expires_after_s) and self.expires_after_s > 0):
            raise InvalidInput("expires_after_s must be positive", details={"field": "expires_after_s"})

    @classmethod
    def for_deployment(cls, name: str, **overrides: Any) -> CapConfig:
        """The configuration of a deployment called ``name`` (sender ``concord@<name>``)."""
        slug = re.sub(r"[^A-Za-z0-9.-]+", "-", name).strip("-.") or "concord"
        return cls(sender=f"concord@{slug}", **overrides)


@dataclass(frozen=True, slots=True, kw_only=True)
class CapMessage:
    """One CAP message as built for one viewer, with the facts a feed entry needs."""

    alert_id: str
    identifier: str
    sender: str
    sent: datetime
    status: Literal["Actual", "Exercise"]
    msg_type: MsgType
    headline: str
    xml: bytes


def cap_time(moment: datetime) -> str:
    """A CAP date-time: whole seconds in UTC with a numeric offset (``2026-11-25T18:00:00+00:00``)."""
    if moment.tzinfo is None:
        raise InvalidInput("CAP times must be timezone-aware", details={"field": "time"})
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def cap_identifier(config: CapConfig, alert_id: str, version: int | None) -> str:
    """The identifier of one version of one alert; ids are percent-encoded so none breaks the rules."""
    encoded = quote(alert_id, safe=_ID_SAFE)
    return f"{config.identifier_prefix}.{encoded}" + ("" if version is None else f".{version}")


def severity_for(impact: ImpactLevel | None) -> Severity:
    return "Unknown" if impact is None else _SEVERITY[impact]


def urgency_for(impact: ImpactLevel | None, *, ended: bool = False) -> Urgency:
    if ended:
        return "Past"
    return "Unknown" if impact is None else _URGENCY[impact]


def certainty_for(confidence: float | None) -> Certainty:
    if confidence is None or not math.isfinite(confidence):
        return "Unknown"
    if confidence >= 0.9:
        return "Observed"
    if confidence > 0.5:
        return "Likely"
    if confidence > 0.05:
        return "Possible"
    return "Unlikely"


# -- reading the released fields ---------------------------------------------------------------------


def _clean(text: str, limit: int | None = None) -> str:
    cleaned = _XML_ILLEGAL.sub("", text)
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    return cleaned


def _time_field(fields: Mapping[str, Any], name: str) -> datetime | None:
    value = fields.get(name)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _float_field(fields: Mapping[str, Any], name: str) -> float | None:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _enum_field(fields: Mapping[str, Any], name: str, enum: type[_E]) -> _E | None:
    value = fields.get(name)
    if not isinstance(value, str):
        return None
    try:
        return enum(value)
    except ValueError:
        return None


def _str_list(fields: Mapping[str, Any], name: str) -> list[str]:
    value = fields.get(name)
    if not isinstance(value, list | tuple):
        return []
    return [str(v) for v in value]


def _evidence_lines(evidence: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for key in sorted(evidence, key=str):
        value = evidence[key]
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        lines.append(f"{key}: {text}")
    return lines


# -- building ------------------------------------------------------------------------------------------


def _sub(parent: ET.Element, name: str, text: str) -> ET.Element:
    child = ET.SubElement(parent, f"{{{CAP_NS}}}{name}")
    child.text = _clean(text)
    return child


def _pair(parent: ET.Element, element: str, name: str, value: str) -> None:
    holder = ET.SubElement(parent, f"{{{CAP_NS}}}{element}")
    _sub(holder, "valueName", name)
    _sub(holder, "value", value)


def build_cap_message(released: AlertRelease, config: CapConfig) -> CapMessage:
    """The CAP 1.2 message of one released alert, for the viewer it was released to.

    Only ``released.record.fields`` (already redacted by the gate) and the record's marking and
    exercise flag are read. A record released without its fields (metadata only) becomes a message
    without ``info``.
    """
    if not isinstance(released, Released):
        # The type already says so; this catches untyped callers handing over raw rows or Withheld.
        raise TypeError("CAP messages are built only from values the release gate released")
    record = released.record
    if record.kind != "alert":
        raise InvalidInput(
            f"only alerts become CAP messages, not {record.kind!r} records", details={"field": "kind"}
        )
    fields = record.fields
    banner = record.marking.banner()
    exercise = record.exercise

    kind = _enum_field(fields, "kind", AlertKind)
    impact = _enum_field(fields, "impact", ImpactLevel)
    confidence = _float_field(fields, "confidence")
    raised_at = _time_field(fields, "raised_at")
    updated_at = _time_field(fields, "updated_at")
    ended_at = _time_field(fields, "ended_at")
    update_count = fields.get("update_count")
    version = update_count + 1 if isinstance(update_count, int) and update_count >= 0 else None
    ended = ended_at is not None or fields.get("status") == "ended"

    msg_type: MsgType = "Alert"
    if version is not None:
        msg_type = "Cancel" if ended else ("Update" if version > 1 else "Alert")
    sent = updated_at or released.at
    identifier = cap_identifier(config, record.record_id, version)
    status: Literal["Actual", "Exercise"] = "Exercise" if exercise else "Actual"

    alert = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(alert, "identifier", identifier)
    _sub(alert, "sender", config.sender)
    _sub(alert, "sent", cap_time(sent))
    _sub(alert, "status", status)
    _sub(alert, "msgType", msg_type)
    _sub(alert, "scope", "Restricted")
    _sub(alert, "restriction", banner)
    notes: list[str] = []
    if exercise:
        notes.append("EXERCISE EXERCISE EXERCISE: drill data, not a real event.")
    if kind is None:
        notes.append("Details withheld by the release policy.")
    if notes:
        _sub(alert, "note", " ".join(notes))
    if msg_type != "Alert" and raised_at is not None:
        original = cap_identifier(config, record.record_id, 1)
        _sub(alert, "references", f"{config.sender},{original},{cap_time(raised_at)}")

    headline = ""
    if kind is not None:
        event = EVENT_NAMES[kind]
        summary = fields.get("summary")
        summary_text = summary if isinstance(summary, str) and summary.strip() else event
        headline = _clean(("EXERCISE: " if exercise else "") + summary_text, _HEADLINE_CHARS)
        info = ET.SubElement(alert, f"{{{CAP_NS}}}info")
        _sub(info, "language", config.language)
        _sub(info, "category", "Security")
        _sub(info, "event", event)
        _sub(info, "responseType", "AllClear" if msg_type == "Cancel" else "Assess")
        _sub(info, "urgency", urgency_for(impact, ended=ended))
        _sub(info, "severity", severity_for(impact))
        _sub(info, "certainty", certainty_for(confidence))
        _pair(info, "eventCode", "concord:alert-kind", kind.value)
        _sub(info, "effective", cap_time(sent))
        if raised_at is not None:
            _sub(info, "onset", cap_time(raised_at))
        if msg_type != "Cancel":
            _sub(info, "expires", cap_time(sent + timedelta(seconds=config.expires_after_s)))
        _sub(info, "senderName", config.sender_name)
        _sub(info, "headline", headline)
        description = [summary_text]
        evidence = fields.get("evidence")
        if isinstance(evidence, Mapping) and evidence:
            description.append("Evidence:")
            description.extend(_evidence_lines(evidence))
        _sub(info, "description", _clean("\n".join(description), _DESCRIPTION_CHARS))
        _pair(info, "parameter", "concord:marking", banner)
        if impact is not None:
            _pair(info, "parameter", "EUROSUR:impact-level", impact.value)
        if confidence is not None:
            _pair(info, "parameter", "concord:confidence", f"{confidence:.3f}")
        track_ids = _str_list(fields, "track_ids")
        if track_ids:
            _pair(info, "parameter", "concord:track-ids", " ".join(track_ids))
        zone_ids = _str_list(fields, "zone_ids")
        if zone_ids:
            _pair(info, "parameter", "concord:zone-ids", " ".join(zone_ids))
        _add_area(info, fields, zone_ids, config)

    xml: bytes = ET.tostring(alert, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)
    return CapMessage(
        alert_id=record.record_id,
        identifier=identifier,
        sender=config.sender,
        sent=sent,
        status=status,
        msg_type=msg_type,
        headline=headline or (EVENT_NAMES[kind] if kind is not None else "Alert"),
        xml=xml,
    )


def _add_area(info: ET.Element, fields: Mapping[str, Any], zone_ids: list[str], config: CapConfig) -> None:
    lat = _float_field(fields, "lat")
    lon = _float_field(fields, "lon")
    has_point = lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180
    if not has_point and not zone_ids:
        return
    area = ET.SubElement(info, f"{{{CAP_NS}}}area")
    if zone_ids:
        description = "Zones: " + ", ".join(zone_ids)
    else:
        description = f"Around {lat:.5f}, {lon:.5f}"
    _sub(area, "areaDesc", _clean(description, 1000))
    if has_point:
        _sub(area, "circle", f"{lat:.6f},{lon:.6f} {config.radius_km:g}")


def build_cap(released: AlertRelease, config: CapConfig) -> bytes:
    """The CAP 1.2 XML (UTF-8 bytes) of one released alert."""
    return build_cap_message(released, config).xml


def _atom(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    # Unqualified names under a root that declares the Atom namespace as the default one: the
    # standard library cannot combine default_namespace with (unqualified) attributes.
    child = ET.SubElement(parent, name, attrs)
    if text is not None:
        child.text = _clean(text)
    return child


def build_atom_feed(
    released: Sequence[AlertRelease],
    config: CapConfig,
    *,
    feed_id: str,
    self_url: str,
    cap_url: Callable[[str], str],
    updated: datetime,
    title: str = "Concord alerts (CAP 1.2)",
    next_url: str | None = None,
) -> bytes:
    """An Atom feed with one entry per released alert, each linking to its CAP message.

    ``cap_url(alert_id)`` gives the address of an alert's CAP message; ``updated`` is the feed's time
    when it has no entries (else the newest entry's). ``next_url`` adds an RFC 5005 ``next`` link.
    """
    messages = [build_cap_message(item, config) for item in released]
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _atom(feed, "id", feed_id)
    _atom(feed, "title", title)
    newest = max((m.sent for m in messages), default=updated)
    _atom(feed, "updated", newest.astimezone(UTC).isoformat())
    author = _atom(feed, "author")
    _atom(author, "name", config.sender_name)
    if "@" in config.sender:
        _atom(author, "email", config.sender)
    _atom(feed, "link", rel="self", type=ATOM_MEDIA_TYPE, href=self_url)
    if next_url is not None:
        _atom(feed, "link", rel="next", type=ATOM_MEDIA_TYPE, href=next_url)
    for message in messages:
        entry = _atom(feed, "entry")
        _atom(entry, "id", f"urn:concord:cap:{quote(config.sender, safe='')}:{message.identifier}")
        _atom(entry, "title", message.headline)
        _atom(entry, "updated", message.sent.astimezone(UTC).isoformat())
        _atom(entry, "link", rel="alternate", type=CAP_MEDIA_TYPE, href=cap_url(message.alert_id))
        _atom(entry, "category", term=message.msg_type, label=f"{message.status} {message.msg_type}")
        _atom(entry, "summary", message.headline)
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document
