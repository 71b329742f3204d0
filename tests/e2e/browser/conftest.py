"""One real Concord server for the whole browser session, fed by the simulator, and Debian's chromium.

The server is uvicorn on an ephemeral loopback port in a thread, on a SQLite file, with a small world
(BP, CG, JOC), the simulator's zones, and observations from BP's and CG's sensors ingested through
``concord.picture.ingest``: live data and a smaller drill (exercise) run. CG releases its picture to BP
under an agreement, so BP sees more than CG does.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from tests.e2e.browser.cop_helpers import CHROMIUM, CHROMIUM_ARGS, Server
from tests.factories import small_world

from concord.adapters.clock import ManualClock
from concord.bootstrap import bootstrap
from concord.config import Settings
from concord.domain.agreement import Agreement
from concord.drills.sim import MarkingSpec, Scenario, ScenarioConfig


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _scenario(*, seed: int, exercise: bool, scale: int, start: datetime | None = None) -> Scenario:
    return Scenario.from_config(
        ScenarioConfig(
            seed=seed,
            **({"start": start} if start is not None else {}),
            walkers=3 * scale,
            vehicles=2 * scale,
            boats=2 * scale,
            vessels=3 * scale,
            patrols=scale,
            exercise=exercise,
            rendezvous_count=1,
            markings={"CG": MarkingSpec(rel_to=frozenset({"BP"}))},
        )
    )


@pytest.fixture(scope="module")
def cop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    import uvicorn

    from concord.entrypoints.api.main import create_app

    tmp = tmp_path_factory.mktemp("cop")
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{(tmp / 'concord.db').as_posix()}",
        data_dir=tmp / "var",
        secret_key="t" * 40,
    )
    # The drill runs first and ends before the live picture starts: the tracker does not keep drill and
    # live observations apart, so running both at once would fuse drill reports into live tracks.
    drill = _scenario(seed=9, exercise=True, scale=1)
    live = _scenario(seed=5, exercise=False, scale=4, start=drill.now + timedelta(seconds=300))
    clock = ManualClock(drill.now)
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    concord = bootstrap(settings, clock=clock, password_hasher=hasher)
    small_world(concord)
    concord.sharing.sign(
        Agreement(agreement_id="cg-bp", owner="CG", partner="BP", valid_from=clock.now() - timedelta(days=1)),
        actor="cg.admin",
    )
    concord.zones.import_geojson(json.dumps(live.zones_geojson()).encode(), actor="bp.admin", agency="BP")
    server = Server(url="", concord=concord, clock=clock, live=drill)
    server.advance_live(300, 10)
    server.live = live
    server.advance_live(900, 10)

    app = create_app(settings, concord=concord)
    sock = _free_socket()
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
    userver = uvicorn.Server(config)
    thread = threading.Thread(target=userver.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not userver.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the COP server did not start")
        time.sleep(0.05)
    server.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield server
    finally:
        userver.should_exit = True
        thread.join(timeout=10)
        sock.close()
        concord.close()


@pytest.fixture(scope="module")
def browser(cop_server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 860}, color_scheme="dark")
    try:
        yield ctx
    finally:
        ctx.close()
