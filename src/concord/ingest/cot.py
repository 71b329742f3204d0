"""Cursor on Target (CoT) XML: TAK position reports, GeoChat, pings, and the TCP stream framer.

TAK clients (ATAK, iTAK, WinTAK, pytak) send CoT ``<event>`` documents back to back over TCP, each
optionally preceded by an XML declaration. :class:`CotStreamFramer` cuts that byte stream into single
events with bounded memory; :class:`CotDecoder` parses each event with defusedxml (no DTDs, no
entities, no external references) and returns:

- an :class:`Observation` for atoms (``a-*``: a friendly unit, a vehicle, a vessel, an aircraft ...);
- a :class:`ChatMessage` for GeoChat (``b-t-f``);
- a :class:`Ping` for keep-alives (``t-x-c-t``), answered with :func:`build_pong`;
- a :class:`Rejection` for everything else, with a stable code.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden, NotSupportedError
from defusedxml import ElementTree as SafeET

from concord.domain.errors import FeedParseError
from concord.domain.marking import Marking
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.domain.types import ensure_utc
from concord.ingest.base import (
    ChatMessage,
    DecodeResult,
    Ping,
    RejectCode,
    Rejection,
    TimeWindow,
    check_lat_lon,
    observation_id,
)

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "CotDecoder",
    "CotFrame",
    "CotStreamFramer",
    "FramerError",
    "build_pong",
    "format_cot_time",
    "parse_cot_time",
    "target_kind_for",
]

DEFAULT_MAX_EVENT_BYTES = 64 * 1024

# CoT writes 9999999 for "unknown" height and errors.
_UNKNOWN = 9_999_999.0
_MAX_UID_CHARS = 256
_MAX_TEXT_CHARS = 8192
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:?\d{2})?")
_FRIENDLY = frozenset({"f", "a"})  # friend, assumed friend


class FramerError(FeedParseError):
    """The CoT byte stream cannot be framed any more; the connection must be closed."""

    code = "feed-framing-error"


@dataclass(frozen=True, slots=True)
class CotFrame:
    """One complete ``<event>`` document cut from a stream, with its byte offset in that stream."""

    offset: int
    data: bytes


_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"
_EVENT_START = b"<event"
_EVENT_END = re.compile(rb"</event\s*>")
_NOT_WHITESPACE = re.compile(rb"[^ \t\r\n]")
_BETWEEN, _START_TAG, _BODY = 0, 1, 2


class CotStreamFramer:
    """Cuts a TCP byte stream into CoT events, keeping at most about two events' worth of bytes.

    Events may arrive several per read or split across reads, each optionally preceded by an XML
    declaration or comment. An event longer than ``max_event_bytes``, more than ``max_junk_bytes``
    of bytes that never start an event, or any DTD (``<!DOCTYPE``/``<!ENTITY``) makes the framer
    reject the rest of the stream: :attr:`must_close` turns true, a rejection says why, the buffer is
    dropped, and any later :meth:`feed` raises :class:`FramerError`. Events completed before that
    point are still returned. Work is linear in the bytes received, however they are split.
    """

    def __init__(
        self,
        *,
        feed: str = "cot",
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        max_junk_bytes: int | None = None,
    ) -> None:
        if max_event_bytes < 64:
            raise ValueError("max_event_bytes must be at least 64")
        self.feed_name = feed
        self.max_event_bytes = max_event_bytes
        self.max_junk_bytes = max_event_bytes if max_junk_bytes is None else max_junk_bytes
        self.must_close = False
        self._buf = bytearray()
        self._base = 0  # stream offset of self._buf[0]
        # Consumed bytes are only skipped over (self._head) and dropped once per slice, so many
        # small events in one read do not each pay for moving the rest of the buffer.
        self._head = 0
        self._state = _BETWEEN
        self._pos = 0  # resume position inside the current event (buffer index)
        self._quote = 0  # open quote character while scanning the start tag, 0 if none
        self._junk_bytes = 0
        self._junk_offset = 0
        self._rejections: list[Rejection] = []

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf) - self._head

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes read from the connection; return the complete events they finished."""
        return [frame.data for frame in self.feed_frames(data)]

    def feed_frames(self, data: bytes) -> list[CotFrame]:
        """Like :meth:`feed`, with each event's byte offset in the stream."""
        if self.must_close:
            raise FramerError(
                f"{self.feed_name}: the stream was rejected; close the connection",
                details={"feed": self.feed_name, "offset": self._base},
            )
        frames: list[CotFrame] = []
        view = memoryview(data)
        # Taking large reads in slices keeps the buffer bounded by the event limit, not the read size.
        step = self.max_event_bytes
        for start in range(0, len(view), step):
            self._buf += view[start : start + step]
            self._extract(frames)
            self._compact()
            if self.must_close:
                break
        return frames

    def take_rejections(self) -> list[Rejection]:
        """Return and forget the rejections recorded since the last call."""
        taken, self._rejections = self._rejections, []
        return taken

    def finish(self) -> list[Rejection]:
        """Signal the end of the stream; a half-received event is rejected as truncated."""
        self._flush_junk()
        if not self.must_close:
            rest = bytes(self._buf[self._head :]).strip(_WHITESPACE)
            if self._state != _BETWEEN or rest:
                self._reject("malformed-xml", f"stream ended inside an event ({len(rest)} bytes)")
        self._base += len(self._buf)
        self._buf = bytearray()
        self._head = 0
        self._state = _BETWEEN
        return self.take_rejections()

    # -- internals ---------------------------------------------------------------------------

    def _reject(self, code: RejectCode, reason: str, offset: int | None = None) -> None:
        where = self._base + self._head if offset is None else offset
        self._rejections.append(Rejection(feed=self.feed_name, code=code, reason=reason, offset=where))

    def _close(self, code: RejectCode, reason: str) -> None:
        self._flush_junk()
        self._reject(code, reason + "; closing the stream")
        self.must_close = True
        self._base += len(self._buf)
        self._buf = bytearray()
        self._head = 0

    def _compact(self) -> None:
        if self._head:
            del self._buf[: self._head]
            self._base += self._head
            self._pos = max(0, self._pos - self._head)
            self._head = 0

    def _skip_junk(self, count: int) -> None:
        if self._junk_bytes == 0:
            self._junk_offset = self._base + self._head
        self._junk_bytes += count
        self._head += count
        if self._junk_bytes > self.max_junk_bytes:
            self._close("oversized", f"more than {self.max_junk_bytes} bytes that are not CoT events")

    def _flush_junk(self) -> None:
        if self._junk_bytes:
            count, self._junk_bytes = self._junk_bytes, 0
            self._reject(
                "malformed-xml", f"skipped {count} bytes that are not a CoT event", self._junk_offset
            )

    def _extract(self, frames: list[CotFrame]) -> None:
        while not self.must_close:
            if self._state == _BETWEEN and not self._find_event_start():
                return
            if self._state == _START_TAG and not self._scan_start_tag(frames):
                return
            if self._state == _BODY and not self._scan_body(frames):
                return

    def _find_event_start(self) -> bool:
        """Skip whitespace, declarations and junk; True once ``<event`` sits at the head."""
        buf = self._buf
        while not self.must_close:
            content = _NOT_WHITESPACE.search(buf, self._head)
            if content is None:
                self._head = len(buf)
                return False
            head = self._head = content.start()
            if buf.startswith(_BOM, head):
                self._head += len(_BOM)
                continue
            if buf.startswith((b"<?", b"<!--"), head):
                closer = b"?>" if buf.startswith(b"<?", head) else b"-->"
                end = buf.find(closer, head + 2)
                if end == -1:
                    if len(buf) - head > self.max_event_bytes:
                        self._close("oversized", "an XML declaration or comment never ends")
                    return False
                self._head = end + len(closer)
                continue
            if buf.startswith(b"<!", head):
                self._close("entity-forbidden", "a DTD or entity declaration in a CoT stream")
                return False
            available = len(buf) - head
            if available <= len(_EVENT_START):
                if (_EVENT_START + b" ").startswith(bytes(buf[head:])):
                    return False  # could still become "<event "
            elif buf.startswith(_EVENT_START, head) and buf[head + len(_EVENT_START)] in b" \t\r\n>/":
                self._flush_junk()
                self._state = _START_TAG
                self._pos = head + len(_EVENT_START)
                self._quote = 0
                return True
            # Junk: drop up to the next "<" that could begin something meaningful.
            nxt = buf.find(b"<", head + 1)
            self._skip_junk((len(buf) if nxt == -1 else nxt) - head)
        return False

    def _too_long(self) -> bool:
        if len(self._buf) - self._head > self.max_event_bytes:
            self._close("oversized", f"a CoT event longer than {self.max_event_bytes} bytes")
            return True
        return False

    def _scan_start_tag(self, frames: list[CotFrame]) -> bool:
        # '>' may appear inside quoted attribute values, so the start tag is scanned quote-aware.
        buf = self._buf
        pos, quote, size = self._pos, self._quote, len(buf)
        while pos < size:
            char = buf[pos]
            if quote:
                if char == quote:
                    quote = 0
            elif char in (0x22, 0x27):  # " or '
                quote = char
            elif char == 0x3C:  # '<' cannot appear in a start tag
                self._state = _BETWEEN
                self._skip_junk(pos - self._head)
                return not self.must_close
            elif char == 0x3E:  # '>'
                break
            pos += 1
        if pos >= size:
            self._pos, self._quote = pos, quote
            self._too_long()
            return False
        if buf[pos - 1] == 0x2F:  # '/>' : a self-closed event
            return self._emit(frames, pos + 1)
        self._state = _BODY
        self._pos = pos + 1
        return True

    def _scan_body(self, frames: list[CotFrame]) -> bool:
        match = _EVENT_END.search(self._buf, self._pos)
        if match is None:
            size = len(self._buf)
            # Resume near the end, but not past a "</" that may be the start of a split end tag.
            partial = self._buf.rfind(b"</", self._pos, size)
            self._pos = partial if partial != -1 and size - partial < 64 else max(self._pos, size - 8)
            self._too_long()
            return False
        return self._emit(frames, match.end())

    def _emit(self, frames: list[CotFrame], end: int) -> bool:
        start = self._head
        if end - start > self.max_event_bytes:
            self._close("oversized", f"a CoT event longer than {self.max_event_bytes} bytes")
            return False
        frames.append(CotFrame(offset=self._base + start, data=bytes(self._buf[start:end])))
        self._head = end
        self._state = _BETWEEN
        self._pos = 0
        self._quote = 0
        return True


