"""Offline helpers: scan grouping and the sensor-derived track management rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from concord.domain.errors import InvalidInput
from concord.tracking import Detection, Tracker, TrackerConfig, config_for_sensor, group_scans, track_scans


def test_scans_are_runs_of_equal_time_in_arrival_order() -> None:
    dets = [Detection(0.0, 1, 1), Detection(0.0, 2, 2), Detection(5.0, 3, 3), Detection(0.0, 4, 4)]
    scans = group_scans(dets)
    assert [(s.time_s, len(s.t_s)) for s in scans] == [(0.0, 2), (5.0, 1), (0.0, 1)]


def test_scan_interval_groups_by_interval_and_keeps_each_time() -> None:
    dets = [Detection(0.5, 1, 1), Detection(4.9, 2, 2), Detection(5.0, 3, 3), Detection(9.0, 4, 4)]
    scans = group_scans(dets, scan_interval_s=5.0)
    assert [s.time_s for s in scans] == [4.9, 9.0]
    np.testing.assert_array_equal(scans[0].t_s, [0.5, 4.9])


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_scan_interval_must_be_positive(bad: float) -> None:
    with pytest.raises(InvalidInput):
        group_scans([Detection(0.0, 1, 1)], scan_interval_s=bad)


def test_pd_sets_deletion_and_caps_m() -> None:
    base = TrackerConfig()
    assert config_for_sensor(base, pd=0.9).delete_after_misses == 3  # 0.1^3 = 1e-3
    assert config_for_sensor(base, pd=0.5).delete_after_misses == 10
    assert config_for_sensor(base, pd=0.01).delete_after_misses == 20
    assert config_for_sensor(base, pd=0.5).confirm_hits == 2  # floor(0.5 * 5)
    with pytest.raises(InvalidInput):
        config_for_sensor(base, pd=0.0)


def test_clutter_raises_m() -> None:
    base = TrackerConfig(initial_speed_sigma_mps=10.0, confirm_hits=2)

    def m_for(clutter_per_scan: float) -> int:
        config = config_for_sensor(
            base, clutter_per_scan=clutter_per_scan, scan_interval_s=5.0, surveillance_area_m2=4e8
        )
        return config.confirm_hits

    # Gate area of a new track one scan later: pi * 16 * (2 * 10^2 + (10 * 5)^2) = 135,717 m^2, so
    # q = clutter / 4e8 * 135,717. Binomial tails over N - 1 = 4 chances must stay below 1e-4.
    assert m_for(0.0) == 2  # no clutter: the configured M stands
    assert m_for(2.0) == 3  # q = 6.8e-4: P(>= 1) = 2.7e-3, P(>= 2) = 2.8e-6
    assert m_for(20.0) == 4  # q = 6.8e-3: P(>= 2) = 2.7e-4, P(>= 3) = 1.2e-6
    assert m_for(20_000.0) == 5  # hopeless clutter: the strictest rule


def test_late_scan_in_a_file_is_fused() -> None:
    rng = np.random.default_rng(2)
    scans = group_scans(
        [
            Detection(t, 10.0 * t + float(rng.normal(0, 3)), float(rng.normal(0, 3)))
            for t in (0.0, 1.0, 2.0, 4.0, 3.0, 5.0)
        ]
    )
    tracker = Tracker.from_config(TrackerConfig(meas_sigma_m=3.0, process_noise_m2ps3=0.01))
    out = list(track_scans(scans, tracker))
    assert tracker.dropped_late == 0
    assert len(tracker) == 1
    assert out[-1][0]["x"] == pytest.approx(50.0, abs=6.0)
