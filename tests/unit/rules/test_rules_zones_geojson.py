"""GeoJSON zone import: valid files round-trip; hostile files are refused naming the feature and field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.domain.errors import InvalidInput
from concord.domain.marking import Marking
from concord.domain.zone import BorderSide, SectionImpact, ZoneKind
from concord.rules import ZoneLimits, load_zones, parse_zones, to_geojson

SQUARE = [[[20.0, 45.0], [20.1, 45.0], [20.1, 45.1], [20.0, 45.1], [20.0, 45.0]]]
BOWTIE = [[[20.0, 45.0], [20.1, 45.1], [20.1, 45.0], [20.0, 45.1], [20.0, 45.0]]]


def feature(props: dict[str, Any], geometry: Any = None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": geometry if geometry is not None else {"type": "Polygon", "coordinates": SQUARE},
    }


def collection(*features: Any) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def restricted(zone_id: str = "r1", **extra: Any) -> dict[str, Any]:
    return feature({"id": zone_id, "name": "Range", "kind": "restricted", **extra})


def refused(data: bytes | str, **kw: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        load_zones(data, **kw)
    return info.value


def test_every_kind_parses_and_round_trips() -> None:
    marking = Marking(classification="CONFIDENTIAL", originator="MIL", rel_to=frozenset({"BP"}))
    data = collection(
        feature(
            {"id": "b1", "name": "Border", "kind": "border-line", "home_side": "right"},
            {"type": "LineString", "coordinates": [[20.0, 44.0], [20.0, 46.0, 12.5]]},
        ),
        feature({"id": "s1", "name": "Section 1", "kind": "border-section", "impact_level": "critical"}),
        feature({"id": "aor-bp", "name": "BP north", "kind": "aor", "agency": "BP"}),
        feature({"id": "aor-cg", "name": "CG north", "kind": "aor", "agency": "CG"}),
        feature(
            {"id": "r1", "name": "Range", "kind": "restricted", "marking": marking.to_dict(), "extra": 1}
        ),
        feature({"id": "ts", "name": "TS", "kind": "territorial-sea"}),
        feature({"id": "cz", "name": "CZ", "kind": "contiguous-zone"}),
        feature({"id": "port", "name": "Port", "kind": "port"}),
        feature(
            {"id": "bcp", "name": "BCP", "kind": "crossing-point"},
            {"type": "Point", "coordinates": [20.0, 45.0]},
        ),
    )
    zones = parse_zones(data)
    assert [z.kind for z in zones] == [
        ZoneKind.BORDER_LINE,
        ZoneKind.BORDER_SECTION,
        ZoneKind.AOR,
        ZoneKind.AOR,
        ZoneKind.RESTRICTED,
        ZoneKind.TERRITORIAL_SEA,
        ZoneKind.CONTIGUOUS_ZONE,
        ZoneKind.PORT,
        ZoneKind.CROSSING_POINT,
    ]
    assert zones[0].home_side is BorderSide.RIGHT
    assert zones[0].geometry.has_z is False
    assert zones[1].impact_level is SectionImpact.CRITICAL
    assert zones[2].agency == "BP"
    assert zones[4].marking == marking
    again = parse_zones(json.dumps(to_geojson(zones)))
    assert [(z.id, z.kind, z.agency, z.impact_level, z.marking, z.home_side) for z in again] == [
        (z.id, z.kind, z.agency, z.impact_level, z.marking, z.home_side) for z in zones
    ]
    assert all(a.geometry.equals(b.geometry) for a, b in zip(again, zones, strict=True))


def test_injection_strings_in_names_stay_plain_text() -> None:
    names = [
        "<script>alert(1)</script>",
        "'; DROP TABLE zones; --",
        "{{7*7}}",
        "${jndi:ldap://x/a}",
        "名前 ✓",
    ]
    zones = parse_zones(collection(*(restricted(f"r{k}", name=n) for k, n in enumerate(names))))
    assert [z.name for z in zones] == names


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "malformed-json"),
        (b"\xff\xfe garbage", "malformed-json"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed-json"),
        (b'{"type": "FeatureCollection", "type": "FeatureCollection", "features": []}', "malformed-json"),
        (b"[]", "not-a-feature-collection"),
        (b'{"type": "Feature"}', "not-a-feature-collection"),
        (b'{"type": "FeatureCollection", "features": {}}', "wrong-type"),
        (
            b'{"type": "FeatureCollection", "features": [], "crs": {"properties": {"name": "EPSG:3857"}}}',
            "wrong-type",
        ),
    ],
)
def test_malformed_documents(data: bytes, reason: str) -> None:
    assert refused(data).details["reason"] == reason


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused(token: str) -> None:
    text = collection(restricted()).decode().replace("20.1", token, 1)
    error = refused(text)
    assert error.details["reason"] == "malformed-json"


def test_huge_integers_are_refused() -> None:
    text = collection(restricted()).decode().replace("20.1", "1" + "0" * 500, 1)
    error = refused(text)
    assert error.details["reason"] == "out-of-range"
    assert error.details["field"] == "geometry.coordinates[0][1]"


@pytest.mark.parametrize(
    ("feat", "reason", "field"),
    [
        ("not a feature", "not-a-feature", "type"),
        ({"type": "Feature", "properties": [], "geometry": None}, "wrong-type", "properties"),
        (feature({"name": "x", "kind": "port"}), "missing-field", "properties.id"),
        (feature({"id": 7, "name": "x", "kind": "port"}), "wrong-type", "properties.id"),
        (feature({"id": "a b", "name": "x", "kind": "port"}), "bad-text", "properties.id"),
        (feature({"id": "p", "name": "x\x00y", "kind": "port"}), "bad-text", "properties.name"),
        (feature({"id": "p", "name": "x" * 300, "kind": "port"}), "bad-text", "properties.name"),
        (feature({"id": "p", "name": "   ", "kind": "port"}), "bad-text", "properties.name"),
        (feature({"id": "p", "name": "x", "kind": "minefield"}), "unknown-kind", "properties.kind"),
        (feature({"id": "p", "name": "x", "kind": ["port"]}), "wrong-type", "properties.kind"),
        (feature({"id": "p", "name": "x", "kind": "aor"}), "missing-field", "properties.agency"),
        (
            feature({"id": "p", "name": "x", "kind": "border-section"}),
            "missing-field",
            "properties.impact_level",
        ),
        (
            feature({"id": "p", "name": "x", "kind": "border-section", "impact_level": "extreme"}),
            "wrong-type",
            "properties.impact_level",
        ),
        (
            feature({"id": "p", "name": "x", "kind": "port", "home_side": "left"}),
            "wrong-type",
            "properties.home_side",
        ),
        (
            feature({"id": "p", "name": "x", "kind": "port", "marking": "SECRET"}),
            "wrong-type",
            "properties.marking",
        ),
        (
            feature(
                {
                    "id": "p",
                    "name": "x",
                    "kind": "port",
                    "marking": {"classification": "ULTRA", "originator": "X"},
                }
            ),
            "bad-marking",
            "properties.marking",
        ),
        (
            feature({"id": "p", "name": "x", "kind": "port", "marking": {"classification": "SECRET"}}),
            "bad-marking",
            "properties.marking.originator",
        ),
        (
            feature({"id": "p", "name": "x", "kind": "border-line"}),
            "wrong-geometry-for-kind",
            "geometry.type",
        ),
        (
            feature(
                {"id": "p", "name": "x", "kind": "port"},
                {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
            ),
            "wrong-geometry-for-kind",
            "geometry.type",
        ),
        (
            feature(
                {"id": "p", "name": "x", "kind": "port"}, {"type": "GeometryCollection", "geometries": []}
            ),
            "unsupported-geometry",
            "geometry.type",
        ),
        (
            feature({"id": "p", "name": "x", "kind": "port"}, {"type": "Polygon"}),
            "missing-field",
            "geometry.coordinates",
        ),
        (
            feature(
                {"id": "p", "name": "x", "kind": "port"},
                {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]},
            ),
            "bad-coordinates",
            "geometry.coordinates[0]",
        ),
        (
            feature(
                {"id": "p", "name": "x", "kind": "port"},
                {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
            ),
            "bad-coordinates",
            "geometry.coordinates[0]",
        ),
        (
            feature(
                {"id": "p", "name": "x", "kind": "port"},
                {"type": "Polygon", "coordinates": [[[0, 0], ["1", 0], [1, 1], [0, 0]]]},
            ),
            "wrong-type",
            "geometry.coordinates[0][1]",
        ),
        (
            feature(
                {"id": "p", "name": "x", "kind": "port"},
                {"type": "Polygon", "coordinates": [[[0, 0], [True, 0], [1, 1], [0, 0]]]},
            ),
            "wrong-type",
            "geometry.coordinates[0][1]",
        ),
        (
            feature(
                {"id": "p", "name": "x", "kind": "port"},
                {"type": "Polygon", "coordinates": [[[0, 0], [181, 0], [1, 1], [0, 0]]]},
            ),
            "out-of-range",
            "geometry.coordinates[0][1]",
        ),
        (
            feature(
                {"id": "p", "name": "x", "kind": "port"},
                {"type": "Polygon", "coordinates": [[[0, 0], [1, 91], [1, 1], [0, 0]]]},
            ),
            "out-of-range",
            "geometry.coordinates[0][1]",
        ),
        (
            feature(
                {"id": "p", "name": "x", "kind": "port"},
                {"type": "Polygon", "coordinates": [[[0, 0, 0, 0], [1, 0], [1, 1], [0, 0]]]},
            ),
            "bad-coordinates",
            "geometry.coordinates[0][0]",
        ),
        (
            feature({"id": "p", "name": "x", "kind": "port"}, {"type": "MultiPolygon", "coordinates": []}),
            "bad-coordinates",
            "geometry.coordinates",
        ),
        (
            feature(
                {"id": "b", "name": "x", "kind": "border-line"},
                {"type": "LineString", "coordinates": [[0, 0], [1, 1], [1, 0], [0, 1]]},
            ),
            "invalid-geometry",
            "geometry",
        ),
    ],
)
def test_bad_features_name_index_and_field(feat: Any, reason: str, field: str) -> None:
    error = refused(collection(restricted("ok"), feat))
    assert error.details["reason"] == reason
    assert error.details["feature"] == 1
    assert error.details["field"] == field
    assert "feature 1" in error.message


def test_duplicate_ids_name_both_features() -> None:
    error = refused(collection(restricted("r1"), restricted("r2"), restricted("r1")))
    assert error.details == {
        "source": "zones",
        "reason": "duplicate-id",
        "feature": 2,
        "field": "properties.id",
    }
    assert "feature 0" in error.message


def test_self_intersecting_polygon_is_refused_or_repaired() -> None:
    bowtie = feature(
        {"id": "bow", "name": "Bow", "kind": "restricted"}, {"type": "Polygon", "coordinates": BOWTIE}
    )
    error = refused(collection(bowtie))
    assert error.details["reason"] == "invalid-geometry"
    assert "Self-intersection" in error.message
    result = load_zones(collection(bowtie), repair=True)
    assert len(result.repairs) == 1 and "make_valid" in result.repairs[0]
    assert result.zones[0].geometry.is_valid
    assert result.zones[0].geometry.geom_type == "MultiPolygon"
    assert result.zones[0].geometry.area == pytest.approx(0.005)


def test_oversized_inputs_are_refused_early() -> None:
    limits = ZoneLimits(max_bytes=10_000, max_features=3, max_vertices_per_feature=50, max_vertices_total=80)
    assert refused(b" " * 10_001, limits=limits).details["reason"] == "too-large"
    many = collection(*(restricted(f"r{k}") for k in range(4)))
    assert refused(many, limits=limits).details["reason"] == "too-many-features"
    ring = [[20.0 + k * 1e-4, 45.0] for k in range(60)] + [[20.0, 45.1], [20.0, 45.0]]
    giant = feature({"id": "g", "name": "G", "kind": "port"}, {"type": "Polygon", "coordinates": [ring]})
    error = refused(collection(giant), limits=limits)
    assert error.details["reason"] == "too-many-vertices"
    half = [[20.0 + k * 1e-4, 45.0] for k in range(40)] + [[20.0, 45.1], [20.0, 45.0]]
    two = [
        feature({"id": f"h{k}", "name": "H", "kind": "port"}, {"type": "Polygon", "coordinates": [half]})
        for k in range(2)
    ]
    error = refused(collection(*two), limits=limits)
    assert (error.details["reason"], error.details["feature"]) == ("too-many-vertices", 1)


def test_a_giant_coordinates_array_is_refused_under_default_limits() -> None:
    ring = [[20.0, 45.0]] * 100_001
    giant = feature({"id": "g", "name": "G", "kind": "port"}, {"type": "Polygon", "coordinates": [ring]})
    assert refused(collection(giant)).details["reason"] == "too-many-vertices"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None)
@given(
    props=st.dictionaries(
        st.sampled_from(["id", "name", "kind", "agency", "impact_level", "marking"]), json_values
    ),
    geometry=json_values,
)
def test_arbitrary_features_parse_or_are_refused_cleanly(props: dict[str, Any], geometry: Any) -> None:
    data = collection({"type": "Feature", "properties": props, "geometry": geometry})
    try:
        zones = parse_zones(data)
    except InvalidInput as exc:
        assert exc.details["reason"]
    else:
        assert len(zones) == 1
