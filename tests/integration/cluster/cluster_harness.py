"""The harness of the fault tests: worker processes, the simulated load and what the bus acknowledged."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from concord.adapters.nats_bus import NatsBus
from concord.domain.errors import Unavailable
from concord.drills.sim import Scenario, ScenarioConfig
from concord.services.cluster import NatsCluster, concord_env, free_port, spawn_role
from concord.services.workers import ObservationPublisher, Partitioning

__all__ = ["Harness", "free_port", "wait_until"]


@dataclass
class Harness:
    """Worker processes, the simulated load and the bookkeeping of what the bus acknowledged."""

    nats: NatsCluster
    database_url: str
    data_dir: Path
    log_dir: Path
    partitions: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    acked_at: dict[str, float] = field(default_factory=dict)
    publish_failures: int = 0

    @property
    def env(self) -> dict[str, str]:
        env = concord_env(
            database_url=self.database_url,
            nats_url=self.nats.url,
            data_dir=self.data_dir,
            replicas=3,
            partitions=self.partitions,
        )
        env["CONCORD_LEASE_TTL_S"] = "4"
        return env

    def start(self, name: str, role: str, *, port: int = 0) -> None:
        env = {**self.env, "CONCORD_WORKER_ID": name}
        self.procs[name] = spawn_role(role, env, self.log_dir / f"{name}.log", port=port)

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.database_url, pool_pre_ping=True)

    async def load(self, bus: NatsBus, *, steps: int, dt_s: float, pace_s: float, seed: int) -> None:
        """Publish a simulated scenario step by step; an observation counts once JetStream acked it."""
        publisher = ObservationPublisher(bus, Partitioning.parse(self.partitions))
        start = datetime.now(UTC) - timedelta(seconds=steps * dt_s + 30)
        scenario = Scenario.from_config(ScenarioConfig(start=start, seed=seed, run_id=uuid.uuid4().hex[:8]))
        for _ in range(steps):
            batch = scenario.step(dt_s).observations
            for attempt in range(60):
                try:
                    await publisher.publish(batch)
                    break
                except Unavailable:
                    # The same ids again: JetStream stores a retried message once.
                    self.publish_failures += 1
                    await asyncio.sleep(0.25 if attempt < 59 else 0)
            else:
                continue
            now = time.time()
            for o in batch:
                self.acked_at.setdefault(o.id, now)
            await asyncio.sleep(pace_s)

    def stored(self, engine: sa.Engine) -> dict[str, float]:
        """Observation id → stored (receipt) time, for the acknowledged ids."""
        t = sa.table("observations", sa.column("id"), sa.column("received_at"))
        out: dict[str, float] = {}
        ids = list(self.acked_at)
        with engine.connect() as conn:
            for i in range(0, len(ids), 5000):
                for row in conn.execute(
                    sa.select(t.c.id, t.c.received_at).where(t.c.id.in_(ids[i : i + 5000]))
                ):
                    out[row.id] = row.received_at.timestamp()
        return out

    def wait_drained(self, engine: sa.Engine, *, timeout_s: float) -> int:
        """Wait until every acknowledged observation is stored; return how many are still missing."""
        deadline = time.monotonic() + timeout_s
        missing = len(self.acked_at)
        while time.monotonic() < deadline:
            missing = len(self.acked_at) - len(self.stored(engine))
            if missing == 0:
                return 0
            time.sleep(0.5)
        return missing


def wait_until(predicate: Any, *, timeout_s: float, every_s: float = 0.2) -> float:
    """Seconds until ``predicate()`` is true (raises AssertionError on timeout)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if predicate():
            return time.monotonic() - t0
        time.sleep(every_s)
    raise AssertionError(f"not true within {timeout_s} s")
