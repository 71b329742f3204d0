"""Vectorised movers: every simulated object follows a route of waypoints at its own speed.

All movers live in one table of numpy arrays (positions in local metres). A route is up to
:data:`MAX_WAYPOINTS` waypoints; on reaching waypoint k a mover holds there until
``max(arrival + dwell[k], not_before[k])``, wandering inside ``loiter[k]`` metres if that is positive,
then heads for waypoint k+1. Looping routes (patrols) start over; others finish, and the scenario
retires the mover. One step moves every mover at once; only movers that reach a waypoint inside the
step go round the (short) inner loop again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from concord.drills.sim._truth import TruthKind

__all__ = ["MAX_WAYPOINTS", "MoverSpec", "MoverTable"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

MAX_WAYPOINTS = 32
_KINDS = tuple(TruthKind)
# Wandering while holding: speed caps keep a loiterer "slow" whatever the step length.
_LOITER_SPEED_MPS = {
    TruthKind.WALKER: 0.4,
    TruthKind.VEHICLE: 0.0,
    TruthKind.BOAT: 0.3,
    TruthKind.VESSEL: 0.3,
    TruthKind.FOOT_PATROL: 0.3,
    TruthKind.VEHICLE_PATROL: 0.0,
    TruthKind.PATROL_BOAT: 0.5,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MoverSpec:
    """What a new mover needs: its route with per-waypoint dwell, earliest departure and loiter radius.

    The mover starts at ``route[0]`` as if it had just arrived there.
    """

    truth_id: str
    kind: TruthKind
    route: tuple[tuple[float, float], ...]
    speed_mps: float
    dwell_s: tuple[float, ...] | None = None
    not_before_s: tuple[float, ...] | None = None
    loiter_m: tuple[float, ...] | None = None
    loop: bool = False
    role: str = ""
    mmsi: int | None = None
    vessel_name: str | None = None
    tak_uid: str | None = None
    callsign: str | None = None
    agency: str | None = None


class MoverTable:
    """Structure-of-arrays store of movers; rows of retired movers are reused."""

    active: BoolArray
    kind: IntArray
    pos: FloatArray
    prev: FloatArray
    route: FloatArray
    dwell: FloatArray
    not_before: FloatArray
    loiter: FloatArray
    rlen: IntArray
    seg: IntArray
    loop: BoolArray
    finished: BoolArray
    speed: FloatArray
    hold_until: FloatArray
    hold_loiter: FloatArray
    anchor: FloatArray
    wobble: FloatArray
    wobble_v: FloatArray
    loiter_speed: FloatArray
    vel: FloatArray
    has_ais: BoolArray
    ais_on: BoolArray
    mmsi: IntArray
    next_ais: FloatArray
    next_static: FloatArray
    has_tak: BoolArray
    next_tak: FloatArray

    def __init__(self, capacity: int = 64) -> None:
        self.cap = 0
        self.ids: list[str] = []
        self.specs: list[MoverSpec | None] = []
        self.row_of: dict[str, int] = {}
        self._alloc(max(capacity, 8))

    # name -> (shape per row, dtype); every array is (capacity, *shape).
    _FIELDS: ClassVar[dict[str, tuple[tuple[int, ...], type[np.generic]]]] = {
        "active": ((), np.bool_),
        "kind": ((), np.int64),
        "pos": ((2,), np.float64),
        "prev": ((2,), np.float64),
        "route": ((MAX_WAYPOINTS, 2), np.float64),
        "dwell": ((MAX_WAYPOINTS,), np.float64),
        "not_before": ((MAX_WAYPOINTS,), np.float64),
        "loiter": ((MAX_WAYPOINTS,), np.float64),
        "rlen": ((), np.int64),
        "seg": ((), np.int64),
        "loop": ((), np.bool_),
        "finished": ((), np.bool_),
        "speed": ((), np.float64),
        "hold_until": ((), np.float64),
        "hold_loiter": ((), np.float64),
        "anchor": ((2,), np.float64),
        "wobble": ((2,), np.float64),
        "wobble_v": ((2,), np.float64),
        "loiter_speed": ((), np.float64),
        "vel": ((2,), np.float64),
        # Feed state: AIS transmitter and TAK device.
        "has_ais": ((), np.bool_),
        "ais_on": ((), np.bool_),
        "mmsi": ((), np.int64),
        "next_ais": ((), np.float64),
        "next_static": ((), np.float64),
        "has_tak": ((), np.bool_),
        "next_tak": ((), np.float64),
    }

    def _alloc(self, cap: int) -> None:
        """Grow every array to ``cap`` rows, keeping the rows already in use."""
        old = self.cap
        for name, (shape, dtype) in self._FIELDS.items():
            new = np.zeros((cap, *shape), dtype=dtype)
            if old:
                new[:old] = getattr(self, name)[:old]
            setattr(self, name, new)
        self.ids.extend([""] * (cap - old))
        self.specs.extend([None] * (cap - old))
        self.cap = cap

    # -- life cycle ---------------------------------------------------------------------------------

    def add(self, spec: MoverSpec, now_s: float) -> int:
        n = len(spec.route)
        if not 1 <= n <= MAX_WAYPOINTS:
            raise ValueError(f"a route needs 1 to {MAX_WAYPOINTS} waypoints, got {n}")
        if not (math.isfinite(spec.speed_mps) and spec.speed_mps > 0):
            raise ValueError(f"speed_mps {spec.speed_mps!r} must be a positive number")
        if spec.truth_id in self.row_of:
            raise ValueError(f"truth id {spec.truth_id!r} already in use")
        free = np.flatnonzero(~self.active[: self.cap])
        if free.size == 0:
            row = self.cap
            self._alloc(self.cap * 2)
        else:
            row = int(free[0])
        route = np.asarray(spec.route, dtype=np.float64)
        self.route[row] = 0.0
        self.route[row, :n] = route
        self.dwell[row] = 0.0
        self.not_before[row] = 0.0
        self.loiter[row] = 0.0
        if spec.dwell_s is not None:
            self.dwell[row, :n] = spec.dwell_s
        if spec.not_before_s is not None:
            self.not_before[row, :n] = spec.not_before_s
        if spec.loiter_m is not None:
            self.loiter[row, :n] = spec.loiter_m
        self.rlen[row] = n
        self.seg[row] = 0
        self.loop[row] = spec.loop
        self.speed[row] = spec.speed_mps
        self.kind[row] = _KINDS.index(spec.kind)
        self.loiter_speed[row] = _LOITER_SPEED_MPS[spec.kind]
        self.pos[row] = route[0]
        self.prev[row] = route[0]
        self.vel[row] = 0.0
        self.finished[row] = False
        self.active[row] = True
        self.has_ais[row] = spec.mmsi is not None
        self.ais_on[row] = spec.mmsi is not None
        self.mmsi[row] = spec.mmsi if spec.mmsi is not None else 0
        self.next_ais[row] = now_s
        self.next_static[row] = now_s
        self.has_tak[row] = spec.tak_uid is not None
        self.next_tak[row] = now_s
        self.ids[row] = spec.truth_id
        self.specs[row] = spec
        self.row_of[spec.truth_id] = row
        self._arrive(np.array([row]), np.array([now_s]))
        return row

    def retire(self, row: int) -> None:
        self.active[row] = False
        self.row_of.pop(self.ids[row], None)
        self.specs[row] = None

    def _arrive(self, rows: IntArray, t_arr: FloatArray) -> None:
        """Rows have just reached waypoint ``seg``: start holding there and point at the next one."""
        k = self.seg[rows]
        self.hold_until[rows] = np.maximum(t_arr + self.dwell[rows, k], self.not_before[rows, k])
        self.hold_loiter[rows] = self.loiter[rows, k]
        self.anchor[rows] = self.route[rows, k]
        self.wobble[rows] = 0.0
        self.wobble_v[rows] = 0.0
        nxt = k + 1
        at_end = nxt >= self.rlen[rows]
        self.seg[rows] = np.where(at_end & self.loop[rows], 0, np.minimum(nxt, self.rlen[rows] - 1))
        done = at_end & ~self.loop[rows]
        self.finished[rows[done]] = True

    # -- the step -----------------------------------------------------------------------------------

    def step(self, t0: float, t1: float, rng: np.random.Generator) -> None:
        """Advance every active mover from sim time ``t0`` to ``t1`` seconds."""
        dt = t1 - t0
        cap = self.cap
        self.prev[:cap] = self.pos[:cap]
        live = self.active[:cap] & ~self.finished[:cap]
        free_time = np.clip(t1 - np.maximum(t0, self.hold_until[:cap]), 0.0, None)
        remaining = np.where(live, self.speed[:cap] * free_time, 0.0)
        idx = np.flatnonzero(remaining > 0)
        # Movers whose hold ended inside this step leave from where they wandered to.
        for _ in range(2 * MAX_WAYPOINTS + 2):
            if idx.size == 0:
                break
            wp = self.route[idx, self.seg[idx]]
            delta = wp - self.pos[idx]
            dist = np.hypot(delta[:, 0], delta[:, 1])
            rem = remaining[idx]
            reach = rem >= dist
            go = ~reach
            if go.any():
                g = idx[go]
                frac = (rem[go] / dist[go])[:, None]
                self.pos[g] += delta[go] * frac
                remaining[g] = 0.0
            if reach.any():
                r = idx[reach]
                self.pos[r] = wp[reach]
                left = rem[reach] - dist[reach]
                t_arr = t1 - left / self.speed[r]
                self._arrive(r, t_arr)
                after_hold = np.clip(t1 - self.hold_until[r], 0.0, None)
                remaining[r] = np.where(self.finished[r], 0.0, self.speed[r] * after_hold)
            idx = idx[remaining[idx] > 0]
        self._wander(t1, dt, rng)
        self._velocity(t1)

    def _velocity(self, t1: float) -> None:
        """Instantaneous velocity at ``t1``: along the leg for movers under way, the wander when holding."""
        cap = self.cap
        holding = self.finished[:cap] | (self.hold_until[:cap] > t1)
        ahead = self.route[np.arange(cap), self.seg[:cap]] - self.pos[:cap]
        dist = np.hypot(ahead[:, 0], ahead[:, 1])
        safe = np.where(dist > 0, dist, 1.0)
        under_way = ahead * (self.speed[:cap] / safe)[:, None]
        under_way[dist == 0] = 0.0
        wander = np.where((self.hold_loiter[:cap] > 0)[:, None], self.wobble_v[:cap], 0.0)
        self.vel[:cap] = np.where(holding[:, None], wander, under_way)

    def _wander(self, t1: float, dt: float, rng: np.random.Generator) -> None:
        cap = self.cap
        rows = np.flatnonzero(self.active[:cap] & (self.hold_until[:cap] > t1) & (self.hold_loiter[:cap] > 0))
        if rows.size == 0 or dt <= 0:
            return
        vmax = self.loiter_speed[rows]
        radius = self.hold_loiter[rows]
        v = (
            self.wobble_v[rows]
            + rng.normal(0.0, 1.0, size=(rows.size, 2)) * (vmax * min(1.0, dt / 20.0))[:, None]
        )
        speed = np.hypot(v[:, 0], v[:, 1])
        too_fast = speed > vmax
        v[too_fast] *= (vmax[too_fast] / speed[too_fast])[:, None]
        w = self.wobble[rows] + v * dt
        dist = np.hypot(w[:, 0], w[:, 1])
        out = dist > radius
        # Bounce off the edge of the loiter circle: stay inside, turn back towards the anchor.
        w[out] *= (radius[out] / dist[out])[:, None]
        v[out] = -v[out]
        self.wobble[rows] = w
        self.wobble_v[rows] = v
        self.pos[rows] = self.anchor[rows] + w

    # -- queries ------------------------------------------------------------------------------------

    def live_rows(self) -> IntArray:
        return np.flatnonzero(self.active[: self.cap])

    def kinds_of(self, rows: IntArray) -> list[TruthKind]:
        return [_KINDS[int(k)] for k in self.kind[rows]]

    def kind_code(self, kind: TruthKind) -> int:
        return _KINDS.index(kind)

    def future_position(self, row: int, now_s: float, at_s: float) -> tuple[float, float, int] | None:
        """Where ``row`` will be at ``at_s`` on its current route, and the waypoint it will be heading for.

        None when the route ends (or loops) first or the mover would be holding at a waypoint then.
        """
        cursor = max(now_s, float(self.hold_until[row]))
        if cursor >= at_s or self.finished[row]:
            return None
        pos = self.pos[row].copy()
        speed = float(self.speed[row])
        k = int(self.seg[row])
        n = int(self.rlen[row])
        while k < n:
            wp = self.route[row, k]
            dist = float(np.hypot(*(wp - pos)))
            arrival = cursor + dist / speed
            if arrival >= at_s:
                frac = (at_s - cursor) * speed / dist if dist > 0 else 1.0
                p = pos + (wp - pos) * frac
                return (float(p[0]), float(p[1]), k)
            cursor = max(arrival + float(self.dwell[row, k]), float(self.not_before[row, k]))
            if cursor >= at_s:
                return None
            pos = wp.copy()
            k += 1
        return None

    def insert_waypoint(
        self, row: int, index: int, point: tuple[float, float], *, not_before_s: float, loiter_m: float
    ) -> None:
        n = int(self.rlen[row])
        if n >= MAX_WAYPOINTS:
            raise ValueError("route is full")
        for arr in (self.route, self.dwell, self.not_before, self.loiter):
            arr[row, index + 1 : n + 1] = arr[row, index:n].copy()
        self.route[row, index] = point
        self.dwell[row, index] = 0.0
        self.not_before[row, index] = not_before_s
        self.loiter[row, index] = loiter_m
        self.rlen[row] = n + 1
