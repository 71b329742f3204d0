"""Sensor coverage along the border: detection probability per section, ranked gaps, what-ifs.

Each section is a polyline in metres (a local projected frame). Points are sampled along it every
``spacing_m``; a point is seen by every sensor within range, each independently with its detection
probability, so P(detect) = 1 - prod_i (1 - pd_i). Points inside a terrain mask polygon (dead ground,
buildings, a ridge's shadow drawn by the analyst) are seen by no sensor. A section's detection
probability is the mean over its points (the chance a crossing at a uniformly random point is seen);
its weakest point is reported too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import shapely

from concord.domain.errors import InvalidInput
from concord.planning._game import FloatArray
from concord.planning._patrols import IMPACT_VALUES, PatrolUnits

__all__ = [
    "CoverageReport",
    "SectionCoverage",
    "SectionLine",
    "Sensor",
    "capability_matrix",
    "section_detection",
    "what_if_sensor",
]

MAX_POINTS_PER_SECTION = 10_000
#: Largest (sample points x sensors) one coverage computation may take (a few seconds of numpy).
MAX_POINT_SENSOR_PAIRS = 200_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Sensor:
    """A fixed sensor: position (m), range (m), detection probability within range, owner, terrain."""

    sensor_id: str
    agency: str
    x_m: float
    y_m: float
    range_m: float
    pd: float

    def __post_init__(self) -> None:
        values = (self.x_m, self.y_m, self.range_m, self.pd)
        if not all(np.isfinite(v) for v in values) or self.range_m < 0 or not 0 <= self.pd <= 1:
            raise InvalidInput(
                f"sensor {self.sensor_id}: position and range must be finite, range >= 0, pd in [0, 1]",
                details={"field": "sensors", "sensor": self.sensor_id},
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class SectionLine:
    """A border section as a polyline in metres, with its impact level and terrain."""

    section_id: str
    impact: str
    points_m: tuple[tuple[float, float], ...]
    terrain: str = "land"

    def __post_init__(self) -> None:
        if self.impact not in IMPACT_VALUES:
            raise InvalidInput(
                f"section {self.section_id}: impact must be one of {sorted(IMPACT_VALUES)}",
                details={"field": "impact", "section": self.section_id},
            )
        if len(self.points_m) < 2 or not np.all(np.isfinite(np.asarray(self.points_m, dtype=np.float64))):
            raise InvalidInput(
                f"section {self.section_id}: needs at least two finite points",
                details={"field": "points", "section": self.section_id},
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class SectionCoverage:
    """Detection along one section and its impact-weighted gap."""

    section_id: str
    impact: str
    length_m: float
    mean_pd: float
    min_pd: float
    weighted_gap: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "section": self.section_id,
            "impact": self.impact,
            "length_m": round(self.length_m, 3),
            "mean_pd": round(self.mean_pd, 6),
            "min_pd": round(self.min_pd, 6),
            "weighted_gap": round(self.weighted_gap, 6),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverageReport:
    """Per-section coverage, in the sections' order, and the ranking of gaps (worst first)."""

    sections: tuple[SectionCoverage, ...]

    @property
    def ranked(self) -> list[SectionCoverage]:
        """Sections by impact-weighted gap, worst first."""
        return sorted(self.sections, key=lambda s: (-s.weighted_gap, s.section_id))

    @property
    def total_weighted_gap(self) -> float:
        """Sum of the weighted gaps: one number to compare what-ifs."""
        return float(sum(s.weighted_gap for s in self.sections))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form with the ranking."""
        return {
            "total_weighted_gap": round(self.total_weighted_gap, 6),
            "ranked_gaps": [s.to_dict() for s in self.ranked],
        }


def _sample(line: SectionLine, spacing_m: float) -> tuple[FloatArray, float]:
    geom = shapely.LineString(line.points_m)
    length = float(geom.length)
    n = max(2, int(np.ceil(length / spacing_m)) + 1)
    if n > MAX_POINTS_PER_SECTION:
        raise InvalidInput(
            f"section {line.section_id}: spacing too fine for its length ({n} points)",
            details={"field": "spacing_m", "section": line.section_id},
        )
    pts = shapely.line_interpolate_point(geom, np.linspace(0.0, length, n))
    return np.asarray(shapely.get_coordinates(pts), dtype=np.float64), length


def _point_pd(pts: FloatArray, sensors: Sequence[Sensor], mask: shapely.Geometry | None) -> FloatArray:
    miss = np.ones(pts.shape[0])
    for s in sensors:
        d = np.hypot(pts[:, 0] - s.x_m, pts[:, 1] - s.y_m)
        miss *= np.where(d <= s.range_m, 1.0 - s.pd, 1.0)
    pd = 1.0 - miss
    if mask is not None:
        pd = np.where(shapely.contains_xy(mask, pts[:, 0], pts[:, 1]), 0.0, pd)
    return pd


def _mask(polygons: Sequence[Sequence[tuple[float, float]]] | None) -> shapely.Geometry | None:
    if not polygons:
        return None
    try:
        shapes = [shapely.Polygon(p) for p in polygons]
    except (ValueError, TypeError, shapely.errors.GEOSException) as exc:
        raise InvalidInput("terrain mask polygons are malformed", details={"field": "mask"}) from exc
    if not all(s.is_valid for s in shapes):
        raise InvalidInput(
            "terrain mask polygons must be valid (no self-intersection)", details={"field": "mask"}
        )
    merged = shapely.union_all(shapes)
    shapely.prepare(merged)
    return merged


def section_detection(
    sections: Sequence[SectionLine],
    sensors: Sequence[Sensor],
    *,
    mask: Sequence[Sequence[tuple[float, float]]] | None = None,
    spacing_m: float = 100.0,
) -> CoverageReport:
    """Detection probability per section and the impact-weighted gaps (impact value * (1 - mean pd))."""
    if not np.isfinite(spacing_m) or spacing_m <= 0:
        raise InvalidInput("spacing_m must be > 0", details={"field": "spacing_m"})
    geom_mask = _mask(mask)
    lengths = [float(shapely.LineString(line.points_m).length) for line in sections]
    n_points = sum(max(2, int(np.ceil(length / spacing_m)) + 1) for length in lengths)
    pairs = n_points * max(1, len(sensors))
    if pairs > MAX_POINT_SENSOR_PAIRS:
        raise InvalidInput(
            f"too much work: {pairs} point-sensor pairs (limit {MAX_POINT_SENSOR_PAIRS}); coarsen spacing_m",
            details={"field": "spacing_m"},
        )
    out: list[SectionCoverage] = []
    for line in sections:
        pts, length = _sample(line, spacing_m)
        pd = _point_pd(pts, sensors, geom_mask)
        mean_pd = float(pd.mean())
        out.append(
            SectionCoverage(
                section_id=line.section_id,
                impact=line.impact,
                length_m=length,
                mean_pd=mean_pd,
                min_pd=float(pd.min()),
                weighted_gap=IMPACT_VALUES[line.impact] * (1.0 - mean_pd),
            )
        )
    return CoverageReport(sections=tuple(out))


def what_if_sensor(
    sections: Sequence[SectionLine],
    sensors: Sequence[Sensor],
    *,
    add: Sensor | None = None,
    move: tuple[str, float, float] | None = None,
    remove: str | None = None,
    mask: Sequence[Sequence[tuple[float, float]]] | None = None,
    spacing_m: float = 100.0,
) -> dict[str, Any]:
    """Coverage before and after adding, moving (id, x_m, y_m) or removing a sensor."""
    after = list(sensors)
    ids = {s.sensor_id for s in sensors}
    if move is not None:
        if move[0] not in ids:
            raise InvalidInput(f"no sensor {move[0]!r} to move", details={"field": "move"})
        after = [replace(s, x_m=move[1], y_m=move[2]) if s.sensor_id == move[0] else s for s in after]
    if remove is not None:
        if remove not in ids:
            raise InvalidInput(f"no sensor {remove!r} to remove", details={"field": "remove"})
        after = [s for s in after if s.sensor_id != remove]
    if add is not None:
        after.append(add)
    before_report = section_detection(sections, sensors, mask=mask, spacing_m=spacing_m)
    after_report = section_detection(sections, after, mask=mask, spacing_m=spacing_m)
    changes = [
        {
            "section": b.section_id,
            "mean_pd_before": round(b.mean_pd, 6),
            "mean_pd_after": round(a.mean_pd, 6),
        }
        for b, a in zip(before_report.sections, after_report.sections, strict=True)
        if abs(a.mean_pd - b.mean_pd) > 1e-12
    ]
    return {
        "total_weighted_gap_before": round(before_report.total_weighted_gap, 6),
        "total_weighted_gap_after": round(after_report.total_weighted_gap, 6),
        "changed_sections": changes,
    }


def capability_matrix(
    sections: Sequence[SectionLine],
    sensors: Sequence[Sensor],
    units: Sequence[PatrolUnits],
    *,
    mask: Sequence[Sequence[tuple[float, float]]] | None = None,
    spacing_m: float = 100.0,
) -> dict[str, Mapping[str, dict[str, Any]]]:
    """Per agency and section: pd of the agency's own sensors, and its unit kinds able to patrol it."""
    agencies = sorted({s.agency for s in sensors} | {u.agency for u in units})
    out: dict[str, Mapping[str, dict[str, Any]]] = {}
    for agency in agencies:
        own = [s for s in sensors if s.agency == agency]
        report = section_detection(sections, own, mask=mask, spacing_m=spacing_m)
        row: dict[str, dict[str, Any]] = {}
        for line, cov in zip(sections, report.sections, strict=True):
            row[line.section_id] = {
                "sensor_pd": round(cov.mean_pd, 6),
                "patrol_units": sorted(
                    u.name for u in units if u.agency == agency and line.terrain in u.terrains
                ),
            }
        out[agency] = row
    return out
