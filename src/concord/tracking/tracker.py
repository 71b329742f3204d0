"""The metric-frame fusion tracker: a table of constant-velocity tracks driven by injected parts.

:class:`Tracker` keeps every live track as one row of a few numpy arrays (structure of arrays), so a
scan is processed with array arithmetic: predict every track to the scan time, build the tracks x
detections squared-Mahalanobis matrix in one go, assign (GNN), update the assigned tracks in one batch
(each at its detection's time), count misses, delete, initiate. Order inside :meth:`Tracker.step`::

    associate -> update (hits) / coast (misses) -> confirm -> delete -> initiate

Confirmed tracks are associated first and tentative tracks take what is left (see
:meth:`Tracker._associate`).

Late and out-of-sequence reports (a detection older than the track's last update, but not older than
``oos_window_s`` before the newest time the tracker has seen) are fused, not dropped: each track keeps
its last ``max_history`` measurements and posteriors, and a late measurement is inserted at its place
and the track is re-filtered from there, so the result equals what in-order processing would have
given. Older reports are dropped and counted.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from concord.domain.errors import InvalidInput
from concord.domain.track import TrackStatus
from concord.tracking.base import (
    Associator,
    AxisGaussian,
    Deleter,
    FloatArray,
    Initiator,
    Predictor,
    Updater,
)
from concord.tracking.delete import MissCountDeleter
from concord.tracking.gnn import GlobalNearestNeighbour
from concord.tracking.initiate import MOfNInitiator
from concord.tracking.kalman import ConstantVelocityPredictor, PositionUpdater

__all__ = ["ScanOutcome", "Tracker", "TrackerConfig", "TrackUpdate"]

IntArray = NDArray[np.int64]

# A posterior of one track, flattened: px, py, vx, vy, pppx, pppy, ppvx, ppvy, pvvx, pvvy.
_Post = Sequence[float]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackerConfig:
    """Parameters of the tracker, with their units in their names.

    - ``meas_sigma_m``: default 1-sigma position error of a detection per axis (m), used when a
      detection carries none.
    - ``process_noise_m2ps3``: white-acceleration spectral density ``q`` of the motion model (m^2/s^3).
    - ``gate_mahalanobis``: association gate as a Mahalanobis distance (sigmas).
    - ``confirm_hits`` / ``confirm_window``: M of N confirmation.
    - ``delete_after_misses``: consecutive misses after which a confirmed track is deleted (it coasts
      until then).
    - ``initial_speed_sigma_mps``: 1-sigma speed uncertainty per axis of a new track (m/s).
    - ``oos_window_s``: how far back (s) a late report is still fused by re-filtering; 0 drops them.
    - ``max_silent_s``: delete a track with no update for this long (s); ``inf`` turns it off.
    - ``max_history``: measurements kept per track for re-filtering (bounds memory); a late report
      older than a track's oldest kept measurement cannot be re-filtered and is dropped.
    - ``max_tracks``: live tracks at most; detections that would start more are dropped and counted
      (bounds memory and time under a flood of false reports).
    """

    meas_sigma_m: float = 10.0
    process_noise_m2ps3: float = 0.5
    gate_mahalanobis: float = 4.0
    confirm_hits: int = 3
    confirm_window: int = 5
    delete_after_misses: int = 3
    initial_speed_sigma_mps: float = 20.0
    oos_window_s: float = 30.0
    max_silent_s: float = math.inf
    max_history: int = 64
    max_tracks: int = 100_000

    def __post_init__(self) -> None:
        positive = {
            "meas_sigma_m": self.meas_sigma_m,
            "gate_mahalanobis": self.gate_mahalanobis,
            "initial_speed_sigma_mps": self.initial_speed_sigma_mps,
            "max_silent_s": self.max_silent_s,
        }
        for name, value in positive.items():
            if not (value > 0 and not math.isnan(value)) or (name != "max_silent_s" and math.isinf(value)):
                raise InvalidInput(f"{name} must be a positive finite number", details={"field": name})
        for name, value in {
            "process_noise_m2ps3": self.process_noise_m2ps3,
            "oos_window_s": self.oos_window_s,
        }.items():
            if not (math.isfinite(value) and value >= 0):
                raise InvalidInput(f"{name} must be a finite number >= 0", details={"field": name})
        if not 1 <= self.confirm_hits <= self.confirm_window <= 62:
            raise InvalidInput(
                "confirmation needs 1 <= confirm_hits <= confirm_window <= 62",
                details={"field": "confirm_hits"},
            )
        if self.delete_after_misses < 1:
            raise InvalidInput("delete_after_misses must be >= 1", details={"field": "delete_after_misses"})
        if self.max_history < 1:
            raise InvalidInput("max_history must be >= 1", details={"field": "max_history"})
        if self.max_tracks < 1:
            raise InvalidInput("max_tracks must be >= 1", details={"field": "max_tracks"})


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackUpdate:
    """A track's state after a scan: position at the scan time (m), velocity (m/s), status."""

    track_id: int
    time_s: float
    x_m: float
    y_m: float
    vx_mps: float
    vy_mps: float
    sigma_m: float
    status: TrackStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanOutcome:
    """What a scan did, as arrays: which detection went where."""

    hit_ids: IntArray  # tracks updated, aligned with hit_detections
    hit_detections: NDArray[np.intp]
    new_ids: IntArray  # tracks started, aligned with new_detections
    new_detections: NDArray[np.intp]
    missed_ids: IntArray  # tracks that had a chance and missed it
    deleted_ids: IntArray
    confirmed_ids: IntArray  # tracks confirmed in this scan
    # Detections not fused: older than the out-of-sequence window, or no room for a new track.
    dropped_detections: NDArray[np.intp] = field(default_factory=lambda: np.empty(0, dtype=np.intp))
    # Last state of each deleted track: position (k, 2) m, velocity (k, 2) m/s, time (k,) s, sigma (k,) m.
    deleted_pos_m: FloatArray = field(default_factory=lambda: np.empty((0, 2)))
    deleted_vel_mps: FloatArray = field(default_factory=lambda: np.empty((0, 2)))
    deleted_t_s: FloatArray = field(default_factory=lambda: np.empty(0))
    deleted_sigma_m: FloatArray = field(default_factory=lambda: np.empty(0))


