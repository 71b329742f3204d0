"""Speed and course anomalies: thresholds per target kind, consecutive reports, turn windows."""

from __future__ import annotations

import pytest
from rules_kit import EngineFactory, kinds, reasons, track

from concord.domain.observation import TargetKind
from concord.rules import EngineEvent, RulesEngine
from concord.rules.anomaly import turn_deg

QUIET = {"zone_transit": {"enabled": False}, "unidentified_near_border": {"enabled": False}}


def run(engine: RulesEngine, reports: list[tuple[float, float, float]]) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    for t, ve, vn in reports:
        events += engine.evaluate(
            track("t1", 0, 0, t, ve=ve, vn=vn, target=TargetKind.PERSON, identity="tak:x")
        )
    return events


def test_a_person_running_at_vehicle_speed_twice_fires(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    events = run(engine, [(0, 10.0, 0), (10, 10.0, 0)])
    assert kinds(events) == [("alert-raised", "speed-anomaly")]
    assert events[0].alert.evidence["max_speed_mps"] == 4.0


def test_one_overshoot_or_just_below_the_tolerance_does_not(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    assert run(engine, [(0, 10.0, 0), (10, 1.0, 0), (20, 10.0, 0), (30, 1.0, 0)]) == []
    assert run(engine, [(40, 4.39, 0), (50, 4.39, 0), (60, 4.39, 0)]) == []


def test_speeding_episode_folds(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    events = run(engine, [(t, 10.0, 0) for t in range(0, 100, 10)])
    # Raised on the second fast report, then evidence folds in at most once a minute.
    assert reasons(events) == [("alert-raised", None), ("alert-updated", "folded")]
    assert events[1].alert.updated_at.second == 10 and events[1].alert.updated_at.minute == 1
    # A new spell soon after folds into the same alert; long after, it is a new alert.
    again = run(engine, [(100, 1.0, 0), (110, 10.0, 0), (120, 10.0, 0)])
    assert reasons(again) == [("alert-updated", "folded")]
    assert len({e.alert.id for e in events + again}) == 1
    later = run(engine, [(1_000, 1.0, 0), (1_010, 10.0, 0), (1_020, 10.0, 0)])
    assert reasons(later) == [("alert-raised", None)]
    assert later[0].alert.episode == 2


def vessel(engine: RulesEngine, reports: list[tuple[float, float, float]]) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    for t, ve, vn in reports:
        events += engine.evaluate(track("v1", 0, 0, t, ve=ve, vn=vn, identity="mmsi:1"))
    return events


def test_sharp_turn_fires_and_gentle_turn_does_not(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    assert vessel(engine, [(0, 0, 5.0), (20, 3.5, 3.5)]) == []  # 45 degrees
    events = vessel(engine, [(40, 5.0, -1.0)])  # 101 degrees from north within 60 s
    assert kinds(events) == [("alert-raised", "course-anomaly")]
    assert events[0].alert.evidence["turn_deg"] == pytest.approx(101.3, abs=0.1)


def test_turn_spread_over_more_than_the_window_does_not_fire(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    # 0 -> 80 degrees in 50 s, 80 -> 160 in 60 s: 160 degrees in all, but never 90 within 60 s.
    c80, s80 = 0.9848, 0.1736  # sin and cos of 80 degrees
    c160, s160 = 0.3420, -0.9397  # sin and cos of 160 degrees
    assert vessel(engine, [(0, 0, 5.0), (50, 5 * c80, 5 * s80), (110, 5 * c160, 5 * s160)]) == []


def test_slow_vessels_turning_on_the_spot_are_ignored(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    assert vessel(engine, [(0, 0, 1.0), (10, 0, -1.0), (20, 1.0, 0)]) == []


@pytest.mark.parametrize(("a", "b", "expected"), [(10, 350, 20), (0, 180, 180), (90, 270, 180), (359, 1, 2)])
def test_turn_angle_wraps(a: float, b: float, expected: float) -> None:
    assert turn_deg(a, b) == pytest.approx(expected)


def test_turns_fold_within_rearm_and_rearm_after(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    first = vessel(engine, [(0, 0, 5.0), (20, 0, -5.0)])
    second = vessel(engine, [(40, 0, 5.0)])
    assert reasons(first) == [("alert-raised", None)]
    assert reasons(second) == [("alert-updated", "folded")]
    assert len(second[0].alert.evidence["turns"]) == 2
    later = vessel(engine, [(1_000, 0, -5.0), (1_020, 0, 5.0)])
    assert reasons(later) == [("alert-raised", None)]
