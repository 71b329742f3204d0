"""GOSPA against hand-computed cases (c = 100 m, p = 1, alpha = 2 unless said)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from concord.domain.errors import InvalidInput
from concord.tracking import gospa


def test_identical_sets_score_zero() -> None:
    pts = np.array([[0.0, 0.0], [500.0, 500.0]])
    result = gospa(pts, pts)
    assert result.gospa_m == 0.0
    assert (result.missed, result.false) == (0, 0)


def test_both_empty() -> None:
    assert gospa(np.empty((0, 2)), np.empty((0, 2))).gospa_m == 0.0


def test_only_missed_targets_cost_half_c_each() -> None:
    result = gospa(np.array([[0.0, 0.0], [1000.0, 0.0]]), np.empty((0, 2)))
    assert result.gospa_m == 100.0  # 2 * 100 / 2
    assert (result.missed, result.false) == (2, 0)


def test_only_false_tracks() -> None:
    result = gospa(np.empty((0, 2)), np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    assert result.gospa_m == 150.0
    assert result.false == 3


def test_localisation_plus_missed() -> None:
    # Truth at (0,0) and (1000,0); one track 3-4-5 away from the first: 5 + 100/2 for the missed one.
    result = gospa(np.array([[0.0, 0.0], [1000.0, 0.0]]), np.array([[3.0, 4.0]]))
    assert result.gospa_m == pytest.approx(55.0)
    assert result.localisation_m == pytest.approx(5.0)
    assert (result.missed, result.false) == (1, 0)


def test_pair_beyond_cutoff_counts_as_missed_and_false() -> None:
    result = gospa(np.array([[0.0, 0.0]]), np.array([[150.0, 0.0]]))
    assert result.gospa_m == pytest.approx(100.0)
    assert (result.missed, result.false) == (1, 1)


def test_assignment_is_optimal_not_greedy() -> None:
    truth = np.array([[0.0, 0.0], [10.0, 0.0]])
    tracks = np.array([[5.0, 0.0], [-5.0, 0.0]])
    # Optimal: (0,0)-(-5,0) = 5 and (10,0)-(5,0) = 5 -> 10; greedy-ish crossing gives 5 + 15 = 20.
    assert gospa(truth, tracks).gospa_m == pytest.approx(10.0)


def test_order_two() -> None:
    result = gospa(np.array([[0.0, 0.0], [1000.0, 0.0]]), np.array([[3.0, 4.0]]), c_m=100.0, p=2.0)
    # (5^2 + 100^2 / 2) ^ (1/2)
    assert result.gospa_m == pytest.approx(math.sqrt(25.0 + 5000.0))


@pytest.mark.parametrize(
    ("truth", "tracks", "kwargs"),
    [
        ([[np.nan, 0.0]], [[0.0, 0.0]], {}),
        ([[0.0, 0.0]], [[np.inf, 0.0]], {}),
        ([[0.0, 0.0]], [[0.0, 0.0, 0.0]], {}),
        ([[0.0, 0.0]], [[0.0, 0.0]], {"c_m": -1.0}),
        ([[0.0, 0.0]], [[0.0, 0.0]], {"p": 0.5}),
    ],
)
def test_bad_inputs_are_refused(
    truth: list[list[float]], tracks: list[list[float]], kwargs: dict[str, float]
) -> None:
    with pytest.raises(InvalidInput):
        gospa(np.array(truth), np.array(tracks), **kwargs)
