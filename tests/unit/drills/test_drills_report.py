"""Documents: text is escaped, charts and maps are real PNGs, the exercise banner is on every page."""

from __future__ import annotations

from datetime import UTC, datetime

from shapely.geometry import LineString, Point, Polygon

from concord.drills import MapLayer, ReportDoc, TimelineItem, compute_kpis, render_html
from concord.drills.capability import SensorReport, assess_capability
from concord.drills.kpis import AlertFacts
from concord.drills.report import kpi_chart_png, map_png

NOW = datetime(2026, 3, 14, 20, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"


def test_html_escapes_everything_it_is_given() -> None:
    hostile = "<script>alert('x')</script>"
    doc = ReportDoc(
        title=hostile,
        kind="aar",
        subject=hostile,
        viewer=hostile,
        generated_at=NOW,
        exercise=True,
        summary=[hostile],
        timeline=[TimelineItem(at=NOW, kind="AlertRaised", agency="BP", summary=hostile, banner=hostile)],
        sections={hostile: [hostile]},
        action_items=[hostile],
        withheld=3,
    )
    html = render_html(doc)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "3 item(s) withheld" in html
    assert "EXERCISE EXERCISE EXERCISE" in html
    live = render_html(
        ReportDoc(
            title="t", kind="sitrep", subject="s", viewer="v", generated_at=NOW, exercise=False, summary=[]
        )
    )
    assert "EXERCISE EXERCISE" not in live and "LIVE OPERATIONS" in live


def test_chart_and_map_are_pngs() -> None:
    kpis = compute_kpis([])
    assert kpi_chart_png(kpis).startswith(PNG)
    layer = MapLayer(
        zones=[
            ("s1", "border-section", LineString([(26.4, 41.2), (26.5, 41.5)])),
            ("aor", "aor", Polygon([(26.4, 41.2), (26.6, 41.2), (26.6, 41.4)])),
            ("cp", "crossing-point", Point(26.45, 41.3)),
        ],
        tracks=[(26.45, 41.3)],
        alerts=[(26.46, 41.31, "border-crossing")],
    )
    assert map_png(layer, title="t").startswith(PNG)
    assert map_png(MapLayer(), title="empty").startswith(PNG)


def test_capability_ranks_the_unwatched_section_weakest() -> None:
    sections = [
        ("north", "North", "high", LineString([(26.45, 41.5), (26.45, 41.6)])),
        ("south", "South", "low", LineString([(26.45, 41.2), (26.45, 41.3)])),
    ]
    reports = [
        SensorReport(agency="BP", sensor="camera", source=f"camera:BP-C{i}", lat=41.25, lon=26.45)
        for i in range(3)
    ]
    alert = AlertFacts(
        id="a",
        kind="border-crossing",
        agency="BP",
        raised_at=NOW,
        lat=41.55,
        lon=26.45,
        identity=None,
        summary="",
    )
    report = assess_capability(sections, reports, ["BP", "BP", "CG"], [alert], weakest=1)
    assert report.weakest == ["north"]
    by_id = {s["id"]: s for s in report.sections}
    assert by_id["south"]["sensors"] == 3 and by_id["north"]["unacknowledged"] == 1
    assert report.agencies["BP"]["sensors"] == {"camera": 3}
    assert report.agencies["BP"]["units"] == 2 and report.agencies["CG"]["units"] == 1
    assert report.agencies["BP"]["acknowledged_share"] == 0.0
