"""Encryption at rest of personal-data fields: AES-256-GCM with a data key per record.

Each record gets a random 256-bit data key. The data key is stored only wrapped (AES-256-GCM) under
a master key from the :class:`KeyRing`, named by key id and version, with the record id as
associated data. Each field is sealed under the data key with associated data binding the record id,
the field name and the record's marking (canonical JSON), so a ciphertext copied to another record or
field, or kept after the marking changed, fails to open. Rotating the master key adds a version;
:meth:`KeyRing.rewrap` moves a wrapped data key to the current version without touching field data.

Key material never appears in ``repr``, ``str`` or error messages.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from concord.domain.errors import InvalidInput
from concord.domain.marking import Marking

__all__ = [
    "DataKey",
    "KeyRing",
    "SealedRecord",
    "WrappedKey",
    "open_field",
    "open_record",
    "seal_field",
    "seal_record",
]

_KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12
_FORMAT: Final = "concord-keyring/1"
_FIELD_VERSION: Final = b"\x01"
_MAX_KEYRING_BYTES: Final = 1_000_000
_DECRYPTION_FAILED: Final = "decryption-failed"


def _canonical(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _field_aad(record_id: str, field_name: str, marking: Marking) -> bytes:
    return _canonical({"v": 1, "record_id": record_id, "field": field_name, "marking": marking.to_dict()})


def _wrap_aad(record_id: str, key_id: str, version: int) -> bytes:
    return _canonical({"v": 1, "record_id": record_id, "key_id": key_id, "key_version": version})


class DataKey:
    """A record's 256-bit data key in the clear (only in memory, only while in use)."""

    __slots__ = ("_aead",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) != _KEY_BYTES:
            raise InvalidInput("a data key must be 32 bytes", details={"field": "data_key"})
        self._aead = AESGCM(secret)

    def __repr__(self) -> str:
        return "DataKey(**********)"

    def __reduce__(self) -> Any:
        raise TypeError("data keys are not pickled")


