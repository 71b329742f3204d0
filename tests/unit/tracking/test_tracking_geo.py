"""The geographic face: identity binding, cross-sensor fusion, markings, late reports, hostile input."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from concord.domain.errors import InvalidInput
from concord.domain.marking import Marking, Tlp
from concord.domain.observation import Observation, SensorKind, TargetKind
from concord.domain.track import Track, TrackStatus
from concord.tracking import FusionResult, GeoConfig, GeoTracker, Region, TrackerConfig

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REGION = Region(name="baltic", origin_lat=54.5, origin_lon=11.0, radius_m=150_000.0)
AIS_MARK = Marking(
    classification="UNCLASSIFIED", originator="BP", rel_to=frozenset({"CG", "CUS"}), tlp=Tlp.GREEN
)
RADAR_MARK = Marking(
    classification="RESTRICTED",
    originator="CG",
    rel_to=frozenset({"BP", "CUS"}),
    tlp=Tlp.AMBER,
    categories=frozenset({"INTEL-SOURCE"}),
)


def _tracker(coast_after_s: float = 30.0) -> GeoTracker:
    metric = TrackerConfig(meas_sigma_m=20.0, process_noise_m2ps3=0.05)
    return GeoTracker(REGION, GeoConfig(tracker=metric, coast_after_s=coast_after_s))


def _moved(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    return (
        lat + north_m / 111_320.0,
        lon + east_m / (111_320.0 * math.cos(math.radians(lat))),
    )


def _ais(
    seconds: float, east_m: float, north_m: float, mmsi: str = "211000001", **extra: object
) -> Observation:
    lat, lon = _moved(54.5, 11.0, east_m, north_m)
    params: dict[str, Any] = {
        "id": f"ais-{mmsi}-{seconds}",
        "source": "ais:CG-coastal",
        "agency": "BP",
        "sensor": SensorKind.AIS,
        "observed_at": T0 + timedelta(seconds=seconds),
        "lat": lat,
        "lon": lon,
        "marking": AIS_MARK,
        "position_sigma_m": 10.0,
        "identity": f"mmsi:{mmsi}",
        "callsign": "NORDWIND",
        "target": TargetKind.VESSEL,
    }
    params.update(extra)
    return Observation(**params)


def _radar(seconds: float, east_m: float, north_m: float, **extra: object) -> Observation:
    lat, lon = _moved(54.5, 11.0, east_m, north_m)
    params: dict[str, Any] = {
        "id": f"radar-{seconds}-{east_m}",
        "source": "radar:CG-R1",
        "agency": "CG",
        "sensor": SensorKind.RADAR,
        "observed_at": T0 + timedelta(seconds=seconds),
        "lat": lat,
        "lon": lon,
        "marking": RADAR_MARK,
        "position_sigma_m": 30.0,
    }
    params.update(extra)
    return Observation(**params)


def _live(result: FusionResult) -> list[Track]:
    return [t for t in result.tracks if t.status is not TrackStatus.DELETED]


def test_identified_reports_make_one_confirmed_track() -> None:
    tracker = _tracker()
    result = tracker.process([_ais(10.0 * k, 5.0 * 10 * k, 0.0) for k in range(6)])
    (track,) = result.tracks
    assert track.status is TrackStatus.CONFIRMED
    assert track.identity == "mmsi:211000001"
    assert track.callsign == "NORDWIND"
    assert track.target is TargetKind.VESSEL
    assert track.updated_at == T0 + timedelta(seconds=50)
    assert track.vel_east_mps == pytest.approx(5.0, abs=1.0)
    assert abs(track.vel_north_mps) < 1.0


def test_same_mmsi_far_apart_after_a_gap_is_the_same_track() -> None:
    tracker = _tracker()
    first = tracker.process([_ais(0.0, 0.0, 0.0)]).tracks[0]
    # A gap long enough for the track to be deleted for silence (other traffic moves time on).
    other = tracker.process([_ais(1000.0, 40_000.0, 40_000.0, mmsi="999000001")])
    assert any(t.id == first.id and t.status is TrackStatus.DELETED for t in other.tracks)
    again = _live(tracker.process([_ais(1100.0, 50_000.0, -30_000.0)]))
    assert [t.id for t in again] == [first.id]
    assert again[0].identity == "mmsi:211000001"
    # And within the silence limit, a far jump still lands on the same track.
    later = _live(tracker.process([_ais(1200.0, 60_000.0, -30_000.0)]))
    assert [t.id for t in later] == [first.id]


def test_anonymous_radar_plot_near_identified_vessel_fuses_with_it() -> None:
    tracker = _tracker()
    ais_track = tracker.process([_ais(10.0 * k, 50.0 * k, 0.0) for k in range(4)]).tracks[0]
    result = tracker.process([_radar(35.0, 175.0 + 15.0, -10.0)])
    (track,) = _live(result)
    assert track.id == ais_track.id
    assert len(tracker) == 1
    assert track.sources == {"ais:CG-coastal", "radar:CG-R1"}
    assert track.agencies == {"BP", "CG"}
    # The combined marking of every contributing report.
    assert track.marking == AIS_MARK.combine(RADAR_MARK)
    assert track.marking.classification == "RESTRICTED"
    assert track.marking.tlp is Tlp.AMBER
    assert track.marking.rel_to == {"BP", "CG", "CUS"} & (RADAR_MARK.rel_to | {"CG"})
    assert "INTEL-SOURCE" in track.marking.categories


def test_first_identified_report_adopts_the_radar_track() -> None:
    tracker = _tracker()
    for k in range(4):
        radar_tracks = _live(tracker.process([_radar(5.0 * k, 20.0 * k, 1000.0)]))
    assert radar_tracks[0].status is TrackStatus.CONFIRMED
    adopted = _live(tracker.process([_ais(20.0, 80.0, 1000.0)]))
    assert [t.id for t in adopted] == [radar_tracks[0].id]
    assert adopted[0].identity == "mmsi:211000001"
    assert tracker.identity_track("mmsi:211000001") == radar_tracks[0].id


def test_two_identities_side_by_side_stay_two_tracks() -> None:
    tracker = _tracker()
    result = tracker.process(
        [_ais(10.0 * k, 50.0 * k, 0.0, mmsi="1") for k in range(3)]
        + [_ais(10.0 * k, 50.0 * k, 15.0, mmsi="2") for k in range(3)]
    )
    assert sorted(t.identity or "" for t in result.tracks) == ["mmsi:1", "mmsi:2"]


def test_late_identified_report_equals_in_order_processing() -> None:
    reports = [_ais(10.0 * k, 48.0 * k + (7.0 if k % 2 else -6.0), 3.0 * k) for k in range(8)]
    in_order = _tracker()
    for r in reports:
        in_order.process([r])
    shuffled = _tracker()
    for r in reports[:5] + reports[6:] + [reports[5]]:
        shuffled.process([r])
    a_state = in_order.core.states()
    b_state = shuffled.core.states()
    assert len(a_state) == len(b_state) == 1
    np.testing.assert_allclose(next(iter(a_state.values())), next(iter(b_state.values())), atol=1e-6)


def test_report_older_than_the_window_is_rejected() -> None:
    tracker = _tracker()
    tracker.process([_ais(100.0, 0.0, 0.0)])
    result = tracker.process([_ais(0.0, 0.0, 0.0, mmsi="5")])
    assert [r.reason for r in result.rejected] == ["too late (older than the window)"]


def test_tentative_radar_tracks_confirm_after_m_hits_and_die_when_silent() -> None:
    tracker = _tracker()
    statuses = [_live(tracker.process([_radar(5.0 * k, 10.0 * k, 0.0)]))[0].status for k in range(3)]
    assert statuses == [TrackStatus.TENTATIVE, TrackStatus.TENTATIVE, TrackStatus.CONFIRMED]
    lone = tracker.process([_radar(20.0, 30_000.0, 0.0)])
    assert [t.status for t in lone.tracks] == [TrackStatus.TENTATIVE]
    gone = tracker.process([_ais(200.0, -50_000.0, 0.0)])
    deleted = {t.id for t in gone.tracks if t.status is TrackStatus.DELETED}
    assert lone.tracks[0].id in deleted


def test_coasting_after_silence() -> None:
    tracker = _tracker(coast_after_s=20.0)
    track = tracker.process([_ais(0.0, 0.0, 0.0)]).tracks[0]
    result = tracker.process([_ais(25.0, 5000.0, 0.0, mmsi="7"), _ais(1.0, 1.0, 0.0)])
    by_id = {t.id: t for t in result.tracks}
    assert by_id[track.id].status is TrackStatus.COASTING


class _Fake:
    lat = 54.5
    lon = 11.0


def _sneaky(**changes: object) -> Observation:
    """An Observation whose fields were changed after its own validation ran."""
    obs = _ais(0.0, 0.0, 0.0)
    for name, value in changes.items():
        object.__setattr__(obs, name, value)
    return obs


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (None, "not an Observation"),
        ({"lat": 54.5, "lon": 11.0}, "not an Observation"),
        ("mmsi:1", "not an Observation"),
        (_Fake(), "not an Observation"),
        (_sneaky(lat=math.nan), "position is not a valid latitude/longitude"),
        (_sneaky(lon=math.inf), "position is not a valid latitude/longitude"),
        (_sneaky(lat="54.5"), "position is not a valid latitude/longitude"),
        (_sneaky(position_sigma_m=1e12), "position_sigma_m must be in (0, 50000] m"),
        (_sneaky(position_sigma_m=-1.0), "position_sigma_m must be in (0, 50000] m"),
        (_sneaky(identity="x" * 10_000), "identity must be a string of 1 to 128 characters"),
        (_sneaky(identity=""), "identity must be a string of 1 to 128 characters"),
        (_sneaky(identity=12345), "identity must be a string of 1 to 128 characters"),
        (_sneaky(observed_at=datetime(2026, 3, 1, 12)), "observed_at must be an aware datetime"),
        (_sneaky(source=["radar"]), "source, agency, target or callsign has the wrong type"),
        (_sneaky(agency={"CG": 1}), "source, agency, target or callsign has the wrong type"),
        (_sneaky(target="submarine"), "source, agency, target or callsign has the wrong type"),
        (_sneaky(callsign=b"\x00\xff"), "source, agency, target or callsign has the wrong type"),
        (
            _ais(0.0, 0.0, 0.0, observed_at=datetime(9999, 1, 1, tzinfo=UTC)),
            "observed_at is too far in the future",
        ),
        (
            _ais(0.0, 0.0, 0.0, marking=Marking(classification="TOP SECRET//SI", originator="X")),
            "marking has an unknown classification",
        ),
        (_ais(0.0, 0.0, 0.0, lat=10.0, lon=-40.0), "outside the region"),
        (_ais(0.0, 0.0, 0.0, lat=-54.5, lon=-169.0), "outside the region"),
    ],
)
def test_hostile_reports_are_rejected_with_a_reason(bad: object, reason: str) -> None:
    tracker = _tracker()
    good = _ais(0.0, 0.0, 0.0, mmsi="42")
    result = tracker.process([good, bad], now=T0 + timedelta(seconds=1))  # type: ignore[list-item]
    assert [(r.index, r.reason) for r in result.rejected] == [(1, reason)]
    assert [t.identity for t in result.tracks] == ["mmsi:42"]


@pytest.mark.parametrize("bad", ["not a list", b"bytes", 42, None])
def test_a_batch_that_is_not_a_sequence_is_refused(bad: object) -> None:
    with pytest.raises(InvalidInput):
        _tracker().process(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "", "origin_lat": 0.0, "origin_lon": 0.0},
        {"name": "r", "origin_lat": math.nan, "origin_lon": 0.0},
        {"name": "r", "origin_lat": 90.0, "origin_lon": 0.0},
        {"name": "r", "origin_lat": 0.0, "origin_lon": 181.0},
        {"name": "r", "origin_lat": 0.0, "origin_lon": 0.0, "radius_m": math.inf},
        {"name": "r", "origin_lat": 0.0, "origin_lon": 0.0, "radius_m": 0.0},
    ],
)
def test_region_refuses_bad_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        Region(**kwargs)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.floats(-90.0, 90.0),
            st.floats(-180.0, 180.0),
            st.floats(1e-9, 1e9),
            st.floats(-1e6, 1e6),
            st.one_of(st.none(), st.text(max_size=200)),
        ),
        max_size=20,
    )
)
def test_any_valid_observations_give_finite_tracks(
    reports: list[tuple[float, float, float, float, str | None]],
) -> None:
    tracker = _tracker()
    observations = [
        Observation(
            id=f"o{i}",
            source="radar:X",
            agency="CG",
            sensor=SensorKind.RADAR,
            observed_at=T0 + timedelta(seconds=dt),
            lat=lat,
            lon=lon,
            marking=RADAR_MARK,
            position_sigma_m=sigma,
            identity=identity,
        )
        for i, (lat, lon, sigma, dt, identity) in enumerate(reports)
    ]
    result = tracker.process(observations)
    assert len(result.tracks) + len(result.rejected) >= 0
    for track in result.tracks:
        assert math.isfinite(track.lat) and math.isfinite(track.lon)
        assert math.isfinite(track.vel_east_mps) and math.isfinite(track.position_sigma_m)
    assert len({r.index for r in result.rejected}) == len(result.rejected)


def test_a_full_tracker_rejects_what_it_cannot_hold() -> None:
    metric = TrackerConfig(meas_sigma_m=20.0, max_tracks=2)
    tracker = GeoTracker(REGION, GeoConfig(tracker=metric))
    result = tracker.process(
        [_ais(0.0, 0.0, 0.0, mmsi="1"), _ais(0.0, 9000.0, 0.0, mmsi="2"), _ais(0.0, 0.0, 9000.0, mmsi="3")]
        + [_radar(0.0, -9000.0, 0.0)]
    )
    assert len(tracker) == 2
    assert sorted(r.index for r in result.rejected) == [2, 3]
    assert {r.reason for r in result.rejected} == {"not fused: too late or the tracker is full"}


def test_velocity_is_true_east_north_far_from_the_origin() -> None:
    # 120 km east of the origin the frame's axes are turned by about 1.5 degrees against north
    # (a frame velocity would show 0.2 m/s east).
    tracker = _tracker()
    lat0, lon0 = _moved(54.5, 11.0, 120_000.0, 0.0)
    speed_mps = 8.0
    reports = [
        _ais(10.0 * k, 0.0, 0.0, lat=lat0 + speed_mps * 10.0 * k / 111_250.0, lon=lon0) for k in range(12)
    ]
    (track,) = tracker.process(reports).tracks
    assert abs(track.vel_east_mps) < 0.01 * speed_mps
    assert track.vel_north_mps == pytest.approx(speed_mps, rel=0.02)


def test_exercise_reports_are_tracked_apart() -> None:
    tracker = _tracker()
    real = tracker.process([_ais(10.0 * k, 50.0 * k, 0.0) for k in range(3)]).tracks[0]
    drill = [_radar(25.0, 125.0, 0.0, exercise=True), _ais(25.0, 130.0, 5.0, mmsi="211000001", exercise=True)]
    result = tracker.process([None, *drill, _radar(26.0, 130.0, 0.0)])  # type: ignore[list-item]
    by_id = {t.id: t for t in result.tracks}
    # The real radar plot fused with the real vessel; the drill's reports made drill tracks only.
    assert by_id[real.id].sources == {"ais:CG-coastal", "radar:CG-R1"}
    assert not by_id[real.id].exercise
    # The drill's own AIS report adopted the drill's radar track, as it would in earnest.
    (drill_track,) = [t for t in result.tracks if t.exercise]
    assert drill_track.id.startswith("baltic-x")
    assert drill_track.identity == "mmsi:211000001"
    assert drill_track.sources == {"ais:CG-coastal", "radar:CG-R1"}
    assert len(tracker) == 1
    assert len(tracker.exercise_tracker) == 1
    assert tracker.identity_track("mmsi:211000001") == real.id
    assert [(r.index, r.reason) for r in result.rejected] == [(0, "not an Observation")]


def test_an_empty_batch_is_fine() -> None:
    result = _tracker().process([])
    assert result.tracks == [] and result.rejected == []


def test_late_radar_plot_fuses_with_the_track_as_if_in_order() -> None:
    ais = [_ais(10.0 * k, 50.0 * k + (4.0 if k % 2 else -3.0), 0.0) for k in range(4)]
    plot = _radar(15.0, 78.0, 6.0)
    in_order = _tracker()
    for report in [ais[0], ais[1], plot, ais[2], ais[3]]:
        in_order.process([report])
    late = _tracker()
    for report in ais:
        late.process([report])
    (track,) = late.process([plot]).tracks
    assert track.sources == {"ais:CG-coastal", "radar:CG-R1"}
    assert len(late) == 1
    (a,) = in_order.core.states().values()
    (b,) = late.core.states().values()
    np.testing.assert_allclose(a, b, atol=1e-6)