# Largest tracks x detections matrix built at once (8 bytes each): larger scans are sliced.
MAX_MATRIX_ENTRIES = 8_000_000

# (time_s, zx_m, zy_m, r_m2, posterior after it, is the track's first measurement)
_Entry = tuple[float, float, float, float, _Post, bool]


class Tracker:
    """Multi-target tracker composed of a predictor, an updater, an associator, an initiator and a
    deleter (see :mod:`concord.tracking.base`). Times are seconds on any fixed epoch; positions are
    metres in one local frame."""

    def __init__(
        self,
        predictor: Predictor,
        updater: Updater,
        associator: Associator,
        initiator: Initiator,
        deleter: Deleter,
        *,
        confirm_window: int,
        meas_sigma_m: float = 10.0,
        oos_window_s: float = 30.0,
        max_history: int = 64,
        max_tracks: int = 100_000,
    ) -> None:
        self.predictor = predictor
        self.updater = updater
        self.associator = associator
        self.initiator = initiator
        self.deleter = deleter
        self.meas_var_m2 = meas_sigma_m * meas_sigma_m
        self.oos_window_s = oos_window_s
        self.max_history = max_history
        self.max_tracks = max_tracks
        self.dropped_capacity = 0
        self._window_mask = (1 << confirm_window) - 1
        self._pos = np.empty((0, 2))
        self._vel = np.empty((0, 2))
        self._ppp = np.empty((0, 2))
        self._ppv = np.empty((0, 2))
        self._pvv = np.empty((0, 2))
        self._t = np.empty(0)
        self._ids: IntArray = np.empty(0, dtype=np.int64)
        self._hits: IntArray = np.empty(0, dtype=np.int64)
        self._chances: IntArray = np.empty(0, dtype=np.int64)
        self._misses: IntArray = np.empty(0, dtype=np.int64)
        self._confirmed: NDArray[np.bool_] = np.empty(0, dtype=bool)
        self._hist: list[deque[_Entry]] = []
        self._row_of: dict[int, int] = {}
        self._next_id = 1
        self.now_s = -math.inf
        self.dropped_late = 0

    @classmethod
    def from_config(cls, config: TrackerConfig) -> Tracker:
        """The standard composition: CV Kalman, GNN, M-of-N initiation, miss-count deletion."""
        return cls(
            ConstantVelocityPredictor(config.process_noise_m2ps3),
            PositionUpdater(),
            GlobalNearestNeighbour(config.gate_mahalanobis),
            MOfNInitiator(config.confirm_hits, config.confirm_window, config.initial_speed_sigma_mps),
            MissCountDeleter(
                config.delete_after_misses, config.confirm_hits, config.confirm_window, config.max_silent_s
            ),
            confirm_window=config.confirm_window,
            meas_sigma_m=config.meas_sigma_m,
            oos_window_s=config.oos_window_s,
            max_history=config.max_history,
            max_tracks=config.max_tracks,
        )

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return int(self._ids.size)

    @property
    def track_ids(self) -> IntArray:
        return self._ids.copy()

    def has_track(self, track_id: int) -> bool:
        return track_id in self._row_of

    def status_of(self, track_id: int) -> TrackStatus:
        row = self._row_of[track_id]
        if not self._confirmed[row]:
            return TrackStatus.TENTATIVE
        return TrackStatus.COASTING if self._misses[row] > 0 else TrackStatus.CONFIRMED

    def states(self, time_s: float | None = None) -> dict[int, tuple[float, float, float, float]]:
        """Every live track's ``(x_m, y_m, vx_mps, vy_mps)``, predicted to ``time_s`` when given."""
        pos = self._pos if time_s is None else self._pos + (time_s - self._t)[:, None] * self._vel
        return {
            int(i): (float(p[0]), float(p[1]), float(v[0]), float(v[1]))
            for i, p, v in zip(self._ids, pos, self._vel, strict=True)
        }

    def snapshot_arrays(
        self, track_ids: IntArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, list[TrackStatus]]:
        """``(pos_m (k,2), vel_mps (k,2), sigma_m (k,), time_s (k,), statuses)`` of live tracks."""
        rows = np.fromiter((self._row_of[int(i)] for i in track_ids), dtype=np.intp, count=len(track_ids))
        sigma = np.sqrt(self._ppp[rows].max(axis=1))
        statuses = [
            TrackStatus.TENTATIVE if not c else (TrackStatus.COASTING if m > 0 else TrackStatus.CONFIRMED)
            for c, m in zip(self._confirmed[rows].tolist(), self._misses[rows].tolist(), strict=True)
        ]
        return self._pos[rows], self._vel[rows], sigma, self._t[rows], statuses

    # ------------------------------------------------------------------ the scan

    def step(
        self, time_s: float, z_m: FloatArray, *, t_s: FloatArray | None = None, r_m2: FloatArray | None = None
    ) -> list[TrackUpdate]:
        """Process one scan of detections ``z_m`` ``(m, 2)`` taken at ``time_s`` (or at per-detection
        times ``t_s``) and return every live track's state at ``time_s`` plus the deleted ones.

        ``r_m2`` is each detection's position variance per axis (m^2), by default ``meas_sigma_m^2``."""
        r = self.meas_var_m2 if r_m2 is None else r_m2
        outcome = self.scan(time_s, z_m, t_s=t_s, r_m2=np.asarray(r, dtype=np.float64))
        return self.updates_at(time_s, outcome.deleted_ids)

    def updates_at(self, time_s: float, deleted_ids: IntArray) -> list[TrackUpdate]:
        """Every live track predicted to ``time_s``, then one DELETED update per ``deleted_ids``."""
        pos = self._pos + (time_s - self._t)[:, None] * self._vel
        sigma = np.sqrt(self._ppp.max(axis=1))
        out = [
            TrackUpdate(
                track_id=i,
                time_s=time_s,
                x_m=p[0],
                y_m=p[1],
                vx_mps=v[0],
                vy_mps=v[1],
                sigma_m=s,
                status=TrackStatus.TENTATIVE
                if not c
                else (TrackStatus.COASTING if m > 0 else TrackStatus.CONFIRMED),
            )
            for i, p, v, s, c, m in zip(
                self._ids.tolist(),
                pos.tolist(),
                self._vel.tolist(),
                sigma.tolist(),
                self._confirmed.tolist(),
                self._misses.tolist(),
                strict=True,
            )
        ]
        out.extend(
            TrackUpdate(
                track_id=i,
                time_s=time_s,
                x_m=math.nan,
                y_m=math.nan,
                vx_mps=math.nan,
                vy_mps=math.nan,
                sigma_m=math.nan,
                status=TrackStatus.DELETED,
            )
            for i in deleted_ids.tolist()
        )
        return out

    def scan(
        self,
        time_s: float,
        z_m: FloatArray,
        *,
        r_m2: FloatArray,
        t_s: FloatArray | None = None,
        chance_rows: NDArray[np.bool_] | None = None,
    ) -> ScanOutcome:
        """Associate, update, coast, confirm, delete and initiate for one scan.

        ``chance_rows`` marks the tracks this scan could have seen (default: all); only those count a
        miss when no detection is assigned to them.
        """
        z = np.asarray(z_m, dtype=np.float64).reshape(-1, 2)
        m = z.shape[0]
        r = np.broadcast_to(np.asarray(r_m2, dtype=np.float64), (m,))
        t_det = np.full(m, float(time_s)) if t_s is None else np.asarray(t_s, dtype=np.float64).reshape(m)
        if not (np.isfinite(z).all() and np.isfinite(r).all() and np.isfinite(t_det).all()):
            raise InvalidInput("detections must be finite numbers", details={"field": "z_m"})
        if (r <= 0).any():
            raise InvalidInput("measurement variances must be positive", details={"field": "r_m2"})
        late_scan = time_s < self.now_s
        self.now_s = max(self.now_s, float(time_s), float(t_det.max()) if m else -math.inf)
        keep = t_det >= self.now_s - self.oos_window_s
        dropped = np.flatnonzero(~keep)
        self.dropped_late += int(dropped.size)
        live = np.flatnonzero(keep)
        n = self._ids.size

        rows = np.empty(0, dtype=np.intp)
        cols = np.empty(0, dtype=np.intp)
        if n and live.size:
            rows, cols = self._associate(z[live], t_det[live], r[live], same_time=t_s is None)
            cols = live[cols]
        hit_ids = self._ids[rows].copy()
        self._apply_hits(rows, t_det[cols], z[cols], r[cols])

        hit_mask = np.zeros(n, dtype=bool)
        hit_mask[rows] = True
        chance = np.ones(n, dtype=bool) if chance_rows is None else chance_rows.copy()
        if late_scan:
            chance[:] = False
        missed = chance & ~hit_mask
        missed_ids = self._ids[missed].copy()
        self._misses[missed] += 1
        self._hits[missed] = (self._hits[missed] << 1) & self._window_mask
        self._chances[missed] += 1

        newly = ~self._confirmed & self.initiator.confirmed(self._hits)
        self._confirmed |= newly
        confirmed_ids = self._ids[newly].copy()

        doomed = self.deleter.delete(
            confirmed=self._confirmed,
            misses=self._misses,
            hit_bits=self._hits,
            chances=self._chances,
            silent_s=self.now_s - self._t,
        )
        deleted_ids = self._ids[doomed].copy()
        deleted_pos, deleted_vel = self._pos[doomed], self._vel[doomed]
        deleted_t, deleted_sigma = self._t[doomed], np.sqrt(self._ppp[doomed].max(axis=1))
        if doomed.any():
            self._compact(~doomed)

        unassigned = np.ones(m, dtype=bool)
        unassigned[cols] = False
        unassigned[dropped] = False
        new_det = np.flatnonzero(unassigned)
        room = self.room()
        if new_det.size > room:
            self.dropped_capacity += new_det.size - room
            dropped = np.concatenate((dropped, new_det[room:]))
            new_det = new_det[:room]
        new_ids = self.create(t_det[new_det], z[new_det], r[new_det])
        return ScanOutcome(
            hit_ids=hit_ids,
            hit_detections=cols,
            new_ids=new_ids,
            new_detections=new_det,
            missed_ids=missed_ids,
            deleted_ids=deleted_ids,
            confirmed_ids=confirmed_ids,
            dropped_detections=dropped,
            deleted_pos_m=deleted_pos,
            deleted_vel_mps=deleted_vel,
            deleted_t_s=deleted_t,
            deleted_sigma_m=deleted_sigma,
        )

    # ------------------------------------------------------------------ direct updates

    def create(
        self, t_s: FloatArray, z_m: FloatArray, r_m2: FloatArray, *, confirmed: bool = False
    ) -> IntArray:
        """Start one tentative (or, with ``confirmed``, confirmed) track per detection; return ids."""
        k = int(np.asarray(t_s).size)
        if k == 0:
            return np.empty(0, dtype=np.int64)
        t = np.asarray(t_s, dtype=np.float64).reshape(k)
        r = np.asarray(r_m2, dtype=np.float64).reshape(k)
        state = self.initiator.initiate(np.asarray(z_m, dtype=np.float64).reshape(k, 2), r)
        ids = np.arange(self._next_id, self._next_id + k, dtype=np.int64)
        self._next_id += k
        first_row = self._ids.size
        self._pos = np.concatenate((self._pos, state.pos_m))
        self._vel = np.concatenate((self._vel, state.vel_mps))
        self._ppp = np.concatenate((self._ppp, state.ppp_m2))
        self._ppv = np.concatenate((self._ppv, state.ppv_m2ps))
        self._pvv = np.concatenate((self._pvv, state.pvv_m2ps2))
        self._t = np.concatenate((self._t, t))
        self._ids = np.concatenate((self._ids, ids))
        self._hits = np.concatenate((self._hits, np.ones(k, dtype=np.int64)))
        self._chances = np.concatenate((self._chances, np.ones(k, dtype=np.int64)))
        self._misses = np.concatenate((self._misses, np.zeros(k, dtype=np.int64)))
        conf = np.full(k, confirmed) | self.initiator.confirmed(np.ones(k, dtype=np.int64))
        self._confirmed = np.concatenate((self._confirmed, conf))
        for offset, track_id in enumerate(ids.tolist()):
            self._row_of[track_id] = first_row + offset
        if self.oos_window_s > 0:
            posts = self._posts(np.arange(first_row, first_row + k))
            z = np.asarray(z_m, dtype=np.float64).reshape(k, 2).tolist()
            for tt, zz, rr, post in zip(t.tolist(), z, r.tolist(), posts, strict=True):
                self._hist.append(deque([(tt, zz[0], zz[1], rr, post, True)], maxlen=self.max_history))
        else:
            self._hist.extend(deque() for _ in range(k))
        self.now_s = max(self.now_s, float(t.max()))
        return ids

    def update_tracks(self, track_ids: IntArray, t_s: FloatArray, z_m: FloatArray, r_m2: FloatArray) -> None:
        """Fold one detection into each of the given (distinct) tracks, bypassing association: for
        reports whose identity already names the track. Counts as a hit."""
        rows = np.fromiter((self._row_of[int(i)] for i in track_ids), dtype=np.intp, count=len(track_ids))
        t = np.asarray(t_s, dtype=np.float64).reshape(rows.size)
        if rows.size:
            self.now_s = max(self.now_s, float(t.max()))
        self._apply_hits(rows, t, np.asarray(z_m, dtype=np.float64).reshape(-1, 2), np.asarray(r_m2))

    def gate(
        self, t_s: FloatArray, z_m: FloatArray, r_m2: FloatArray, rows: NDArray[np.intp] | None = None
    ) -> FloatArray:
        """Squared Mahalanobis distances ``(tracks, detections)`` of detections to the tracks in
        ``rows`` (row order, see :meth:`row_ids`; default all), each at its detection's time."""
        t = np.asarray(t_s, dtype=np.float64).reshape(-1)
        if not self._ids.size or not t.size:
            return np.empty((self._ids.size if rows is None else rows.size, t.size))
        z = np.asarray(z_m, dtype=np.float64).reshape(-1, 2)
        r = np.asarray(r_m2, dtype=np.float64).reshape(-1)
        return self._gate_matrix(z, t, r, same_time=False, rows=rows)

    def room(self) -> int:
        """How many more tracks may be started (``max_tracks`` minus the live ones)."""
        return max(self.max_tracks - int(self._ids.size), 0)

    def row_ids(self) -> IntArray:
        """Track ids in row order (the row order of :meth:`gate`)."""
        return self._ids

    # ------------------------------------------------------------------ internals

    def _state(self, rows: NDArray[np.intp]) -> AxisGaussian:
        return AxisGaussian(
            pos_m=self._pos[rows],
            vel_mps=self._vel[rows],
            ppp_m2=self._ppp[rows],
            ppv_m2ps=self._ppv[rows],
            pvv_m2ps2=self._pvv[rows],
        )

    def _gate_matrix(
        self,
        z: FloatArray,
        t_det: FloatArray,
        r: FloatArray,
        *,
        same_time: bool,
        rows: NDArray[np.intp] | None = None,
    ) -> FloatArray:
        """The tracks x detections squared Mahalanobis matrix (for ``rows``, default all tracks).

        Every track is predicted once, to the newest detection time of the scan; detections taken
        earlier in the scan are compared with the track's mean carried back along its velocity.
        """
        state = self._state(rows) if rows is not None else self._state_all()
        t_track = self._t if rows is None else self._t[rows]
        if same_time:
            t_ref = float(t_det[0])
            tau = None
        else:
            t_ref = float(t_det.max())
            tau = t_det - t_ref
        predicted = self.predictor.predict(state, (t_ref - t_track)[:, None])
        return self.updater.mahalanobis_sq(predicted, z, r, tau)

    def _state_all(self) -> AxisGaussian:
        return AxisGaussian(
            pos_m=self._pos, vel_mps=self._vel, ppp_m2=self._ppp, ppv_m2ps=self._ppv, pvv_m2ps2=self._pvv
        )

    def _associate(
        self, z: FloatArray, t_det: FloatArray, r: FloatArray, *, same_time: bool
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Confirmed tracks claim detections first; tentative tracks share what is left.

        In one joint assignment a young track, whose wide gate makes every distance small, would
        take a confirmed track's detection whenever its distance is the smaller, leaving the
        confirmed track to miss and breeding duplicate tracks.
        """
        confirmed = np.flatnonzero(self._confirmed)
        tentative = np.flatnonzero(~self._confirmed)
        everything = np.arange(z.shape[0])
        r1, c1 = self._assign(confirmed, everything, z, t_det, r, same_time=same_time)
        free = np.ones(z.shape[0], dtype=bool)
        free[c1] = False
        r2, c2 = self._assign(tentative, everything[free], z, t_det, r, same_time=same_time)
        return np.concatenate((r1, r2)), np.concatenate((c1, c2))

    def _assign(
        self,
        rows: NDArray[np.intp],
        cols: NDArray[np.intp],
        z: FloatArray,
        t_det: FloatArray,
        r: FloatArray,
        *,
        same_time: bool,
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """GNN of tracks ``rows`` with detections ``cols``; returns (track rows, detection indices).

        The matrix is built whole unless it would exceed ``MAX_MATRIX_ENTRIES``; then detections are
        taken in slices, each assigned to the tracks still free (bounded memory under a flood).
        """
        if rows.size == 0 or cols.size == 0:
            empty = np.empty(0, dtype=np.intp)
            return empty, empty
        per_slice = max(1, MAX_MATRIX_ENTRIES // rows.size)
        out_rows: list[NDArray[np.intp]] = []
        out_cols: list[NDArray[np.intp]] = []
        free_rows = rows
        for start in range(0, cols.size, per_slice):
            part = cols[start : start + per_slice]
            if free_rows.size == 0:
                break
            d2 = self._gate_matrix(z[part], t_det[part], r[part], same_time=same_time, rows=free_rows)
            rr, cc = self.associator.associate(d2)
            out_rows.append(free_rows[rr])
            out_cols.append(part[cc])
            if start + per_slice < cols.size:
                free_rows = np.delete(free_rows, rr)
        return (
            np.concatenate(out_rows).astype(np.intp),
            np.concatenate(out_cols).astype(np.intp),
        )

    def _apply_hits(self, rows: NDArray[np.intp], t: FloatArray, z: FloatArray, r: FloatArray) -> None:
        if rows.size == 0:
            return
        r = np.broadcast_to(r, (rows.size,))
        dt = t - self._t[rows]
        in_order = dt >= 0
        ro = rows[in_order]
        if ro.size:
            predicted = self.predictor.predict(self._state(ro), dt[in_order][:, None])
            post = self.updater.update(predicted, z[in_order], r[in_order][:, None])
            self._pos[ro] = post.pos_m
            self._vel[ro] = post.vel_mps
            self._ppp[ro] = post.ppp_m2
            self._ppv[ro] = post.ppv_m2ps
            self._pvv[ro] = post.pvv_m2ps2
            self._t[ro] = t[in_order]
            self._misses[ro] = 0
            self._hits[ro] = ((self._hits[ro] << 1) | 1) & self._window_mask
            self._chances[ro] += 1
            if self.oos_window_s > 0:
                self._record(ro, t[in_order], z[in_order], r[in_order])
        for row, tt, zz, rr in zip(
            rows[~in_order].tolist(),
            t[~in_order].tolist(),
            z[~in_order].tolist(),
            r[~in_order].tolist(),
            strict=True,
        ):
            if self._refilter(row, tt, zz[0], zz[1], rr):
                self._misses[row] = 0
            else:
                self.dropped_late += 1

    def _posts(self, rows: NDArray[np.intp]) -> list[_Post]:
        stacked = np.hstack(
            (self._pos[rows], self._vel[rows], self._ppp[rows], self._ppv[rows], self._pvv[rows])
        )
        return stacked.tolist()  # type: ignore[no-any-return]

    def _record(self, rows: NDArray[np.intp], t: FloatArray, z: FloatArray, r: FloatArray) -> None:
        # Each history is a deque bounded by max_history: appending drops the oldest entry. Entries
        # older than the window are harmless (a report that old is refused before it gets here).
        hists = self._hist
        for row, tt, zx, zy, rr, post in zip(
            rows.tolist(), t.tolist(), z[:, 0].tolist(), z[:, 1].tolist(), r.tolist(), self._posts(rows),
            strict=True,
        ):  # fmt: skip
            hists[row].append((tt, zx, zy, rr, post, False))

    def _refilter(self, row: int, t: float, zx: float, zy: float, r: float) -> bool:
        """Insert a late measurement in the track's history and re-run the filter from there."""
        hist = self._hist[row]
        if not hist:
            return False
        entries = list(hist)
        k = len(entries) - 1
        while k >= 0 and entries[k][0] > t:
            k -= 1
        new_entry: _Entry
        if k >= 0:
            base_t, base = entries[k][0], entries[k][4]
            post = self._filter_one(base, t - base_t, zx, zy, r)
            new_entry = (t, zx, zy, r, post, False)
            replay = entries[k + 1 :]
            kept = entries[: k + 1]
        elif entries[0][5]:
            # Older than the track's first measurement: it becomes the first one.
            init = self.initiator.initiate(np.array([[zx, zy]]), np.array([r]))
            post = _flatten(init)
            new_entry = (t, zx, zy, r, post, True)
            replay = [(e[0], e[1], e[2], e[3], e[4], False) for e in entries]
            kept = []
        else:
            return False
        rebuilt = [*kept, new_entry]
        prev_t, prev = t, post
        for e in replay:
            prev = self._filter_one(prev, e[0] - prev_t, e[1], e[2], e[3])
            prev_t = e[0]
            rebuilt.append((e[0], e[1], e[2], e[3], prev, e[5]))
        self._hist[row] = deque(rebuilt, maxlen=self.max_history)
        last_t, last = rebuilt[-1][0], rebuilt[-1][4]
        self._pos[row] = last[0:2]
        self._vel[row] = last[2:4]
        self._ppp[row] = last[4:6]
        self._ppv[row] = last[6:8]
        self._pvv[row] = last[8:10]
        self._t[row] = last_t
        return True

    def _filter_one(self, post: _Post, dt_s: float, zx: float, zy: float, r: float) -> _Post:
        state = AxisGaussian(
            pos_m=np.array([post[0:2]]),
            vel_mps=np.array([post[2:4]]),
            ppp_m2=np.array([post[4:6]]),
            ppv_m2ps=np.array([post[6:8]]),
            pvv_m2ps2=np.array([post[8:10]]),
        )
        predicted = self.predictor.predict(state, np.array([[dt_s]]))
        return _flatten(self.updater.update(predicted, np.array([[zx, zy]]), np.array([[r]])))

    def _compact(self, keep: NDArray[np.bool_]) -> None:
        self._pos = self._pos[keep]
        self._vel = self._vel[keep]
        self._ppp = self._ppp[keep]
        self._ppv = self._ppv[keep]
        self._pvv = self._pvv[keep]
        self._t = self._t[keep]
        self._ids = self._ids[keep]
        self._hits = self._hits[keep]
        self._chances = self._chances[keep]
        self._misses = self._misses[keep]
        self._confirmed = self._confirmed[keep]
        self._hist = [h for h, k in zip(self._hist, keep.tolist(), strict=True) if k]
        self._row_of = {track_id: row for row, track_id in enumerate(self._ids.tolist())}


def _flatten(state: AxisGaussian) -> _Post:
    return tuple(
        np.hstack(
            (state.pos_m[0], state.vel_mps[0], state.ppp_m2[0], state.ppv_m2ps[0], state.pvv_m2ps2[0])
        ).tolist()
    )
