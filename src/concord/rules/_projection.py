"""A local metric projection: equirectangular about the centre of the watched region.

Rules measure distances in metres (near the border, rendezvous range). Projecting every position with
a full map projection costs microseconds per point; the equirectangular approximation
``x = R * dlon * cos(lat0)``, ``y = R * dlat`` costs two multiplications and is accurate near the
centre latitude ``lat0``: the east-west scale is off by about ``tan(lat0) * dlat`` (relative), e.g.
0.9 % half a degree (55 km) north or south of ``lat0`` at 45 degrees N, 3.5 % two degrees away.
North-south distances are exact up to the spherical earth model. Deployments spanning more than a few
hundred kilometres north-south should run one engine per region. Longitudes are not unwrapped: a
region that straddles the antimeridian is not supported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["EARTH_RADIUS_M", "LocalProjection"]

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean earth radius

FloatArray = npt.NDArray[np.float64]


class LocalProjection:
    """Equirectangular projection about (``lat0``, ``lon0``): degrees in, metres east/north out."""

    __slots__ = ("kx", "ky", "lat0", "lon0")

    def __init__(self, lat0: float, lon0: float) -> None:
        if not (math.isfinite(lat0) and -89.0 <= lat0 <= 89.0):
            raise ValueError(f"projection centre latitude {lat0!r} must be within [-89, 89]")
        if not (math.isfinite(lon0) and -180.0 <= lon0 <= 180.0):
            raise ValueError(f"projection centre longitude {lon0!r} must be within [-180, 180]")
        self.lat0 = lat0
        self.lon0 = lon0
        self.ky = EARTH_RADIUS_M * math.pi / 180.0
        self.kx = self.ky * math.cos(math.radians(lat0))

    @classmethod
    def around(cls, geometries: Iterable[BaseGeometry]) -> LocalProjection:
        """The projection centred on the bounding box of ``geometries`` (0, 0 when there are none)."""
        geoms = list(geometries)
        if not geoms:
            return cls(0.0, 0.0)
        bounds = shapely.total_bounds(np.asarray(geoms, dtype=object))
        return cls((bounds[1] + bounds[3]) / 2.0, (bounds[0] + bounds[2]) / 2.0)

    def forward(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def inverse(self, x: float, y: float) -> tuple[float, float]:
        return x / self.kx + self.lon0, y / self.ky + self.lat0

    def forward_many(self, lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def geometry(self, geom: BaseGeometry) -> BaseGeometry:
        """``geom`` (longitude/latitude) in local metres."""

        def _fwd(coords: FloatArray) -> FloatArray:
            out = np.empty_like(coords)
            out[:, 0] = (coords[:, 0] - self.lon0) * self.kx
            out[:, 1] = (coords[:, 1] - self.lat0) * self.ky
            return out

        result: BaseGeometry = shapely.transform(geom, _fwd)
        return result
