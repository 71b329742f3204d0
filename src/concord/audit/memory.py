"""An in-memory audit store for tests, drills and the embedded demo; it honours the full contract."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from concord.audit.base import StoredEntry, StoredNode
from concord.audit.signing import SignedTreeHead
from concord.domain.errors import Conflict

__all__ = ["MemoryAuditStore"]


class MemoryAuditStore:
    """Entries, heads and cached nodes in dictionaries; ``atomic()`` rolls back on error."""

    def __init__(self) -> None:
        self.entries: dict[int, StoredEntry] = {}
        self.heads: dict[int, SignedTreeHead] = {}
        self.nodes: dict[tuple[int, int], bytes] = {}

    @contextmanager
    def atomic(self) -> Iterator[MemoryAuditStore]:
        entries, heads, nodes = dict(self.entries), dict(self.heads), dict(self.nodes)
        try:
            yield self
        except BaseException:
            self.entries, self.heads, self.nodes = entries, heads, nodes
            raise

    def lock_for_append(self) -> None:
        """Nothing to do: one process, and callers of one store are not concurrent."""

    def size(self) -> int:
        return max(self.entries, default=-1) + 1

    def append_entries(self, entries: Sequence[StoredEntry]) -> None:
        taken = [e.seq for e in entries if e.seq in self.entries]
        seqs = [e.seq for e in entries]
        if taken or len(set(seqs)) != len(seqs):
            raise Conflict("audit sequence number already taken", details={"seq": (taken or seqs)[0]})
        for entry in entries:
            self.entries[entry.seq] = entry

    def read_entries(self, start: int, stop: int) -> list[StoredEntry]:
        return [self.entries[s] for s in self._keys_between(start, stop)]

    def read_leaf_hashes(self, start: int, stop: int) -> list[bytes]:
        return [self.entries[s].leaf_hash for s in self._keys_between(start, stop)]

    def _keys_between(self, start: int, stop: int) -> list[int]:
        if stop - start <= len(self.entries):
            return [s for s in range(max(start, 0), stop) if s in self.entries]
        keys = sorted(self.entries)
        return keys[bisect.bisect_left(keys, start) : bisect.bisect_left(keys, stop)]

    def put_nodes(self, nodes: Sequence[StoredNode]) -> None:
        for node in nodes:
            if (node.level, node.index) in self.nodes:
                raise Conflict("audit subtree hash already stored", details={"level": node.level})
        for node in nodes:
            self.nodes[(node.level, node.index)] = node.hash

    def read_nodes(self, level: int, start: int, stop: int) -> list[StoredNode]:
        return [
            StoredNode(level, i, self.nodes[(level, i)])
            for i in range(max(start, 0), stop)
            if (level, i) in self.nodes
        ]

    def put_head(self, head: SignedTreeHead) -> None:
        if head.tree_size in self.heads:
            raise Conflict(
                "a tree head for this size is already stored", details={"tree_size": head.tree_size}
            )
        self.heads[head.tree_size] = head

    def read_heads(self, min_size: int = 0, max_size: int | None = None) -> list[SignedTreeHead]:
        return [
            self.heads[s] for s in sorted(self.heads) if s >= min_size and (max_size is None or s <= max_size)
        ]

    def latest_head(self) -> SignedTreeHead | None:
        return self.heads[max(self.heads)] if self.heads else None

    def get_head(self, tree_size: int) -> SignedTreeHead | None:
        return self.heads.get(tree_size)
