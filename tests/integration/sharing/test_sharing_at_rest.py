"""Personal data at rest: sealed in the database, readable through the gate, bound to its record,
field and marking, and still readable after a master key rotation."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tests.factories import small_world

from concord.adapters import records_store as store
from concord.adapters.db import records
from concord.bootstrap import Concord
from concord.domain.errors import InvalidInput
from concord.domain.marking import Marking, Tlp
from concord.domain.record import RecordRow

SECRET_NAME = "Ivan Petrovich Sidorov"


def _person(concord: Concord, record_id: str, **extra: object) -> RecordRow:
    return RecordRow(
        kind="incident",
        id=record_id,
        version=1,
        seq=1,
        marking=Marking(
            classification="RESTRICTED", originator="BP", tlp=Tlp.AMBER, categories=frozenset({"PII"})
        ),
        exercise=False,
        status="open",
        lat=41.3,
        lon=26.5,
        updated_at=concord.clock.now(),
        data={
            "title": "Person stopped at the crossing",
            "person_name": SECRET_NAME,
            "document_number": "X1234567",
            **extra,
        },
    )


def _raw(concord: Concord, record_id: str) -> str:
    with concord.engine.connect() as conn:
        return str(conn.execute(sa.select(records.c.data).where(records.c.id == record_id)).scalar_one())


def test_personal_fields_are_sealed_at_rest_and_opened_on_read(concord: Concord) -> None:
    small_world(concord)
    with concord.engine.begin() as conn:
        store.upsert_records(conn, [_person(concord, "inc-1")])
    raw = _raw(concord, "inc-1")
    assert SECRET_NAME not in raw and "X1234567" not in raw
    assert "Person stopped" in raw  # non-personal fields stay searchable
    with concord.engine.connect() as conn:
        row = store.get_record(conn, "incident", "inc-1")
    assert row is not None and row.data["person_name"] == SECRET_NAME


def test_a_ciphertext_moved_to_another_record_does_not_open(concord: Concord) -> None:
    small_world(concord)
    with concord.engine.begin() as conn:
        store.upsert_records(
            conn, [_person(concord, "inc-1"), _person(concord, "inc-2", person_name="Other")]
        )
        sealed = conn.execute(sa.select(records.c.data).where(records.c.id == "inc-1")).scalar_one()
        conn.execute(records.update().where(records.c.id == "inc-2").values(data=sealed))
    with concord.engine.connect() as conn, pytest.raises(InvalidInput) as info:
        store.get_record(conn, "incident", "inc-2")
    assert info.value.code == "decryption-failed"


def test_a_changed_marking_does_not_open(concord: Concord) -> None:
    small_world(concord)
    with concord.engine.begin() as conn:
        store.upsert_records(conn, [_person(concord, "inc-1")])
        wider = Marking(
            classification="UNCLASSIFIED", originator="BP", tlp=Tlp.CLEAR, categories=frozenset({"PII"})
        )
        conn.execute(records.update().where(records.c.id == "inc-1").values(marking=wider.to_dict()))
    with concord.engine.connect() as conn, pytest.raises(InvalidInput):
        store.get_record(conn, "incident", "inc-1")


def test_rotation_rewraps_and_everything_stays_readable(concord: Concord) -> None:
    small_world(concord)
    with concord.engine.begin() as conn:
        store.upsert_records(conn, [_person(concord, f"inc-{i}") for i in range(5)])
    before = _raw(concord, "inc-3")
    assert concord.rotate_master_key() == 5
    after = _raw(concord, "inc-3")
    assert before != after  # the wrapped data key changed
    with concord.engine.connect() as conn:
        assert all(
            store.get_record(conn, "incident", f"inc-{i}").data["person_name"] == SECRET_NAME  # type: ignore[union-attr]
            for i in range(5)
        )
    assert concord.keys.key_ring().current_version == 2
