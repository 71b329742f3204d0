"""The SQL audit store on SQLite (a WAL file) and, when CONCORD_TEST_PG_URL is set, PostgreSQL."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine

from concord.adapters.audit_sql import AuditTables, SqlAuditStore, define_audit_tables
from concord.adapters.clock import ManualClock
from concord.audit import (
    AuditEvent,
    AuditLog,
    AuditStore,
    MemoryAuditStore,
    Signer,
    StoredEntry,
    StoredNode,
    leaf_hash,
    merkle_root,
    verify,
)
from concord.domain.errors import Conflict

HEADS_AT = (10, 20, 64, 100, 256, 300)
NASTY = "'; DROP TABLE audit_entries; -- \u0000 é 🛂"


def _sqlite_engine(path: Path) -> Engine:
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 10})

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    sa_event.listen(engine, "connect", pragmas)
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def sql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, AuditTables]]:
    if request.param == "sqlite":
        engine = _sqlite_engine(tmp_path / "audit.db")
        metadata = sa.MetaData()
    else:
        url = os.environ.get("CONCORD_TEST_PG_URL")
        if not url:
            pytest.skip("CONCORD_TEST_PG_URL is not set")
        engine = sa.create_engine(url)
        schema = f"audit_test_{uuid.uuid4().hex[:12]}"
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        metadata = sa.MetaData(schema=schema)
    tables = define_audit_tables(metadata)
    metadata.create_all(engine)
    try:
        yield engine, tables
    finally:
        if request.param == "postgresql":
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{metadata.schema}" CASCADE'))
        engine.dispose()


def event(i: int, *, actor: str | None = None) -> AuditEvent:
    return AuditEvent(
        actor=actor or f"user-{i % 5}",
        agency="BP",
        action="release",
        record_kind="incident",
        record_id=f"I-{i}",
        decision="full",
        policy="policy-1",
        details={"i": i, "note": NASTY},
    )


def fill(log: AuditLog, clock: ManualClock, n: int = 300, heads_at: tuple[int, ...] = HEADS_AT) -> None:
    done = 0
    for size in [*heads_at, n]:
        if size > done:
            log.append_many([event(i) for i in range(done, size)])
            done = size
        clock.advance(1)
        if size in heads_at:
            log.sign_head()


def test_round_trip_matches_the_memory_store(sql: tuple[Engine, AuditTables]) -> None:
    engine, tables = sql
    signer = Signer.generate()
    stores: list[AuditStore] = [SqlAuditStore(engine, tables), MemoryAuditStore()]
    logs = []
    for store in stores:
        clock = ManualClock(datetime(2026, 5, 1, tzinfo=UTC))
        log = AuditLog(store, signer, clock)
        fill(log, clock)
        logs.append(log)
    sql_log, memory_log = logs
    assert sql_log.size() == memory_log.size() == 300
    assert sql_log.get_head() == memory_log.get_head()
    assert stores[0].read_heads() == stores[1].read_heads()
    assert stores[0].read_heads(20, 100) == stores[1].read_heads(20, 100)
    assert stores[0].read_entries(0, 300) == stores[1].read_entries(0, 300)
    assert stores[0].read_nodes(8, 0, 10) == stores[1].read_nodes(8, 0, 10)
    assert sql_log.entries(0, 3) == memory_log.entries(0, 3)
    assert sql_log.entries(7, 8)[0].details["note"] == NASTY
    assert sql_log.inclusion_proof(123) == memory_log.inclusion_proof(123)
    assert sql_log.consistency_proof(64) == memory_log.consistency_proof(64)
    hashes = [leaf_hash(row.entry_json) for row in stores[0].read_entries(0, 300)]
    assert sql_log.root_hash() == merkle_root(hashes)
    report = verify(stores[0], signer.public_key, chunk_size=64)
    assert report.ok, report.problem
    assert report.heads_checked == len(HEADS_AT)


def test_append_inside_the_callers_transaction(sql: tuple[Engine, AuditTables]) -> None:
    engine, tables = sql
    store = SqlAuditStore(engine, tables)
    signer = Signer.generate()
    log = AuditLog(store, signer, ManualClock())
    log.append(event(0))
    with engine.connect() as conn:
        conn.begin()
        log.with_store(store.on(conn)).append_many([event(1), event(2)])
        assert SqlAuditStore(conn, tables).size() == 3
        conn.rollback()
    assert log.size() == 1
    with engine.connect() as conn:
        conn.begin()
        log.with_store(store.on(conn)).append(event(1))
        conn.commit()
    assert log.size() == 2
    assert log.sign_head().tree_size == 2
    assert verify(store, signer.public_key).ok
    # A stranger's key does not vouch for the head.
    assert verify(store, Signer.generate().public_key).first_bad_head == 2


def test_taken_sequence_numbers_and_head_sizes_conflict(sql: tuple[Engine, AuditTables]) -> None:
    engine, tables = sql
    store = SqlAuditStore(engine, tables)
    signer = Signer.generate()
    log = AuditLog(store, signer, ManualClock())
    log.append(event(0))
    with pytest.raises(Conflict):
        with store.atomic() as bound:
            bound.append_entries([StoredEntry(0, b"\x00" * 32, b"{}")])
    head = log.sign_head()
    with pytest.raises(Conflict):
        store.put_head(head)
    with pytest.raises(Conflict):
        store.put_nodes([StoredNode(8, 0, b"\x00" * 32), StoredNode(8, 0, b"\x00" * 32)])
    assert store.read_nodes(8, 0, 1) == []
    assert verify(store, signer.public_key).ok


def test_concurrent_writers_serialise(sql: tuple[Engine, AuditTables]) -> None:
    engine, tables = sql
    signer = Signer.generate()
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        log = AuditLog(SqlAuditStore(engine, tables), signer, ManualClock())
        try:
            for batch in range(10):
                log.append_many([event(offset + batch * 10 + i) for i in range(10)])
                log.sign_head()
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 1000,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = SqlAuditStore(engine, tables)
    assert store.size() == 300
    report = verify(store, signer.public_key)
    assert report.ok, report.problem


def _tamper_entry_byte(conn: sa.Connection, t: AuditTables) -> None:
    row = conn.execute(sa.select(t.entries.c.entry_json).where(t.entries.c.seq == 17)).scalar_one()
    changed = row[:40] + bytes([row[40] ^ 1]) + row[41:]
    conn.execute(sa.update(t.entries).where(t.entries.c.seq == 17).values(entry_json=changed))


def _swap_entries(conn: sa.Connection, t: AuditTables) -> None:
    e = t.entries
    a = conn.execute(sa.select(e.c.leaf_hash, e.c.entry_json).where(e.c.seq == 5)).one()
    b = conn.execute(sa.select(e.c.leaf_hash, e.c.entry_json).where(e.c.seq == 9)).one()
    conn.execute(sa.update(e).where(e.c.seq == 5).values(leaf_hash=b[0], entry_json=b[1]))
    conn.execute(sa.update(e).where(e.c.seq == 9).values(leaf_hash=a[0], entry_json=a[1]))


def _delete_entry(conn: sa.Connection, t: AuditTables) -> None:
    conn.execute(sa.delete(t.entries).where(t.entries.c.seq == 30))


def _change_leaf_hash(conn: sa.Connection, t: AuditTables) -> None:
    conn.execute(sa.update(t.entries).where(t.entries.c.seq == 99).values(leaf_hash=b"\x01" * 32))


def _change_head_root(conn: sa.Connection, t: AuditTables) -> None:
    conn.execute(sa.update(t.heads).where(t.heads.c.tree_size == 64).values(root_hash=b"\x02" * 32))


def _change_signature(conn: sa.Connection, t: AuditTables) -> None:
    sig = conn.execute(sa.select(t.heads.c.signature).where(t.heads.c.tree_size == 256)).scalar_one()
    changed = bytes([sig[0] ^ 1]) + sig[1:]
    conn.execute(sa.update(t.heads).where(t.heads.c.tree_size == 256).values(signature=changed))


def _truncate(conn: sa.Connection, t: AuditTables) -> None:
    conn.execute(sa.delete(t.entries).where(t.entries.c.seq >= 250))


def _change_node(conn: sa.Connection, t: AuditTables) -> None:
    conn.execute(sa.update(t.nodes).where(t.nodes.c.level == 8).values(hash=b"\x03" * 32))


@pytest.mark.parametrize(
    ("tamper", "code", "entry", "head"),
    [
        (_tamper_entry_byte, "entry-leaf-hash-mismatch", 17, None),
        (_swap_entries, "entry-seq-mismatch", 5, None),
        (_delete_entry, "entry-missing", 30, None),
        (_change_leaf_hash, "entry-leaf-hash-mismatch", 99, None),
        (_change_head_root, "head-signature-invalid", None, 64),
        (_change_signature, "head-signature-invalid", None, 256),
        (_truncate, "log-truncated", None, 256),
        (_change_node, "node-mismatch", None, None),
    ],
)
def test_tampering_in_the_database_is_named(
    sql: tuple[Engine, AuditTables],
    tamper: Callable[[sa.Connection, AuditTables], None],
    code: str,
    entry: int | None,
    head: int | None,
) -> None:
    engine, tables = sql
    store = SqlAuditStore(engine, tables)
    signer = Signer.generate()
    clock = ManualClock()
    fill(AuditLog(store, signer, clock), clock)
    assert verify(store, signer.public_key).ok
    with engine.begin() as conn:
        tamper(conn, tables)
    report = verify(store, signer.public_key)
    assert not report.ok
    assert report.problem is not None and report.problem.code == code
    assert report.first_bad_entry == entry
    assert report.first_bad_head == head


def test_tables_go_into_the_callers_metadata() -> None:
    metadata = sa.MetaData()
    tables = define_audit_tables(metadata)
    assert set(metadata.tables) == {"audit_entries", "audit_heads", "audit_nodes"}
    assert [c.name for c in tables.entries.primary_key] == ["seq"]
    assert [c.name for c in tables.heads.primary_key] == ["tree_size"]
    assert {c.name for c in tables.heads.columns} == {
        "tree_size",
        "timestamp",
        "root_hash",
        "signature",
        "key_id",
    }
