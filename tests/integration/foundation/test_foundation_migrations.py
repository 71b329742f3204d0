"""Migrations: an upgrade from the previous schema loses nothing; the head matches the code's schema."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from concord.adapters import migrate
from concord.adapters.db import create_engine, metadata


def test_upgrade_from_previous_version_keeps_data(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        migrate.upgrade(engine, "0001")
        assert migrate.current_revision(engine) == "0001"
        now = datetime(2026, 1, 1, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO agencies (code, name, kind, created_at, seq) "
                    "VALUES ('BP', 'Border', 'other', :t, 1)"
                ),
                {"t": now.replace(tzinfo=None) if engine.dialect.name == "sqlite" else now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, username, agency, roles, clearance, categories, password_hash, "
                    "active, created_at, seq) VALUES ('u1', 'bp.op', 'BP', '[\"operator\"]', 'RESTRICTED', "
                    "'[]', NULL, true, :t, 2)"
                ),
                {"t": now.replace(tzinfo=None) if engine.dialect.name == "sqlite" else now},
            )
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT username, display_name FROM users")).one()
        assert tuple(row) == ("bp.op", "")
        migrate.upgrade(engine)  # running it again is harmless
    finally:
        engine.dispose()


def test_head_schema_matches_the_code(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
        assert diff == []
    finally:
        engine.dispose()
