"""The audit log service: append entries, sign tree heads, serve inclusion and consistency proofs.

``AuditLog`` keeps no state of its own between calls: every append reads the log's size and right edge
from the store inside the same transaction, so several processes can write one log and an append made
in a caller's transaction rolls back with it. Proofs are built from the store's cached subtree hashes,
reading at most a few hundred hashes per level band even for a log of millions of entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from concord.audit.base import NODE_STRATUM, AuditStore, StoredEntry, StoredNode
from concord.audit.entry import AuditEntry, AuditEvent
from concord.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MerkleFrontier,
    consistency_path,
    inclusion_path,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from concord.audit.signing import SignedTreeHead, Signer, timestamp_ms
from concord.domain.errors import Conflict, InvalidInput, NotFound
from concord.domain.ports import Clock

__all__ = [
    "AuditLog",
    "ConsistencyProof",
    "InclusionProof",
    "TreeReader",
    "prove_consistency",
    "prove_inclusion",
    "rebuild_subtree_cache",
    "tree_root",
]

_MAX_APPEND_ROWS = 5_000  # rows per INSERT statement; a larger batch is split but stays one transaction


def _hashes_from_hex(values: object, name: str) -> tuple[bytes, ...]:
    if not isinstance(values, list) or len(values) > 128:
        raise InvalidInput(f"{name} must be a list of at most 128 hex hashes", details={"field": name})
    out: list[bytes] = []
    for value in values:
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must hold hex strings", details={"field": name})
        try:
            raw = bytes.fromhex(value)
        except ValueError as exc:
            raise InvalidInput(f"{name} holds a malformed hash", details={"field": name}) from exc
        if len(raw) != HASH_SIZE:
            raise InvalidInput(f"{name} holds a hash that is not {HASH_SIZE} bytes", details={"field": name})
        out.append(raw)
    return tuple(out)


def _size_from(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidInput(f"{name} must be a non-negative integer", details={"field": name})
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class InclusionProof:
    """RFC 9162 inclusion proof: ``path`` leads from the leaf's hash to the root of ``tree_size``."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    path: tuple[bytes, ...]

    def verify(self, root_hash: bytes) -> bool:
        return verify_inclusion(self.leaf_hash, self.leaf_index, self.tree_size, self.path, root_hash)

    def to_dict(self) -> dict[str, Any]:
        return {
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "leaf_hash": self.leaf_hash.hex(),
            "path": [h.hex() for h in self.path],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InclusionProof:
        if not isinstance(data, Mapping):
            raise InvalidInput("an inclusion proof must be a JSON object")
        (leaf,) = _hashes_from_hex([data.get("leaf_hash")], "leaf_hash")
        return cls(
            leaf_index=_size_from(data, "leaf_index"),
            tree_size=_size_from(data, "tree_size"),
            leaf_hash=leaf,
            path=_hashes_from_hex(data.get("path"), "path"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsistencyProof:
    """RFC 9162 consistency proof: the tree of ``old_size`` is a prefix of the tree of ``new_size``."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def verify(self, old_root: bytes, new_root: bytes) -> bool:
        return verify_consistency(self.old_size, self.new_size, old_root, new_root, self.path)

    def to_dict(self) -> dict[str, Any]:
        return {"old_size": self.old_size, "new_size": self.new_size, "path": [h.hex() for h in self.path]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsistencyProof:
        if not isinstance(data, Mapping):
            raise InvalidInput("a consistency proof must be a JSON object")
        return cls(
            old_size=_size_from(data, "old_size"),
            new_size=_size_from(data, "new_size"),
            path=_hashes_from_hex(data.get("path"), "path"),
        )


class TreeReader:
    """Subtree hashes of a stored log, from cached nodes where they exist and from leaves otherwise."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    def level_hashes(self, level: int, start: int, stop: int) -> list[bytes]:
        """Return the hashes of the complete subtrees of height ``level`` with indices ``start..stop-1``."""
        want = stop - start
        if want <= 0:
            return []
        if level == 0:
            leaves = list(self._store.read_leaf_hashes(start, stop))
            if len(leaves) != want:
                raise Conflict(
                    "audit log entries are missing; run verification",
                    details={"start": start, "stop": stop, "found": len(leaves)},
                )
            return leaves
        if level % NODE_STRATUM == 0:
            cached = self._store.read_nodes(level, start, stop)
            if len(cached) == want:
                return [node.hash for node in cached]
        # Build from the nearest cached level below: at most 2**NODE_STRATUM hashes per result.
        base = (level - 1) // NODE_STRATUM * NODE_STRATUM
        hashes = self.level_hashes(base, start << (level - base), stop << (level - base))
        for _ in range(level - base):
            hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes

    def range_hash(self, start: int, stop: int) -> bytes:
        """Return MTH of leaves ``start..stop-1``; ``start`` is aligned as in every RFC 9162 recursion."""
        if stop <= start:
            return EMPTY_ROOT
        parts: list[bytes] = []
        position = start
        for level in range((stop - start).bit_length() - 1, -1, -1):
            if (stop - start) >> level & 1:
                if position % (1 << level):
                    raise ValueError(f"range {start}..{stop} is not aligned to its subtrees")
                parts.extend(self.level_hashes(level, position >> level, (position >> level) + 1))
                position += 1 << level
        value = parts[-1]
        for left in reversed(parts[:-1]):
            value = node_hash(left, value)
        return value

    def frontier(self, size: int) -> MerkleFrontier:
        """Return the right edge of the tree of ``size`` leaves, ready for further appends."""
        hashes: list[bytes] = []
        position = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                hashes.extend(self.level_hashes(level, position >> level, (position >> level) + 1))
                position += 1 << level
        return MerkleFrontier(size, hashes)


class AuditLog:
    """The tamper-evident log: append-only entries in an RFC 9162 Merkle tree with signed tree heads."""

    def __init__(self, store: AuditStore, signer: Signer, clock: Clock) -> None:
        self._store = store
        self._signer = signer
        self._clock = clock

    @property
    def store(self) -> AuditStore:
        return self._store

    def with_store(self, store: AuditStore) -> AuditLog:
        """Return the same log writing through ``store`` (e.g. one bound to the caller's transaction)."""
        return AuditLog(store, self._signer, self._clock)

    def append(self, event: AuditEvent) -> AuditEntry:
        """Append one event and return the entry as recorded."""
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """Append events in order as one transaction: all are recorded, or none (nothing on bad input)."""
        if not events:
            return []
        for event in events:
            if not isinstance(event, AuditEvent):
                raise InvalidInput("only AuditEvent values can be appended to the audit log")
        now = self._clock.now()
        with self._store.atomic() as store:
            store.lock_for_append()
            size = store.size()
            frontier = TreeReader(store).frontier(size)
            new_nodes: list[StoredNode] = []
            rows: list[StoredEntry] = []
            entries: list[AuditEntry] = []
            for offset, event in enumerate(events):
                entry, data = AuditEntry.encode_event(event, seq=size + offset, at=now)
                digest = leaf_hash(data)
                rows.append(StoredEntry(entry.seq, digest, data))
                entries.append(entry)
            # Completed subtrees of cached heights are stored with the entries, in the same transaction.
            growing = MerkleFrontier(size, frontier.hashes, on_subtree=_NodeRecorder(new_nodes))
            for row in rows:
                growing.append(row.leaf_hash)
            for begin in range(0, len(rows), _MAX_APPEND_ROWS):
                store.append_entries(rows[begin : begin + _MAX_APPEND_ROWS])
            if new_nodes:
                store.put_nodes(new_nodes)
        return entries

    def sign_head(self) -> SignedTreeHead:
        """Sign and store the head of the log as it stands; returns the latest head if nothing changed."""
        with self._store.atomic() as store:
            store.lock_for_append()
            size = store.size()
            latest = store.latest_head()
            if latest is not None:
                if latest.tree_size == size:
                    return latest
                if latest.tree_size > size:
                    raise Conflict(
                        "the audit log holds fewer entries than its latest signed head; run verification",
                        details={"tree_size": latest.tree_size, "entries": size},
                    )
            root = TreeReader(store).frontier(size).root()
            moment = self._clock.now()
            if latest is not None and timestamp_ms(moment) < latest.timestamp:
                # Heads never go back in time, even if the clock was set back.
                moment = latest.time
            head = self._signer.sign_head(size, moment, root)
            store.put_head(head)
        return head

    def size(self) -> int:
        return self._store.size()

    def get_head(self, tree_size: int | None = None) -> SignedTreeHead | None:
        """Return the latest signed head, or the one for ``tree_size``; None if there is none."""
        if tree_size is None:
            return self._store.latest_head()
        return self._store.get_head(tree_size)

    def root_hash(self, tree_size: int | None = None) -> bytes:
        """Return MTH of the first ``tree_size`` entries (default: all)."""
        return tree_root(self._store, tree_size)

    def entries(self, start: int, stop: int) -> list[AuditEntry]:
        """Return the entries with ``start <= seq < stop`` (at most 10,000)."""
        if start < 0 or stop < start or stop - start > 10_000:
            raise InvalidInput("ask for 0 to 10,000 entries from a non-negative sequence number")
        return [AuditEntry.from_json(row.entry_json) for row in self._store.read_entries(start, stop)]

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> InclusionProof:
        """Prove entry ``seq`` is in the tree of ``tree_size`` (default: the latest signed head)."""
        return prove_inclusion(self._store, seq, tree_size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        """Prove the tree of ``old_size`` is a prefix of ``new_size`` (default: the latest signed head)."""
        return prove_consistency(self._store, old_size, new_size)


def _checked_size(store: AuditStore, tree_size: int | None, *, default_to_head: bool) -> int:
    available = store.size()
    if tree_size is None:
        if not default_to_head:
            return available
        latest = store.latest_head()
        if latest is None:
            raise NotFound("no signed tree head yet; sign one or name a tree size")
        tree_size = latest.tree_size
    if isinstance(tree_size, bool) or not isinstance(tree_size, int) or tree_size < 0:
        raise InvalidInput("tree size must be a non-negative integer", details={"tree_size": tree_size})
    if tree_size > available:
        raise NotFound(
            f"the audit log holds {available} entries, fewer than {tree_size}",
            details={"tree_size": tree_size, "entries": available},
        )
    return tree_size


def tree_root(store: AuditStore, tree_size: int | None = None) -> bytes:
    """Return MTH of the first ``tree_size`` stored entries (default: all) from the stored hashes."""
    with store.atomic() as bound:
        size = _checked_size(bound, tree_size, default_to_head=False)
        return TreeReader(bound).frontier(size).root()


def prove_inclusion(store: AuditStore, seq: int, tree_size: int | None = None) -> InclusionProof:
    """Prove entry ``seq`` is in the tree of ``tree_size`` (default: the latest signed head)."""
    with store.atomic() as bound:
        size = _checked_size(bound, tree_size, default_to_head=True)
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < size:
            raise InvalidInput(
                f"entry {seq} is not in a tree of size {size}", details={"seq": seq, "tree_size": size}
            )
        reader = TreeReader(bound)
        path = inclusion_path(seq, size, reader.range_hash)
        (leaf,) = reader.level_hashes(0, seq, seq + 1)
    return InclusionProof(leaf_index=seq, tree_size=size, leaf_hash=leaf, path=tuple(path))


def prove_consistency(store: AuditStore, old_size: int, new_size: int | None = None) -> ConsistencyProof:
    """Prove the tree of ``old_size`` is a prefix of ``new_size`` (default: the latest signed head)."""
    with store.atomic() as bound:
        size = _checked_size(bound, new_size, default_to_head=True)
        if isinstance(old_size, bool) or not isinstance(old_size, int) or not 0 <= old_size <= size:
            raise InvalidInput(
                f"no consistency proof from size {old_size} to size {size}",
                details={"old_size": old_size, "new_size": size},
            )
        path = consistency_path(old_size, size, TreeReader(bound).range_hash)
    return ConsistencyProof(old_size=old_size, new_size=size, path=tuple(path))


def rebuild_subtree_cache(store: AuditStore, *, chunk_size: int = 20_000) -> int:
    """Add any missing cached subtree hashes (after a restore that left them out); return how many.

    The cache is recomputed from the stored leaf hashes; a cached hash that disagrees with them is
    not overwritten but reported as ``Conflict``, since that is tampering for verification to name.
    """
    if chunk_size < 1:
        raise InvalidInput("chunk_size must be positive", details={"field": "chunk_size"})
    size = store.size()
    computed: list[StoredNode] = []
    frontier = MerkleFrontier(on_subtree=_NodeRecorder(computed))
    added = 0
    for start in range(0, size, chunk_size):
        stop = min(start + chunk_size, size)
        leaves = list(store.read_leaf_hashes(start, stop))
        if len(leaves) != stop - start:
            raise Conflict("audit log entries are missing; run verification", details={"start": start})
        frontier.extend(leaves)
        added += _store_missing(store, computed)
        computed.clear()
    return added


def _store_missing(store: AuditStore, nodes: list[StoredNode]) -> int:
    by_level: dict[int, list[StoredNode]] = {}
    for node in nodes:
        by_level.setdefault(node.level, []).append(node)
    missing: list[StoredNode] = []
    for level, group in by_level.items():
        stored = {n.index: n.hash for n in store.read_nodes(level, group[0].index, group[-1].index + 1)}
        for node in group:
            existing = stored.get(node.index)
            if existing is None:
                missing.append(node)
            elif existing != node.hash:
                raise Conflict(
                    "a cached subtree hash disagrees with the entries; run verification",
                    details={"level": level, "index": node.index},
                )
    if missing:
        with store.atomic() as bound:
            bound.put_nodes(missing)
    return len(missing)


class _NodeRecorder:
    """Collects the subtree hashes the store caches (heights that are multiples of the stratum)."""

    __slots__ = ("_nodes",)

    def __init__(self, nodes: list[StoredNode]) -> None:
        self._nodes = nodes

    def __call__(self, level: int, index: int, value: bytes) -> None:
        if level % NODE_STRATUM == 0:
            self._nodes.append(StoredNode(level, index, value))
