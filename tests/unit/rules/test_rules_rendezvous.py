"""Rendezvous: needs closeness and slowness together for the whole duration, at sea, same exercise flag."""

from __future__ import annotations

from typing import Any

from rules_kit import MARKING, EngineFactory, box, kinds, reasons, track

from concord.domain.marking import Marking, Tlp
from concord.domain.observation import TargetKind
from concord.domain.zone import ZoneKind
from concord.rules import EngineEvent, RulesEngine

QUIET = {"zone_transit": {"enabled": False}, "unidentified_near_border": {"enabled": False}}


def meet(
    engine: RulesEngine,
    seconds: float,
    *,
    gap_m: float = 100.0,
    speed: float = 0.5,
    b_kw: dict[str, Any] | None = None,
    a_kw: dict[str, Any] | None = None,
    every_s: float = 30.0,
    start_s: float = 0.0,
) -> list[EngineEvent]:
    events: list[EngineEvent] = []
    t = start_s
    while t <= seconds:
        events += engine.evaluate(track("a", 0, 0, t, ve=speed, **(a_kw or {})))
        events += engine.evaluate(track("b", gap_m, 0, t + 1, ve=speed, **(b_kw or {})))
        t += every_s
    return events


def test_close_and_slow_for_the_duration_fires_once(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    assert meet(engine, 270) == []  # the pair's clock starts at t=1: 299 s by t=300, not yet
    events = meet(engine, 330, start_s=300)
    raised = [e for e in events if e.type == "alert-raised"]
    assert kinds(raised) == [("alert-raised", "rendezvous")]
    alert = raised[0].alert
    assert alert.track_ids == ("a", "b")
    assert alert.evidence["distance_m"] == 100.0
    assert alert.evidence["duration_s"] >= 300.0


def test_close_but_fast_never_fires(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    assert meet(engine, 1_200, speed=3.0) == []


def test_slow_but_apart_never_fires(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    assert meet(engine, 1_200, gap_m=250.0) == []


def test_one_fast_spell_restarts_the_clock(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    meet(engine, 240)
    engine.evaluate(track("a", 0, 0, 250, ve=4.0))
    assert meet(engine, 480, start_s=270) == []  # 211 s close and slow since the reset


def test_in_port_is_not_at_sea(make_engine: EngineFactory) -> None:
    port = box("port-1", ZoneKind.PORT, -1_000, -1_000, 1_000, 1_000)
    engine = make_engine([port], **QUIET)
    assert meet(engine, 1_200) == []


def test_people_do_not_rendezvous_at_sea(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    kw = {"target": TargetKind.PERSON}
    assert meet(engine, 1_200, a_kw=kw, b_kw=kw) == []


def test_exercise_tracks_do_not_meet_real_ones(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    assert meet(engine, 1_200, b_kw={"exercise": True}) == []


def test_separating_ends_the_episode_and_marking_is_combined(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    other = Marking(
        classification="CONFIDENTIAL", originator="CG", rel_to=frozenset({"BP", "CG"}), tlp=Tlp.RED
    )
    events = meet(engine, 330, b_kw={"marking": other})
    alert = next(e.alert for e in events if e.type == "alert-raised")
    assert alert.marking.classification == "CONFIDENTIAL"
    assert alert.marking.tlp is Tlp.RED
    assert alert.marking.is_narrowing_of(MARKING)
    ended = engine.evaluate(track("a", -2_000, 0, 400, ve=0.5))
    assert reasons(ended) == [("alert-updated", "ended")]
    assert ended[0].alert.id == alert.id


def test_meeting_again_soon_resumes_and_long_after_is_a_new_episode(make_engine: EngineFactory) -> None:
    engine = make_engine([], **QUIET)
    first = [e for e in meet(engine, 330) if e.type == "alert-raised"]
    engine.evaluate(track("a", -2_000, 0, 400, ve=0.5))  # apart: the episode ends
    again = meet(engine, 830, start_s=500)
    assert reasons(again)[0] == ("alert-updated", "resumed")
    assert {e.alert.id for e in again} == {first[0].alert.id}
    engine.evaluate(track("a", -2_000, 0, 900, ve=0.5))
    later = [e for e in meet(engine, 4_330, start_s=4_000) if e.type == "alert-raised"]
    assert len(first) == len(later) == 1
    assert later[0].alert.episode == 2
