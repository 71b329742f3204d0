"""Event serialisation: every event round-trips through JSON; hostile payloads are refused clearly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from incidents_kit import START

from concord.domain.coordination import MessagePosted, UnitPositionUpdated
from concord.domain.errors import InvalidInput
from concord.domain.incident import (
    EscalationStep,
    IncidentOpened,
    Severity,
    TaskCreated,
)
from concord.domain.incident_codec import (
    event_from_dict,
    event_from_journal,
    event_to_journal,
    registered_event_types,
)
from concord.domain.marking import Marking, Tlp

MARK = Marking(classification="RESTRICTED", originator="CG", rel_to=frozenset({"CUS"}), tlp=Tlp.GREEN)


def task_created(**kw: Any) -> TaskCreated:
    fields: dict[str, Any] = {
        "at": START,
        "actor": "u1",
        "incident_id": "i1",
        "task_id": "t1",
        "title": "Intercept",
        "agency": "CG",
        "role": "operator",
        "ack_sla_s": 60,
        "complete_sla_s": 600,
        "escalation": (EscalationStep(agency="JOC", role="commander", delay_s=0),),
        "required": True,
    }
    fields.update(kw)
    return TaskCreated(**fields)


def test_every_event_type_is_registered_with_a_past_tense_name() -> None:
    types = registered_event_types()
    assert len(types) >= 40
    for name, cls in types.items():
        assert cls.type == name
        words = name.split(".")[-1].split("-")
        assert any(w.endswith(("ed", "read", "left")) for w in words), name


def test_round_trip_through_json_and_the_journal_envelope() -> None:
    event = task_created()
    data = json.loads(json.dumps(event.to_dict()))
    assert data["type"] == "task.created"
    assert data["escalation"] == [{"agency": "JOC", "role": "commander", "delay_s": 0}]
    assert event_from_dict(data) == event
    entry = event_to_journal(event, agency="CG", marking=MARK, exercise=True)
    assert (
        entry.type == "task.created" and entry.actor == "u1" and entry.occurred_at == START and entry.exercise
    )
    assert event_from_journal(entry) == event
    assert TaskCreated.from_dict(data) == event


def test_times_are_utc_and_naive_times_are_refused() -> None:
    from datetime import timezone

    event = task_created(at=datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    assert event.at == START and event.at.tzinfo == UTC
    with pytest.raises(ValueError):
        task_created(at=datetime(2026, 3, 1, 12, 0))
    data = task_created().to_dict()
    data["at"] = "2026-03-01T12:00:00"
    with pytest.raises(InvalidInput):
        event_from_dict(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("type", "task.exploded"),
        ("type", None),
        ("ack_sla_s", "60"),
        ("ack_sla_s", 60.0),
        ("ack_sla_s", True),
        ("required", "yes"),
        ("required", 1),
        ("title", 42),
        ("title", "x" * 30_000),
        ("escalation", "JOC"),
        ("escalation", [{"agency": "JOC", "role": "commander"}]),
        ("escalation", [{"agency": "JOC", "role": "commander", "delay_s": 0, "extra": 1}]),
        ("at", "yesterday"),
        ("at", 1700000000),
        ("at", "2" * 100),
    ],
)
def test_hostile_fields_are_refused(field: str, value: object) -> None:
    data = task_created().to_dict()
    data[field] = value
    with pytest.raises(InvalidInput):
        event_from_dict(data)


def test_missing_and_unknown_fields_are_refused() -> None:
    data = task_created().to_dict()
    del data["task_id"]
    with pytest.raises(InvalidInput) as err:
        event_from_dict(data)
    assert err.value.details["field"] == "task.created.task_id"
    data = task_created().to_dict()
    data["admin"] = True
    with pytest.raises(InvalidInput):
        event_from_dict(data)
    junk: object
    for junk in [None, [], "task.created", 7]:
        with pytest.raises(InvalidInput):
            event_from_dict(junk)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        IncidentOpened.from_dict(task_created().to_dict())


@pytest.mark.parametrize("lat", [float("nan"), float("inf"), 91.0, -1e9])
def test_non_finite_or_out_of_range_numbers_are_refused(lat: float) -> None:
    data = UnitPositionUpdated(
        at=START, actor="trk", unit_id="u1", lat=1.0, lon=2.0, observed_at=START
    ).to_dict()
    data["lat"] = lat
    with pytest.raises(InvalidInput):
        event_from_dict(data)


def test_bad_markings_and_enums_are_refused() -> None:
    opened = IncidentOpened(
        at=START,
        actor="u",
        incident_id="i",
        title="t",
        lead_agency="CG",
        severity=Severity.HIGH,
        marking=MARK,
    )
    data = opened.to_dict()
    data["severity"] = "apocalyptic"
    with pytest.raises(InvalidInput):
        event_from_dict(data)
    data = opened.to_dict()
    data["marking"] = {"classification": "RESTRICTED"}
    with pytest.raises(InvalidInput):
        event_from_dict(data)
    data = opened.to_dict()
    data["marking"] = {**MARK.to_dict(), "tlp": "PURPLE"}
    with pytest.raises(InvalidInput):
        event_from_dict(data)


texts = st.text(min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    body=st.text(max_size=500),
    mentions=st.lists(texts, max_size=5).map(tuple),
    seconds=st.integers(0, 10**8),
    rel_to=st.frozensets(st.sampled_from(["CG", "CUS", "BP", "JOC"])),
    tlp=st.sampled_from(list(Tlp)),
    exercise=st.booleans(),
)
def test_messages_round_trip(
    body: str, mentions: tuple[str, ...], seconds: int, rel_to: frozenset[str], tlp: Tlp, exercise: bool
) -> None:
    event = MessagePosted(
        at=START + timedelta(seconds=seconds),
        actor="u1",
        channel_id="incident:i1",
        message_id="m1",
        author_username="alice",
        author_agency="CG",
        body=body,
        marking=Marking(classification="SECRET", originator="CG", rel_to=rel_to, tlp=tlp),
        mentions=mentions,
        exercise=exercise,
    )
    assert event_from_dict(json.loads(json.dumps(event.to_dict()))) == event
