"""The audit log's tables and store on SQLAlchemy Core, for SQLite and PostgreSQL.

``define_audit_tables(metadata)`` puts the tables on the caller's ``MetaData`` so they live in the main
schema and its migrations. ``SqlAuditStore`` works on an ``Engine`` (each ``atomic()`` block is its own
transaction, committed at the end) or on a caller's ``Connection`` (everything happens in the caller's
transaction, which the caller commits or rolls back together with its own changes).

Entry JSON is stored as bytes, not text, so the bytes that were hashed are the bytes kept whatever the
database's text encoding.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from concord.audit.base import StoredEntry, StoredNode
from concord.audit.signing import SignedTreeHead
from concord.domain.errors import Conflict, Unavailable

__all__ = ["AuditTables", "SqlAuditStore", "define_audit_tables"]

# SQLite makes an INTEGER PRIMARY KEY the rowid (fast, 64-bit); elsewhere the key is a BIGINT.
_BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Arbitrary constant naming the PostgreSQL advisory lock that serialises audit appends.
_PG_AUDIT_LOCK = 0x434F4E43_41554454


@dataclass(frozen=True, slots=True)
class AuditTables:
    """The audit tables as defined on a caller's MetaData."""

    entries: sa.Table
    heads: sa.Table
    nodes: sa.Table


