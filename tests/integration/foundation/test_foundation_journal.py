"""The journal and the unit of work: atomic, rolled back unless committed, rebuilt by replay."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tests.factories import small_world

from concord.adapters.db import agencies, journal
from concord.adapters.journal import UnitOfWork, read_events
from concord.bootstrap import Concord
from concord.domain.errors import Conflict
from concord.domain.events import envelope
from concord.domain.marking import Marking


def _agency_event(concord: Concord, code: str):
    return envelope(
        "AgencyCreated",
        {"code": code, "name": f"Agency {code}", "kind": "other"},
        at=concord.clock.now(),
        actor="test",
        agency=code,
        marking=Marking.default_for(code),
    )


def _count(concord: Concord, table: sa.Table) -> int:
    with concord.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_rolls_back_uncommitted_work_by_default(concord: Concord) -> None:
    with concord.uow() as uow:
        uow.append(_agency_event(concord, "AAA"))
    assert _count(concord, journal) == 0
    assert _count(concord, agencies) == 0


def test_rolls_back_on_error(concord: Concord) -> None:
    with pytest.raises(RuntimeError), concord.uow() as uow:
        uow.append(_agency_event(concord, "AAA"))
        raise RuntimeError("boom")
    assert _count(concord, journal) == 0


def test_event_and_projection_commit_together(concord: Concord) -> None:
    with concord.uow() as uow:
        stored = uow.append(_agency_event(concord, "AAA"))
        uow.commit()
    assert stored.seq == 1
    assert _count(concord, journal) == 1
    assert _count(concord, agencies) == 1


def test_failing_projection_writes_no_event(concord: Concord) -> None:
    with concord.uow() as uow:
        uow.append(_agency_event(concord, "AAA"))
        uow.commit()
    # A second AgencyCreated for the same code violates the projection's primary key.
    with pytest.raises(Conflict), concord.uow() as uow:
        uow.append(_agency_event(concord, "AAA"))
        uow.commit()
    assert _count(concord, journal) == 1


def test_failing_hook_fails_the_command(concord: Concord) -> None:
    def broken_hook(_conn, _event) -> None:
        raise RuntimeError("audit store down")

    uow = UnitOfWork(concord.engine, concord.projector, concord.clock, on_append=[broken_hook])
    with pytest.raises(RuntimeError), uow:
        uow.append(_agency_event(concord, "AAA"))
        uow.commit()
    assert _count(concord, journal) == 0


def test_replay_rebuilds_projections_identically(concord: Concord) -> None:
    small_world(concord)
    concord.accounts.update_user("bp.op", roles=["operator", "analyst"])
    concord.accounts.issue_token("cg.op")

    def snapshot() -> dict[str, list[tuple[object, ...]]]:
        out = {}
        with concord.engine.connect() as conn:
            for table in concord.projector.tables:
                pk = list(table.primary_key.columns)
                out[table.name] = [tuple(r) for r in conn.execute(sa.select(table).order_by(*pk))]
        return out

    before = snapshot()
    with concord.engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET clearance = 'SECRET'"))  # a corrupted read model
    count = concord.replay()
    assert count == _count(concord, journal)
    assert snapshot() == before


def test_read_events_in_order_and_batches(concord: Concord) -> None:
    with concord.uow() as uow:
        for i in range(25):
            uow.append(_agency_event(concord, f"A{i:02d}"))
        uow.commit()
    with concord.engine.connect() as conn:
        seqs = [e.seq for e in read_events(conn, batch=7)]
        assert seqs == list(range(1, 26))
        tail = [e.payload["code"] for e in read_events(conn, after_seq=20, limit=3)]
        assert tail == ["A20", "A21", "A22"]


def test_times_are_aware_utc_after_a_round_trip(concord: Concord) -> None:
    with concord.uow() as uow:
        uow.append(_agency_event(concord, "AAA"))
        uow.commit()
    with concord.engine.connect() as conn:
        event = next(read_events(conn))
    assert event.occurred_at == concord.clock.now()
    assert event.occurred_at.utcoffset() is not None
