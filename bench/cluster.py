"""Benchmark of the scaled-out path: observations → tracks → alerts, embedded vs the local cluster.

The same seeded scenario (``--steps`` steps of ``--dt`` seconds) is processed three ways, each on a
fresh PostgreSQL database:

- ``embedded``: one process calls ``PictureService.ingest`` step by step (the baseline);
- ``cluster-1``: the observations are published to a 3-node NATS JetStream cluster (3 replicas,
  ``sync_interval: always``) and one tracker worker process owns both regions;
- ``cluster-2``: the same with two tracker worker processes, one region each;
- ``cluster-2-api``: two tracker workers, the observations posted to an API node
  (``POST /api/observations``, each agency's reports under its operator, ``--concurrency`` requests in
  flight), which answers only once the trackers committed them: what a door's client sees.

Reported: observations per second from the first publish until every acknowledged observation is
stored, publish throughput alone, alerts raised, and for the cluster runs the store latency
(acknowledgement → committed) median and 95th percentile. PostgreSQL comes from
``CONCORD_TEST_PG_URL`` or is started by ``scripts/pg-cluster.sh`` in a temporary directory.

    .venv/bin/python bench/cluster.py              # default size (a minute or two)
    .venv/bin/python bench/cluster.py --steps 60   # quick run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from concord.adapters.nats_bus import NatsBus
from concord.bootstrap import bootstrap
from concord.config import Settings
from concord.domain.observation import Observation
from concord.drills.sim import Scenario, ScenarioConfig
from concord.ingest import observation_item
from concord.services.cluster import NatsCluster, concord_env, free_port, spawn_role
from concord.services.workers import LEASE_BUCKET, ObservationPublisher, Partitioning, RouteBook

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = "west:-180:26.7,east:26.7:180"


def scenario_steps(steps: int, dt_s: float, seed: int, run_id: str) -> list[list[Observation]]:
    """The same scenario for every run; ``run_id`` gives its observations fresh ids (JetStream drops
    an id it stored in the last two minutes, whatever the subject)."""
    start = datetime.now(UTC) - timedelta(seconds=steps * dt_s + 60)
    sim = Scenario.from_config(ScenarioConfig(start=start, seed=seed, run_id=run_id))
    return [sim.step(dt_s).observations for _ in range(steps)]


class Postgres:
    def __init__(self) -> None:
        self.url = os.environ.get("CONCORD_TEST_PG_URL", "")
        self.dir: str | None = None

    def __enter__(self) -> Postgres:
        if not self.url:
            self.dir = tempfile.mkdtemp(prefix="concord-bench-pg-")
            port = free_port()
            subprocess.run(
                [str(ROOT / "scripts" / "pg-cluster.sh"), "start", self.dir, str(port)], check=True
            )
            self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.dir:
            subprocess.run([str(ROOT / "scripts" / "pg-cluster.sh"), "stop", self.dir], check=False)

    def new_database(self, name: str) -> str:
        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url.rsplit("/", 1)[0] + "/" + name


def alerts_of(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM journal WHERE type = 'AlertRaised'")).scalar_one()
    engine.dispose()
    return int(n)


def stored_count(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM observations")).scalar_one()
    engine.dispose()
    return int(n)


def run_embedded(url: str, data_dir: Path, batches: list[list[Observation]]) -> dict[str, Any]:
    concord = bootstrap(Settings(env="test", database_url=url, data_dir=data_dir))
    try:
        n = sum(len(b) for b in batches)
        t0 = time.perf_counter()
        for batch in batches:
            concord.picture.ingest(batch, actor="bench")
        elapsed = time.perf_counter() - t0
    finally:
        concord.close()
    return {
        "observations": n,
        "stored": stored_count(url),
        "seconds": round(elapsed, 2),
        "obs_per_s": round(n / elapsed, 1),
        "alerts": alerts_of(url),
    }


def seed_users(url: str, data_dir: Path) -> None:
    from concord.services.demo import ensure_demo_world

    concord = bootstrap(Settings(env="dev", database_url=url, data_dir=data_dir), upgrade=False)
    try:
        ensure_demo_world(concord.accounts)
    finally:
        concord.close()


async def post_through_api(
    base: str, batches: list[list[Observation]], concurrency: int
) -> tuple[dict[str, float], list[float], float]:
    """Post every step (per agency) with ``concurrency`` requests in flight, in step order.

    Returns observation id → acknowledged at, the request latencies, and when posting began."""
    import httpx

    acked: dict[str, float] = {}
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=120) as client:
        tokens: dict[str, str] = {}
        for agency in sorted({o.agency for b in batches for o in b}):
            user = f"{agency.lower()}.operator"
            r = await client.post(
                base + "/api/auth/token", json={"username": user, "password": f"{user}-demo"}
            )
            r.raise_for_status()
            tokens[agency] = r.json()["access_token"]

        async def one(agency: str, items: list[Observation]) -> None:
            async with gate:
                t = time.time()
                r = await client.post(
                    base + "/api/observations?partial=true",
                    json={"observations": [observation_item(o) for o in items]},
                    headers={"Authorization": f"Bearer {tokens[agency]}"},
                )
                r.raise_for_status()
                now = time.time()
                latencies.append(now - t)
                refused = {str(x.get("id")) for x in r.json()["rejected"]}
                for o in items:
                    if o.id not in refused:
                        acked[o.id] = now

        t0 = time.time()
        pending: list[asyncio.Task[None]] = []
        for batch in batches:
            by_agency: dict[str, list[Observation]] = {}
            for o in batch:
                by_agency.setdefault(o.agency, []).append(o)
            for agency, items in by_agency.items():
                await gate.acquire()  # keep the steps in order: start one when a slot is free
                gate.release()
                pending.append(asyncio.create_task(one(agency, items)))
        await asyncio.gather(*pending)
    return acked, latencies, t0


async def run_cluster(
    url: str,
    data_dir: Path,
    nats: NatsCluster,
    batches: list[list[Observation]],
    workers: int,
    tag: str,
    *,
    via_api: bool = False,
    concurrency: int = 8,
) -> dict[str, Any]:
    partitions = ",".join(f"{p}{tag}:{a}:{b}" for p, a, b in (x.split(":") for x in PARTITIONS.split(",")))
    env = concord_env(
        database_url=url, nats_url=nats.url, data_dir=data_dir, replicas=3, partitions=partitions
    )
    subprocess.run(
        [sys.executable, "-c", "from concord.entrypoints.cli import main; main()", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    procs = [
        spawn_role("tracker", {**env, "CONCORD_WORKER_ID": f"bench-{tag}-{i}"}, data_dir / f"tracker-{i}.log")
        for i in range(workers)
    ]
    bus = NatsBus.from_url(nats.url, stream_replicas=3)
    await bus.connect()
    try:
        await bus.ensure_streams()
        names = Partitioning.parse(partitions).names
        leases = await bus.lease_bucket(LEASE_BUCKET, ttl_s=3.0)
        deadline = time.monotonic() + 90
        while True:
            owned = {n: h for n in names if (h := await leases.holder(f"region.{n}")) is not None}
            if len(owned) == len(names) and len(set(owned.values())) == workers:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not share the regions: {owned}")
            await asyncio.sleep(0.2)
        if via_api:
            seed_users(url, data_dir)
            port = free_port()
            procs.append(spawn_role("api", env, data_dir / "api.log", port=port))
            base = f"http://127.0.0.1:{port}"
            await wait_healthy(base)
            acked_at, api_latencies, t0 = await post_through_api(base, batches, concurrency)
            published_s = time.time() - t0
        else:
            publisher = ObservationPublisher(bus, Partitioning.parse(partitions), routes=RouteBook(bus))
            acked_at = {}
            t0 = time.time()
            for batch in batches:
                await publisher.publish(batch)
                now = time.time()
                for o in batch:
                    acked_at[o.id] = now
            published_s = time.time() - t0
        engine = sa.create_engine(url)
        t = sa.table("observations", sa.column("id"), sa.column("received_at"))
        stored: dict[str, float] = {}
        # Done when everything is stored, or (the tracker refuses some reports, as embedded does)
        # when nothing more arrived for 10 s.
        last_change = time.time()
        while len(stored) < len(acked_at) and (not stored or time.time() - last_change < 10.0):
            if time.time() - t0 > 900:
                raise RuntimeError("the workers stored nothing for 15 minutes")
            with engine.connect() as conn:
                now_stored = {
                    r.id: r.received_at.timestamp() for r in conn.execute(sa.select(t.c.id, t.c.received_at))
                }
            if len(now_stored) != len(stored):
                stored, last_change = now_stored, time.time()
            await asyncio.sleep(0.25)
        done_s = max(stored.values()) - t0
        engine.dispose()
        n = len(acked_at)
        if via_api:
            # Acknowledged means committed: the answer's latency is the whole path.
            latencies = sorted(api_latencies)
            done_s = max(max(acked_at.values()) - t0, done_s)
        else:
            latencies = sorted(stored[i] - acked_at[i] for i in acked_at if i in stored)
        return {
            "workers": workers,
            "doors": f"API node, {concurrency} requests in flight" if via_api else "bus publisher",
            "observations": n,
            "stored": len(stored),
            "seconds": round(done_s, 2),
            "obs_per_s": round(n / done_s, 1),
            "publish_obs_per_s": round(n / published_s, 1),
            "latency_p50_s": round(statistics.median(latencies), 3),
            "latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
            "alerts": alerts_of(url),
        }
    finally:
        await bus.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


async def wait_healthy(base: str, timeout_s: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(base + "/api/health", timeout=1)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError(f"the API node at {base} did not answer")


def main() -> None:
    # A terminated run still stops the NATS servers and workers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="scenario steps")
    parser.add_argument("--dt", type=float, default=2.0, help="seconds per step")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8, help="API requests in flight (cluster-2-api)")
    args = parser.parse_args()
    stamp = int(time.time())
    batches = scenario_steps(args.steps, args.dt, args.seed, f"embedded-{stamp}")
    out: dict[str, Any] = {
        "scenario": {"steps": args.steps, "dt_s": args.dt, "observations": sum(len(b) for b in batches)},
        "machine_cores": os.cpu_count(),
    }
    with Postgres() as pg, tempfile.TemporaryDirectory(prefix="concord-bench-") as tmp:
        work = Path(tmp)
        out["embedded"] = run_embedded(pg.new_database("bench_embedded"), work / "embedded", batches)
        nats = NatsCluster(work / "nats")
        nats.start()
        try:
            for name, workers, via_api in (
                ("cluster_1", 1, False),
                ("cluster_2", 2, False),
                ("cluster_2_api", 2, True),
            ):
                tag = f"{workers}{int(time.time()) % 100000}"
                url = pg.new_database(f"bench_{name}")
                fresh = scenario_steps(args.steps, args.dt, args.seed, f"{name}-{stamp}")
                out[name] = asyncio.run(
                    run_cluster(
                        url,
                        work / name,
                        nats,
                        fresh,
                        workers,
                        tag,
                        via_api=via_api,
                        concurrency=args.concurrency,
                    )
                )
        finally:
            nats.stop()
    base = out["embedded"]["obs_per_s"]
    out["speedup_vs_embedded"] = {
        k: round(out[k]["obs_per_s"] / base, 2) for k in ("cluster_1", "cluster_2", "cluster_2_api")
    }
    out["two_workers_vs_one"] = round(out["cluster_2"]["obs_per_s"] / out["cluster_1"]["obs_per_s"], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