def define_audit_tables(metadata: sa.MetaData) -> AuditTables:
    """Define ``audit_entries``, ``audit_heads`` and ``audit_nodes`` on ``metadata`` and return them."""
    entries = sa.Table(
        "audit_entries",
        metadata,
        sa.Column("seq", _BigKey, primary_key=True, autoincrement=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry_json", sa.LargeBinary(), nullable=False),
    )
    heads = sa.Table(
        "audit_heads",
        metadata,
        sa.Column("tree_size", _BigKey, primary_key=True, autoincrement=False),
        # Milliseconds since the Unix epoch, exactly the value that was signed.
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("signature", sa.LargeBinary(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
    )
    nodes = sa.Table(
        "audit_nodes",
        metadata,
        sa.Column("level", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    return AuditTables(entries=entries, heads=heads, nodes=nodes)


def _translate(exc: DBAPIError) -> Exception:
    if isinstance(exc, IntegrityError):
        return Conflict("the audit log changed under this write; retry", details={"reason": str(exc.orig)})
    return Unavailable("the audit database is not available", details={"reason": str(exc.orig)})


class SqlAuditStore:
    """An ``AuditStore`` on SQLAlchemy Core, bound to an Engine or to a caller's Connection."""

    def __init__(self, bind: Engine | Connection, tables: AuditTables) -> None:
        self._bind = bind
        self._tables = tables

    @property
    def tables(self) -> AuditTables:
        return self._tables

    def on(self, connection: Connection) -> SqlAuditStore:
        """Return a store that works inside ``connection``'s transaction (the caller commits)."""
        return SqlAuditStore(connection, self._tables)

    @contextmanager
    def atomic(self) -> Iterator[SqlAuditStore]:
        if isinstance(self._bind, Connection):
            yield self
            return
        try:
            with self._bind.begin() as conn:
                yield SqlAuditStore(conn, self._tables)
        except (IntegrityError, OperationalError) as exc:
            raise _translate(exc) from exc

    @contextmanager
    def _conn(self) -> Iterator[Connection]:
        try:
            if isinstance(self._bind, Connection):
                yield self._bind
            else:
                with self._bind.connect() as conn:
                    yield conn
        except (IntegrityError, OperationalError) as exc:
            raise _translate(exc) from exc

    def lock_for_append(self) -> None:
        with self._conn() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
            elif conn.dialect.name == "sqlite":
                # A write statement, even one touching no row, takes SQLite's write lock now (waiting
                # out the busy timeout) rather than failing later when a read has to become a write.
                heads = self._tables.heads
                conn.execute(sa.update(heads).where(sa.false()).values(tree_size=heads.c.tree_size))

    def size(self) -> int:
        entries = self._tables.entries
        with self._conn() as conn:
            top = conn.execute(sa.select(sa.func.max(entries.c.seq))).scalar()
        return 0 if top is None else int(top) + 1

    def append_entries(self, entries: Sequence[StoredEntry]) -> None:
        if not entries:
            return
        rows = [{"seq": e.seq, "leaf_hash": e.leaf_hash, "entry_json": e.entry_json} for e in entries]
        with self._conn() as conn:
            conn.execute(sa.insert(self._tables.entries), rows)
            if not isinstance(self._bind, Connection):
                conn.commit()

    def read_entries(self, start: int, stop: int) -> list[StoredEntry]:
        t = self._tables.entries
        query = (
            sa.select(t.c.seq, t.c.leaf_hash, t.c.entry_json)
            .where(t.c.seq >= start, t.c.seq < stop)
            .order_by(t.c.seq)
        )
        with self._conn() as conn:
            return [StoredEntry(int(s), bytes(h), bytes(j)) for s, h, j in conn.execute(query)]

    def read_leaf_hashes(self, start: int, stop: int) -> list[bytes]:
        t = self._tables.entries
        query = sa.select(t.c.leaf_hash).where(t.c.seq >= start, t.c.seq < stop).order_by(t.c.seq)
        with self._conn() as conn:
            return [bytes(h) for (h,) in conn.execute(query)]

    def put_nodes(self, nodes: Sequence[StoredNode]) -> None:
        if not nodes:
            return
        rows = [{"level": n.level, "idx": n.index, "hash": n.hash} for n in nodes]
        with self._conn() as conn:
            conn.execute(sa.insert(self._tables.nodes), rows)
            if not isinstance(self._bind, Connection):
                conn.commit()

    def read_nodes(self, level: int, start: int, stop: int) -> list[StoredNode]:
        t = self._tables.nodes
        query = (
            sa.select(t.c.idx, t.c.hash)
            .where(t.c.level == level, t.c.idx >= start, t.c.idx < stop)
            .order_by(t.c.idx)
        )
        with self._conn() as conn:
            return [StoredNode(level, int(i), bytes(h)) for i, h in conn.execute(query)]

    def put_head(self, head: SignedTreeHead) -> None:
        row = {
            "tree_size": head.tree_size,
            "timestamp": head.timestamp,
            "root_hash": head.root_hash,
            "signature": head.signature,
            "key_id": head.key_id,
        }
        with self._conn() as conn:
            conn.execute(sa.insert(self._tables.heads), row)
            if not isinstance(self._bind, Connection):
                conn.commit()

    def _heads(self, where: sa.ColumnElement[bool] | None, *, latest: bool = False) -> list[SignedTreeHead]:
        t = self._tables.heads
        query = sa.select(t.c.tree_size, t.c.timestamp, t.c.root_hash, t.c.signature, t.c.key_id)
        if where is not None:
            query = query.where(where)
        query = query.order_by(t.c.tree_size.desc()).limit(1) if latest else query.order_by(t.c.tree_size)
        with self._conn() as conn:
            return [
                SignedTreeHead(
                    tree_size=int(size),
                    timestamp=int(stamp),
                    root_hash=bytes(root),
                    signature=bytes(signature),
                    key_id=str(key),
                )
                for size, stamp, root, signature, key in conn.execute(query)
            ]

    def read_heads(self, min_size: int = 0, max_size: int | None = None) -> list[SignedTreeHead]:
        t = self._tables.heads
        where = t.c.tree_size >= min_size
        if max_size is not None:
            where = sa.and_(where, t.c.tree_size <= max_size)
        return self._heads(where)

    def latest_head(self) -> SignedTreeHead | None:
        found = self._heads(None, latest=True)
        return found[0] if found else None

    def get_head(self, tree_size: int) -> SignedTreeHead | None:
        found = self._heads(self._tables.heads.c.tree_size == tree_size)
        return found[0] if found else None
