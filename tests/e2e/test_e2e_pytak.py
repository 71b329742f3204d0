"""pytak, a real TAK client library, against the CoT server over TCP and over TLS with our certificates."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from configparser import ConfigParser
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytak  # type: ignore[import-untyped]
import pytest
from tests.conftest import FAST_HASHER
from tests.factories import PASSWORD, small_world

from concord.bootstrap import Concord, bootstrap
from concord.config import Settings
from concord.domain.marking import Marking, Tlp
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.entrypoints.cot_server import CotServer
from concord.services.ca import CertificateAuthority

pytestmark = [
    pytest.mark.timeout(60),
    # pytak's TLS context sets the OP_NO_TLSv1* options, which Python 3.11 reports as deprecated.
    pytest.mark.filterwarnings("ignore:ssl.OP_NO_SSL.*:DeprecationWarning"),
]


class _Reader(pytak.RXWorker):  # type: ignore[misc]
    async def handle_data(self, data: bytes) -> None:
        await self.put_queue(data)


@dataclass
class TakClient:
    """A pytak connection: pytak's protocol factory to connect, its RX worker to read events."""

    reader: Any
    writer: Any
    rx: _Reader

    async def send(self, event: bytes) -> None:
        self.writer.write(event)
        await self.writer.drain()

    async def expect(self, needle: bytes, timeout_s: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(self.rx.readcot(), left)
            except TimeoutError:
                break
            if event is None:
                break
            if needle in event:
                return bytes(event)
        raise AssertionError(f"pytak client did not receive {needle!r} within {timeout_s} s")

    async def never(self, needle: bytes, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(self.rx.readcot(), left)
            except TimeoutError:
                return
            if event is None:
                return
            assert needle not in event, f"received {needle!r}, which this user may not see"

    async def close(self) -> None:
        self.writer.close()


async def connect(url: str, **options: str) -> TakClient:
    config = ConfigParser()
    config["pytak"] = {"COT_URL": url, **options}
    section = config["pytak"]
    reader, writer = await pytak.protocol_factory(section)
    return TakClient(reader, writer, _Reader(asyncio.Queue(), section, reader))


@dataclass
class World:
    concord: Concord
    server: CotServer
    ca: CertificateAuthority
    tmp: Path

    @property
    def tcp_url(self) -> str:
        host, port = self.server.tcp_address  # type: ignore[misc]
        return f"tcp://{host}:{port}"

    async def tls_client(self, username: str) -> TakClient:
        issued = self.ca.issue_client(username, password=PASSWORD, out_dir=self.tmp / "certs")
        host, port = self.server.tls_address  # type: ignore[misc]
        client = await connect(
            f"tls://{host}:{port}",
            PYTAK_TLS_CLIENT_CERT=str(issued.p12_path),
            PYTAK_TLS_CLIENT_PASSWORD=PASSWORD,
            PYTAK_TLS_CLIENT_CAFILE=str(self.ca.ca_cert_path),
        )
        for _ in range(100):  # the server looks the user up after the handshake
            if any(c.binding and c.binding.user.username == username for c in self.server.connections):
                break
            await asyncio.sleep(0.02)
        return client


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{tmp_path / 'concord.db'}",
        data_dir=tmp_path / "var",
        secret_key="t" * 40,
    )
    concord = bootstrap(settings, password_hasher=FAST_HASHER)
    small_world(concord)
    ca = CertificateAuthority(settings.effective_key_dir)
    ca.init()
    server = CotServer(
        concord,
        tcp_port=0,
        tcp_user="bp.op",
        tls_port=0,
        tls_context=ca.server_context(["127.0.0.1"]),
    )
    await server.start()
    try:
        yield World(concord, server, ca, tmp_path)
    finally:
        await server.close()
        concord.close()


def position(uid: str, lat: float, lon: float) -> bytes:
    event = pytak.gen_cot(lat=lat, lon=lon, ce=5, hae=0, le=9999999, uid=uid, cot_type="a-f-G-U-C", stale=120)
    assert event is not None
    return bytes(event)


def geochat(uid: str, text: str, sender_uid: str) -> bytes:
    now = pytak.cot_time()
    return (
        f'<event version="2.0" uid="{uid}" type="b-t-f" how="h-g-i-g-o" time="{now}" start="{now}" '
        f'stale="{pytak.cot_time(3600)}"><point lat="0" lon="0" hae="0" ce="9999999" le="9999999"/>'
        f'<detail><__chat parent="RootContactGroup" groupOwner="false" chatroom="All Chat Rooms" '
        f'id="All Chat Rooms" senderCallsign="{sender_uid}"><chatgrp uid0="{sender_uid}" '
        f'uid1="All Chat Rooms" id="All Chat Rooms"/></__chat><link uid="{sender_uid}" type="a-f-G-U-C" '
        f'relation="p-p"/><remarks>{text}</remarks></detail></event>'
    ).encode()


async def test_pytak_over_tcp_and_tls_sends_positions_and_receives_tracks_and_chat(world: World) -> None:
    tcp = await connect(world.tcp_url)
    tls = await world.tls_client("bp.cmd")
    await tcp.send(position("PYTAK-TCP-1", 41.31, 26.51))
    await tls.expect(b'uid="PYTAK-TCP-1"')
    await tls.send(position("PYTAK-TLS-1", 41.32, 26.52))
    await tcp.expect(b'uid="PYTAK-TLS-1"')
    viewer = world.concord.accounts.get_user_by_username("bp.op").viewer()
    tracks = {t.record.fields["identity"]: t for t in world.concord.queries.page("track", viewer).items}
    assert tracks["tak:PYTAK-TCP-1"].record.marking.originator == "BP"
    assert tracks["tak:PYTAK-TLS-1"].record.marking.originator == "BP"
    await tcp.send(geochat("GeoChat.PYTAK-TCP-1.1", "pytak says hello", "PYTAK-TCP-1"))
    event = await tls.expect(b"pytak says hello")
    assert b'type="b-t-f"' in event
    await tcp.close()
    await tls.close()


async def test_pytak_client_of_another_agency_never_receives_what_it_may_not_see(world: World) -> None:
    cg = await world.tls_client("cg.op")
    bp = await connect(world.tcp_url)
    # A BP track marked releasable to CG, but no agreement between BP and CG: CG must not get it.
    marking = Marking(
        classification="RESTRICTED", originator="BP", rel_to=frozenset({"BP", "CG"}), tlp=Tlp.AMBER
    )
    now = datetime.now(UTC)
    obs = Observation(
        id="obs-canary",
        source="bp-radar",
        agency="BP",
        sensor=SensorKind.RADAR,
        observed_at=now,
        lat=41.0,
        lon=26.0,
        marking=marking,
        position_sigma_m=20.0,
        identity="tak:CANARY-BP",
        target=TargetKind.VEHICLE,
    )
    await asyncio.to_thread(world.concord.picture.ingest, [obs], actor="test")
    await bp.send(position("PYTAK-BP-2", 41.2, 26.2))
    await bp.send(geochat("GeoChat.BP.secret", "bp eyes only", "PYTAK-BP-2"))
    await cg.send(position("PYTAK-CG-1", 41.4, 26.4))
    await bp.never(b"PYTAK-CG-1", 0.5)
    await cg.never(b"CANARY-BP", 1.0)
    cg_text = b""
    # A positive control on the same connection: CG still receives what CG may see.
    cg_peer = await world.tls_client("cg.cmd")
    await cg.send(position("PYTAK-CG-3", 41.45, 26.45))
    cg_text = await cg_peer.expect(b'uid="PYTAK-CG-3"')
    assert b"CANARY" not in cg_text and b"bp eyes only" not in cg_text
    assert now < datetime.now(UTC) + timedelta(seconds=1)
    for client in (cg, bp, cg_peer):
        await client.close()
