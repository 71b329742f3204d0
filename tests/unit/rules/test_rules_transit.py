"""Zone entry and exit, overlapping AORs, boundary flapping folded into one alert per episode."""

from __future__ import annotations

import numpy as np
import shapely
from rules_kit import FRAME, EngineFactory, box, kinds, track, zone

from concord.domain.alert import ImpactLevel
from concord.domain.zone import Zone, ZoneKind
from concord.rules import EngineEvent
from concord.rules._index import ZoneIndex

QUIET = {
    "unidentified_near_border": {"enabled": False},
}


def restricted() -> Zone:
    return box("r1", ZoneKind.RESTRICTED, 0, 0, 1_000, 1_000, name="Firing range")


def test_entry_then_exit(make_engine: EngineFactory) -> None:
    engine = make_engine([restricted()], **QUIET)
    assert engine.evaluate(track("t1", -100, 500, 0, ve=5)) == []
    entered = engine.evaluate(track("t1", 100, 500, 40, ve=5))
    assert kinds(entered) == [("alert-raised", "zone-entry")]
    assert entered[0].alert.summary == "t1 entered restricted Firing range"
    assert entered[0].alert.zone_ids == ("r1",)
    assert entered[0].alert.impact is ImpactLevel.MEDIUM
    assert engine.evaluate(track("t1", 500, 500, 120, ve=5)) == []
    left = engine.evaluate(track("t1", 1_100, 500, 240, ve=5))
    assert kinds(left) == [("alert-raised", "zone-exit")]
    assert left[0].alert.evidence["inside_s"] == 200.0


def test_first_seen_inside_is_an_entry_with_lower_confidence(make_engine: EngineFactory) -> None:
    engine = make_engine([restricted()], **QUIET)
    (event,) = engine.evaluate(track("t1", 500, 500, 0))
    assert event.alert.evidence["first_seen"] is True
    assert event.alert.confidence < 0.9
    assert "appeared inside" in event.alert.summary


def test_unwatched_kinds_raise_nothing(make_engine: EngineFactory) -> None:
    aor = box("aor-bp", ZoneKind.AOR, -5_000, -5_000, 5_000, 5_000)
    engine = make_engine([aor], **QUIET)
    assert engine.evaluate(track("t1", -6_000, 0, 0)) == []
    assert engine.evaluate(track("t1", 0, 0, 60)) == []


def test_overlapping_aors_are_both_located_and_both_entered(make_engine: EngineFactory) -> None:
    bp = box("aor-bp", ZoneKind.AOR, -5_000, -5_000, 5_000, 5_000, agency="BP")
    cg = box("aor-cg", ZoneKind.AOR, 0, -5_000, 10_000, 5_000, agency="CG")
    index = ZoneIndex([bp, cg], FRAME)
    located = index.locate(np.array([2_000.0, -2_000.0, 7_000.0, 20_000.0]), np.zeros(4))
    assert [sorted(index.zones[z].id for z in found) for found in located] == [
        ["aor-bp", "aor-cg"],
        ["aor-bp"],
        ["aor-cg"],
        [],
    ]
    engine = make_engine([bp, cg], **QUIET, zone_transit={"kinds": frozenset({ZoneKind.AOR})})
    engine.evaluate(track("t1", -6_000, 0, 0))
    engine.evaluate(track("t1", -2_000, 0, 60))
    events = engine.evaluate(track("t1", 2_000, 0, 120))
    assert [(e.type, e.alert.zone_ids) for e in events] == [("alert-raised", ("aor-cg",))]


def test_boundary_flapping_folds_into_one_entry_and_one_exit(make_engine: EngineFactory) -> None:
    engine = make_engine([restricted()], **QUIET)
    engine.evaluate(track("t1", -5, 500, 0))
    events: list[EngineEvent] = []
    for k in range(1, 7):
        events += engine.evaluate(track("t1", 5 if k % 2 else -5, 500, k * 10))
    assert kinds(events) == [
        ("alert-raised", "zone-entry"),
        ("alert-raised", "zone-exit"),
        ("alert-updated", "zone-entry"),
        ("alert-updated", "zone-exit"),
        ("alert-updated", "zone-entry"),
        ("alert-updated", "zone-exit"),
    ]
    assert len({e.alert.id for e in events}) == 2
    assert events[-2].alert.update_count == 2
    # After the re-arm window a new visit is a new episode.
    again = engine.evaluate(track("t1", 5, 500, 1_000))
    assert kinds(again) == [("alert-raised", "zone-entry")]
    assert again[0].alert.episode == 2


def test_marked_zone_narrows_the_alert_marking(make_engine: EngineFactory) -> None:
    from rules_kit import MARKING

    from concord.domain.marking import Marking, Tlp

    secret = Marking(classification="SECRET", originator="MIL", rel_to=frozenset({"BP"}), tlp=Tlp.RED)
    zone_r = zone("r9", ZoneKind.RESTRICTED, shapely.box(0, 0, 100, 100), marking=secret)
    engine = make_engine([zone_r], **QUIET)
    (event,) = engine.evaluate(track("t1", 50, 50, 0))
    assert event.alert.marking.classification == "SECRET"
    assert event.alert.marking.rel_to == frozenset({"BP"})
    assert event.alert.marking.is_narrowing_of(MARKING)
