"""The ingest role: gateways put raw feed data on ``ingest.>``; ingest workers decode it with the doors'
decoders and route the observations to their regions. Hostile data is refused, never routed."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from concord.adapters.nats_bus import OBS_STREAM, NatsBus
from concord.domain.marking import Marking, Tlp
from concord.drills.sim import Scenario, ScenarioConfig
from concord.ingest import CotDecoder
from concord.services.cluster import NatsCluster
from concord.services.workers import IngestWorker, Partitioning

pytestmark = [pytest.mark.nats, pytest.mark.timeout(120)]

XXE = (
    b'<?xml version="1.0"?><!DOCTYPE event [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<event version="2.0" uid="evil" type="a-f-G" how="m-g" time="2026-01-01T00:00:00Z" '
    b'start="2026-01-01T00:00:00Z" stale="2026-01-01T00:10:00Z"><point lat="41.3" lon="26.5" hae="0" '
    b'ce="10" le="10"/><detail><contact callsign="&xxe;"/></detail></event>'
)


def _marking(agency: str) -> Marking:
    return Marking(classification="RESTRICTED", originator=agency, tlp=Tlp.AMBER)


async def test_cluster_ingest_workers_decode_raw_feeds_and_route_them(nats_cluster: NatsCluster) -> None:
    tag = uuid.uuid4().hex[:6]
    partitioning = Partitioning.parse(f"w{tag}:-180:26.7,e{tag}:26.7:180")
    bus = NatsBus.from_url(nats_cluster.url, stream_replicas=3, ack_wait_s=2.0)
    await bus.connect()
    await bus.ensure_streams()
    start = datetime.now(UTC) - timedelta(minutes=5)
    sim = Scenario.from_config(ScenarioConfig(start=start, seed=3, run_id=tag, output="raw", exercise=False))
    ais: list[str] = []
    cot: list[bytes] = []
    for _ in range(20):
        step = sim.step(2.0)
        ais.extend(step.raw_ais)
        cot.extend(step.raw_cot)
    assert ais and cot
    now = datetime.now(UTC).isoformat()
    half = len(cot) // 2
    decoder = CotDecoder("BP", _marking("BP"), feed="cot-gateway:BP")  # ids are named by feed
    expected_tak = {
        o.id
        for part in (cot[:half], cot[half:])
        for o in decoder.decode(b"".join(part), received_at=datetime.now(UTC)).observations
    }
    messages: list[dict[str, Any]] = [
        {"id": f"{tag}-ais", "agency": "CG", "format": "ais", "payload": "\n".join(ais), "received_at": now},
        {"id": f"{tag}-cot", "agency": "BP", "format": "cot", "payload": b"".join(cot[:half]).decode()},
        {"id": f"{tag}-xxe", "agency": "BP", "format": "cot", "payload": XXE.decode()},
        # The same gateway's next batch is decoded as ever: a hostile batch poisons nothing after it.
        {"id": f"{tag}-cot2", "agency": "BP", "format": "cot", "payload": b"".join(cot[half:]).decode()},
        {"id": f"{tag}-json", "agency": "CUS", "format": "geojson", "payload": "{not json"},
        {"id": f"{tag}-who", "agency": "ZZZ", "format": "ais", "payload": ais[0]},
        {"id": f"{tag}-fmt", "agency": "CG", "format": "asterix", "payload": "x"},
        {"id": f"{tag}-bad", "agency": "CG", "format": "ais", "payload": 5},
    ]
    for m in messages:
        await bus.publish(f"ingest.gw-{tag}", m)
    await bus.publish(f"ingest.gw-{tag}", messages[0])  # a gateway's retry: stored once

    worker = IngestWorker(
        bus,
        partitioning,
        marking_for=_marking,
        agencies=lambda: ["BP", "CG", "CUS"],
    )
    routed: dict[str, dict[str, Any]] = {}
    stop = asyncio.Event()

    async def collect(batch: list[dict[str, Any]]) -> None:
        for o in batch:
            routed[o["id"]] = o

    async def region(name: str) -> None:
        await bus.consume(
            Partitioning.subject(name), durable=f"t-{name}", stream=OBS_STREAM, handler=collect, stop=stop
        )

    tasks = [asyncio.create_task(worker.run(stop))] + [
        asyncio.create_task(region(n)) for n in partitioning.names
    ]
    try:
        for _ in range(200):
            if worker.dropped >= 3 and routed and len(routed) == worker.routed:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # anything routed twice would show now
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.close()
    assert worker.dropped == 3  # unknown agency, unknown format, a payload that is not text
    assert worker.rejected == {"entity-forbidden": 1, "malformed-json": 1}
    assert "evil" not in json.dumps(list(routed.values()))
    agencies = {o["agency"] for o in routed.values()}
    assert agencies == {"BP", "CG"}
    assert all(o["marking"]["originator"] == o["agency"] for o in routed.values())
    assert {o["sensor"] for o in routed.values()} >= {"ais", "tak"}
    assert expected_tak and expected_tak <= set(routed)
    assert len(routed) == worker.routed  # every routed observation once, in its region
