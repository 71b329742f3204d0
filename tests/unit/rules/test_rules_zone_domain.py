"""The Zone value: geometry types per kind, required properties, GeoJSON properties."""

from __future__ import annotations

import pytest
import shapely

from concord.domain.zone import POLYGONAL_KINDS, BorderSide, SectionImpact, Zone, ZoneKind

SQUARE = shapely.box(20.0, 45.0, 20.1, 45.1)


def test_kinds_refuse_the_wrong_geometry() -> None:
    with pytest.raises(ValueError, match="border-line takes"):
        Zone(id="b", name="B", kind=ZoneKind.BORDER_LINE, geometry=SQUARE)
    with pytest.raises(ValueError, match="restricted takes"):
        Zone(id="r", name="R", kind=ZoneKind.RESTRICTED, geometry=shapely.Point(20, 45))
    Zone(id="c", name="C", kind=ZoneKind.CROSSING_POINT, geometry=shapely.Point(20, 45))


def test_required_properties() -> None:
    with pytest.raises(ValueError, match="agency"):
        Zone(id="a", name="A", kind=ZoneKind.AOR, geometry=SQUARE)
    with pytest.raises(ValueError, match="impact level"):
        Zone(id="s", name="S", kind=ZoneKind.BORDER_SECTION, geometry=SQUARE)
    with pytest.raises(ValueError, match="id"):
        Zone(id="", name="X", kind=ZoneKind.PORT, geometry=SQUARE)


def test_values_are_coerced_and_exported() -> None:
    zone = Zone(
        id="s",
        name="S",
        kind="border-section",  # type: ignore[arg-type]
        geometry=SQUARE,
        impact_level="critical",  # type: ignore[arg-type]
    )
    assert zone.kind is ZoneKind.BORDER_SECTION
    assert zone.impact_level is SectionImpact.CRITICAL
    assert zone.properties() == {"id": "s", "name": "S", "kind": "border-section", "impact_level": "critical"}
    line = Zone(id="b", name="B", kind=ZoneKind.BORDER_LINE, geometry=shapely.LineString([(0, 0), (0, 1)]))
    assert line.properties()["home_side"] == BorderSide.LEFT.value
    assert SectionImpact.LOW.rank < SectionImpact.CRITICAL.rank
    assert ZoneKind.BORDER_LINE not in POLYGONAL_KINDS and ZoneKind.CROSSING_POINT not in POLYGONAL_KINDS
    assert ZoneKind.AOR in POLYGONAL_KINDS
