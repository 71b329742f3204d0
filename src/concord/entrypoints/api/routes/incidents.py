"""Incidents and their tasks: list, read (with log and tasks), open by hand or from an alert, and every
change an operations room makes (status, severity, lead, supporting agencies, notes, links, tasks).

Reads and the incident a command names go through the release gate: an incident the caller may not
see answers 404. Who may do what is decided by the incident service (``docs/operations.md``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from concord.bootstrap import Concord
from concord.domain.errors import NotFound
from concord.domain.identity import User
from concord.domain.incident import EscalationPhase, EscalationStep, IncidentStatus, Severity
from concord.entrypoints.api.deps import ConcordDep, CurrentUser
from concord.entrypoints.api.routes._coordination import (
    AgencyCode,
    Id,
    MarkingIn,
    Reason,
    Strict,
    Text,
    Title,
    page_of,
    public,
    release_row,
    visible_incident,
)
from concord.incidents.commands import (
    AcknowledgeEscalation,
    AcknowledgeTask,
    AddNote,
    AddSupportingAgency,
    AddTask,
    AssignTask,
    ChangeIncidentStatus,
    ChangeSeverity,
    CompleteTask,
    EscalateTask,
    LinkAlert,
    LinkTrack,
    OpenIncident,
    ReopenIncident,
    TransferLead,
)
from concord.incidents.service import IncidentCommand

router = APIRouter(prefix="/api", tags=["incidents"])

RoleName = Literal["operator", "analyst", "commander", "liaison", "auditor", "admin"]
SeverityName = Literal["low", "medium", "high", "very-high"]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


# ------------------------------------------------------------------------------------------ bodies


class OpenIncidentBody(Strict):
    title: Title
    lead_agency: AgencyCode
    severity: SeverityName | None = None
    alert_ids: list[Id] = Field(default_factory=list, max_length=100)
    track_ids: list[Id] = Field(default_factory=list, max_length=100)
    supporting_agencies: list[AgencyCode] = Field(default_factory=list, max_length=32)
    playbook_id: Id | None = None
    use_playbook: bool = True
    marking: MarkingIn | None = None
    exercise: bool = False
    description: Text = ""
    incident_id: Annotated[
        str | None,
        Field(
            default=None,
            pattern=r"^[A-Za-z0-9._:-]{8,64}$",
            description="an id of the client's choosing: opening it again answers 409, so an open "
            "whose answer was lost can be retried safely",
        ),
    ] = None


class OpenFromAlertBody(Strict):
    title: Title | None = None


class StatusBody(Strict):
    to_status: Literal["open", "active", "contained", "closed"]
    reason: Text = ""


class ReasonBody(Strict):
    reason: Reason


class SeverityBody(Strict):
    severity: SeverityName
    reason: Text = ""


class LeadBody(Strict):
    lead_agency: AgencyCode
    reason: Reason


class AgencyBody(Strict):
    agency: AgencyCode


class NoteBody(Strict):
    text: Reason


class AlertLinkBody(Strict):
    alert_id: Id


class TrackLinkBody(Strict):
    track_id: Id


class StepBody(Strict):
    agency: AgencyCode
    role: RoleName
    delay_s: int = Field(ge=0, le=30 * 24 * 3600)


class TaskBody(Strict):
    title: Title
    agency: Annotated[str, Field(min_length=2, max_length=16, pattern=r"^([A-Z][A-Z0-9-]{1,15}|lead)$")]
    role: RoleName
    ack_sla_s: int = Field(ge=1, le=30 * 24 * 3600)
    complete_sla_s: int = Field(ge=1, le=30 * 24 * 3600)
    escalation: list[StepBody] = Field(default_factory=list, max_length=16)
    required: bool = False
    task_id: Id | None = None


class AssignBody(Strict):
    agency: Annotated[str, Field(min_length=2, max_length=16, pattern=r"^([A-Z][A-Z0-9-]{1,15}|lead)$")]
    role: RoleName
    user_id: Id | None = None
    unit_ids: list[Id] = Field(default_factory=list, max_length=32)


class CompleteBody(Strict):
    note: Text = ""


class EscalateBody(Strict):
    agency: AgencyCode
    role: RoleName
    reason: Reason


class EscalationAckBody(Strict):
    phase: Literal["acknowledge", "complete"]


# ----------------------------------------------------------------------------------------- helpers


def _detail(concord: Concord, incident_id: str, user: User) -> dict[str, Any]:
    """The incident (with its log) and the tasks the caller may see."""
    released = visible_incident(concord, incident_id, user)
    viewer = user.viewer()
    incident = concord.coordination.view.incident(incident_id)
    rows = []
    for task_id in incident.tasks:
        try:
            rows.append(
                concord.coordination.row("task", concord.coordination.task_row_id(incident_id, task_id))
            )
        except NotFound:
            continue
    tasks = concord.queries.release_rows(rows, viewer, exercise=incident.exercise)
    return {**public(released), "tasks": [public(t) for t in tasks]}


def _check_alert(concord: Concord, alert_id: str, user: User) -> None:
    # An alert the caller may not see cannot be linked or opened: it does not exist for them.
    concord.queries.get("alert", alert_id, user.viewer())


def _act(concord: Concord, incident_id: str, user: User, command: IncidentCommand) -> dict[str, Any]:
    visible_incident(concord, incident_id, user)
    concord.coordination.incident_command(command, user)
    return _detail(concord, incident_id, user)


# ------------------------------------------------------------------------------------------- reads


@router.get("/incidents")
def list_incidents(
    concord: ConcordDep,
    user: CurrentUser,
    status: Literal["open", "active", "contained", "closed"] | None = None,
    exercise: bool = False,
    offset: Offset = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    rows = concord.coordination.rows("incident", status=status)
    return page_of(concord, rows, user.viewer(), exercise=exercise, offset=offset, limit=limit)


@router.get("/incidents/{incident_id}")
def get_incident(incident_id: str, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    return _detail(concord, incident_id, user)


@router.get("/tasks")
def list_tasks(
    concord: ConcordDep,
    user: CurrentUser,
    status: Literal["open", "acknowledged", "completed"] | None = None,
    exercise: bool = False,
    offset: Offset = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    rows = concord.coordination.rows("task", status=status)
    return page_of(concord, rows, user.viewer(), exercise=exercise, offset=offset, limit=limit)


@router.get("/playbooks")
def list_playbooks(concord: ConcordDep, _user: CurrentUser) -> dict[str, Any]:
    library = concord.coordination.reload_playbooks()
    data = [
        {
            "id": p.id,
            "name": p.name,
            "version": p.version,
            "severity": p.severity.value if p.severity else None,
            "tasks": [t.id for t in p.tasks],
        }
        for p in library.all()
    ]
    return {"data": data, "count": len(data), "problems": list(concord.coordination.playbook_problems)}


# ---------------------------------------------------------------------------------------- opening


@router.post("/incidents", status_code=201)
def open_incident(body: OpenIncidentBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    for alert_id in body.alert_ids:
        _check_alert(concord, alert_id, user)
    command = OpenIncident(
        title=body.title,
        lead_agency=body.lead_agency,
        severity=Severity(body.severity) if body.severity else None,
        alert_ids=tuple(body.alert_ids),
        track_ids=tuple(body.track_ids),
        supporting_agencies=tuple(body.supporting_agencies),
        playbook_id=body.playbook_id,
        use_playbook=body.use_playbook,
        marking=body.marking.for_user(user) if body.marking else None,
        exercise=body.exercise,
        description=body.description,
        incident_id=body.incident_id,
    )
    incident = concord.coordination.open_incident(command, user)
    return _detail(concord, incident.id, user)


@router.post("/alerts/{alert_id}/incident", status_code=201)
def open_from_alert(
    alert_id: str, concord: ConcordDep, user: CurrentUser, body: OpenFromAlertBody | None = None
) -> dict[str, Any]:
    _check_alert(concord, alert_id, user)
    incident = concord.coordination.open_from_alert(alert_id, user, title=body.title if body else None)
    return _detail(concord, incident.id, user)


# ---------------------------------------------------------------------------------------- changes


@router.post("/incidents/{incident_id}/status")
def change_status(
    incident_id: str, body: StatusBody, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    command = ChangeIncidentStatus(
        incident_id=incident_id, to_status=IncidentStatus(body.to_status), reason=body.reason
    )
    return _act(concord, incident_id, user, command)


@router.post("/incidents/{incident_id}/reopen")
def reopen(incident_id: str, body: ReasonBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    return _act(concord, incident_id, user, ReopenIncident(incident_id=incident_id, reason=body.reason))


@router.post("/incidents/{incident_id}/severity")
def change_severity(
    incident_id: str, body: SeverityBody, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    command = ChangeSeverity(incident_id=incident_id, severity=Severity(body.severity), reason=body.reason)
    return _act(concord, incident_id, user, command)


@router.post("/incidents/{incident_id}/lead")
def transfer_lead(incident_id: str, body: LeadBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    command = TransferLead(incident_id=incident_id, lead_agency=body.lead_agency, reason=body.reason)
    return _act(concord, incident_id, user, command)


@router.post("/incidents/{incident_id}/supporting-agencies")
def add_supporting_agency(
    incident_id: str, body: AgencyBody, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    return _act(concord, incident_id, user, AddSupportingAgency(incident_id=incident_id, agency=body.agency))


@router.post("/incidents/{incident_id}/notes")
def add_note(incident_id: str, body: NoteBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    return _act(concord, incident_id, user, AddNote(incident_id=incident_id, text=body.text))


@router.post("/incidents/{incident_id}/alerts")
def link_alert(
    incident_id: str, body: AlertLinkBody, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    visible_incident(concord, incident_id, user)
    _check_alert(concord, body.alert_id, user)
    return _act(concord, incident_id, user, LinkAlert(incident_id=incident_id, alert_id=body.alert_id))


@router.post("/incidents/{incident_id}/tracks")
def link_track(
    incident_id: str, body: TrackLinkBody, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    visible_incident(concord, incident_id, user)
    concord.queries.get("track", body.track_id, user.viewer())
    return _act(concord, incident_id, user, LinkTrack(incident_id=incident_id, track_id=body.track_id))


# ------------------------------------------------------------------------------------------ tasks


@router.post("/incidents/{incident_id}/tasks", status_code=201)
def add_task(incident_id: str, body: TaskBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    command = AddTask(
        incident_id=incident_id,
        title=body.title,
        agency=body.agency,
        role=body.role,
        ack_sla_s=body.ack_sla_s,
        complete_sla_s=body.complete_sla_s,
        escalation=tuple(
            EscalationStep(agency=s.agency, role=s.role, delay_s=s.delay_s) for s in body.escalation
        ),
        required=body.required,
        task_id=body.task_id,
    )
    return _act(concord, incident_id, user, command)


@router.post("/incidents/{incident_id}/tasks/{task_id}/ack")
def acknowledge_task(
    incident_id: str, task_id: str, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    return _act(concord, incident_id, user, AcknowledgeTask(incident_id=incident_id, task_id=task_id))


@router.post("/incidents/{incident_id}/tasks/{task_id}/assign")
def assign_task(
    incident_id: str, task_id: str, body: AssignBody, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    command = AssignTask(
        incident_id=incident_id,
        task_id=task_id,
        agency=body.agency,
        role=body.role,
        user_id=body.user_id,
        unit_ids=tuple(body.unit_ids),
    )
    return _act(concord, incident_id, user, command)


@router.post("/incidents/{incident_id}/tasks/{task_id}/complete")
def complete_task(
    incident_id: str, task_id: str, body: CompleteBody, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    return _act(
        concord, incident_id, user, CompleteTask(incident_id=incident_id, task_id=task_id, note=body.note)
    )


@router.post("/incidents/{incident_id}/tasks/{task_id}/escalate")
def escalate_task(
    incident_id: str, task_id: str, body: EscalateBody, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    command = EscalateTask(
        incident_id=incident_id, task_id=task_id, agency=body.agency, role=body.role, reason=body.reason
    )
    return _act(concord, incident_id, user, command)


@router.post("/incidents/{incident_id}/tasks/{task_id}/escalation/ack")
def acknowledge_escalation(
    incident_id: str, task_id: str, body: EscalationAckBody, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    command = AcknowledgeEscalation(
        incident_id=incident_id, task_id=task_id, phase=EscalationPhase(body.phase)
    )
    return _act(concord, incident_id, user, command)


@router.get("/tasks/{incident_id}/{task_id}")
def get_task(incident_id: str, task_id: str, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    visible_incident(concord, incident_id, user)
    row = concord.coordination.row("task", concord.coordination.task_row_id(incident_id, task_id))
    return public(release_row(concord, row, user.viewer()))