def parse_cot_time(text: str) -> datetime:
    """Parse a CoT (XML Schema dateTime) timestamp; no zone means UTC, as TAK clients intend."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a CoT time: {text[:40]!r}")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = (match.group(7) or "")[:6].ljust(6, "0")
    zone = match.group(8)
    tz: timezone = UTC
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    moment = datetime(year, month, day, hour, minute, second, int(fraction), tzinfo=tz)
    return moment.astimezone(UTC)


def format_cot_time(moment: datetime) -> str:
    """Format an aware time the way TAK clients write it: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def build_pong(*, now: datetime, stale_s: float = 20.0, uid: str = "takPong") -> bytes:
    """The ``t-x-c-t-r`` event a TAK server sends back for a ping, as UTF-8 bytes."""
    event = ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": uid,
            "type": "t-x-c-t-r",
            "how": "h-g-i-g-o",
            "time": format_cot_time(now),
            "start": format_cot_time(now),
            "stale": format_cot_time(now + timedelta(seconds=stale_s)),
        },
    )
    ET.SubElement(
        event, "point", {"lat": "0.0", "lon": "0.0", "hae": "0.0", "ce": "9999999.0", "le": "9999999.0"}
    )
    ET.SubElement(event, "detail")
    pong: bytes = ET.tostring(event, encoding="utf-8", xml_declaration=False)
    return pong


