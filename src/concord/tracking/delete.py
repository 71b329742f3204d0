"""Track deletion: too many consecutive misses, a tentative track that can no longer confirm, or silence."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from concord.tracking.base import FloatArray

__all__ = ["MissCountDeleter", "SilenceDeleter"]


@dataclass(frozen=True, slots=True)
class MissCountDeleter:
    """Deletes a track (see :class:`~concord.tracking.base.Deleter`) when

    - it is confirmed and has missed ``delete_after_misses`` chances in a row (it coasts until then);
    - it is tentative and has missed ``N - M + 1`` chances in a row: a window of N chances that holds
      such a run cannot hold M hits, so the track has missed its chance to confirm;
    - it has had no update for ``max_silent_s`` seconds (for sources that never report a miss, such as
      AIS; ``inf`` turns this off).
    """

    delete_after_misses: int
    confirm_hits: int
    confirm_window: int
    max_silent_s: float = math.inf

    def delete(
        self,
        *,
        confirmed: NDArray[np.bool_],
        misses: NDArray[np.int64],
        hit_bits: NDArray[np.int64],
        chances: NDArray[np.int64],
        silent_s: FloatArray,
    ) -> NDArray[np.bool_]:
        del hit_bits, chances  # the run of misses decides
        cannot_confirm = misses >= self.confirm_window - self.confirm_hits + 1
        stale = silent_s > self.max_silent_s
        result: NDArray[np.bool_] = (
            np.where(confirmed, misses >= self.delete_after_misses, cannot_confirm) | stale
        )
        return result


@dataclass(frozen=True, slots=True)
class SilenceDeleter:
    """Deletes by silence alone, for asynchronous multi-sensor fusion where a "scan" is not defined
    (see :class:`~concord.tracking.base.Deleter`): a tentative track after ``tentative_max_silent_s``
    seconds without an update, a confirmed one after ``max_silent_s``."""

    max_silent_s: float
    tentative_max_silent_s: float

    def delete(
        self,
        *,
        confirmed: NDArray[np.bool_],
        misses: NDArray[np.int64],
        hit_bits: NDArray[np.int64],
        chances: NDArray[np.int64],
        silent_s: FloatArray,
    ) -> NDArray[np.bool_]:
        del misses, hit_bits, chances  # silence alone decides
        limit = np.where(confirmed, self.max_silent_s, self.tentative_max_silent_s)
        result: NDArray[np.bool_] = silent_s > limit
        return result
