"""Border crossing: direction both ways, crossing points, folding, re-arm, impact, side-change property."""

from __future__ import annotations

import math

import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from rules_kit import FRAME, EngineFactory, border, box, kinds, track, zone

from concord.domain.alert import AlertKind, ImpactLevel
from concord.domain.zone import BorderSide, SectionImpact, ZoneKind
from concord.rules import EngineEvent, RulesConfig, RulesEngine
from concord.rules._index import ZoneIndex

ONLY_CROSSING = RulesConfig().model_copy(
    update={
        "zone_transit": RulesConfig().zone_transit.model_copy(update={"enabled": False}),
        "unidentified_near_border": RulesConfig().unidentified_near_border.model_copy(
            update={"enabled": False}
        ),
    }
)


def crossings(events: list[EngineEvent]) -> list[EngineEvent]:
    return [e for e in events if e.alert.kind is AlertKind.BORDER_CROSSING]


def test_crossing_west_to_east_is_outbound(make_engine: EngineFactory) -> None:
    engine = make_engine([border()], ONLY_CROSSING)
    assert engine.evaluate(track("t1", -300, 0, 0, ve=5)) == []
    events = engine.evaluate(track("t1", 300, 10, 60, ve=5))
    assert kinds(events) == [("alert-raised", "border-crossing")]
    alert = events[0].alert
    assert alert.evidence["direction"] == "outbound"
    assert alert.zone_ids == ("border-1",)
    assert alert.track_ids == ("t1",)
    assert alert.impact is ImpactLevel.HIGH
    # The crossing happened half-way through the step, at x = 0.
    assert alert.raised_at.second == 30
    assert math.isclose(alert.lon, 20.0, abs_tol=1e-9)


def test_crossing_east_to_west_is_inbound(make_engine: EngineFactory) -> None:
    engine = make_engine([border()], ONLY_CROSSING)
    engine.evaluate(track("t1", 300, 0, 0, ve=-5))
    events = engine.evaluate(track("t1", -300, 0, 60, ve=-5))
    assert [e.alert.evidence["direction"] for e in events] == ["inbound"]


def test_home_side_right_flips_direction(make_engine: EngineFactory) -> None:
    engine = make_engine([border(home_side=BorderSide.RIGHT)], ONLY_CROSSING)
    engine.evaluate(track("t1", -300, 0, 0))
    events = engine.evaluate(track("t1", 300, 0, 60))
    assert events[0].alert.evidence["direction"] == "inbound"


def test_staying_on_one_side_or_stopping_short_is_no_crossing(make_engine: EngineFactory) -> None:
    engine = make_engine([border()], ONLY_CROSSING)
    engine.evaluate(track("t1", -300, 0, 0))
    assert engine.evaluate(track("t1", -1, 0, 60)) == []
    assert engine.evaluate(track("t1", -200, 500, 120)) == []


def test_first_sighting_beyond_the_border_is_no_crossing(make_engine: EngineFactory) -> None:
    engine = make_engine([border()], ONLY_CROSSING)
    assert engine.evaluate(track("t1", 300, 0, 0)) == []


def test_crossing_near_a_crossing_point_is_expected_traffic(make_engine: EngineFactory) -> None:
    bcp = zone("bcp-1", ZoneKind.CROSSING_POINT, shapely.Point(0, 0))
    engine = make_engine([border(), bcp], ONLY_CROSSING)
    engine.evaluate(track("t1", -300, 100, 0))
    assert engine.evaluate(track("t1", 300, 100, 60)) == []
    engine.evaluate(track("t2", -300, 5_000, 0))
    assert len(crossings(engine.evaluate(track("t2", 300, 5_000, 60)))) == 1


def test_crossing_points_can_be_alerted_with_lower_confidence(make_engine: EngineFactory) -> None:
    bcp = zone("bcp-1", ZoneKind.CROSSING_POINT, shapely.Point(0, 0))
    engine = make_engine([border(), bcp], ONLY_CROSSING, border_crossing={"alert_at_crossing_points": True})
    engine.evaluate(track("t1", -300, 100, 0))
    (event,) = engine.evaluate(track("t1", 300, 100, 60))
    assert event.alert.evidence["at_crossing_point"] == ["bcp-1"]
    assert event.alert.confidence <= 0.5


def test_back_and_forth_within_rearm_folds_then_rearms(make_engine: EngineFactory) -> None:
    engine = make_engine([border()], ONLY_CROSSING)
    engine.evaluate(track("t1", -300, 0, 0))
    first = engine.evaluate(track("t1", 300, 0, 60))
    back = engine.evaluate(track("t1", -300, 0, 120))
    assert kinds(first) == [("alert-raised", "border-crossing")]
    assert kinds(back) == [("alert-updated", "border-crossing")]
    assert back[0].alert.id == first[0].alert.id
    assert back[0].alert.update_count == 1
    assert [c["direction"] for c in back[0].alert.evidence["crossings"]] == ["outbound", "inbound"]
    # Long after the re-arm window, a new crossing is a new episode (a new alert).
    engine.evaluate(track("t1", -300, 0, 2_000))
    again = engine.evaluate(track("t1", 300, 0, 2_060))
    assert kinds(again) == [("alert-raised", "border-crossing")]
    assert again[0].alert.id != first[0].alert.id
    assert again[0].alert.episode == 2


