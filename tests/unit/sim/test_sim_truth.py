"""Ground truth is geometrically honest: crossings, landings, dark periods and rendezvous really happen."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from pyais import decode
from shapely.geometry import LineString

from concord.drills.sim import (
    Scenario,
    ScenarioConfig,
    SimStep,
    TruthEvent,
    TruthEventKind,
    TruthKind,
    TruthState,
)


@pytest.fixture(scope="module")
def busy_run() -> tuple[Scenario, list[SimStep]]:
    config = ScenarioConfig(seed=11, walkers=60, vehicles=30, boats=10, vessels=20, patrols=6)
    scenario = Scenario.from_config(config)
    return scenario, list(scenario.run(2400.0, 3.0))


def _local(scenario: Scenario, state: TruthState) -> tuple[float, float]:
    x, y = scenario.region.from_lonlat(np.array([state.lon]), np.array([state.lat]))
    return float(x[0]), float(y[0])


def _positions(scenario: Scenario, step: SimStep) -> dict[str, tuple[float, float]]:
    lon = np.array([t.lon for t in step.truth])
    lat = np.array([t.lat for t in step.truth])
    x, y = scenario.region.from_lonlat(lon, lat)
    return {t.truth_id: (float(x[i]), float(y[i])) for i, t in enumerate(step.truth)}


def test_every_crossing_event_is_a_geometric_crossing(busy_run: tuple[Scenario, list[SimStep]]) -> None:
    scenario, steps = busy_run
    border = scenario.region.border_m
    crossings = 0
    before = _positions(scenario, steps[0])
    for prev, step in zip(steps, steps[1:], strict=False):
        after = _positions(scenario, step)
        for event in step.truth_events:
            if event.kind is not TruthEventKind.CROSSED_BORDER:
                continue
            crossings += 1
            (truth_id,) = event.truth_ids
            segment = LineString([before[truth_id], after[truth_id]])
            assert segment.intersects(border), f"{truth_id} did not cross at {event.at}"
            assert prev.time <= event.at <= step.time
            assert event.attributes["direction"] in ("inbound", "outbound")
            assert event.lat is not None and event.lon is not None
        before = after
    assert crossings > 20


def test_every_geometric_crossing_has_an_event(busy_run: tuple[Scenario, list[SimStep]]) -> None:
    scenario, steps = busy_run
    region = scenario.region
    before = _positions(scenario, steps[0])
    geometric = 0
    for step in steps[1:]:
        after = _positions(scenario, step)
        reported = {e.truth_ids[0] for e in step.truth_events if e.kind is TruthEventKind.CROSSED_BORDER}
        ids = [i for i in after if i in before]
        p0 = np.array([before[i] for i in ids])
        p1 = np.array([after[i] for i in ids])
        in_span = region.in_border_span(p0[:, 1]) & region.in_border_span(p1[:, 1])
        flipped = region.home_side(p0[:, 0], p0[:, 1]) != region.home_side(p1[:, 0], p1[:, 1])
        for k in np.flatnonzero(in_span & flipped):
            geometric += 1
            assert ids[k] in reported
        before = after
    assert geometric > 20


def test_vehicles_cross_at_crossing_points_and_walkers_elsewhere(
    busy_run: tuple[Scenario, list[SimStep]],
) -> None:
    _, steps = busy_run
    kinds = {t.truth_id: t.kind for s in steps for t in s.truth}
    seen = set()
    for step in steps:
        for event in step.truth_events:
            if event.kind is TruthEventKind.CROSSED_BORDER:
                kind = kinds[event.truth_ids[0]]
                if kind is TruthKind.VEHICLE:
                    assert event.attributes["crossing_point"] in ("cp-north", "cp-south")
                elif kind is TruthKind.WALKER:
                    assert event.attributes["crossing_point"] is None
                seen.add(kind)
    assert {TruthKind.VEHICLE, TruthKind.WALKER} <= seen


def test_patrols_never_cross_and_report_themselves(busy_run: tuple[Scenario, list[SimStep]]) -> None:
    _, steps = busy_run
    patrols = {t.truth_id for s in steps for t in s.truth if t.kind.is_patrol}
    assert patrols
    for step in steps:
        for event in step.truth_events:
            if event.kind is TruthEventKind.CROSSED_BORDER:
                assert event.truth_ids[0] not in patrols


def _ais_mmsis(step: SimStep) -> set[int]:
    mmsis = {
        int(o.identity.split(":")[1])
        for o in step.observations
        if o.identity and o.identity.startswith("mmsi:")
    }
    lines = list(step.raw_ais)
    i = 0
    while i < len(lines):
        line = lines[i]
        total = int(line.split("!AIVDM,")[1].split(",")[0])
        msg = decode(*lines[i : i + total])
        mmsis.add(int(msg.mmsi))
        i += total
    return mmsis


def test_injected_dark_vessel_is_silent_while_dark() -> None:
    config = ScenarioConfig(
        seed=5,
        walkers=0,
        vehicles=0,
        boats=0,
        vessels=6,
        patrols=0,
        rendezvous_count=0,
        dark_probability=0.0,
        output="both",
    )
    scenario = Scenario.from_config(config)
    vessel = next(t for t in scenario.truth() if t.kind is TruthKind.VESSEL)
    assert vessel.mmsi is not None
    at = scenario.now + timedelta(seconds=120)
    scenario.inject_go_dark(vessel.mmsi, at, duration_s=600.0)
    heard_before = heard_after = 0
    events: list[TruthEvent] = []
    for step in scenario.run(1200.0, 1.0):
        events += step.truth_events
        heard = vessel.mmsi in _ais_mmsis(step)
        if at <= step.time < at + timedelta(seconds=600):
            assert not heard, f"AIS from a dark vessel at {step.time}"
            state = next(t for t in step.truth if t.truth_id == vessel.truth_id)
            assert state.ais_transmitting is False
        elif step.time < at:
            heard_before += heard
        else:
            heard_after += heard
    assert heard_before >= 5 and heard_after >= 20
    kinds = [(e.kind, e.at) for e in events if vessel.truth_id in e.truth_ids]
    assert kinds == [
        (TruthEventKind.WENT_DARK, at),
        (TruthEventKind.AIS_RESUMED, at + timedelta(seconds=600)),
    ]


def test_scheduled_dark_periods_are_silent() -> None:
    config = ScenarioConfig(
        seed=9,
        walkers=0,
        vehicles=0,
        boats=0,
        vessels=30,
        patrols=0,
        rendezvous_count=0,
        dark_probability=0.6,
        dark_min_s=300,
        dark_max_s=600,
        horizon_s=1800,
    )
    scenario = Scenario.from_config(config)
    dark: dict[int, tuple[object, object]] = {}
    mmsi_of = {t.truth_id: t.mmsi for t in scenario.truth()}
    checked = 0
    for step in scenario.run(2400.0, 2.0):
        for event in step.truth_events:
            if event.kind is TruthEventKind.WENT_DARK:
                mmsi = mmsi_of[event.truth_ids[0]]
                assert mmsi is not None and event.ends_at is not None
                dark[mmsi] = (event.at, event.ends_at)
        for mmsi in _ais_mmsis(step):
            window = dark.get(mmsi)
            if window is not None and window[0] <= step.time < window[1]:  # type: ignore[operator]
                pytest.fail(f"vessel {mmsi} transmitted while dark at {step.time}")
            checked += 1
        for t in step.truth:
            mmsi_of.setdefault(t.truth_id, t.mmsi)
    assert len(dark) >= 5 and checked > 500


def _distance(scenario: Scenario, a: TruthState, b: TruthState) -> float:
    return math.dist(_local(scenario, a), _local(scenario, b))


def test_rendezvous_pairs_stay_close_and_slow() -> None:
    config = ScenarioConfig(
        seed=4,
        walkers=0,
        vehicles=0,
        boats=2,
        vessels=12,
        patrols=0,
        rendezvous_count=3,
        horizon_s=3600.0,
        rendezvous_distance_m=80.0,
    )
    scenario = Scenario.from_config(config)
    windows: list[TruthEvent] = []
    samples = 0
    for step in scenario.run(3600.0, 2.0):
        windows += [e for e in step.truth_events if e.kind is TruthEventKind.RENDEZVOUS_STARTED]
        states = {t.truth_id: t for t in step.truth}
        for event in windows:
            assert event.ends_at is not None
            if event.at <= step.time <= event.ends_at:
                a, b = (states[i] for i in event.truth_ids)
                assert _distance(scenario, a, b) <= 80.0
                assert a.speed_mps <= 1.5 and b.speed_mps <= 1.5
                samples += 1
    assert len(windows) == 3
    assert samples > 300


def test_injected_rendezvous_and_crossing_happen_on_time() -> None:
    config = ScenarioConfig(seed=8, walkers=0, vehicles=0, boats=0, vessels=8, patrols=0, rendezvous_count=0)
    scenario = Scenario.from_config(config)
    at = scenario.now + timedelta(seconds=900)
    vessel_id, boat_id = scenario.inject_rendezvous(at, 600.0, distance_m=150.0)
    walker_id = scenario.inject_crossing(scenario.now + timedelta(seconds=1200), lat=41.40, loiter_s=300.0)
    car_id = scenario.inject_crossing(
        scenario.now + timedelta(seconds=400), kind=TruthKind.VEHICLE, inbound=False
    )
    events: list[TruthEvent] = []
    for step in scenario.run(1800.0, 1.0):
        events += step.truth_events
        states = {t.truth_id: t for t in step.truth}
        if at <= step.time <= at + timedelta(seconds=600):
            assert _distance(scenario, states[vessel_id], states[boat_id]) <= 150.0
    started = [e for e in events if e.kind is TruthEventKind.RENDEZVOUS_STARTED]
    assert [(e.truth_ids, e.at) for e in started] == [((vessel_id, boat_id), at)]
    crossed = {e.truth_ids[0]: e for e in events if e.kind is TruthEventKind.CROSSED_BORDER}
    walker = crossed[walker_id]
    assert abs((walker.at - (scenario.start + timedelta(seconds=1200))).total_seconds()) <= 2.0
    assert walker.attributes["direction"] == "inbound"
    assert walker.lat == pytest.approx(41.40, abs=0.002)
    car = crossed[car_id]
    assert abs((car.at - (scenario.start + timedelta(seconds=400))).total_seconds()) <= 2.0
    assert car.attributes["direction"] == "outbound"


def test_night_boats_land_on_the_home_coast() -> None:
    config = ScenarioConfig(
        seed=2,
        walkers=0,
        vehicles=0,
        boats=8,
        vessels=0,
        patrols=0,
        rendezvous_count=0,
        night_landing_fraction=1.0,
    )
    scenario = Scenario.from_config(config)
    landed = []
    for step in scenario.run(3.5 * 3600, 10.0):
        landed += [e for e in step.truth_events if e.kind is TruthEventKind.LANDED]
    assert len(landed) >= 4
    region = scenario.region
    for event in landed:
        assert event.lat is not None and event.lon is not None
        x, y = region.from_lonlat(np.array([event.lon]), np.array([event.lat]))
        assert region.home_land_m.buffer(50.0).contains(LineString([(x[0], y[0]), (x[0], y[0] + 1)]))
        # Local solar time of the landing is night (the start, 19:00 UTC, is already dark there).
        solar_h = (event.at.hour + event.at.minute / 60 + 26.5 / 15) % 24
        assert solar_h >= 20 or solar_h < 5.5


def test_truth_values_round_trip_through_dicts(busy_run: tuple[Scenario, list[SimStep]]) -> None:
    _, steps = busy_run
    for step in steps[::100]:
        for state in step.truth:
            assert TruthState.from_dict(state.to_dict()) == state
        for event in step.truth_events:
            assert TruthEvent.from_dict(event.to_dict()) == event


def test_table_grows_for_many_injected_crossings() -> None:
    config = ScenarioConfig(seed=6, walkers=1, vehicles=0, boats=0, vessels=0, patrols=0, rendezvous_count=0)
    scenario = Scenario.from_config(config)
    at = scenario.now + timedelta(seconds=900)
    injected = {scenario.inject_crossing(at + timedelta(seconds=5 * i)) for i in range(150)}
    assert len(injected) == 150
    crossed: set[str] = set()
    for step in scenario.run(1800.0, 5.0):
        crossed |= {e.truth_ids[0] for e in step.truth_events if e.kind is TruthEventKind.CROSSED_BORDER}
    assert injected <= crossed


def _count(states: list[TruthState], kind: TruthKind) -> int:
    return sum(1 for t in states if t.kind is kind)


@pytest.mark.parametrize("respawn", [True, False])
def test_finished_movers_retire_and_respawn(respawn: bool) -> None:
    config = ScenarioConfig(
        seed=10, walkers=10, vehicles=10, boats=0, vessels=0, patrols=2, rendezvous_count=0, respawn=respawn
    )
    scenario = Scenario.from_config(config)
    ids_before = {t.truth_id for t in scenario.truth()}
    last = list(scenario.run(3 * 3600.0, 20.0))[-1]
    ids_after = {t.truth_id for t in last.truth}
    assert sum(1 for t in last.truth if t.kind.is_patrol) == 2
    if respawn:
        assert _count(last.truth, TruthKind.WALKER) == 10 and _count(last.truth, TruthKind.VEHICLE) == 10
        assert ids_after - ids_before
    else:
        assert _count(last.truth, TruthKind.VEHICLE) < 10
        assert ids_after <= ids_before
