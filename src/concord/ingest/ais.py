"""AIS over NMEA 0183 (``!AIVDM``/``!AIVDO``): vessel positions and the static data joined to them.

Sentences are read with pyais. Multi-part messages are assembled per (channel, sequence id) and
dropped as ``incomplete`` when their parts do not all arrive within ``fragment_timeout_s``.
Position reports (types 1, 2, 3, 18, 19, 27, and 9 from SAR aircraft) become :class:`Observation`
values; static and voyage data (types 5, 19, 24) update a :class:`VesselRegistry` so later positions
carry name and callsign.

The time of a sentence is, in order of preference: an NMEA 4.0 tag block ``c:`` field, a leading time
column (ISO 8601 or Unix seconds, as in recorded files), else the time the line was received.
:func:`iter_lines` reads a binary stream line by line with a maximum line length, skipping an
overlong line to the next newline without holding it in memory.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from pyais.constants import ShipType
from pyais.exceptions import AISBaseException
from pyais.messages import AISSentence, NMEASentenceFactory

from concord.domain.marking import Marking
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.domain.types import ensure_utc
from concord.ingest.base import (
    DecodeResult,
    RejectCode,
    Rejection,
    TimeWindow,
    VesselInfo,
    check_lat_lon,
    observation_id,
)

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "KNOT_MPS",
    "AisDecoder",
    "Line",
    "LineSplitter",
    "VesselRegistry",
    "iter_lines",
]

DEFAULT_MAX_LINE_BYTES = 1024  # an NMEA sentence is at most 82 characters; tag blocks add a few dozen
KNOT_MPS = 1852.0 / 3600.0
POSITION_TYPES = frozenset({1, 2, 3, 9, 18, 19, 27})
SAR_AIRCRAFT_TYPE = 9
# 1-sigma horizontal error from the position accuracy flag: "high" means better than 10 m (95 %),
# "low" means worse; long-range reports (type 27) are rounded to 1/10 minute (about 185 m).
SIGMA_HIGH_ACCURACY_M = 5.0
SIGMA_LOW_ACCURACY_M = 25.0
SIGMA_LONG_RANGE_M = 100.0


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a stream: 1-based number, byte offset of its start, and its bytes (no newline).

    ``too_long`` lines carry no data, only their length; the reader skipped them.
    """

    number: int
    offset: int
    data: bytes
    too_long: bool = False
    length: int = 0


class LineSplitter:
    """Splits pushed bytes into lines of at most ``max_line_bytes``; memory stays under that limit."""

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self.max_line_bytes = max_line_bytes
        self._buf = bytearray()
        self._skipped = 0  # bytes of the current overlong line seen so far, 0 if not skipping
        self._number = 1
        self._line_start = 0
        self._consumed = 0

    def feed(self, chunk: bytes) -> list[Line]:
        lines: list[Line] = []
        pos = 0
        while True:
            newline = chunk.find(b"\n", pos)
            end = len(chunk) if newline == -1 else newline
            piece_len = end - pos
            if self._skipped or len(self._buf) + piece_len > self.max_line_bytes:
                # Only the length of an overlong line is kept, never its bytes.
                self._skipped = (self._skipped or len(self._buf)) + piece_len
                self._buf.clear()
            else:
                self._buf += chunk[pos:end]
            if newline == -1:
                break
            lines.append(self._complete(self._consumed + newline + 1))
            pos = newline + 1
        self._consumed += len(chunk)
        return lines

    def finish(self) -> list[Line]:
        """The last line, when the stream does not end with a newline."""
        if self._buf or self._skipped:
            return [self._complete(self._consumed)]
        return []

    def _complete(self, next_start: int) -> Line:
        if self._skipped:
            line = Line(
                number=self._number, offset=self._line_start, data=b"", too_long=True, length=self._skipped
            )
        else:
            data = bytes(self._buf).rstrip(b"\r")
            line = Line(number=self._number, offset=self._line_start, data=data, length=len(data))
        self._buf.clear()
        self._skipped = 0
        self._number += 1
        self._line_start = next_start
        return line


