"""Signed tree heads: Ed25519 signatures over (tree size, timestamp, root hash).

The signed bytes are the RFC 9162 ``TreeHeadDataV2`` structure (section 4.9), so any TLS-presentation
decoder or a few lines of code can rebuild them::

    uint64 timestamp (milliseconds since the epoch, big-endian)
    uint64 tree_size (big-endian)
    uint8  32, then the 32-byte root hash
    uint16 0   (no extensions)

A key is named by its key id: the hex SHA-256 of its DER SubjectPublicKeyInfo, the way RFC 6962 names
a log's key, so ``openssl pkey -pubin -outform DER | sha256sum`` reproduces it.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from concord.audit.merkle import HASH_SIZE
from concord.domain.errors import InvalidInput
from concord.domain.types import ensure_utc

__all__ = [
    "SignedTreeHead",
    "Signer",
    "head_message",
    "key_id",
    "load_public_key",
    "public_key_pem",
    "timestamp_ms",
    "verify_sth",
]

_MAX_UINT64 = 2**64 - 1


def timestamp_ms(moment: datetime) -> int:
    """Return ``moment`` as whole milliseconds since the Unix epoch (the RFC 9162 timestamp unit)."""
    delta = ensure_utc(moment) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC).replace(microsecond=(value % 1000) * 1000)


def head_message(tree_size: int, timestamp: int, root_hash: bytes) -> bytes:
    """Return the RFC 9162 ``TreeHeadDataV2`` bytes that a head's signature covers."""
    if not 0 <= tree_size <= _MAX_UINT64 or not 0 <= timestamp <= _MAX_UINT64:
        raise InvalidInput("tree size and timestamp must fit in 64 unsigned bits")
    if len(root_hash) != HASH_SIZE:
        raise InvalidInput(f"root hash must be {HASH_SIZE} bytes", details={"field": "root_hash"})
    return struct.pack(">QQB", timestamp, tree_size, HASH_SIZE) + root_hash + b"\x00\x00"


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the hex SHA-256 of the key's DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    """Return the public key as PEM (SubjectPublicKeyInfo), the form to hand to auditors."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """Load an Ed25519 public key from 32 raw bytes or PEM/DER SubjectPublicKeyInfo."""
    if not isinstance(data, bytes):
        raise InvalidInput("a public key must be bytes")
    if len(data) == 32:
        return Ed25519PublicKey.from_public_bytes(data)
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_der_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidInput(f"not an Ed25519 public key: {exc}", details={"field": "public_key"}) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("the public key is not an Ed25519 key", details={"field": "public_key"})
    return key


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedTreeHead:
    """A signed statement that the log held ``tree_size`` entries with ``root_hash`` at ``timestamp``.

    ``timestamp`` is whole milliseconds since the epoch, exactly as signed.
    """

    tree_size: int
    timestamp: int
    root_hash: bytes
    signature: bytes
    key_id: str

    @property
    def time(self) -> datetime:
        return _from_ms(self.timestamp)

    def message(self) -> bytes:
        """Return the bytes the signature covers."""
        return head_message(self.tree_size, self.timestamp, self.root_hash)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "timestamp": self.timestamp,
            "time": self.time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "root_hash": self.root_hash.hex(),
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "key_id": self.key_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignedTreeHead:
        if not isinstance(data, Mapping):
            raise InvalidInput("a signed tree head must be a JSON object")
        try:
            tree_size = data["tree_size"]
            stamp = data["timestamp"]
            root_text = data["root_hash"]
            signature_text = data["signature"]
            key = data["key_id"]
        except KeyError as exc:
            raise InvalidInput(
                f"signed tree head lacks {exc.args[0]!r}", details={"field": exc.args[0]}
            ) from exc
        for name, value in (("tree_size", tree_size), ("timestamp", stamp)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_UINT64:
                raise InvalidInput(f"{name} must be an unsigned 64-bit integer", details={"field": name})
        if not isinstance(root_text, str) or not isinstance(signature_text, str) or not isinstance(key, str):
            raise InvalidInput("root_hash, signature and key_id must be strings")
        try:
            root_hash = bytes.fromhex(root_text)
            signature = base64.b64decode(signature_text, validate=True)
        except ValueError as exc:
            raise InvalidInput(f"malformed hash or signature: {exc}") from exc
        if len(root_hash) != HASH_SIZE:
            raise InvalidInput(f"root hash must be {HASH_SIZE} bytes", details={"field": "root_hash"})
        return cls(tree_size=tree_size, timestamp=stamp, root_hash=root_hash, signature=signature, key_id=key)


def verify_sth(head: SignedTreeHead, public_key: Ed25519PublicKey) -> bool:
    """Return whether ``head`` carries a valid signature by ``public_key`` (and names that key)."""
    if head.key_id != key_id(public_key):
        return False
    try:
        message = head.message()
    except InvalidInput:
        return False
    try:
        public_key.verify(head.signature, message)
    except InvalidSignature:
        return False
    return True


class Signer:
    """Holds the log's Ed25519 private key and signs tree heads; its repr never shows the key."""

    __slots__ = ("_key", "_key_id", "_public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise InvalidInput("the audit signing key must be an Ed25519 private key")
        self._key = private_key
        self._public_key = private_key.public_key()
        self._key_id = key_id(self._public_key)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_raw(cls, seed: bytes) -> Signer:
        """Load from the 32-byte raw private key (the RFC 8032 seed)."""
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise InvalidInput(
                "a raw Ed25519 private key is exactly 32 bytes", details={"field": "private_key"}
            )
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_pem(cls, pem: bytes, password: bytes | None = None) -> Signer:
        """Load from PKCS#8 PEM, optionally encrypted with ``password``."""
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # The library's message may quote key material; keep only the class name.
            raise InvalidInput(
                f"cannot load the audit signing key ({type(exc).__name__})", details={"field": "private_key"}
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidInput(
                "the audit signing key is not an Ed25519 key", details={"field": "private_key"}
            )
        return cls(key)

    @classmethod
    def load(cls, data: bytes, password: bytes | None = None) -> Signer:
        """Load from raw bytes (32) or PEM, whichever ``data`` is."""
        if isinstance(data, bytes) and len(data) == 32 and not data.startswith(b"-----"):
            return cls.from_raw(data)
        return cls.from_pem(data, password)

    def private_pem(self, password: bytes | None = None) -> bytes:
        """Export the private key as PKCS#8 PEM (encrypted when ``password`` is given)."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def private_raw(self) -> bytes:
        """Export the 32-byte raw private key."""
        return self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._public_key

    @property
    def key_id(self) -> str:
        return self._key_id

    def sign_head(self, tree_size: int, moment: datetime, root_hash: bytes) -> SignedTreeHead:
        """Sign the tree head; ``moment`` is cut to the millisecond so what is stored is what is signed."""
        stamp = timestamp_ms(moment)
        signature = self._key.sign(head_message(tree_size, stamp, root_hash))
        return SignedTreeHead(
            tree_size=tree_size,
            timestamp=stamp,
            root_hash=root_hash,
            signature=signature,
            key_id=self._key_id,
        )

    def __repr__(self) -> str:
        return f"Signer(key_id={self._key_id[:16]}…, private_key=**********)"

    __str__ = __repr__
