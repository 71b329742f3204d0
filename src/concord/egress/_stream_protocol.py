"""The wire format of the live stream: released records in, JSON text frames out; client messages parsed.

The encoder accepts only :class:`concord.sharing.Released` values (``Visible``), so nothing the release
gate did not pass can be serialised. Each encoded record comes with :class:`ItemMeta`, the few facts
the per-connection filters look at (kind, originator, released position); filters never look at
anything the viewer was not given.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from concord.domain.errors import InvalidInput
from concord.sharing import Visible

__all__ = [
    "CLOSE_AUTH",
    "CLOSE_BAD_CLIENT",
    "CLOSE_BUSY",
    "CLOSE_SLOW_CONSUMER",
    "CLOSE_TOO_BIG",
    "STREAM_KINDS",
    "AuthMessage",
    "FilterMessage",
    "Item",
    "ItemMeta",
    "PingMessage",
    "StreamFilter",
    "encode",
    "encode_remove",
    "encode_upsert",
    "parse_client_message",
]

#: The record kinds the stream carries (RecordRow.kind).
STREAM_KINDS: Final = frozenset({"track", "alert", "zone", "incident", "task", "message"})

#: Close codes (RFC 6455 section 7.4; 4000-4999 are private to this protocol).
CLOSE_AUTH: Final = 1008  # policy violation: missing, malformed or refused credentials
CLOSE_TOO_BIG: Final = 1009  # a client message above the size limit
CLOSE_BUSY: Final = 1013  # try again later: the server could not keep up while the client joined
CLOSE_BAD_CLIENT: Final = 4400  # too many invalid client messages
CLOSE_SLOW_CONSUMER: Final = 4408  # the client did not read fast enough; its queue overflowed

MAX_FILTER_VALUES: Final = 64
_NAME_MAX: Final = 64


def encode(message: Mapping[str, Any]) -> str:
    """Compact JSON; ``allow_nan=False`` because NaN is not JSON and browsers reject it."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False, default=str)


@dataclass(frozen=True, slots=True)
class ItemMeta:
    """What the per-connection filters decide on; all of it was released to the viewer."""

    kind: str
    record_id: str
    originator: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class Item:
    """One change as one viewer class sees it: an encoded upsert, or ``text=None`` for a removal."""

    seq: int
    meta: ItemMeta
    text: str | None
    # A removal of a deleted record this viewer may know of (its deleted row is released to it): a
    # resume backlog may name it without telling the viewer anything new.
    gone_visible: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.meta.kind, self.meta.record_id)


def _position(fields: Mapping[str, Any]) -> tuple[float | None, float | None]:
    lat, lon = fields.get("lat"), fields.get("lon")
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        if math.isfinite(lat) and math.isfinite(lon):
            return float(lat), float(lon)
    return None, None


def encode_upsert(seq: int, released: Visible) -> Item:
    """The delta message of a released record; serialised once and shared by every client of a class."""
    record = released.record
    fields = dict(record.fields)
    lat, lon = _position(fields)
    message = {
        "type": "delta",
        "seq": seq,
        "kind": record.kind,
        "id": record.record_id,
        "op": "upsert",
        "banner": record.marking.banner(),
        "exercise": record.exercise,
        "redacted": list(released.redacted_fields),
        "fields": fields,
    }
    meta = ItemMeta(record.kind, record.record_id, record.marking.originator, lat, lon)
    return Item(seq, meta, encode(message))


def encode_remove(seq: int, kind: str, record_id: str) -> str:
    return encode({"type": "delta", "seq": seq, "kind": kind, "id": record_id, "op": "remove"})


