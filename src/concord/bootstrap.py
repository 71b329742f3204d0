"""The composition root: builds storage, clock, bus and services from settings.

Every door (API, CLI, CoT server, drill runner) calls :func:`bootstrap`; tests pass in-memory parts.
Nothing here runs at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from concord.adapters import migrate
from concord.adapters.clock import SystemClock
from concord.adapters.db import create_engine
from concord.adapters.identity_store import register_identity_projections
from concord.adapters.journal import Projector, UnitOfWork, replay
from concord.adapters.memory_bus import InMemoryBus
from concord.config import Settings
from concord.domain.ports import Bus, Clock
from concord.services.accounts import AccountService, LoginThrottle

__all__ = ["Concord", "bootstrap"]


@dataclass
class Concord:
    """The wired application: what the doors use."""

    settings: Settings
    engine: Engine
    clock: Clock
    bus: Bus
    projector: Projector
    accounts: AccountService
    history_tables: list[sa.Table] = field(default_factory=list)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.projector, self.clock)

    def replay(self) -> int:
        return replay(self.engine, self.projector)

    def schema_revision(self) -> str | None:
        return migrate.current_revision(self.engine)

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    bus: Bus | None = None,
    engine: Engine | None = None,
    upgrade: bool = True,
    password_hasher: PasswordHasher | None = None,
) -> Concord:
    """Wire a Concord from ``settings``; upgrades the schema unless told not to."""
    clock = clock or SystemClock()
    bus = bus or InMemoryBus()
    if settings.is_sqlite and not settings.database_url:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    engine = engine or create_engine(settings.effective_database_url)
    if upgrade:
        migrate.upgrade(engine)
    projector = Projector()
    register_identity_projections(projector)

    def uow_factory() -> UnitOfWork:
        return UnitOfWork(engine, projector, clock)

    accounts = AccountService(
        engine=engine,
        uow=uow_factory,
        clock=clock,
        secret_key=settings.secret_key.get_secret_value(),
        token_ttl_s=settings.token_ttl_s,
        session_ttl_s=settings.session_ttl_s,
        throttle=LoginThrottle(settings.login_max_failures, settings.login_window_s),
        hasher=password_hasher,
    )
    return Concord(
        settings=settings,
        engine=engine,
        clock=clock,
        bus=bus,
        projector=projector,
        accounts=accounts,
    )
