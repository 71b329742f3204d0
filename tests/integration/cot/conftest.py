"""A running CoT server on loopback (plain TCP for BP, TLS with our CA) for the CoT tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.conftest import FAST_HASHER
from tests.factories import small_world
from tests.integration.cot.cot_support import TEST_LIMITS, CotWorld

from concord.bootstrap import Concord, bootstrap
from concord.config import Settings
from concord.entrypoints.cot_server import CotServer
from concord.services.ca import CertificateAuthority


@pytest.fixture
def cot_settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(env="test", database_url=db_url, data_dir=tmp_path / "var", secret_key="t" * 40)


@pytest.fixture
def cot_concord(cot_settings: Settings) -> Iterator[Concord]:
    # The real clock: TAK clients stamp their events with the time of day.
    app = bootstrap(cot_settings, password_hasher=FAST_HASHER)
    small_world(app)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
async def cot_world(cot_concord: Concord, cot_settings: Settings, tmp_path: Path) -> AsyncIterator[CotWorld]:
    ca = CertificateAuthority(cot_settings.effective_key_dir)
    ca.init()
    server = CotServer(
        cot_concord,
        host="127.0.0.1",
        tcp_port=0,
        tcp_user="bp.op",
        tls_port=0,
        tls_context=ca.server_context(["127.0.0.1"]),
        limits=TEST_LIMITS,
    )
    await server.start()
    world = CotWorld(concord=cot_concord, server=server, ca=ca, tmp=tmp_path)
    try:
        yield world
    finally:
        for client in world.clients:
            await client.close()
        await server.close()