def target_kind_for(cot_type: str) -> TargetKind:
    """Map a CoT atom type (``a-<affiliation>-<dimension>-<function...>``) to a :class:`TargetKind`.

    Ground units are UNIT only when friendly (UNIT means one of ours); hostile or unknown dismounted
    infantry is PERSON; ground vehicles (``G-E-V``) are VEHICLE; sea surface and subsurface are
    VESSEL, except leisure craft (``S-X-R``), the small boats of smuggling runs, which are BOAT;
    air is AIRCRAFT. Anything else is UNKNOWN.
    """
    atoms = cot_type.split("-")
    if len(atoms) < 3 or atoms[0] != "a":
        return TargetKind.UNKNOWN
    affiliation, dimension, function = atoms[1], atoms[2], atoms[3:]
    if dimension == "A":
        return TargetKind.AIRCRAFT
    if dimension == "S":
        return TargetKind.BOAT if function[:2] == ["X", "R"] else TargetKind.VESSEL
    if dimension == "U":
        return TargetKind.VESSEL
    if dimension == "G":
        if function[:2] == ["E", "V"]:
            return TargetKind.VEHICLE
        if function[:1] == ["U"]:
            if affiliation in _FRIENDLY:
                return TargetKind.UNIT
            if function[:3] == ["U", "C", "I"]:
                return TargetKind.PERSON
    return TargetKind.UNKNOWN


