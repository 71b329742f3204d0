"""The engine: batch and single evaluation agree, stale updates are ignored, state is bounded, throttling."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from rules_kit import T0, EngineFactory, border, box, track

from concord.domain.track import Track
from concord.domain.zone import Zone, ZoneKind
from concord.rules import RulesEngine, TrackState, default_rules
from concord.rules.base import Rule, TickingRule


def zones() -> list[Zone]:
    return [
        border(),
        box("r1", ZoneKind.RESTRICTED, 200, -2_000, 2_000, 2_000),
        box("ts", ZoneKind.TERRITORIAL_SEA, -5_000, -5_000, 5_000, 5_000),
    ]


def stream(seed: int = 3, tracks: int = 12, steps: int = 40) -> list[Track]:
    rng = random.Random(seed)
    pos = {f"t{k}": [rng.uniform(-3_000, 3_000), rng.uniform(-3_000, 3_000)] for k in range(tracks)}
    out = []
    for step in range(steps):
        for k, (tid, p) in enumerate(pos.items()):
            ve, vn = rng.uniform(-6, 6), rng.uniform(-6, 6)
            if k % 3 == 0:
                ve, vn = ve / 20, vn / 20
            p[0] += ve * 30
            p[1] += vn * 30
            ident = None if k % 2 else f"mmsi:{k}"
            out.append(track(tid, p[0], p[1], step * 30 + k * 0.1, ve=ve, vn=vn, identity=ident))
    return out


def test_batches_and_single_updates_give_the_same_events(make_engine: EngineFactory) -> None:
    updates = stream()
    single = make_engine(zones())
    batch = make_engine(zones())
    one_by_one = [e.to_dict() for u in updates for e in single.evaluate(u)]
    batched = [
        e.to_dict() for k in range(0, len(updates), 37) for e in batch.evaluate_many(updates[k : k + 37])
    ]
    assert one_by_one == batched
    assert len(one_by_one) > 10


def test_out_of_order_updates_are_ignored(make_engine: EngineFactory) -> None:
    engine = make_engine(zones())
    engine.evaluate(track("t1", -300, 0, 60))
    assert engine.evaluate(track("t1", 300, 0, 0)) == []
    state = engine.track_state("t1")
    assert isinstance(state, TrackState)
    assert state.x == pytest.approx(-300.0)


def test_two_steps_of_one_track_in_one_batch(make_engine: EngineFactory) -> None:
    engine = make_engine([border()])
    events = engine.evaluate_many(
        [track("t1", -300, 0, 0), track("t1", 300, 0, 30), track("t1", -300, 0, 60)]
    )
    crossings = [e for e in events if e.alert.kind.value == "border-crossing"]
    assert [(e.type, e.alert.evidence["crossings"][-1]["direction"]) for e in crossings] == [
        ("alert-raised", "outbound"),
        ("alert-updated", "inbound"),
    ]


def test_old_tracks_are_forgotten_on_tick(make_engine: EngineFactory) -> None:
    engine = make_engine(zones(), state_ttl_s=3_600.0)
    engine.evaluate(track("t1", 100, 100, 0))
    engine.tick(T0 + timedelta(seconds=3_000))
    assert engine.track_state("t1") is not None
    engine.tick(T0 + timedelta(seconds=4_000))
    assert engine.track_state("t1") is None


def test_tick_flushes_throttled_updates(make_engine: EngineFactory) -> None:
    engine = make_engine(
        [box("r1", ZoneKind.RESTRICTED, 0, 0, 5_000, 5_000)], zone_transit={"enabled": False}
    )
    for t in range(0, 610, 60):
        engine.evaluate(track("t1", 2_000, 2_000, t, ve=0.1))
    held = engine.evaluate(track("t1", 2_000, 2_000, 630, ve=0.1))
    assert held == []
    flushed = engine.tick(T0 + timedelta(seconds=700))
    assert [(e.type, e.alert.evidence["duration_s"]) for e in flushed] == [("alert-updated", 630.0)]
    assert engine.tick(T0 + timedelta(seconds=800)) == []


def test_default_rules_follow_the_protocols() -> None:
    rules = default_rules()
    assert all(isinstance(r, Rule) for r in rules)
    assert [r.name for r in rules if isinstance(r, TickingRule)] == ["ais-dark"]
    assert len({r.name for r in rules}) == len(rules)


def test_custom_rule_set(make_engine: EngineFactory) -> None:
    engine = RulesEngine(zones(), rules=[])
    assert engine.evaluate(track("t1", -300, 0, 0)) == []
    assert engine.evaluate(track("t1", 300, 0, 30)) == []


def test_duplicate_zone_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        RulesEngine([border("b"), border("b", x_m=10)])
