"""AIS going dark: found by tick(now), only near watched zones, ended when the identity reports again."""

from __future__ import annotations

from datetime import datetime, timedelta

from rules_kit import T0, EngineFactory, box, kinds, reasons, track

from concord.domain.track import TrackStatus
from concord.domain.zone import Zone, ZoneKind

QUIET = {"zone_transit": {"enabled": False}, "loitering": {"enabled": False}}
MMSI = "mmsi:211234567"


def sea() -> Zone:
    return box("ts-1", ZoneKind.TERRITORIAL_SEA, 0, 0, 20_000, 20_000)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_dark_after_the_gap_and_not_before(make_engine: EngineFactory) -> None:
    engine = make_engine([sea()], **QUIET)
    engine.evaluate(track("t1", 5_000, 5_000, 0, ve=5, identity=MMSI))
    assert engine.tick(at(899)) == []
    events = engine.tick(at(900))
    assert kinds(events) == [("alert-raised", "ais-dark")]
    alert = events[0].alert
    assert alert.evidence["gap_s"] == 900.0
    assert alert.evidence["identity"] == MMSI
    assert alert.zone_ids == ("ts-1",)
    assert alert.track_ids == ("t1",)
    # One alert per episode: later ticks do not raise again.
    assert [e for e in engine.tick(at(2_000)) if e.type == "alert-raised"] == []


def test_near_a_zone_counts_far_does_not(make_engine: EngineFactory) -> None:
    engine = make_engine([sea()], **QUIET)
    engine.evaluate(track("near", -8_000, 5_000, 0, identity="mmsi:1"))
    engine.evaluate(track("far", -30_000, 5_000, 0, identity="mmsi:2"))
    events = engine.tick(at(1_000))
    assert [e.alert.track_ids for e in events] == [("near",)]
    assert events[0].alert.evidence["near"] == [{"zone_id": "ts-1", "distance_m": 8_000.0}]


def test_only_ais_identities_go_dark(make_engine: EngineFactory) -> None:
    engine = make_engine([sea()], **QUIET)
    engine.evaluate(track("radar", 5_000, 5_000, 0))
    engine.evaluate(track("tak", 5_000, 5_000, 0, identity="tak:ANDROID-1"))
    assert engine.tick(at(5_000)) == []


def test_coasting_predictions_are_not_reports(make_engine: EngineFactory) -> None:
    engine = make_engine([sea()], **QUIET)
    engine.evaluate(track("t1", 5_000, 5_000, 0, identity=MMSI))
    engine.evaluate(track("t1", 5_300, 5_000, 600, identity=MMSI, status=TrackStatus.COASTING))
    engine.evaluate(track("t1", 5_600, 5_000, 880, identity=MMSI, status=TrackStatus.DELETED))
    events = engine.tick(at(900))
    assert kinds(events) == [("alert-raised", "ais-dark")]
    assert events[0].alert.evidence["last_report_at"] == T0.isoformat()


def test_reporting_again_ends_the_episode_even_on_a_new_track(make_engine: EngineFactory) -> None:
    engine = make_engine([sea()], **QUIET)
    engine.evaluate(track("t1", 5_000, 5_000, 0, identity=MMSI))
    (raised,) = engine.tick(at(1_000))
    events = engine.evaluate(track("t9", 8_000, 9_000, 3_000, identity=MMSI))
    assert reasons(events) == [("alert-updated", "ended")]
    alert = events[0].alert
    assert alert.id == raised.alert.id
    assert alert.ended_at == at(3_000)
    assert alert.evidence["gap_s"] == 3_000.0
    assert alert.evidence["moved_m"] == 5_000.0
    assert alert.evidence["reappeared_track_id"] == "t9"


def test_dark_again_soon_resumes_then_later_rearms(make_engine: EngineFactory) -> None:
    engine = make_engine([sea()], **QUIET)
    engine.evaluate(track("t1", 5_000, 5_000, 0, identity=MMSI))
    (first,) = engine.tick(at(1_000))
    engine.evaluate(track("t1", 5_000, 5_000, 1_200, identity=MMSI))
    resumed = engine.tick(at(2_200))
    assert reasons(resumed) == [("alert-updated", "resumed")]
    assert resumed[0].alert.id == first.alert.id
    engine.evaluate(track("t1", 5_000, 5_000, 2_400, identity=MMSI))
    assert kinds(engine.tick(at(9_000))) == [("alert-raised", "ais-dark")]
