"""Track initiation from single detections, and M-of-N confirmation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from concord.tracking.base import AxisGaussian, FloatArray

__all__ = ["MOfNInitiator", "popcount"]


def popcount(bits: NDArray[np.int64]) -> NDArray[np.int64]:
    """Number of set bits of each (non-negative) integer."""
    counts = np.zeros(bits.shape, dtype=np.int64)
    work = bits.copy()
    while np.any(work):
        counts += work & 1
        work >>= 1
    return counts


@dataclass(frozen=True, slots=True)
class MOfNInitiator:
    """Single-point initiation with M-of-N confirmation, see :class:`~concord.tracking.base.Initiator`.

    ``confirm_hits`` is M, ``confirm_window`` is N (chances, i.e. scans of a sensor that has seen the
    track); ``initial_speed_sigma_mps`` is the 1-sigma velocity uncertainty of a new track per axis.
    """

    confirm_hits: int
    confirm_window: int
    initial_speed_sigma_mps: float

    def __post_init__(self) -> None:
        if not 1 <= self.confirm_hits <= self.confirm_window <= 62:
            raise ValueError("confirmation needs 1 <= M <= N <= 62")

    def initiate(self, z_m: FloatArray, r_m2: FloatArray) -> AxisGaussian:
        k = z_m.shape[0]
        r = np.broadcast_to(np.asarray(r_m2, dtype=np.float64).reshape(k, 1), (k, 2))
        return AxisGaussian(
            pos_m=np.array(z_m, dtype=np.float64),
            vel_mps=np.zeros((k, 2)),
            ppp_m2=np.array(r, dtype=np.float64),
            ppv_m2ps=np.zeros((k, 2)),
            pvv_m2ps2=np.full((k, 2), self.initial_speed_sigma_mps**2),
        )

    def confirmed(self, hit_bits: NDArray[np.int64]) -> NDArray[np.bool_]:
        window_mask = (1 << self.confirm_window) - 1
        result: NDArray[np.bool_] = popcount(hit_bits & window_mask) >= self.confirm_hits
        return result
