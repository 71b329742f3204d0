"""Sensors report only what lies in their coverage, with the configured error, marking and flags."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
import shapely

from concord.domain.marking import Marking, Tlp
from concord.domain.observation import SensorKind, TargetKind
from concord.drills.sim import (
    CameraConfig,
    MarkingSpec,
    RadarConfig,
    Scenario,
    ScenarioConfig,
    SimStep,
    UgsConfig,
)


@pytest.fixture(scope="module")
def sensed() -> tuple[Scenario, list[SimStep]]:
    config = ScenarioConfig(
        seed=21,
        walkers=80,
        vehicles=30,
        boats=15,
        vessels=25,
        patrols=8,
        ugs=UgsConfig(count=40, range_m=80.0, false_alarms_per_scan=0.01),
    )
    scenario = Scenario.from_config(config)
    return scenario, list(scenario.run(1800.0, 3.0))


def _local(scenario: Scenario, lon: float | None, lat: float | None) -> tuple[float, float]:
    assert lon is not None and lat is not None
    x, y = scenario.region.from_lonlat(np.array([lon]), np.array([lat]))
    return float(x[0]), float(y[0])


def test_detections_come_only_from_inside_coverage(sensed: tuple[Scenario, list[SimStep]]) -> None:
    scenario, steps = sensed
    region = scenario.region
    sites = {s.id: s for s in scenario.sensors}
    covers = {}
    site_xy = {}
    for sid, site in sites.items():
        if site.kind in (SensorKind.RADAR, SensorKind.CAMERA, SensorKind.UGS):
            covers[sid] = scenario.coverage(sid, local=True).buffer(1.0)
            shapely.prepare(covers[sid])
            site_xy[sid] = _local(scenario, site.lon, site.lat)
    counts = {SensorKind.RADAR: [0, 0], SensorKind.CAMERA: [0, 0], SensorKind.UGS: [0, 0]}
    for step in steps:
        sensed_obs = [o for o in step.observations if o.sensor in counts]
        if not sensed_obs:
            continue
        truth = {t.truth_id: t for t in step.truth}
        rx, ry = region.from_lonlat(
            np.array([o.lon for o in sensed_obs]), np.array([o.lat for o in sensed_obs])
        )
        ids = [step.detections[o.id] for o in sensed_obs]
        tlon = np.array([truth[i].lon if i else o.lon for i, o in zip(ids, sensed_obs, strict=True)])
        tlat = np.array([truth[i].lat if i else o.lat for i, o in zip(ids, sensed_obs, strict=True)])
        tx, ty = region.from_lonlat(tlon, tlat)
        for k, obs in enumerate(sensed_obs):
            cover = covers[obs.source]
            if ids[k] is None:
                counts[obs.sensor][1] += 1
                # False alarms fall inside the coverage itself (a ground sensor reports its own spot).
                assert shapely.contains_xy(cover, rx[k], ry[k])
                continue
            counts[obs.sensor][0] += 1
            assert shapely.contains_xy(cover, tx[k], ty[k]), f"{obs.source} saw {ids[k]} outside coverage"
            sx, sy = site_xy[obs.source]
            assert math.hypot(tx[k] - sx, ty[k] - sy) <= (sites[obs.source].range_m or 0.0) + 1.0
            if obs.sensor is SensorKind.UGS:
                assert (rx[k], ry[k]) == pytest.approx((sx, sy), abs=0.5)
                assert obs.position_sigma_m == sites[obs.source].range_m
            else:
                assert math.hypot(rx[k] - tx[k], ry[k] - ty[k]) <= 6 * obs.position_sigma_m
    for kind, (real, clutter) in counts.items():
        assert real > 0, kind
        assert clutter > 0, kind


def test_radar_sees_only_the_sea_and_cameras_only_land(sensed: tuple[Scenario, list[SimStep]]) -> None:
    scenario, steps = sensed
    region = scenario.region
    for step in steps[::5]:
        for obs in step.observations:
            x, y = _local(scenario, obs.lon, obs.lat)
            truth_id = step.detections[obs.id]
            if truth_id is None:
                continue
            state = next(t for t in step.truth if t.truth_id == truth_id)
            tx, ty = _local(scenario, state.lon, state.lat)
            at_sea = bool(region.at_sea(np.array([tx]), np.array([ty]))[0])
            if obs.sensor is SensorKind.RADAR:
                assert at_sea
            elif obs.sensor in (SensorKind.CAMERA, SensorKind.UGS):
                assert not at_sea


def _residuals(kind: SensorKind, config: ScenarioConfig, duration_s: float) -> np.ndarray:
    scenario = Scenario.from_config(config)
    out = []
    for step in scenario.run(duration_s, 3.0):
        truth = {t.truth_id: t for t in step.truth}
        for obs in step.observations:
            truth_id = step.detections.get(obs.id)
            if obs.sensor is kind and truth_id is not None:
                rx, ry = _local(scenario, obs.lon, obs.lat)
                tx, ty = _local(scenario, truth[truth_id].lon, truth[truth_id].lat)
                out.append((rx - tx, ry - ty))
    return np.asarray(out)


def test_radar_noise_matches_sigma() -> None:
    config = ScenarioConfig(
        seed=31,
        walkers=0,
        vehicles=0,
        boats=20,
        vessels=40,
        patrols=0,
        rendezvous_count=0,
        radar=RadarConfig(sigma_m=75.0, pd_near=1.0, pd_far=1.0, false_alarms_per_scan=0.0),
    )
    res = _residuals(SensorKind.RADAR, config, 600.0)
    assert len(res) > 3000
    std = res.std(axis=0, ddof=1)
    assert std == pytest.approx([75.0, 75.0], rel=0.08)
    # The error is unbiased: the mean is within four standard errors of zero.
    assert np.all(np.abs(res.mean(axis=0)) < 4 * 75.0 / math.sqrt(len(res)))


def test_camera_noise_matches_sigma() -> None:
    config = ScenarioConfig(
        seed=32,
        walkers=150,
        vehicles=40,
        boats=0,
        vessels=0,
        patrols=6,
        rendezvous_count=0,
        camera=CameraConfig(towers=12, sigma_m=12.0, pd=1.0, false_alarms_per_scan=0.0),
    )
    res = _residuals(SensorKind.CAMERA, config, 900.0)
    assert len(res) > 1000
    assert res.std(axis=0, ddof=1) == pytest.approx([12.0, 12.0], rel=0.1)


def test_radar_pd_falls_with_range() -> None:
    config = ScenarioConfig(
        seed=33,
        walkers=0,
        vehicles=0,
        boats=0,
        vessels=60,
        patrols=0,
        rendezvous_count=0,
        radar=RadarConfig(sites=1, pd_near=0.95, pd_far=0.2, false_alarms_per_scan=0.0, scan_period_s=3.0),
    )
    scenario = Scenario.from_config(config)
    site = next(s for s in scenario.sensors if s.kind is SensorKind.RADAR)
    site_xy = _local(scenario, site.lon, site.lat)
    assert site.range_m is not None
    range_m = site.range_m
    near = [0, 0]
    far = [0, 0]
    for step in scenario.run(900.0, 3.0):
        seen = {step.detections[o.id] for o in step.observations if o.sensor is SensorKind.RADAR}
        for state in step.truth:
            r = math.dist(site_xy, _local(scenario, state.lon, state.lat))
            bucket = near if r < 0.3 * range_m else far if 0.8 * range_m < r < range_m else None
            if bucket is not None:
                bucket[0] += 1
                bucket[1] += state.truth_id in seen
    assert near[0] > 100 and far[0] > 100
    assert near[1] / near[0] > 0.85
    assert far[1] / far[0] < 0.5


def test_observations_carry_marking_exercise_and_identity() -> None:
    config = ScenarioConfig(
        seed=3,
        exercise=False,
        markings={"CG": MarkingSpec(classification="UNCLASSIFIED", tlp=Tlp.GREEN, rel_to=frozenset({"BP"}))},
    )
    scenario = Scenario.from_config(config)
    seen = set()
    for step in scenario.run(120.0, 2.0):
        for obs in step.observations:
            seen.add(obs.sensor)
            assert obs.exercise is False
            if obs.agency == "CG":
                assert obs.marking == Marking(
                    classification="UNCLASSIFIED", originator="CG", rel_to=frozenset({"BP"}), tlp=Tlp.GREEN
                )
            else:
                assert obs.marking == Marking.default_for(obs.agency)
            if obs.sensor is SensorKind.AIS:
                assert obs.identity is not None and obs.identity.startswith("mmsi:")
                assert obs.course_deg is not None and obs.speed_mps is not None
                assert obs.target is TargetKind.VESSEL
            elif obs.sensor is SensorKind.TAK:
                assert obs.identity is not None and obs.identity.startswith("tak:")
                assert obs.callsign and obs.target is TargetKind.UNIT
                assert obs.source in ("tak:BP", "tak:CG")
            else:
                assert obs.identity is None and obs.course_deg is None
    assert {SensorKind.AIS, SensorKind.TAK, SensorKind.RADAR, SensorKind.CAMERA} <= seen


def test_exercise_flag_is_on_by_default() -> None:
    step = Scenario.from_config(ScenarioConfig(seed=3)).step(5.0)
    assert step.observations
    assert all(obs.exercise for obs in step.observations)


def test_ais_and_tak_report_at_their_intervals() -> None:
    config = ScenarioConfig(
        seed=12,
        walkers=0,
        vehicles=0,
        boats=0,
        vessels=5,
        patrols=3,
        rendezvous_count=0,
        dark_probability=0.0,
    )
    scenario = Scenario.from_config(config)
    times: dict[str, list[float]] = {}
    for step in scenario.run(600.0, 1.0):
        for obs in step.observations:
            if obs.identity is not None:
                times.setdefault(obs.identity, []).append((obs.observed_at - scenario.start).total_seconds())
    tak = [np.diff(v) for k, v in times.items() if k.startswith("tak:")]
    ais = [np.diff(v) for k, v in times.items() if k.startswith("mmsi:")]
    assert len(tak) == 3 and len(ais) == 5
    assert all(np.all(d == 5.0) for d in tak)
    # Moving class A vessels report about every 10 s (jittered by up to 10 %, rounded up to the step).
    assert all(np.median(d) in (10.0, 11.0) and d.max() <= 12.0 for d in ais)


def test_sensor_outage_silences_that_sensor_only() -> None:
    scenario = Scenario.from_config(ScenarioConfig(seed=14))
    start = scenario.now + timedelta(seconds=60)
    end = start + timedelta(seconds=300)
    scenario.inject_sensor_outage("radar:CG-R1", start, end)
    scenario.inject_sensor_outage("tak:BP", start, end)
    during = {"radar:CG-R1": 0, "tak:BP": 0, "radar:CG-R2": 0}
    outside = dict(during)
    events = []
    for step in scenario.run(600.0, 2.0):
        events += [e for e in step.truth_events if "sensor_id" in e.attributes]
        bucket = during if start <= step.time < end else outside
        for obs in step.observations:
            if obs.source in bucket:
                bucket[obs.source] += 1
    assert during["radar:CG-R1"] == 0 and during["tak:BP"] == 0
    assert during["radar:CG-R2"] > 0
    assert outside["radar:CG-R1"] > 0 and outside["tak:BP"] > 0
    assert sorted((e.kind.value, e.attributes["sensor_id"]) for e in events) == [
        ("sensor-outage-ended", "radar:CG-R1"),
        ("sensor-outage-ended", "tak:BP"),
        ("sensor-outage-started", "radar:CG-R1"),
        ("sensor-outage-started", "tak:BP"),
    ]


def test_sensors_geojson_lists_every_site(sensed: tuple[Scenario, list[SimStep]]) -> None:
    scenario, _ = sensed
    doc = scenario.sensors_geojson()
    ids = {f["properties"]["id"] for f in doc["features"]}
    for site in scenario.sensors:
        if site.kind is SensorKind.TAK:
            # A TAK feed has no place of its own: its patrols report wherever they are.
            assert site.lat is None and site.id not in ids
        else:
            assert site.id in ids and f"{site.id}/coverage" in ids
    assert {f["geometry"]["type"] for f in doc["features"]} == {"Point", "Polygon"}
