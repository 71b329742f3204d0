"""The bus intake of API and egress nodes, without a NATS server: a door's batch is answered only once
the region owners announced its commit (or the journal shows it), refusals come back with reasons."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import FAST_HASHER

from concord.adapters import records_store
from concord.adapters.nats_bus import PublishAck
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings
from concord.domain.errors import InvalidInput, Unavailable
from concord.domain.marking import Marking, Tlp
from concord.domain.observation import Observation, SensorKind
from concord.services.picture import MAX_BATCH
from concord.services.workers import BusIntake, Partitioning


class FakeBus:
    """Stores what is published; ``announce`` plays the tracker's commit announcement."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    async def publish_durable(
        self, subject: str, message: dict[str, Any], *, msg_id: str | None = None
    ) -> PublishAck:
        self.published.append((subject, message))
        return PublishAck(stream="CONCORD_OBS", seq=len(self.published), duplicate=False)


def _obs(n: int, lon: float = 26.5) -> Observation:
    return Observation(
        id=f"o-{n}",
        source="radar:BP",
        agency="BP",
        sensor=SensorKind.RADAR,
        observed_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        lat=41.3,
        lon=lon,
        marking=Marking(classification="RESTRICTED", originator="BP", tlp=Tlp.AMBER),
    )


@pytest.fixture
def concord(tmp_path: Path) -> Concord:
    c = bootstrap(
        Settings(env="test", database_url=f"sqlite:///{tmp_path}/c.db", data_dir=tmp_path),
        password_hasher=FAST_HASHER,
    )
    yield c  # type: ignore[misc]
    c.close()


def _intake(concord: Concord, bus: FakeBus, timeout_s: float = 5.0) -> BusIntake:
    return BusIntake(
        bus,  # type: ignore[arg-type]
        Partitioning.parse("west:-180:26.7,east:26.7:180"),
        engine=concord.engine,
        timeout_s=timeout_s,
        check_every_s=0.05,
    )


async def test_answered_after_the_announcement_with_the_trackers_refusals(concord: Concord) -> None:
    bus = FakeBus()
    intake = _intake(concord, bus)
    batch = [_obs(1), _obs(2, lon=26.9), _obs(3)]
    answer = asyncio.create_task(intake.submit(batch, actor="bp.op"))
    for _ in range(100):
        if len(bus.published) == 3:
            break
        await asyncio.sleep(0.01)
    assert sorted(s for s, _ in bus.published) == ["obs.east", "obs.west", "obs.west"]
    assert not answer.done()  # published is not committed
    await intake.on_committed(
        {"ids": ["o-1", "o-2"], "rejected": [{"id": "o-3", "reason": "outside the region"}]}
    )
    receipt = await asyncio.wait_for(answer, 2)
    assert (receipt.accepted, receipt.duplicates, receipt.tracks_updated) == (2, 0, None)
    assert receipt.rejected == [{"index": 2, "id": "o-3", "reason": "outside the region"}]


async def test_a_missed_announcement_is_found_in_the_journal_and_a_repeat_is_a_duplicate(
    concord: Concord,
) -> None:
    bus = FakeBus()
    intake = _intake(concord, bus)
    answer = asyncio.create_task(intake.submit([_obs(1)], actor="bp.op"))
    await asyncio.sleep(0.1)
    with concord.uow() as uow:  # the tracker commits; its announcement is lost
        records_store.insert_observations(uow.conn, [_obs(1)], datetime.now(UTC), region="west")
        uow.commit()
    assert (await asyncio.wait_for(answer, 2)).accepted == 1
    again = await intake.submit([_obs(1)], actor="bp.op")
    assert (again.accepted, again.duplicates) == (0, 1)
    assert len(bus.published) == 1  # a stored observation is not sent again


async def test_unconfirmed_is_unavailable_and_bad_batches_are_refused(concord: Concord) -> None:
    intake = _intake(concord, FakeBus(), timeout_s=0.3)
    with pytest.raises(Unavailable, match="send the same batch again"):
        await intake.submit([_obs(1)], actor="bp.op")
    with pytest.raises(InvalidInput, match="repeat"):
        await intake.submit([_obs(1), _obs(1)], actor="bp.op")
    with pytest.raises(InvalidInput, match="at most"):
        await intake.submit([_obs(i) for i in range(MAX_BATCH + 1)], actor="bp.op")


async def test_the_blocking_form_is_for_worker_threads_only(concord: Concord) -> None:
    intake = _intake(concord, FakeBus())
    with pytest.raises(Unavailable, match="not connected"):
        intake.ingest([_obs(1)], actor="bp.op")
    intake.attach(asyncio.get_running_loop())
    with pytest.raises(RuntimeError, match="blocks"):
        intake.ingest([_obs(1)], actor="bp.op")
    # From a worker thread it waits for the loop to get the answer.
    waiting = asyncio.create_task(asyncio.to_thread(intake.ingest, [_obs(5)], actor="bp.op"))
    await asyncio.sleep(0.2)
    await intake.on_committed({"ids": ["o-5"]})
    assert (await asyncio.wait_for(waiting, 5)).accepted == 1
