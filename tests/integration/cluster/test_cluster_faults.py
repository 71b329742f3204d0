"""Fault tests of the scaled-out deployment: a tracker worker, an API node, a NATS node and the database
connections fail while a simulated load runs; nothing acknowledged is lost or stored twice."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.integration.cluster.cluster_harness import Harness, free_port, wait_until

from concord.adapters.nats_bus import NatsBus
from concord.services.workers import LEASE_BUCKET, Partitioning

pytestmark = [pytest.mark.nats, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(120)]

STEPS, DT_S, PACE_S = 30, 2.0, 0.25
LATE_S = 1.0  # an observation stored later than this after its acknowledgement counts as delayed


def _journal_counts(engine: sa.Engine) -> tuple[Counter[str], Counter[str]]:
    j = sa.table("journal", sa.column("type"), sa.column("payload"))
    raised: Counter[str] = Counter()
    routed: Counter[str] = Counter()
    with engine.connect() as conn:
        for kind, payload in conn.execute(
            sa.select(j.c.type, j.c.payload).where(j.c.type.in_(["AlertRaised", "alert.routed"]))
        ):
            data = payload if isinstance(payload, dict) else json.loads(payload)
            if kind == "AlertRaised":
                raised[data["alert"]["id"]] += 1
            else:
                routed[data["alert_id"]] += 1
    return raised, routed


def _observation_rows(engine: sa.Engine, ids: list[str]) -> int:
    t = sa.table("observations", sa.column("id"))
    total = 0
    with engine.connect() as conn:
        for i in range(0, len(ids), 5000):
            total += conn.execute(
                sa.select(sa.func.count()).select_from(t).where(t.c.id.in_(ids[i : i + 5000]))
            ).scalar_one()
    return total


def _track_versions(engine: sa.Engine, regions: tuple[str, ...]) -> dict[str, int]:
    """This test's tracks (their ids start with the region name): id → change number (grows on update)."""
    r = sa.table("records", sa.column("kind"), sa.column("id"), sa.column("seq"))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(r.c.id, r.c.seq).where(r.c.kind == "track"))
        return {row.id: int(row.seq) for row in rows if row.id.startswith(regions)}


def _audit_ok(h: Harness) -> bool:
    from concord.bootstrap import bootstrap
    from concord.config import Settings

    c = bootstrap(Settings(env="test", database_url=h.database_url, data_dir=h.data_dir), upgrade=False)
    try:
        return bool(c.audit.verify().ok)
    finally:
        c.close()


async def _wait_owned(bus: NatsBus, h: Harness, *, workers: int, timeout_s: float) -> None:
    """Wait until every region of the test has an owner and the regions are spread over ``workers``."""
    leases = await bus.lease_bucket(LEASE_BUCKET, ttl_s=float(h.env["CONCORD_LEASE_TTL_S"]))
    want = {f"region.{name}" for name in Partitioning.parse(h.partitions).names}
    deadline = time.monotonic() + timeout_s
    while True:
        holders = {k: o for k in want if (o := await leases.holder(k)) is not None}
        if len(holders) == len(want) and len(set(holders.values())) == workers:
            return
        assert time.monotonic() < deadline, f"the tracker workers did not share their regions: {holders}"
        await asyncio.sleep(0.2)


