"""Reading the picture for a viewer: every list, count, detail and change feed goes through the gate.

Records are released first and counted or paged after, so a withheld record never shows in a total,
a page, an aggregate or a change feed. A record the viewer may not see is reported as absent
(:class:`NotFound`), never as forbidden, so its existence is not confirmed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import Engine

from concord.adapters import records_store as store
from concord.domain.errors import InvalidInput, NotFound
from concord.domain.identity import Viewer
from concord.domain.ports import Clock
from concord.domain.record import RecordRow
from concord.services.records import shareable_of
from concord.sharing import ReleaseGate, ReleaseResult, Visible, Withheld

__all__ = ["Change", "GateSource", "Page", "RecordQueries"]

MAX_LIMIT = 1000
KINDS = frozenset(
    {
        "track",
        "alert",
        "zone",
        "incident",
        "task",
        "message",
        "channel",
        "taskforce",
        "unit",
        "mutual-aid",
        "routing",
    }
)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Visible]
    total: int


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of a viewer's change feed: the record as released, or its removal from sight."""

    seq: int
    kind: str
    record_id: str
    released: Visible | None  # None: deleted, or no longer visible to this viewer
    gone_visible: bool = False  # deleted, and this viewer may know the record existed


class GateSource(Protocol):
    """Anything holding the current release gate (the sharing service rebuilds it at times)."""

    @property
    def gate(self) -> ReleaseGate: ...


class RecordQueries:
    """Release-aware reads of the records table."""

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        gate: GateSource,
        on_release: Callable[[Viewer, Sequence[ReleaseResult], str], object] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._gate = gate
        self._on_release = on_release

    def _record(self, viewer: Viewer, results: Sequence[ReleaseResult], path: str) -> None:
        # What each agency received, and every withheld request, goes to the audit log.
        if self._on_release is not None and results:
            self._on_release(viewer, results, path)

    @property
    def gate(self) -> ReleaseGate:
        return self._gate.gate

    def release_rows(
        self, rows: Iterable[RecordRow], viewer: Viewer, *, exercise: bool = False
    ) -> list[Visible]:
        at = self._clock.now()
        gate = self.gate
        out: list[Visible] = []
        for row in rows:
            if row.exercise != exercise:
                continue
            result = gate.release(shareable_of(row), viewer, at, exercise_session=exercise)
            if not isinstance(result, Withheld):
                out.append(result)
        return out

    def page(
        self,
        kind: str,
        viewer: Viewer,
        *,
        bbox: tuple[float, float, float, float] | None = None,
        status: str | None = None,
        exercise: bool = False,
        offset: int = 0,
        limit: int = 100,
    ) -> Page:
        _check_kind(kind)
        if offset < 0 or not 0 < limit <= MAX_LIMIT:
            raise InvalidInput(
                f"limit must be 1-{MAX_LIMIT} and offset not negative", details={"field": "limit"}
            )
        with self._engine.connect() as conn:
            rows = list(store.iter_records(conn, kind, bbox=bbox, status=status, exercise=exercise))
        visible = self.release_rows(rows, viewer, exercise=exercise)
        page = visible[offset : offset + limit]
        self._record(viewer, page, f"list:{kind}")
        return Page(items=page, total=len(visible))

    def get(self, kind: str, record_id: str, viewer: Viewer) -> Visible:
        _check_kind(kind)
        with self._engine.connect() as conn:
            row = store.get_record(conn, kind, record_id)
        if row is None:
            raise NotFound(f"no such {kind}")
        result = self.gate.release(
            shareable_of(row), viewer, self._clock.now(), exercise_session=row.exercise
        )
        self._record(viewer, [result], f"get:{kind}")
        if isinstance(result, Withheld):
            raise NotFound(f"no such {kind}")
        return result

    def row(self, kind: str, record_id: str, viewer: Viewer) -> RecordRow:
        """The stored row of a record the viewer may see (for services acting on it)."""
        self.get(kind, record_id, viewer)
        with self._engine.connect() as conn:
            row = store.get_record(conn, kind, record_id)
        if row is None:
            raise NotFound(f"no such {kind}")
        return row

    def stored(self, kind: str, record_id: str) -> RecordRow | None:
        """The stored row, unreleased: for auditors' explanations and services, never for egress."""
        _check_kind(kind)
        with self._engine.connect() as conn:
            return store.get_record(conn, kind, record_id)

    def rows_of_originator(self, agency: str, *, limit: int = 50_000) -> list[RecordRow]:
        """The records an agency originated (what an agreement change of theirs could affect)."""
        with self._engine.connect() as conn:
            return store.records_of_originator(conn, agency, limit=limit)

    def changes(
        self,
        viewer: Viewer,
        *,
        after_seq: int,
        kinds: Sequence[str] | None = None,
        exercise: bool = False,
        limit: int = 10_000,
    ) -> list[Change]:
        """Every record that changed after ``after_seq``, as this viewer may see it now, in order."""
        with self._engine.connect() as conn:
            rows = store.changes_since(conn, after_seq, limit=limit)
        return self.changes_of(rows, viewer, kinds=kinds, exercise=exercise)

    def changes_of(
        self,
        rows: Sequence[RecordRow],
        viewer: Viewer,
        *,
        kinds: Sequence[str] | None = None,
        exercise: bool = False,
    ) -> list[Change]:
        at = self._clock.now()
        gate = self.gate
        out: list[Change] = []
        for row in rows:
            if kinds is not None and row.kind not in kinds:
                continue
            if row.exercise != exercise:
                continue
            released: Visible | None = None
            result = gate.release(shareable_of(row), viewer, at, exercise_session=exercise)
            if not row.deleted:
                released = None if isinstance(result, Withheld) else result
            gone_visible = row.deleted and not isinstance(result, Withheld)
            out.append(
                Change(
                    seq=row.seq, kind=row.kind, record_id=row.id, released=released, gone_visible=gone_visible
                )
            )
        return out

    def latest_seq(self) -> int:
        with self._engine.connect() as conn:
            rows = store.changes_since(conn, 0, limit=1, newest=True)
        return rows[0].seq if rows else 0


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidInput(f"unknown record kind {kind!r}", details={"field": "kind"})
