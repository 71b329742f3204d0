"""Full verification of a stored audit log: every entry, every cached subtree, every signed head.

The entries stream past in chunks; their leaf hashes are recomputed from the stored JSON and folded
into a compact frontier (O(log n) memory), so the root at every signed head is checked when the
running size reaches it, and every head's signature is checked against the auditor's public key.
Verification stops at the first problem, in log order, and names it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from concord.audit.base import NODE_STRATUM, AuditStore
from concord.audit.entry import check_entry_json
from concord.audit.merkle import EMPTY_ROOT, MerkleFrontier
from concord.audit.signing import SignedTreeHead, key_id, verify_sth
from concord.domain.errors import InvalidInput

__all__ = ["PROBLEM_CODES", "AuditProblem", "ProblemCode", "VerifyReport", "verify"]

ProblemCode = Literal[
    "entry-missing",
    "entry-leaf-hash-mismatch",
    "entry-malformed",
    "entry-seq-mismatch",
    "node-mismatch",
    "head-key-unknown",
    "head-signature-invalid",
    "head-root-mismatch",
    "log-truncated",
]
PROBLEM_CODES: tuple[ProblemCode, ...] = (
    "entry-missing",
    "entry-leaf-hash-mismatch",
    "entry-malformed",
    "entry-seq-mismatch",
    "node-mismatch",
    "head-key-unknown",
    "head-signature-invalid",
    "head-root-mismatch",
    "log-truncated",
)

_NODE_WINDOW = 4096
_sha256 = hashlib.sha256


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditProblem:
    """The first thing found wrong: a stable code, a message, and the entry, head or node concerned."""

    code: ProblemCode
    message: str
    seq: int | None = None
    tree_size: int | None = None
    level: int | None = None
    index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "seq": self.seq,
            "tree_size": self.tree_size,
            "level": self.level,
            "index": self.index,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    """What verification found. ``ok`` is True only if every check passed."""

    ok: bool
    entries_checked: int
    heads_checked: int
    nodes_checked: int
    tree_size: int
    root_hash: bytes | None
    latest_head_size: int | None
    problem: AuditProblem | None

    @property
    def first_bad_entry(self) -> int | None:
        """The sequence number of the first bad or missing entry, if the problem is an entry."""
        if self.problem is not None and self.problem.code.startswith("entry-"):
            return self.problem.seq
        return None

    @property
    def first_bad_head(self) -> int | None:
        """The tree size of the first bad head, if the problem is a head (or a truncated log)."""
        if self.problem is not None and (
            self.problem.code.startswith("head-") or self.problem.code == "log-truncated"
        ):
            return self.problem.tree_size
        return None

    @property
    def unsigned_entries(self) -> int:
        """Entries past the latest signed head: checked for form, not yet covered by a signature."""
        return self.tree_size - (self.latest_head_size or 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries_checked": self.entries_checked,
            "heads_checked": self.heads_checked,
            "nodes_checked": self.nodes_checked,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex() if self.root_hash is not None else None,
            "latest_head_size": self.latest_head_size,
            "unsigned_entries": self.unsigned_entries,
            "first_bad_entry": self.first_bad_entry,
            "first_bad_head": self.first_bad_head,
            "problem": self.problem.to_dict() if self.problem is not None else None,
        }


class _Found(Exception):
    def __init__(self, problem: AuditProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class _NodeChecker:
    """Compares every cached subtree hash with the one recomputed from the entries, window by window."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store
        self._windows: dict[int, tuple[int, dict[int, bytes]]] = {}
        self.checked = 0

    def __call__(self, level: int, index: int, value: bytes) -> None:
        if level % NODE_STRATUM:
            return
        window = self._windows.get(level)
        if window is None or not window[0] <= index < window[0] + _NODE_WINDOW:
            nodes = self._store.read_nodes(level, index, index + _NODE_WINDOW)
            window = (index, {node.index: node.hash for node in nodes})
            self._windows[level] = window
        stored = window[1].get(index)
        if stored is None:
            # The cache only speeds proofs up; a missing subtree is recomputed from the entries.
            return
        self.checked += 1
        if stored != value:
            raise _Found(
                AuditProblem(
                    code="node-mismatch",
                    message=f"cached subtree hash at height {level}, index {index} differs from the entries",
                    level=level,
                    index=index,
                )
            )


def _check_head(head: SignedTreeHead, keys: dict[str, Ed25519PublicKey], root: bytes) -> None:
    key = keys.get(head.key_id)
    if key is None:
        raise _Found(
            AuditProblem(
                code="head-key-unknown",
                message=f"head at tree size {head.tree_size} is signed by unknown key {head.key_id[:16]}",
                tree_size=head.tree_size,
            )
        )
    if not verify_sth(head, key):
        raise _Found(
            AuditProblem(
                code="head-signature-invalid",
                message=f"head at tree size {head.tree_size} has an invalid signature",
                tree_size=head.tree_size,
            )
        )
    if head.root_hash != root:
        raise _Found(
            AuditProblem(
                code="head-root-mismatch",
                message=f"head at tree size {head.tree_size} differs from the root of the entries",
                tree_size=head.tree_size,
            )
        )