async def _scenario(
    h: Harness,
    *,
    fault: Callable[[], Awaitable[None]],
    seed: int,
    fault_after_s: float = 1.0,
) -> dict[str, Any]:
    engine = h.engine()
    regions = tuple(f"{name}-" for name in Partitioning.parse(h.partitions).names)
    bus = NatsBus.from_url(h.nats.url, stream_replicas=3)
    await bus.connect()
    await bus.ensure_streams()
    try:
        h.start("t1", "tracker")
        h.start("t2", "tracker")
        await _wait_owned(bus, h, workers=2, timeout_s=60)
        load = asyncio.create_task(h.load(bus, steps=STEPS, dt_s=DT_S, pace_s=PACE_S, seed=seed))
        await asyncio.to_thread(wait_until, lambda: len(_track_versions(engine, regions)) >= 20, timeout_s=40)
        await asyncio.sleep(fault_after_s)
        tracks_before = await asyncio.to_thread(_track_versions, engine, regions)
        fault_at = time.time()
        await fault()
        await load
        missing = await asyncio.to_thread(h.wait_drained, engine, timeout_s=40)
        stored = await asyncio.to_thread(h.stored, engine)
        latency = {i: stored[i] - h.acked_at[i] for i in stored}
        after = [v for i, v in latency.items() if h.acked_at[i] >= fault_at - 1]
        raised, routed = await asyncio.to_thread(_journal_counts, engine)
        rows = await asyncio.to_thread(_observation_rows, engine, list(h.acked_at))
        tracks_after = await asyncio.to_thread(_track_versions, engine, regions)
        report = {
            "acked": len(h.acked_at),
            "lost": missing,
            "duplicated": rows
            - len(stored)
            + sum(n - 1 for n in raised.values() if n > 1)
            + sum(n - 1 for n in routed.values() if n > 1),
            "delayed": sum(1 for v in latency.values() if v > LATE_S),
            "recovery_s": round(max(after, default=0.0), 2),
            "alerts": len(raised),
            # Tracks that existed before the fault and were updated after it: fusion resumed, not restarted.
            "tracks_continued": sum(1 for t, v in tracks_before.items() if tracks_after.get(t, v) > v),
            "publish_retries": h.publish_failures,
        }
        print(json.dumps(report))  # noqa: T201 - the figures of the fault run
        return report
    finally:
        await bus.close()
        engine.dispose()


def _check(report: dict[str, Any], h: Harness) -> None:
    assert report["acked"] > 1000
    assert report["lost"] == 0
    assert report["duplicated"] == 0
    assert report["tracks_continued"] > 0
    assert _audit_ok(h)


async def test_cluster_tracker_worker_killed_and_restarted(harness: Harness) -> None:
    async def fault() -> None:
        harness.kill("t1")
        await asyncio.sleep(3)
        harness.start("t1b", "tracker")

    report = await _scenario(harness, fault=fault, seed=11)
    _check(report, harness)


async def test_cluster_nats_node_killed_and_restarted(harness: Harness) -> None:
    async def fault() -> None:
        harness.nats.stop_node("n1", kill=True)
        await asyncio.sleep(4)
        await asyncio.to_thread(harness.nats.start_node, "n1")

    report = await _scenario(harness, fault=fault, seed=12)
    _check(report, harness)


async def test_cluster_database_connections_killed(harness: Harness) -> None:
    admin = sa.create_engine(
        harness.database_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
    )
    name = harness.database_url.rsplit("/", 1)[1]

    async def fault() -> None:
        for _ in range(3):
            with admin.connect() as conn:
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": name},
                )
            await asyncio.sleep(1)

    try:
        report = await _scenario(harness, fault=fault, seed=13)
    finally:
        admin.dispose()
    _check(report, harness)


async def test_cluster_api_node_killed_and_restarted(harness: Harness) -> None:
    port = free_port()
    harness.start("api", "api", port=port)
    url = f"http://127.0.0.1:{port}/api/health"

    def healthy() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    await asyncio.to_thread(wait_until, healthy, timeout_s=60)
    recovered: list[float] = []

    async def fault() -> None:
        harness.kill("api")
        t0 = time.monotonic()
        harness.start("api", "api", port=port)
        await asyncio.to_thread(wait_until, healthy, timeout_s=60)
        recovered.append(time.monotonic() - t0)

    report = await _scenario(harness, fault=fault, seed=14)
    print(json.dumps({"api_recovery_s": round(recovered[0], 2)}))  # noqa: T201
    _check(report, harness)
    assert healthy()