def test_impact_follows_the_border_section(make_engine: EngineFactory) -> None:
    critical = box(
        "sec-1", ZoneKind.BORDER_SECTION, -1_000, -1_000, 1_000, 1_000, impact_level=SectionImpact.CRITICAL
    )
    low = box("sec-2", ZoneKind.BORDER_SECTION, -1_000, 1_000, 1_000, 3_000, impact_level=SectionImpact.LOW)
    engine = make_engine([border(), critical, low], ONLY_CROSSING)
    engine.evaluate(track("t1", -300, 0, 0))
    (event,) = engine.evaluate(track("t1", 300, 0, 60))
    assert event.alert.impact is ImpactLevel.VERY_HIGH
    assert event.alert.zone_ids == ("border-1", "sec-1")
    engine.evaluate(track("t2", -300, 2_000, 0))
    (event,) = engine.evaluate(track("t2", 300, 2_000, 60))
    assert event.alert.impact is ImpactLevel.MEDIUM


def test_exercise_flag_and_marking_come_from_the_track(make_engine: EngineFactory) -> None:
    engine = make_engine([border()], ONLY_CROSSING)
    engine.evaluate(track("t1", -300, 0, 0, exercise=True))
    (event,) = engine.evaluate(track("t1", 300, 0, 60, exercise=True))
    assert event.alert.exercise is True
    assert event.alert.marking.rel_to == frozenset({"BP", "CG"})


def test_step_through_a_border_vertex_counts_once() -> None:
    # A zig-zag border with a vertex at (0, 0); the step passes exactly through it.
    line = shapely.LineString([(-500, -5_000), (0, 0), (-500, 5_000)])
    index = ZoneIndex([zone("b", ZoneKind.BORDER_LINE, line)], FRAME)
    import numpy as np

    found = index.crossings(np.array([-1_000.0]), np.array([0.0]), np.array([1_000.0]), np.array([0.0]))
    assert len(found[0]) == 1 and list(found) == [0]


def _border_y(x: float, knots: list[float]) -> float:
    """The reference side test: the zig-zag border y(x) through (x_k, knots[k]) with x_k = -3000 + 1000 k."""
    k = min(max(int((x + 3_000) // 1_000), 0), len(knots) - 2)
    x0 = -3_000 + 1_000 * k
    return knots[k] + (knots[k + 1] - knots[k]) * (x - x0) / 1_000


@settings(max_examples=60, deadline=None)
@given(
    knots=st.lists(st.floats(-400, 400), min_size=7, max_size=7),
    path=st.lists(st.tuples(st.floats(-2_500, 2_500), st.floats(-1_500, 1_500)), min_size=2, max_size=25),
)
def test_crossings_alternate_and_match_the_side_change(
    knots: list[float], path: list[tuple[float, float]]
) -> None:
    # The border runs west to east (far beyond the path), so its left side is the north: home is north.
    coords = [(-50_000.0, knots[0])] + [(-3_000 + 1_000 * k, y) for k, y in enumerate(knots)]
    coords.append((50_000.0, knots[-1]))
    line = zone("b", ZoneKind.BORDER_LINE, shapely.LineString(coords))
    config = ONLY_CROSSING.model_copy(
        update={"border_crossing": ONLY_CROSSING.border_crossing.model_copy(update={"rearm_s": 0.0})}
    )
    engine = RulesEngine([line], config, projection=FRAME)

    def north(p: tuple[float, float]) -> bool:
        return p[1] > _border_y(p[0], knots)

    directions: list[str] = []
    kept: list[tuple[float, float]] = []
    for step, p in enumerate(path):
        if abs(p[1] - _border_y(p[0], knots)) < 1e-3:
            continue  # a point on the line: the reference side is undefined there
        kept.append(p)
        for event in engine.evaluate(track("t", p[0], p[1], step * 10.0)):
            directions.extend(c["direction"] for c in event.alert.evidence["crossings"][-1:])
    if len(kept) < 2:
        return
    start, end = north(kept[0]), north(kept[-1])
    assert len(directions) % 2 == (1 if start != end else 0)
    expected_first = "outbound" if start else "inbound"
    for k, direction in enumerate(directions):
        assert direction == (expected_first if k % 2 == 0 else ("inbound" if start else "outbound"))


def test_touching_a_border_vertex_is_no_crossing() -> None:
    # A V-shaped border whose lowest vertex the step just touches from below.
    line = shapely.LineString([(-50_000, 0), (-1_000, 1), (0, 0), (1_000, 1), (50_000, 0)])
    index = ZoneIndex([zone("b", ZoneKind.BORDER_LINE, line)], FRAME)
    import numpy as np

    found = index.crossings(np.array([-1.0]), np.array([0.0]), np.array([1.0]), np.array([0.0]))
    assert found == {}
