"""The operational picture's records table: upsert, get and list records of a kind.

Rows are what the release gate decides on (kind, id, marking, exercise flag, fields). Listing never
counts or pages here: the caller releases rows for a viewer first, so withheld records never show up in
a total.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from concord.adapters.db import counters, observations, records
from concord.domain.errors import Unavailable
from concord.domain.marking import Marking
from concord.domain.observation import Observation
from concord.domain.record import RecordRow
from concord.sharing import DEFAULT_FIELD_CATEGORIES
from concord.sharing.crypto import KeyRing, SealedRecord, open_record, seal_record

__all__ = [
    "RecordRow",
    "changes_since",
    "existing_observation_ids",
    "get_record",
    "insert_observations",
    "iter_records",
    "next_seqs",
    "records_of_originator",
    "register_key_ring",
    "rewrap_sealed_records",
    "upsert_records",
]


def _row(r: Any, ring: KeyRing | None = None) -> RecordRow:
    marking = Marking.from_dict(r.marking)
    data = dict(r.data)
    sealed = data.pop(SEALED_KEY, None)
    if sealed is not None:
        if ring is None:
            raise Unavailable("a record holds encrypted personal data but no key ring is loaded")
        opened = open_record(
            ring, SealedRecord.from_dict(sealed), record_id=_aad_id(r.kind, r.id), marking=marking
        )
        data.update({name: json.loads(value) for name, value in opened.items()})
    return RecordRow(
        kind=r.kind,
        id=r.id,
        version=int(r.version),
        seq=int(r.seq),
        marking=marking,
        exercise=bool(r.exercise),
        status=r.status,
        lat=r.lat,
        lon=r.lon,
        updated_at=r.updated_at,
        data=data,
    )


# -- personal data at rest ---------------------------------------------------------------------------
# Fields that carry personal data (or biometrics, or intelligence sources) are sealed before they are
# written: AES-256-GCM under a data key per record, wrapped by the master key ring, with associated data
# binding the record, the field and the marking (concord.sharing.crypto). The ring is registered per
# engine by bootstrap, so two deployments in one process never share keys.
SEALED_KEY = "_sealed"
_RINGS: weakref.WeakKeyDictionary[Engine, Callable[[], KeyRing]] = weakref.WeakKeyDictionary()


def register_key_ring(engine: Engine, ring: Callable[[], KeyRing]) -> None:
    """Seal and open personal data on ``engine`` with the ring ``ring()`` returns (loaded on first use)."""
    _RINGS[engine] = ring


def _ring(conn: Connection) -> KeyRing | None:
    provider = _RINGS.get(conn.engine)
    return provider() if provider is not None else None


def _aad_id(kind: str, record_id: str) -> str:
    return f"{kind}/{record_id}"


def _sealed_data(conn: Connection, r: RecordRow) -> dict[str, Any]:
    sensitive = {k: v for k, v in r.data.items() if k in DEFAULT_FIELD_CATEGORIES and v is not None}
    if not sensitive:
        return r.data
    ring = _ring(conn)
    if ring is None:
        raise Unavailable("personal data cannot be stored: no key ring is loaded")
    sealed = seal_record(
        ring,
        record_id=_aad_id(r.kind, r.id),
        marking=r.marking,
        fields={k: json.dumps(v, sort_keys=True) for k, v in sensitive.items()},
    )
    data = {k: v for k, v in r.data.items() if k not in sensitive}
    data[SEALED_KEY] = sealed.to_dict()
    return data


def rewrap_sealed_records(conn: Connection, ring: KeyRing) -> int:
    """Re-wrap every sealed record's data key under ``ring``'s current master key (key rotation);
    the ciphertexts themselves are not touched."""
    count = 0
    rows = conn.execute(sa.select(records.c.kind, records.c.id, records.c.data)).all()
    for kind, record_id, data in rows:
        sealed = data.get(SEALED_KEY) if isinstance(data, dict) else None
        if sealed is None:
            continue
        data = dict(data)
        data[SEALED_KEY] = SealedRecord.from_dict(sealed).rewrapped(ring).to_dict()
        conn.execute(
            records.update().where(records.c.kind == kind, records.c.id == record_id).values(data=data)
        )
        count += 1
    return count


def upsert_records(conn: Connection, rows: Sequence[RecordRow]) -> None:
    """Insert or replace records (by kind and id) in one statement per batch."""
    if not rows:
        return
    values = [
        {
            "kind": r.kind,
            "id": r.id,
            "version": r.version,
            "seq": r.seq,
            "originator": r.marking.originator,
            "marking": r.marking.to_dict(),
            "exercise": r.exercise,
            "status": r.status,
            "lat": r.lat,
            "lon": r.lon,
            "updated_at": r.updated_at,
            "data": _sealed_data(conn, r),
        }
        for r in rows
    ]
    dialect = conn.dialect.name
    insert: Any
    if dialect == "postgresql":
        insert = postgresql.insert(records)
    elif dialect == "sqlite":
        insert = sqlite.insert(records)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database {dialect}")
    excluded = insert.excluded
    stmt = insert.on_conflict_do_update(
        index_elements=[records.c.kind, records.c.id],
        set_={c.name: getattr(excluded, c.name) for c in records.columns if c.name not in ("kind", "id")},
    )
    conn.execute(stmt, values)


def get_record(conn: Connection, kind: str, record_id: str) -> RecordRow | None:
    row = conn.execute(sa.select(records).where(records.c.kind == kind, records.c.id == record_id)).first()
    return _row(row, _ring(conn)) if row is not None else None


def iter_records(
    conn: Connection,
    kind: str,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    status: str | None = None,
    exercise: bool | None = None,
    updated_after: datetime | None = None,
    batch: int = 2000,
) -> Iterator[RecordRow]:
    """Records of ``kind`` in a stable order (newest first), streamed in batches."""
    query = sa.select(records).where(records.c.kind == kind)
    if bbox is not None:
        west, south, east, north = bbox
        query = query.where(
            records.c.lat >= south, records.c.lat <= north, records.c.lon >= west, records.c.lon <= east
        )
    if status is not None:
        query = query.where(records.c.status == status)
    if exercise is not None:
        query = query.where(records.c.exercise == exercise)
    if updated_after is not None:
        query = query.where(records.c.updated_at > updated_after)
    query = query.order_by(records.c.updated_at.desc(), records.c.id)
    ring = _ring(conn)
    result = conn.execution_options(yield_per=batch).execute(query)
    for row in result:
        yield _row(row, ring)


def insert_observations(
    conn: Connection, items: Sequence[Observation], received_at: datetime, *, region: str | None = None
) -> None:
    if not items:
        return
    conn.execute(
        observations.insert(),
        [
            {
                "id": o.id,
                "received_at": received_at,
                "observed_at": o.observed_at,
                "agency": o.agency,
                "source": o.source,
                "sensor": o.sensor.value,
                "lat": o.lat,
                "lon": o.lon,
                "identity": o.identity,
                "exercise": o.exercise,
                "marking": o.marking.to_dict(),
                "region": region,
                "data": {
                    "position_sigma_m": o.position_sigma_m,
                    "hae_m": o.hae_m,
                    "course_deg": o.course_deg,
                    "speed_mps": o.speed_mps,
                    "callsign": o.callsign,
                    "target": o.target.value,
                    "attributes": o.attributes,
                },
            }
            for o in items
        ],
    )


def next_seqs(conn: Connection, n: int, name: str = "records") -> int:
    """Reserve ``n`` consecutive change numbers and return the first.

    The counter row is updated inside the caller's transaction, so writers are serialised on it and
    numbers become visible in order: a reader resuming "after N" never skips a change committed late.
    """
    if n <= 0:
        raise ValueError("n must be positive")
    result = conn.execute(
        counters.update()
        .where(counters.c.name == name)
        .values(value=counters.c.value + n)
        .returning(counters.c.value)
    ).first()
    if result is None:
        # A counter not seeded by the migrations: create it without racing another first writer.
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(counters)
        conn.execute(
            insert.values(name=name, value=0).on_conflict_do_nothing(index_elements=[counters.c.name])
        )
        return next_seqs(conn, n, name)
    return int(result[0]) - n + 1


def changes_since(
    conn: Connection, after_seq: int, *, limit: int = 10_000, newest: bool = False
) -> list[RecordRow]:
    """Records changed after ``after_seq``, oldest change first (the resume feed of a stream);
    with ``newest``, the most recent change first."""
    order = records.c.seq.desc() if newest else records.c.seq
    rows = conn.execute(
        sa.select(records).where(records.c.seq > after_seq).order_by(order).limit(limit)
    ).all()
    return [_row(r, _ring(conn)) for r in rows]


def existing_observation_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        query = sa.select(observations.c.id).where(observations.c.id.in_(chunk))
        found.update(r[0] for r in conn.execute(query))
    return found


def records_of_originator(conn: Connection, agency: str, *, limit: int = 50_000) -> list[RecordRow]:
    query = (
        sa.select(records).where(records.c.originator == agency).order_by(records.c.seq.desc()).limit(limit)
    )
    return [_row(r, _ring(conn)) for r in conn.execute(query)]
