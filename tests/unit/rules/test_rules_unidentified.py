"""Unidentified track near the border: distance and dwell thresholds, identity ends it, re-arm."""

from __future__ import annotations

from typing import Any

from rules_kit import EngineFactory, border, box, kinds, reasons, track

from concord.domain.alert import ImpactLevel
from concord.domain.observation import TargetKind
from concord.domain.zone import SectionImpact, ZoneKind
from concord.rules import EngineEvent, RulesEngine

QUIET = {"zone_transit": {"enabled": False}, "loitering": {"enabled": False}}


def dwell(
    engine: RulesEngine, x_m: float, start_s: float, end_s: float, every_s: float = 10.0, **kw: Any
) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    t = start_s
    while t <= end_s:
        events += engine.evaluate(track("u1", x_m, 0, t, target=TargetKind.PERSON, **kw))
        t += every_s
    return events


def test_fires_after_dwelling_near_the_border(make_engine: EngineFactory) -> None:
    engine = make_engine([border()], **QUIET)
    assert dwell(engine, -900, 0, 50) == []
    events = dwell(engine, -900, 60, 60)
    assert kinds(events) == [("alert-raised", "unidentified-near-border")]
    assert events[0].alert.evidence["distance_m"] == 900.0
    assert events[0].alert.zone_ids == ("border-1",)
    # Staying on: one alert, evidence folded at most once a minute.
    more = dwell(engine, -900, 70, 300)
    assert {e.type for e in more} == {"alert-updated"}
    assert len(more) == 4
    assert {e.alert.id for e in more} == {events[0].alert.id}


def test_just_beyond_the_distance_never_fires(make_engine: EngineFactory) -> None:
    engine = make_engine([border()], **QUIET)
    assert dwell(engine, -1_001, 0, 600) == []


def test_identified_tracks_and_friendly_units_are_ignored(make_engine: EngineFactory) -> None:
    engine = make_engine([border()], **QUIET)
    assert dwell(engine, -500, 0, 600, identity="tak:ANDROID-1") == []
    events: list[EngineEvent] = []
    for t in range(0, 600, 10):
        events += engine.evaluate(track("unit", -500, 0, t, target=TargetKind.UNIT))
    assert events == []


def test_identification_ends_the_episode_and_leaving_rearms(make_engine: EngineFactory) -> None:
    section = box(
        "sec-1", ZoneKind.BORDER_SECTION, -2_000, -2_000, 2_000, 2_000, impact_level=SectionImpact.HIGH
    )
    engine = make_engine([border(), section], **QUIET)
    raised = dwell(engine, -500, 0, 60)
    assert raised[0].alert.impact is ImpactLevel.HIGH
    assert raised[0].alert.zone_ids == ("border-1", "sec-1")
    ended = dwell(engine, -500, 70, 70, identity="tak:ANDROID-1")
    assert reasons(ended) == [("alert-updated", "ended")]
    # Back, unidentified, an hour later: a new episode.
    events = dwell(engine, -500, 3_600, 3_660)
    assert kinds(events) == [("alert-raised", "unidentified-near-border")]
    assert events[0].alert.episode == 2
