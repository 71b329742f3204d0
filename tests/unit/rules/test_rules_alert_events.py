"""Alert vocabulary: impact mapping, event round trips, folding a projection, acknowledgement."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from rules_kit import MARKING, T0, EngineFactory, border, track

from concord.domain.alert import (
    Alert,
    AlertAcknowledged,
    AlertEvent,
    AlertKind,
    AlertRaised,
    AlertUpdated,
    ImpactLevel,
    alert_event_from_dict,
    fold_alert_events,
    impact_for,
)
from concord.domain.zone import SectionImpact


def sample(**kw: Any) -> Alert:
    base: dict[str, Any] = {
        "id": "alert-1",
        "kind": AlertKind.BORDER_CROSSING,
        "dedup_key": "border-crossing|t1|b1",
        "episode": 1,
        "raised_at": T0,
        "updated_at": T0,
        "impact": ImpactLevel.HIGH,
        "confidence": 0.9,
        "track_ids": ("t1",),
        "zone_ids": ("b1",),
        "lat": 45.0,
        "lon": 20.0,
        "marking": MARKING,
        "summary": "<script>alert(1)</script> crossed b1 outbound",
        "evidence": {"direction": "outbound", "crossings": [{"at": T0.isoformat()}]},
    }
    base.update(kw)
    return Alert(**base)


@pytest.mark.parametrize(
    ("kind", "levels", "expected"),
    [
        (AlertKind.BORDER_CROSSING, [], ImpactLevel.HIGH),
        (AlertKind.BORDER_CROSSING, [SectionImpact.CRITICAL], ImpactLevel.VERY_HIGH),
        (AlertKind.BORDER_CROSSING, [SectionImpact.LOW], ImpactLevel.MEDIUM),
        (AlertKind.ZONE_EXIT, [SectionImpact.LOW], ImpactLevel.LOW),
        (AlertKind.ZONE_EXIT, [SectionImpact.CRITICAL], ImpactLevel.HIGH),
        (AlertKind.LOITERING, [SectionImpact.LOW, SectionImpact.HIGH, None], ImpactLevel.HIGH),
        (AlertKind.RENDEZVOUS, [SectionImpact.CRITICAL], ImpactLevel.VERY_HIGH),
    ],
)
def test_impact_mapping(kind: AlertKind, levels: list[SectionImpact | None], expected: ImpactLevel) -> None:
    assert impact_for(kind, levels) is expected


def test_every_kind_has_a_base_impact() -> None:
    for kind in AlertKind:
        assert impact_for(kind) in ImpactLevel


@pytest.mark.parametrize(
    "event",
    [
        AlertRaised(alert=sample()),
        AlertUpdated(alert=sample(update_count=2, ended_at=T0 + timedelta(minutes=5)), reason="ended"),
        AlertAcknowledged(alert_id="alert-1", user_id="u-7", at=T0, note="patrol sent"),
    ],
)
def test_events_round_trip_through_json(event: AlertEvent) -> None:
    data = json.loads(json.dumps(event.to_dict()))
    assert alert_event_from_dict(data) == event
    assert type(event).from_dict(data) == event


def test_unknown_event_type_and_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown alert event type"):
        alert_event_from_dict({"type": "alert-deleted"})
    with pytest.raises(ValueError, match="confidence"):
        sample(confidence=1.5)
    with pytest.raises(ValueError, match="confidence"):
        sample(confidence=float("nan"))
    with pytest.raises(ValueError, match="at least one track"):
        sample(track_ids=())
    bad = AlertUpdated(alert=sample()).to_dict() | {"reason": "because"}
    with pytest.raises(ValueError, match="reason"):
        alert_event_from_dict(bad)


def test_summary_is_kept_as_plain_text() -> None:
    data = AlertRaised(alert=sample()).to_dict()
    assert data["alert"]["summary"].startswith("<script>")


def test_fold_keeps_acknowledgement_across_later_updates() -> None:
    raised = AlertRaised(alert=sample())
    ack = raised.alert.acknowledge("u-7", T0 + timedelta(minutes=1))
    later = AlertUpdated(alert=replace(sample(), update_count=1, updated_at=T0 + timedelta(minutes=2)))
    state = fold_alert_events([raised, ack, later])
    alert = state["alert-1"]
    assert alert.update_count == 1
    assert alert.acknowledged_by == "u-7"
    assert alert.status == "acknowledged"
    assert alert.acknowledged_at == T0 + timedelta(minutes=1)
    with pytest.raises(KeyError):
        fold_alert_events([AlertAcknowledged(alert_id="nope", user_id="u", at=T0)])
    with pytest.raises(ValueError):
        raised.alert.acknowledge("", T0)


def test_engine_events_replay_to_the_engine_view(make_engine: EngineFactory) -> None:
    engine = make_engine([border()])
    events = []
    for k, x in enumerate([-300, 300, -300, 300, -800, -800, -800, -800, -800, -800, -800]):
        events += engine.evaluate(track("t1", x, 0, k * 30, ve=1))
    replayed = fold_alert_events(events)
    assert {a.id: a for a in engine.alerts()} == {
        k: v for k, v in replayed.items() if k in {a.id for a in engine.alerts()}
    }
    assert {a.kind for a in replayed.values()} >= {
        AlertKind.BORDER_CROSSING,
        AlertKind.UNIDENTIFIED_NEAR_BORDER,
    }
