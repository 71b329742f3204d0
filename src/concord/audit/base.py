"""The storage contract of the audit log and the rows it stores.

A store keeps three things: entries (sequence number, leaf hash, canonical JSON bytes), signed tree
heads (one per tree size), and a cache of subtree hashes so proofs over a large log read a few hundred
hashes instead of every leaf. Sequence numbers are the leaf indices: 0, 1, 2, ... without gaps. The
cache holds the hash of every complete subtree whose height is a positive multiple of
:data:`NODE_STRATUM`; it is an accelerator only, and verification checks it against the entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from concord.audit.signing import SignedTreeHead

__all__ = ["NODE_STRATUM", "AuditStore", "StoredEntry", "StoredNode"]

NODE_STRATUM = 8
"""Subtree heights cached: 8, 16, 24, ... (a subtree of height 8 covers 256 leaves)."""


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One row of the entry table: the leaf index, its leaf hash and the exact bytes hashed."""

    seq: int
    leaf_hash: bytes
    entry_json: bytes


@dataclass(frozen=True, slots=True)
class StoredNode:
    """The hash of the complete subtree of height ``level`` covering leaves ``index * 2**level`` onwards."""

    level: int
    index: int
    hash: bytes


class AuditStore(Protocol):
    """Where the log's entries, heads and cached subtree hashes live (memory, SQLite, PostgreSQL)."""

    def atomic(self) -> AbstractContextManager[AuditStore]:
        """Return a context whose store commits everything done through it together, or nothing.

        A store already bound to the caller's transaction returns itself: the caller commits.
        """
        ...

    def lock_for_append(self) -> None:
        """Serialise writers: called first in every transaction that appends entries or heads."""
        ...

    def size(self) -> int:
        """Return one more than the highest stored sequence number (0 when empty)."""
        ...

    def append_entries(self, entries: Sequence[StoredEntry]) -> None:
        """Add entries; raise ``Conflict`` if a sequence number is already taken."""
        ...

    def read_entries(self, start: int, stop: int) -> Sequence[StoredEntry]:
        """Return the stored entries with ``start <= seq < stop``, in sequence order."""
        ...

    def read_leaf_hashes(self, start: int, stop: int) -> Sequence[bytes]:
        """Return the stored leaf hashes with ``start <= seq < stop``, in sequence order."""
        ...

    def put_nodes(self, nodes: Sequence[StoredNode]) -> None:
        """Cache subtree hashes; raise ``Conflict`` if one is already stored."""
        ...

    def read_nodes(self, level: int, start: int, stop: int) -> Sequence[StoredNode]:
        """Return cached subtree hashes at ``level`` with ``start <= index < stop``, in index order."""
        ...

    def put_head(self, head: SignedTreeHead) -> None:
        """Store a signed tree head; raise ``Conflict`` if one exists for that tree size."""
        ...

    def read_heads(self, min_size: int = 0, max_size: int | None = None) -> Sequence[SignedTreeHead]:
        """Return stored heads with ``min_size <= tree_size <= max_size``, by tree size."""
        ...

    def latest_head(self) -> SignedTreeHead | None:
        """Return the head with the largest tree size, if any."""
        ...

    def get_head(self, tree_size: int) -> SignedTreeHead | None:
        """Return the head for exactly ``tree_size``, if one was signed."""
        ...
