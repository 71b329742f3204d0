"""The live stream over the API's WebSocket: authentication, snapshot and deltas, release per viewer,
revocation, filters, resume and hostile clients."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from tests.factories import small_world

from concord.adapters.clock import ManualClock
from concord.bootstrap import Concord
from concord.config import Settings
from concord.domain.marking import Marking, Tlp
from concord.domain.observation import Observation, SensorKind
from concord.egress.stream import CLOSE_AUTH, CLOSE_BAD_CLIENT, CLOSE_TOO_BIG, StreamConfig
from concord.entrypoints.api.main import create_app
from concord.sharing import Agreement

pytestmark = pytest.mark.timeout(60)

ORIGIN_LAT, ORIGIN_LON = 41.3, 26.5


def obs(
    concord: Concord,
    *,
    n: int,
    agency: str = "BP",
    marking: Marking | None = None,
    lat: float | None = None,
    lon: float | None = None,
) -> Observation:
    """One report far enough from the others (0.05 degree steps) to become its own track."""
    return Observation(
        id=f"obs-{uuid.uuid4().hex}",
        source=f"radar:{agency}",
        agency=agency,
        sensor=SensorKind.AIS,
        observed_at=concord.clock.now(),
        lat=lat if lat is not None else ORIGIN_LAT + 0.05 * (n % 20) - 0.5,
        lon=lon if lon is not None else ORIGIN_LON + 0.05 * (n // 20) - 0.5,
        marking=marking or Marking(classification="RESTRICTED", originator=agency),
        identity=f"mmsi:{200000000 + n}",
    )


@pytest.fixture
def world(concord: Concord) -> Concord:
    small_world(concord)
    return concord


def make_client(settings: Settings, concord: Concord, **config: Any) -> TestClient:
    app = create_app(settings, concord=concord)
    app.state.stream_config = StreamConfig(gate_poll_s=0.05, auth_timeout_s=2.0, **config)
    return TestClient(app)


def advance(concord: Concord, seconds: float) -> None:
    clock = concord.clock
    assert isinstance(clock, ManualClock)
    clock.advance(seconds)


def token(concord: Concord, username: str) -> str:
    return concord.accounts.issue_token(username).token


def recv(ws: WebSocketTestSession) -> dict[str, Any]:
    message = ws.receive()
    if message["type"] == "websocket.close":
        raise AssertionError(f"closed {message.get('code')}: {message.get('reason')}")
    data: dict[str, Any] = json.loads(message["text"])
    return data


def until(ws: WebSocketTestSession, kind: str) -> list[dict[str, Any]]:
    """Messages up to and including the first of ``kind``."""
    out: list[dict[str, Any]] = []
    while True:
        m = recv(ws)
        out.append(m)
        if m["type"] == kind:
            return out


def sync(ws: WebSocketTestSession) -> str:
    """A ping round trip: every message queued before the pong has been received after it."""
    nonce = uuid.uuid4().hex[:12]
    ws.send_json({"type": "ping", "nonce": nonce})
    return nonce


def drain(ws: WebSocketTestSession) -> list[dict[str, Any]]:
    nonce = sync(ws)
    out: list[dict[str, Any]] = []
    while True:
        m = recv(ws)
        if m["type"] == "pong" and m["nonce"] == nonce:
            return out
        out.append(m)


@contextlib.contextmanager
def connect(client: TestClient, tok: str | None, **first: Any) -> Iterator[WebSocketTestSession]:
    with client.websocket_connect("/api/stream") as session:
        session.send_json({"type": "auth", **({"token": tok} if tok else {}), **first})
        yield session


def picture(messages: list[dict[str, Any]], state: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Apply deltas the way the COP does."""
    for m in messages:
        if m["type"] == "snapshot_start":
            state.clear()
        if m["type"] != "delta":
            continue
        key = (m["kind"], m["id"])
        if m["op"] == "upsert":
            state[key] = m
        else:
            state.pop(key, None)


def closed_with(ws: WebSocketTestSession) -> tuple[int, list[dict[str, Any]]]:
    """Read until the server closes; the close code and whatever data came first."""
    data: list[dict[str, Any]] = []
    while True:
        message = ws.receive()
        if message["type"] == "websocket.close":
            return int(message["code"]), data
        data.append(json.loads(message["text"]))


# -- authentication --------------------------------------------------------------------------------


