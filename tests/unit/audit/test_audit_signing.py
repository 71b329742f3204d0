"""Signed tree heads: the signed bytes, key handling and verification."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from concord.audit.signing import (
    SignedTreeHead,
    Signer,
    head_message,
    key_id,
    load_public_key,
    public_key_pem,
    timestamp_ms,
    verify_sth,
)
from concord.domain.errors import InvalidInput

# RFC 8032 section 7.1, test 1: a published Ed25519 key pair.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
ROOT = hashlib.sha256(b"root").digest()
AT = datetime(2026, 3, 1, 12, 0, 0, 123999, tzinfo=UTC)


def test_signed_bytes_are_rfc9162_tree_head_data() -> None:
    message = head_message(7, 1_700_000_000_123, ROOT)
    assert (
        message == struct.pack(">Q", 1_700_000_000_123) + struct.pack(">Q", 7) + b"\x20" + ROOT + b"\x00\x00"
    )
    assert len(message) == 51


def test_head_signature_verifies_with_plain_cryptography_calls() -> None:
    signer = Signer.from_raw(RFC8032_SEED)
    assert signer.public_key.public_bytes_raw() == RFC8032_PUBLIC
    head = signer.sign_head(7, AT, ROOT)
    assert head.timestamp == timestamp_ms(AT) == 1772366400123  # milliseconds, truncated
    # An auditor with only the raw public key rebuilds the message by hand.
    rebuilt = struct.pack(">QQB", head.timestamp, head.tree_size, 32) + head.root_hash + b"\x00\x00"
    Ed25519PublicKey.from_public_bytes(RFC8032_PUBLIC).verify(head.signature, rebuilt)
    assert verify_sth(head, load_public_key(RFC8032_PUBLIC))


def test_key_id_is_sha256_of_the_der_public_key() -> None:
    signer = Signer.from_raw(RFC8032_SEED)
    der = signer.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert signer.key_id == hashlib.sha256(der).hexdigest() == key_id(signer.public_key)


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 8},
        {"timestamp": 1},
        {"root_hash": hashlib.sha256(b"other").digest()},
        {"signature": b"\x00" * 64},
        {"signature": b""},
        {"root_hash": b"short"},
        {"key_id": "0" * 64},
    ],
)
def test_any_change_to_a_head_breaks_it(change: dict[str, object]) -> None:
    signer = Signer.generate()
    head = signer.sign_head(7, AT, ROOT)
    assert verify_sth(head, signer.public_key)
    assert not verify_sth(replace(head, **change), signer.public_key)  # type: ignore[arg-type]


def test_another_key_does_not_verify() -> None:
    head = Signer.generate().sign_head(1, AT, ROOT)
    assert not verify_sth(head, Signer.generate().public_key)


def test_keys_load_from_raw_and_pem_and_round_trip() -> None:
    signer = Signer.generate()
    assert Signer.load(signer.private_raw()).key_id == signer.key_id
    assert Signer.load(signer.private_pem()).key_id == signer.key_id
    locked = signer.private_pem(password=b"correct horse")
    assert Signer.from_pem(locked, password=b"correct horse").key_id == signer.key_id
    assert load_public_key(public_key_pem(signer.public_key)).public_bytes_raw() == (
        signer.public_key.public_bytes_raw()
    )
    der = signer.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key_id(load_public_key(der)) == signer.key_id


def test_the_secret_never_prints() -> None:
    signer = Signer.from_raw(RFC8032_SEED)
    for text in (repr(signer), str(signer), f"{signer}"):
        assert RFC8032_SEED.hex() not in text
        assert "*" in text


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 31, b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", b"garbage" * 10],
)
def test_bad_private_keys_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        Signer.load(data)


def test_wrong_password_and_wrong_key_type_are_refused() -> None:
    locked = Signer.generate().private_pem(password=b"right")
    with pytest.raises(InvalidInput):
        Signer.from_pem(locked, password=b"wrong")
    x25519 = X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InvalidInput):
        Signer.from_pem(x25519)
    with pytest.raises(InvalidInput):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    x_pub = (
        X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(InvalidInput):
        load_public_key(x_pub)


def test_head_json_round_trip_and_hostile_json() -> None:
    head = Signer.generate().sign_head(5, AT, ROOT)
    data = head.to_dict()
    assert data["time"] == "2026-03-01T12:00:00.123Z"
    assert SignedTreeHead.from_dict(data) == head
    bad: object
    for bad in (
        {**data, "tree_size": -1},
        {**data, "tree_size": True},
        {**data, "tree_size": 2**64},
        {**data, "timestamp": "now"},
        {**data, "root_hash": "zz"},
        {**data, "root_hash": "00"},
        {**data, "signature": "***"},
        {**data, "key_id": 5},
        {k: v for k, v in data.items() if k != "signature"},
        [],
    ):
        with pytest.raises(InvalidInput):
            SignedTreeHead.from_dict(bad)  # type: ignore[arg-type]


def test_head_message_refuses_out_of_range_values() -> None:
    with pytest.raises(InvalidInput):
        head_message(-1, 0, ROOT)
    with pytest.raises(InvalidInput):
        head_message(0, 2**64, ROOT)
    with pytest.raises(InvalidInput):
        head_message(0, 0, b"short")
