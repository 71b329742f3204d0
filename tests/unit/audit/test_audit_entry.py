"""Audit entries: canonical JSON, round trips and hostile input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.audit.entry import (
    MAX_ENTRY_BYTES,
    AuditEntry,
    AuditEvent,
    canonical_json,
    check_entry_json,
    format_time,
    parse_time,
)
from concord.domain.errors import InvalidInput

AT = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def event(**overrides: object) -> AuditEvent:
    fields: dict[str, object] = {
        "actor": "user-7",
        "agency": "BP",
        "action": "release",
        "record_kind": "track",
        "record_id": "T-42",
        "decision": "redacted",
        "policy": "mou-bp-customs",
        "details": {"fields": ["position", "speed_mps"], "viewer_agency": "CUSTOMS"},
    }
    fields.update(overrides)
    return AuditEvent(**fields)  # type: ignore[arg-type]


def test_canonical_form_is_sorted_compact_utf8() -> None:
    entry = AuditEntry.from_event(event(details={"b": 1, "a": "é"}), seq=3, at=AT)
    data = entry.to_json()
    assert (
        data
        == (
            '{"action":"release","actor":"user-7","agency":"BP","at":"2026-03-01T12:30:15.123456Z",'
            '"decision":"redacted","details":{"a":"é","b":1},"policy":"mou-bp-customs",'
            '"record_id":"T-42","record_kind":"track","seq":3}'
        ).encode()
    )
    assert AuditEntry.from_json(data) == entry
    assert check_entry_json(data) == 3


def test_time_is_utc_with_microseconds_whatever_the_input_zone() -> None:
    plus_two = timezone(timedelta(hours=2))
    entry = AuditEntry.from_event(event(at=datetime(2026, 3, 1, 14, 30, tzinfo=plus_two)), seq=0, at=AT)
    assert entry.to_dict()["at"] == "2026-03-01T12:30:00.000000Z"
    assert parse_time(format_time(AT)) == AT
    early = datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert format_time(early) == "0999-01-02T03:04:05.000000Z"
    assert parse_time(format_time(early)) == early


def test_writes_may_have_no_decision_or_policy() -> None:
    entry = AuditEntry.from_event(event(decision=None, policy=None, details={}), seq=0, at=AT)
    assert entry.to_dict()["decision"] is None
    assert AuditEntry.from_json(entry.to_json()) == entry


def test_tuples_become_lists_so_the_entry_equals_its_bytes() -> None:
    entry = AuditEntry.from_event(event(details={"ids": ("a", "b")}), seq=0, at=AT)
    assert entry.details == {"ids": ["a", "b"]}
    assert AuditEntry.from_json(entry.to_json()) == entry


@pytest.mark.parametrize(
    "overrides",
    [
        {"actor": ""},
        {"actor": 7},
        {"agency": None},
        {"action": "x" * 513},
        {"record_id": 42},
        {"decision": 1},
        {"details": {"x": float("nan")}},
        {"details": {"x": float("inf")}},
        {"details": {1: "non-string key"}},
        {"details": {"x": object()}},
        {"details": {"x": b"bytes"}},
        {"details": ["not", "an", "object"]},
        {"details": {"x": "\ud800"}},
        {"at": datetime(2026, 1, 1)},  # naive
        {"at": "2026-01-01"},
    ],
)
def test_hostile_events_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        AuditEntry.from_event(event(**overrides), seq=0, at=AT)


def test_deep_nesting_and_oversized_details_are_refused() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    with pytest.raises(InvalidInput):
        event(details=deep)
    with pytest.raises(InvalidInput, match="limit"):
        AuditEntry.from_event(event(details={"blob": "x" * MAX_ENTRY_BYTES}), seq=0, at=AT)


def test_injection_strings_are_recorded_verbatim() -> None:
    nasty = "'; DROP TABLE audit_entries; -- <script>alert(1)</script> \u0000 \u202e"
    entry = AuditEntry.from_event(event(actor=nasty, details={nasty: nasty}), seq=0, at=AT)
    again = AuditEntry.from_json(entry.to_json())
    assert again.actor == nasty
    assert again.details == {nasty: nasty}


def _good() -> bytes:
    return AuditEntry.from_event(event(), seq=5, at=AT).to_json()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.replace(b'"seq":5', b'"seq": 5'),  # whitespace
        lambda d: d.replace(b'"seq":5', b'"seq":5.0'),
        lambda d: d.replace(b'"seq":5', b'"seq":-1'),
        lambda d: d.replace(b'"seq":5', b'"seq":true'),
        lambda d: d.replace(b'"seq":5', b'"seq":1' + b"0" * 5000),  # beyond int parsing limits
        lambda d: d.replace(b'Z"', b'+00:00"'),
        lambda d: d.replace(b'"actor":"user-7"', b'"actor":""'),
        lambda d: d.replace(b'"record_id":"T-42"', b'"record_id":null'),
        lambda d: d.replace(b'"details":{', b'"details":{"n":NaN,'),
        lambda d: d[:-1],
        lambda d: d + b" ",
        lambda d: b"\xff" + d,
        lambda d: d.decode().encode("utf-16"),
        lambda d: json.dumps(json.loads(d), sort_keys=False).encode(),
        lambda d: json.dumps({**json.loads(d), "extra": 1}, sort_keys=True, separators=(",", ":")).encode(),
        lambda d: b"[]",
        lambda d: b"",
        lambda d: b"[" * 100_000,
        lambda d: d.replace(b'"action"', b'"action":"x","action"'),  # duplicate key
    ],
)
def test_non_canonical_or_malformed_bytes_are_refused(mutate: Callable[[bytes], bytes]) -> None:
    bad = mutate(_good())
    with pytest.raises(InvalidInput):
        check_entry_json(bad)
    with pytest.raises(InvalidInput):
        AuditEntry.from_json(bad)


def test_from_dict_names_missing_and_unexpected_fields() -> None:
    data = AuditEntry.from_event(event(), seq=0, at=AT).to_dict()
    del data["policy"]
    data["colour"] = "red"
    with pytest.raises(InvalidInput) as info:
        AuditEntry.from_dict(data)
    assert info.value.details == {"missing": ["policy"], "unexpected": ["colour"]}


def test_canonical_json_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(InvalidInput):
        canonical_json({"x": float("nan")})
    with pytest.raises(InvalidInput):
        canonical_json({"x": {1, 2}})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=80, deadline=None)
@given(
    details=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    actor=st.text(min_size=1, max_size=30),
    seq=st.integers(0, 2**62),
)
def test_property_entries_round_trip_through_their_canonical_bytes(
    details: dict[str, object], actor: str, seq: int
) -> None:
    entry = AuditEntry.from_event(event(details=details, actor=actor), seq=seq, at=AT)
    data = entry.to_json()
    assert check_entry_json(data) == seq
    assert AuditEntry.from_json(data) == entry
    assert AuditEntry.from_json(data).to_json() == data
