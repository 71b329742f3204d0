"""Field encryption at rest: round trips, binding to record/field/marking, rotation and re-wrapping."""

from __future__ import annotations

import base64
import json
import pickle

import pytest

from concord.domain.errors import InvalidInput
from concord.domain.marking import Marking, Tlp
from concord.sharing.crypto import (
    KeyRing,
    SealedRecord,
    WrappedKey,
    open_field,
    open_record,
    seal_field,
    seal_record,
)

MARKING = Marking(
    classification="RESTRICTED",
    originator="BP",
    rel_to=frozenset({"CUS"}),
    tlp=Tlp.AMBER,
    categories=frozenset({"PII"}),
)
FIELDS = {"person_name": "Ana Example", "document_number": "X1234567"}


def test_round_trip() -> None:
    ring = KeyRing.generate()
    sealed = seal_record(ring, record_id="r1", marking=MARKING, fields=FIELDS)
    assert all(b"Ana" not in c for c in sealed.fields.values())
    assert open_record(ring, sealed, record_id="r1", marking=MARKING) == FIELDS
    assert SealedRecord.from_dict(json.loads(json.dumps(sealed.to_dict()))) == sealed


def test_ciphertext_moved_to_another_field_or_record_fails() -> None:
    ring = KeyRing.generate()
    sealed = seal_record(ring, record_id="r1", marking=MARKING, fields=FIELDS)
    key = ring.unwrap(sealed.wrapped_key)
    name_ct = sealed.fields["person_name"]
    with pytest.raises(InvalidInput) as info:
        open_field(key, record_id="r1", field_name="document_number", marking=MARKING, ciphertext=name_ct)
    assert info.value.code == "decryption-failed"
    assert "moved from another record or field" in info.value.message
    with pytest.raises(InvalidInput):
        open_field(key, record_id="r2", field_name="person_name", marking=MARKING, ciphertext=name_ct)
    other = seal_record(ring, record_id="r2", marking=MARKING, fields=FIELDS)
    swapped = SealedRecord(record_id="r2", wrapped_key=other.wrapped_key, fields=sealed.fields)
    with pytest.raises(InvalidInput, match="does not decrypt"):
        open_record(ring, swapped, record_id="r2", marking=MARKING)
    with pytest.raises(InvalidInput, match="belongs to record"):
        open_record(ring, sealed, record_id="r2", marking=MARKING)


def test_marking_is_bound() -> None:
    ring = KeyRing.generate()
    sealed = seal_record(ring, record_id="r1", marking=MARKING, fields=FIELDS)
    wider = Marking(
        classification="UNCLASSIFIED",
        originator="BP",
        rel_to=frozenset({"CUS", "IMM"}),
        tlp=Tlp.CLEAR,
        categories=frozenset({"PII"}),
    )
    with pytest.raises(InvalidInput, match="marking changed"):
        open_record(ring, sealed, record_id="r1", marking=wider)


def test_wrapped_key_is_bound_to_its_record() -> None:
    ring = KeyRing.generate()
    _, wrapped = ring.new_data_key("r1")
    moved = WrappedKey(
        record_id="r2", key_id=wrapped.key_id, key_version=wrapped.key_version, blob=wrapped.blob
    )
    with pytest.raises(InvalidInput, match="does not unwrap"):
        ring.unwrap(moved)


def test_tampered_ciphertexts_fail() -> None:
    ring = KeyRing.generate()
    key, _ = ring.new_data_key("r1")
    ct = seal_field(key, record_id="r1", field_name="f", marking=MARKING, plaintext=b"secret")
    flipped = ct[:-1] + bytes([ct[-1] ^ 1])
    for bad in (flipped, b"", b"\x01short", b"\x02" + ct[1:]):
        with pytest.raises(InvalidInput):
            open_field(key, record_id="r1", field_name="f", marking=MARKING, ciphertext=bad)


