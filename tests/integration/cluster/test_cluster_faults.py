"""Fault tests of the scaled-out deployment: a tracker worker, an API node (with the egress node), a NATS
node and the database connections fail while a simulated load runs through two API nodes.

The load is what a joint operations centre sends: every scenario step's reports (each agency's under its
own operator), a message on an agency channel, and every fifth step an incident opened by hand (its
playbook creates timed tasks). A WebSocket client follows the live stream through the API nodes and a
TAK client follows the egress node. Everything the API acknowledged must be in the journal exactly once;
the stream client must end up holding exactly the tracks the API lists; the audit log must verify.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.integration.cluster.cluster_harness import (
    Doors,
    Harness,
    StreamWatcher,
    TakWatcher,
    free_port,
    seed_world,
    wait_until,
)

from concord.adapters.nats_bus import NatsBus
from concord.drills.sim import Scenario, ScenarioConfig
from concord.services.workers import LEASE_BUCKET, Partitioning

pytestmark = [pytest.mark.nats, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]

STEPS, DT_S, PACE_S = 30, 2.0, 0.2
LATE_S = 1.0  # an acknowledgement later than this after the first attempt counts as delayed
INCIDENT_EVERY = 5


def _journal_counts(engine: sa.Engine) -> dict[str, Counter[str]]:
    """Per journal type, how many events name each alert, message, incident or task."""
    j = sa.table("journal", sa.column("type"), sa.column("payload"))
    keys = {
        "AlertRaised": lambda p: p["alert"]["id"],
        "alert.routed": lambda p: p["alert_id"],
        "message.posted": lambda p: p["message_id"],
        "incident.opened": lambda p: p["incident_id"],
        "task.created": lambda p: f"{p['incident_id']}/{p['task_id']}",
    }
    out: dict[str, Counter[str]] = {t: Counter() for t in keys}
    with engine.connect() as conn:
        for kind, payload in conn.execute(sa.select(j.c.type, j.c.payload).where(j.c.type.in_(list(keys)))):
            data = payload if isinstance(payload, dict) else json.loads(payload)
            out[kind][keys[kind](data)] += 1
    return out


def _stored_ids(engine: sa.Engine, ids: list[str]) -> set[str]:
    t = sa.table("observations", sa.column("id"))
    found: set[str] = set()
    with engine.connect() as conn:
        for i in range(0, len(ids), 5000):
            found.update(conn.execute(sa.select(t.c.id).where(t.c.id.in_(ids[i : i + 5000]))).scalars())
    return found


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


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


async def _wait_owned(h: Harness, *, workers: int, timeout_s: float) -> None:
    """Wait until every region of the test has an owner and the regions are spread over ``workers``."""
    bus = NatsBus.from_url(h.nats.url, stream_replicas=3)
    await bus.connect()
    try:
        leases = await bus.lease_bucket(LEASE_BUCKET, ttl_s=float(h.env["CONCORD_LEASE_TTL_S"]))
        want = {f"region.{name}" for name in Partitioning.parse(h.partitions).names}
        deadline = time.monotonic() + timeout_s
        while True:
            holders = {k: o for k in want if (o := await leases.holder(k)) is not None}
            if len(holders) == len(want) and len(set(holders.values())) == workers:
                return
            assert time.monotonic() < deadline, f"the tracker workers did not share their regions: {holders}"
            await asyncio.sleep(0.2)
    finally:
        await bus.close()


class Deployment:
    """Two tracker workers, two API nodes and an egress node on the test's NATS cluster and database."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.ports = [free_port(), free_port()]
        self.cot_port = free_port()
        self.urls = [f"http://127.0.0.1:{p}" for p in self.ports]

    def start_api(self, i: int) -> None:
        self.h.start(f"api{i + 1}", "api", port=self.ports[i])

    def start_egress(self) -> None:
        self.h.start(
            "egress",
            "egress",
            env={"CONCORD_COT_TCP_PORT": str(self.cot_port), "CONCORD_COT_TCP_USER": "joc.commander"},
        )

    async def up(self) -> None:
        self.h.start("t1", "tracker")
        self.h.start("t2", "tracker")
        self.start_api(0)
        self.start_api(1)
        self.start_egress()
        for url in self.urls:
            await asyncio.to_thread(wait_until, lambda u=url: _healthy(u), timeout_s=90)  # type: ignore[misc]
        await _wait_owned(self.h, workers=2, timeout_s=60)


