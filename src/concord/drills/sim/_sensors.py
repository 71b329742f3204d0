"""Sensor models: coastal radars, camera towers and ground sensors, scanning all movers at once.

Each family (radar, camera, UGS) is a set of sites sharing parameters. A scan draws a detection for
every eligible mover inside a site's coverage with the family's detection probability, adds Gaussian
position error of ``sigma_m`` per axis, and adds a Poisson number of false alarms spread uniformly over
the site's coverage. Ground sensors do not locate what tripped them: they report their own position
with the coverage radius as the uncertainty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from concord.domain.observation import SensorKind

__all__ = ["ScanResult", "SensorFamily", "SensorSite"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorSite:
    """One simulated sensor (or feed) and where it stands. Ids double as Observation ``source``."""

    id: str
    agency: str
    kind: SensorKind
    lat: float | None  # None for a feed without a place of its own (TAK: patrols report themselves)
    lon: float | None
    range_m: float | None
    heading_deg: float | None = None  # cameras: centre of the field of view, clockwise from north
    fov_deg: float | None = None


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Detections of one family in one scan; ``rows`` is -1 for a false alarm."""

    site: IntArray
    rows: IntArray
    x_m: FloatArray
    y_m: FloatArray


_EMPTY = ScanResult(
    np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.float64)
)