@dataclass(frozen=True, slots=True, kw_only=True)
class WrappedKey:
    """A record's data key wrapped under one master key version (safe to store beside the record)."""

    record_id: str
    key_id: str
    key_version: int
    blob: bytes = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "key_id": self.key_id,
            "key_version": self.key_version,
            "blob": base64.b64encode(self.blob).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WrappedKey:
        try:
            record_id, key_id, version = data["record_id"], data["key_id"], data["key_version"]
            blob = base64.b64decode(data["blob"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise InvalidInput("malformed wrapped key", details={"field": "wrapped_key"}) from exc
        if not isinstance(record_id, str) or not isinstance(key_id, str):
            raise InvalidInput("malformed wrapped key", details={"field": "wrapped_key"})
        if not isinstance(version, int) or isinstance(version, bool):
            raise InvalidInput("malformed wrapped key version", details={"field": "key_version"})
        return cls(record_id=record_id, key_id=key_id, key_version=version, blob=blob)


class KeyRing:
    """Master keys by version under one key id; the highest version wraps new data keys.

    Built with :meth:`generate` or :meth:`from_bytes` (the bytes come from a key file or an
    environment variable; the caller reads them). Immutable: :meth:`rotate` returns a new ring.
    """

    __slots__ = ("_current", "_key_id", "_keys", "_raw")

    def __init__(self, key_id: str, keys: Mapping[int, bytes], current: int) -> None:
        if not isinstance(key_id, str) or not key_id or len(key_id) > 100:
            raise InvalidInput("a key ring needs a key id of 1-100 characters", details={"field": "key_id"})
        if not keys:
            raise InvalidInput("a key ring needs at least one master key", details={"field": "keys"})
        for version, secret in keys.items():
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise InvalidInput("master key versions are positive integers", details={"field": "keys"})
            if not isinstance(secret, bytes) or len(secret) != _KEY_BYTES:
                raise InvalidInput(
                    f"master key version {version} must be 32 bytes",
                    details={"field": "keys", "version": version},
                )
        if current not in keys:
            raise InvalidInput(f"current version {current} has no key", details={"field": "current"})
        self._key_id = key_id
        self._keys: dict[int, AESGCM] = {v: AESGCM(k) for v, k in keys.items()}
        self._current = current
        # Kept for to_bytes and rotate only; AESGCM objects do not give their key back.
        self._raw: dict[int, bytes] = dict(keys)

    @classmethod
    def generate(cls, key_id: str = "concord-master") -> KeyRing:
        """A new ring with one random master key (version 1)."""
        return cls(key_id, {1: os.urandom(_KEY_BYTES)}, 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyRing:
        """Load a ring written by :meth:`to_bytes`; errors never echo key material."""
        if not isinstance(data, bytes | bytearray):
            raise InvalidInput("key ring data must be bytes", details={"field": "keyring"})
        if len(data) > _MAX_KEYRING_BYTES:
            raise InvalidInput("key ring data is too large", details={"field": "keyring"})
        try:
            doc = json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput("key ring data is not JSON", details={"field": "keyring"}) from exc
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise InvalidInput(f"key ring data is not in the {_FORMAT} format", details={"field": "format"})
        keys_doc, current, key_id = doc.get("keys"), doc.get("current"), doc.get("key_id")
        if not isinstance(keys_doc, dict) or not isinstance(current, int) or isinstance(current, bool):
            raise InvalidInput(
                "key ring needs 'keys' (object) and 'current' (integer)", details={"field": "keys"}
            )
        keys: dict[int, bytes] = {}
        for version_text, encoded in keys_doc.items():
            try:
                version = int(version_text)
                if not isinstance(encoded, str):
                    raise TypeError("key must be base64 text")
                keys[version] = base64.b64decode(encoded, validate=True)
            except (TypeError, ValueError, binascii.Error) as exc:
                raise InvalidInput(
                    "a master key entry is malformed (expected version: base64)", details={"field": "keys"}
                ) from exc
        return cls(key_id if isinstance(key_id, str) else "", keys, current)

    def to_bytes(self) -> bytes:
        """The ring as JSON bytes (contains the master keys: store it like a password)."""
        return _canonical(
            {
                "format": _FORMAT,
                "key_id": self._key_id,
                "current": self._current,
                "keys": {str(v): base64.b64encode(k).decode("ascii") for v, k in sorted(self._raw.items())},
            }
        )

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def current_version(self) -> int:
        return self._current

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._keys))

    def rotate(self) -> KeyRing:
        """A new ring with a fresh master key as the current version; older versions still unwrap."""
        keys = dict(self._raw)
        version = max(keys) + 1
        keys[version] = os.urandom(_KEY_BYTES)
        return KeyRing(self._key_id, keys, version)

    def new_data_key(self, record_id: str) -> tuple[DataKey, WrappedKey]:
        """A fresh data key for ``record_id`` and its wrapped form under the current master key."""
        secret = os.urandom(_KEY_BYTES)
        return DataKey(secret), self._wrap(secret, record_id, self._current)

    def _wrap(self, secret: bytes, record_id: str, version: int) -> WrappedKey:
        nonce = os.urandom(_NONCE_BYTES)
        blob = nonce + self._keys[version].encrypt(nonce, secret, _wrap_aad(record_id, self._key_id, version))
        return WrappedKey(record_id=record_id, key_id=self._key_id, key_version=version, blob=blob)

    def _unwrap_secret(self, wrapped: WrappedKey) -> bytes:
        if wrapped.key_id != self._key_id:
            raise InvalidInput(
                f"wrapped key belongs to key id {wrapped.key_id!r}, not {self._key_id!r}",
                code=_DECRYPTION_FAILED,
                details={"field": "key_id"},
            )
        master = self._keys.get(wrapped.key_version)
        if master is None:
            raise InvalidInput(
                f"no master key version {wrapped.key_version} in key ring {self._key_id!r}",
                code=_DECRYPTION_FAILED,
                details={"field": "key_version"},
            )
        nonce, body = wrapped.blob[:_NONCE_BYTES], wrapped.blob[_NONCE_BYTES:]
        try:
            return master.decrypt(
                nonce, body, _wrap_aad(wrapped.record_id, wrapped.key_id, wrapped.key_version)
            )
        except (InvalidTag, ValueError) as exc:
            raise InvalidInput(
                f"the data key of record {wrapped.record_id!r} does not unwrap (tampered or wrong key)",
                code=_DECRYPTION_FAILED,
                details={"field": "wrapped_key", "record_id": wrapped.record_id},
            ) from exc

    def unwrap(self, wrapped: WrappedKey) -> DataKey:
        return DataKey(self._unwrap_secret(wrapped))

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        """The same data key wrapped under the current master version (field ciphertexts unchanged)."""
        if wrapped.key_id == self._key_id and wrapped.key_version == self._current:
            return wrapped
        return self._wrap(self._unwrap_secret(wrapped), wrapped.record_id, self._current)

    def __repr__(self) -> str:
        return (
            f"KeyRing(key_id={self._key_id!r}, versions={list(self.versions)}, "
            f"current={self._current}, keys=**********)"
        )

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("key rings are not pickled; use to_bytes() and store the bytes as a secret")


def seal_field(key: DataKey, *, record_id: str, field_name: str, marking: Marking, plaintext: bytes) -> bytes:
    """Encrypt one field value; the result opens only for the same record, field and marking."""
    nonce = os.urandom(_NONCE_BYTES)
    return (
        _FIELD_VERSION
        + nonce
        + key._aead.encrypt(nonce, plaintext, _field_aad(record_id, field_name, marking))
    )


def open_field(
    key: DataKey, *, record_id: str, field_name: str, marking: Marking, ciphertext: bytes
) -> bytes:
    """Decrypt one field value; raise :class:`InvalidInput` (``decryption-failed``) if it is not from here."""
    if len(ciphertext) < 1 + _NONCE_BYTES + 16 or ciphertext[:1] != _FIELD_VERSION:
        raise InvalidInput(
            f"field {field_name!r} of record {record_id!r} is not a Concord ciphertext",
            code=_DECRYPTION_FAILED,
            details={"field": field_name, "record_id": record_id},
        )
    nonce, body = ciphertext[1 : 1 + _NONCE_BYTES], ciphertext[1 + _NONCE_BYTES :]
    try:
        return key._aead.decrypt(nonce, body, _field_aad(record_id, field_name, marking))
    except InvalidTag as exc:
        raise InvalidInput(
            f"field {field_name!r} of record {record_id!r} does not decrypt: the ciphertext was altered, "
            "moved from another record or field, or the marking changed since it was sealed",
            code=_DECRYPTION_FAILED,
            details={"field": field_name, "record_id": record_id},
        ) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedRecord:
    """A record's sensitive fields at rest: the wrapped data key and one ciphertext per field."""

    record_id: str
    wrapped_key: WrappedKey
    fields: Mapping[str, bytes] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "wrapped_key": self.wrapped_key.to_dict(),
            "fields": {k: base64.b64encode(v).decode("ascii") for k, v in sorted(self.fields.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SealedRecord:
        try:
            record_id = data["record_id"]
            wrapped = WrappedKey.from_dict(data["wrapped_key"])
            fields = {str(k): base64.b64decode(v, validate=True) for k, v in data["fields"].items()}
        except (KeyError, TypeError, AttributeError, ValueError, binascii.Error) as exc:
            raise InvalidInput("malformed sealed record", details={"field": "sealed_record"}) from exc
        if not isinstance(record_id, str) or wrapped.record_id != record_id:
            raise InvalidInput("sealed record id does not match its key", details={"field": "record_id"})
        return cls(record_id=record_id, wrapped_key=wrapped, fields=fields)

    def rewrapped(self, ring: KeyRing) -> SealedRecord:
        """This record with its data key re-wrapped under ``ring``'s current version."""
        return SealedRecord(
            record_id=self.record_id, wrapped_key=ring.rewrap(self.wrapped_key), fields=self.fields
        )


def seal_record(
    ring: KeyRing, *, record_id: str, marking: Marking, fields: Mapping[str, str]
) -> SealedRecord:
    """Encrypt ``fields`` (text values) of one record under a fresh data key."""
    key, wrapped = ring.new_data_key(record_id)
    sealed = {
        name: seal_field(
            key, record_id=record_id, field_name=name, marking=marking, plaintext=value.encode("utf-8")
        )
        for name, value in fields.items()
    }
    return SealedRecord(record_id=record_id, wrapped_key=wrapped, fields=sealed)


def open_record(ring: KeyRing, sealed: SealedRecord, *, record_id: str, marking: Marking) -> dict[str, str]:
    """Decrypt every field of ``sealed``, checking it belongs to ``record_id`` under ``marking``."""
    if sealed.wrapped_key.record_id != record_id:
        raise InvalidInput(
            f"sealed data belongs to record {sealed.wrapped_key.record_id!r}, not {record_id!r}",
            code=_DECRYPTION_FAILED,
            details={"field": "record_id", "record_id": record_id},
        )
    key = ring.unwrap(sealed.wrapped_key)
    out: dict[str, str] = {}
    for name, ciphertext in sealed.fields.items():
        plain = open_field(key, record_id=record_id, field_name=name, marking=marking, ciphertext=ciphertext)
        out[name] = plain.decode("utf-8")
    return out
