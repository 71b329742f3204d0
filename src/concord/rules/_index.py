"""The spatial index over zones: which zones contain a point, which borders a step crosses, what is near.

Zones are projected once to local metres (:mod:`concord.rules._projection`) and held in shapely
STRtrees; queries take whole batches of positions so the predicates run vectorised in GEOS, and only
the (rare) hits come back to Python. Border lines are indexed in pieces of a few segments, so a long
border's envelope does not make every nearby point a candidate. Crossing direction is computed here
exactly, segment by segment, with a half-open rule so a step through a border vertex counts once and a
step that only touches a vertex counts not at all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import shapely
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from concord.domain.zone import BorderSide, Zone, ZoneKind
from concord.rules._projection import LocalProjection

__all__ = ["Crossing", "ZoneIndex"]

FloatArray = npt.NDArray[np.float64]
Direction = Literal["inbound", "outbound"]


@dataclass(frozen=True, slots=True)
class Crossing:
    """One crossing of a border line by one step of a track (from the previous position to this one)."""

    zone: int  # index of the border-line zone
    direction: Direction
    fraction: float  # where along the step, 0 = previous position, 1 = this one
    x: float
    y: float
    margin_m: float  # distance of the nearer step end from the border segment


@dataclass(frozen=True, slots=True)
class _BorderSegments:
    ax: FloatArray
    ay: FloatArray
    bx: FloatArray
    by: FloatArray
    dx: FloatArray
    dy: FloatArray
    length: FloatArray
    home_left: bool


_PIECE_SEGMENTS = 16  # border lines are cut into pieces this long so tree envelopes stay tight
_TOUCH_M = 1e-6  # two opposite crossings closer than this along a step are a touch, not crossings
_EMPTY: frozenset[int] = frozenset()


def _pieces(geom: BaseGeometry) -> list[FloatArray]:
    """The vertex arrays of a border line cut into runs of at most ``_PIECE_SEGMENTS`` segments."""
    parts = list(geom.geoms) if geom.geom_type == "MultiLineString" else [geom]
    pieces: list[FloatArray] = []
    for part in parts:
        coords = np.asarray(part.coords, dtype=np.float64)[:, :2]
        for start in range(0, len(coords) - 1, _PIECE_SEGMENTS):
            pieces.append(coords[start : start + _PIECE_SEGMENTS + 1])
    return pieces


def _segments(coords: FloatArray, home_side: BorderSide) -> _BorderSegments:
    a = coords[:-1]
    b = coords[1:]
    d = b - a
    return _BorderSegments(
        ax=a[:, 0].copy(),
        ay=a[:, 1].copy(),
        bx=b[:, 0].copy(),
        by=b[:, 1].copy(),
        dx=d[:, 0].copy(),
        dy=d[:, 1].copy(),
        length=np.hypot(d[:, 0], d[:, 1]),
        home_left=home_side is BorderSide.LEFT,
    )


def _drop_touches(found: list[Crossing], step_m: float) -> list[Crossing]:
    """Cancel pairs of opposite crossings at the same spot: the step touches a border vertex.

    The half-open rule counts such a touch as out-and-in; rounding can order the two either way, so
    they are cancelled rather than reported.
    """
    found.sort(key=lambda c: c.fraction)
    kept: list[Crossing] = []
    for crossing in found:
        if (
            kept
            and kept[-1].direction != crossing.direction
            and (crossing.fraction - kept[-1].fraction) * step_m <= _TOUCH_M
        ):
            kept.pop()
            continue
        kept.append(crossing)
    return kept


class ZoneIndex:
    """Zones in local metres behind STRtrees. Zone numbers are positions in :attr:`zones`."""

    def __init__(self, zones: Sequence[Zone], projection: LocalProjection | None = None) -> None:
        seen: set[str] = set()
        for zone in zones:
            if zone.id in seen:
                raise ValueError(f"duplicate zone id {zone.id!r}")
            seen.add(zone.id)
        self.zones: tuple[Zone, ...] = tuple(zones)
        self.projection = projection or LocalProjection.around(z.geometry for z in self.zones)
        self.by_id: dict[str, int] = {z.id: i for i, z in enumerate(self.zones)}
        self.geometries: list[BaseGeometry] = [self.projection.geometry(z.geometry) for z in self.zones]
        shapely.prepare(self.geometries)

        self._area_ids = np.array(
            [i for i, g in enumerate(self.geometries) if g.geom_type in ("Polygon", "MultiPolygon")],
            dtype=np.intp,
        )
        self._border_ids = np.array(
            [i for i, z in enumerate(self.zones) if z.kind is ZoneKind.BORDER_LINE], dtype=np.intp
        )
        self._area_tree = STRtree([self.geometries[i] for i in self._area_ids])
        # Border lines go into their tree as pieces; each piece knows its zone and its segments.
        piece_zone: list[int] = []
        piece_geoms: list[BaseGeometry] = []
        self._piece_segments: list[_BorderSegments] = []
        for i in self._border_ids.tolist():
            for coords in _pieces(self.geometries[i]):
                piece_zone.append(i)
                piece_geoms.append(shapely.LineString(coords))
                self._piece_segments.append(_segments(coords, self.zones[i].home_side))
        self._piece_zone = np.asarray(piece_zone, dtype=np.intp)
        self._piece_geoms = np.asarray(piece_geoms, dtype=object)
        shapely.prepare(self._piece_geoms)
        self._border_tree = STRtree(piece_geoms)
        self._all_tree = STRtree(self.geometries)
        self._kind_cache: dict[frozenset[ZoneKind], frozenset[int]] = {}
        self._interned: dict[frozenset[int], frozenset[int]] = {}

    @property
    def has_borders(self) -> bool:
        return len(self._border_ids) > 0

    def of_kinds(self, kinds: frozenset[ZoneKind]) -> frozenset[int]:
        """Numbers of the zones whose kind is in ``kinds`` (cached per set of kinds)."""
        found = self._kind_cache.get(kinds)
        if found is None:
            found = frozenset(i for i, z in enumerate(self.zones) if z.kind in kinds)
            self._kind_cache[kinds] = found
        return found

    def locate(self, xs: FloatArray, ys: FloatArray) -> list[frozenset[int]]:
        """For each point, the polygonal zones containing it (boundary included).

        Equal sets are returned as the same object (most tracks share a handful of zone sets), which
        makes the engine's "zones changed?" test an identity check most of the time.
        """
        n = len(xs)
        if not n or not len(self._area_ids):
            return [_EMPTY] * n
        pairs = self._area_tree.query(shapely.points(xs, ys), predicate="intersects")
        points = pairs[0]
        order = np.argsort(points, kind="stable")  # the tree answers grouped by zone, not by point
        zone_ids = self._area_ids[pairs[1][order]].tolist()
        bounds = np.searchsorted(points[order], np.arange(n + 1)).tolist()
        interned = self._interned
        result: list[frozenset[int]] = []
        for i in range(n):
            lo, hi = bounds[i], bounds[i + 1]
            if lo == hi:
                result.append(_EMPTY)
                continue
            found = frozenset(zone_ids[lo:hi])
            result.append(interned.setdefault(found, found))
        if len(interned) > 100_000:  # bound the intern table on pathological inputs
            interned.clear()
        return result

    def locate_one(self, x: float, y: float) -> frozenset[int]:
        """The polygonal zones containing one point."""
        if not len(self._area_ids):
            return frozenset()
        hits = self._area_tree.query(shapely.Point(x, y), predicate="intersects")
        return frozenset(int(self._area_ids[i]) for i in hits.tolist())

    def crossings(
        self, x0: FloatArray, y0: FloatArray, x1: FloatArray, y1: FloatArray
    ) -> dict[int, list[Crossing]]:
        """For the steps (x0, y0) -> (x1, y1) that cross a border, the crossings in order along the step."""
        result: dict[int, list[Crossing]] = {}
        if not len(x0) or not len(self._border_ids):
            return result
        coords = np.empty((len(x0), 2, 2), dtype=np.float64)
        coords[:, 0, 0], coords[:, 0, 1], coords[:, 1, 0], coords[:, 1, 1] = x0, y0, x1, y1
        steps = shapely.linestrings(coords)
        pairs = self._border_tree.query(steps, predicate="intersects")
        per_zone: dict[tuple[int, int], list[Crossing]] = {}
        for step, piece in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
            zone = int(self._piece_zone[piece])
            found = self._cross(
                piece, zone, float(x0[step]), float(y0[step]), float(x1[step]), float(y1[step])
            )
            if found:
                per_zone.setdefault((step, zone), []).extend(found)
        for (step, _zone), found in per_zone.items():
            if len(found) > 1:
                step_m = math.hypot(float(x1[step] - x0[step]), float(y1[step] - y0[step]))
                found = _drop_touches(found, step_m)
            result.setdefault(step, []).extend(found)
        for found in result.values():
            if len(found) > 1:
                found.sort(key=lambda c: c.fraction)
        return {step: found for step, found in result.items() if found}

    def _cross(self, piece: int, zone: int, px: float, py: float, qx: float, qy: float) -> list[Crossing]:
        seg = self._piece_segments[piece]
        # Side of each step end against each border segment (cross product > 0: left of the segment).
        d1 = seg.dx * (py - seg.ay) - seg.dy * (px - seg.ax)
        d2 = seg.dx * (qy - seg.ay) - seg.dy * (qx - seg.ax)
        # Side of each border vertex against the step; "> 0" on both tests makes them half-open, so a
        # step through a shared vertex, or ending exactly on the line, counts once.
        sx, sy = qx - px, qy - py
        e1 = sx * (seg.ay - py) - sy * (seg.ax - px)
        # The end vertex as stored (not a + d, which rounds differently from the next segment's start).
        e2 = sx * (seg.by - py) - sy * (seg.bx - px)
        hit = ((d1 > 0) != (d2 > 0)) & ((e1 > 0) != (e2 > 0))
        found: list[Crossing] = []
        for k in np.flatnonzero(hit).tolist():
            a, b = float(d1[k]), float(d2[k])
            t = a / (a - b)
            p_left = a > 0
            length = float(seg.length[k]) or 1.0
            found.append(
                Crossing(
                    zone=zone,
                    direction="outbound" if p_left == seg.home_left else "inbound",
                    fraction=t,
                    x=px + t * sx,
                    y=py + t * sy,
                    margin_m=min(abs(a), abs(b)) / length,
                )
            )
        return found

    def near_borders(
        self, xs: FloatArray, ys: FloatArray, distance_m: float
    ) -> dict[int, list[tuple[int, float]]]:
        """For the points within ``distance_m`` of a border line: each such border and its distance."""
        result: dict[int, list[tuple[int, float]]] = {}
        if not len(xs) or not len(self._border_ids):
            return result
        points = shapely.points(xs, ys)
        pairs = self._border_tree.query(points, predicate="dwithin", distance=distance_m)
        if pairs.shape[1] == 0:
            return result
        dists = shapely.distance(points[pairs[0]], self._piece_geoms[pairs[1]])
        zones = self._piece_zone[pairs[1]].tolist()
        nearest: dict[tuple[int, int], float] = {}
        for point, zone, dist in zip(pairs[0].tolist(), zones, dists.tolist(), strict=True):
            key = (point, zone)
            if dist < nearest.get(key, math.inf):
                nearest[key] = dist
        for (point, zone), dist in nearest.items():
            result.setdefault(point, []).append((zone, dist))
        return result

    def near(
        self, x: float, y: float, distance_m: float, kinds: frozenset[ZoneKind]
    ) -> list[tuple[int, float]]:
        """Zones of ``kinds`` within ``distance_m`` of one point, nearest first."""
        point = shapely.Point(x, y)
        found = [
            int(i)
            for i in self._all_tree.query(point, predicate="dwithin", distance=distance_m).tolist()
            if self.zones[int(i)].kind in kinds
        ]
        if not found:
            return []
        dists = shapely.distance(point, np.asarray([self.geometries[i] for i in found], dtype=object))
        return sorted(zip(found, (float(d) for d in dists.tolist()), strict=True), key=lambda p: p[1])
