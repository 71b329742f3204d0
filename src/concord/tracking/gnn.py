"""Global nearest neighbour association: one optimal 2-D assignment over the gated cost matrix.

The cost of pairing track ``i`` with detection ``j`` is the squared Mahalanobis distance ``d2[i, j]``;
pairs beyond the gate cannot be paired; a track may also stay unassigned ("missed") at a cost equal to
the gate, so a far-fetched pairing never beats a miss. The problem is solved with
:func:`scipy.optimize.linear_sum_assignment` on the matrix ``[d2 | miss]`` where ``miss`` is diagonal,
restricted to the rows and columns that have at least one pair inside the gate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from concord.tracking.base import FloatArray

__all__ = ["GlobalNearestNeighbour"]

# Cost of a forbidden pair: finite (the solver prefers finite matrices), far above any gated cost.
_FORBIDDEN = 1.0e12


@dataclass(frozen=True, slots=True)
class GlobalNearestNeighbour:
    """GNN with a chi-square gate on the squared Mahalanobis distance.

    ``gate_mahalanobis`` is the gate as a Mahalanobis distance (dimensionless, "sigmas"); pairs with
    ``d2 > gate_mahalanobis ** 2`` are never assigned. 4.0 keeps a true 2-D detection with probability
    about 0.9997.
    """

    gate_mahalanobis: float

    def associate(self, d2: FloatArray) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        empty = np.empty(0, dtype=np.intp)
        if d2.size == 0:
            return empty, empty
        gate_d2 = self.gate_mahalanobis * self.gate_mahalanobis
        # NaN compares False, so a NaN cost is never inside the gate.
        pair_rows, pair_cols = np.nonzero(d2 <= gate_d2)
        if pair_rows.size == 0:
            return empty, empty
        row_count = np.bincount(pair_rows, minlength=d2.shape[0])
        col_count = np.bincount(pair_cols, minlength=d2.shape[1])
        # A pair alone in both its row and its column (and inside the gate, so cheaper than a miss)
        # is in every optimal assignment: take those directly, solve the rest.
        alone = (row_count[pair_rows] == 1) & (col_count[pair_cols] == 1)
        out_rows = [pair_rows[alone]]
        out_cols = [pair_cols[alone]]
        pair_rows, pair_cols = pair_rows[~alone], pair_cols[~alone]
        if pair_rows.size:
            rows, row_pos = np.unique(pair_rows, return_inverse=True)
            cols, col_pos = np.unique(pair_cols, return_inverse=True)
            k = rows.size
            cost = np.full((k, cols.size + k), _FORBIDDEN)
            cost[row_pos, col_pos] = d2[pair_rows, pair_cols]
            cost[np.arange(k), cols.size + np.arange(k)] = gate_d2
            r, c = linear_sum_assignment(cost)
            chosen = c < cols.size
            r, c = r[chosen], c[chosen]
            # A forbidden pair is only chosen if nothing feasible was left (never, with miss columns).
            ok = cost[r, c] <= gate_d2
            out_rows.append(rows[r[ok]])
            out_cols.append(cols[c[ok]])
        return (
            np.concatenate(out_rows).astype(np.intp),
            np.concatenate(out_cols).astype(np.intp),
        )