async def _load(
    doors: Doors,
    client: httpx.AsyncClient,
    scenario: Scenario,
    channel: str,
    tag: str,
    latency: list[tuple[float, float]],
) -> list[str]:
    """Send the scenario step by step; returns the incidents the API acknowledged."""
    incidents: list[str] = []
    for k in range(STEPS):
        batch = scenario.step(DT_S).observations
        t0 = time.time()
        await doors.post_step(client, batch)
        await doors.post_message(client, channel, k)
        if k % INCIDENT_EVERY == 0:
            incident_id = f"inc-{tag}-{k:03d}"
            body = {
                "title": f"Load incident {k}",
                "lead_agency": "CG",
                "incident_id": incident_id,
                "playbook_id": "general-assessment",
            }
            await doors.send(client, "/api/incidents", body, "cg.commander")
            incidents.append(incident_id)
        latency.append((t0, time.time() - t0))
        await asyncio.sleep(PACE_S)
    return incidents


async def _scenario(
    h: Harness,
    *,
    fault: Callable[[Deployment], Awaitable[None]],
    seed: int,
    fault_after_s: float = 1.0,
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    start = datetime.now(UTC) - timedelta(seconds=STEPS * DT_S + 60)
    scenario = Scenario.from_config(ScenarioConfig(start=start, seed=seed, run_id=tag))
    await asyncio.to_thread(seed_world, h.database_url, h.data_dir, json.dumps(scenario.zones_geojson()))
    deployment = Deployment(h)
    await deployment.up()
    engine = h.engine()
    regions = tuple(f"{name}-" for name in Partitioning.parse(h.partitions).names)
    doors = Doors(urls=deployment.urls)
    stop = asyncio.Event()
    latency: list[tuple[float, float]] = []
    async with httpx.AsyncClient() as client:
        channel = (await doors.send(client, "/api/channels/agency", {"partner": "BP"}, "cg.operator")).json()[
            "id"
        ]
        # The map layers of a watch officer: tracks and alerts.
        watcher = StreamWatcher(
            urls=deployment.urls, token=await doors.token(client, "joc.commander"), kinds=("track", "alert")
        )
        tak = TakWatcher(host="127.0.0.1", port=deployment.cot_port)
        watching = [asyncio.create_task(watcher.run(stop)), asyncio.create_task(tak.run(stop))]
        try:
            load = asyncio.create_task(_load(doors, client, scenario, channel, tag, latency))
            await asyncio.to_thread(
                wait_until, lambda: len(_track_versions(engine, regions)) >= 20, timeout_s=60
            )
            await asyncio.sleep(fault_after_s)
            tracks_before = await asyncio.to_thread(_track_versions, engine, regions)
            fault_at = time.time()
            await fault(deployment)
            incidents = await load
            # Acknowledged means committed: no waiting for a backlog to drain.
            stored = await asyncio.to_thread(_stored_ids, engine, list(doors.acked_obs))
            counts = await asyncio.to_thread(_journal_counts, engine)
            tracks_after = await asyncio.to_thread(_track_versions, engine, regions)
            headers = {"Authorization": f"Bearer {watcher.token}"}

            def stream_matches() -> bool:
                r = httpx.get(deployment.urls[0] + "/api/tracks?limit=1000", headers=headers, timeout=5)
                return r.status_code == 200 and watcher.matches(r.json()["data"])

            stream_s = await asyncio.to_thread(wait_until, stream_matches, timeout_s=60)
            await asyncio.to_thread(wait_until, lambda: len(tak.uids) > 0, timeout_s=30)
        finally:
            stop.set()
            await asyncio.gather(*watching, return_exceptions=True)
            engine.dispose()
    after = [d for t, d in latency if t >= fault_at - 1]
    messages, opened, tasks = counts["message.posted"], counts["incident.opened"], counts["task.created"]
    report = {
        "acked_observations": len(doors.acked_obs),
        "acked_messages": len(doors.acked_messages),
        "acked_incidents": len(incidents),
        "tasks": len(tasks),
        "alerts": len(counts["AlertRaised"]),
        "lost": len(doors.acked_obs)
        - len(stored)
        + sum(1 for m in doors.acked_messages if messages[m] == 0)
        + sum(1 for i in incidents if opened[i] == 0),
        "lost_detail": {
            "observations": len(doors.acked_obs) - len(stored),
            "messages": sum(1 for m in doors.acked_messages if messages[m] == 0),
            "incidents": sum(1 for i in incidents if opened[i] == 0),
        },
        "conflicts_retried": doors.conflicts,
        "conflict_reasons": sorted(set(doors.conflict_reasons)),
        "duplicated": sum(n - 1 for c in counts.values() for n in c.values() if n > 1),
        "delayed_steps": sum(1 for d in after if d > LATE_S),
        "recovery_s": round(max(after, default=0.0), 2),
        "retries": doors.retries,
        "tracks_continued": sum(1 for t, v in tracks_before.items() if tracks_after.get(t, v) > v),
        "stream": {
            "connects": watcher.connects,
            "resumes": watcher.resumes,
            "snapshots": watcher.snapshots,
            "reconnect_s": [round(x, 2) for x in watcher.reconnect_s],
            "in_step_after_s": round(stream_s, 2),
        },
        "tak": {"connects": tak.connects, "uids": len(tak.uids)},
    }
    print(json.dumps(report))  # noqa: T201 - the figures of the fault run
    return report


def _check(report: dict[str, Any], h: Harness) -> None:
    assert report["acked_observations"] > 1000
    assert report["acked_messages"] == STEPS
    assert report["acked_incidents"] == STEPS // INCIDENT_EVERY
    assert report["tasks"] > 0  # the incidents' playbook tasks
    assert report["lost"] == 0
    assert report["duplicated"] == 0
    assert report["tracks_continued"] > 0
    assert report["tak"]["uids"] > 0
    assert _audit_ok(h)


async def test_cluster_tracker_worker_killed_and_restarted(harness: Harness) -> None:
    async def fault(d: Deployment) -> None:
        harness.kill("t1")
        await asyncio.sleep(3)
        harness.start("t1b", "tracker")

    report = await _scenario(harness, fault=fault, seed=11)
    _check(report, harness)
    assert report["stream"]["connects"] == 1  # nothing the stream client noticed


async def test_cluster_nats_node_killed_and_restarted(harness: Harness) -> None:
    async def fault(d: Deployment) -> None:
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

    async def fault(d: Deployment) -> None:
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


async def test_cluster_api_and_egress_nodes_killed_and_restarted(harness: Harness) -> None:
    recovered: list[float] = []

    async def fault(d: Deployment) -> None:
        # The stream client is on one of the two API nodes: kill both in turn, and the egress node.
        harness.kill("api1")
        harness.kill("egress")
        t0 = time.monotonic()
        d.start_api(0)
        d.start_egress()
        await asyncio.to_thread(wait_until, lambda: _healthy(d.urls[0]), timeout_s=60)
        recovered.append(time.monotonic() - t0)
        harness.kill("api2")
        d.start_api(1)
        await asyncio.to_thread(wait_until, lambda: _healthy(d.urls[1]), timeout_s=60)

    report = await _scenario(harness, fault=fault, seed=14)
    print(json.dumps({"api_recovery_s": round(recovered[0], 2)}))  # noqa: T201
    _check(report, harness)
    # The stream client lost its node and resumed from its last change number on the other one.
    assert report["stream"]["connects"] >= 2 and report["stream"]["resumes"] >= 1
    assert report["tak"]["connects"] >= 2