def iter_lines(
    stream: BinaryIO, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, chunk_bytes: int = 64 * 1024
) -> Iterator[Line]:
    """Yield the lines of a binary stream; an overlong line is skipped cheaply (``too_long=True``)."""
    splitter = LineSplitter(max_line_bytes)
    while True:
        chunk = stream.read(chunk_bytes)
        if not chunk:
            break
        yield from splitter.feed(chunk)
    yield from splitter.finish()


class VesselRegistry:
    """Latest static data per MMSI (name, callsign, ship type, IMO, destination), bounded LRU."""

    def __init__(self, max_vessels: int = 200_000) -> None:
        self.max_vessels = max_vessels
        self._vessels: OrderedDict[int, VesselInfo] = OrderedDict()

    def __len__(self) -> int:
        return len(self._vessels)

    def get(self, mmsi: int) -> VesselInfo | None:
        return self._vessels.get(mmsi)

    def update(self, mmsi: int, *, updated_at: datetime, **fields: Any) -> VesselInfo:
        """Merge the non-empty ``fields`` into the vessel's entry and return the new entry."""
        current = self._vessels.pop(mmsi, None) or VesselInfo(mmsi=mmsi)
        known = {key: value for key, value in fields.items() if value not in (None, "")}
        entry = replace(current, updated_at=updated_at, **known)
        self._vessels[mmsi] = entry
        while len(self._vessels) > self.max_vessels:
            self._vessels.popitem(last=False)
        return entry


class _Rejected(Exception):
    """Internal: a line refused with a code (turned into a Rejection, never escapes)."""

    def __init__(self, code: RejectCode, reason: str) -> None:
        super().__init__(reason)
        self.code: RejectCode = code
        self.reason = reason


@dataclass(slots=True)
class _Pending:
    fragments: dict[int, AISSentence]
    count: int
    first_at: datetime
    line: int | None
    offset: int | None


@dataclass(slots=True)
class _Where:
    line: int | None
    offset: int | None
    at: datetime
    received_at: datetime
    channel: str | None = None


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = value.replace("@", " ").strip()
    return cleaned or None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


