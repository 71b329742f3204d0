"""``concord cluster up --demo`` as a developer runs it: PostgreSQL, three NATS nodes, an API node,
tracker workers and a TAK egress node on 127.0.0.1, the demo scenario flowing through the bus."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.integration.cluster.cluster_harness import TakWatcher, free_port, wait_until

pytestmark = [pytest.mark.nats, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(400)]

CONCORD = [sys.executable, "-m", "concord.entrypoints.cli"]


def _run(args: list[str], *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env["CONCORD_ENV"] = "dev"
    return subprocess.run(
        CONCORD + args, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_cluster_up_demo_status_and_down(tmp_path: Path, pg_server: str) -> None:
    work = tmp_path / "cluster"
    api_port, cot_port = free_port(), free_port()
    up = _run(
        ["cluster", "up", "--work-dir", str(work), "--trackers", "2", "--demo"]
        + ["--api-port", str(api_port), "--cot-port", str(cot_port)]
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"http://127.0.0.1:{api_port}/" in up.stdout and "demo users" in up.stdout
        again = _run(["cluster", "up", "--work-dir", str(work)])
        assert again.returncode == 1 and "already" in again.stderr

        status = json.loads(_run(["cluster", "status", "--work-dir", str(work)]).stdout)
        roles = sorted(p["role"] for p in status["processes"])
        assert roles == ["api", "egress", "ingest", "tracker", "tracker"]
        assert all(p["alive"] for p in status["processes"]) and all(n["alive"] for n in status["nats"])

        base = f"http://127.0.0.1:{api_port}"
        token = httpx.post(
            base + "/api/auth/token", json={"username": "joc.commander", "password": "joc.commander-demo"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def tracks() -> int:
            return int(httpx.get(base + "/api/tracks", headers=headers, timeout=5).json()["count"])

        # The scenario, fed through the API node's doors, is fused by the tracker workers.
        wait_until(lambda: tracks() > 10, timeout_s=120, every_s=1.0)
        tak = TakWatcher(host="127.0.0.1", port=cot_port)

        async def watch() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(tak.run(stop))
            for _ in range(60):
                if tak.uids:
                    break
                await asyncio.sleep(0.5)
            stop.set()
            await task

        asyncio.run(watch())
        assert tak.uids, "the TAK client saw no track"
    finally:
        down = _run(["cluster", "down", "--work-dir", str(work)])
    assert down.returncode == 0, down.stdout + down.stderr
    gone = _run(["cluster", "status", "--work-dir", str(work)])
    assert gone.returncode == 1
