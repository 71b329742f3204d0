"""Loitering: slow for the duration inside a watched zone; hysteresis; one alert per episode; re-arm."""

from __future__ import annotations

from datetime import timedelta

from rules_kit import T0, EngineFactory, box, kinds, reasons, track

from concord.domain.zone import Zone, ZoneKind
from concord.rules import EngineEvent, RulesEngine

QUIET = {"zone_transit": {"enabled": False}, "unidentified_near_border": {"enabled": False}}


def area() -> Zone:
    return box("r1", ZoneKind.RESTRICTED, 0, 0, 5_000, 5_000)


def drift(
    engine: RulesEngine, start_s: float, end_s: float, speed: float, every_s: float = 60.0, x: float = 2_000
) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    t = start_s
    while t <= end_s:
        events += engine.evaluate(track("t1", x, 2_000, t, ve=speed))
        t += every_s
    return events


def test_fires_after_the_duration_and_not_before(make_engine: EngineFactory) -> None:
    engine = make_engine([area()], **QUIET)
    assert drift(engine, 0, 540, 0.5) == []  # 9 minutes slow: just below the 10 minute threshold
    events = drift(engine, 600, 600, 0.5)
    assert kinds(events) == [("alert-raised", "loitering")]
    assert events[0].alert.evidence["duration_s"] == 600.0
    assert events[0].alert.zone_ids == ("r1",)


def test_not_slow_enough_never_fires(make_engine: EngineFactory) -> None:
    engine = make_engine([area()], **QUIET)
    assert drift(engine, 0, 3_600, 1.2) == []


def test_outside_any_watched_zone_never_fires(make_engine: EngineFactory) -> None:
    engine = make_engine([area()], **QUIET)
    assert drift(engine, 0, 3_600, 0.2, x=-2_000) == []


def test_slow_time_counts_from_entering_the_zone(make_engine: EngineFactory) -> None:
    engine = make_engine([area()], **QUIET)
    assert drift(engine, 0, 600, 0.5, x=-10) == []  # slow outside for 10 minutes
    assert drift(engine, 660, 1_200, 0.5, x=10) == []  # inside for 9 minutes
    assert kinds(drift(engine, 1_260, 1_260, 0.5, x=10)) == [("alert-raised", "loitering")]


def test_continuing_folds_throttled_and_hysteresis_keeps_the_episode(make_engine: EngineFactory) -> None:
    engine = make_engine([area()], **QUIET)
    drift(engine, 0, 600, 0.5)
    later = drift(engine, 630, 1_200, 1.2, every_s=30)  # between max and resume speed: still loitering
    assert {e.type for e in later} == {"alert-updated"}
    assert len(later) == 10  # one update per minute, not one per track update
    assert later[-1].alert.evidence["duration_s"] == 1_200.0


def test_speeding_up_ends_the_episode_and_later_slowness_rearms(make_engine: EngineFactory) -> None:
    engine = make_engine([area()], **QUIET)
    raised = drift(engine, 0, 600, 0.5)
    ended = drift(engine, 660, 660, 3.0)
    assert reasons(ended) == [("alert-updated", "ended")]
    assert ended[0].alert.ended_at is not None
    # Slow again two hours later: a new episode.
    events = drift(engine, 7_200, 7_800, 0.5)
    assert kinds(events) == [("alert-raised", "loitering")]
    assert events[0].alert.id != raised[0].alert.id
    assert events[0].alert.episode == 2


def test_short_pause_within_rearm_resumes_the_same_alert(make_engine: EngineFactory) -> None:
    engine = make_engine([area()], **QUIET)
    raised = drift(engine, 0, 600, 0.5)
    drift(engine, 660, 660, 3.0)
    events = drift(engine, 720, 1_320, 0.5)
    assert reasons(events) == [("alert-updated", "resumed")]
    assert events[0].alert.id == raised[0].alert.id


def test_an_episode_ended_as_stale_rearms_when_the_track_comes_back(make_engine: EngineFactory) -> None:
    engine = make_engine([area()], **QUIET)
    raised = drift(engine, 0, 600, 0.5)
    stale = engine.tick(T0 + timedelta(seconds=600 + 1_800))
    assert reasons(stale) == [("alert-updated", "ended")]
    back = drift(engine, 5_000, 5_000, 0.5)  # still slow in the zone: the rule continues its episode
    assert reasons(back) == [("alert-raised", None)]
    assert back[0].alert.id != raised[0].alert.id
