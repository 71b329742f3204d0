"""Contracts of the fusion tracker's parts: predictor, updater, associator, initiator, deleter.

The tracker is composed of injected parts (each a ``Protocol`` here, implemented in ``kalman.py``,
``gnn.py``, ``initiate.py`` and ``delete.py``) so each can be tested and replaced alone.

State model
-----------
Every track carries a nearly-constant-velocity Gaussian state in a local metric frame (east ``x``,
north ``y``, metres). Measurements are positions with an isotropic 1-sigma error ``sigma_m``, and the
process noise acts on each axis alone, so the 4x4 covariance stays block diagonal for ever: one 2x2
block ``[[Ppp, Ppv], [Ppv, Pvv]]`` per axis. :class:`AxisGaussian` stores exactly that, as arrays whose
last dimension is the axis (0 = east, 1 = north); leading dimensions are tracks (and, when gating, the
tracks x detections grid). Keeping the blocks apart makes every step closed-form arithmetic on arrays.

Units: positions m, velocities m/s, ``Ppp`` m^2, ``Ppv`` m^2/s, ``Pvv`` m^2/s^2, times s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AxisGaussian",
    "Associator",
    "Deleter",
    "FloatArray",
    "Initiator",
    "Predictor",
    "Updater",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class AxisGaussian:
    """Per-axis mean and covariance blocks of a batch of constant-velocity states.

    All five arrays share one shape ``(..., 2)``: ``pos_m`` and ``vel_mps`` are the means,
    ``ppp_m2``, ``ppv_m2ps`` and ``pvv_m2ps2`` the covariance block entries of each axis.
    """

    pos_m: FloatArray
    vel_mps: FloatArray
    ppp_m2: FloatArray
    ppv_m2ps: FloatArray
    pvv_m2ps2: FloatArray


class Predictor(Protocol):
    """Moves a state forward (or backward) in time with the motion model.

    Constant velocity, per axis, for a time step ``dt`` (s) and white-acceleration spectral density
    ``q`` (m^2/s^3)::

        F = [[1, dt], [0, 1]]
        Q = q * [[|dt|^3 / 3, |dt|^2 / 2], [|dt|^2 / 2, |dt|]]
        x' = F x,   P' = F P F^T + Q

    A negative ``dt`` retrodicts (used to gate a late report against a newer state); the noise uses
    ``|dt|`` so the uncertainty still grows.
    """

    def predict(self, state: AxisGaussian, dt_s: FloatArray) -> AxisGaussian:
        """Return the state predicted by ``dt_s`` seconds; ``dt_s`` broadcasts against ``state``'s
        leading dimensions with a trailing axis of 1 (shape ``(..., 1)``)."""
        ...


class Updater(Protocol):
    """Folds a position measurement into a predicted state (the Kalman update).

    Per axis, with ``H = [1, 0]`` and measurement variance ``r`` (m^2)::

        nu = z - p                 innovation (m)
        S  = Ppp + r               innovation variance (m^2)
        K  = [Ppp, Ppv] / S        gain
        x' = x + K nu,   P' = (I - K H) P
    """

    def innovation(
        self, predicted: AxisGaussian, z_m: FloatArray, r_m2: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Return ``(nu_m, s_m2)``, each ``(..., 2)``: innovation and its variance per axis."""
        ...

    def mahalanobis_sq(
        self,
        predicted: AxisGaussian,
        z_m: FloatArray,
        r_m2: FloatArray,
        dt_s: FloatArray | None = None,
    ) -> FloatArray:
        """Return the ``(n, m)`` matrix of ``d2[i, j] = sum_axis nu_ij^2 / S_ij`` between ``n`` predicted
        tracks (arrays ``(n, 2)``) and ``m`` detections ``z_m`` ``(m, 2)`` with variances ``r_m2``
        ``(m,)`` (or one shared ``(1,)``), in one vectorised computation.

        ``dt_s`` ``(m,)``, when given, is each detection's time minus the prediction's time: the mean
        is carried along the track's velocity to the detection, ``nu = z - (p + v dt)``, while ``S``
        stays the prediction's (exact for ``dt = 0``; over the short spread of one scan the variance
        hardly changes). This keeps the matrix a product of per-track and per-detection terms."""
        ...

    def update(self, predicted: AxisGaussian, z_m: FloatArray, r_m2: FloatArray) -> AxisGaussian:
        """Return the posterior; ``z_m`` is ``(..., 2)`` and ``r_m2`` is ``(..., 1)`` or ``(..., 2)``."""
        ...


class Associator(Protocol):
    """Decides which detection updates which track, at most one each way.

    Input is the squared Mahalanobis distance ``d2[i, j] = sum_axis nu^2 / S`` (dimensionless, chi-square
    with 2 degrees of freedom when detection ``j`` comes from track ``i``) for every track ``i`` and
    detection ``j``. Pairs with ``d2`` above the gate are never assigned.
    """

    def associate(self, d2: FloatArray) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Return ``(track_rows, detection_cols)`` of the chosen pairs."""
        ...


class Initiator(Protocol):
    """Starts tentative tracks from unassociated detections and confirms them (M of N).

    A new track sits at the measured position with variance ``r`` (m^2) per axis, zero velocity with
    variance ``sigma_v^2`` (m^2/s^2). Each track keeps a bit history of its last ``N`` chances
    (1 = detected); it is confirmed once at least ``M`` of them are hits.
    """

    def initiate(self, z_m: FloatArray, r_m2: FloatArray) -> AxisGaussian:
        """Return the states of new tracks for detections ``z_m`` ``(k, 2)`` with variances ``(k,)``."""
        ...

    def confirmed(self, hit_bits: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Return which tracks with these hit histories (bit 0 = latest chance) are confirmed."""
        ...


class Deleter(Protocol):
    """Decides which tracks to drop: too many misses in a row, or silent for too long."""

    def delete(
        self,
        *,
        confirmed: NDArray[np.bool_],
        misses: NDArray[np.int64],
        hit_bits: NDArray[np.int64],
        chances: NDArray[np.int64],
        silent_s: FloatArray,
    ) -> NDArray[np.bool_]:
        """Return which tracks to delete, given confirmation, consecutive misses, the hit history
        (bit 0 = latest chance), the number of chances seen since birth and the time since the last
        update (s)."""
        ...
