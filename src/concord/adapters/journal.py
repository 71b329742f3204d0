"""The journal store and the unit of work that commits an event with its projection changes.

``UnitOfWork`` rolls back unless ``commit()`` is called (STYLE habit 7): an event and the read-model
rows it changes are written in one transaction, or not at all. Projectors are registered per event
type; ``replay`` empties the projection tables and applies every event again in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from concord.adapters.db import journal
from concord.domain.errors import Conflict, Unavailable
from concord.domain.events import JournalEvent
from concord.domain.marking import Marking
from concord.domain.ports import Clock

__all__ = ["Projector", "ProjectorFn", "UnitOfWork", "UnitOfWorkFactory", "read_events", "replay"]

ProjectorFn = Callable[[Connection, JournalEvent], None]
AfterCommit = Callable[[Sequence[JournalEvent]], None]
OnAppend = Callable[[Connection, JournalEvent], None]
BeforeCommit = Callable[[Connection, Sequence[JournalEvent]], None]

# Serialises journal appends on PostgreSQL so that sequence numbers become visible in order: a reader
# that follows the journal by seq never skips an event committed late by a slower transaction.
_PG_JOURNAL_LOCK = 0x434F4E43  # "CONC"


class Projector:
    """A table of projector functions per event type, applied inside the appending transaction."""

    def __init__(self) -> None:
        self._fns: dict[str, list[ProjectorFn]] = {}
        self.tables: list[sa.Table] = []
        self.resets: list[Callable[[Connection], None]] = []

    def register(self, event_type: str, fn: ProjectorFn) -> None:
        self._fns.setdefault(event_type, []).append(fn)

    def add_tables(self, *tables: sa.Table) -> None:
        for table in tables:
            if table not in self.tables:
                self.tables.append(table)

    def add_reset(self, fn: Callable[[Connection], None]) -> None:
        """Register how to empty a projection that shares a table with data that is not replayed."""
        self.resets.append(fn)

    def apply(self, conn: Connection, event: JournalEvent) -> None:
        for fn in self._fns.get(event.type, ()):
            fn(conn, event)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._fns)


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, IntegrityError):
        return Conflict("the change conflicts with existing data", details={"reason": str(exc.orig)})
    if isinstance(exc, OperationalError | DBAPIError) and getattr(exc, "connection_invalidated", False):
        return Unavailable("the database connection was lost; retry")
    if isinstance(exc, OperationalError):
        return Unavailable("the database is not available", details={"reason": str(exc.orig)})
    return exc


class UnitOfWork:
    """One transaction: append events, apply their projections, commit once or roll back."""

    def __init__(
        self,
        engine: Engine,
        projector: Projector,
        clock: Clock,
        *,
        on_append: Sequence[OnAppend] = (),
        before_commit: Sequence[BeforeCommit] = (),
        after_commit: Sequence[AfterCommit] = (),
    ) -> None:
        self._engine = engine
        self._projector = projector
        self._clock = clock
        self._on_append = list(on_append)
        self._before_commit = list(before_commit)
        self._after_commit = list(after_commit)
        self._conn: Connection | None = None
        self._committed = False
        self.events: list[JournalEvent] = []

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open; use it in a with-block")
        return self._conn

    def __enter__(self) -> UnitOfWork:
        try:
            self._conn = self._engine.connect()
            self._conn.begin()
        except OperationalError as exc:
            raise Unavailable("the database is not available", details={"reason": str(exc.orig)}) from exc
        self._committed = False
        self.events = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self._conn
        self._conn = None
        if conn is None:
            return
        try:
            if not self._committed:
                conn.rollback()
        finally:
            conn.close()

    def append(self, event: JournalEvent) -> JournalEvent:
        """Write ``event`` to the journal and apply its projections in this transaction."""
        conn = self.conn
        if conn.dialect.name == "postgresql" and not self.events:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_JOURNAL_LOCK})
        stored = replace(
            event,
            event_id=event.event_id or str(uuid.uuid4()),
            recorded_at=self._clock.now(),
        )
        try:
            result = conn.execute(
                journal.insert().values(
                    event_id=stored.event_id,
                    type=stored.type,
                    occurred_at=stored.occurred_at,
                    recorded_at=stored.recorded_at,
                    actor=stored.actor,
                    agency=stored.agency,
                    marking=stored.marking.to_dict(),
                    exercise=stored.exercise,
                    payload=stored.payload,
                )
            )
            pk = result.inserted_primary_key
            assert pk is not None
            stored = replace(stored, seq=int(pk[0]))
            self._projector.apply(conn, stored)
            for hook in self._on_append:
                hook(conn, stored)
        except (IntegrityError, OperationalError) as exc:
            raise _translate(exc) from exc
        self.events.append(stored)
        return stored

    def commit(self) -> None:
        """Run the before-commit hooks (the audit log) in the transaction, then commit it all."""
        try:
            if self.events:
                for hook in self._before_commit:
                    hook(self.conn, tuple(self.events))
            self.conn.commit()
        except (IntegrityError, OperationalError) as exc:
            raise _translate(exc) from exc
        self._committed = True
        for notify in self._after_commit:
            notify(tuple(self.events))

    def rollback(self) -> None:
        self.conn.rollback()


UnitOfWorkFactory = Callable[[], UnitOfWork]


def _row_to_event(row: Any) -> JournalEvent:
    return JournalEvent(
        seq=int(row.seq),
        event_id=row.event_id,
        type=row.type,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        actor=row.actor,
        agency=row.agency,
        marking=Marking.from_dict(row.marking),
        exercise=bool(row.exercise),
        payload=dict(row.payload),
    )


def read_events(
    conn: Connection,
    *,
    after_seq: int = 0,
    limit: int | None = None,
    types: Sequence[str] | None = None,
    batch: int = 1000,
) -> Iterator[JournalEvent]:
    """Events with ``seq > after_seq`` in order, read in batches (memory stays flat on big journals)."""
    remaining = limit
    last = after_seq
    while remaining is None or remaining > 0:
        size = batch if remaining is None else min(batch, remaining)
        query = sa.select(journal).where(journal.c.seq > last).order_by(journal.c.seq).limit(size)
        if types:
            query = query.where(journal.c.type.in_(list(types)))
        rows = conn.execute(query).all()
        if not rows:
            return
        for row in rows:
            yield _row_to_event(row)
        last = int(rows[-1].seq)
        if remaining is not None:
            remaining -= len(rows)


def replay(
    engine: Engine,
    projector: Projector,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Empty every projection table and rebuild it from the journal, in one transaction."""
    count = 0
    with engine.begin() as conn:
        for table in reversed(projector.tables):
            conn.execute(table.delete())
        for reset in projector.resets:
            reset(conn)
        with engine.connect() as reader:
            for event in read_events(reader):
                projector.apply(conn, event)
                count += 1
                if progress is not None and count % 1000 == 0:
                    progress(count)
    if progress is not None:
        progress(count)
    return count
