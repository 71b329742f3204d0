"""Zones: the named areas and lines that rules watch (borders, areas of responsibility, restricted areas).

Geometry is WGS84 longitude/latitude (GeoJSON order) held as a shapely geometry. Which geometry types a
kind accepts is part of the vocabulary (:data:`GEOMETRY_TYPES_BY_KIND`), so an importer and a form can
refuse a polygon where a line is meant.

A border line is directed: walking along it in the order its vertices are drawn, the ``home_side``
(left by default) is the territory Concord's agencies guard. Leaving the home side is ``outbound``,
entering it ``inbound``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shapely.geometry.base import BaseGeometry

from concord.domain.marking import Marking

__all__ = [
    "GEOMETRY_TYPES_BY_KIND",
    "POLYGONAL_KINDS",
    "BorderSide",
    "SectionImpact",
    "Zone",
    "ZoneKind",
]


class ZoneKind(StrEnum):
    BORDER_LINE = "border-line"
    BORDER_SECTION = "border-section"
    AOR = "aor"  # an agency's area of responsibility; several may overlap
    RESTRICTED = "restricted"
    TERRITORIAL_SEA = "territorial-sea"
    CONTIGUOUS_ZONE = "contiguous-zone"
    PORT = "port"
    CROSSING_POINT = "crossing-point"  # an authorised border crossing point


class SectionImpact(StrEnum):
    """EUROSUR impact level of a border section, lowest first (Regulation (EU) 2019/1896, art. 34)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SECTION_ORDER.index(self)


_SECTION_ORDER: tuple[SectionImpact, ...] = (
    SectionImpact.LOW,
    SectionImpact.MEDIUM,
    SectionImpact.HIGH,
    SectionImpact.CRITICAL,
)


class BorderSide(StrEnum):
    """Which side of a directed border line is home territory."""

    LEFT = "left"
    RIGHT = "right"


_POLYGONS = frozenset({"Polygon", "MultiPolygon"})

GEOMETRY_TYPES_BY_KIND: dict[ZoneKind, frozenset[str]] = {
    ZoneKind.BORDER_LINE: frozenset({"LineString", "MultiLineString"}),
    ZoneKind.BORDER_SECTION: _POLYGONS,
    ZoneKind.AOR: _POLYGONS,
    ZoneKind.RESTRICTED: _POLYGONS,
    ZoneKind.TERRITORIAL_SEA: _POLYGONS,
    ZoneKind.CONTIGUOUS_ZONE: _POLYGONS,
    ZoneKind.PORT: _POLYGONS,
    ZoneKind.CROSSING_POINT: _POLYGONS | {"Point"},
}

POLYGONAL_KINDS: frozenset[ZoneKind] = frozenset(
    kind for kind, types in GEOMETRY_TYPES_BY_KIND.items() if types <= _POLYGONS
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Zone:
    """One zone. ``agency`` is required for an AOR; ``impact_level`` for a border section."""

    id: str
    name: str
    kind: ZoneKind
    geometry: BaseGeometry
    agency: str | None = None
    impact_level: SectionImpact | None = None
    marking: Marking | None = None
    home_side: BorderSide = BorderSide.LEFT

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ZoneKind(self.kind))
        if self.impact_level is not None:
            object.__setattr__(self, "impact_level", SectionImpact(self.impact_level))
        object.__setattr__(self, "home_side", BorderSide(self.home_side))
        if not self.id:
            raise ValueError("a zone needs an id")
        allowed = GEOMETRY_TYPES_BY_KIND[self.kind]
        if self.geometry.geom_type not in allowed:
            raise ValueError(
                f"zone {self.id!r}: a {self.kind.value} takes {', '.join(sorted(allowed))}, "
                f"not {self.geometry.geom_type}"
            )
        if self.kind is ZoneKind.AOR and not self.agency:
            raise ValueError(f"zone {self.id!r}: an aor needs the agency it belongs to")
        if self.kind is ZoneKind.BORDER_SECTION and self.impact_level is None:
            raise ValueError(f"zone {self.id!r}: a border-section needs an impact level")

    def properties(self) -> dict[str, Any]:
        """The GeoJSON ``properties`` of this zone (what the importer reads back)."""
        props: dict[str, Any] = {"id": self.id, "name": self.name, "kind": self.kind.value}
        if self.agency is not None:
            props["agency"] = self.agency
        if self.impact_level is not None:
            props["impact_level"] = self.impact_level.value
        if self.marking is not None:
            props["marking"] = self.marking.to_dict()
        if self.kind is ZoneKind.BORDER_LINE:
            props["home_side"] = self.home_side.value
        return props

    def __repr__(self) -> str:
        return f"Zone(id={self.id!r}, kind={self.kind.value}, name={self.name!r})"
