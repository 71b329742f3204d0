"""Fixtures shared by every test: databases (SQLite and PostgreSQL), a wired Concord, API clients."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from concord.adapters.clock import ManualClock
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings

PG_URL = os.environ.get("CONCORD_TEST_PG_URL", "")
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Cheap hashing parameters keep the suite fast; production uses argon2-cffi's defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _pg_admin_engine() -> sa.Engine:
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("PostgreSQL not available (set CONCORD_TEST_PG_URL or run `make test`)")
    yield PG_URL


def new_pg_database(server_url: str) -> tuple[str, str]:
    name = "t_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return name, server_url.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(server_url: str, name: str) -> None:
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, and a new PostgreSQL database when one is available."""
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path / 'concord.db').as_posix()}"
        return
    server = request.getfixturevalue("pg_server")
    name, url = new_pg_database(server)
    try:
        yield url
    finally:
        drop_pg_database(server, name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(env="test", database_url=db_url, data_dir=tmp_path / "var", secret_key="t" * 40)


@pytest.fixture
def concord(settings: Settings, clock: ManualClock) -> Iterator[Concord]:
    app = bootstrap(settings, clock=clock, password_hasher=FAST_HASHER)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def api(settings: Settings, concord: Concord) -> Iterator[object]:
    """A TestClient on the API of ``concord`` (the same database and clock)."""
    from fastapi.testclient import TestClient

    from concord.entrypoints.api.main import create_app

    with TestClient(create_app(settings, concord=concord)) as client:
        yield client
