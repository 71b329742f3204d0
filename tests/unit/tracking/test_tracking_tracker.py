"""The metric tracker: invariants, accuracy, life cycle and out-of-sequence reports."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.domain.errors import InvalidInput
from concord.domain.track import TrackStatus
from concord.tracking import (
    ConstantVelocityPredictor,
    MOfNInitiator,
    PositionUpdater,
    SilenceDeleter,
    Tracker,
    TrackerConfig,
)

LIVE = (TrackStatus.CONFIRMED, TrackStatus.COASTING)


def _tracker(**overrides: float) -> Tracker:
    params: dict[str, Any] = {"meas_sigma_m": 10.0, "process_noise_m2ps3": 0.05, "oos_window_s": 60.0}
    params.update(overrides)
    return Tracker.from_config(TrackerConfig(**params))


def test_single_target_error_well_under_measurement_sigma() -> None:
    rng = np.random.default_rng(3)
    tracker = _tracker()
    errors = []
    for k in range(60):
        truth = np.array([100.0 + 8.0 * k, -50.0 + 3.0 * k])
        z = truth + rng.normal(0, 10.0, 2)
        updates = [u for u in tracker.step(float(k), z[None, :]) if u.status in LIVE]
        if k >= 20:
            assert len(updates) == 1
            errors.append([updates[0].x_m - truth[0], updates[0].y_m - truth[1]])
    rms_per_axis = float(np.sqrt(np.mean(np.square(errors))))
    assert rms_per_axis < 0.6 * 10.0


def test_two_crossing_targets_are_kept_apart() -> None:
    rng = np.random.default_rng(5)
    tracker = _tracker(meas_sigma_m=5.0)
    owner: dict[int, int] = {}
    for k in range(41):
        a = np.array([-200.0 + 10.0 * k, 0.0])  # eastbound, through the origin at k = 20
        b = np.array([0.0, -200.0 + 10.0 * k])  # northbound, same place, same time
        z = np.vstack((a, b)) + rng.normal(0, 5.0, (2, 2))
        updates = [u for u in tracker.step(float(k), z) if u.status in LIVE]
        if k >= 5:
            assert len(updates) == 2
            if abs(k - 20) <= 3:
                continue  # too close to tell whose is whose; ownership is checked either side
            for u in updates:
                dist = [math.hypot(u.x_m - p[0], u.y_m - p[1]) for p in (a, b)]
                target = int(np.argmin(dist))
                assert dist[target] < 30.0
                assert owner.setdefault(u.track_id, target) == target, "tracks swapped targets"
    assert len(owner) == 2


def test_unassociated_detections_start_tentative_tracks() -> None:
    tracker = _tracker()
    updates = tracker.step(0.0, np.array([[0.0, 0.0], [5000.0, 0.0]]))
    assert [u.status for u in updates] == [TrackStatus.TENTATIVE, TrackStatus.TENTATIVE]
    assert len({u.track_id for u in updates}) == 2


def test_confirmation_after_m_of_n_and_deletion_after_misses() -> None:
    tracker = _tracker(confirm_hits=3, confirm_window=5, delete_after_misses=3)
    z = np.array([[0.0, 0.0]])
    empty = np.empty((0, 2))
    statuses = []
    for k, scan in enumerate([z, z, z, empty, empty, empty]):
        statuses.append([u.status for u in tracker.step(float(k), scan)])
    assert statuses == [
        [TrackStatus.TENTATIVE],
        [TrackStatus.TENTATIVE],
        [TrackStatus.CONFIRMED],
        [TrackStatus.COASTING],
        [TrackStatus.COASTING],
        [TrackStatus.DELETED],
    ]
    assert len(tracker) == 0


def test_tentative_track_dies_once_m_of_n_is_out_of_reach() -> None:
    tracker = _tracker(confirm_hits=3, confirm_window=5)
    tracker.step(0.0, np.array([[0.0, 0.0]]))
    empty = np.empty((0, 2))
    assert [u.status for u in tracker.step(1.0, empty)] == [TrackStatus.TENTATIVE]
    assert [u.status for u in tracker.step(2.0, empty)] == [TrackStatus.TENTATIVE]
    # N - M + 1 = 3 misses in a row: no window of 5 can hold 3 hits any more.
    assert [u.status for u in tracker.step(3.0, empty)] == [TrackStatus.DELETED]


def _scenario(seed: int, scans: int = 12) -> list[tuple[float, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(scans):
        truth = np.array([[10.0 * k, 0.0], [0.0, 500.0 + 7.0 * k], [-800.0, -4.0 * k]])
        out.append((float(k), truth + rng.normal(0, 10.0, truth.shape)))
    return out


@pytest.mark.parametrize("late_index", [1, 5, 9])
def test_out_of_sequence_scan_equals_in_order_processing(late_index: int) -> None:
    scans = _scenario(11)
    in_order = _tracker()
    for t, z in scans:
        in_order.step(t, z)
    reordered = _tracker()
    late = scans[late_index]
    rest = [s for i, s in enumerate(scans) if i != late_index]
    for i, (t, z) in enumerate(rest):
        reordered.step(t, z)
        if i == late_index + 1:  # the late scan arrives two scans after its time
            reordered.step(*late)
    reordered.step(*late) if late_index + 1 >= len(rest) else None
    a, b = in_order.states(), reordered.states()
    assert len(a) == len(b) == 3
    for xa, xb in zip(sorted(a.values()), sorted(b.values()), strict=True):
        np.testing.assert_allclose(xa, xb, atol=1e-6)
    assert reordered.dropped_late == 0


def test_late_report_older_than_the_first_measurement_rebuilds_the_track() -> None:
    scans = _scenario(12, scans=6)
    in_order = _tracker()
    for t, z in scans:
        in_order.step(t, z)
    reordered = _tracker()
    for t, z in scans[1:]:
        reordered.step(t, z)
    reordered.step(*scans[0])
    for xa, xb in zip(sorted(in_order.states().values()), sorted(reordered.states().values()), strict=True):
        np.testing.assert_allclose(xa, xb, atol=1e-6)


def test_reports_older_than_the_window_are_dropped() -> None:
    tracker = _tracker(oos_window_s=5.0)
    tracker.step(0.0, np.array([[0.0, 0.0]]))
    tracker.step(10.0, np.array([[0.0, 0.0]]))
    before = tracker.states()
    tracker.step(2.0, np.array([[0.0, 0.0], [3000.0, 0.0]]))
    assert tracker.dropped_late == 2
    assert tracker.states() == before


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    steps=st.lists(st.integers(0, 6), min_size=1, max_size=12),
)
def test_invariants_under_random_scans(seed: int, steps: list[int]) -> None:
    rng = np.random.default_rng(seed)
    tracker = _tracker(oos_window_s=0.0)
    deleted: set[int] = set()
    last_time = -1.0
    for k, m in enumerate(steps):
        t = float(k) * 2.0
        z = rng.uniform(-300, 300, (m, 2))
        outcome = tracker.scan(t, z, r_m2=np.full(m, 100.0))
        # No detection used twice: updates and new tracks take disjoint, distinct detections.
        used = outcome.hit_detections.tolist() + outcome.new_detections.tolist()
        assert len(used) == len(set(used)) == m
        assert len(set(outcome.hit_ids.tolist())) == outcome.hit_ids.size
        # Unassociated detections start tentative tracks.
        for track_id in outcome.new_ids.tolist():
            assert tracker.status_of(track_id) is TrackStatus.TENTATIVE or tracker.has_track(track_id)
        # Deleted tracks are gone and stay gone.
        deleted |= set(outcome.deleted_ids.tolist())
        assert not deleted & set(tracker.track_ids.tolist())
        updates = tracker.updates_at(t, outcome.deleted_ids)
        assert all(u.time_s == t > last_time for u in updates)
        last_time = t


@pytest.mark.parametrize(
    "bad",
    [
        {"meas_sigma_m": 0.0},
        {"meas_sigma_m": math.nan},
        {"gate_mahalanobis": math.inf},
        {"process_noise_m2ps3": -1.0},
        {"confirm_hits": 6, "confirm_window": 5},
        {"confirm_window": 80},
        {"delete_after_misses": 0},
        {"oos_window_s": math.nan},
    ],
)
def test_config_refuses_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        TrackerConfig(**bad)


def test_scan_refuses_non_finite_detections() -> None:
    tracker = _tracker()
    with pytest.raises(InvalidInput):
        tracker.step(0.0, np.array([[np.nan, 0.0]]))
    with pytest.raises(InvalidInput):
        tracker.step(0.0, np.array([[0.0, 0.0]]), r_m2=np.array([-1.0]))


def test_sliced_association_matches_the_whole_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    import concord.tracking.tracker as tracker_module

    scans = _scenario(21, scans=8)
    whole = _tracker()
    for t, z in scans:
        whole.step(t, z)
    monkeypatch.setattr(tracker_module, "MAX_MATRIX_ENTRIES", 2)
    sliced = _tracker()
    for t, z in scans:
        sliced.step(t, z)
    assert whole.states() == sliced.states()


def test_track_count_is_capped() -> None:
    tracker = _tracker(max_tracks=3)
    outcome = tracker.scan(
        0.0, np.array([[0.0, 0.0], [1e4, 0.0], [2e4, 0.0], [3e4, 0.0], [4e4, 0.0]]), r_m2=np.array([100.0])
    )
    assert len(tracker) == 3
    assert tracker.dropped_capacity == 2
    assert outcome.dropped_detections.tolist() == [3, 4]


class _NeverAssociate:
    """An associator that pairs nothing: every detection must start a track."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def associate(self, d2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.shapes.append(d2.shape)
        empty = np.empty(0, dtype=np.intp)
        return empty, empty


def test_parts_are_injected() -> None:
    associator = _NeverAssociate()
    tracker = Tracker(
        ConstantVelocityPredictor(0.1),
        PositionUpdater(),
        associator,
        MOfNInitiator(2, 3, 5.0),
        SilenceDeleter(max_silent_s=10.0, tentative_max_silent_s=10.0),
        confirm_window=3,
    )
    tracker.step(0.0, np.array([[0.0, 0.0]]))
    tracker.step(1.0, np.array([[1.0, 0.0], [2.0, 0.0]]))
    assert len(tracker) == 3
    # No confirmed track yet: one matrix, the tentative track against both detections.
    assert associator.shapes == [(1, 2)]
    # Silence alone deletes with this deleter, misses do not.
    tracker.step(5.0, np.empty((0, 2)))
    assert len(tracker) == 3
    tracker.step(11.5, np.empty((0, 2)))
    assert len(tracker) == 0