REFUSED_FIRST_MESSAGES: list[object] = [
    {"type": "auth", "token": "garbage"},
    {"type": "auth", "token": "cct_" + "x" * 40},
    {"type": "auth"},  # no token, no cookie
    {"type": "filter"},
    {"type": "auth", "token": 7},
    "not json at all",
    {"type": "auth", "token": "x" * 5000},
]


def test_stream_refuses_unauthenticated(settings: Settings, world: Concord) -> None:
    world.picture.ingest([obs(world, n=1)], actor="test")
    with make_client(settings, world) as client:
        for first in REFUSED_FIRST_MESSAGES:
            with client.websocket_connect("/api/stream") as ws:
                if isinstance(first, str):
                    ws.send_text(first)
                else:
                    ws.send_json(first)
                code, data = closed_with(ws)
            assert code in (CLOSE_AUTH, CLOSE_TOO_BIG), first
            assert data == [], first


def test_stream_closes_silent_clients(settings: Settings, world: Concord) -> None:
    app = create_app(settings, concord=world)
    app.state.stream_config = StreamConfig(auth_timeout_s=0.2)
    with TestClient(app) as client, client.websocket_connect("/api/stream") as ws:
        code, data = closed_with(ws)
    assert code == CLOSE_AUTH and data == []


def test_stream_accepts_session_cookie(settings: Settings, world: Concord) -> None:
    session = world.accounts.login("bp.op", "correct horse battery")
    with make_client(settings, world) as client, contextlib.ExitStack() as stack:
        client.cookies.set("concord_session", session.token)
        ws = stack.enter_context(connect(client, None))
        assert recv(ws)["type"] == "ready"
        assert until(ws, "snapshot_end")[-1]["count"] == 0
        ws.close()


# -- snapshot, deltas, release ---------------------------------------------------------------------


def test_stream_snapshot_then_deltas(settings: Settings, world: Concord) -> None:
    world.picture.ingest([obs(world, n=1)], actor="test")
    with make_client(settings, world) as client, contextlib.ExitStack() as stack:
        ws = stack.enter_context(connect(client, token(world, "bp.op")))
        ready = recv(ws)
        assert ready["type"] == "ready" and ready["agency"] == "BP"
        snap = until(ws, "snapshot_end")
        assert snap[0]["type"] == "snapshot_start" and snap[0]["reason"] == "initial"
        deltas = [m for m in snap if m["type"] == "delta"]
        assert len(deltas) == 1 and deltas[0]["kind"] == "track" and deltas[0]["op"] == "upsert"
        assert deltas[0]["banner"] == "RESTRICTED//ORIGINATOR ONLY (BP)//TLP:AMBER"
        assert deltas[0]["redacted"] == []
        assert snap[-1]["seq"] >= deltas[0]["seq"]

        advance(world, 5)
        world.picture.ingest([obs(world, n=2)], actor="test")
        live = [m for m in drain(ws) if m["type"] == "delta"]
        assert len(live) == 1 and live[0]["seq"] > snap[-1]["seq"]
        ws.close()


def _markings() -> list[Marking]:
    out = []
    for level, rel, tlp, cats in itertools.product(
        ("UNCLASSIFIED", "RESTRICTED", "SECRET"),
        (frozenset(), frozenset({"CG"}), frozenset({"CG", "JOC"})),
        (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT),
        (frozenset(), frozenset({"PII"})),
    ):
        out.append(Marking(classification=level, originator="BP", rel_to=rel, tlp=tlp, categories=cats))
    return out


def test_stream_releases_exactly_what_the_gate_releases(settings: Settings, world: Concord) -> None:
    world.sharing.sign(
        Agreement(
            agreement_id="bp-cg",
            owner="BP",
            partner="CG",
            valid_from=world.clock.now() - timedelta(days=1),
            categories=frozenset({"PII"}),
        ),
        actor="test",
    )
    markings = _markings()
    half = len(markings) // 2
    # Half the records exist before anyone connects (snapshot), half arrive live (deltas).
    world.picture.ingest([obs(world, n=i, marking=m) for i, m in enumerate(markings[:half])], actor="test")
    viewers = ("bp.op", "cg.op", "cg.cmd", "joc.op")
    with make_client(settings, world) as client, contextlib.ExitStack() as stack:
        sessions = {u: stack.enter_context(connect(client, token(world, u))) for u in viewers}
        states: dict[str, dict[tuple[str, str], dict[str, Any]]] = {u: {} for u in viewers}
        for u, ws in sessions.items():
            picture(until(ws, "snapshot_end"), states[u])
        advance(world, 5)
        world.picture.ingest(
            [obs(world, n=half + i, marking=m) for i, m in enumerate(markings[half:])], actor="test"
        )
        for u, ws in sessions.items():
            picture(drain(ws), states[u])
            ws.close()
    seen_counts = set()
    for u in viewers:
        viewer = world.accounts.get_user_by_username(u).viewer()
        expected = {
            r.record.record_id: [dict(r.record.fields), list(r.redacted_fields), r.record.marking.banner()]
            for r in world.queries.page("track", viewer, limit=1000).items
        }
        got = {k[1]: [m["fields"], m["redacted"], m["banner"]] for k, m in states[u].items()}
        assert got == json.loads(json.dumps(expected)), u
        seen_counts.add(len(got))
    # The viewers really differ: otherwise the test would prove nothing.
    assert len(seen_counts) > 1


