"""Constant-velocity Kalman predictor and position-measurement updater on batches of per-axis states.

Both work on :class:`~concord.tracking.base.AxisGaussian` arrays of any leading shape, so the same code
predicts one track, every track, or every track to every detection's time (the gating grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from concord.tracking.base import AxisGaussian, FloatArray

__all__ = ["ConstantVelocityPredictor", "PositionUpdater"]


@dataclass(frozen=True, slots=True)
class ConstantVelocityPredictor:
    """Nearly-constant-velocity motion (white acceleration), see :class:`~concord.tracking.base.Predictor`.

    ``process_noise_m2ps3`` is the acceleration spectral density ``q``: over ``dt`` seconds the velocity
    random walk has variance ``q * dt`` (m^2/s^2).
    """

    process_noise_m2ps3: float

    def predict(self, state: AxisGaussian, dt_s: FloatArray) -> AxisGaussian:
        q = self.process_noise_m2ps3
        adt = np.abs(dt_s)
        adt2 = adt * adt
        dt2 = dt_s * dt_s
        return AxisGaussian(
            pos_m=state.pos_m + dt_s * state.vel_mps,
            vel_mps=state.vel_mps + 0.0 * dt_s,
            ppp_m2=state.ppp_m2 + 2.0 * dt_s * state.ppv_m2ps + dt2 * state.pvv_m2ps2 + q * adt2 * adt / 3.0,
            ppv_m2ps=state.ppv_m2ps + dt_s * state.pvv_m2ps2 + q * adt2 / 2.0,
            pvv_m2ps2=state.pvv_m2ps2 + q * adt,
        )


@dataclass(frozen=True, slots=True)
class PositionUpdater:
    """Kalman update with a position-only measurement, see :class:`~concord.tracking.base.Updater`."""

    def innovation(
        self, predicted: AxisGaussian, z_m: FloatArray, r_m2: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        return z_m - predicted.pos_m, predicted.ppp_m2 + r_m2

    def mahalanobis_sq(
        self,
        predicted: AxisGaussian,
        z_m: FloatArray,
        r_m2: FloatArray,
        dt_s: FloatArray | None = None,
    ) -> FloatArray:
        n = predicted.pos_m.shape[0]
        m = z_m.shape[0]
        if n == 0 or m == 0:
            return np.empty((n, m))
        r = np.asarray(r_m2, dtype=np.float64).reshape(-1)
        tau = np.zeros(m) if dt_s is None else np.asarray(dt_s, dtype=np.float64).reshape(m)
        # Work relative to a common centre: smaller numbers, no cancellation worth the name.
        centre = predicted.pos_m.mean(axis=0)
        p = predicted.pos_m - centre
        v = predicted.vel_mps
        z = z_m - centre
        # A handful of detections: plain broadcasting beats setting up a matrix product.
        if m > 4 and (r.size == 1 or bool((r == r[0]).all())):
            # S depends on the track only, so sum_axis (z - p - v tau)^2 / S expands into one
            # (n, 12) @ (12, m) product of per-track and per-detection terms (w = 1 / S):
            # w z^2 - 2 w p z - 2 w v z tau + w p^2 + 2 w p v tau + w v^2 tau^2.
            w = 1.0 / (predicted.ppp_m2 + r[0])
            ones = np.ones(m)
            left_cols = []
            right_rows = []
            for axis in (0, 1):
                wa, pa, va, za = w[:, axis], p[:, axis], v[:, axis], z[:, axis]
                left_cols += [
                    wa,
                    -2.0 * wa * pa,
                    -2.0 * wa * va,
                    wa * pa * pa,
                    2.0 * wa * pa * va,
                    wa * va * va,
                ]
                right_rows += [za * za, za, za * tau, ones, tau, tau * tau]
            d2: FloatArray = np.column_stack(left_cols) @ np.vstack(right_rows)
            # Rounding can leave tiny negatives where a detection sits on a track.
            np.maximum(d2, 0.0, out=d2)
            return d2
        d2 = np.zeros((n, m))
        r_b = np.broadcast_to(r, (m,))
        for axis in (0, 1):
            diff = z[None, :, axis] - p[:, None, axis] - v[:, None, axis] * tau[None, :]
            d2 += diff * diff / (predicted.ppp_m2[:, None, axis] + r_b[None, :])
        return d2

    def update(self, predicted: AxisGaussian, z_m: FloatArray, r_m2: FloatArray) -> AxisGaussian:
        nu, s = self.innovation(predicted, z_m, r_m2)
        kp = predicted.ppp_m2 / s
        kv = predicted.ppv_m2ps / s
        return AxisGaussian(
            pos_m=predicted.pos_m + kp * nu,
            vel_mps=predicted.vel_mps + kv * nu,
            ppp_m2=(1.0 - kp) * predicted.ppp_m2,
            ppv_m2ps=(1.0 - kp) * predicted.ppv_m2ps,
            pvv_m2ps2=predicted.pvv_m2ps2 - kv * predicted.ppv_m2ps,
        )
