"""The fan-out hub without a network: recording channels, slow consumers, release once per class."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.factories import small_world

from concord.bootstrap import Concord
from concord.domain.errors import InvalidInput
from concord.domain.identity import Viewer
from concord.domain.marking import Marking, Tlp
from concord.domain.observation import Observation, SensorKind
from concord.domain.record import RecordRow
from concord.egress.stream import (
    CLOSE_SLOW_CONSUMER,
    StreamConfig,
    StreamFilter,
    StreamHub,
    parse_client_message,
)
from concord.services.picture import PictureChange
from concord.sharing import Agreement

pytestmark = pytest.mark.timeout(60)


class RecordingChannel:
    """A channel that keeps every message; with ``stalled`` it never finishes a send (a stuck peer)."""

    def __init__(self, *, stalled: bool = False) -> None:
        self.messages: list[dict[str, Any]] = []
        self.texts: list[str] = []
        self.closed: tuple[int, str] | None = None
        self._stalled = stalled

    async def send(self, text: str) -> None:
        if self._stalled:
            await asyncio.Event().wait()
        self.texts.append(text)
        self.messages.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def deltas(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "delta"]


def report(concord: Concord, n: int, marking: Marking) -> Observation:
    return Observation(
        id=f"obs-{uuid.uuid4().hex}",
        source="ais:BP",
        agency=marking.originator,
        sensor=SensorKind.AIS,
        observed_at=concord.clock.now(),
        lat=41.3 + 0.05 * (n % 20) - 0.5,
        lon=26.5 + 0.05 * (n // 20) - 0.5,
        marking=marking,
        identity=f"mmsi:{300000000 + n}",
    )


def viewer(concord: Concord, username: str) -> Viewer:
    return concord.accounts.get_user_by_username(username).viewer()


async def settle(hub: StreamHub, *channels: RecordingChannel) -> None:
    """Wait until the dispatcher and the writers have nothing left."""
    for _ in range(200):
        await asyncio.sleep(0.01)
        busy = any(not c.queue.empty() for c in hub.clients if not c.closed)
        if not busy and hub._events is not None and hub._events.empty():
            await asyncio.sleep(0.02)
            return


@pytest.fixture
async def hub(concord: Concord) -> AsyncIterator[StreamHub]:
    small_world(concord)
    made = StreamHub(queries=concord.queries, clock=concord.clock, config=StreamConfig(queue_max=50))
    concord.picture.subscribe(made.publish)
    made.start()
    yield made
    await made.stop()


async def ingest(concord: Concord, items: list[Observation]) -> None:
    # The picture service is called from worker threads in production (feeds, the API's threadpool).
    await asyncio.to_thread(concord.picture.ingest, items, actor="test")


async def test_stream_slow_consumer_is_dropped_and_fast_one_continues(
    concord: Concord, hub: StreamHub
) -> None:
    fast, slow = RecordingChannel(), RecordingChannel(stalled=True)
    await hub.join(viewer(concord, "bp.op"), fast)
    stuck = await hub.join(viewer(concord, "bp.op"), slow)
    marking = Marking(classification="RESTRICTED", originator="BP")
    for batch in range(6):
        await ingest(concord, [report(concord, batch * 10 + i, marking) for i in range(10)])
    await settle(hub, fast)
    assert slow.closed is not None and slow.closed[0] == CLOSE_SLOW_CONSUMER
    assert "slow consumer" in slow.closed[1]
    assert stuck.closed and stuck not in hub.clients
    assert len({m["id"] for m in fast.deltas()}) == 60
    assert fast.closed is None


def _markings() -> list[Marking]:
    out = []
    for level in ("UNCLASSIFIED", "RESTRICTED", "SECRET"):
        for rel in (frozenset(), frozenset({"CG"})):
            for tlp in (Tlp.GREEN, Tlp.AMBER):
                out.append(Marking(classification=level, originator="BP", rel_to=rel, tlp=tlp))
    return out


async def test_stream_serialises_once_per_class_and_matches_the_naive_path(
    concord: Concord, hub: StreamHub
) -> None:
    naive = StreamHub(
        queries=concord.queries, clock=concord.clock, config=StreamConfig(queue_max=500, per_class=False)
    )
    concord.picture.subscribe(naive.publish)
    naive.start()
    users = ["bp.op", "bp.op", "bp.op", "cg.op", "cg.op", "cg.cmd"]
    shared = [RecordingChannel() for _ in users]
    single = [RecordingChannel() for _ in users]
    for u, a, b in zip(users, shared, single, strict=True):
        await hub.join(viewer(concord, u), a)
        await naive.join(viewer(concord, u), b)
    markings = _markings()
    await ingest(concord, [report(concord, i, m) for i, m in enumerate(markings)])
    await settle(hub)
    await settle(naive)
    for a, b in zip(shared, single, strict=True):
        assert a.texts == b.texts
    assert shared[0].deltas() and shared[3].deltas()
    assert len(shared[0].deltas()) != len(shared[3].deltas())
    # Three classes (bp.op; cg.op; cg.cmd) against six connections.
    assert hub.stats["releases"] == 3 * len(markings)
    assert naive.stats["releases"] == 6 * len(markings)
    await naive.stop()


async def test_stream_tlp_red_goes_only_to_named_recipients(concord: Concord, hub: StreamHub) -> None:
    named = concord.accounts.get_user_by_username("bp.op")
    other = concord.accounts.create_user("bp.op2", "BP", ["operator"], "RESTRICTED", password="x" * 16)
    cg = concord.accounts.get_user_by_username("cg.op")
    concord.sharing.sign(
        Agreement(
            agreement_id="cg-bp", owner="CG", partner="BP", valid_from=concord.clock.now() - timedelta(days=1)
        ),
        actor="test",
    )
    channels = {u.username: RecordingChannel() for u in (named, other, cg)}
    for u in (named, other, cg):
        await hub.join(u.viewer(), channels[u.username])
    red = Marking(
        classification="RESTRICTED",
        originator="CG",
        rel_to=frozenset({"BP"}),
        tlp=Tlp.RED,
        recipients=frozenset({named.id}),
    )
    await ingest(concord, [report(concord, 1, red)])
    await settle(hub)
    got = {name: [m["id"] for m in c.deltas()] for name, c in channels.items()}
    for name, user in (("bp.op", named), ("bp.op2", other), ("cg.op", cg)):
        expected = [r.record.record_id for r in concord.queries.page("track", user.viewer()).items]
        assert got[name] == expected, name
    assert got["bp.op"] and not got["bp.op2"]


async def test_stream_filters_are_applied_on_released_metadata(concord: Concord, hub: StreamHub) -> None:
    box = RecordingChannel()
    await hub.join(viewer(concord, "bp.op"), box, stream_filter=StreamFilter(bbox=(25.0, 40.0, 26.2, 42.0)))
    marking = Marking(classification="RESTRICTED", originator="BP")
    await ingest(concord, [report(concord, i, marking) for i in (0, 200)])  # lon 26.0 and 26.5
    await settle(hub)
    lons = sorted(round(m["fields"]["lon"], 2) for m in box.deltas())
    assert lons == [26.0]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_stream_client_messages_fail_only_with_invalid_input(text: str) -> None:
    try:
        parse_client_message(text)
    except InvalidInput:
        pass


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["type", "token", "resume_after", "bbox", "kinds", "agencies", "filter", "exercise"]),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=10)
        | st.lists(st.floats() | st.text(max_size=5), max_size=5),
    )
)
def test_stream_structured_messages_fail_only_with_invalid_input(data: dict[str, object]) -> None:
    try:
        parse_client_message(json.dumps(data))
    except InvalidInput:
        pass


async def test_stream_large_snapshot_is_not_a_slow_consumer(concord: Concord, hub: StreamHub) -> None:
    marking = Marking(classification="RESTRICTED", originator="BP")
    await ingest(concord, [report(concord, i, marking) for i in range(120)])  # queue_max is 50
    channel = RecordingChannel()
    client = await hub.join(viewer(concord, "bp.op"), channel)
    await settle(hub)
    assert channel.closed is None and not client.closed
    assert channel.messages[-1] == {"type": "snapshot_end", "seq": channel.messages[0]["seq"], "count": 120}
    # Closing the track layer and opening it again: 120 removes, 120 upserts, no slow-consumer drop.
    before = len(channel.messages)
    await hub.change_filter(client, StreamFilter(kinds=frozenset({"alert"})))
    await hub.change_filter(client, StreamFilter())
    await settle(hub)
    types = [m["type"] for m in channel.messages[before:]]
    assert types.count("delta") == 240 and types.count("filter_applied") == 2


def _row(record_id: str, seq: int, lon: float) -> RecordRow:
    return RecordRow(
        kind="track",
        id=record_id,
        version=seq,
        seq=seq,
        marking=Marking(classification="RESTRICTED", originator="BP"),
        exercise=False,
        status="confirmed",
        lat=41.0,
        lon=lon,
        updated_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        data={"id": record_id, "lat": 41.0, "lon": lon},
    )


async def test_stream_changes_published_out_of_order_go_out_in_seq_order(
    concord: Concord, hub: StreamHub
) -> None:
    channel = RecordingChannel()
    await hub.join(viewer(concord, "bp.op"), channel)
    # Two writers' listeners ran in the opposite order of their commits; a stale repeat follows.
    hub.publish(PictureChange(rows=(_row("t-b", 1009, 26.2),)))
    hub.publish(PictureChange(rows=(_row("t-a", 1007, 26.1), _row("t-b", 1008, 26.0))))
    hub.publish(PictureChange(rows=(_row("t-a", 1006, 26.3),)))
    await settle(hub)
    assert [(m["id"], m["seq"]) for m in channel.deltas()] == [("t-a", 1007), ("t-b", 1009)]