def test_rotation_and_rewrap_keep_the_data() -> None:
    ring = KeyRing.generate()
    sealed = seal_record(ring, record_id="r1", marking=MARKING, fields=FIELDS)
    rotated = ring.rotate()
    assert rotated.versions == (1, 2) and rotated.current_version == 2 and ring.current_version == 1
    # Old data still opens with the rotated ring, and re-wrapping moves it to version 2 ...
    assert open_record(rotated, sealed, record_id="r1", marking=MARKING) == FIELDS
    moved = sealed.rewrapped(rotated)
    assert moved.wrapped_key.key_version == 2
    assert moved.fields == sealed.fields  # field data untouched
    assert open_record(rotated, moved, record_id="r1", marking=MARKING) == FIELDS
    assert rotated.rewrap(moved.wrapped_key) is moved.wrapped_key
    # ... which the old ring (without version 2) cannot open.
    with pytest.raises(InvalidInput, match="no master key version 2"):
        open_record(ring, moved, record_id="r1", marking=MARKING)


def test_key_ring_bytes_round_trip_and_other_key_id() -> None:
    ring = KeyRing.generate("agency-bp").rotate()
    again = KeyRing.from_bytes(ring.to_bytes())
    assert again.versions == (1, 2) and again.key_id == "agency-bp"
    sealed = seal_record(ring, record_id="r1", marking=MARKING, fields=FIELDS)
    assert open_record(again, sealed, record_id="r1", marking=MARKING) == FIELDS
    with pytest.raises(InvalidInput, match="key id"):
        open_record(KeyRing.generate("other"), sealed, record_id="r1", marking=MARKING)


def test_secrets_never_print() -> None:
    ring = KeyRing.generate()
    raw = json.loads(ring.to_bytes())["keys"]["1"]
    key, wrapped = ring.new_data_key("r1")
    for text in (repr(ring), str(ring), repr(key), repr(wrapped)):
        assert raw not in text
    assert "**********" in repr(ring) and "**********" in repr(key)
    assert "blob" not in repr(wrapped)
    assert raw not in repr(seal_record(ring, record_id="r1", marking=MARKING, fields=FIELDS))
    with pytest.raises(TypeError):
        pickle.dumps(ring)
    with pytest.raises(TypeError):
        pickle.dumps(key)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        json.dumps({"format": "other"}).encode(),
        json.dumps({"format": "concord-keyring/1", "key_id": "k", "current": 1, "keys": {}}).encode(),
        json.dumps(
            {
                "format": "concord-keyring/1",
                "key_id": "k",
                "current": 1,
                "keys": {"1": base64.b64encode(b"short").decode()},
            }
        ).encode(),
        json.dumps(
            {
                "format": "concord-keyring/1",
                "key_id": "k",
                "current": 2,
                "keys": {"1": base64.b64encode(bytes(32)).decode()},
            }
        ).encode(),
        json.dumps(
            {"format": "concord-keyring/1", "key_id": "k", "current": 1, "keys": {"x": "AAAA"}}
        ).encode(),
        json.dumps(
            {"format": "concord-keyring/1", "key_id": "k", "current": 1, "keys": {"1": "%%%"}}
        ).encode(),
        json.dumps(
            {"format": "concord-keyring/1", "key_id": "k", "current": True, "keys": {"1": 5}}
        ).encode(),
        json.dumps(
            {
                "format": "concord-keyring/1",
                "key_id": "",
                "current": 1,
                "keys": {"1": base64.b64encode(bytes(32)).decode()},
            }
        ).encode(),
        b"{" * 2_000_000,
    ],
)
def test_hostile_key_ring_bytes(data: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        KeyRing.from_bytes(data)
    assert "AAAA" not in info.value.message


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"record_id": "r", "wrapped_key": {}, "fields": {}},
        {"record_id": "r", "wrapped_key": "x", "fields": []},
        {
            "record_id": "r",
            "wrapped_key": {"record_id": "r", "key_id": "k", "key_version": "1", "blob": ""},
            "fields": {},
        },
        {
            "record_id": "r",
            "wrapped_key": {"record_id": "q", "key_id": "k", "key_version": 1, "blob": ""},
            "fields": {},
        },
    ],
)
def test_hostile_sealed_records(data: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        SealedRecord.from_dict(data)
