"""The RFC 9162 (Certificate Transparency v2) Merkle tree: hashes, proofs and their verification.

Leaf hash ``SHA-256(0x00 || entry)``, node hash ``SHA-256(0x01 || left || right)`` and the Merkle Tree
Hash of ``n`` leaves split at the largest power of two smaller than ``n`` (RFC 9162 section 2.1.1).
Proof generation follows the RFC's ``PATH`` and ``SUBPROOF`` definitions (sections 2.1.3.1 and 2.1.4.1)
over any source of subtree hashes, so the same code serves a list in memory and a database with cached
subtree hashes. The verifiers are the RFC's step-by-step algorithms (sections 2.1.3.2 and 2.1.4.2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleFrontier",
    "consistency_path",
    "inclusion_path",
    "largest_power_of_two_below",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "root_from_inclusion_path",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

RangeHash = Callable[[int, int], bytes]
"""``range_hash(start, stop)`` returns MTH of the leaves ``start..stop-1`` of the tree."""


def leaf_hash(entry: bytes) -> bytes:
    """Return the RFC 9162 leaf hash of one entry's bytes."""
    return _sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash of two child hashes."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """Return the largest power of two strictly smaller than ``n`` (``n`` >= 2)."""
    if n < 2:
        raise ValueError("n must be at least 2")
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return MTH over a list of leaf hashes, computed bottom-up with a compact frontier."""
    frontier = MerkleFrontier()
    for value in leaf_hashes:
        frontier.append(value)
    return frontier.root()


class MerkleFrontier:
    """The right edge of a growing tree: one perfect-subtree hash per set bit of the size.

    Appending a leaf merges equal-sized subtrees like a binary counter, so the root of any prefix of
    the log is available in O(log n) memory while the leaves stream past.
    """

    __slots__ = ("_hashes", "_on_subtree", "_size")

    def __init__(
        self,
        size: int = 0,
        hashes: Sequence[bytes] = (),
        *,
        on_subtree: Callable[[int, int, bytes], None] | None = None,
    ) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError("a frontier holds exactly one hash per set bit of its size")
        self._size = size
        self._hashes = list(hashes)
        # Called with (level, index, hash) for every perfect subtree completed by an append at a level
        # above zero, so a store can cache subtree hashes without recomputing them.
        self._on_subtree = on_subtree

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Perfect-subtree hashes from the largest (leftmost) to the smallest."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash on the right."""
        value = leaf
        size = self._size
        level = 0
        stack = self._hashes
        callback = self._on_subtree
        while (size >> level) & 1:
            value = _sha256(_NODE_PREFIX + stack.pop() + value).digest()
            level += 1
            if callback is not None:
                callback(level, size >> level, value)
        stack.append(value)
        self._size = size + 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        for value in leaves:
            self.append(value)

    def root(self) -> bytes:
        """Return MTH of every leaf appended so far (SHA-256 of nothing for the empty tree)."""
        if not self._hashes:
            return EMPTY_ROOT
        value = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            value = _sha256(_NODE_PREFIX + left + value).digest()
        return value


def inclusion_path(leaf_index: int, tree_size: int, range_hash: RangeHash) -> list[bytes]:
    """Return the RFC 9162 ``PATH(m, D[n])`` of the leaf ``leaf_index`` in a tree of ``tree_size``."""
    if not 0 <= leaf_index < tree_size:
        raise ValueError(f"leaf index {leaf_index} is outside a tree of size {tree_size}")
    siblings: list[bytes] = []
    start, stop = 0, tree_size
    while stop - start > 1:
        k = largest_power_of_two_below(stop - start)
        if leaf_index - start < k:
            siblings.append(range_hash(start + k, stop))
            stop = start + k
        else:
            siblings.append(range_hash(start, start + k))
            start += k
    # The RFC builds the path from the leaf upwards; the descent above met the siblings top-down.
    siblings.reverse()
    return siblings


def consistency_path(old_size: int, new_size: int, range_hash: RangeHash) -> list[bytes]:
    """Return the RFC 9162 ``PROOF(m, D[n])`` that a tree of ``old_size`` is a prefix of ``new_size``.

    Sizes with ``old_size`` 0 or equal to ``new_size`` have an empty proof.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    nodes: list[bytes] = []
    m, start, stop = old_size, 0, new_size
    complete_subtree = True  # the RFC's flag b: the old tree is still a complete subtree here
    while True:
        n = stop - start
        if m == n:
            if not complete_subtree:
                nodes.append(range_hash(start, stop))
            break
        k = largest_power_of_two_below(n)
        if m <= k:
            nodes.append(range_hash(start + k, stop))
            stop = start + k
        else:
            nodes.append(range_hash(start, start + k))
            start += k
            m -= k
            complete_subtree = False
    nodes.reverse()
    return nodes


def root_from_inclusion_path(
    leaf: bytes, leaf_index: int, tree_size: int, path: Sequence[bytes]
) -> bytes | None:
    """Run RFC 9162 section 2.1.3.2 steps 1-4; return the computed root, or None if the path is unusable."""
    if not 0 <= leaf_index < tree_size or len(leaf) != HASH_SIZE:
        return None
    fn, sn = leaf_index, tree_size - 1
    r = leaf
    for p in path:
        if len(p) != HASH_SIZE or sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


def verify_inclusion(
    leaf: bytes, leaf_index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """Return whether ``path`` proves the leaf hash ``leaf`` at ``leaf_index`` in the tree with ``root``."""
    computed = root_from_inclusion_path(leaf, leaf_index, tree_size, path)
    return computed is not None and computed == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """Return whether ``path`` proves the tree ``old_root`` of ``old_size`` is a prefix of ``new_root``.

    Follows RFC 9162 section 2.1.4.2. The RFC defines the algorithm for ``0 < old_size < new_size``;
    at the edges the proof must be empty: equal sizes need equal roots and the empty tree is a prefix
    of every tree.
    """
    if not 0 <= old_size <= new_size:
        return False
    if any(len(c) != HASH_SIZE for c in path):
        return False
    if old_size == new_size:
        return not path and old_root == new_root
    if old_size == 0:
        return not path
    # 1. An empty path proves nothing.
    if not path:
        return False
    nodes = list(path)
    # 2. A power-of-two old tree is itself a node of the new tree, so the proof leaves it out.
    if old_size & (old_size - 1) == 0:
        nodes.insert(0, old_root)
    # 3.
    fn, sn = old_size - 1, new_size - 1
    # 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = nodes[0]
    # 6.
    for c in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    return fr == old_root and sr == new_root and sn == 0
