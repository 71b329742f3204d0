"""The geographic face of the tracker: Observations in, Track snapshots out, per region.

A :class:`GeoTracker` serves one region. It projects WGS84 positions into a local metric frame around
the region's origin (an azimuthal equidistant projection, pyproj), which is the local east/north
tangent plane near the origin and keeps distances true along every line through it. There it runs the
metric :class:`~concord.tracking.tracker.Tracker`.

How reports are fused:

- A report with an ``identity`` (``mmsi:...``, ``tak:...``) goes straight to the track bound to that
  identity. The first report of an identity adopts a track without an identity inside the gate (a
  radar track of the same vessel; GNN when several first reports compete), else starts a new track,
  confirmed at once by default (cooperative reports are not clutter). A track never changes
  identity. An identity that returns after its track was deleted for silence gets its old track id
  back.
- Anonymous reports (radar plots, camera detections) are grouped per source and associated by GNN
  with every live track, identified ones included: a radar plot near an identified vessel updates
  that vessel's track. Unassociated ones start tentative tracks, confirmed after ``confirm_hits``
  updates.
- Each report is fused at its own time. Reports are processed in time windows of ``window_s``; a
  report older than its track's last update (late, out of sequence) is re-filtered into the track's
  history if it is within ``oos_window_s`` of the newest time seen, else rejected as too late.
- Sensors here do not scan in step, so a track is not charged "misses": it is coasting after
  ``coast_after_s`` without an update and deleted after ``max_silent_s`` (tentative ones after
  ``tentative_max_silent_s``).
- A track's marking is the combination (:meth:`Marking.combine`) of the markings of every report that
  contributed to it; its agencies and sources are the union of theirs.
- Exercise reports are tracked apart by a twin tracker (:attr:`GeoTracker.exercise_tracker`), so a
  drill never moves a real track; their tracks carry ``exercise`` and ids ``<region>-x<number>``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
from pyproj import CRS, Transformer

from concord.domain.errors import InvalidInput
from concord.domain.marking import DEFAULT_LADDER, ClassificationLadder, Marking
from concord.domain.observation import Observation, TargetKind
from concord.domain.track import Track, TrackStatus
from concord.tracking.base import FloatArray
from concord.tracking.delete import SilenceDeleter
from concord.tracking.gnn import GlobalNearestNeighbour
from concord.tracking.initiate import MOfNInitiator
from concord.tracking.kalman import ConstantVelocityPredictor, PositionUpdater
from concord.tracking.tracker import ScanOutcome, Tracker, TrackerConfig

__all__ = [
    "FusionResult",
    "GeoConfig",
    "GeoTracker",
    "LocalFrame",
    "Region",
    "RejectedObservation",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    """A tracking region: a name, the origin of its local frame (WGS84 degrees), and its radius (m);
    reports further than ``radius_m`` from the origin are rejected."""

    name: str
    origin_lat: float
    origin_lon: float
    radius_m: float = 300_000.0

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 64:
            raise InvalidInput("a region needs a name of 1 to 64 characters", details={"field": "name"})
        if not (math.isfinite(self.origin_lat) and -89.0 <= self.origin_lat <= 89.0):
            raise InvalidInput("region origin latitude outside [-89, 89]", details={"field": "origin_lat"})
        if not (math.isfinite(self.origin_lon) and -180.0 <= self.origin_lon <= 180.0):
            raise InvalidInput("region origin longitude outside [-180, 180]", details={"field": "origin_lon"})
        if not (math.isfinite(self.radius_m) and 0 < self.radius_m <= 2_000_000.0):
            raise InvalidInput("region radius must be in (0, 2000 km]", details={"field": "radius_m"})


class LocalFrame:
    """WGS84 <-> local east/north metres around a region origin (azimuthal equidistant)."""

    def __init__(self, region: Region) -> None:
        local = CRS.from_proj4(
            f"+proj=aeqd +lat_0={region.origin_lat!r} +lon_0={region.origin_lon!r} "
            "+datum=WGS84 +units=m +no_defs"
        )
        self._forward = Transformer.from_crs("EPSG:4326", local, always_xy=True)
        self._inverse = Transformer.from_crs(local, "EPSG:4326", always_xy=True)

    def to_local(self, lat_deg: FloatArray, lon_deg: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return ``(east_m, north_m)`` arrays."""
        x, y = self._forward.transform(lon_deg, lat_deg)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def to_geo(self, east_m: FloatArray, north_m: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return ``(lat_deg, lon_deg)`` arrays."""
        lon, lat = self._inverse.transform(east_m, north_m)
        return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)

    def true_velocity(
        self, lat_deg: FloatArray, lon_deg: FloatArray, vel_mps: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Turn frame velocities ``(k, 2)`` at the given points into true east/north velocities.

        Away from the origin the frame's axes turn against the local meridian (by about
        ``delta_lon * sin(lat)``, 1.9 degrees 150 km east of an origin at 54.5 N), so the frame's
        "north" is not north. The local directions of true east and north in the frame are measured
        by projecting a point a hair to the east and to the north of each position.
        """
        step_deg = 1e-4
        x0, y0 = self.to_local(lat_deg, lon_deg)
        xe, ye = self.to_local(lat_deg, lon_deg + step_deg)
        xn, yn = self.to_local(lat_deg + step_deg, lon_deg)
        east = np.column_stack((xe - x0, ye - y0))
        north = np.column_stack((xn - x0, yn - y0))
        east /= np.linalg.norm(east, axis=1, keepdims=True)
        north /= np.linalg.norm(north, axis=1, keepdims=True)
        return (vel_mps * east).sum(axis=1), (vel_mps * north).sum(axis=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class GeoConfig:
    """Parameters of the geographic face (the metric ones are in ``tracker``).

    - ``window_s``: reports are fused in time windows of this length (s).
    - ``coast_after_s`` / ``max_silent_s`` / ``tentative_max_silent_s``: silence (s) after which a
      track is coasting / deleted / deleted while still tentative.
    - ``confirm_identified``: a track started by an identified report is confirmed at once.
    - ``max_future_s``: with ``now`` given, reports stamped later than ``now + max_future_s`` are
      rejected (a wrong clock must not push every other report out of the window).
    - ``min_sigma_m`` / ``max_sigma_m``: accepted range of ``position_sigma_m`` (smaller values are
      raised to ``min_sigma_m``; larger ones are rejected as useless).
    - ``max_identity_chars``: longer identities are rejected.
    - ``max_retired_identities``: how many identities of deleted tracks are remembered so that a
      returning identity gets its old track id back (oldest forgotten first).
    """

    tracker: TrackerConfig = field(default_factory=lambda: TrackerConfig(meas_sigma_m=50.0))
    window_s: float = 1.0
    coast_after_s: float = 30.0
    max_silent_s: float = 300.0
    tentative_max_silent_s: float = 30.0
    confirm_identified: bool = True
    max_future_s: float = 300.0
    min_sigma_m: float = 1.0
    max_sigma_m: float = 50_000.0
    max_identity_chars: int = 128
    max_retired_identities: int = 100_000

    def __post_init__(self) -> None:
        for name in ("window_s", "coast_after_s", "max_silent_s", "tentative_max_silent_s", "max_future_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidInput(f"{name} must be a positive number", details={"field": name})
        if not (0 < self.min_sigma_m < self.max_sigma_m and math.isfinite(self.max_sigma_m)):
            raise InvalidInput("need 0 < min_sigma_m < max_sigma_m", details={"field": "min_sigma_m"})


@dataclass(frozen=True, slots=True)
class RejectedObservation:
    """A report the tracker refused, with the reason (``index`` is its position in the batch)."""

    index: int
    observation_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class FusionResult:
    """The snapshots of every track a batch touched (deleted ones with status DELETED), and the
    reports refused."""

    tracks: list[Track]
    rejected: list[RejectedObservation]


_NOT_FUSED = "not fused: too late or the tracker is full"


class _TrackInfo:
    """What the geographic face knows about a track beyond its kinematics."""

    __slots__ = (
        "agencies", "callsign", "exercise", "folded", "identity", "marking", "public_id", "sources", "target",
    )  # fmt: skip

    def __init__(self, obs: Observation, public_id: str) -> None:
        self.public_id = public_id
        self.identity: str | None = obs.identity
        self.callsign: str | None = obs.callsign
        self.target: TargetKind = obs.target
        # Frozen sets, replaced on change: snapshots share them instead of copying.
        self.agencies: frozenset[str] = frozenset((obs.agency,))
        self.sources: frozenset[str] = frozenset((obs.source,))
        self.marking: Marking = obs.marking
        # Markings already folded into ``marking``: combining is idempotent, so they are skipped.
        self.folded: set[Marking] = {obs.marking}
        self.exercise: bool = obs.exercise


class GeoTracker:
    """Fuses Observations of one region into Tracks (see the module docstring)."""

    def __init__(
        self,
        region: Region,
        config: GeoConfig | TrackerConfig | None = None,
        *,
        ladder: ClassificationLadder = DEFAULT_LADDER,
        exercise: bool = False,
    ) -> None:
        if isinstance(config, TrackerConfig):
            config = GeoConfig(tracker=config)
        self.config = config or GeoConfig()
        self.region = region
        self.frame = LocalFrame(region)
        self.ladder = ladder
        metric = self.config.tracker
        self._gate_d2 = metric.gate_mahalanobis**2
        self.core = Tracker(
            ConstantVelocityPredictor(metric.process_noise_m2ps3),
            PositionUpdater(),
            GlobalNearestNeighbour(metric.gate_mahalanobis),
            MOfNInitiator(metric.confirm_hits, metric.confirm_window, metric.initial_speed_sigma_mps),
            SilenceDeleter(self.config.max_silent_s, self.config.tentative_max_silent_s),
            confirm_window=metric.confirm_window,
            meas_sigma_m=metric.meas_sigma_m,
            oos_window_s=metric.oos_window_s,
            max_history=metric.max_history,
            max_tracks=metric.max_tracks,
        )
        self._info: dict[int, _TrackInfo] = {}
        self._by_identity: dict[str, int] = {}
        # An identity whose track was deleted for silence gets its old track id back when it returns.
        self._retired: dict[str, str] = {}
        self._combined: dict[tuple[Marking, Marking], Marking] = {}
        self._known_levels: set[str] = set(ladder.levels)
        # Reports of the current batch that could not be fused: (position in the batch, reason).
        self._unfused: list[tuple[int, str]] = []
        # Exercise reports are tracked apart, by a twin of this tracker, so that a drill never moves
        # a real track nor a real report a drill track.
        self.exercise = exercise
        self._id_prefix = f"{region.name}-x" if exercise else f"{region.name}-"
        self._twin: GeoTracker | None = None

    def __len__(self) -> int:
        """Live tracks, real ones only (see :attr:`exercise_tracker` for the drill's)."""
        return len(self.core)

    @property
    def exercise_tracker(self) -> GeoTracker:
        """The twin that tracks this region's exercise reports (track ids ``<region>-x<number>``)."""
        if self._twin is None:
            self._twin = GeoTracker(self.region, self.config, ladder=self.ladder, exercise=True)
        return self._twin

    def track_id(self, core_id: int) -> str:
        """The public id of a live track (``<region>-<number>``, ``<region>-x<number>`` for exercise
        tracks, or the id a returning identity had before)."""
        info = self._info.get(core_id)
        return info.public_id if info is not None else self._new_id(core_id)

    def _new_id(self, core_id: int) -> str:
        return f"{self._id_prefix}{core_id}"

    def identity_track(self, identity: str) -> str | None:
        """The id of the live track bound to ``identity``, if any."""
        core_id = self._by_identity.get(identity)
        return None if core_id is None else self._info[core_id].public_id

    # ------------------------------------------------------------------ the batch

    def process(self, observations: Sequence[Observation], *, now: datetime | None = None) -> FusionResult:
        """Fuse a batch of reports (any order, any sources); return the touched tracks' snapshots.

        Exercise reports (``Observation.exercise``) go to :attr:`exercise_tracker` and come back with
        the real ones, their tracks marked ``exercise``; indices in ``rejected`` are always positions in
        ``observations``."""
        if isinstance(observations, str | bytes) or not isinstance(observations, Sequence):
            raise InvalidInput(
                "observations must be a sequence of Observation", details={"field": "observations"}
            )
        if self.exercise:
            return self._process(observations, now)
        drill = [i for i, o in enumerate(observations) if isinstance(o, Observation) and o.exercise is True]
        if not drill:
            return self._process(observations, now)
        in_drill = set(drill)
        real = [i for i in range(len(observations)) if i not in in_drill]
        ours = self._process([observations[i] for i in real], now)
        theirs = self.exercise_tracker._process([observations[i] for i in drill], now)
        rejected = [replace(r, index=real[r.index]) for r in ours.rejected]
        rejected += [replace(r, index=drill[r.index]) for r in theirs.rejected]
        rejected.sort(key=lambda r: r.index)
        return FusionResult(tracks=ours.tracks + theirs.tracks, rejected=rejected)

    def _process(self, observations: Sequence[Observation], now: datetime | None) -> FusionResult:
        rejected: list[RejectedObservation] = []
        accepted, times_s = self._validate(observations, now, rejected)
        touched: set[int] = set()
        deleted: list[Track] = []
        if accepted:
            obs = [observations[i] for i in accepted]
            lat = np.fromiter((o.lat for o in obs), dtype=np.float64, count=len(obs))
            lon = np.fromiter((o.lon for o in obs), dtype=np.float64, count=len(obs))
            t = np.array(times_s, dtype=np.float64)
            sig = np.fromiter((o.position_sigma_m for o in obs), dtype=np.float64, count=len(obs))
            sig = np.maximum(sig, self.config.min_sigma_m)
            x, y = self.frame.to_local(lat, lon)
            inside = np.isfinite(x) & np.isfinite(y) & (np.hypot(x, y) <= self.region.radius_m)
            too_late = t < self.core.now_s - self.config.tracker.oos_window_s
            for k in np.flatnonzero(~inside | too_late).tolist():
                reason = "outside the region" if not inside[k] else "too late (older than the window)"
                rejected.append(RejectedObservation(accepted[k], str(obs[k].id)[:128], reason))
            ok = np.flatnonzero(inside & ~too_late)
            order = ok[np.argsort(t[ok], kind="stable")]
            z = np.column_stack((x, y))
            r = sig * sig
            self._unfused = []
            self._fuse(order, obs, t, z, r, touched, deleted)
            rejected.extend(
                RejectedObservation(accepted[k], str(obs[k].id)[:128], reason) for k, reason in self._unfused
            )
        swept = self.core.scan(self.core.now_s, np.empty((0, 2)), r_m2=np.empty(0), chance_rows=self._none())
        deleted.extend(self._forget(swept.deleted_ids, swept, touched))
        rejected.sort(key=lambda rej: rej.index)
        return FusionResult(tracks=self._snapshots(touched) + deleted, rejected=rejected)

    def _validate(
        self, observations: Sequence[Observation], now: datetime | None, rejected: list[RejectedObservation]
    ) -> tuple[list[int], list[float]]:
        """Return the positions of the acceptable reports and their times (POSIX seconds)."""
        limit_s = math.inf if now is None else now.timestamp() + self.config.max_future_s
        max_sigma = self.config.max_sigma_m
        max_identity = self.config.max_identity_chars
        accepted: list[int] = []
        times_s: list[float] = []
        for index, obs in enumerate(observations):
            reason = None
            if not isinstance(obs, Observation):
                rejected.append(RejectedObservation(index, None, "not an Observation"))
                continue
            if not (
                isinstance(obs.lat, float | int)
                and isinstance(obs.lon, float | int)
                and math.isfinite(obs.lat)
                and math.isfinite(obs.lon)
                and abs(obs.lat) <= 90.0
                and abs(obs.lon) <= 180.0
            ):
                reason = "position is not a valid latitude/longitude"
            elif not (
                isinstance(obs.position_sigma_m, float | int) and 0 < obs.position_sigma_m <= max_sigma
            ):
                reason = f"position_sigma_m must be in (0, {max_sigma:g}] m"
            elif obs.identity is not None and not (
                isinstance(obs.identity, str) and 0 < len(obs.identity) <= max_identity
            ):
                reason = f"identity must be a string of 1 to {max_identity} characters"
            elif not isinstance(obs.observed_at, datetime) or obs.observed_at.utcoffset() is None:
                reason = "observed_at must be an aware datetime"
            elif (when_s := obs.observed_at.timestamp()) > limit_s:
                reason = "observed_at is too far in the future"
            elif not isinstance(obs.marking, Marking) or obs.marking.classification not in self._known_levels:
                reason = "marking has an unknown classification"
            elif not (
                isinstance(obs.source, str)
                and isinstance(obs.agency, str)
                and isinstance(obs.target, TargetKind)
                and (obs.callsign is None or isinstance(obs.callsign, str))
            ):
                reason = "source, agency, target or callsign has the wrong type"
            if reason is None:
                accepted.append(index)
                times_s.append(when_s)
            else:
                rejected.append(RejectedObservation(index, str(obs.id)[:128], reason))
        return accepted, times_s

    def _none(self) -> np.ndarray:
        return np.zeros(len(self.core), dtype=bool)

    def _fuse(
        self,
        order: np.ndarray,
        obs: list[Observation],
        t: FloatArray,
        z: FloatArray,
        r: FloatArray,
        touched: set[int],
        deleted: list[Track],
    ) -> None:
        window = self.config.window_s
        start = 0
        sorted_t = t[order]
        while start < order.size:
            end = int(np.searchsorted(sorted_t, sorted_t[start] + window, side="left"))
            end = max(end, start + 1)
            chunk = order[start:end].tolist()
            start = end
            identified = [k for k in chunk if obs[k].identity is not None]
            anonymous = [k for k in chunk if obs[k].identity is None]
            if identified:
                self._fuse_identified(identified, obs, t, z, r, touched)
            by_source: dict[str, list[int]] = {}
            for k in anonymous:
                by_source.setdefault(obs[k].source, []).append(k)
            for members in by_source.values():
                idx = np.array(members, dtype=np.intp)
                outcome = self.core.scan(
                    float(t[idx].max()), z[idx], r_m2=r[idx], t_s=t[idx], chance_rows=self._none()
                )
                for core_id, det in zip(
                    outcome.hit_ids.tolist(), outcome.hit_detections.tolist(), strict=True
                ):
                    self._merge(core_id, obs[members[det]])
                    touched.add(core_id)
                for core_id, det in zip(
                    outcome.new_ids.tolist(), outcome.new_detections.tolist(), strict=True
                ):
                    self._info[core_id] = _TrackInfo(obs[members[det]], self._new_id(core_id))
                    touched.add(core_id)
                self._unfused.extend(
                    (members[det], _NOT_FUSED) for det in outcome.dropped_detections.tolist()
                )
                deleted.extend(self._forget(outcome.deleted_ids, outcome, touched))

    def _fuse_identified(
        self,
        members: list[int],
        obs: list[Observation],
        t: FloatArray,
        z: FloatArray,
        r: FloatArray,
        touched: set[int],
    ) -> None:
        # Round k holds each identity's k-th report (in time order), so one batch update per round
        # touches every track at most once.
        rounds: list[list[int]] = []
        seen: dict[str, int] = {}
        for k in members:
            identity = obs[k].identity
            assert identity is not None
            n = seen.get(identity, 0)
            seen[identity] = n + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(k)
        for batch in rounds:
            ids: list[int] = []
            rows: list[int] = []
            unbound: list[int] = []
            for k in batch:
                o = obs[k]
                core_id = self._by_identity.get(o.identity)  # type: ignore[arg-type]
                if core_id is None:
                    unbound.append(k)
                    continue
                ids.append(core_id)
                rows.append(k)
                self._merge(core_id, o)
                touched.add(core_id)
            if ids:
                idx = np.array(rows, dtype=np.intp)
                self.core.update_tracks(np.array(ids, dtype=np.int64), t[idx], z[idx], r[idx])
            if unbound:
                self._bind(unbound, obs, t, z, r, touched)

    def _bind(
        self,
        members: list[int],
        obs: list[Observation],
        t: FloatArray,
        z: FloatArray,
        r: FloatArray,
        touched: set[int],
    ) -> None:
        """First reports of identities (one each): each adopts a track without identity inside the
        gate (one-to-one, by the same GNN as detections), or starts a new track."""
        idx = np.array(members, dtype=np.intp)
        row_ids = self.core.row_ids()
        free_rows = np.flatnonzero(
            np.fromiter(
                (self._info[i].identity is None for i in row_ids.tolist()), dtype=bool, count=row_ids.size
            )
        )
        adopted = np.zeros(idx.size, dtype=bool)
        if free_rows.size:
            d2 = self.core.gate(t[idx], z[idx], r[idx], rows=free_rows)
            track_rows, cols = self.core.associator.associate(d2)
            core_ids = row_ids[free_rows[track_rows]]
            for core_id, col in zip(core_ids.tolist(), cols.tolist(), strict=True):
                o = obs[members[col]]
                assert o.identity is not None
                self._info[core_id].identity = o.identity
                self._by_identity[o.identity] = core_id
                self._merge(core_id, o)
                touched.add(core_id)
            if cols.size:
                self.core.update_tracks(core_ids, t[idx[cols]], z[idx[cols]], r[idx[cols]])
                adopted[cols] = True
        fresh = idx[~adopted]
        room = self.core.room()
        if fresh.size > room:
            self._unfused.extend((k, _NOT_FUSED) for k in fresh[room:].tolist())
            fresh = fresh[:room]
        if not fresh.size:
            return
        new_ids = self.core.create(t[fresh], z[fresh], r[fresh], confirmed=self.config.confirm_identified)
        for core_id, k in zip(new_ids.tolist(), fresh.tolist(), strict=True):
            o = obs[k]
            assert o.identity is not None
            returning = self._retired.pop(o.identity, None)
            self._info[core_id] = _TrackInfo(o, returning or self._new_id(core_id))
            self._by_identity[o.identity] = core_id
            touched.add(core_id)

    def _merge(self, core_id: int, o: Observation) -> None:
        info = self._info[core_id]
        if o.agency not in info.agencies:
            info.agencies = info.agencies | {o.agency}
        if o.source not in info.sources:
            info.sources = info.sources | {o.source}
        if o.callsign:
            info.callsign = o.callsign
        if o.target is not TargetKind.UNKNOWN:
            info.target = o.target
        if o.exercise:
            info.exercise = True
        if o.marking not in info.folded:
            if len(info.folded) < 64:  # bounds memory; folding again is only slower
                info.folded.add(o.marking)
            key = (info.marking, o.marking)
            combined = self._combined.get(key)
            if combined is None:
                combined = info.marking.combine(o.marking, self.ladder)
                if len(self._combined) > 10_000:
                    self._combined.clear()
                self._combined[key] = combined
            info.marking = combined

    def _forget(self, ids: np.ndarray, outcome: ScanOutcome, touched: set[int]) -> list[Track]:
        if not len(ids):
            return []
        pos, vel = outcome.deleted_pos_m, outcome.deleted_vel_mps
        t, sigma = outcome.deleted_t_s, outcome.deleted_sigma_m
        lat, lon = self.frame.to_geo(pos[:, 0], pos[:, 1])
        vel = np.column_stack(self.frame.true_velocity(lat, lon, vel))
        out: list[Track] = []
        for i, core_id in enumerate(ids.tolist()):
            info = self._info.pop(core_id)
            touched.discard(core_id)
            out.append(
                self._track(
                    info,
                    float(t[i]),
                    float(lat[i]),
                    float(lon[i]),
                    vel[i],
                    float(sigma[i]),
                    TrackStatus.DELETED,
                )
            )
            if info.identity is not None and self._by_identity.get(info.identity) == core_id:
                del self._by_identity[info.identity]
                if len(self._retired) >= self.config.max_retired_identities:
                    self._retired.pop(next(iter(self._retired)))  # forget the oldest
                self._retired[info.identity] = info.public_id
        return out

    def _snapshots(self, touched: set[int]) -> list[Track]:
        ids = np.array(sorted(touched), dtype=np.int64)
        if not ids.size:
            return []
        pos, vel, sigma, t, statuses = self.core.snapshot_arrays(ids)
        lat, lon = self.frame.to_geo(pos[:, 0], pos[:, 1])
        vel = np.column_stack(self.frame.true_velocity(lat, lon, vel))
        silent = self.core.now_s - t
        coast = self.config.coast_after_s
        out = []
        for i, core_id in enumerate(ids.tolist()):
            status = statuses[i]
            if status is TrackStatus.CONFIRMED and silent[i] > coast:
                status = TrackStatus.COASTING
            out.append(
                self._track(
                    self._info[core_id],
                    float(t[i]),
                    float(lat[i]),
                    float(lon[i]),
                    vel[i],
                    float(sigma[i]),
                    status,
                )
            )
        return out

    def _track(
        self,
        info: _TrackInfo,
        t_s: float,
        lat: float,
        lon: float,
        vel: FloatArray,
        sigma_m: float,
        status: TrackStatus,
    ) -> Track:
        return Track(
            id=info.public_id,
            updated_at=datetime.fromtimestamp(t_s, UTC),
            lat=lat,
            lon=lon,
            vel_east_mps=float(vel[0]),
            vel_north_mps=float(vel[1]),
            position_sigma_m=sigma_m,
            status=status,
            marking=info.marking,
            identity=info.identity,
            callsign=info.callsign,
            target=info.target,
            agencies=info.agencies,
            sources=info.sources,
            exercise=info.exercise,
        )
