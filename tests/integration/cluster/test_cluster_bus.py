"""The NATS JetStream adapter on the 3-node test cluster: dedup, ack after the handler, leases."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from concord.adapters.nats_bus import OBS_STREAM, NatsBus
from concord.domain.errors import Conflict, InvalidInput, Unavailable
from concord.services.cluster import NatsCluster

pytestmark = [pytest.mark.nats, pytest.mark.timeout(60)]


@pytest.fixture
async def bus(nats_cluster: NatsCluster) -> AsyncIterator[NatsBus]:
    b = NatsBus.from_url(nats_cluster.url, stream_replicas=3, ack_wait_s=1.0)
    await b.connect()
    await b.ensure_streams()
    try:
        yield b
    finally:
        await b.close()


async def test_cluster_bus_publish_is_deduplicated_by_message_id(bus: NatsBus) -> None:
    subject = f"obs.t{uuid.uuid4().hex[:8]}"
    msg_id = uuid.uuid4().hex
    first = await bus.publish_durable(subject, {"id": msg_id}, msg_id=msg_id)
    again = await bus.publish_durable(subject, {"id": msg_id}, msg_id=msg_id)
    assert not first.duplicate
    assert again.duplicate and again.seq == first.seq


async def test_cluster_bus_acknowledges_only_after_the_handler(bus: NatsBus) -> None:
    subject = f"obs.t{uuid.uuid4().hex[:8]}"
    for i in range(5):
        await bus.publish(subject, {"id": f"{subject}-{i}", "n": i})
    seen: list[int] = []
    calls = 0
    stop = asyncio.Event()

    async def flaky(batch: list[dict[str, Any]]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the database is down")
        seen.extend(m["n"] for m in batch)
        if len(seen) >= 5:
            stop.set()

    durable = "t-" + subject.split(".")[1]
    acked = await asyncio.wait_for(
        bus.consume(subject, durable=durable, stream=OBS_STREAM, handler=flaky, stop=stop, idle_s=0.2),
        timeout=30,
    )
    assert calls >= 2
    assert sorted(seen) == [0, 1, 2, 3, 4]  # redelivered once after the failure, in order
    assert acked == 5


@pytest.mark.parametrize("message", [{"x": math.nan}, {"x": object()}, {"x": "y" * 9_000_000}])
async def test_cluster_bus_refuses_what_is_not_small_json(bus: NatsBus, message: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        await bus.publish("obs.hostile", message)


async def test_cluster_bus_unconnected_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        await NatsBus(["nats://127.0.0.1:1"]).publish_durable("obs.x", {"id": "x"})
    with pytest.raises(InvalidInput):
        NatsBus([])


async def test_cluster_leases_are_exclusive_and_expire(bus: NatsBus) -> None:
    leases = await bus.lease_bucket("concord_leases", ttl_s=4.0)
    key = f"region.t{uuid.uuid4().hex[:8]}"
    mine = await leases.acquire(key, "w1")
    assert mine is not None
    assert await leases.acquire(key, "w2") is None
    assert await leases.holder(key) == "w1"
    mine = await leases.renew(mine)
    await leases.release(mine)
    theirs = await leases.acquire(key, "w2")
    assert theirs is not None
    with pytest.raises(Conflict):
        await leases.renew(mine)
    await leases.release(mine)  # stale: leaves the new holder alone
    assert await leases.holder(key) == "w2"


async def test_cluster_an_identified_target_stays_with_the_region_that_first_tracked_it(
    nats_cluster: NatsCluster,
) -> None:
    from datetime import UTC, datetime

    from concord.domain.marking import Marking, Tlp
    from concord.domain.observation import Observation, SensorKind
    from concord.services.workers import ObservationPublisher, Partitioning, RouteBook

    tag = uuid.uuid4().hex[:6]
    partitioning = Partitioning.parse(f"w{tag}:-180:26.7,e{tag}:26.7:180")
    marking = Marking(classification="RESTRICTED", originator="CG", tlp=Tlp.AMBER)

    def report(n: int, lon: float, identity: str | None) -> Observation:
        return Observation(
            id=f"{tag}-{n}",
            source="ais:CG",
            agency="CG",
            sensor=SensorKind.AIS,
            observed_at=datetime.now(UTC),
            lat=41.1,
            lon=lon,
            marking=marking,
            identity=identity,
        )

    # Two doors (two API nodes), each with its own connection and its own memory of routes.
    doors = [NatsBus.from_url(nats_cluster.url, stream_replicas=3) for _ in range(2)]
    for b in doors:
        await b.connect()
        await b.ensure_streams()
    try:
        first, second = (ObservationPublisher(b, partitioning, routes=RouteBook(b)) for b in doors)
        await first.publish([report(1, 26.60, f"mmsi:{tag}1"), report(2, 26.80, f"mmsi:{tag}2")])
        # Both targets cross the band edge; the other door sends their next reports.
        await second.publish(
            [report(3, 26.80, f"mmsi:{tag}1"), report(4, 26.60, f"mmsi:{tag}2"), report(5, 26.80, None)]
        )
        seen: dict[str, str] = {}
        stop = asyncio.Event()

        async def collect(name: str) -> None:
            async def handler(batch: list[dict[str, Any]]) -> None:
                for m in batch:
                    seen[m["id"]] = name
                if len(seen) == 5:
                    stop.set()

            await doors[0].consume(
                Partitioning.subject(name), durable=f"t-{name}", stream=OBS_STREAM, handler=handler, stop=stop
            )

        await asyncio.wait_for(asyncio.gather(*(collect(n) for n in partitioning.names)), timeout=30)
    finally:
        for b in doors:
            await b.close()
    west, east = partitioning.names
    assert seen == {
        f"{tag}-1": west,
        f"{tag}-3": west,  # past the edge, still with the region that first tracked it
        f"{tag}-2": east,
        f"{tag}-4": east,
        f"{tag}-5": east,  # no identity: by position
    }