class AisDecoder:
    """Decodes AIS NMEA lines for one agency's feed; keeps multi-part and vessel state across calls."""

    def __init__(
        self,
        agency: str,
        marking: Marking | None = None,
        *,
        feed: str | None = None,
        window: TimeWindow | None = None,
        registry: VesselRegistry | None = None,
        fragment_timeout_s: float = 10.0,
        max_pending: int = 1024,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        exercise: bool = False,
    ) -> None:
        if not agency:
            raise ValueError("a decoder needs an agency")
        self.agency = agency
        self.marking = marking if marking is not None else Marking.default_for(agency)
        self._feed = feed if feed is not None else f"ais:{agency}"
        self.window = window if window is not None else TimeWindow()
        self.registry = registry if registry is not None else VesselRegistry()
        self.fragment_timeout = timedelta(seconds=fragment_timeout_s)
        self.max_pending = max_pending
        self.max_line_bytes = max_line_bytes
        self.exercise = exercise
        self._pending: OrderedDict[tuple[str, int | None], _Pending] = OrderedDict()
        self._stream_lines = LineSplitter(max_line_bytes)

    @property
    def feed(self) -> str:
        return self._feed

    @property
    def pending_messages(self) -> int:
        return len(self._pending)

    def decode_stream(self, data: bytes, *, received_at: datetime) -> DecodeResult:
        """Decode bytes read from a live connection; a line split across reads is kept until complete."""
        return self.decode_lines(self._stream_lines.feed(data), received_at=received_at)

    def decode(self, data: bytes, *, received_at: datetime) -> DecodeResult:
        """Decode a self-contained body of lines (a request body, a small file); the last line may
        lack its newline."""
        splitter = LineSplitter(self.max_line_bytes)
        lines = splitter.feed(data) + splitter.finish()
        return self.decode_lines(lines, received_at=received_at)

    def decode_lines(self, lines: list[Line], *, received_at: datetime) -> DecodeResult:
        return DecodeResult.combine(self.decode_line(line, received_at=received_at) for line in lines)

    def decode_line(self, line: Line, *, received_at: datetime) -> DecodeResult:
        received_at = ensure_utc(received_at)
        if line.too_long:
            return self._rejection(
                "oversized",
                f"line of {line.length} bytes exceeds {self.max_line_bytes}",
                line.number,
                line.offset,
            )
        try:
            return self._decode_line(line, received_at)
        except _Rejected as rejected:
            return self._rejection(rejected.code, rejected.reason, line.number, line.offset)

    def finish(self) -> DecodeResult:
        """End of input: every multi-part message still waiting for parts is incomplete."""
        rejections = [self._incomplete(pending) for pending in self._pending.values()]
        self._pending.clear()
        return DecodeResult(rejections=tuple(rejections))

    # -- internals ---------------------------------------------------------------------------

    def _rejection(self, code: RejectCode, reason: str, line: int | None, offset: int | None) -> DecodeResult:
        return DecodeResult(
            rejections=(Rejection(feed=self._feed, code=code, reason=reason, line=line, offset=offset),)
        )

    def _incomplete(self, pending: _Pending) -> Rejection:
        return Rejection(
            feed=self._feed,
            code="incomplete",
            reason=f"multi-part message got {len(pending.fragments)} of {pending.count} parts",
            line=pending.line,
            offset=pending.offset,
        )

    def _expire(self, now: datetime) -> list[Rejection]:
        expired = [
            key for key, pending in self._pending.items() if now - pending.first_at > self.fragment_timeout
        ]
        return [self._incomplete(self._pending.pop(key)) for key in expired]

    def _decode_line(self, line: Line, received_at: datetime) -> DecodeResult:
        text = line.data.strip()
        if not text or text.startswith(b"#"):
            return DecodeResult()
        at, sentence_bytes = self._split_time(text, received_at)
        if sentence_bytes.startswith(b"$"):
            raise _Rejected("unsupported-type", "not an AIS sentence (NMEA '$' sentence)")
        try:
            sentence = NMEASentenceFactory.produce(sentence_bytes)
        except AISBaseException as exc:
            raise _Rejected("malformed-nmea", f"not an AIVDM/AIVDO sentence: {str(exc)[:80]}") from exc
        except (ValueError, IndexError, TypeError, UnicodeDecodeError) as exc:
            raise _Rejected("malformed-nmea", f"unreadable NMEA sentence: {str(exc)[:80]}") from exc
        if not isinstance(sentence, AISSentence):
            raise _Rejected("unsupported-type", f"NMEA sentence {sentence.type!r} is not AIS")
        if sentence.tag_block is not None:
            at = self._tag_block_time(sentence, at)
        if not sentence.is_valid:
            raise _Rejected("bad-checksum", "NMEA checksum does not match the sentence")
        problem = self.window.check(at, received_at)
        if problem is not None:
            raise _Rejected("time-out-of-range", problem)
        expired = self._expire(at)
        where = _Where(line=line.number, offset=line.offset, at=at, received_at=received_at)
        if sentence.frag_cnt == 1:
            result = self._decode_message(sentence, where)
        else:
            result = self._add_fragment(sentence, where)
        if expired:
            result = DecodeResult(rejections=tuple(expired)).merge(result)
        return result

    def _split_time(self, text: bytes, received_at: datetime) -> tuple[datetime, bytes]:
        if text[:1] in (b"!", b"\\", b"$"):
            return received_at, text
        starts = [i for i in (text.find(b"!"), text.find(b"\\"), text.find(b"$")) if i > 0]
        if not starts:
            raise _Rejected("malformed-nmea", "line holds no NMEA sentence")
        cut = min(starts)
        column = text[:cut].strip(b" \t,;").decode("ascii", errors="replace")
        return self._parse_time_column(column), text[cut:]

    @staticmethod
    def _parse_time_column(column: str) -> datetime:
        try:
            seconds = float(column)
        except ValueError:
            seconds = math.nan
        try:
            if math.isfinite(seconds) and column.replace(".", "", 1).isdigit():
                # Recordings write seconds or milliseconds since the epoch.
                return datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, tz=UTC)
            moment = datetime.fromisoformat(column)
        except (ValueError, OverflowError, OSError) as exc:
            raise _Rejected("malformed-nmea", f"leading column {column[:40]!r} is not a time") from exc
        # Recordings without a zone are in UTC, as AIS time is.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def _tag_block_time(self, sentence: AISSentence, default: datetime) -> datetime:
        block = sentence.tag_block
        assert block is not None  # checked by the caller
        block.init()
        if not block.is_valid:
            raise _Rejected("bad-checksum", "NMEA tag block checksum does not match")
        stamp = block.receiver_timestamp
        if stamp is None:
            return default
        try:
            seconds = float(stamp)
            if not math.isfinite(seconds):
                raise ValueError(stamp)
            return datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, tz=UTC)
        except (ValueError, OverflowError, OSError) as exc:
            raise _Rejected("bad-value", f"tag block time c:{stamp[:20]!r} is not Unix seconds") from exc

    def _add_fragment(self, sentence: AISSentence, where: _Where) -> DecodeResult:
        key = (sentence.channel, sentence.seq_id)
        rejections: list[Rejection] = []
        pending = self._pending.get(key)
        if pending is not None and (
            pending.count != sentence.frag_cnt or sentence.frag_num in pending.fragments
        ):
            # A new message reused the sequence id: the old one will never complete.
            rejections.append(self._incomplete(self._pending.pop(key)))
            pending = None
        if pending is None:
            pending = _Pending(
                fragments={}, count=sentence.frag_cnt, first_at=where.at, line=where.line, offset=where.offset
            )
            self._pending[key] = pending
            while len(self._pending) > self.max_pending:
                rejections.append(self._incomplete(self._pending.popitem(last=False)[1]))
        pending.fragments[sentence.frag_num] = sentence
        if len(pending.fragments) < pending.count:
            return DecodeResult(rejections=tuple(rejections))
        del self._pending[key]
        parts = [pending.fragments[number] for number in sorted(pending.fragments)]
        where.at, where.line, where.offset = pending.first_at, pending.line, pending.offset
        try:
            message = AISSentence.assemble_from_iterable(parts)
        except (AISBaseException, ValueError, IndexError) as exc:
            raise _Rejected("malformed-nmea", f"multi-part message cannot be assembled: {exc}") from exc
        result = self._decode_message(message, where)
        return DecodeResult(rejections=tuple(rejections)).merge(result) if rejections else result

    def _decode_message(self, sentence: AISSentence, where: _Where) -> DecodeResult:
        try:
            decoded = sentence.decode().asdict(enum_as_int=True)
        except AISBaseException as exc:
            name = type(exc).__name__
            if name == "UnknownMessageException":
                raise _Rejected("unsupported-type", f"AIS message type {sentence.ais_id} is unknown") from exc
            if name == "MissingPayloadException":
                raise _Rejected("missing-field", "AIS sentence has an empty payload") from exc
            raise _Rejected("malformed-nmea", f"AIS payload cannot be decoded: {str(exc)[:80]}") from exc
        except (ValueError, IndexError, TypeError, KeyError, OverflowError) as exc:
            raise _Rejected("malformed-nmea", f"AIS payload cannot be decoded: {str(exc)[:80]}") from exc
        where.channel = sentence.channel
        msg_type = _int(decoded.get("msg_type"))
        mmsi = _int(decoded.get("mmsi"))
        if msg_type is None or mmsi is None:
            raise _Rejected("malformed-nmea", "AIS payload too short for a message type and MMSI")
        if not 0 < mmsi <= 999_999_999:
            raise _Rejected("bad-value", f"MMSI {mmsi} is not valid")
        vessels: list[VesselInfo] = []
        if msg_type in (5, 19, 24):
            vessel = self._update_registry(msg_type, mmsi, decoded, where.at)
            if vessel is not None:
                vessels.append(vessel)
        if msg_type in POSITION_TYPES:
            observation = self._observation(msg_type, mmsi, decoded, where)
            return DecodeResult(observations=(observation,), vessels=tuple(vessels))
        if vessels:
            return DecodeResult(vessels=tuple(vessels))
        raise _Rejected("unsupported-type", f"AIS message type {msg_type} carries no position or ship data")

    def _update_registry(
        self, msg_type: int, mmsi: int, decoded: dict[str, Any], at: datetime
    ) -> VesselInfo | None:
        fields: dict[str, Any] = {}
        if msg_type in (5, 19) or (msg_type == 24 and decoded.get("partno") == 0):
            fields["name"] = _text(decoded.get("shipname"))
        if msg_type in (5, 24):
            fields["callsign"] = _text(decoded.get("callsign"))
        if msg_type == 5:
            imo = _int(decoded.get("imo"))
            fields["imo"] = imo if imo else None
            fields["destination"] = _text(decoded.get("destination"))
        ship_type = _int(decoded.get("ship_type"))
        if ship_type:
            fields["ship_type"] = ship_type
            fields["ship_type_text"] = _ship_type_text(ship_type)
        if not any(value not in (None, "") for value in fields.values()):
            return None
        return self.registry.update(mmsi, updated_at=at, **fields)

    def _observation(self, msg_type: int, mmsi: int, decoded: dict[str, Any], where: _Where) -> Observation:
        lat, lon = decoded.get("lat"), decoded.get("lon")
        if not isinstance(lat, int | float) or not isinstance(lon, int | float):
            raise _Rejected("bad-coordinate", "position report has no latitude or longitude")
        lat, lon = float(lat), float(lon)
        if lat == 91.0 or lon == 181.0:
            raise _Rejected("bad-coordinate", "position not available (lat 91 / lon 181)")
        problem = check_lat_lon(lat, lon)
        if problem is not None:
            raise _Rejected("bad-coordinate", problem)
        long_range = msg_type == 27
        speed_kn = decoded.get("speed")
        course = decoded.get("course")
        # "Not available" sentinels: long range 63 kn, SAR aircraft 1023 kn, others 102.3 kn.
        speed_na = 63.0 if long_range else 1023.0 if msg_type == SAR_AIRCRAFT_TYPE else 102.3
        course_na = 511.0 if long_range else 360.0
        speed_mps = (
            float(speed_kn) * KNOT_MPS
            if isinstance(speed_kn, int | float) and 0.0 <= float(speed_kn) < speed_na
            else None
        )
        course_deg = (
            float(course)
            if isinstance(course, int | float) and 0.0 <= float(course) < min(course_na, 360.0)
            else None
        )
        if long_range:
            sigma_m = SIGMA_LONG_RANGE_M
        else:
            sigma_m = SIGMA_HIGH_ACCURACY_M if decoded.get("accuracy") else SIGMA_LOW_ACCURACY_M
        attributes: dict[str, Any] = {"ais_type": msg_type, "mmsi": mmsi}
        altitude = _int(decoded.get("alt"))
        # SAR aircraft report GNSS altitude in metres; 4095 means not available.
        hae_m = (
            float(altitude)
            if msg_type == SAR_AIRCRAFT_TYPE and altitude is not None and altitude < 4095
            else None
        )
        heading = _int(decoded.get("heading"))
        if heading is not None and 0 <= heading < 360:
            attributes["heading_deg"] = heading
        status = _int(decoded.get("status"))
        if status is not None and msg_type in (1, 2, 3, 27):
            attributes["nav_status"] = status
        if where.channel:
            attributes["channel"] = where.channel
        vessel = self.registry.get(mmsi)
        callsign = None
        if vessel is not None:
            callsign = vessel.callsign
            for key, value in (
                ("vessel_name", vessel.name),
                ("imo", vessel.imo),
                ("ship_type", vessel.ship_type),
                ("ship_type_text", vessel.ship_type_text),
                ("destination", vessel.destination),
            ):
                if value is not None:
                    attributes[key] = value
        identity = f"mmsi:{mmsi}"
        return Observation(
            id=observation_id(self._feed, identity, where.at, lat, lon),
            source=self._feed,
            agency=self.agency,
            sensor=SensorKind.AIS,
            observed_at=where.at,
            lat=lat,
            lon=lon,
            marking=self.marking,
            position_sigma_m=sigma_m,
            course_deg=course_deg,
            speed_mps=speed_mps,
            identity=identity,
            callsign=callsign,
            hae_m=hae_m,
            target=TargetKind.AIRCRAFT if msg_type == SAR_AIRCRAFT_TYPE else TargetKind.VESSEL,
            exercise=self.exercise,
            attributes=attributes,
        )


def _ship_type_text(code: int) -> str | None:
    try:
        return ShipType(code).name
    except ValueError:
        return None
