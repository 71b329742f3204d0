"""Zones from and to GeoJSON (RFC 7946 FeatureCollections, WGS84 longitude/latitude).

Each feature's ``properties`` carry ``id``, ``name``, ``kind`` (a :class:`ZoneKind` value), ``agency``
(required for ``aor``), ``impact_level`` (required for ``border-section``), and optionally ``marking``
(a :meth:`Marking.to_dict` object) and ``home_side`` (``left``/``right``, border lines only). Other
properties are ignored.

Validation is strict and every error names the feature index and the field: malformed JSON, NaN or
infinite numbers, wrong types, unknown kinds, geometry types a kind does not take, coordinates out of
range, oversized input (bytes, features, vertices; see :class:`ZoneLimits`), duplicate ids, and
invalid geometry. An invalid polygon (self-intersecting, say) is rejected with GEOS's reason, or, when
``repair=True``, repaired with ``shapely.make_valid`` and reported in :attr:`ZoneImport.repairs`.
Names are kept as the plain text they are; nothing here interprets them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from concord.domain.errors import InvalidInput
from concord.domain.marking import DEFAULT_LADDER, Marking
from concord.domain.zone import GEOMETRY_TYPES_BY_KIND, BorderSide, SectionImpact, Zone, ZoneKind

__all__ = ["ZoneImport", "ZoneLimits", "ZoneRejectCode", "load_zones", "parse_zones", "to_geojson"]

ZoneRejectCode = Literal[
    "too-large",
    "malformed-json",
    "not-a-feature-collection",
    "too-many-features",
    "not-a-feature",
    "missing-field",
    "wrong-type",
    "bad-text",
    "unknown-kind",
    "unsupported-geometry",
    "wrong-geometry-for-kind",
    "bad-coordinates",
    "not-finite",
    "out-of-range",
    "too-many-vertices",
    "invalid-geometry",
    "bad-marking",
    "duplicate-id",
]

_SUPPORTED_GEOMETRIES = frozenset({"Point", "LineString", "MultiLineString", "Polygon", "MultiPolygon"})
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")
_AGENCY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CRS84 = frozenset(
    {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "urn:ogc:def:crs:EPSG::4326"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneLimits:
    """Bounds on what one import may hold, so a hostile file cannot exhaust memory or time."""

    max_bytes: int = 32 * 1024 * 1024
    max_features: int = 10_000
    max_vertices_per_feature: int = 100_000
    max_vertices_total: int = 2_000_000
    max_id_chars: int = 128
    max_name_chars: int = 256


@dataclass(frozen=True, slots=True)
class ZoneImport:
    """The zones of a file and the repairs made to them (empty unless ``repair=True`` was needed)."""

    zones: tuple[Zone, ...]
    repairs: tuple[str, ...] = ()


def _fail(
    message: str, reason: ZoneRejectCode, source: str, feature: int | None = None, field: str | None = None
) -> NoReturn:
    details: dict[str, Any] = {"source": source, "reason": reason}
    where = ""
    if feature is not None:
        details["feature"] = feature
        where = f"feature {feature}"
    if field is not None:
        details["field"] = field
        where = f"{where} field {field}" if where else f"field {field}"
    raise InvalidInput(f"{source}: {where}: {message}" if where else f"{source}: {message}", details=details)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number GeoJSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is not finite")
    return value


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key[:40]!r} in an object")
        result[key] = value
    return result


def _decode(data: bytes | str, limits: ZoneLimits, source: str) -> Any:
    size = len(data.encode() if isinstance(data, str) else data)
    if size > limits.max_bytes:
        _fail(f"{size} bytes exceeds the limit of {limits.max_bytes}", "too-large", source)
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_no_duplicate_keys,
        )
    except UnicodeDecodeError as exc:
        _fail(f"not UTF-8 at byte {exc.start}", "malformed-json", source)
    except json.JSONDecodeError as exc:
        _fail(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", "malformed-json", source)
    except RecursionError:
        _fail("JSON nested too deeply", "malformed-json", source)
    except ValueError as exc:
        _fail(f"malformed JSON: {exc}", "malformed-json", source)


class _FeatureReader:
    """Validates one feature; ``vertices`` counts positions across the whole file."""

    def __init__(self, limits: ZoneLimits, source: str) -> None:
        self.limits = limits
        self.source = source
        self.vertices = 0
        self._feature_vertices = 0
        self.index = 0

    def fail(self, message: str, reason: ZoneRejectCode, field: str | None = None) -> NoReturn:
        _fail(message, reason, self.source, self.index, field)

    def text(
        self,
        props: dict[str, Any],
        name: str,
        max_chars: int,
        *,
        required: bool,
        pattern: re.Pattern[str] | None,
    ) -> str | None:
        value = props.get(name)
        field = f"properties.{name}"
        if value is None:
            if required:
                self.fail(f"{name} is required", "missing-field", field)
            return None
        if not isinstance(value, str):
            self.fail(f"{name} must be a string, not {type(value).__name__}", "wrong-type", field)
        if not value.strip():
            self.fail(f"{name} must not be blank", "bad-text", field)
        if len(value) > max_chars:
            self.fail(f"{name} is longer than {max_chars} characters", "bad-text", field)
        if _CONTROL_RE.search(value):
            self.fail(f"{name} contains control characters", "bad-text", field)
        if pattern is not None and not pattern.match(value):
            self.fail(f"{name} {value[:40]!r} has characters outside {pattern.pattern}", "bad-text", field)
        return value

    def position(self, value: Any, field: str) -> None:
        if not isinstance(value, list) or len(value) not in (2, 3):
            self.fail("a position is an array of 2 or 3 numbers", "bad-coordinates", field)
        for axis, number in enumerate(value):
            if isinstance(number, bool) or not isinstance(number, int | float):
                self.fail(
                    f"coordinate {axis} is a {type(number).__name__}, not a number", "wrong-type", field
                )
            try:
                finite = math.isfinite(number)
            except OverflowError:
                self.fail(f"coordinate {axis} is out of range", "out-of-range", field)
            if not finite:
                self.fail(f"coordinate {axis} is not finite", "not-finite", field)
        lon, lat = value[0], value[1]
        if not -180.0 <= lon <= 180.0:
            self.fail(f"longitude {lon} outside [-180, 180]", "out-of-range", field)
        if not -90.0 <= lat <= 90.0:
            self.fail(f"latitude {lat} outside [-90, 90]", "out-of-range", field)

    def positions(self, value: Any, field: str, minimum: int, *, ring: bool) -> None:
        if not isinstance(value, list):
            self.fail("expected an array of positions", "bad-coordinates", field)
        self._feature_vertices += len(value)
        self.vertices += len(value)
        if self._feature_vertices > self.limits.max_vertices_per_feature:
            self.fail(
                f"more than {self.limits.max_vertices_per_feature} vertices in one feature",
                "too-many-vertices",
                field,
            )
        if self.vertices > self.limits.max_vertices_total:
            self.fail(
                f"more than {self.limits.max_vertices_total} vertices in the file", "too-many-vertices", field
            )
        if len(value) < minimum:
            self.fail(f"needs at least {minimum} positions, has {len(value)}", "bad-coordinates", field)
        for k, pos in enumerate(value):
            self.position(pos, f"{field}[{k}]")
        if ring and value[0][:2] != value[-1][:2]:
            self.fail("a polygon ring must end where it starts", "bad-coordinates", field)

    def array(self, value: Any, field: str) -> list[Any]:
        if not isinstance(value, list) or not value:
            self.fail("expected a non-empty array", "bad-coordinates", field)
        return value

    def geometry(self, geometry: Any, kind: ZoneKind) -> BaseGeometry:
        field = "geometry"
        if not isinstance(geometry, dict):
            self.fail(
                "geometry must be an object", "wrong-type" if geometry is not None else "missing-field", field
            )
        gtype = geometry.get("type")
        if not isinstance(gtype, str) or gtype not in _SUPPORTED_GEOMETRIES:
            shown = gtype[:40] if isinstance(gtype, str) else type(gtype).__name__
            self.fail(
                f"geometry type {shown!r} is not one of {', '.join(sorted(_SUPPORTED_GEOMETRIES))}",
                "unsupported-geometry",
                "geometry.type",
            )
        allowed = GEOMETRY_TYPES_BY_KIND[kind]
        if gtype not in allowed:
            self.fail(
                f"a {kind.value} takes {', '.join(sorted(allowed))}, not {gtype}",
                "wrong-geometry-for-kind",
                "geometry.type",
            )
        coords = geometry.get("coordinates")
        field = "geometry.coordinates"
        if coords is None:
            self.fail("coordinates are required", "missing-field", field)
        self._feature_vertices = 0
        if gtype == "Point":
            self.vertices += 1
            self.position(coords, field)
        elif gtype == "LineString":
            self.positions(coords, field, 2, ring=False)
        elif gtype == "MultiLineString":
            for k, line in enumerate(self.array(coords, field)):
                self.positions(line, f"{field}[{k}]", 2, ring=False)
        elif gtype == "Polygon":
            for k, ring in enumerate(self.array(coords, field)):
                self.positions(ring, f"{field}[{k}]", 4, ring=True)
        else:
            for p, polygon in enumerate(self.array(coords, field)):
                for k, ring in enumerate(self.array(polygon, f"{field}[{p}]")):
                    self.positions(ring, f"{field}[{p}][{k}]", 4, ring=True)
        # Heights are dropped (zones are 2D) before shapely sees the coordinates, so mixed 2D/3D
        # positions cannot make ragged arrays.
        flat = _two_d(coords, _DEPTH[gtype])
        geom: BaseGeometry = shape({"type": gtype, "coordinates": flat})
        return geom


_DEPTH = {"Point": 0, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


def _two_d(coords: Any, depth: int) -> Any:
    if depth == 0:
        return [float(coords[0]), float(coords[1])]
    return [_two_d(c, depth - 1) for c in coords]


def _polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    polygons: list[BaseGeometry] = []
    for part in shapely.get_parts(geom).tolist():
        if part.geom_type == "Polygon":
            polygons.append(part)
        elif part.geom_type == "MultiPolygon":
            polygons.extend(part.geoms)
    if len(polygons) == 1:
        return polygons[0]
    result: BaseGeometry = shapely.multipolygons(polygons)
    return result


def load_zones(
    data: bytes | str, *, repair: bool = False, limits: ZoneLimits | None = None, source: str = "zones"
) -> ZoneImport:
    """Parse a GeoJSON FeatureCollection of zones; raise :class:`InvalidInput` naming feature and field."""
    limits = limits or ZoneLimits()
    doc = _decode(data, limits, source)
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        _fail(
            "the document must be a GeoJSON FeatureCollection",
            "not-a-feature-collection",
            source,
            field="type",
        )
    crs = doc.get("crs")
    if crs is not None:
        name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
        if not isinstance(name, str) or name not in _CRS84:
            _fail("only WGS84 longitude/latitude (CRS84) is accepted", "wrong-type", source, field="crs")
    features = doc.get("features")
    if not isinstance(features, list):
        _fail("features must be an array", "wrong-type", source, field="features")
    if len(features) > limits.max_features:
        _fail(
            f"{len(features)} features exceed the limit of {limits.max_features}", "too-many-features", source
        )

    reader = _FeatureReader(limits, source)
    zones: list[Zone] = []
    repairs: list[str] = []
    first_index: dict[str, int] = {}
    for index, feature in enumerate(features):
        reader.index = index
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            reader.fail("each item of features must be a GeoJSON Feature", "not-a-feature", "type")
        props = feature.get("properties")
        if not isinstance(props, dict):
            reader.fail("properties must be an object", "wrong-type", "properties")
        if "id" not in props and isinstance(feature.get("id"), str):
            props = {**props, "id": feature["id"]}
        zone_id = reader.text(props, "id", limits.max_id_chars, required=True, pattern=_ID_RE)
        name = reader.text(props, "name", limits.max_name_chars, required=True, pattern=None)
        kind_text = reader.text(props, "kind", 32, required=True, pattern=None)
        assert zone_id is not None and name is not None and kind_text is not None  # required above
        try:
            kind = ZoneKind(kind_text)
        except ValueError:
            reader.fail(
                f"unknown kind {kind_text!r}; expected one of {', '.join(k.value for k in ZoneKind)}",
                "unknown-kind",
                "properties.kind",
            )
        agency = reader.text(props, "agency", 32, required=kind is ZoneKind.AOR, pattern=_AGENCY_RE)
        impact_text = reader.text(
            props, "impact_level", 16, required=kind is ZoneKind.BORDER_SECTION, pattern=None
        )
        impact: SectionImpact | None = None
        if impact_text is not None:
            try:
                impact = SectionImpact(impact_text)
            except ValueError:
                reader.fail(
                    f"impact_level {impact_text!r} is not one of {', '.join(s.value for s in SectionImpact)}",
                    "wrong-type",
                    "properties.impact_level",
                )
        side_text = reader.text(props, "home_side", 8, required=False, pattern=None)
        home_side = BorderSide.LEFT
        if side_text is not None:
            if kind is not ZoneKind.BORDER_LINE:
                reader.fail("home_side applies to border lines only", "wrong-type", "properties.home_side")
            try:
                home_side = BorderSide(side_text)
            except ValueError:
                reader.fail("home_side is left or right", "wrong-type", "properties.home_side")
        marking = _marking(props.get("marking"), reader)

        geom = reader.geometry(feature.get("geometry"), kind)
        if geom.is_empty:
            reader.fail("geometry is empty", "invalid-geometry", "geometry")
        if geom.geom_type in ("Polygon", "MultiPolygon") and not shapely.is_valid(geom):
            reason = shapely.is_valid_reason(geom)
            if not repair:
                reader.fail(
                    f"invalid polygon ({reason}); fix it or import with repair",
                    "invalid-geometry",
                    "geometry",
                )
            fixed = _polygonal_part(shapely.make_valid(geom))
            if (
                fixed.is_empty
                or not shapely.is_valid(fixed)
                or fixed.geom_type not in GEOMETRY_TYPES_BY_KIND[kind]
            ):
                reader.fail(
                    f"invalid polygon ({reason}) that make_valid cannot repair",
                    "invalid-geometry",
                    "geometry",
                )
            repairs.append(f"feature {index} ({zone_id}): {reason}; repaired with make_valid")
            geom = fixed
        if kind is ZoneKind.BORDER_LINE and not shapely.is_simple(geom):
            reader.fail(
                "a border line must not cross itself (its sides would be ambiguous)",
                "invalid-geometry",
                "geometry",
            )
        if zone_id in first_index:
            reader.fail(
                f"duplicate id {zone_id!r} (first used by feature {first_index[zone_id]})",
                "duplicate-id",
                "properties.id",
            )
        first_index[zone_id] = index
        zones.append(
            Zone(
                id=zone_id,
                name=name,
                kind=kind,
                geometry=geom,
                agency=agency,
                impact_level=impact,
                marking=marking,
                home_side=home_side,
            )
        )
    return ZoneImport(zones=tuple(zones), repairs=tuple(repairs))


def _marking(value: Any, reader: _FeatureReader) -> Marking | None:
    if value is None:
        return None
    field = "properties.marking"
    if not isinstance(value, dict):
        reader.fail("marking must be an object", "wrong-type", field)
    for key in ("classification", "originator"):
        if not isinstance(value.get(key), str):
            reader.fail(f"marking.{key} must be a string", "bad-marking", f"{field}.{key}")
    for key in ("rel_to", "categories"):
        items = value.get(key, [])
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            reader.fail(f"marking.{key} must be an array of strings", "bad-marking", f"{field}.{key}")
    try:
        DEFAULT_LADDER.rank(value["classification"])
        return Marking.from_dict(value)
    except (KeyError, TypeError, ValueError) as exc:
        reader.fail(f"bad marking: {exc}", "bad-marking", field)


def parse_zones(data: bytes | str, *, repair: bool = False, limits: ZoneLimits | None = None) -> list[Zone]:
    """The zones of a GeoJSON FeatureCollection (see :func:`load_zones` for the repairs made)."""
    return list(load_zones(data, repair=repair, limits=limits).zones)


def to_geojson(zones: Iterable[Zone]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of ``zones`` that :func:`parse_zones` reads back to equal zones."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": zone.id,
                "geometry": json.loads(shapely.to_geojson(zone.geometry)),
                "properties": zone.properties(),
            }
            for zone in zones
        ],
    }
