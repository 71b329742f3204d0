"""Raw AIS and CoT payloads decode back to what the simulator's own observations say."""

from __future__ import annotations

from datetime import UTC, datetime

import defusedxml.ElementTree as DET
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyais import decode
from pyais.stream import IterMessages

from concord.domain.observation import SensorKind
from concord.drills.sim import Scenario, ScenarioConfig, SimStep
from concord.drills.sim._feeds import KNOT_MPS, AisPosition, ais_position_lines, quantise_ais


@pytest.fixture(scope="module")
def both_run() -> list[SimStep]:
    config = ScenarioConfig(seed=17, walkers=5, vehicles=5, boats=2, vessels=30, patrols=8, output="both")
    return list(Scenario.from_config(config).run(900.0, 2.0))


def _groups(lines: list[str]) -> list[list[str]]:
    out = []
    i = 0
    while i < len(lines):
        total = int(lines[i].split("!AIVDM,")[1].split(",")[0])
        out.append(lines[i : i + total])
        i += total
    return out


def test_nmea_decodes_to_the_same_mmsi_and_position(both_run: list[SimStep]) -> None:
    checked = 0
    statics = 0
    for step in both_run:
        ais_obs = {o.identity: o for o in step.observations if o.sensor is SensorKind.AIS}
        positions = 0
        for group in _groups(step.raw_ais):
            msg = decode(*group).asdict()
            if msg["msg_type"] == 5:
                statics += 1
                assert msg["shipname"]
                continue
            assert msg["msg_type"] == 1
            positions += 1
            obs = ais_obs[f"mmsi:{msg['mmsi']!s}"]
            # AIS carries 1/10000 minute (pyais rounds to 6 decimals), 0.1 knot and 0.1 degree.
            assert msg["lat"] == pytest.approx(obs.lat, abs=2e-6)
            assert msg["lon"] == pytest.approx(obs.lon, abs=2e-6)
            assert obs.speed_mps is not None and obs.course_deg is not None
            assert msg["speed"] == pytest.approx(obs.speed_mps / KNOT_MPS, abs=0.051)
            assert msg["course"] == pytest.approx(obs.course_deg, abs=0.051)
            assert msg["second"] == step.time.second
            checked += 1
        assert positions == len(ais_obs)
    assert checked > 500 and statics > 10


def test_nmea_tag_blocks_carry_receiver_and_time(both_run: list[SimStep]) -> None:
    step = next(s for s in both_run if s.raw_ais)
    for message in IterMessages([line.encode() for line in step.raw_ais]):
        tag = message.tag_block
        assert tag is not None
        tag.init()
        assert tag.is_valid
        assert tag.source_station == "CG-A1"
        assert int(tag.receiver_timestamp) == int(step.time.timestamp())


def test_cot_events_are_well_formed_with_uid_and_position(both_run: list[SimStep]) -> None:
    checked = 0
    for step in both_run:
        tak_obs = {o.identity: o for o in step.observations if o.sensor is SensorKind.TAK}
        assert len(step.raw_cot) == len(tak_obs)
        for payload in step.raw_cot:
            root = DET.fromstring(payload)
            assert root.tag == "event" and root.get("version") == "2.0"
            obs = tak_obs[f"tak:{root.get('uid')}"]
            point = root.find("point")
            assert point is not None
            assert float(point.get("lat", "nan")) == obs.lat
            assert float(point.get("lon", "nan")) == obs.lon
            assert float(point.get("ce", "nan")) == obs.position_sigma_m
            contact = root.find("detail/contact")
            assert contact is not None and contact.get("callsign") == obs.callsign
            track = root.find("detail/track")
            assert track is not None and float(track.get("speed", "nan")) == obs.speed_mps
            assert root.get("type", "").startswith("a-f-")
            when = datetime.strptime(root.get("time", ""), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            assert when == step.time
            checked += 1
    assert checked > 500


@settings(max_examples=200, deadline=None)
@given(
    lat=st.floats(min_value=-90, max_value=90),
    lon=st.floats(min_value=-180, max_value=180),
    speed=st.floats(min_value=0, max_value=50),
    course=st.floats(min_value=0, max_value=359.9),
    mmsi=st.integers(min_value=200_000_000, max_value=775_999_999),
)
def test_any_position_round_trips_through_nmea(
    lat: float, lon: float, speed: float, course: float, mmsi: int
) -> None:
    q_lat, q_lon, speed_kn, cog = quantise_ais(lat, lon, speed, course)
    report = AisPosition(
        mmsi=mmsi,
        lat=q_lat,
        lon=q_lon,
        speed_kn=speed_kn,
        course_deg=cog,
        heading_deg=int(cog) % 360,
        second=12,
        moored=False,
    )
    lines = ais_position_lines(report, channel="B", tag_source=None, at=datetime(2026, 1, 1, tzinfo=UTC))
    msg = decode(*lines).asdict()
    assert msg["mmsi"] == mmsi
    assert msg["lat"] == pytest.approx(q_lat, abs=2e-6)
    assert msg["lon"] == pytest.approx(q_lon, abs=2e-6)
    assert msg["speed"] == pytest.approx(speed_kn, abs=0.051)
    assert msg["course"] == pytest.approx(cog, abs=0.051)
