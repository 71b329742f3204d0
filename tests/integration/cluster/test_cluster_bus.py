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
