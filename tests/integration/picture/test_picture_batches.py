"""A batch spanning minutes is judged as a live feed would be: slice by slice of observation time."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from tests.conftest import FAST_HASHER, START

from concord.adapters.clock import ManualClock
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings
from concord.domain.marking import Marking, Tlp
from concord.domain.observation import Observation, SensorKind, TargetKind

MARKING = Marking(classification="RESTRICTED", originator="CG", tlp=Tlp.AMBER)


def _u_turn(run: str) -> list[Observation]:
    """A vessel steaming east at 8 m/s for a minute, then north: a course anomaly."""
    out: list[Observation] = []
    lat, lon = 41.10, 26.60
    metres_per_deg_lon = 111_320.0 * math.cos(math.radians(lat))
    for k in range(60):
        if k < 30:
            lon += 8.0 * 2.0 / metres_per_deg_lon
        else:
            lat += 8.0 * 2.0 / 111_320.0
        out.append(
            Observation(
                id=f"{run}-{k}",
                source="ais:CG",
                agency="CG",
                sensor=SensorKind.AIS,
                observed_at=START + timedelta(seconds=2 * k),
                lat=lat,
                lon=lon,
                marking=MARKING,
                position_sigma_m=10.0,
                identity="mmsi:273000001",
                target=TargetKind.VESSEL,
            )
        )
    return out


def _concord(tmp_path: Path, name: str) -> Concord:
    folder = tmp_path / name
    folder.mkdir()
    clock = ManualClock(START + timedelta(minutes=3))
    settings = Settings(env="test", database_url=f"sqlite:///{folder}/c.db", data_dir=folder)
    return bootstrap(settings, clock=clock, password_hasher=FAST_HASHER)


def _alert_kinds(concord: Concord) -> list[str]:
    with concord.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT data FROM records WHERE kind = 'alert'")).all()
    return sorted(str((d if isinstance(d, dict) else json.loads(d))["kind"]) for (d,) in rows)


def test_one_batch_of_two_minutes_raises_what_report_by_report_raises(tmp_path: Path) -> None:
    live, backlog = _concord(tmp_path, "live"), _concord(tmp_path, "backlog")
    try:
        for o in _u_turn("live"):
            live.picture.ingest([o], actor="test")
        receipt = backlog.picture.ingest(_u_turn("backlog"), actor="test")
        assert receipt.accepted == 60 and receipt.tracks_updated == 1
        assert "course-anomaly" in _alert_kinds(live)
        assert _alert_kinds(backlog) == _alert_kinds(live)
    finally:
        live.close()
        backlog.close()


def test_refusals_in_a_sliced_batch_name_their_place_in_the_batch(tmp_path: Path) -> None:
    concord = _concord(tmp_path, "c")
    try:
        batch = _u_turn("r")
        far = batch[40]
        batch[40] = Observation(
            id="far-away",
            source=far.source,
            agency=far.agency,
            sensor=far.sensor,
            observed_at=far.observed_at,
            lat=10.0,
            lon=10.0,
            marking=far.marking,
            identity="mmsi:273000009",
            target=TargetKind.VESSEL,
        )
        receipt = concord.picture.ingest(batch, actor="test")
        assert receipt.accepted == 59
        assert [(r["index"], r["id"]) for r in receipt.rejected] == [(40, "far-away")]
    finally:
        concord.close()
