"""Incident life cycle: opening, transitions, reopen, permissions, markings, the incident log."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from incidents_kit import DIRECTORY, START, Journal, alert, counter, secret_marking, user

from concord.adapters.clock import ManualClock
from concord.domain.coordination import ChannelOpened, incident_channel_id
from concord.domain.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from concord.domain.identity import User
from concord.domain.incident import (
    ALLOWED_TRANSITIONS,
    Incident,
    IncidentOpened,
    IncidentStatus,
    Severity,
    TaskCreated,
    fold_incidents,
)
from concord.domain.marking import Tlp
from concord.incidents.commands import (
    AcknowledgeTask,
    AddNote,
    AddSupportingAgency,
    AddTask,
    AssignTask,
    ChangeIncidentStatus,
    ChangeSeverity,
    CompleteTask,
    LinkAlert,
    LinkTrack,
    OpenIncident,
    ReopenIncident,
    TransferLead,
)
from concord.incidents.playbooks import PlaybookLibrary, load_default_playbooks
from concord.incidents.service import IncidentCommand, IncidentService

CG_OPS = user("CG", "operator")
CG_BOSS = user("CG", "commander")


def service(clock: ManualClock, playbooks: PlaybookLibrary | None = None) -> IncidentService:
    return IncidentService(clock=clock, playbooks=playbooks, new_id=counter("inc"))


def open_by_hand(svc: IncidentService, journal: Journal, **kw: Any) -> Incident:
    cmd = OpenIncident(title="Suspicious vessel", lead_agency="CG", **kw)
    events = journal.append(svc.open(cmd, CG_OPS))
    return journal.incident(events[0].incident_id)


def act(
    svc: IncidentService, journal: Journal, incident_id: str, command: IncidentCommand, who: User
) -> Incident:
    journal.append(svc.handle(journal.incident(incident_id), command, who))
    return journal.incident(incident_id)


def status(incident_id: str, to: IncidentStatus, reason: str = "") -> ChangeIncidentStatus:
    return ChangeIncidentStatus(incident_id=incident_id, to_status=to, reason=reason)


def test_open_by_hand_then_full_life_cycle(clock: ManualClock, journal: Journal) -> None:
    svc = service(clock)
    inc = open_by_hand(svc, journal)
    assert inc.status is IncidentStatus.OPEN and inc.severity is Severity.MEDIUM
    assert inc.tasks == {} and inc.playbook_id is None
    assert isinstance(journal.events[-1], ChannelOpened)
    assert journal.events[-1].channel_id == incident_channel_id(inc.id)
    clock.advance(10)
    inc = act(svc, journal, inc.id, status(inc.id, IncidentStatus.ACTIVE), CG_OPS)
    inc = act(svc, journal, inc.id, status(inc.id, IncidentStatus.CONTAINED), CG_OPS)
    inc = act(svc, journal, inc.id, status(inc.id, IncidentStatus.ACTIVE, "second boat"), CG_OPS)
    inc = act(svc, journal, inc.id, status(inc.id, IncidentStatus.CONTAINED), CG_OPS)
    clock.advance(10)
    inc = act(svc, journal, inc.id, status(inc.id, IncidentStatus.CLOSED, "intercepted"), CG_BOSS)
    assert inc.status is IncidentStatus.CLOSED and inc.closed_at == clock.now()
    assert [e.type for e in inc.log][-1] == "incident.status-changed"
    assert inc.log[-1].summary == "status contained -> closed (intercepted)"


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], IncidentStatus.CONTAINED),
        ([], IncidentStatus.OPEN),
        ([IncidentStatus.ACTIVE], IncidentStatus.CLOSED),
        ([IncidentStatus.ACTIVE], IncidentStatus.OPEN),
        ([IncidentStatus.ACTIVE, IncidentStatus.CONTAINED], IncidentStatus.OPEN),
        ([IncidentStatus.ACTIVE], IncidentStatus.ACTIVE),
    ],
)
def test_illegal_transitions_are_refused_with_conflict(
    clock: ManualClock, journal: Journal, path: list[IncidentStatus], illegal: IncidentStatus
) -> None:
    svc = service(clock)
    inc = open_by_hand(svc, journal)
    for step in path:
        inc = act(svc, journal, inc.id, status(inc.id, step), CG_OPS)
    with pytest.raises(Conflict) as err:
        svc.handle(inc, status(inc.id, illegal), CG_BOSS)
    assert err.value.details["to"] == illegal.value


def test_closed_incident_refuses_everything_but_reopen_and_notes(
    clock: ManualClock, journal: Journal
) -> None:
    svc = service(clock)
    inc = open_by_hand(svc, journal)
    inc = act(svc, journal, inc.id, status(inc.id, IncidentStatus.CLOSED, "false alarm"), CG_BOSS)
    for cmd in (
        status(inc.id, IncidentStatus.ACTIVE),
        LinkTrack(incident_id=inc.id, track_id="t1"),
        ChangeSeverity(incident_id=inc.id, severity=Severity.HIGH),
    ):
        with pytest.raises(Conflict):
            svc.handle(inc, cmd, CG_BOSS)
    inc = act(svc, journal, inc.id, AddNote(incident_id=inc.id, text="debrief at 18:00"), CG_OPS)
    with pytest.raises(NotAuthorized):
        svc.handle(inc, ReopenIncident(incident_id=inc.id, reason="more boats"), CG_OPS)
    with pytest.raises(InvalidInput):
        svc.handle(inc, ReopenIncident(incident_id=inc.id, reason=" "), CG_BOSS)
    inc = act(svc, journal, inc.id, ReopenIncident(incident_id=inc.id, reason="more boats"), CG_BOSS)
    assert inc.status is IncidentStatus.ACTIVE and inc.closed_at is None
    with pytest.raises(Conflict):
        svc.handle(inc, ReopenIncident(incident_id=inc.id, reason="again"), CG_BOSS)


def test_only_commanders_close_and_only_lead_or_joc_change_status(
    clock: ManualClock, journal: Journal
) -> None:
    svc = service(clock)
    inc = open_by_hand(svc, journal)
    with pytest.raises(NotAuthorized):
        svc.handle(inc, status(inc.id, IncidentStatus.CLOSED), CG_OPS)
    with pytest.raises(NotAuthorized):
        svc.handle(inc, status(inc.id, IncidentStatus.ACTIVE), user("CUS", "commander"))
    with pytest.raises(NotAuthorized):
        svc.handle(inc, status(inc.id, IncidentStatus.ACTIVE), user("CG", "auditor"))
    with pytest.raises(NotAuthorized):
        svc.handle(inc, status(inc.id, IncidentStatus.ACTIVE), user("CG", "operator", active=False))
    act(svc, journal, inc.id, status(inc.id, IncidentStatus.ACTIVE), user("JOC", "operator"))


def test_open_needs_rights_and_valid_input(clock: ManualClock) -> None:
    svc = service(clock)
    with pytest.raises(NotAuthorized):
        svc.open(OpenIncident(title="x", lead_agency="CG"), user("CUS", "operator"))
    with pytest.raises(NotAuthorized):
        svc.open(OpenIncident(title="x", lead_agency="CG"), user("CG", "analyst"))
    for title in ["", "   ", "x" * 201, "bad\x00title"]:
        with pytest.raises(InvalidInput):
            svc.open(OpenIncident(title=title, lead_agency="CG"), CG_OPS)
    for lead in ["", "C G", "<script>", "x" * 40]:
        with pytest.raises((InvalidInput, NotAuthorized)):
            svc.open(OpenIncident(title="x", lead_agency=lead), user("JOC", "operator"))
    with pytest.raises(InvalidInput):
        svc.open(OpenIncident(title="x", lead_agency="CG", alert_ids=("a1",)), CG_OPS, [alert("a2")])
    with pytest.raises(NotFound):
        svc.open(OpenIncident(title="x", lead_agency="CG", playbook_id="nope"), CG_OPS)
    with pytest.raises(InvalidInput):
        svc.open(
            OpenIncident(title="x", lead_agency="CG", track_ids=tuple(f"t{i}" for i in range(1001))), CG_OPS
        )
    with pytest.raises(InvalidInput):
        svc.open(OpenIncident(title="x", lead_agency="CG", track_ids=("",)), CG_OPS)


def test_exercise_and_real_records_do_not_mix(clock: ManualClock, journal: Journal) -> None:
    svc = service(clock)
    with pytest.raises(InvalidInput):
        svc.open(
            OpenIncident(title="x", lead_agency="CG", alert_ids=("a1", "a2")),
            CG_OPS,
            [alert("a1"), alert("a2", exercise=True)],
        )
    with pytest.raises(InvalidInput):
        svc.open(
            OpenIncident(title="x", lead_agency="CG", alert_ids=("a1",), exercise=True), CG_OPS, [alert("a1")]
        )
    events = journal.append(
        svc.open(
            OpenIncident(title="drill", lead_agency="CG", alert_ids=("x1",)),
            CG_OPS,
            [alert("x1", exercise=True)],
        )
    )
    inc = journal.incident(events[0].incident_id)
    assert inc.exercise
    assert all(e.exercise for e in events if isinstance(e, ChannelOpened))
    with pytest.raises(InvalidInput):
        svc.handle(inc, LinkAlert(incident_id=inc.id, alert_id="a9"), CG_OPS, alert=alert("a9"))


def test_marking_combines_linked_alerts(clock: ManualClock, journal: Journal) -> None:
    svc = service(clock)
    first = alert("a1")
    events = journal.append(
        svc.open(OpenIncident(title="x", lead_agency="CG", alert_ids=("a1",)), CG_OPS, [first])
    )
    inc = journal.incident(events[0].incident_id)
    assert inc.marking.originator == "CG"
    assert inc.marking.rel_to == first.marking.rel_to
    secret = alert("a2", marking=secret_marking("CUS"))
    inc = journal.incident(inc.id)
    journal.append(svc.handle(inc, LinkAlert(incident_id=inc.id, alert_id="a2"), CG_OPS, alert=secret))
    inc = journal.incident(inc.id)
    assert inc.alert_ids == ["a1", "a2"]
    assert inc.marking.classification == "SECRET"
    assert inc.marking.tlp is Tlp.RED
    assert inc.marking.rel_to == frozenset({"CG", "CUS"})  # BP dropped: the secret alert excludes it
    assert "INTEL-SOURCE" in inc.marking.categories
    with pytest.raises(Conflict):
        svc.handle(inc, LinkAlert(incident_id=inc.id, alert_id="a2"), CG_OPS, alert=secret)
    with pytest.raises(InvalidInput):
        svc.handle(inc, LinkAlert(incident_id=inc.id, alert_id="a3"), CG_OPS)


def test_severity_follows_alerts_and_playbook(clock: ManualClock, journal: Journal) -> None:
    svc = service(clock, load_default_playbooks(reachable=DIRECTORY))
    low = alert("a1", kind="speed-anomaly", impact="low")
    events = svc.open(OpenIncident(title="x", lead_agency="CG", alert_ids=("a1",)), CG_OPS, [low])
    opened = events[0]
    assert isinstance(opened, IncidentOpened)
    assert opened.severity is Severity.LOW and opened.playbook_id is None
    dark = alert("a2", kind="ais-dark", impact="medium")
    events = svc.open(
        OpenIncident(title="x", lead_agency="CG", alert_ids=("a2",)),
        CG_OPS,
        [dark],
        zone_kinds=("territorial-sea",),
    )
    opened = events[0]
    assert isinstance(opened, IncidentOpened)
    assert opened.playbook_id == "maritime-rendezvous" and opened.severity is Severity.HIGH
    events = svc.open(
        OpenIncident(
            title="x", lead_agency="CG", alert_ids=("a2",), use_playbook=False, severity=Severity.LOW
        ),
        CG_OPS,
        [dark],
        zone_kinds=("territorial-sea",),
    )
    assert not any(isinstance(e, TaskCreated) for e in events)


def test_supporting_agencies_lead_transfer_and_tasks(clock: ManualClock, journal: Journal) -> None:
    svc = service(clock)
    inc = open_by_hand(svc, journal, supporting_agencies=("CUS", "CG"))
    assert inc.supporting_agencies == ["CUS"]
    with pytest.raises(Conflict):
        svc.handle(inc, AddSupportingAgency(incident_id=inc.id, agency="CUS"), CG_OPS)
    inc = act(svc, journal, inc.id, AddSupportingAgency(incident_id=inc.id, agency="BP"), CG_OPS)
    assert inc.agencies == {"CG", "CUS", "BP"}
    with pytest.raises(Conflict):
        svc.handle(
            inc,
            AddTask(
                incident_id=inc.id, title="t", agency="IMM", role="operator", ack_sla_s=60, complete_sla_s=60
            ),
            CG_OPS,
        )
    for ack, done in [(0, 10), (-5, 10), (60, 30), (True, 10)]:
        with pytest.raises(InvalidInput):
            svc.handle(
                inc,
                AddTask(
                    incident_id=inc.id,
                    title="t",
                    agency="BP",
                    role="operator",
                    ack_sla_s=ack,
                    complete_sla_s=done,
                ),
                CG_OPS,
            )
    with pytest.raises(InvalidInput):
        svc.handle(
            inc,
            AddTask(
                incident_id=inc.id, title="t", agency="BP", role="captain", ack_sla_s=60, complete_sla_s=60
            ),
            CG_OPS,
        )
    inc = act(
        svc,
        journal,
        inc.id,
        AddTask(
            incident_id=inc.id,
            title="Block road",
            agency="BP",
            role="operator",
            ack_sla_s=60,
            complete_sla_s=600,
        ),
        CG_OPS,
    )
    (task,) = inc.tasks.values()
    with pytest.raises(NotAuthorized):
        svc.handle(inc, AcknowledgeTask(incident_id=inc.id, task_id=task.id), CG_OPS)
    inc = act(
        svc, journal, inc.id, AcknowledgeTask(incident_id=inc.id, task_id=task.id), user("BP", "operator")
    )
    with pytest.raises(Conflict):
        svc.handle(inc, AcknowledgeTask(incident_id=inc.id, task_id=task.id), user("BP", "commander"))
    inc = act(
        svc,
        journal,
        inc.id,
        AssignTask(incident_id=inc.id, task_id=task.id, agency="CUS", role="operator"),
        CG_OPS,
    )
    assert inc.tasks[task.id].agency == "CUS"
    with pytest.raises(NotFound):
        svc.handle(inc, CompleteTask(incident_id=inc.id, task_id="nope"), CG_OPS)
    inc = act(
        svc,
        journal,
        inc.id,
        CompleteTask(incident_id=inc.id, task_id=task.id, note="done"),
        user("JOC", "commander"),
    )
    assert inc.tasks[task.id].completed_by == "u-joc-commander"
    with pytest.raises(Conflict):
        svc.handle(inc, CompleteTask(incident_id=inc.id, task_id=task.id), user("CUS", "operator"))
    with pytest.raises(NotAuthorized):
        svc.handle(inc, TransferLead(incident_id=inc.id, lead_agency="CUS", reason="port"), CG_OPS)
    inc = act(
        svc, journal, inc.id, TransferLead(incident_id=inc.id, lead_agency="CUS", reason="port"), CG_BOSS
    )
    assert (
        inc.lead_agency == "CUS" and "CG" in inc.supporting_agencies and "CUS" not in inc.supporting_agencies
    )


def test_log_is_append_only_and_complete(clock: ManualClock, journal: Journal) -> None:
    svc = service(clock)
    inc = open_by_hand(svc, journal)
    clock.advance(5)
    inc = act(svc, journal, inc.id, LinkTrack(incident_id=inc.id, track_id="trk-1"), user("CG", "analyst"))
    clock.advance(5)
    inc = act(svc, journal, inc.id, AddNote(incident_id=inc.id, text="two persons aboard"), CG_OPS)
    with pytest.raises(NotAuthorized):
        svc.handle(inc, AddNote(incident_id=inc.id, text="x"), user("BP", "operator"))
    assert [(e.type, e.actor) for e in inc.log] == [
        ("incident.opened", CG_OPS.id),
        ("incident.track-linked", "u-cg-analyst"),
        ("incident.note-added", CG_OPS.id),
    ]
    assert [e.at for e in inc.log] == sorted(e.at for e in inc.log)
    assert inc.version == 3
    assert inc.log[2].summary == "note: two persons aboard"


def test_unknown_status_or_severity_is_invalid_input(clock: ManualClock, journal: Journal) -> None:
    svc = service(clock)
    inc = open_by_hand(svc, journal)
    bad_status = ChangeIncidentStatus(incident_id=inc.id, to_status="exploded")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        svc.handle(inc, bad_status, CG_BOSS)
    with pytest.raises(InvalidInput):
        svc.handle(inc, ChangeSeverity(incident_id=inc.id, severity="catastrophic"), CG_BOSS)  # type: ignore[arg-type]
    inc = act(
        svc,
        journal,
        inc.id,
        ChangeSeverity(incident_id=inc.id, severity=Severity.HIGH, reason="2 boats"),
        CG_OPS,
    )
    assert inc.severity is Severity.HIGH
    with pytest.raises(Conflict):
        svc.handle(inc, ChangeSeverity(incident_id=inc.id, severity=Severity.HIGH), CG_OPS)


def test_unknown_impact_level_is_invalid_input(clock: ManualClock) -> None:
    svc = service(clock)
    with pytest.raises(InvalidInput):
        svc.open(
            OpenIncident(title="x", lead_agency="CG", alert_ids=("a1",)),
            CG_OPS,
            [alert("a1", impact="'; --")],
        )


def test_fold_refuses_events_of_an_incident_never_opened(clock: ManualClock, journal: Journal) -> None:
    svc = service(clock)
    inc = open_by_hand(svc, journal)
    events = svc.handle(inc, AddNote(incident_id=inc.id, text="x"), CG_OPS)
    with pytest.raises(ValueError):
        fold_incidents(events)


def test_command_for_another_incident_is_refused(clock: ManualClock, journal: Journal) -> None:
    svc = service(clock)
    inc = open_by_hand(svc, journal)
    with pytest.raises(InvalidInput):
        svc.handle(inc, AddNote(incident_id="other", text="x"), CG_OPS)


def test_fold_refuses_events_out_of_order(clock: ManualClock, journal: Journal) -> None:
    svc = service(clock)
    inc = open_by_hand(svc, journal)
    events = svc.handle(inc, AddNote(incident_id=inc.id, text="x"), CG_OPS)
    with pytest.raises(ValueError):
        type(inc).from_events(events)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        inc.apply(journal.events[0])  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(list(IncidentStatus)), max_size=12))
def test_status_machine_matches_the_transition_table(targets: list[IncidentStatus]) -> None:
    clock = ManualClock(START)
    journal = Journal()
    svc = service(clock)
    inc = open_by_hand(svc, journal)
    expected = IncidentStatus.OPEN
    for target in targets:
        clock.advance(1)
        allowed = target in ALLOWED_TRANSITIONS[expected]
        try:
            inc = act(svc, journal, inc.id, status(inc.id, target), CG_BOSS)
        except Conflict:
            assert not allowed
        else:
            assert allowed
            expected = target
        assert inc.status is expected
    changes = [line for line in inc.log if line.type == "incident.status-changed"]
    assert len(changes) == inc.version - 1
