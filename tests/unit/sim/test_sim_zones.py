"""The scenario's zones export as GeoJSON a zone importer can read, with the geometry it promises."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from shapely.geometry import Point, shape

from concord.domain.zone import GEOMETRY_TYPES_BY_KIND, SectionImpact, Zone, ZoneKind
from concord.drills.sim import Scenario, ScenarioConfig, default_region


@pytest.fixture(scope="module")
def collection() -> dict[str, Any]:
    scenario = Scenario.from_config(
        ScenarioConfig(walkers=0, vehicles=0, boats=0, vessels=0, patrols=0, rendezvous_count=0)
    )
    doc = scenario.zones_geojson()
    plain: dict[str, Any] = json.loads(json.dumps(doc))  # plain JSON, no shapely or numpy values left
    return plain


def test_every_feature_has_the_required_properties(collection: dict[str, Any]) -> None:
    assert collection["type"] == "FeatureCollection"
    kinds: Counter[ZoneKind] = Counter()
    ids = set()
    for feature in collection["features"]:
        props = feature["properties"]
        assert {"id", "name", "kind"} <= set(props)
        assert props["id"] not in ids
        ids.add(props["id"])
        kind = ZoneKind(props["kind"])
        kinds[kind] += 1
        geom = shape(feature["geometry"])
        assert geom.is_valid and not geom.is_empty
        assert geom.geom_type in GEOMETRY_TYPES_BY_KIND[kind]
        minx, miny, maxx, maxy = geom.bounds
        assert 25.9 <= minx and maxx <= 27.1 and 40.6 <= miny and maxy <= 41.7
        if kind is ZoneKind.AOR:
            assert props["agency"] in {"BP", "CUS", "IMM", "CG", "ARMY", "INT"}
        if kind is ZoneKind.BORDER_SECTION:
            SectionImpact(props["impact_level"])
        Zone(
            id=props["id"],
            name=props["name"],
            kind=kind,
            geometry=geom,
            agency=props.get("agency"),
            impact_level=props.get("impact_level"),
        )
    assert kinds[ZoneKind.BORDER_LINE] == 1
    assert 4 <= kinds[ZoneKind.BORDER_SECTION] <= 6
    for kind in (ZoneKind.TERRITORIAL_SEA, ZoneKind.CONTIGUOUS_ZONE, ZoneKind.PORT, ZoneKind.RESTRICTED):
        assert kinds[kind] >= 1
    assert kinds[ZoneKind.CROSSING_POINT] >= 2


def _by_id(collection: dict[str, Any]) -> dict[str, Any]:
    return {f["properties"]["id"]: shape(f["geometry"]) for f in collection["features"]}


def test_aors_cover_the_agencies_and_overlap_where_they_should(collection: dict[str, Any]) -> None:
    zones = _by_id(collection)
    agencies = {f["properties"]["agency"] for f in collection["features"] if f["properties"]["kind"] == "aor"}
    assert {"BP", "CUS", "CG", "ARMY"} <= agencies
    # The coast guard's waters overlap customs at the port; the army sits behind the border police strip.
    assert zones["aor-cg-maritime"].intersection(zones["aor-cus-port"]).area > 0
    assert zones["aor-army-depth"].intersection(zones["aor-bp-land"]).area < 1e-6
    for cp in ("cp-north", "cp-south"):
        assert zones[f"aor-cus-{cp}"].contains(zones[cp])
        assert zones["border-main"].distance(zones[cp]) < 1e-6


def test_sea_zones_are_nested_and_sections_follow_the_border(collection: dict[str, Any]) -> None:
    zones = _by_id(collection)
    ts, cz = zones["ts-home"], zones["cz-home"]
    assert ts.intersection(cz).area < 1e-6
    assert ts.touches(cz) or ts.intersects(cz)
    # 12 nm is about 0.2 degrees of latitude; 24 nm twice that.
    assert 0.15 < ts.bounds[3] - ts.bounds[1] < 0.35
    sections = [g for k, g in zones.items() if k.startswith("sec-")]
    border = zones["border-main"]
    covered = sum(border.intersection(s).length for s in sections)
    assert covered == pytest.approx(border.length, rel=0.01)
    levels = {f["properties"].get("impact_level") for f in collection["features"]} - {None}
    assert {"low", "medium", "high", "critical"} == levels


def test_home_side_is_left_of_the_directed_border() -> None:
    region = default_region()
    line = next(z for z in region.zones_lonlat() if z.kind is ZoneKind.BORDER_LINE)
    coords = list(line.geometry.coords)
    assert coords[0][1] > coords[-1][1]  # drawn north to south, so east (home) is on the left
    assert region.home_land_m.contains(Point(region.to_xy(26.7, 41.4)))
    assert region.neighbour_land_m.contains(Point(region.to_xy(26.2, 41.4)))
