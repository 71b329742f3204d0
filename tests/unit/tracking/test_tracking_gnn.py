"""Global nearest neighbour: gating, optimality and one-to-one pairs."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from concord.tracking import GlobalNearestNeighbour


def _pairs(rows: np.ndarray, cols: np.ndarray) -> list[tuple[int, int]]:
    return sorted(zip(rows.tolist(), cols.tolist(), strict=True))


def test_empty_inputs() -> None:
    gnn = GlobalNearestNeighbour(3.0)
    for shape in ((0, 0), (0, 4), (4, 0)):
        rows, cols = gnn.associate(np.zeros(shape))
        assert rows.size == cols.size == 0


def test_pairs_outside_the_gate_are_never_made() -> None:
    rows, cols = GlobalNearestNeighbour(3.0).associate(np.array([[9.5, 50.0], [100.0, 8.9]]))
    assert _pairs(rows, cols) == [(1, 1)]


def test_global_not_greedy() -> None:
    # Greedy would take (0, 0) at 1 and leave track 1 with 8; the optimum is 2 + 2.
    d2 = np.array([[1.0, 2.0], [2.0, 8.0]])
    rows, cols = GlobalNearestNeighbour(3.0).associate(d2)
    assert _pairs(rows, cols) == [(0, 1), (1, 0)]


def test_nan_costs_are_never_assigned() -> None:
    rows, cols = GlobalNearestNeighbour(3.0).associate(np.array([[np.nan, 1.0], [np.nan, np.nan]]))
    assert _pairs(rows, cols) == [(0, 1)]


def _brute_force(d2: np.ndarray, gate_d2: float) -> float:
    """Minimum total cost where each track either takes a gated detection or misses at gate_d2."""
    n, m = d2.shape
    best = float("inf")
    options = list(range(-1, m))
    for choice in itertools.product(options, repeat=n):
        used = [c for c in choice if c >= 0]
        if len(used) != len(set(used)):
            continue
        if any(c >= 0 and not d2[i, c] <= gate_d2 for i, c in enumerate(choice)):
            continue
        best = min(best, sum(gate_d2 if c < 0 else d2[i, c] for i, c in enumerate(choice)))
    return best


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 4)), elements=st.floats(0.0, 20.0)))
def test_optimal_gated_and_one_to_one(d2: np.ndarray) -> None:
    gate = 3.0
    rows, cols = GlobalNearestNeighbour(gate).associate(d2)
    assert len(set(rows.tolist())) == rows.size
    assert len(set(cols.tolist())) == cols.size
    assert (d2[rows, cols] <= gate * gate).all()
    missed = d2.shape[0] - rows.size
    total = float(d2[rows, cols].sum()) + missed * gate * gate
    assert np.isclose(total, _brute_force(d2, gate * gate))