class SensorFamily:
    """Sites of one kind sharing parameters; coverage polygons are in local metres."""

    def __init__(
        self,
        *,
        kind: SensorKind,
        ids: list[str],
        xs_m: FloatArray,
        ys_m: FloatArray,
        range_m: float,
        pd_near: float,
        pd_far: float,
        sigma_m: float | None,
        false_alarms_per_scan: float,
        scan_period_s: float,
        eligible_kinds: frozenset[int],
        clip: BaseGeometry | None = None,
        heading_deg: float | None = None,
        fov_deg: float | None = None,
        small_kinds: frozenset[int] = frozenset(),
        small_factor: float = 1.0,
    ) -> None:
        self.kind = kind
        self.ids = ids
        self.xs_m = xs_m
        self.ys_m = ys_m
        self.range_m = range_m
        self.pd_near = pd_near
        self.pd_far = pd_far
        self.sigma_m = sigma_m
        self.false_alarms_per_scan = false_alarms_per_scan
        self.scan_period_s = scan_period_s
        self.eligible = np.array(sorted(eligible_kinds), dtype=np.int64)
        self.small = np.array(sorted(small_kinds), dtype=np.int64)
        self.small_factor = small_factor
        self.heading_deg = heading_deg
        self.fov_deg = fov_deg
        self.next_scan = np.zeros(len(ids), dtype=np.float64)
        self.coverage: list[BaseGeometry] = []
        for x, y in zip(xs_m, ys_m, strict=True):
            geom = self._footprint(float(x), float(y))
            if clip is not None:
                geom = geom.intersection(clip)
            shapely.prepare(geom)
            self.coverage.append(geom)

    @property
    def reports_own_position(self) -> bool:
        return self.kind is SensorKind.UGS

    @property
    def position_sigma_m(self) -> float:
        return self.sigma_m if self.sigma_m is not None else self.range_m

    def _footprint(self, x: float, y: float) -> BaseGeometry:
        # The polygon circumscribes the true circle (vertices pushed out by 1/cos of half the step), so
        # everything within range lies inside the coverage drawn on a map.
        if self.fov_deg is None or self.heading_deg is None or self.fov_deg >= 360.0:
            quad_segs = 32
            outer = self.range_m / math.cos(math.pi / (4 * quad_segs))
            return Point(x, y).buffer(outer, quad_segs=quad_segs)
        half = self.fov_deg / 2.0
        steps = max(8, int(self.fov_deg / 2))
        outer = self.range_m / math.cos(math.radians(self.fov_deg / (steps - 1)) / 2.0)
        angles = np.radians(np.linspace(self.heading_deg - half, self.heading_deg + half, steps))
        arc = [(x + outer * math.sin(a), y + outer * math.cos(a)) for a in angles]
        return Polygon([(x, y), *arc])

    def _in_view(self, dx: FloatArray, dy: FloatArray) -> BoolArray:
        if self.fov_deg is None or self.heading_deg is None or self.fov_deg >= 360.0:
            return np.ones(dx.shape, dtype=np.bool_)
        bearing = np.degrees(np.arctan2(dx, dy))
        off = (bearing - self.heading_deg + 180.0) % 360.0 - 180.0
        return np.abs(off) <= self.fov_deg / 2.0

    def pd(self, range_m: FloatArray, kinds: IntArray) -> FloatArray:
        frac = np.clip(range_m / self.range_m, 0.0, 1.0)
        pd = self.pd_near + (self.pd_far - self.pd_near) * frac**2
        if self.small.size:
            pd = np.where(np.isin(kinds, self.small), pd * self.small_factor, pd)
        return pd

    def scan(
        self,
        t_s: float,
        up: BoolArray,
        rows: IntArray,
        kinds: IntArray,
        xs: FloatArray,
        ys: FloatArray,
        in_domain: BoolArray,
        rng: np.random.Generator,
    ) -> ScanResult:
        """Scan with every site that is due and up; ``rows``/``xs``/``ys`` are the live movers."""
        due = np.flatnonzero((self.next_scan <= t_s + 1e-9) & up)
        # A site that is down keeps its schedule; it is simply not heard from.
        self.next_scan[self.next_scan <= t_s + 1e-9] = t_s + self.scan_period_s
        if due.size == 0:
            return _EMPTY
        cand = np.flatnonzero(np.isin(kinds, self.eligible) & in_domain)
        sites_out: list[IntArray] = []
        rows_out: list[IntArray] = []
        x_out: list[FloatArray] = []
        y_out: list[FloatArray] = []
        if cand.size:
            dx = xs[cand][None, :] - self.xs_m[due][:, None]
            dy = ys[cand][None, :] - self.ys_m[due][:, None]
            rng_m = np.hypot(dx, dy)
            inside = (rng_m <= self.range_m) & self._in_view(dx, dy)
            si, ci = np.nonzero(inside)
            if si.size:
                pd = self.pd(rng_m[si, ci], kinds[cand[ci]])
                hit = rng.random(si.size) < pd
                si, ci = si[hit], ci[hit]
                movers = cand[ci]
                if self.reports_own_position:
                    px = self.xs_m[due[si]].copy()
                    py = self.ys_m[due[si]].copy()
                else:
                    noise = rng.normal(0.0, self.position_sigma_m, size=(si.size, 2))
                    px = xs[movers] + noise[:, 0]
                    py = ys[movers] + noise[:, 1]
                sites_out.append(due[si])
                rows_out.append(rows[movers])
                x_out.append(px)
                y_out.append(py)
        if self.false_alarms_per_scan > 0:
            counts = rng.poisson(self.false_alarms_per_scan, size=due.size)
            for site, count in zip(due, counts, strict=True):
                if count == 0:
                    continue
                fx, fy = self._clutter(int(site), int(count), rng)
                sites_out.append(np.full(fx.size, site, dtype=np.int64))
                rows_out.append(np.full(fx.size, -1, dtype=np.int64))
                x_out.append(fx)
                y_out.append(fy)
        if not sites_out:
            return _EMPTY
        return ScanResult(
            np.concatenate(sites_out), np.concatenate(rows_out), np.concatenate(x_out), np.concatenate(y_out)
        )

    def _clutter(self, site: int, count: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        if self.reports_own_position:
            return np.full(count, self.xs_m[site]), np.full(count, self.ys_m[site])
        geom = self.coverage[site]
        if geom.is_empty:
            return np.zeros(0), np.zeros(0)
        x0, y0, x1, y1 = geom.bounds
        got_x: list[FloatArray] = []
        got_y: list[FloatArray] = []
        need = count
        # Rejection sampling from the bounding box gives a uniform spread over the coverage polygon.
        for _ in range(64):
            batch = max(8, need * 4)
            px = rng.uniform(x0, x1, batch)
            py = rng.uniform(y0, y1, batch)
            ok = shapely.contains_xy(geom, px, py)
            got_x.append(px[ok][:need])
            got_y.append(py[ok][:need])
            need -= int(min(int(ok.sum()), need))
            if need == 0:
                break
        return np.concatenate(got_x), np.concatenate(got_y)
