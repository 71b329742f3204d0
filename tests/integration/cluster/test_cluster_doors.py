"""The doors of a scaled-out deployment: API nodes hand observations to the tracker workers over the bus
and answer only after the commit; the WebSocket stream and TAK clients of any node get every change."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

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

from concord.drills.sim import Scenario, ScenarioConfig
from concord.ingest import observation_item
from concord.services.workers import Partitioning

pytestmark = [pytest.mark.nats, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(240)]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


async def test_cluster_doors_commit_before_answering_and_every_node_streams(harness: Harness) -> None:
    start = datetime.now(UTC) - timedelta(seconds=120)
    scenario = Scenario.from_config(ScenarioConfig(start=start, seed=5, run_id=uuid.uuid4().hex[:8]))
    seed_world(harness.database_url, harness.data_dir, json.dumps(scenario.zones_geojson()))
    ports = [free_port(), free_port()]
    cot_port = free_port()
    harness.start("t1", "tracker")
    harness.start("api1", "api", port=ports[0])
    harness.start("api2", "api", port=ports[1])
    harness.start(
        "egress",
        "egress",
        env={"CONCORD_COT_TCP_PORT": str(cot_port), "CONCORD_COT_TCP_USER": "joc.commander"},
    )
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    for url in urls:
        await asyncio.to_thread(wait_until, lambda u=url: _healthy(u), timeout_s=90)  # type: ignore[misc]
    doors = Doors(urls=urls)
    engine = harness.engine()
    stop = asyncio.Event()
    async with httpx.AsyncClient() as client:
        watcher = StreamWatcher(urls=[urls[1]], token=await doors.token(client, "joc.commander"))
        tak = TakWatcher(host="127.0.0.1", port=cot_port)
        watching = [asyncio.create_task(watcher.run(stop)), asyncio.create_task(tak.run(stop))]
        try:
            for step in range(20):
                batch = scenario.step(2.0).observations
                await doors.post_step(client, batch)
                if step == 0:
                    first_bp = [o for o in batch if o.agency == "BP"]
                    # Answered means committed: the first step's reports are in the journal already.
                    t = sa.table("observations", sa.column("id"))
                    with engine.connect() as conn:
                        stored = conn.execute(
                            sa.select(sa.func.count()).select_from(t).where(t.c.id.in_(list(doors.acked_obs)))
                        ).scalar_one()
                    assert stored == len(doors.acked_obs) > 0
            # A batch sent again (its answer lost, say) changes nothing: every report is a duplicate.
            again = await doors.send(
                client,
                "/api/observations",
                {"observations": [observation_item(o) for o in first_bp]},
                "bp.operator",
            )
            assert again.status_code == 202
            assert again.json()["accepted"] == 0 and again.json()["duplicates"] == len(first_bp)
            assert again.json()["tracks_updated"] is None  # fused by the tracker workers, not here
            headers = {"Authorization": f"Bearer {watcher.token}"}

            def stream_matches() -> bool:
                r = httpx.get(urls[0] + "/api/tracks?limit=1000", headers=headers, timeout=5)
                return watcher.matches(r.json()["data"])

            await asyncio.to_thread(wait_until, stream_matches, timeout_s=30)
            await asyncio.to_thread(wait_until, lambda: len(tak.uids) > 0, timeout_s=30)
        finally:
            stop.set()
            await asyncio.gather(*watching, return_exceptions=True)
            engine.dispose()
    assert doors.refused == 0
    assert watcher.connects == 1


def test_cluster_a_file_imported_on_the_command_line_is_fused_by_the_region_owners(
    harness: Harness, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=120)
    scenario = Scenario.from_config(
        ScenarioConfig(start=start, seed=8, run_id=uuid.uuid4().hex[:8], output="raw", exercise=False)
    )
    seed_world(harness.database_url, harness.data_dir, json.dumps(scenario.zones_geojson()))
    lines = [line for _ in range(30) for line in scenario.step(2.0).raw_ais]
    recording = tmp_path / "coastal.nmea"
    recording.write_text("\n".join(lines) + "\n")
    harness.start("t1", "tracker")
    env = {**harness.env, "CONCORD_ENV": "dev"}
    done = subprocess.run(
        [sys.executable, "-m", "concord.entrypoints.cli", "ingest", str(recording), "-f", "ais", "-a", "CG"]
        + ["--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    engine = harness.engine()
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT count(*) FROM observations WHERE agency = 'CG'")
            ).scalar_one()
            tracks = [r.id for r in conn.execute(sa.text("SELECT id FROM records WHERE kind = 'track'"))]
    finally:
        engine.dispose()
    assert stored > 0
    # Named by the region that fused them: the import went through the bus, not a tracker of its own.
    regions = tuple(f"{name}-" for name in Partitioning.parse(harness.partitions).names)
    assert tracks and all(t.startswith(regions) for t in tracks)
