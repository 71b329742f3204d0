"""The relational schema (SQLAlchemy Core) and engine creation for SQLite and PostgreSQL.

The journal is the source of truth; every other table here is either a projection of it (rebuilt by
``concord replay``) or operational state that is not history (sessions, login throttle).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Dialect, Engine

from concord.adapters.audit_sql import define_audit_tables

__all__ = [
    "PROJECTION_TABLES",
    "UtcDateTime",
    "agencies",
    "api_tokens",
    "audit_tables",
    "counters",
    "create_engine",
    "journal",
    "metadata",
    "observations",
    "records",
    "sessions",
    "users",
]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops the zone) and PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused by the database layer")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


journal = sa.Table(
    "journal",
    metadata,
    sa.Column("seq", BigIntId, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("type", sa.String(80), nullable=False, index=True),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("recorded_at", UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(120), nullable=False),
    sa.Column("agency", sa.String(16), nullable=False),
    sa.Column("marking", sa.JSON(), nullable=False),
    sa.Column("exercise", sa.Boolean(), nullable=False, default=False),
    sa.Column("payload", sa.JSON(), nullable=False),
)

agencies = sa.Table(
    "agencies",
    metadata,
    sa.Column("code", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("agency", sa.String(16), sa.ForeignKey("agencies.code"), nullable=False, index=True),
    sa.Column("display_name", sa.String(200), nullable=False, default=""),
    sa.Column("roles", sa.JSON(), nullable=False),
    sa.Column("clearance", sa.String(32), nullable=False),
    sa.Column("categories", sa.JSON(), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=False, default=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("token_hash", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=True),
    sa.Column("revoked", sa.Boolean(), nullable=False, default=False),
)

# Operational state, not history: a web session can be revoked (logout) before it expires.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(43), primary_key=True),
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("revoked", sa.Boolean(), nullable=False, default=False),
)

# The operational picture: one row per live record (track, alert, incident, task, message, zone, unit),
# as the release gate sees it: kind, id, marking, exercise flag and the record's fields as JSON.
records = sa.Table(
    "records",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("originator", sa.String(16), nullable=False),
    sa.Column("marking", sa.JSON(), nullable=False),
    sa.Column("exercise", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(32), nullable=True),
    sa.Column("lat", sa.Float(), nullable=True),
    sa.Column("lon", sa.Float(), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.Index("ix_records_kind_updated", "kind", "updated_at"),
    sa.Index("ix_records_seq", "seq"),
)

# Raw observations as received (append-only, never edited): the tracker's input, kept so that nothing
# acknowledged is lost and the picture can be recomputed.
observations = sa.Table(
    "observations",
    metadata,
    sa.Column("id", sa.String(80), primary_key=True),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("observed_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("agency", sa.String(16), nullable=False),
    sa.Column("source", sa.String(120), nullable=False),
    sa.Column("sensor", sa.String(16), nullable=False),
    sa.Column("lat", sa.Float(), nullable=False),
    sa.Column("lon", sa.Float(), nullable=False),
    sa.Column("identity", sa.String(120), nullable=True),
    sa.Column("exercise", sa.Boolean(), nullable=False),
    sa.Column("marking", sa.JSON(), nullable=False),
    sa.Column("data", sa.JSON(), nullable=False),
    # The tracking region that fused it (a scaled-out deployment replays a region's own reports).
    sa.Column("region", sa.String(32), nullable=True),
    sa.Index("ix_observations_region_received", "region", "received_at"),
)

# Named counters; "records" numbers every change of the picture, so a stream resumes from a number.
counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger(), nullable=False),
)

# The tamper-evident audit log (RFC 9162 Merkle tree): history in its own right, never replayed.
audit_tables = define_audit_tables(metadata)

# Rebuilt by replay, in this order (children last so foreign keys hold).
PROJECTION_TABLES: list[sa.Table] = [agencies, users, api_tokens]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def create_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url`` with the pragmas and pool settings Concord relies on."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 10},
        )
        sa_event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
