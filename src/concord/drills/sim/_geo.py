"""The fictional border region the simulator plays in: land border, coast, zones, roads, sea lanes.

The region spans roughly lat 40.70-41.60, lon 26.00-27.00. Home territory lies east of a land border
that runs north-south and meets the sea in the south; the neighbour lies to the west. All movement is
computed in a local azimuthal-equidistant plane (metres east/north of lat 41.3, lon 26.5); zones are
exported in WGS84 longitude/latitude.

Both the land border and the coastline are drawn so that the border is monotone in northing and the
coastline monotone in easting: which side of either a point lies on is then one ``numpy.interp`` away,
so crossing tests stay vectorised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from concord.domain.zone import SectionImpact, Zone, ZoneKind

__all__ = ["CrossingPoint", "Region", "default_region"]

FloatArray = NDArray[np.float64]

NAUTICAL_MILE_M = 1852.0
TERRITORIAL_SEA_M = 12 * NAUTICAL_MILE_M
CONTIGUOUS_ZONE_M = 24 * NAUTICAL_MILE_M

_ORIGIN_LAT = 41.3
_ORIGIN_LON = 26.5
_WEST, _EAST, _SOUTH, _NORTH = 26.0, 27.0, 40.70, 41.60

# Drawn north to south, so the home territory (east) is on the left, the Zone default.
_BORDER_LONLAT = [
    (26.42, 41.60),
    (26.45, 41.52),
    (26.41, 41.45),
    (26.47, 41.38),
    (26.44, 41.30),
    (26.49, 41.22),
    (26.46, 41.15),
]
_COAST_LONLAT = [
    (26.00, 41.10),
    (26.20, 41.13),
    (26.46, 41.15),
    (26.60, 41.12),
    (26.75, 41.16),
    (26.90, 41.14),
    (27.00, 41.17),
]
# The maritime boundary runs from the land border's end out to sea.
_MARITIME_END_LONLAT = (26.40, _SOUTH)

_PORT_LONLAT = (26.75, 41.16)
_PORT_RADIUS_M = 1500.0
_CROSSING_RADIUS_M = 800.0
_CROSSINGS = (("cp-north", "Northgate crossing", 41.45), ("cp-south", "Southgate crossing", 41.30))

# (id, name, southern lat, northern lat, impact level)
_SECTIONS = (
    ("sec-1", "Section 1 (Highlands)", 41.52, 41.60, SectionImpact.LOW),
    ("sec-2", "Section 2 (Northgate)", 41.42, 41.52, SectionImpact.MEDIUM),
    ("sec-3", "Section 3 (River Bend)", 41.33, 41.42, SectionImpact.HIGH),
    ("sec-4", "Section 4 (Southgate)", 41.24, 41.33, SectionImpact.CRITICAL),
    ("sec-5", "Section 5 (Delta)", 41.15, 41.24, SectionImpact.HIGH),
)
_SECTION_HALF_WIDTH_M = 5000.0
_BP_STRIP_M = 10_000.0
_ARMY_FROM_M, _ARMY_TO_M = 10_000.0, 30_000.0

_RESTRICTED_LONLAT = [(26.58, 41.36), (26.66, 41.36), (26.67, 41.41), (26.60, 41.43), (26.56, 41.40)]

# Roads through the crossing points, west to east, in lon/lat; the crossing is inserted between.
_ROAD_WEST = {
    "cp-north": [(26.12, 41.47), (26.30, 41.455)],
    "cp-south": [(26.08, 41.31), (26.30, 41.30)],
}
_ROAD_EAST = {
    "cp-north": [(26.60, 41.44), (26.95, 41.42)],
    "cp-south": [(26.60, 41.28), (26.74, 41.20), (26.75, 41.172)],
}

# Shipping lanes, in lon/lat, in the direction of travel.
_LANES_LONLAT = (
    [(26.02, 40.92), (26.50, 40.90), (26.98, 40.88)],
    [(26.98, 40.97), (26.50, 40.99), (26.02, 41.00)],
    [(26.98, 40.78), (26.82, 41.02), (26.755, 41.145)],
    [(26.755, 41.145), (26.70, 41.00), (26.30, 40.78)],
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CrossingPoint:
    """An authorised road crossing of the land border; ``x_m``/``y_m`` lie on the border line."""

    id: str
    name: str
    x_m: float
    y_m: float
    road: tuple[tuple[float, float], ...]  # local metres, west to east, through the crossing


class Region:
    """The geometry of the scenario, in local metres (``*_m`` names) and exportable as GeoJSON."""

    def __init__(self) -> None:
        self._fwd = Transformer.from_crs(
            "EPSG:4326",
            f"+proj=aeqd +lat_0={_ORIGIN_LAT} +lon_0={_ORIGIN_LON} +datum=WGS84 +units=m",
            always_xy=True,
        )
        border = self._xy_array(_BORDER_LONLAT)
        coast = self._xy_array(_COAST_LONLAT)
        # np.interp wants increasing abscissae: the border by northing, the coast by easting.
        order = np.argsort(border[:, 1])
        self.border_ys_m: FloatArray = border[order, 1]
        self.border_xs_m: FloatArray = border[order, 0]
        self.coast_xs_m: FloatArray = coast[:, 0]
        self.coast_ys_m: FloatArray = coast[:, 1]
        self.border_m = LineString(border)
        self.coast_m = LineString(coast)
        sw = self.to_xy(_WEST, _SOUTH)
        ne = self.to_xy(_EAST, _NORTH)
        nw = self.to_xy(_WEST, _NORTH)
        se = self.to_xy(_EAST, _SOUTH)
        self.bounds_m = (min(sw[0], nw[0]), min(sw[1], se[1]), max(ne[0], se[0]), max(ne[1], nw[1]))

        border_end = tuple(border[-1])
        coast_east = [tuple(p) for p in coast if p[0] > border_end[0]]
        coast_west = [tuple(p) for p in coast if p[0] < border_end[0]]
        maritime_end = self.to_xy(*_MARITIME_END_LONLAT)
        self.home_land_m = Polygon([*map(tuple, border), *coast_east, ne, self.to_xy(*_BORDER_LONLAT[0])])
        self.neighbour_land_m = Polygon(
            [*map(tuple, border), *reversed(coast_west), nw, self.to_xy(*_BORDER_LONLAT[0])]
        )
        self.sea_m = Polygon([*map(tuple, coast), se, sw])
        self.home_sea_m = Polygon([border_end, *coast_east, se, maritime_end])
        self.maritime_boundary_m = LineString([border_end, maritime_end])
        home_reach = self.home_land_m
        self.territorial_sea_m = home_reach.buffer(TERRITORIAL_SEA_M).intersection(self.home_sea_m)
        self.contiguous_zone_m = (
            home_reach.buffer(CONTIGUOUS_ZONE_M)
            .intersection(self.home_sea_m)
            .difference(self.territorial_sea_m)
        )
        for geom in (self.home_land_m, self.sea_m, self.home_sea_m, self.territorial_sea_m):
            shapely.prepare(geom)

        self.port_m = self.to_xy(*_PORT_LONLAT)
        self.crossings = tuple(self._crossing(cid, name, lat) for cid, name, lat in _CROSSINGS)
        self.lanes_m: tuple[tuple[tuple[float, float], ...], ...] = tuple(
            tuple(self.to_xy(lon, lat) for lon, lat in lane) for lane in _LANES_LONLAT
        )
        self.walk_span_m = (self.to_xy(26.46, 41.17)[1], self.to_xy(26.42, 41.58)[1])
        self.zones: tuple[Zone, ...] = self._zones()

    # -- projection ---------------------------------------------------------------------------------

    def to_xy(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self._fwd.transform(lon, lat)
        return (float(x), float(y))

    def _xy_array(self, lonlat: list[tuple[float, float]]) -> FloatArray:
        arr = np.asarray(lonlat, dtype=np.float64)
        x, y = self._fwd.transform(arr[:, 0], arr[:, 1])
        return np.column_stack([x, y])

    def to_lonlat(self, x_m: FloatArray, y_m: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Local metres to WGS84 longitude and latitude, vectorised."""
        lon, lat = self._fwd.transform(x_m, y_m, direction="INVERSE")
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def from_lonlat(self, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
        x, y = self._fwd.transform(lon, lat)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def geom_to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        def inverse(coords: FloatArray) -> FloatArray:
            lon, lat = self.to_lonlat(coords[:, 0], coords[:, 1])
            # Six decimals (~0.1 m) keep the GeoJSON small without moving anything visibly.
            return np.column_stack([np.round(lon, 6), np.round(lat, 6)])

        out = shapely.transform(geom, inverse)
        if out.geom_type in ("Polygon", "MultiPolygon") and not out.is_valid:
            # Rounding can pinch a sliver where two zones share an edge; a zero buffer re-nodes it.
            out = out.buffer(0)
        return out

    # -- sides --------------------------------------------------------------------------------------

    def border_x(self, y_m: FloatArray) -> FloatArray:
        return np.interp(y_m, self.border_ys_m, self.border_xs_m)

    def coast_y(self, x_m: FloatArray) -> FloatArray:
        return np.interp(x_m, self.coast_xs_m, self.coast_ys_m)

    def in_border_span(self, y_m: FloatArray) -> NDArray[np.bool_]:
        inside: NDArray[np.bool_] = (y_m >= self.border_ys_m[0]) & (y_m <= self.border_ys_m[-1])
        return inside

    def home_side(self, x_m: FloatArray, y_m: FloatArray) -> NDArray[np.bool_]:
        """True east of the land border (home territory side), judged at each point's own northing."""
        return x_m > self.border_x(y_m)

    def at_sea(self, x_m: FloatArray, y_m: FloatArray) -> NDArray[np.bool_]:
        return y_m < self.coast_y(x_m)

    # -- zones --------------------------------------------------------------------------------------

    def _crossing(self, cid: str, name: str, lat: float) -> CrossingPoint:
        y = self.to_xy(26.45, lat)[1]
        x = float(self.border_x(np.array([y]))[0])
        west = [self.to_xy(lon, la) for lon, la in _ROAD_WEST[cid]]
        east = [self.to_xy(lon, la) for lon, la in _ROAD_EAST[cid]]
        road = (*west, (x - 40.0, y), (x + 40.0, y), *east)
        return CrossingPoint(id=cid, name=name, x_m=x, y_m=y, road=road)

    def _band(self, lat_south: float, lat_north: float) -> Polygon:
        y0 = self.to_xy(26.45, lat_south)[1]
        y1 = self.to_xy(26.45, lat_north)[1]
        x0, _, x1, _ = self.bounds_m
        return Polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])

    def _zones(self) -> tuple[Zone, ...]:
        land = self.home_land_m.union(self.neighbour_land_m)
        border_band = self.border_m.buffer(_SECTION_HALF_WIDTH_M)
        zones: list[Zone] = [
            Zone(id="border-main", name="Main land border", kind=ZoneKind.BORDER_LINE, geometry=self.border_m)
        ]
        for sid, name, south, north, level in _SECTIONS:
            geom = border_band.intersection(self._band(south, north)).intersection(land)
            zones.append(
                Zone(id=sid, name=name, kind=ZoneKind.BORDER_SECTION, geometry=geom, impact_level=level)
            )
        from_border = self.border_m.buffer(_BP_STRIP_M)
        zones.append(
            Zone(
                id="aor-bp-land",
                name="Border Police land strip",
                kind=ZoneKind.AOR,
                geometry=from_border.intersection(self.home_land_m),
                agency="BP",
            )
        )
        army = self.border_m.buffer(_ARMY_TO_M).difference(self.border_m.buffer(_ARMY_FROM_M))
        zones.append(
            Zone(
                id="aor-army-depth",
                name="Army depth zone",
                kind=ZoneKind.AOR,
                geometry=army.intersection(self.home_land_m),
                agency="ARMY",
            )
        )
        port = Point(self.port_m).buffer(_PORT_RADIUS_M)
        zones.append(
            Zone(
                id="aor-cus-port",
                name="Customs, Port of Marenna",
                kind=ZoneKind.AOR,
                geometry=port,
                agency="CUS",
            )
        )
        for cp in self.crossings:
            area = Point(cp.x_m, cp.y_m).buffer(_CROSSING_RADIUS_M)
            zones.append(
                Zone(
                    id=f"aor-cus-{cp.id}",
                    name=f"Customs, {cp.name}",
                    kind=ZoneKind.AOR,
                    geometry=area,
                    agency="CUS",
                )
            )
            zones.append(
                Zone(
                    id=f"aor-imm-{cp.id}",
                    name=f"Immigration, {cp.name}",
                    kind=ZoneKind.AOR,
                    geometry=area,
                    agency="IMM",
                )
            )
        # The coast guard holds the home waters out to the contiguous zone's edge, port basin included,
        # so it overlaps the customs port area on purpose.
        cg = self.territorial_sea_m.union(self.contiguous_zone_m).union(port.intersection(self.sea_m))
        zones.append(
            Zone(
                id="aor-cg-maritime",
                name="Coast Guard maritime area",
                kind=ZoneKind.AOR,
                geometry=cg,
                agency="CG",
            )
        )
        zones.append(
            Zone(
                id="ts-home",
                name="Territorial sea (12 nm)",
                kind=ZoneKind.TERRITORIAL_SEA,
                geometry=self.territorial_sea_m,
            )
        )
        zones.append(
            Zone(
                id="cz-home",
                name="Contiguous zone (24 nm)",
                kind=ZoneKind.CONTIGUOUS_ZONE,
                geometry=self.contiguous_zone_m,
            )
        )
        zones.append(Zone(id="port-marenna", name="Port of Marenna", kind=ZoneKind.PORT, geometry=port))
        for cp in self.crossings:
            zones.append(
                Zone(id=cp.id, name=cp.name, kind=ZoneKind.CROSSING_POINT, geometry=Point(cp.x_m, cp.y_m))
            )
        restricted = Polygon([self.to_xy(lon, lat) for lon, lat in _RESTRICTED_LONLAT])
        zones.append(
            Zone(
                id="restricted-range",
                name="Military training range",
                kind=ZoneKind.RESTRICTED,
                geometry=restricted,
                agency="ARMY",
            )
        )
        return tuple(zones)

    def zones_lonlat(self) -> tuple[Zone, ...]:
        """The zones with their geometry in WGS84 longitude/latitude."""
        return tuple(
            Zone(
                id=z.id,
                name=z.name,
                kind=z.kind,
                geometry=self.geom_to_lonlat(z.geometry),
                agency=z.agency,
                impact_level=z.impact_level,
                marking=z.marking,
                home_side=z.home_side,
            )
            for z in self.zones
        )

    def zones_geojson(self) -> dict[str, Any]:
        features = []
        for zone in self.zones_lonlat():
            features.append(
                {"type": "Feature", "geometry": mapping(zone.geometry), "properties": zone.properties()}
            )
        return {"type": "FeatureCollection", "features": features}

    def random_sea_point_near(
        self, rng: np.random.Generator, x_m: float, y_m: float, distance_m: float
    ) -> tuple[float, float] | None:
        """A point ``distance_m`` from (x, y) that lies at sea, or None when no direction works."""
        start = rng.uniform(0.0, 2 * math.pi)
        for k in range(16):
            angle = start + k * math.pi / 8
            px = x_m + distance_m * math.cos(angle)
            py = y_m + distance_m * math.sin(angle)
            if shapely.contains_xy(self.sea_m, px, py) and self._inside_bounds(px, py, margin_m=500.0):
                return (px, py)
        return None

    def _inside_bounds(self, x_m: float, y_m: float, *, margin_m: float) -> bool:
        x0, y0, x1, y1 = self.bounds_m
        return x0 + margin_m <= x_m <= x1 - margin_m and y0 + margin_m <= y_m <= y1 - margin_m


@lru_cache(maxsize=1)
def default_region() -> Region:
    """The one built-in region; built on first use and shared (it is immutable in practice)."""
    return Region()
