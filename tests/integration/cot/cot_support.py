"""Test support for the CoT server: a raw CoT client, event builders and the loopback test world."""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.factories import PASSWORD

from concord.bootstrap import Concord
from concord.entrypoints.cot_server import CotLimits, CotServer
from concord.ingest import CotStreamFramer
from concord.ingest.cot import format_cot_time
from concord.services.ca import CertificateAuthority

TEST_LIMITS = CotLimits(
    max_send_buffer_bytes=64 * 1024,
    idle_timeout_s=20.0,
    partial_timeout_s=1.0,
    keepalive_s=10.0,
    max_events_per_s=50.0,
    burst_events=200.0,
    batch_delay_s=0.005,
)


def pli(
    uid: str, lat: float = 41.30, lon: float = 26.50, *, at: datetime | None = None, callsign: str = ""
) -> bytes:
    moment = at or datetime.now(UTC)
    stamp = format_cot_time(moment)
    stale = format_cot_time(moment + timedelta(minutes=2))
    return (
        f'<?xml version="1.0"?><event version="2.0" uid="{uid}" type="a-f-G-U-C" how="m-g" '
        f'time="{stamp}" start="{stamp}" stale="{stale}"><point lat="{lat:.6f}" lon="{lon:.6f}" '
        f'hae="10" ce="5" le="9999999"/><detail><contact callsign="{callsign or uid}"/></detail></event>'
    ).encode()


def chat(uid: str, text: str, sender: str) -> bytes:
    stamp = format_cot_time(datetime.now(UTC))
    return (
        f'<event version="2.0" uid="{uid}" type="b-t-f" how="h-g-i-g-o" time="{stamp}" start="{stamp}" '
        f'stale="{stamp}"><point lat="0" lon="0" hae="0" ce="9999999" le="9999999"/><detail>'
        f'<__chat parent="RootContactGroup" groupOwner="false" chatroom="All Chat Rooms" '
        f'id="All Chat Rooms" senderCallsign="{sender}"><chatgrp uid0="{sender}" uid1="All Chat Rooms" '
        f'id="All Chat Rooms"/></__chat><link uid="{sender}" type="a-f-G-U-C" relation="p-p"/>'
        f"<remarks>{text}</remarks></detail></event>"
    ).encode()


@dataclass
class CotClient:
    """A raw CoT client: sends bytes, collects every event the server sends."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    events: list[bytes] = field(default_factory=list)
    framer: CotStreamFramer = field(default_factory=lambda: CotStreamFramer(max_event_bytes=1 << 22))
    eof: bool = False

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def _read_some(self, timeout_s: float) -> bool:
        try:
            data = await asyncio.wait_for(self.reader.read(65536), timeout_s)
        except TimeoutError:
            return False
        except (ConnectionError, ssl.SSLError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.events.extend(self.framer.feed(data))
        return True

    async def expect(self, predicate: Callable[[bytes], bool], timeout_s: float = 3.0) -> bytes:
        """The first event (already received or arriving within the timeout) that matches."""
        deadline = time.monotonic() + timeout_s
        checked = 0
        while True:
            for event in self.events[checked:]:
                if predicate(event):
                    return event
            checked = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                raise AssertionError(f"no matching event within {timeout_s} s ({len(self.events)} received)")
            await self._read_some(left)

    async def quiet(self, seconds: float) -> None:
        """Keep reading for ``seconds`` (to prove something does NOT arrive)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self.eof:
            await self._read_some(left)

    async def closed_by_server(self, timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.eof and (left := deadline - time.monotonic()) > 0:
            await self._read_some(left)
        return self.eof

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


def has_uid(uid: str) -> Callable[[bytes], bool]:
    needle = f'uid="{uid}"'.encode()
    return lambda event: needle in event


def deletes(uid: str) -> Callable[[bytes], bool]:
    needle = f'<link uid="{uid}"'.encode()
    return lambda event: b'type="t-x-d-d"' in event and needle in event


@dataclass
class CotWorld:
    concord: Concord
    server: CotServer
    ca: CertificateAuthority
    tmp: Path
    clients: list[CotClient] = field(default_factory=list)

    async def tcp(self) -> CotClient:
        assert self.server.tcp_address is not None
        reader, writer = await asyncio.open_connection(*self.server.tcp_address)
        client = CotClient(reader, writer)
        self.clients.append(client)
        await asyncio.sleep(0.05)  # let the server register the connection
        return client

    def client_context(self, username: str, **issue: object) -> ssl.SSLContext:
        issued = self.ca.issue_client(username, password=PASSWORD, out_dir=self.tmp / "certs", **issue)  # type: ignore[arg-type]
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        key, cert, _ = pkcs12.load_key_and_certificates(issued.p12_path.read_bytes(), PASSWORD.encode())
        assert key is not None and cert is not None
        pem = self.tmp / "certs" / f"{username}-{uuid.uuid4().hex[:6]}.pem"
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            + cert.public_bytes(serialization.Encoding.PEM)
        )
        context = ssl.create_default_context(cafile=str(self.ca.ca_cert_path))
        context.load_cert_chain(pem)
        return context

    async def tls(self, username: str, context: ssl.SSLContext | None = None) -> CotClient:
        assert self.server.tls_address is not None
        context = context or self.client_context(username)
        reader, writer = await asyncio.open_connection(
            *self.server.tls_address, ssl=context, server_hostname="localhost"
        )
        client = CotClient(reader, writer)
        self.clients.append(client)
        for _ in range(100):  # the user lookup happens after the handshake
            if any(c.binding and c.binding.user.username == username for c in self.server.connections):
                break
            await asyncio.sleep(0.02)
        return client

    async def assert_prompt(self, observer: CotClient, feeder: CotClient, within_s: float = 3.0) -> None:
        """Another client's fresh position still reaches ``observer`` quickly."""
        uid = f"probe-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        await feeder.send(pli(uid, 41.2, 26.3))
        await observer.expect(has_uid(uid), timeout_s=within_s)
        assert time.monotonic() - started < within_s
