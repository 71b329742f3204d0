"""SLA escalation by the clock, derived from events: timing, restart, one acknowledgement, close rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from incidents_kit import DIRECTORY, START, Journal, alert, user

from concord.adapters.clock import ManualClock
from concord.domain.errors import Conflict, NotAuthorized
from concord.domain.incident import EscalationPhase, EscalationStep, Incident, IncidentStatus
from concord.domain.incident_codec import event_from_dict
from concord.incidents.commands import (
    AcknowledgeEscalation,
    AcknowledgeTask,
    AddTask,
    ChangeIncidentStatus,
    CompleteTask,
    OpenIncident,
)
from concord.incidents.escalation import due_escalations, next_escalation_at
from concord.incidents.playbooks import load_default_playbooks
from concord.incidents.service import IncidentService

CG_OPS = user("CG", "operator")
CG_BOSS = user("CG", "commander")
JOC_BOSS = user("JOC", "commander")


def open_maritime(clock: ManualClock, journal: Journal) -> tuple[IncidentService, Incident]:
    svc = IncidentService(clock=clock, playbooks=load_default_playbooks(reachable=DIRECTORY))
    dark = alert("a1", kind="ais-dark", impact="high")
    events = journal.append(
        svc.open(
            OpenIncident(title="Dark vessel", lead_agency="CG", alert_ids=("a1",)),
            CG_OPS,
            [dark],
            zone_kinds=("territorial-sea",),
        )
    )
    return svc, journal.incident(events[0].incident_id)


def sweep(svc: IncidentService, journal: Journal, incident_id: str) -> list[Any]:
    """What the scheduler does: record every escalation due now."""
    return journal.append(svc.record_due_escalations(journal.incident(incident_id)))


def test_playbook_tasks_are_instantiated_with_slas(clock: ManualClock, journal: Journal) -> None:
    _, inc = open_maritime(clock, journal)
    assert inc.playbook_id == "maritime-rendezvous"
    task = inc.tasks["dispatch-vessel"]
    assert (task.agency, task.role, task.required) == ("CG", "operator", True)
    assert task.ack_due_at == START + timedelta(seconds=300)
    assert task.complete_due_at == START + timedelta(seconds=1800)
    assert inc.tasks["customs-landing-check"].agency == "CUS"
    assert task.escalation[1] == EscalationStep(agency="JOC", role="commander", delay_s=600)


def test_nothing_due_before_the_sla(clock: ManualClock, journal: Journal) -> None:
    _, inc = open_maritime(clock, journal)
    assert due_escalations(inc, START + timedelta(seconds=299)) == []
    assert next_escalation_at(inc) == START + timedelta(seconds=300)


def test_missed_ack_sla_escalates_step_by_step(clock: ManualClock, journal: Journal) -> None:
    svc, inc = open_maritime(clock, journal)
    clock.advance(300)
    due = [(d.task_id, d.phase, d.step_index, d.agency) for d in due_escalations(journal.events, clock.now())]
    assert due == [("dispatch-vessel", EscalationPhase.ACKNOWLEDGE, 0, "CG")]
    sent = sweep(svc, journal, inc.id)
    assert len(sent) == 1 and sent[0].actor == "system:sla"
    assert sweep(svc, journal, inc.id) == []  # never twice
    clock.advance(299)
    assert sweep(svc, journal, inc.id) == []
    clock.advance(1)  # 600 s: the analyst's acknowledge SLA runs out
    assert [(d.task_id, d.step_index) for d in due_escalations(journal.events, clock.now())] == [
        ("identify-vessels", 0)
    ]
    sweep(svc, journal, inc.id)
    clock.advance(300)  # 900 s: the dispatch chain reaches its second step
    due_now = due_escalations(journal.events, clock.now())
    assert [(d.task_id, d.step_index, d.agency) for d in due_now] == [
        ("customs-landing-check", 0, "CUS"),
        ("dispatch-vessel", 1, "JOC"),
    ]
    step = next(d for d in due_now if d.task_id == "dispatch-vessel")
    assert step.due_at == START + timedelta(seconds=900)
    assert step.missed_at == START + timedelta(seconds=300)
    sweep(svc, journal, inc.id)
    log = [e.summary for e in journal.incident(inc.id).log if e.type == "task.escalation-notified"]
    assert "task dispatch-vessel missed its acknowledge SLA: step 2 told commander of JOC" in log


def test_late_sweep_sends_every_overdue_step_at_once(clock: ManualClock, journal: Journal) -> None:
    svc, inc = open_maritime(clock, journal)
    clock.advance(3 * 3600)
    due = due_escalations(journal.incident(inc.id), clock.now())
    dispatch = [(d.phase, d.step_index) for d in due if d.task_id == "dispatch-vessel"]
    assert dispatch == [
        (EscalationPhase.ACKNOWLEDGE, 0),
        (EscalationPhase.ACKNOWLEDGE, 1),
        (EscalationPhase.COMPLETE, 0),
        (EscalationPhase.COMPLETE, 1),
    ]
    assert [d.due_at for d in due] == sorted(d.due_at for d in due)


def test_one_acknowledgement_stops_the_whole_chain(clock: ManualClock, journal: Journal) -> None:
    svc, inc = open_maritime(clock, journal)
    clock.advance(301)
    sweep(svc, journal, inc.id)
    journal.append(
        svc.handle(
            journal.incident(inc.id), AcknowledgeTask(incident_id=inc.id, task_id="dispatch-vessel"), CG_OPS
        )
    )
    clock.advance(1000)  # past the JOC step of the acknowledge chain
    due = due_escalations(journal.events, clock.now())
    assert not [d for d in due if d.task_id == "dispatch-vessel"]


def test_completion_chain_stops_when_its_escalation_is_acknowledged(
    clock: ManualClock, journal: Journal
) -> None:
    svc, inc = open_maritime(clock, journal)
    journal.append(
        svc.handle(
            journal.incident(inc.id), AcknowledgeTask(incident_id=inc.id, task_id="dispatch-vessel"), CG_OPS
        )
    )
    clock.advance(1800)
    sent = sweep(svc, journal, inc.id)
    assert any(e.task_id == "dispatch-vessel" and e.phase is EscalationPhase.COMPLETE for e in sent)
    cmd = AcknowledgeEscalation(incident_id=inc.id, task_id="dispatch-vessel", phase=EscalationPhase.COMPLETE)
    with pytest.raises(NotAuthorized):
        svc.handle(journal.incident(inc.id), cmd, user("CUS", "commander"))
    with pytest.raises(Conflict):
        svc.handle(
            journal.incident(inc.id),
            AcknowledgeEscalation(
                incident_id=inc.id, task_id="dispatch-vessel", phase=EscalationPhase.ACKNOWLEDGE
            ),
            CG_BOSS,
        )
    journal.append(svc.handle(journal.incident(inc.id), cmd, user("CG", "commander", name="cg-watch")))
    with pytest.raises(Conflict):
        svc.handle(journal.incident(inc.id), cmd, CG_BOSS)
    clock.advance(3600)
    assert not [d for d in due_escalations(journal.events, clock.now()) if d.task_id == "dispatch-vessel"]


def test_completed_task_and_closed_incident_escalate_nothing(clock: ManualClock, journal: Journal) -> None:
    svc, inc = open_maritime(clock, journal)
    for task_id, who in [("dispatch-vessel", CG_OPS), ("identify-vessels", user("CG", "analyst"))]:
        journal.append(
            svc.handle(journal.incident(inc.id), CompleteTask(incident_id=inc.id, task_id=task_id), who)
        )
    clock.advance(10_000)
    assert {d.task_id for d in due_escalations(journal.events, clock.now())} == {"customs-landing-check"}
    journal.append(
        svc.handle(
            journal.incident(inc.id),
            ChangeIncidentStatus(incident_id=inc.id, to_status=IncidentStatus.CLOSED, reason="nothing found"),
            CG_BOSS,
        )
    )
    assert due_escalations(journal.events, clock.now()) == []
    assert next_escalation_at(journal.events) is None


def test_close_is_refused_while_required_tasks_are_open(clock: ManualClock, journal: Journal) -> None:
    svc, inc = open_maritime(clock, journal)
    close = ChangeIncidentStatus(incident_id=inc.id, to_status=IncidentStatus.CLOSED)
    with pytest.raises(Conflict) as err:
        svc.handle(journal.incident(inc.id), close, CG_BOSS)
    assert set(err.value.details["open_required_tasks"]) == {"dispatch-vessel", "identify-vessels"}
    journal.append(
        svc.handle(
            journal.incident(inc.id), CompleteTask(incident_id=inc.id, task_id="dispatch-vessel"), CG_OPS
        )
    )
    with pytest.raises(Conflict) as err:
        svc.handle(journal.incident(inc.id), close, CG_BOSS)
    assert err.value.details["open_required_tasks"] == ["identify-vessels"]
    journal.append(
        svc.handle(
            journal.incident(inc.id), CompleteTask(incident_id=inc.id, task_id="identify-vessels"), JOC_BOSS
        )
    )
    # The customs task is not required: it does not block the close.
    journal.append(svc.handle(journal.incident(inc.id), close, CG_BOSS))
    assert journal.incident(inc.id).status is IncidentStatus.CLOSED


def test_restart_rebuilds_the_same_due_escalations(clock: ManualClock, journal: Journal) -> None:
    svc, inc = open_maritime(clock, journal)
    clock.advance(400)
    sweep(svc, journal, inc.id)
    clock.advance(700)
    live = journal.incident(inc.id)
    before = due_escalations(live, clock.now())
    # A new process: nothing in memory but the journal's serialised events.
    stored = [e.to_dict() for e in journal.events]
    restarted = Journal()
    restarted.append(event_from_dict(d) for d in stored)
    after = due_escalations(restarted.events, clock.now())
    assert before and after == before
    assert next_escalation_at(restarted.events) == next_escalation_at(live)
    # And the restarted service sends exactly the same steps.
    svc2 = IncidentService(clock=ManualClock(clock.now()))
    assert [
        (e.task_id, e.phase, e.step_index) for e in svc2.record_due_escalations(restarted.incident(inc.id))
    ] == [(d.task_id, d.phase, d.step_index) for d in before]


def test_due_escalations_needs_utc_aware_time(clock: ManualClock, journal: Journal) -> None:
    _, inc = open_maritime(clock, journal)
    with pytest.raises(ValueError):
        due_escalations(inc, START.replace(tzinfo=None))


@settings(max_examples=40, deadline=None)
@given(
    ack_s=st.integers(1, 5000),
    extra_s=st.integers(0, 5000),
    delays=st.lists(st.integers(0, 4000), min_size=1, max_size=4).map(sorted),
    at_s=st.integers(0, 20_000),
)
def test_due_steps_match_a_reference(ack_s: int, extra_s: int, delays: list[int], at_s: int) -> None:
    clock = ManualClock(START)
    journal = Journal()
    svc = IncidentService(clock=clock)
    opened = journal.append(svc.open(OpenIncident(title="t", lead_agency="CG"), CG_OPS))
    inc_id = opened[0].incident_id
    steps = tuple(EscalationStep(agency="JOC", role="commander", delay_s=d) for d in delays)
    journal.append(
        svc.handle(
            journal.incident(inc_id),
            AddTask(
                incident_id=inc_id,
                task_id="t1",
                title="t",
                agency="CG",
                role="operator",
                ack_sla_s=ack_s,
                complete_sla_s=ack_s + extra_s,
                escalation=steps,
            ),
            CG_OPS,
        )
    )
    now = START + timedelta(seconds=at_s)
    got = {(d.phase, d.step_index) for d in due_escalations(journal.events, now)}
    expected = set()
    for phase, sla in ((EscalationPhase.ACKNOWLEDGE, ack_s), (EscalationPhase.COMPLETE, ack_s + extra_s)):
        for i, delay in enumerate(delays):
            if at_s >= sla + delay:
                expected.add((phase, i))
    assert got == expected
