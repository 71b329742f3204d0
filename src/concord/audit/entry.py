"""Audit entries and their canonical JSON, the exact bytes that are hashed into the log.

An :class:`AuditEvent` is what a service hands to the log (who did what to which record, the
decision and the policy behind it); the log turns it into an :class:`AuditEntry` by giving it the
next sequence number and a time. The canonical form is JSON with sorted keys, no whitespace and
UTF-8 text; ``from_json`` accepts only bytes in that exact form, so one entry has one encoding.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from concord.domain.errors import InvalidInput
from concord.domain.types import ensure_utc

__all__ = [
    "MAX_ENTRY_BYTES",
    "AuditEntry",
    "AuditEvent",
    "canonical_json",
    "check_entry_json",
    "format_time",
    "parse_time",
]

MAX_ENTRY_BYTES = 64 * 1024
"""The largest canonical entry accepted, so one noisy caller cannot bloat every verification."""

_MAX_TEXT_CHARS = 512
_MAX_DEPTH = 16
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_FIELDS = frozenset(
    {"seq", "at", "actor", "agency", "action", "record_kind", "record_id", "decision", "policy", "details"}
)


def canonical_json(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON: sorted keys, no whitespace, UTF-8, no NaN or infinity."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"not encodable as canonical JSON: {exc}", details={"field": "details"}) from exc
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Lone surrogates survive json.dumps with ensure_ascii=False but are not UTF-8.
        raise InvalidInput(
            "text is not valid Unicode (lone surrogate)", details={"field": "details"}
        ) from exc


def format_time(moment: datetime) -> str:
    """Return ``moment`` as ISO 8601 UTC with microseconds and a ``Z`` suffix (one spelling per instant)."""
    # isoformat always writes four-digit years, unlike strftime on some platforms.
    return ensure_utc(moment).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    """Parse the exact form written by :func:`format_time`."""
    if not isinstance(text, str) or not _TIME_RE.fullmatch(text):
        raise InvalidInput("time must look like 2026-01-01T00:00:00.000000Z", details={"field": "at"})
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidInput(f"invalid time {text!r}", details={"field": "at"}) from exc


def _check_text(name: str, value: object, *, optional: bool = False, allow_empty: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", details={"field": name})
    if not value and not allow_empty:
        raise InvalidInput(f"{name} must not be empty", details={"field": name})
    if len(value) > _MAX_TEXT_CHARS:
        raise InvalidInput(f"{name} is longer than {_MAX_TEXT_CHARS} characters", details={"field": name})


def _check_details(value: object, depth: int = 0) -> None:
    """Refuse anything that would not survive a JSON round trip unchanged."""
    if depth > _MAX_DEPTH:
        raise InvalidInput(f"details nest deeper than {_MAX_DEPTH} levels", details={"field": "details"})
    if value is None or isinstance(value, bool | str | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput("details hold NaN or infinity", details={"field": "details"})
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput("details keys must be strings", details={"field": "details"})
            _check_details(item, depth + 1)
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_details(item, depth + 1)
        return
    raise InvalidInput(
        f"details hold a {type(value).__name__}, which is not JSON", details={"field": "details"}
    )


def _normalise_details(details: Mapping[str, Any]) -> dict[str, Any]:
    _check_details(details)
    # A JSON round trip turns tuples into lists and subclasses into plain types, so the entry holds
    # exactly what its canonical bytes say.
    normal: dict[str, Any] = json.loads(canonical_json(dict(details)))
    return normal


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """What to record: who (actor, agency) did what (action) to which record, the decision and policy.

    ``decision`` and ``policy`` are set for release decisions (for example ``redacted`` and the policy
    id that decided it) and may be None for plain writes. ``at`` defaults to the log's clock.
    """

    actor: str
    agency: str
    action: str
    record_kind: str
    record_id: str
    decision: str | None = None
    policy: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None

    def __post_init__(self) -> None:
        _check_text("actor", self.actor)
        _check_text("agency", self.agency)
        _check_text("action", self.action)
        _check_text("record_kind", self.record_kind)
        _check_text("record_id", self.record_id, allow_empty=True)
        _check_text("decision", self.decision, optional=True)
        _check_text("policy", self.policy, optional=True)
        if not isinstance(self.details, Mapping):
            raise InvalidInput("details must be a JSON object", details={"field": "details"})
        _check_details(self.details)
        if self.at is not None:
            if not isinstance(self.at, datetime):
                raise InvalidInput("at must be a datetime", details={"field": "at"})
            try:
                ensure_utc(self.at)
            except ValueError as exc:
                raise InvalidInput(str(exc), details={"field": "at"}) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One leaf of the log: an event with its sequence number (its leaf index) and time."""

    seq: int
    at: datetime
    actor: str
    agency: str
    action: str
    record_kind: str
    record_id: str
    decision: str | None
    policy: str | None
    details: dict[str, Any]

    @classmethod
    def from_event(cls, event: AuditEvent, *, seq: int, at: datetime) -> AuditEntry:
        """Make the entry for ``event`` at ``seq``; ``at`` is used when the event has no time."""
        return cls.encode_event(event, seq=seq, at=at)[0]

    @classmethod
    def encode_event(cls, event: AuditEvent, *, seq: int, at: datetime) -> tuple[AuditEntry, bytes]:
        """Like :meth:`from_event`, also returning the canonical bytes (encoded once)."""
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidInput("seq must be a non-negative integer", details={"field": "seq"})
        entry = cls(
            seq=seq,
            at=ensure_utc(event.at if event.at is not None else at),
            actor=event.actor,
            agency=event.agency,
            action=event.action,
            record_kind=event.record_kind,
            record_id=event.record_id,
            decision=event.decision,
            policy=event.policy,
            details=_normalise_details(event.details),
        )
        data = entry.to_json()
        if len(data) > MAX_ENTRY_BYTES:
            raise InvalidInput(
                f"audit entry is {len(data)} bytes; the limit is {MAX_ENTRY_BYTES}",
                details={"field": "details"},
            )
        return entry, data

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": format_time(self.at),
            "actor": self.actor,
            "agency": self.agency,
            "action": self.action,
            "record_kind": self.record_kind,
            "record_id": self.record_id,
            "decision": self.decision,
            "policy": self.policy,
            "details": self.details,
        }

    def to_json(self) -> bytes:
        """Return the canonical bytes that the leaf hash covers."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditEntry:
        if not isinstance(data, Mapping):
            raise InvalidInput("an audit entry must be a JSON object")
        keys = set(data)
        if keys != _FIELDS:
            missing = sorted(_FIELDS - keys)
            extra = sorted(keys - _FIELDS)
            raise InvalidInput(
                f"audit entry fields differ: missing {missing}, unexpected {extra}",
                details={"missing": missing, "unexpected": extra},
            )
        seq = data["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidInput("seq must be a non-negative integer", details={"field": "seq"})
        at = parse_time(data["at"])
        event = AuditEvent(
            actor=data["actor"],
            agency=data["agency"],
            action=data["action"],
            record_kind=data["record_kind"],
            record_id=data["record_id"],
            decision=data["decision"],
            policy=data["policy"],
            details=data["details"],
            at=at,
        )
        return cls(
            seq=seq,
            at=at,
            actor=event.actor,
            agency=event.agency,
            action=event.action,
            record_kind=event.record_kind,
            record_id=event.record_id,
            decision=event.decision,
            policy=event.policy,
            details=_normalise_details(event.details),
        )

    @classmethod
    def from_json(cls, data: bytes) -> AuditEntry:
        """Parse canonical entry bytes; anything not in exactly canonical form is refused."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInput("entry JSON must be bytes")
        raw = bytes(data)
        if len(raw) > MAX_ENTRY_BYTES:
            raise InvalidInput(f"audit entry is {len(raw)} bytes; the limit is {MAX_ENTRY_BYTES}")
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise InvalidInput(f"entry is not valid UTF-8 JSON: {exc}") from exc
        entry = cls.from_dict(parsed)
        if entry.to_json() != raw:
            raise InvalidInput("entry JSON is not in canonical form (sorted keys, no whitespace, UTF-8)")
        return entry


