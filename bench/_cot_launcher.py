"""Runs Concord's CoT server alone for the dissemination benchmark: a temp SQLite, one agency, one user.

Usage: python bench/_cot_launcher.py DATA_DIR PORT_FILE [--uvloop]
Writes the bound TCP port to PORT_FILE once it accepts connections, then serves until SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from argon2 import PasswordHasher

from concord.bootstrap import bootstrap
from concord.config import Settings
from concord.entrypoints.cot_server import CotLimits, CotServer

AGENCY = "BP"
USER = "bench.op"


async def main(data_dir: Path, port_file: Path) -> None:
    settings = Settings(env="dev", data_dir=data_dir, log_level="WARNING")
    concord = bootstrap(
        settings, password_hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    concord.accounts.create_agency(AGENCY, "Border Police", "border-police")
    concord.accounts.create_user(USER, AGENCY, ["operator"], "RESTRICTED")
    limits = CotLimits(idle_timeout_s=3600.0, max_events_per_s=1000.0, burst_events=10_000.0)
    server = CotServer(concord, host="127.0.0.1", tcp_port=0, tcp_user=USER, limits=limits)
    await server.start()
    assert server.tcp_address is not None
    port_file.write_text(str(server.tcp_address[1]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await server.close()
    hub = server.hub.stats
    print(
        f"hub batches={hub.batches} rows={hub.rows} releases={hub.releases} encodings={hub.encodings} "
        f"deliveries={hub.deliveries} ingest_batches={server.stats.ingest_batches} "
        f"closed={server.stats.closed}",
        file=sys.stderr,
    )
    concord.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    if "--uvloop" in sys.argv:
        import uvloop

        uvloop.install()
    profile = os.environ.get("CONCORD_BENCH_PROFILE")
    if profile:
        import cProfile

        cProfile.run("asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))", profile)
    else:
        asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
