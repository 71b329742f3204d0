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
from concord.adapters.db import audit_tables, create_engine
from concord.adapters.identity_store import register_identity_projections
from concord.adapters.journal import Projector, UnitOfWork, replay
from concord.adapters.keys import FileKeyStore
from concord.adapters.memory_bus import InMemoryBus
from concord.adapters.nats_bus import NatsBus
from concord.adapters.records_store import register_key_ring, rewrap_sealed_records
from concord.config import Settings
from concord.domain.ports import Bus, Clock
from concord.rules import RulesEngine
from concord.services.accounts import AccountService, LoginThrottle
from concord.services.audit import AuditService
from concord.services.coordination import CoordinationService, register_coordination_projections
from concord.services.picture import ChangeSource, Intake, PictureService, register_picture_projections
from concord.services.plans import PlanService
from concord.services.queries import RecordQueries
from concord.services.sharing import SharingService
from concord.services.zones import ZoneService, register_zone_projections
from concord.sharing import ReleasePolicies
from concord.tracking import GeoTracker, Region

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
    sharing: SharingService
    picture: PictureService
    zones: ZoneService
    queries: RecordQueries
    audit: AuditService
    plans: PlanService
    keys: FileKeyStore
    coordination: CoordinationService
    # Where doors hand observations and where live egress hears of changes: the picture itself when
    # embedded; the bus and the journal follower on the nodes of a scaled-out deployment.
    intake: Intake
    live: ChangeSource
    history_tables: list[sa.Table] = field(default_factory=list)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine, self.projector, self.clock, before_commit=[self.audit.before_commit])

    def replay(self) -> int:
        return replay(self.engine, self.projector)

    def rotate_master_key(self) -> int:
        """Add a new master key version and re-wrap every sealed record's data key under it.

        The new ring (which keeps the old versions) is saved first, so a failure part-way leaves every
        record readable; returns how many records were re-wrapped.
        """
        ring = self.keys.key_ring().rotate()
        self.keys.save_key_ring(ring)
        with self.engine.begin() as conn:
            return rewrap_sealed_records(conn, ring)

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
    if bus is None and settings.bus == "nats":
        bus = NatsBus.from_url(settings.nats_url, stream_replicas=settings.nats_stream_replicas)
    bus = bus or InMemoryBus()
    if settings.is_sqlite and not settings.database_url:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    engine = engine or create_engine(settings.effective_database_url)
    if upgrade:
        migrate.upgrade(engine)
    projector = Projector()
    register_identity_projections(projector)
    register_picture_projections(projector)
    register_zone_projections(projector)
    register_coordination_projections(projector)

    keys = FileKeyStore(settings.effective_key_dir)
    register_key_ring(engine, keys.key_ring)
    audit = AuditService(engine=engine, tables=audit_tables, signer=keys.audit_signer, clock=clock)

    def uow_factory() -> UnitOfWork:
        return UnitOfWork(engine, projector, clock, before_commit=[audit.before_commit])

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
    sharing = SharingService(
        engine=engine,
        uow=uow_factory,
        clock=clock,
        policies=ReleasePolicies.load(),
        agencies=accounts.list_agencies(),
    )
    accounts.on_agencies_changed.append(sharing.agencies_changed)
    zones = ZoneService(
        engine=engine,
        uow=uow_factory,
        clock=clock,
        agencies=lambda: [a.code for a in accounts.list_agencies()],
    )
    region = Region(
        name=settings.region_name,
        origin_lat=settings.region_lat,
        origin_lon=settings.region_lon,
        radius_m=settings.region_radius_m,
    )
    picture = PictureService(
        engine=engine,
        uow=uow_factory,
        clock=clock,
        tracker=GeoTracker(region),
        rules=RulesEngine(zones.zones()),
        region_name=settings.region_name,
    )
    zones.on_change.append(picture.replace_zones)
    # Zone imports reach live streams and TAK clients like every other change.
    zones.on_change.append(lambda _zones: picture.announce(zones.rows()))
    coordination = CoordinationService(
        engine=engine,
        uow=uow_factory,
        clock=clock,
        zones=zones,
        accounts=accounts,
        sharing=sharing,
        picture=picture,
    )
    zones.on_change.append(coordination.zones_changed)
    picture.subscribe(coordination.on_picture_change)
    queries = RecordQueries(engine=engine, clock=clock, gate=sharing, on_release=audit.record_releases)
    return Concord(
        settings=settings,
        engine=engine,
        clock=clock,
        bus=bus,
        projector=projector,
        accounts=accounts,
        sharing=sharing,
        picture=picture,
        zones=zones,
        queries=queries,
        audit=audit,
        plans=PlanService(queries=queries, clock=clock, origin=(settings.region_lat, settings.region_lon)),
        keys=keys,
        history_tables=audit.history_tables(),
        coordination=coordination,
        intake=picture,
        live=picture,
    )