_TEXT_FIELDS = ("actor", "agency", "action", "record_kind")
_OPTIONAL_FIELDS = ("decision", "policy")


def check_entry_json(data: bytes) -> int:
    """Check stored entry bytes quickly and return their ``seq``; raise InvalidInput if they are not
    a canonical entry.

    Verification runs this over every entry of the log, so it checks the shape and the canonical
    encoding without building an :class:`AuditEntry`.
    """
    if len(data) > MAX_ENTRY_BYTES:
        raise InvalidInput(f"audit entry is {len(data)} bytes; the limit is {MAX_ENTRY_BYTES}")
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"entry is not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(parsed, dict) or parsed.keys() != _FIELDS:
        raise InvalidInput("entry is not an object with exactly the audit entry fields")
    seq = parsed["seq"]
    if type(seq) is not int or seq < 0:
        raise InvalidInput("seq must be a non-negative integer", details={"field": "seq"})
    for name in _TEXT_FIELDS:
        value = parsed[name]
        if type(value) is not str or not value:
            raise InvalidInput(f"{name} must be a non-empty string", details={"field": name})
    if type(parsed["record_id"]) is not str:
        raise InvalidInput("record_id must be a string", details={"field": "record_id"})
    for name in _OPTIONAL_FIELDS:
        value = parsed[name]
        if value is not None and type(value) is not str:
            raise InvalidInput(f"{name} must be a string or null", details={"field": name})
    if type(parsed["details"]) is not dict:
        raise InvalidInput("details must be an object", details={"field": "details"})
    if type(parsed["at"]) is not str or not _TIME_RE.fullmatch(parsed["at"]):
        raise InvalidInput("at must look like 2026-01-01T00:00:00.000000Z", details={"field": "at"})
    # NaN and infinity parse but cannot be re-encoded, so allow_nan=False refuses them here too.
    if canonical_json(parsed) != data:
        raise InvalidInput("entry JSON is not in canonical form (sorted keys, no whitespace, UTF-8)")
    return seq