def test_stream_revocation_turns_into_remove(settings: Settings, world: Concord) -> None:
    world.sharing.sign(
        Agreement(
            agreement_id="bp-cg",
            owner="BP",
            partner="CG",
            valid_from=world.clock.now() - timedelta(days=1),
        ),
        actor="test",
    )
    shared = Marking(classification="RESTRICTED", originator="BP", rel_to=frozenset({"CG"}))
    world.picture.ingest([obs(world, n=1, marking=shared)], actor="test")
    with make_client(settings, world) as client, contextlib.ExitStack() as stack:
        cg = stack.enter_context(connect(client, token(world, "cg.op")))
        bp = stack.enter_context(connect(client, token(world, "bp.op")))
        cg_snap = [m for m in until(cg, "snapshot_end") if m["type"] == "delta"]
        until(bp, "snapshot_end")
        assert len(cg_snap) == 1
        world.sharing.revoke("bp-cg", actor="test", reason="ended")
        removed = recv(cg)
        assert removed["type"] == "delta" and removed["op"] == "remove"
        assert removed["id"] == cg_snap[0]["id"] and "fields" not in removed
        # The originator keeps seeing it.
        assert [m for m in drain(bp) if m["type"] == "delta"] == []
        cg.close()
        bp.close()


def test_stream_filters_by_box_and_layer(settings: Settings, world: Concord) -> None:
    world.picture.ingest(
        [
            obs(world, n=1, lat=41.0, lon=26.0),
            obs(world, n=2, lat=41.6, lon=27.0),
            obs(
                world,
                n=3,
                agency="CG",
                lat=41.0,
                lon=26.2,
                marking=Marking(
                    classification="UNCLASSIFIED", originator="CG", rel_to=frozenset({"BP"}), tlp=Tlp.GREEN
                ),
            ),
        ],
        actor="test",
    )
    with make_client(settings, world) as client, contextlib.ExitStack() as stack:
        ws = stack.enter_context(
            connect(client, token(world, "bp.op"), filter={"bbox": [25.5, 40.5, 26.5, 41.3]})
        )
        recv(ws)
        state: dict[tuple[str, str], dict[str, Any]] = {}
        picture(until(ws, "snapshot_end"), state)
        assert sorted(round(m["fields"]["lon"], 2) for m in state.values()) == [26.0, 26.2]

        ws.send_json({"type": "filter", "agencies": ["CG"]})
        got = until(ws, "filter_applied")
        picture(got, state)
        assert [m["fields"]["agencies"] for m in state.values()] == [["CG"]]
        assert got[-1]["filter"] == {"bbox": None, "kinds": None, "agencies": ["CG"]}

        ws.send_json({"type": "filter", "bbox": [26.9, 41.5, 27.1, 41.7], "kinds": ["track"]})
        picture(until(ws, "filter_applied"), state)
        assert [round(m["fields"]["lon"], 2) for m in state.values()] == [27.0]
        (track,) = state.values()

        # A box whose east edge the track is about to cross: it moves out and is removed.
        east = track["fields"]["lon"] + 1e-6
        ws.send_json({"type": "filter", "bbox": [26.9, 41.5, east, 41.7]})
        picture(until(ws, "filter_applied"), state)
        assert list(state) == [("track", track["id"])]
        advance(world, 10)
        world.picture.ingest([obs(world, n=2, lat=41.6, lon=27.001)], actor="test")
        moved = drain(ws)
        assert [(m["op"], m["id"]) for m in moved] == [("remove", track["id"])]
        picture(moved, state)
        assert state == {}
        advance(world, 1)
        ws.send_json({"type": "filter", "kinds": ["alert"]})
        picture(until(ws, "filter_applied"), state)
        assert state == {}
        ws.close()