class _Rejected(Exception):
    """Internal: one event refused with a code (turned into a Rejection, never escapes)."""

    def __init__(self, code: RejectCode, reason: str) -> None:
        super().__init__(reason)
        self.code: RejectCode = code
        self.reason = reason


def _number(text: str | None) -> float | None:
    # float() would also take "nan", "inf" and "1_0"; CoT numbers are plain decimals.
    if text is None:
        return None
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _bounded(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text[:limit] if text else None


class CotDecoder:
    """Decodes CoT events into observations, chat messages and pings for one agency's TAK feed."""

    def __init__(
        self,
        agency: str,
        marking: Marking | None = None,
        *,
        feed: str | None = None,
        window: TimeWindow | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        unknown_ce_sigma_m: float = 100.0,
        exercise: bool = False,
    ) -> None:
        if not agency:
            raise ValueError("a decoder needs an agency")
        if not (math.isfinite(unknown_ce_sigma_m) and unknown_ce_sigma_m > 0):
            raise ValueError("unknown_ce_sigma_m must be a positive number")
        self.agency = agency
        self.marking = marking if marking is not None else Marking.default_for(agency)
        self._feed = feed if feed is not None else f"cot:{agency}"
        self.window = window if window is not None else TimeWindow()
        self.max_event_bytes = max_event_bytes
        self.unknown_ce_sigma_m = unknown_ce_sigma_m
        self.exercise = exercise

    @property
    def feed(self) -> str:
        return self._feed

    def new_framer(self) -> CotStreamFramer:
        """A framer with this decoder's limits, for one TCP connection."""
        return CotStreamFramer(feed=self._feed, max_event_bytes=self.max_event_bytes)

    def decode(self, data: bytes, *, received_at: datetime) -> DecodeResult:
        """Decode one or more events given back to back (a file, a request body, a read)."""
        framer = self.new_framer()
        results: list[DecodeResult] = []
        line, counted_to = 1, 0
        for frame in framer.feed_frames(data):
            # Count newlines incrementally: a body of many events stays linear.
            line += data.count(b"\n", counted_to, frame.offset)
            counted_to = frame.offset
            results.append(
                self.decode_event(frame.data, received_at=received_at, offset=frame.offset, line=line)
            )
        rejections = framer.take_rejections() + framer.finish()
        results.append(DecodeResult(rejections=tuple(rejections)))
        return DecodeResult.combine(results)

    def decode_frames(self, frames: list[CotFrame], *, received_at: datetime) -> DecodeResult:
        """Decode events already cut by a :class:`CotStreamFramer`."""
        return DecodeResult.combine(
            self.decode_event(frame.data, received_at=received_at, offset=frame.offset) for frame in frames
        )

    def decode_event(
        self, data: bytes, *, received_at: datetime, offset: int | None = None, line: int | None = None
    ) -> DecodeResult:
        """Decode exactly one XML document holding one ``<event>``."""
        received_at = ensure_utc(received_at)
        try:
            return self._decode_event(data, received_at)
        except _Rejected as rejected:
            return DecodeResult(
                rejections=(
                    Rejection(
                        feed=self._feed, code=rejected.code, reason=rejected.reason, line=line, offset=offset
                    ),
                )
            )

    def _decode_event(self, data: bytes, received_at: datetime) -> DecodeResult:
        if len(data) > self.max_event_bytes:
            raise _Rejected("oversized", f"event of {len(data)} bytes exceeds {self.max_event_bytes}")
        root = self._parse(data)
        if root.tag != "event":
            raise _Rejected("malformed-xml", f"root element is <{str(root.tag)[:40]}>, not <event>")
        uid = _bounded(root.get("uid"), _MAX_UID_CHARS + 1)
        cot_type = _bounded(root.get("type"), 128)
        if not uid:
            raise _Rejected("missing-field", "event has no uid")
        if len(uid) > _MAX_UID_CHARS:
            raise _Rejected("bad-value", f"event uid longer than {_MAX_UID_CHARS} characters")
        if not cot_type:
            raise _Rejected("missing-field", "event has no type")
        if cot_type == "t-x-c-t":
            return DecodeResult(pings=(self._ping(root, uid, received_at),))
        if cot_type == "b-t-f":
            return DecodeResult(chats=(self._chat(root, uid, received_at),))
        if cot_type.startswith("a-"):
            return DecodeResult(observations=(self._observation(root, uid, cot_type, received_at),))
        raise _Rejected("unsupported-type", f"CoT type {cot_type[:40]!r} is not a position, chat or ping")

    def _parse(self, data: bytes) -> ET.Element:
        try:
            return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as exc:
            raise _Rejected(
                "entity-forbidden", f"DTDs and entities are refused ({type(exc).__name__})"
            ) from exc
        except NotSupportedError as exc:
            raise _Rejected("entity-forbidden", "XML feature refused by the safe parser") from exc
        except ET.ParseError as exc:
            message = str(exc)
            if "undefined entity" in message:
                raise _Rejected("entity-forbidden", f"entity reference: {message[:120]}") from exc
            raise _Rejected("malformed-xml", f"not well-formed XML: {message[:120]}") from exc
        except (ValueError, LookupError, RecursionError) as exc:
            raise _Rejected("malformed-xml", f"unreadable XML: {str(exc)[:120]}") from exc

    def _time(self, root: ET.Element, name: str, *, required: bool) -> datetime | None:
        text = root.get(name)
        if text is None or not text.strip():
            if required:
                raise _Rejected("missing-field", f"event has no {name} attribute")
            return None
        try:
            return parse_cot_time(text)
        except (ValueError, OverflowError) as exc:
            raise _Rejected("bad-value", f"{name}={text[:40]!r} is not a valid time") from exc

    def _checked_time(self, root: ET.Element, received_at: datetime) -> datetime:
        moment = self._time(root, "time", required=True)
        assert moment is not None  # required=True raises instead of returning None
        problem = self.window.check(moment, received_at)
        if problem is not None:
            raise _Rejected("time-out-of-range", problem)
        return moment

    def _ping(self, root: ET.Element, uid: str, received_at: datetime) -> Ping:
        return Ping(
            uid=uid,
            source=self._feed,
            sent_at=self._time(root, "time", required=False),
            received_at=received_at,
        )

    def _chat(self, root: ET.Element, uid: str, received_at: datetime) -> ChatMessage:
        sent_at = self._checked_time(root, received_at)
        detail = root.find("detail")
        if detail is None:
            raise _Rejected("missing-field", "GeoChat event has no <detail>")
        chat = detail.find("__chat")
        remarks = detail.find("remarks")
        if chat is None:
            raise _Rejected("missing-field", "GeoChat event has no <__chat>")
        if remarks is None:
            raise _Rejected("missing-field", "GeoChat event has no <remarks> (the message text)")
        chatroom = _bounded(chat.get("chatroom"), 256)
        if not chatroom:
            raise _Rejected("missing-field", "GeoChat event has no chatroom")
        text = remarks.text or ""
        if len(text) > _MAX_TEXT_CHARS:
            raise _Rejected("oversized", f"chat message longer than {_MAX_TEXT_CHARS} characters")
        link = detail.find("link")
        group = chat.find("chatgrp")
        sender_uid = _bounded(link.get("uid") if link is not None else None, _MAX_UID_CHARS)
        if sender_uid is None and group is not None:
            sender_uid = _bounded(group.get("uid0"), _MAX_UID_CHARS)
        return ChatMessage(
            id=uid,
            source=self._feed,
            agency=self.agency,
            marking=self.marking,
            chatroom=chatroom,
            sender_uid=sender_uid,
            sender_callsign=_bounded(chat.get("senderCallsign"), 128),
            text=text,
            sent_at=sent_at,
            received_at=received_at,
            chat_id=_bounded(chat.get("id"), _MAX_UID_CHARS),
            exercise=self.exercise,
        )

    def _observation(self, root: ET.Element, uid: str, cot_type: str, received_at: datetime) -> Observation:
        point = root.find("point")
        if point is None:
            raise _Rejected("missing-field", "event has no <point>")
        lat_text, lon_text = point.get("lat"), point.get("lon")
        if lat_text is None or lon_text is None:
            raise _Rejected("bad-coordinate", "point has no lat or lon")
        lat, lon = _number(lat_text), _number(lon_text)
        if lat is None or lon is None:
            raise _Rejected(
                "bad-coordinate", f"point lat={lat_text[:30]!r} lon={lon_text[:30]!r} is not a number"
            )
        problem = check_lat_lon(lat, lon)
        if problem is not None:
            raise _Rejected("bad-coordinate", problem)
        observed_at = self._checked_time(root, received_at)

        hae = _number(point.get("hae"))
        ce = _number(point.get("ce"))
        sigma_m = ce if ce is not None and 0.0 < ce < _UNKNOWN else self.unknown_ce_sigma_m
        attributes: dict[str, object] = {"cot_type": cot_type}
        how = _bounded(root.get("how"), 64)
        if how:
            attributes["how"] = how
        for name in ("start", "stale"):
            moment = self._time(root, name, required=False)
            if moment is not None:
                attributes[name] = moment.isoformat()
        le = _number(point.get("le"))
        if le is not None and 0.0 < le < _UNKNOWN:
            attributes["le_m"] = le  # 1-sigma vertical error
        atoms = cot_type.split("-")
        if len(atoms) > 1 and atoms[1]:
            attributes["affiliation"] = atoms[1][:8]

        callsign = None
        course_deg = speed_mps = None
        detail = root.find("detail")
        if detail is not None:
            contact = detail.find("contact")
            if contact is not None:
                callsign = _bounded(contact.get("callsign"), 128)
            group = detail.find("__group")
            if group is not None:
                for key in ("name", "role"):
                    value = _bounded(group.get(key), 128)
                    if value:
                        attributes["group" if key == "name" else "role"] = value
            track = detail.find("track")
            if track is not None:
                course = _number(track.get("course"))
                speed = _number(track.get("speed"))
                # Clients write a negative speed (iTAK: -1.0) when they do not know it.
                course_deg = course % 360.0 if course is not None else None
                speed_mps = speed if speed is not None and speed >= 0.0 else None
            remarks = detail.find("remarks")
            if remarks is not None and remarks.text and remarks.text.strip():
                attributes["remarks"] = remarks.text.strip()[:_MAX_TEXT_CHARS]
        identity = f"tak:{uid}"
        source = self._feed
        return Observation(
            id=observation_id(source, identity, observed_at, lat, lon),
            source=source,
            agency=self.agency,
            sensor=SensorKind.TAK,
            observed_at=observed_at,
            lat=lat,
            lon=lon,
            marking=self.marking,
            position_sigma_m=sigma_m,
            hae_m=hae if hae is not None and abs(hae) < _UNKNOWN else None,
            course_deg=course_deg,
            speed_mps=speed_mps,
            identity=identity,
            callsign=callsign,
            target=target_kind_for(cot_type),
            exercise=self.exercise,
            attributes=attributes,
        )