# -- filters ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """A viewer's layers: a bounding box (west, south, east, north) and the kinds and agencies shown.

    ``None`` means no restriction. Records without a released position are not filtered by the box
    (incidents, tasks and messages have none; a redacted position is treated as none).
    """

    bbox: tuple[float, float, float, float] | None = None
    kinds: frozenset[str] | None = None
    agencies: frozenset[str] | None = None

    def matches(self, meta: ItemMeta) -> bool:
        if self.kinds is not None and meta.kind not in self.kinds:
            return False
        if self.agencies is not None and meta.originator not in self.agencies:
            return False
        if self.bbox is not None and meta.lat is not None and meta.lon is not None:
            west, south, east, north = self.bbox
            if not south <= meta.lat <= north:
                return False
            # A box whose west edge is east of its east edge crosses the antimeridian.
            if west <= east:
                return west <= meta.lon <= east
            return meta.lon >= west or meta.lon <= east
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "bbox": list(self.bbox) if self.bbox is not None else None,
            "kinds": sorted(self.kinds) if self.kinds is not None else None,
            "agencies": sorted(self.agencies) if self.agencies is not None else None,
        }

    @classmethod
    def from_dict(cls, data: object) -> StreamFilter:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise InvalidInput("filter must be an object", details={"field": "filter"})
        unknown = set(data) - {"bbox", "kinds", "agencies", "type"}
        if unknown:
            raise InvalidInput(
                f"unknown filter fields {sorted(unknown)}", details={"field": sorted(unknown)[0]}
            )
        return cls(
            bbox=_bbox(data.get("bbox")),
            kinds=_names(data.get("kinds"), "kinds", allowed=STREAM_KINDS),
            agencies=_names(data.get("agencies"), "agencies"),
        )


def _bbox(value: object) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 4:
        raise InvalidInput("bbox must be [west, south, east, north]", details={"field": "bbox"})
    numbers: list[float] = []
    for v in value:
        # bool is an int in Python but never a coordinate.
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise InvalidInput("bbox values must be finite numbers", details={"field": "bbox"})
        numbers.append(float(v))
    west, south, east, north = numbers
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInput(
            "bbox must have -180 <= west, east <= 180 and -90 <= south <= north <= 90",
            details={"field": "bbox"},
        )
    return west, south, east, north


def _names(value: object, field: str, *, allowed: frozenset[str] | None = None) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_FILTER_VALUES:
        raise InvalidInput(
            f"{field} must be a list of at most {MAX_FILTER_VALUES} names", details={"field": field}
        )
    names: set[str] = set()
    for v in value:
        if not isinstance(v, str) or not 0 < len(v) <= _NAME_MAX:
            raise InvalidInput(f"{field} must hold short strings", details={"field": field})
        if allowed is not None and v not in allowed:
            raise InvalidInput(
                f"unknown {field[:-1]} {v!r}; one of {sorted(allowed)}", details={"field": field}
            )
        names.add(v)
    return frozenset(names)


# -- client messages -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthMessage:
    """The first client message: credentials (unless a session cookie was sent) and how to start."""

    token: str | None
    resume_after: int | None
    filter: StreamFilter
    exercise: bool

    def __repr__(self) -> str:
        # Never print the token.
        return f"AuthMessage(resume_after={self.resume_after!r}, exercise={self.exercise!r})"


@dataclass(frozen=True, slots=True)
class FilterMessage:
    filter: StreamFilter


@dataclass(frozen=True, slots=True)
class PingMessage:
    nonce: str | int | None


ClientMessage = AuthMessage | FilterMessage | PingMessage

_MAX_SEQ: Final = 2**63 - 1


def parse_client_message(text: str) -> ClientMessage:
    """Parse one client text frame; raise InvalidInput with the offending field on anything else."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("the message is not valid JSON", details={"field": "message"}) from exc
    if not isinstance(data, dict):
        raise InvalidInput("the message must be a JSON object", details={"field": "message"})
    kind = data.get("type")
    if kind == "auth":
        token = data.get("token")
        if token is not None and (not isinstance(token, str) or not 0 < len(token) <= 512):
            raise InvalidInput("token must be a non-empty string", details={"field": "token"})
        resume = data.get("resume_after")
        if resume is not None and (
            isinstance(resume, bool) or not isinstance(resume, int) or not 0 <= resume <= _MAX_SEQ
        ):
            raise InvalidInput(
                "resume_after must be a non-negative integer", details={"field": "resume_after"}
            )
        exercise = data.get("exercise", False)
        if not isinstance(exercise, bool):
            raise InvalidInput("exercise must be true or false", details={"field": "exercise"})
        return AuthMessage(
            token=token,
            resume_after=resume,
            filter=StreamFilter.from_dict(data.get("filter")),
            exercise=exercise,
        )
    if kind == "filter":
        return FilterMessage(StreamFilter.from_dict(data))
    if kind == "ping":
        nonce = data.get("nonce")
        if nonce is not None and (
            isinstance(nonce, bool) or not isinstance(nonce, str | int) or len(str(nonce)) > _NAME_MAX
        ):
            raise InvalidInput("nonce must be a short string or integer", details={"field": "nonce"})
        return PingMessage(nonce)
    raise InvalidInput("type must be one of auth, filter, ping", details={"field": "type"})


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")