# -- resume ----------------------------------------------------------------------------------------


def test_stream_resumes_without_gaps_or_duplicates(settings: Settings, world: Concord) -> None:
    world.picture.ingest([obs(world, n=i) for i in range(3)], actor="test")
    with make_client(settings, world) as client, contextlib.ExitStack() as stack:
        ws = stack.enter_context(connect(client, token(world, "bp.op")))
        recv(ws)
        state: dict[tuple[str, str], dict[str, Any]] = {}
        snap = until(ws, "snapshot_end")
        picture(snap, state)
        last = snap[-1]["seq"]
        ws.close()

        # While disconnected: new tracks and updates.
        advance(world, 3)
        world.picture.ingest([obs(world, n=i) for i in range(2, 6)], actor="test")
        expected_seqs = [
            c.seq
            for c in world.queries.changes(
                world.accounts.get_user_by_username("bp.op").viewer(), after_seq=last
            )
        ]

        ws = stack.enter_context(connect(client, token(world, "bp.op"), resume_after=last))
        recv(ws)
        resumed = until(ws, "resume_end")
        assert resumed[0] == {"type": "resume_start", "after": last, "seq": resumed[-1]["seq"]}
        deltas = [m for m in resumed if m["type"] == "delta"]
        assert [m["seq"] for m in deltas] == expected_seqs
        assert len({m["seq"] for m in deltas}) == len(deltas)
        picture(resumed, state)

        advance(world, 3)
        world.picture.ingest([obs(world, n=7)], actor="test")
        live = [m for m in drain(ws) if m["type"] == "delta"]
        assert len(live) == 1 and live[0]["seq"] > resumed[-1]["seq"]
        picture(live, state)
        ws.close()
    viewer = world.accounts.get_user_by_username("bp.op").viewer()
    assert set(state) == {("track", r.record.record_id) for r in world.queries.page("track", viewer).items}


def test_stream_resume_names_deleted_records_only_when_the_viewer_may_know_them(
    settings: Settings, world: Concord
) -> None:
    with make_client(settings, world) as client, contextlib.ExitStack() as stack:
        world.picture.ingest([obs(world, n=1)], actor="test")
        ws = stack.enter_context(connect(client, token(world, "bp.op")))
        recv(ws)
        snap = until(ws, "snapshot_end")
        mine = [m["id"] for m in snap if m["type"] == "delta"]
        assert len(mine) == 1
        last = snap[-1]["seq"]
        ws.close()

        # While disconnected, the track falls silent and is deleted: a resume removes it.
        advance(world, 400)
        world.picture.ingest([obs(world, n=9)], actor="test")
        ws = stack.enter_context(connect(client, token(world, "bp.op"), resume_after=last))
        recv(ws)
        resumed = until(ws, "resume_end")
        assert resumed[0]["type"] == "resume_start"
        assert ("remove", mine[0]) in [(m["op"], m["id"]) for m in resumed if m["type"] == "delta"]
        last = resumed[-1]["seq"]
        ws.close()

        # A Coast Guard track Border Police never saw is deleted too: its id must not be named, so
        # the client gets the whole picture again instead of a backlog.
        receipt = world.picture.ingest([obs(world, n=15, agency="CG")], actor="test")
        assert receipt.tracks_updated == 1
        cg_track = next(r for r in world.queries.rows_of_originator("CG") if r.kind == "track").id
        advance(world, 400)
        world.picture.ingest([obs(world, n=12)], actor="test")
        ws = stack.enter_context(connect(client, token(world, "bp.op"), resume_after=last))
        recv(ws)
        again = until(ws, "snapshot_end")
        assert again[0] == {"type": "snapshot_start", "seq": again[-1]["seq"], "reason": "resync"}
        assert cg_track not in json.dumps(again)
        last = again[-1]["seq"]
        ws.close()

        # A client showing only alerts holds no track: withheld tracks gone meanwhile need no removal,
        # so it resumes, and the hidden track is not named.
        world.picture.ingest([obs(world, n=16, agency="CG")], actor="test")
        hidden = next(
            r.id
            for r in world.queries.rows_of_originator("CG")
            if r.kind == "track" and r.id != cg_track and r.status != "deleted"
        )
        advance(world, 400)
        world.picture.ingest([obs(world, n=13)], actor="test")
        ws = stack.enter_context(
            connect(client, token(world, "bp.op"), resume_after=last, filter={"kinds": ["alert"]})
        )
        recv(ws)
        alerts_only = until(ws, "resume_end")
        assert alerts_only[0]["type"] == "resume_start"
        assert hidden not in json.dumps(alerts_only)
        ws.close()


