"""The contract every feed decoder keeps: what it returns, how it rejects, and what it counts.

A decoder turns bytes from one feed (CoT, AIS, JSON) into :class:`Observation` values plus a list of
:class:`Rejection` values, one per record it refused. A bad record never stops the stream: it is
rejected with a stable :data:`RejectCode`, counted in :class:`IngestStats`, and the next record is
decoded. Only a connection that cannot be framed at all (endless or hostile bytes) is closed.

Reject codes are part of the public contract (metrics labels, API error bodies, the operator docs);
``docs/integration.md`` lists them and a test keeps the two in step.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, get_args

from concord.domain.errors import FeedParseError
from concord.domain.marking import Marking
from concord.domain.observation import Observation
from concord.domain.types import ensure_utc

__all__ = [
    "REJECT_CODES",
    "ChatMessage",
    "DecodeResult",
    "Decoder",
    "IngestStats",
    "Ping",
    "RejectCode",
    "Rejection",
    "TimeWindow",
    "VesselInfo",
    "check_lat_lon",
    "observation_id",
]

RejectCode = Literal[
    "malformed-xml",  # not well-formed XML, or not a CoT <event>
    "malformed-nmea",  # not an NMEA 0183 AIS sentence
    "malformed-json",  # not JSON, or not the expected envelope
    "entity-forbidden",  # DTD, entity declaration or external reference (XXE, billion laughs)
    "oversized",  # a record, line, batch or buffer over its size limit
    "bad-coordinate",  # latitude/longitude missing, not a number, out of range, or "not available"
    "time-out-of-range",  # time too far in the future or the past of the receive time
    "bad-checksum",  # NMEA sentence or tag block checksum mismatch
    "unsupported-type",  # a well-formed record of a type this decoder does not turn into anything
    "missing-field",  # a required field is absent or empty
    "bad-type",  # a field has the wrong type (string for a number, ...)
    "bad-value",  # a field has the right type but an impossible value
    "unknown-field",  # a field the strict schema does not know
    "incomplete",  # a multi-part message whose other parts never arrived in time
]
"""Stable reasons a record is refused. Never renamed; new codes are only added."""

REJECT_CODES: tuple[RejectCode, ...] = get_args(RejectCode)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    """One refused record: which feed, why (stable code and human reason) and where in the input.

    ``line`` is 1-based; ``offset`` is the byte offset of the record's start in the decoded input;
    ``index`` is the item index in a JSON batch and ``path`` the offending field (``observations[3].lat``).
    """

    feed: str
    code: RejectCode
    reason: str
    line: int | None = None
    offset: int | None = None
    index: int | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "feed": self.feed,
            "code": self.code,
            "reason": self.reason,
            "line": self.line,
            "offset": self.offset,
            "index": self.index,
            "path": self.path,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rejection:
        code = str(data["code"])
        if code not in REJECT_CODES:
            raise ValueError(f"unknown reject code {code!r}")
        return cls(
            feed=str(data["feed"]),
            code=code,  # narrowed by the REJECT_CODES check above
            reason=str(data["reason"]),
            line=_opt_int(data.get("line")),
            offset=_opt_int(data.get("offset")),
            index=_opt_int(data.get("index")),
            path=None if data.get("path") is None else str(data["path"]),
        )

    def to_error(self) -> FeedParseError:
        """The same rejection as the exception callers raise when a whole request must fail."""
        details = {k: v for k, v in self.to_dict().items() if v is not None}
        return FeedParseError(f"{self.feed}: {self.reason}", code=self.code, details=details)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatMessage:
    """A TAK GeoChat message (CoT ``b-t-f``): a message between people, not a sighting."""

    id: str  # the CoT event uid, unique per message
    source: str
    agency: str
    marking: Marking
    chatroom: str
    sender_uid: str | None
    sender_callsign: str | None
    text: str
    sent_at: datetime
    received_at: datetime
    chat_id: str | None = None  # the room or contact id the message was sent to
    exercise: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "agency": self.agency,
            "marking": self.marking.to_dict(),
            "chatroom": self.chatroom,
            "sender_uid": self.sender_uid,
            "sender_callsign": self.sender_callsign,
            "text": self.text,
            "sent_at": self.sent_at.isoformat(),
            "received_at": self.received_at.isoformat(),
            "chat_id": self.chat_id,
            "exercise": self.exercise,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatMessage:
        return cls(
            id=str(data["id"]),
            source=str(data["source"]),
            agency=str(data["agency"]),
            marking=Marking.from_dict(data["marking"]),
            chatroom=str(data["chatroom"]),
            sender_uid=data.get("sender_uid"),
            sender_callsign=data.get("sender_callsign"),
            text=str(data["text"]),
            sent_at=ensure_utc(datetime.fromisoformat(data["sent_at"])),
            received_at=ensure_utc(datetime.fromisoformat(data["received_at"])),
            chat_id=data.get("chat_id"),
            exercise=bool(data.get("exercise", False)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    """A TAK keep-alive (CoT ``t-x-c-t``); the server answers it with a pong event."""

    uid: str
    source: str
    sent_at: datetime | None
    received_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class VesselInfo:
    """What AIS static and voyage reports (types 5, 19, 24) say about one MMSI."""

    mmsi: int
    name: str | None = None
    callsign: str | None = None
    ship_type: int | None = None
    ship_type_text: str | None = None
    imo: int | None = None
    destination: str | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mmsi": self.mmsi,
            "name": self.name,
            "callsign": self.callsign,
            "ship_type": self.ship_type,
            "ship_type_text": self.ship_type_text,
            "imo": self.imo,
            "destination": self.destination,
            "updated_at": None if self.updated_at is None else self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeResult:
    """What one call to a decoder produced. Observations are always valid; rejections say why not."""

    observations: tuple[Observation, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    chats: tuple[ChatMessage, ...] = ()
    pings: tuple[Ping, ...] = ()
    vessels: tuple[VesselInfo, ...] = ()  # registry entries updated by this input

    @property
    def accepted(self) -> int:
        return len(self.observations)

    def merge(self, other: DecodeResult) -> DecodeResult:
        return DecodeResult(
            observations=self.observations + other.observations,
            rejections=self.rejections + other.rejections,
            chats=self.chats + other.chats,
            pings=self.pings + other.pings,
            vessels=self.vessels + other.vessels,
        )

    @classmethod
    def combine(cls, results: Iterable[DecodeResult]) -> DecodeResult:
        observations: list[Observation] = []
        rejections: list[Rejection] = []
        chats: list[ChatMessage] = []
        pings: list[Ping] = []
        vessels: list[VesselInfo] = []
        for result in results:
            observations.extend(result.observations)
            rejections.extend(result.rejections)
            chats.extend(result.chats)
            pings.extend(result.pings)
            vessels.extend(result.vessels)
        return cls(
            observations=tuple(observations),
            rejections=tuple(rejections),
            chats=tuple(chats),
            pings=tuple(pings),
            vessels=tuple(vessels),
        )


class Decoder(Protocol):
    """Turns bytes from one feed into observations and rejections; never raises for bad records."""

    @property
    def feed(self) -> str:
        """The feed id written into ``Observation.source`` and every ``Rejection.feed``."""
        ...

    def decode(self, data: bytes, *, received_at: datetime) -> DecodeResult:
        """Decode ``data`` received at ``received_at`` (aware UTC)."""
        ...


@dataclass(slots=True)
class IngestStats:
    """Running counts for one feed, shaped for metrics: accepted records and rejections per code."""

    feed: str
    accepted: int = 0
    chats: int = 0
    pings: int = 0
    rejected: dict[RejectCode, int] = field(default_factory=lambda: dict.fromkeys(REJECT_CODES, 0))

    def record(self, result: DecodeResult) -> None:
        self.accepted += len(result.observations)
        self.chats += len(result.chats)
        self.pings += len(result.pings)
        for rejection in result.rejections:
            self.rejected[rejection.code] += 1

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def merge(self, other: IngestStats) -> None:
        self.accepted += other.accepted
        self.chats += other.chats
        self.pings += other.pings
        for code, count in other.rejected.items():
            self.rejected[code] += count

    def to_dict(self) -> dict[str, Any]:
        """Every code appears, zero or not, so metric series never vanish."""
        return {
            "feed": self.feed,
            "accepted": self.accepted,
            "chats": self.chats,
            "pings": self.pings,
            "rejected": dict(self.rejected),
            "rejected_total": self.rejected_total,
        }


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """How far a record's own time may lie from the time it was received.

    Sensor clocks drift and replays are old, but a fix dated next week or last year is a broken clock
    or a forgery; it would also poison a tracker's time ordering. ``None`` bounds mean unbounded
    (used for replaying old recordings on purpose).
    """

    max_future_s: float | None = 300.0
    max_past_s: float | None = 7 * 86400.0

    @classmethod
    def unbounded(cls) -> TimeWindow:
        return cls(max_future_s=None, max_past_s=None)

    def check(self, moment: datetime, received_at: datetime) -> str | None:
        """Return why ``moment`` is out of range, or ``None`` when it is acceptable."""
        delta_s = (moment - received_at).total_seconds()
        if self.max_future_s is not None and delta_s > self.max_future_s:
            return (
                f"time {moment.isoformat()} is {delta_s:.0f} s after receipt "
                f"(limit {self.max_future_s:.0f} s)"
            )
        if self.max_past_s is not None and -delta_s > self.max_past_s:
            return (
                f"time {moment.isoformat()} is {-delta_s:.0f} s before receipt "
                f"(limit {self.max_past_s:.0f} s)"
            )
        return None


def check_lat_lon(lat: float, lon: float) -> str | None:
    """Return why a WGS84 position is unusable, or ``None`` when it is valid."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return f"position ({lat!r}, {lon!r}) is not a finite number"
    if not -90.0 <= lat <= 90.0:
        return f"latitude {lat!r} outside [-90, 90]"
    if not -180.0 <= lon <= 180.0:
        return f"longitude {lon!r} outside [-180, 180]"
    return None


def observation_id(source: str, identity: str | None, observed_at: datetime, lat: float, lon: float) -> str:
    """A deterministic id, so replaying the same recording twice yields the same observations."""
    key = f"{source}|{identity or ''}|{observed_at.isoformat()}|{lat:.7f}|{lon:.7f}"
    return "obs-" + hashlib.blake2b(key.encode("utf-8"), digest_size=12).hexdigest()
