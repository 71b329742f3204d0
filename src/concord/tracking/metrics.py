"""GOSPA, the generalised optimal sub-pattern assignment metric (Rahmathullah, Garcia-Fernandez,
Svensson, 2017), for scoring a set of track positions against the true positions.

With cut-off ``c`` (m), order ``p`` and ``alpha = 2``::

    GOSPA = ( min over assignments  sum_assigned min(d, c)^p  +  c^p / 2 * (#missed + #false) )^(1/p)

A pair further apart than ``c`` costs exactly what leaving both unassigned costs (``c^p / 2`` twice),
so one optimal assignment of the ``min(d, c)^p`` matrix (found with
:func:`scipy.optimize.linear_sum_assignment`) gives the minimum; the unmatched remainder of the larger
set adds ``c^p / 2`` each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment

from concord.domain.errors import InvalidInput

__all__ = ["GospaResult", "gospa"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GospaResult:
    """GOSPA and its parts: ``localisation_m`` is the ``(sum of min(d, c)^p over matched pairs)^(1/p)``
    share; ``missed`` and ``false`` count truths and tracks left unmatched (or matched beyond ``c``)."""

    gospa_m: float
    localisation_m: float
    missed: int
    false: int


def gospa(truth_m: ArrayLike, tracks_m: ArrayLike, *, c_m: float = 100.0, p: float = 1.0) -> GospaResult:
    """GOSPA (alpha = 2) between true positions ``(n, d)`` and estimated positions ``(m, d)``."""
    if not (math.isfinite(c_m) and c_m > 0):
        raise InvalidInput("c_m must be a positive number", details={"field": "c_m"})
    if not (math.isfinite(p) and p >= 1):
        raise InvalidInput("p must be a number >= 1", details={"field": "p"})
    x = np.asarray(truth_m, dtype=np.float64)
    y = np.asarray(tracks_m, dtype=np.float64)
    x = x.reshape(0, y.shape[1] if y.ndim == 2 else 2) if x.size == 0 else x
    y = y.reshape(0, x.shape[1]) if y.size == 0 else y
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise InvalidInput("positions must be (n, d) and (m, d) arrays", details={"field": "shape"})
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InvalidInput("positions must be finite", details={"field": "positions"})
    n, m = x.shape[0], y.shape[0]
    half = c_m**p / 2.0
    if n == 0 or m == 0:
        total = half * (n + m)
        return GospaResult(gospa_m=total ** (1.0 / p), localisation_m=0.0, missed=n, false=m)
    dist = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2))
    cost = np.minimum(dist, c_m) ** p
    rows, cols = linear_sum_assignment(cost)
    matched = dist[rows, cols] < c_m
    local = float(cost[rows, cols][matched].sum())
    pairs = int(matched.sum())
    missed, false = n - pairs, m - pairs
    total = local + half * (missed + false)
    return GospaResult(
        gospa_m=total ** (1.0 / p), localisation_m=local ** (1.0 / p), missed=missed, false=false
    )
