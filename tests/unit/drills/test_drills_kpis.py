"""KPIs from hand-made journal events: every figure checked against arithmetic done in the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.domain.events import JournalEvent, envelope
from concord.domain.marking import Marking
from concord.drills import (
    DRILL_EVENT_TYPES,
    DrillEnded,
    DrillInjected,
    DrillStarted,
    DrillTruthRecorded,
    FeedbackSubmitted,
    LessonRecorded,
    compute_kpis,
    drill_event_from_dict,
)
from concord.drills.events import DrillMessageAcknowledged, DrillMessageSent
from concord.drills.kpis import KpiTargets
from concord.sharing import ReleaseDecision

T0 = datetime(2026, 3, 14, 19, 0, tzinfo=UTC)
CG = Marking.default_for("CG")


def _at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


class Journal:
    def __init__(self) -> None:
        self.events: list[JournalEvent] = []

    def add(
        self, type_: str, payload: dict[str, Any], at: float, *, agency: str = "CG", exercise: bool = True
    ) -> None:
        ev = envelope(type_, payload, at=_at(at), actor="t", agency=agency, marking=CG, exercise=exercise)
        from dataclasses import replace

        self.events.append(
            replace(ev, seq=len(self.events) + 1, event_id=f"e{len(self.events) + 1}", recorded_at=_at(at))
        )

    def alert(
        self,
        alert_id: str,
        kind: str,
        at: float,
        *,
        lat: float = 41.0,
        lon: float = 26.5,
        agency: str = "CG",
        identity: str | None = None,
        exercise: bool = True,
    ) -> None:
        alert = {
            "id": alert_id,
            "kind": kind,
            "raised_at": _at(at).isoformat(),
            "updated_at": _at(at).isoformat(),
            "lat": lat,
            "lon": lon,
            "summary": "s",
            "evidence": {"identity": identity} if identity else {},
        }
        self.add(
            "AlertRaised", {"type": "alert-raised", "alert": alert}, at, agency=agency, exercise=exercise
        )

    def ack(self, alert_id: str, at: float, *, agency: str = "CG", exercise: bool = True) -> None:
        self.add(
            "AlertAcknowledged",
            {"alert_id": alert_id, "user_id": "u", "at": _at(at).isoformat()},
            at,
            agency=agency,
            exercise=exercise,
        )


def _plan(expectations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "ex1", "expectations": expectations}


def _drill() -> Journal:
    j = Journal()
    j.add(
        DrillStarted.type,
        DrillStarted(
            exercise_id="ex1",
            at=_at(0),
            plan=_plan(
                [
                    {
                        "inject": "dark",
                        "alert": "ais-dark",
                        "detect_within_s": 900,
                        "acknowledge_within_s": 30,
                        "incident_within_s": 200,
                    },
                    {"inject": "cross", "alert": "border-crossing", "detect_within_s": 60},
                    {"inject": "msg", "acknowledge_within_s": 100},
                ]
            ),
            plan_digest="d",
            speed=0,
            scenario_start=_at(0),
        ).to_dict(),
        0,
    )
    j.add(
        DrillInjected.type,
        DrillInjected(
            exercise_id="ex1",
            inject_id="dark",
            kind="go-dark",
            at=_at(300),
            details={"mmsi": 123456789, "truth_id": "vessel-1"},
        ).to_dict(),
        300,
    )
    j.add(
        DrillTruthRecorded.type,
        DrillTruthRecorded(
            exercise_id="ex1",
            at=_at(300),
            events=(
                {
                    "kind": "went-dark",
                    "at": _at(300).isoformat(),
                    "truth_ids": ["vessel-1"],
                    "lat": 40.9,
                    "lon": 26.9,
                },
            ),
        ).to_dict(),
        300,
    )
    j.add(
        DrillInjected.type,
        DrillInjected(
            exercise_id="ex1",
            inject_id="cross",
            kind="crossing",
            at=_at(600),
            details={"truth_id": "walker-1"},
        ).to_dict(),
        600,
    )
    j.add(
        DrillTruthRecorded.type,
        DrillTruthRecorded(
            exercise_id="ex1",
            at=_at(600),
            events=(
                {
                    "kind": "crossed-border",
                    "at": _at(600).isoformat(),
                    "truth_ids": ["walker-1"],
                    "lat": 41.3,
                    "lon": 26.46,
                },
            ),
        ).to_dict(),
        600,
    )
    j.add(
        DrillMessageSent.type,
        DrillMessageSent(
            exercise_id="ex1",
            message_id="m1",
            inject_id="msg",
            sender="BP",
            to=("CG",),
            text="EXERCISE EXERCISE EXERCISE hi",
            at=_at(400),
        ).to_dict(),
        400,
    )
    j.add(
        DrillMessageAcknowledged.type,
        DrillMessageAcknowledged(
            exercise_id="ex1", message_id="m1", agency="CG", user_id="u", at=_at(520)
        ).to_dict(),
        520,
    )
    # A landing nobody saw: a miss.
    j.add(
        DrillTruthRecorded.type,
        DrillTruthRecorded(
            exercise_id="ex1",
            at=_at(700),
            events=(
                {
                    "kind": "landed",
                    "at": _at(700).isoformat(),
                    "truth_ids": ["boat-1"],
                    "lat": 40.5,
                    "lon": 27.5,
                },
            ),
        ).to_dict(),
        700,
    )
    j.alert("a-dark", "ais-dark", 1190, lat=40.91, lon=26.9, identity="mmsi:123456789")
    j.ack("a-dark", 1250)
    j.add("incident.opened", {"incident_id": "i1", "alert_ids": ["a-dark"], "lead_agency": "CG"}, 1310)
    j.add("incident.status-changed", {"incident_id": "i1", "to_status": "closed"}, 2310)
    j.alert("a-cross", "border-crossing", 610, lat=41.3001, lon=26.4601, agency="BP")
    j.ack("a-cross", 700, agency="BP")
    j.alert("a-false", "border-crossing", 800, lat=41.5, lon=26.44, agency="BP")  # nothing crossed there
    j.add(
        DrillEnded.type,
        DrillEnded(
            exercise_id="ex1",
            at=_at(2400),
            steps=240,
            sensor_stats={"camera": {"observations": 200, "false_alarms": 5}},
        ).to_dict(),
        2400,
    )
    # A live alert after the drill: never part of the exercise.
    j.alert("a-live", "border-crossing", 3000, agency="BP", exercise=False)
    j.ack("a-live", 3400, agency="BP", exercise=False)
    return j


def test_exercise_kpis_by_hand() -> None:
    k = compute_kpis(_drill().events, exercise_id="ex1")
    checks = {(c.inject, c.measure): c for c in k.checks}
    assert checks["dark", "detect"].actual_s == 890.0 and checks["dark", "detect"].met
    assert checks["dark", "acknowledge"].actual_s == 60.0 and not checks["dark", "acknowledge"].met
    assert checks["dark", "incident"].actual_s == 120.0 and checks["dark", "incident"].met
    assert checks["cross", "detect"].actual_s == 10.0
    assert checks["msg", "acknowledge"].actual_s == 120.0 and not checks["msg", "acknowledge"].met
    assert k.sla_compliance == round(3 / 5, 4)
    assert (k.caught, k.missed) == (2, 1)
    assert k.detection_effectiveness == round(2 / 3, 4)
    assert k.alerts == 3
    assert k.overall["time_to_detect"].mean_s == 450.0  # (890 + 10) / 2
    assert k.per_agency["CG"]["time_to_acknowledge"].max_s == 60.0
    assert k.per_agency["BP"]["time_to_acknowledge"].mean_s == 90.0
    assert k.per_agency["CG"]["time_to_first_response"].mean_s == 60.0
    assert k.overall["time_to_resolve"].mean_s == 1000.0
    assert k.sensor_false_alarms["camera"]["ratio"] == 0.025
    assert k.unmatched_alerts == 1 and k.alert_false_alarm_ratio == round(1 / 3, 4)


def test_live_kpis_ignore_exercises_and_use_targets() -> None:
    k = compute_kpis(_drill().events, targets=KpiTargets(acknowledge_s=300))
    assert k.scope == "live" and k.alerts == 1
    assert k.overall["time_to_acknowledge"].mean_s == 400.0
    assert k.sla_compliance == 0.0 and k.detection_effectiveness is None
    within = compute_kpis(_drill().events, start=_at(0), end=_at(2999))
    assert within.alerts == 0


def _decision(
    record_id: str,
    at: float,
    *,
    viewer: str = "BP",
    decision: str = "full",
    agreements: tuple[str, ...] = ("mou-1",),
    exercise: bool = True,
) -> ReleaseDecision:
    return ReleaseDecision(
        record_kind="alert",
        record_id=record_id,
        originator="CG",
        viewer_user_id="u",
        viewer_agency=viewer,
        at=_at(at),
        decision=decision,  # type: ignore[arg-type]
        deny_reasons=(),
        policy_ids=(),
        agreement_ids=agreements,
        categories=(),
        redacted_fields=(),
        banner="b",
        exercise=exercise,
    )


def test_sharing_latency_and_volume() -> None:
    decisions = [
        _decision("a-dark", 1250),
        _decision("a-dark", 1300),  # later read by the same agency: not a new share
        _decision("a-dark", 1210, viewer="JOC", agreements=()),
        _decision("a-dark", 1200, viewer="CG"),  # its own agency
        _decision("a-dark", 1195, viewer="BP", decision="withheld"),
        _decision("a-live", 3100, exercise=False),
    ]
    k = compute_kpis(_drill().events, decisions, exercise_id="ex1")
    assert k.sharing_latency.count == 2
    assert k.sharing_latency.mean_s == 40.0  # (60 + 20) / 2
    assert k.share_volume_by_agreement == {"mou-1": 2, "(none)": 1}
    assert k.share_volume_by_pair == {"CG->BP": 2, "CG->JOC": 1}


def test_unknown_exercise_gives_empty_report() -> None:
    k = compute_kpis(_drill().events, exercise_id="other")
    assert k.alerts == 0 and k.checks == () and k.sla_compliance is None


def test_events_round_trip() -> None:
    for ev in _drill().events:
        if ev.type in DRILL_EVENT_TYPES:
            parsed = drill_event_from_dict(ev.type, ev.payload)
            assert parsed.to_dict() == ev.payload
    fb = FeedbackSubmitted(
        feedback_id="f",
        subject_kind="exercise",
        subject_id="ex1",
        user_id="u",
        agency="BP",
        at=T0,
        rating=4,
        went_well="a",
        to_improve="b",
    )
    assert drill_event_from_dict(fb.type, fb.to_dict()) == fb
    lesson = LessonRecorded(
        lesson_id="l",
        title="t",
        body="b",
        tags=("x",),
        subject_kind="",
        subject_id="",
        playbook_id=None,
        proposed_playbook="id: p",
        user_id="u",
        agency="BP",
        at=T0,
    )
    assert drill_event_from_dict(lesson.type, lesson.to_dict()) == lesson
    with pytest.raises(ValueError):
        drill_event_from_dict("Nope", {})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=5000, allow_nan=False), min_size=1, max_size=8))
def test_time_to_acknowledge_is_the_mean_of_delays(delays: list[float]) -> None:
    j = Journal()
    for i, d in enumerate(delays):
        j.alert(f"a{i}", "zone-entry", i * 10.0, exercise=False)
        j.ack(f"a{i}", i * 10.0 + d, exercise=False)
    k = compute_kpis(j.events)
    stat = k.overall["time_to_acknowledge"]
    assert stat.count == len(delays)
    assert stat.max_s == pytest.approx(max(delays), abs=2e-3)
    assert stat.mean_s == pytest.approx(sum(delays) / len(delays), abs=2e-3)
