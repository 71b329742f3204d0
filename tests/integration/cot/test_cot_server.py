"""The CoT server end to end on loopback: positions in, released tracks and GeoChat out, bad clients out."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from tests.integration.cot.cot_support import CotWorld, chat, deletes, has_uid, pli

from concord.bootstrap import Concord
from concord.config import Settings
from concord.domain.errors import InvalidInput
from concord.domain.identity import Viewer
from concord.domain.marking import Marking, Tlp
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.sharing import Agreement

pytestmark = pytest.mark.timeout(60)


def _bp_viewer(world: CotWorld) -> Viewer:
    return world.concord.accounts.get_user_by_username("bp.op").viewer()


async def test_position_becomes_a_track_and_reaches_peers_but_not_its_sender(cot_world: CotWorld) -> None:
    sender, peer = await cot_world.tcp(), await cot_world.tcp()
    await sender.send(pli("ANDROID-alpha", callsign="ALPHA"))
    event = await peer.expect(has_uid("ANDROID-alpha"))
    assert b'type="a-f-G-U-C"' in event and b"ALPHA" in event and b"REL" not in event
    assert b"ORIGINATOR ONLY (BP)" in event
    await sender.quiet(0.3)
    assert not any(has_uid("ANDROID-alpha")(e) for e in sender.events)
    page = cot_world.concord.queries.page("track", _bp_viewer(cot_world))
    track = next(r for r in page.items if r.record.fields["identity"] == "tak:ANDROID-alpha")
    assert track.record.marking.originator == "BP"
    assert cot_world.server.stats.observations == 1


async def test_ping_is_answered_with_a_pong(cot_world: CotWorld) -> None:
    client = await cot_world.tcp()
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    await client.send(
        f'<event version="2.0" uid="takPing" type="t-x-c-t" how="h-g-i-g-o" time="{stamp}" '
        f'start="{stamp}" stale="{stamp}"><point lat="0" lon="0" hae="0" ce="0" le="0"/></event>'.encode()
    )
    await client.expect(lambda e: b'type="t-x-c-t-r"' in e)


async def test_geochat_reaches_own_agency_only(cot_world: CotWorld) -> None:
    bp_sender, bp_peer = await cot_world.tcp(), await cot_world.tls("bp.cmd")
    cg = await cot_world.tls("cg.op")
    await bp_sender.send(chat("GeoChat.bp.1", "contact at the river", "ANDROID-bp"))
    event = await bp_peer.expect(has_uid("GeoChat.bp.1"))
    assert b'type="b-t-f"' in event and b"contact at the river" in event
    await cg.quiet(0.5)
    assert not any(b"contact at the river" in e for e in cg.events)
    assert not any(has_uid("GeoChat.bp.1")(e) for e in bp_sender.events)


async def test_tls_client_certificate_names_the_user_and_agency(cot_world: CotWorld) -> None:
    cg = await cot_world.tls("cg.op")
    cg_peer = await cot_world.tls("cg.cmd")
    bp = await cot_world.tcp()
    await cg.send(pli("ANDROID-cg", 41.1, 26.2))
    await cg_peer.expect(has_uid("ANDROID-cg"))
    await bp.quiet(0.4)
    assert not any(has_uid("ANDROID-cg")(e) for e in bp.events), "a CG position leaked to BP"
    cg_user = cot_world.concord.accounts.get_user_by_username("cg.op")
    tracks = cot_world.concord.queries.page("track", cg_user.viewer()).items
    assert any(
        t.record.fields["identity"] == "tak:ANDROID-cg" and t.record.marking.originator == "CG"
        for t in tracks
    )


@pytest.mark.parametrize("problem", ["expired", "foreign", "none"])
async def test_bad_certificates_are_refused_at_the_handshake(cot_world: CotWorld, problem: str) -> None:
    from concord.services.ca import CertificateAuthority

    observer, feeder = await cot_world.tcp(), await cot_world.tcp()
    if problem == "expired":
        context = cot_world.client_context(
            "bp.cmd", days=1, not_before=datetime.now(UTC) - timedelta(days=10)
        )
    elif problem == "foreign":
        other = CertificateAuthority(cot_world.tmp / "other-ca")
        other.init()
        context = ssl.create_default_context(cafile=str(cot_world.ca.ca_cert_path))
        issued = other.issue_client("bp.cmd", password="pw-foreign-123", out_dir=cot_world.tmp / "foreign")
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        key, cert, _ = pkcs12.load_key_and_certificates(issued.p12_path.read_bytes(), b"pw-foreign-123")
        assert key is not None and cert is not None
        pem = cot_world.tmp / "foreign.pem"
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            + cert.public_bytes(serialization.Encoding.PEM)
        )
        context.load_cert_chain(pem)
    else:
        context = ssl.create_default_context(cafile=str(cot_world.ca.ca_cert_path))
    refused_before = cot_world.server.stats.refused_handshakes
    try:
        reader, writer = await asyncio.open_connection(
            *cot_world.server.tls_address,
            ssl=context,
            server_hostname="localhost",  # type: ignore[misc]
        )
        # TLS 1.3: the client learns of the refusal on its first read.
        writer.write(pli("ANDROID-intruder"))
        data = await asyncio.wait_for(reader.read(100), 5)
        assert data == b""
        writer.close()
    except (ssl.SSLError, ConnectionError):
        pass
    for _ in range(50):
        if cot_world.server.stats.refused_handshakes > refused_before:
            break
        await asyncio.sleep(0.05)
    assert cot_world.server.stats.refused_handshakes == refused_before + 1
    assert cot_world.server.stats.observations == 0
    await cot_world.assert_prompt(observer, feeder)


async def test_a_client_that_never_reads_is_dropped_and_nobody_notices(cot_world: CotWorld) -> None:
    now = datetime.now(UTC)
    marking = Marking.default_for("BP")
    # Enough tracks that the picture sent on connect overflows a client that never reads.
    observations = [
        Observation(
            id=f"obs-seed-{i}",
            source="seed",
            agency="BP",
            sensor=SensorKind.TAK,
            observed_at=now,
            lat=40.5 + (i % 60) * 0.02,
            lon=25.5 + (i // 60) * 0.02,
            marking=marking,
            position_sigma_m=10.0,
            identity=f"tak:seed-{i}",
            target=TargetKind.UNIT,
        )
        for i in range(2500)
    ]
    await asyncio.to_thread(cot_world.concord.picture.ingest, observations, actor="test")
    observer, feeder = await cot_world.tcp(), await cot_world.tcp()
    draining = asyncio.create_task(feeder.quiet(30))  # the feeder reads too, it is not a slow client
    await observer.expect(has_uid("seed-2499"), timeout_s=10)
    loop = asyncio.get_running_loop()
    import socket

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, cot_world.server.tcp_address)  # type: ignore[arg-type]
    try:
        for _ in range(100):
            if cot_world.server.stats.closed.get("slow-reader"):
                break
            await asyncio.sleep(0.05)
        assert cot_world.server.stats.closed.get("slow-reader") == 1
        await cot_world.assert_prompt(observer, feeder)
    finally:
        sock.close()
        draining.cancel()


async def test_half_an_event_then_silence_is_dropped(cot_world: CotWorld) -> None:
    observer, feeder, staller = await cot_world.tcp(), await cot_world.tcp(), await cot_world.tcp()
    await staller.send(b'<event version="2.0" uid="half" type="a-f-G" time="2026-01-01T00:00:00Z"><point')
    await cot_world.assert_prompt(observer, feeder)
    assert await staller.closed_by_server(timeout_s=5)
    assert cot_world.server.stats.closed.get("stalled") == 1


async def test_a_flooding_client_is_dropped_and_nobody_notices(cot_world: CotWorld) -> None:
    observer, feeder, flooder = await cot_world.tcp(), await cot_world.tcp(), await cot_world.tcp()
    burst = b"".join(pli(f"flood-{i % 20}", 41.0 + i * 1e-5, 26.0) for i in range(3000))
    flooder.writer.write(burst)
    assert await flooder.closed_by_server(timeout_s=5)
    assert cot_world.server.stats.closed.get("flood") == 1
    await cot_world.assert_prompt(observer, feeder)


@pytest.mark.parametrize(
    ("payload", "closes"),
    [
        (
            b'<event version="2.0" uid="big" type="a-f-G" time="2026-01-01T00:00:00Z">'
            + b"<x/>" * 20000
            + b"</event>",
            True,
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            b'<event version="2.0" uid="lol" type="a-f-G" time="2026-01-01T00:00:00Z">'
            b"<detail>&lol2;</detail></event>",
            True,
        ),
        (
            b'<!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><event version="2.0" uid="x" '
            b'type="a-f-G" time="2026-01-01T00:00:00Z"><detail>&xxe;</detail></event>',
            True,
        ),
        (
            b'<event version="2.0" uid="ent" type="a-f-G" time="2026-01-01T00:00:00Z">'
            b"<detail>&xxe;</detail></event>",
            False,
        ),
        (
            b'<event uid="nan" type="a-f-G" time="2026-01-01T00:00:00Z"><point lat="NaN" lon="inf"/></event>',
            False,
        ),
        (b"\x00\xff garbage <<<>>> \r\n" * 10, False),
    ],
    ids=["oversized", "billion-laughs", "external-entity", "entity-reference", "nan", "garbage"],
)
async def test_hostile_xml_is_refused_and_nobody_notices(
    cot_world: CotWorld, payload: bytes, closes: bool
) -> None:
    observer, feeder, attacker = await cot_world.tcp(), await cot_world.tcp(), await cot_world.tcp()
    await attacker.send(payload)
    if closes:
        assert await attacker.closed_by_server(timeout_s=5)
    else:
        # One bad record never stops a stream: the next good event from the same client goes through.
        await attacker.send(pli("attacker-ok"))
        await observer.expect(has_uid("attacker-ok"))
        assert not attacker.eof
    await cot_world.assert_prompt(observer, feeder)
    assert cot_world.server.stats.rejected >= 1
    assert cot_world.server.stats.observations == (1 if closes else 2)


async def test_reconnecting_in_a_loop_does_not_disturb_others(cot_world: CotWorld) -> None:
    observer, feeder = await cot_world.tcp(), await cot_world.tcp()
    baseline = len(cot_world.server.connections)
    for i in range(60):
        reader, writer = await asyncio.open_connection(*cot_world.server.tcp_address)  # type: ignore[misc]
        writer.write(pli(f"loop-{i % 3}", 41.0, 26.0 + i * 1e-4))
        writer.close()
    await cot_world.assert_prompt(observer, feeder)
    for _ in range(50):
        if len(cot_world.server.connections) == baseline:
            break
        await asyncio.sleep(0.05)
    assert len(cot_world.server.connections) == baseline


async def test_revoking_an_agreement_removes_the_track_from_the_partner_map(cot_world: CotWorld) -> None:
    concord = cot_world.concord
    cg = await cot_world.tls("cg.op")
    shared = Marking(
        classification="RESTRICTED", originator="BP", rel_to=frozenset({"BP", "CG"}), tlp=Tlp.AMBER
    )
    now = datetime.now(UTC)
    track_uid = f"shared-{uuid.uuid4().hex[:6]}"
    obs = Observation(
        id=f"obs-{track_uid}",
        source="bp-radar",
        agency="BP",
        sensor=SensorKind.TAK,
        observed_at=now,
        lat=41.0,
        lon=26.0,
        marking=shared,
        position_sigma_m=10.0,
        identity=f"tak:{track_uid}",
        target=TargetKind.VEHICLE,
    )
    await asyncio.to_thread(concord.picture.ingest, [obs], actor="test")
    await cg.quiet(0.4)
    assert not any(has_uid(track_uid)(e) for e in cg.events), "released to CG without an agreement"
    concord.sharing.sign(
        Agreement(agreement_id="bp-cg", owner="BP", partner="CG", valid_from=now - timedelta(days=1)),
        actor="test",
    )
    cot_world.server.hub.sweep(force=False)  # the agreement set changed: the sweep runs
    await cg.expect(has_uid(track_uid))
    concord.sharing.revoke("bp-cg", actor="test", reason="test")
    cot_world.server.hub.sweep(force=False)
    await cg.expect(deletes(track_uid))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_run_cot_server_starts_what_the_settings_enable(
    cot_concord: Concord, cot_settings: Settings
) -> None:
    from concord.domain.errors import Unavailable
    from concord.entrypoints.cot_server import run_cot_server
    from concord.services.ca import CertificateAuthority

    settings = cot_settings.model_copy(
        update={"cot_tcp_port": _free_port(), "cot_tls_port": _free_port(), "cot_tcp_agency": "BP"}
    )
    with pytest.raises(Unavailable):
        await run_cot_server(cot_concord, settings, tcp_user="bp.op")
    CertificateAuthority(settings.effective_key_dir).init()
    server = await run_cot_server(cot_concord, settings, tcp_user="bp.op", host="127.0.0.1")
    try:
        assert server.tcp_address == ("127.0.0.1", settings.cot_tcp_port)
        assert server.tls_address == ("127.0.0.1", settings.cot_tls_port)
        assert (settings.effective_key_dir / "tak" / "server.pem").exists()
    finally:
        await server.close()
    with pytest.raises(InvalidInput):
        await run_cot_server(cot_concord, settings.model_copy(update={"cot_tls_port": 0}))  # no TCP user
    wrong = settings.model_copy(update={"cot_tls_port": 0, "cot_tcp_agency": "CG"})
    with pytest.raises(InvalidInput):
        await run_cot_server(cot_concord, wrong, tcp_user="bp.op")