class _Heads:
    """Signed heads in tree-size order, read window by window alongside the entries."""

    def __init__(self, store: AuditStore, known: Iterable[SignedTreeHead]) -> None:
        self._store = store
        self._known = sorted(known, key=lambda head: head.tree_size)
        self._pending: list[SignedTreeHead] = []
        self._position = 0

    def load(self, min_size: int, max_size: int | None) -> None:
        """Queue the heads with ``min_size <= tree_size <= max_size`` (None: no upper bound)."""
        stored = list(self._store.read_heads(min_size, max_size))
        known = [
            head
            for head in self._known
            if head.tree_size >= min_size and (max_size is None or head.tree_size <= max_size)
        ]
        self._pending = sorted([*stored, *known], key=lambda head: head.tree_size)
        self._position = 0

    def due(self, size: int) -> list[SignedTreeHead]:
        """Pop the queued heads for exactly ``size``."""
        found: list[SignedTreeHead] = []
        pending = self._pending
        while self._position < len(pending) and pending[self._position].tree_size == size:
            found.append(pending[self._position])
            self._position += 1
        return found

    def next_size(self) -> int | None:
        if self._position < len(self._pending):
            return self._pending[self._position].tree_size
        return None

    def first_beyond(self, size: int) -> SignedTreeHead | None:
        self.load(size + 1, None)
        return self._pending[0] if self._pending else None

    def latest_size(self) -> int | None:
        latest = self._store.latest_head()
        sizes = [head.tree_size for head in self._known]
        if latest is not None:
            sizes.append(latest.tree_size)
        return max(sizes) if sizes else None


def verify(
    store: AuditStore,
    public_key: Ed25519PublicKey | Iterable[Ed25519PublicKey],
    *,
    known_heads: Iterable[SignedTreeHead] = (),
    chunk_size: int = 20_000,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Recompute every leaf, subtree and root of the log and check every signed head.

    ``public_key`` may be several keys (after a key rotation); each head names its key by key id.
    ``known_heads`` are heads the auditor kept from earlier visits: they are checked like stored ones,
    so a log cut back together with its later heads is still caught. ``progress(done, total)`` is
    called after each chunk of entries. Entries and heads are read a chunk at a time.
    """
    if chunk_size < 1:
        raise InvalidInput("chunk_size must be positive", details={"field": "chunk_size"})
    keys_given = [public_key] if isinstance(public_key, Ed25519PublicKey) else list(public_key)
    keys = {key_id(k): k for k in keys_given}
    size = store.size()
    heads = _Heads(store, known_heads)
    latest_size = heads.latest_size()
    nodes = _NodeChecker(store)
    frontier = MerkleFrontier(on_subtree=nodes)
    done = 0
    heads_checked = 0
    try:
        heads.load(0, 0)
        for head in heads.due(0):
            _check_head(head, keys, EMPTY_ROOT)
            heads_checked += 1
        for start in range(0, size, chunk_size):
            stop = min(start + chunk_size, size)
            heads.load(start + 1, stop)
            next_head = heads.next_size()
            for row in store.read_entries(start, stop):
                if row.seq != done:
                    raise _Found(
                        AuditProblem(code="entry-missing", message=f"entry {done} is missing", seq=done)
                    )
                data = row.entry_json
                digest = _sha256(b"\x00" + data).digest()
                if digest != row.leaf_hash:
                    raise _Found(
                        AuditProblem(
                            code="entry-leaf-hash-mismatch",
                            message=f"entry {done}: stored leaf hash does not match its JSON",
                            seq=done,
                        )
                    )
                try:
                    seq = check_entry_json(data)
                except InvalidInput as exc:
                    raise _Found(
                        AuditProblem(code="entry-malformed", message=f"entry {done}: {exc.message}", seq=done)
                    ) from None
                if seq != done:
                    raise _Found(
                        AuditProblem(
                            code="entry-seq-mismatch",
                            message=f"entry {done} carries sequence number {seq}",
                            seq=done,
                        )
                    )
                frontier.append(digest)
                done += 1
                if done == next_head:
                    root = frontier.root()
                    for head in heads.due(done):
                        _check_head(head, keys, root)
                        heads_checked += 1
                    next_head = heads.next_size()
            if done < stop:
                # The window ended early: the rows after the last one read are gone.
                raise _Found(AuditProblem(code="entry-missing", message=f"entry {done} is missing", seq=done))
            if progress is not None:
                progress(done, size)
        beyond = heads.first_beyond(size)
        if beyond is not None:
            raise _Found(
                AuditProblem(
                    code="log-truncated",
                    message=(
                        f"head at tree size {beyond.tree_size} covers entries the log no longer holds "
                        f"(it ends at {done})"
                    ),
                    seq=done,
                    tree_size=beyond.tree_size,
                )
            )
    except _Found as found:
        return VerifyReport(
            ok=False,
            entries_checked=done,
            heads_checked=heads_checked,
            nodes_checked=nodes.checked,
            tree_size=size,
            root_hash=None,
            latest_head_size=latest_size,
            problem=found.problem,
        )
    return VerifyReport(
        ok=True,
        entries_checked=done,
        heads_checked=heads_checked,
        nodes_checked=nodes.checked,
        tree_size=size,
        root_hash=frontier.root(),
        latest_head_size=latest_size,
        problem=None,
    )
