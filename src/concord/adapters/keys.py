"""The file key store: the audit signing key and the master encryption key ring under the key dir.

Keys are created on first use with mode 0600 and never printed. ``CONCORD_MASTER_KEY`` (base64 of a
key ring written by ``KeyRing.to_bytes``) may supply the ring from the environment instead of a file.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from concord.audit import Signer
from concord.sharing.crypto import KeyRing

__all__ = ["FileKeyStore"]

SIGNING_KEY_FILE = "audit-signing.pem"
MASTER_KEY_FILE = "master.keyring"


class FileKeyStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._signer: Signer | None = None
        self._ring: KeyRing | None = None

    def __repr__(self) -> str:
        return f"FileKeyStore(directory={str(self.directory)!r})"

    def _write_private(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / name
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        tmp.replace(path)

    def audit_signer(self) -> Signer:
        """The Ed25519 key that signs audit tree heads (made on first use, then cached)."""
        if self._signer is None:
            path = self.directory / SIGNING_KEY_FILE
            if path.exists():
                self._signer = Signer.load(path.read_bytes())
            else:
                self._signer = Signer.generate()
                self._write_private(SIGNING_KEY_FILE, self._signer.private_pem())
        return self._signer

    def key_ring(self) -> KeyRing:
        """The master key ring that wraps the data keys of personal data (made on first use)."""
        if self._ring is None:
            env = os.environ.get("CONCORD_MASTER_KEY")
            path = self.directory / MASTER_KEY_FILE
            if env:
                self._ring = KeyRing.from_bytes(base64.b64decode(env))
            elif path.exists():
                self._ring = KeyRing.from_bytes(path.read_bytes())
            else:
                self._ring = KeyRing.generate()
                self.save_key_ring(self._ring)
        return self._ring

    def save_key_ring(self, ring: KeyRing) -> None:
        self._write_private(MASTER_KEY_FILE, ring.to_bytes())
        self._ring = ring
