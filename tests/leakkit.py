"""The leak suite's world: agencies, a pool of viewers, agreements, and canary records with every
marking combination, planted through the real pipeline; and what the reference rules say each viewer
may receive of them. Every egress path's leak test compares what arrives with ``expected_for``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from tests.conftest import FAST_HASHER
from tests.reference_rules import Expected, reference

from concord.adapters.clock import ManualClock
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings
from concord.domain.agreement import Agreement
from concord.domain.identity import Role, User, Viewer
from concord.domain.marking import DEFAULT_LADDER, Marking, Tlp
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.domain.record import RecordRow
from concord.services.records import shareable_of

PASSWORD = "canary password 1"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AGENCIES = (
    ("BP", "border-police"),
    ("CUS", "customs"),
    ("IMM", "immigration"),
    ("CG", "coast-guard"),
    ("ARMY", "military"),
    ("INT", "intelligence"),
    ("JOC", "other"),
)
KINDS = dict(AGENCIES)
ORIGINATORS = ("BP", "CG", "INT", "CUS")
PARTNER = {"BP": "IMM", "CG": "CUS", "INT": "ARMY", "CUS": "CG"}
CATEGORY_SETS: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset({"LAW-ENFORCEMENT-SENSITIVE"}),
    frozenset({"PII"}),
    frozenset({"INTEL-SOURCE"}),
)
# (suffix, role, clearance, categories)
PROFILES = (
    ("op", Role.OPERATOR, "RESTRICTED", ()),
    ("an", Role.ANALYST, "CONFIDENTIAL", ("PII", "LAW-ENFORCEMENT-SENSITIVE")),
    ("cmd", Role.COMMANDER, "SECRET", ("PII", "LAW-ENFORCEMENT-SENSITIVE", "INTEL-SOURCE")),
    ("aud", Role.AUDITOR, "SECRET", ()),
)


@dataclass
class LeakWorld:
    concord: Concord
    users: list[User] = field(default_factory=list)
    canaries: dict[str, Marking] = field(default_factory=dict)  # identity -> marking

    def rows(self, kind: str = "track") -> list[RecordRow]:
        from concord.adapters.records_store import iter_records

        with self.concord.engine.connect() as conn:
            return list(iter_records(conn, kind))

    def expected_for(
        self, viewer: Viewer, kind: str = "track", *, exercise: bool = False
    ) -> dict[str, Expected]:
        """For each stored record of ``kind``: what the reference rules say this viewer receives."""
        agreements = self.concord.sharing.gate.agreements
        at = self.concord.clock.now()
        out = {}
        for row in self.rows(kind):
            if row.exercise != exercise:
                continue
            out[row.id] = reference(
                shareable_of(row), viewer, agreements, exercise, at=at, agency_kinds=KINDS
            )
        return out

    def visible_ids(self, viewer: Viewer, kind: str = "track") -> set[str]:
        return {rid for rid, e in self.expected_for(viewer, kind).items() if e.visible}


def canary_markings() -> Iterator[Marking]:
    for originator, level, tlp, rel, cats in itertools.product(
        ORIGINATORS,
        DEFAULT_LADDER.levels,
        (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED),
        ("own", "partner", "all"),
        CATEGORY_SETS,
    ):
        rel_to = {
            "own": frozenset({originator}),
            "partner": frozenset({originator, PARTNER[originator]}),
            "all": frozenset(code for code, _ in AGENCIES),
        }[rel]
        yield Marking(classification=level, originator=originator, rel_to=rel_to, tlp=tlp, categories=cats)


def build_leak_world(tmp: Path, *, database_url: str | None = None) -> LeakWorld:
    settings = Settings(
        env="test",
        database_url=database_url or f"sqlite:///{(tmp / 'leaks.db').as_posix()}",
        data_dir=tmp / "var",
        secret_key="l" * 40,
    )
    clock = ManualClock(START)
    concord = bootstrap(settings, clock=clock, password_hasher=FAST_HASHER)
    world = LeakWorld(concord=concord)
    for code, kind in AGENCIES:
        concord.accounts.create_agency(code, f"Agency {code}", kind)
        for suffix, role, clearance, cats in PROFILES:
            categories = set(cats)
            if code == "IMM" and role is Role.COMMANDER:
                categories.add("BIOMETRIC")
            world.users.append(
                concord.accounts.create_user(
                    f"{code.lower()}.{suffix}",
                    code,
                    [role],
                    clearance,
                    password=PASSWORD,
                    categories=categories,
                )
            )
    sign = concord.sharing.sign
    sign(_agreement("cg-cus", "CG", "CUS", {"LAW-ENFORCEMENT-SENSITIVE"}), actor="test")
    sign(_agreement("bp-imm", "BP", "IMM", {"PII"}), actor="test")
    sign(_agreement("int-army", "INT", "ARMY", set()), actor="test")
    sign(_agreement("cus-cg", "CUS", "CG", {"LAW-ENFORCEMENT-SENSITIVE", "PII"}), actor="test")
    concord.sharing.revoke("cus-cg", actor="test", reason="leak suite: a revoked agreement")
    sign(
        _agreement(
            "cg-bp", "CG", "BP", set(), until=START - timedelta(days=1), since=START - timedelta(days=30)
        ),
        actor="test",
    )
    observations = []
    for i, marking in enumerate(canary_markings()):
        identity = f"canary:{i}"
        world.canaries[identity] = marking
        observations.append(
            Observation(
                id=f"canary-{i}",
                source=f"test:{marking.originator}",
                agency=marking.originator,
                sensor=SensorKind.PATROL,
                observed_at=START,
                # One canary every ~2 km on a grid inside the region, far enough apart never to fuse.
                lat=41.0 + (i // 40) * 0.02,
                lon=26.0 + (i % 40) * 0.025,
                marking=marking,
                position_sigma_m=10.0,
                identity=identity,
                callsign=f"CANARY-{i}",
                target=TargetKind.VEHICLE,
            )
        )
    receipt = concord.picture.ingest(observations, actor="test")
    assert receipt.accepted == len(observations), receipt
    assert len(world.rows("track")) == len(observations)
    return world


def _agreement(
    agreement_id: str,
    owner: str,
    partner: str,
    categories: set[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Agreement:
    return Agreement(
        agreement_id=agreement_id,
        owner=owner,
        partner=partner,
        valid_from=since or START - timedelta(days=1),
        valid_until=until,
        categories=frozenset(categories),
        fields=frozenset({"person_name"}) if "PII" in categories else frozenset(),
    )


def table_count(concord: Concord, table: sa.Table) -> int:
    with concord.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
