"""Region partitioning and the bus wire formats of observations and records (pure, no bus)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.domain.errors import InvalidInput
from concord.domain.marking import Marking
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.services.workers import (
    Partitioning,
    observation_from_dict,
    observation_to_dict,
    roles_of,
)

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _obs(**kw: object) -> Observation:
    base: dict[str, object] = {
        "id": "o-1",
        "source": "radar:CG-R1",
        "agency": "CG",
        "sensor": SensorKind.RADAR,
        "observed_at": AT,
        "lat": 41.0,
        "lon": 26.5,
        "marking": Marking.default_for("CG"),
    }
    base.update(kw)
    return Observation(**base)  # type: ignore[arg-type]


def test_cluster_empty_spec_is_one_region_covering_everything() -> None:
    p = Partitioning.parse("", default_name="border")
    assert p.names == ("border",)
    assert p.region_of(-179.0) == p.region_of(179.0) == "border"


def test_cluster_bands_route_by_longitude_and_ends_go_to_the_nearest() -> None:
    p = Partitioning.parse("east:26.7:180,west:-180:26.7")
    assert p.names == ("west", "east")
    assert p.region_of(26.69) == "west"
    assert p.region_of(26.7) == "east"
    assert p.subject("east") == "obs.east"
    gap = Partitioning.parse("a:10:20,b:30:40")
    assert gap.region_of(0.0) == "a"
    assert gap.region_of(25.0) == "b"
    assert gap.region_of(50.0) == "b"
    assert gap.bounds("a") == (-180.0, 20.0)
    assert gap.bounds("b") == (30.0, 180.0)


@pytest.mark.parametrize(
    "spec",
    [
        "west",
        "west:1",
        "west:a:b",
        "west:2:1",
        "west:1:1",
        "a:0:10,a:10:20",
        "a:0:10,b:5:20",
        "a.b:0:1",
        "obs.>:0:1",
        "'; DROP TABLE observations; --:0:1",
        "x" * 40 + ":0:1",
        "a:nan:1",
        "a:0:inf",
    ],
)
def test_cluster_malformed_partitions_are_refused(spec: str) -> None:
    with pytest.raises(InvalidInput):
        Partitioning.parse(spec)


@given(lon=st.floats(min_value=-180, max_value=180), edge=st.floats(min_value=-170, max_value=170))
@settings(max_examples=60)
def test_cluster_every_longitude_has_exactly_one_region(lon: float, edge: float) -> None:
    p = Partitioning.parse(f"w:-180:{edge},e:{edge}:180")
    region = p.region_of(lon)
    assert region == ("w" if lon < edge else "e")
    lo, hi = p.bounds(region)
    assert lo <= lon <= hi


@given(
    lat=st.floats(min_value=-90, max_value=90),
    lon=st.floats(min_value=-180, max_value=180),
    speed=st.none() | st.floats(min_value=0, max_value=1000),
    identity=st.none() | st.text(min_size=1, max_size=20),
)
@settings(max_examples=60)
def test_cluster_observation_round_trips(
    lat: float, lon: float, speed: float | None, identity: str | None
) -> None:
    o = _obs(lat=lat, lon=lon, speed_mps=speed, identity=identity, target=TargetKind.VESSEL, exercise=True)
    assert observation_from_dict(observation_to_dict(o)) == o


@pytest.mark.parametrize(
    "change",
    [
        {"lat": math.nan},
        {"lat": 91},
        {"lon": "east"},
        {"observed_at": "2026-03-01T12:00:00"},
        {"observed_at": "yesterday"},
        {"sensor": "telepathy"},
        {"marking": "SECRET"},
        {"position_sigma_m": -1},
        {"speed_mps": math.inf},
        {"id": None, "source": None},
    ],
)
def test_cluster_malformed_observation_messages_are_invalid_input(change: dict[str, object]) -> None:
    data = {**observation_to_dict(_obs()), **change}
    if change.get("id", 0) is None:
        del data["id"]
    with pytest.raises(InvalidInput):
        observation_from_dict(data)



def test_cluster_roles() -> None:
    assert roles_of("all") == {"api", "ingest", "tracker", "egress"}
    assert roles_of("rules") == {"tracker"}
    assert roles_of("api") == {"api"}
    with pytest.raises(InvalidInput):
        roles_of("root")