def test_stream_sends_snapshot_when_backlog_is_too_large(settings: Settings, world: Concord) -> None:
    with make_client(settings, world, max_backlog=2) as client, contextlib.ExitStack() as stack:
        world.picture.ingest([obs(world, n=i) for i in range(5)], actor="test")
        ws = stack.enter_context(connect(client, token(world, "bp.op"), resume_after=0))
        recv(ws)
        snap = until(ws, "snapshot_end")
        assert snap[0]["type"] == "snapshot_start" and snap[0]["reason"] == "backlog-too-large"
        assert snap[-1]["count"] == 5
        ws.close()


# -- hostile clients -------------------------------------------------------------------------------


BAD_MESSAGES: list[str] = [
    "{not json",
    "[1, 2, 3]",
    '{"type": "subscribe"}',
    '{"type": 5}',
    '{"type": "filter", "bbox": "everything"}',
    '{"type": "filter", "bbox": [0, 0, "a", 1]}',
    '{"type": "filter", "bbox": [NaN, 0, 1, 1]}',
    '{"type": "filter", "bbox": [0, 50, 1, 40]}',
    '{"type": "filter", "kinds": ["track", "agreement"]}',
    '{"type": "filter", "agencies": "BP"}',
    '{"type": "filter", "agencies": [' + ",".join(['"A"'] * 100) + "]}",
    '{"type": "filter", "colour": "red"}',
    '{"type": "ping", "nonce": {"$where": "1"}}',
    '{"type": "auth", "token": "again"}',
    "'; DROP TABLE records; --",
    "[" * 1000 + "]" * 1000,
    '{"type": "filter", "bbox": [0, 0, 1e999, 1]}',
    '"\\ud800"',
]


def test_stream_answers_bad_messages_with_errors(settings: Settings, world: Concord) -> None:
    with make_client(settings, world, max_client_errors=len(BAD_MESSAGES)) as client:
        with contextlib.ExitStack() as stack:
            ws = stack.enter_context(connect(client, token(world, "bp.op")))
            until(ws, "snapshot_end")
            for message in BAD_MESSAGES:
                ws.send_text(message)
                error = recv(ws)
                assert error["type"] == "error" and error["error"]["code"] == "invalid-input", message
                assert drain(ws) == [], message  # still serving


def test_stream_closes_on_huge_and_repeated_bad_messages(settings: Settings, world: Concord) -> None:
    with make_client(settings, world, max_client_errors=3) as client, contextlib.ExitStack() as stack:
        big = stack.enter_context(connect(client, token(world, "bp.op")))
        until(big, "snapshot_end")
        big.send_text('{"type": "ping", "nonce": "' + "x" * 100_000 + '"}')
        assert closed_with(big)[0] == CLOSE_TOO_BIG

        noisy = stack.enter_context(connect(client, token(world, "bp.op")))
        until(noisy, "snapshot_end")
        for _ in range(4):
            noisy.send_text("nonsense")
        code, data = closed_with(noisy)
        assert code == CLOSE_BAD_CLIENT and [m["type"] for m in data] == ["error"] * 3

        binary = stack.enter_context(connect(client, token(world, "bp.op")))
        until(binary, "snapshot_end")
        binary.send_bytes(b"\x00\x01")
        assert recv(binary)["type"] == "error"

        # The server is unaffected: a new viewer still gets its picture and live deltas.
        world.picture.ingest([obs(world, n=9)], actor="test")
        assert [m["type"] for m in drain(binary)] == ["delta"]
        fresh = stack.enter_context(connect(client, token(world, "cg.op")))
        assert recv(fresh)["type"] == "ready"
        until(fresh, "snapshot_end")
        fresh.close()
        binary.close()
        time.sleep(0)


def test_stream_ends_when_the_session_is_closed(settings: Settings, world: Concord) -> None:
    session = world.accounts.login("bp.op", "correct horse battery")
    with make_client(settings, world, reauth_s=0.05) as client, contextlib.ExitStack() as stack:
        ws = stack.enter_context(connect(client, session.token))
        until(ws, "snapshot_end")
        world.accounts.logout(session.token)
        code, data = closed_with(ws)
        assert code == CLOSE_AUTH and data == []
