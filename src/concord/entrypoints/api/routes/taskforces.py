"""Joint task forces: form, grow and shrink, attach units, assign liaison officers, link incidents,
disband. A task force the caller may not see answers 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from concord.bootstrap import Concord
from concord.domain.identity import User
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
)
from concord.incidents.commands import (
    AssignLiaison,
    AttachUnit,
    DetachUnit,
    DisbandTaskForce,
    FormTaskForce,
    JoinTaskForce,
    LeaveTaskForce,
    LinkTaskForceToIncident,
    RelieveLiaison,
)
from concord.incidents.taskforces import TaskForceCommand

router = APIRouter(prefix="/api/taskforces", tags=["task forces"])


class FormBody(Strict):
    name: Title
    lead_agency: AgencyCode
    member_agencies: list[AgencyCode] = Field(max_length=32)
    standing: bool = False
    incident_ids: list[Id] = Field(default_factory=list, max_length=100)
    marking: MarkingIn | None = None
    description: Text = ""


class AgencyBody(Strict):
    agency: AgencyCode


class LeaveBody(Strict):
    reason: Text = ""


class UnitBody(Strict):
    unit_id: Id


class LiaisonBody(Strict):
    user_id: Id
    agency: AgencyCode


class IncidentBody(Strict):
    incident_id: Id


class DisbandBody(Strict):
    reason: Reason


def _detail(concord: Concord, task_force_id: str, user: User) -> dict[str, Any]:
    return public(release_row(concord, concord.coordination.row("taskforce", task_force_id), user.viewer()))


def _act(concord: Concord, task_force_id: str, user: User, command: TaskForceCommand) -> dict[str, Any]:
    _detail(concord, task_force_id, user)  # absent for whoever may not see it
    concord.coordination.task_force_command(command, user)
    return _detail(concord, task_force_id, user)


@router.get("")
def list_task_forces(
    concord: ConcordDep,
    user: CurrentUser,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    rows = concord.coordination.rows("taskforce")
    return page_of(concord, rows, user.viewer(), exercise=False, offset=offset, limit=limit)


@router.get("/{task_force_id}")
def get_task_force(task_force_id: str, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    return _detail(concord, task_force_id, user)


@router.post("", status_code=201)
def form_task_force(body: FormBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    for incident_id in body.incident_ids:
        concord.queries.release_rows([concord.coordination.row("incident", incident_id)], user.viewer())
    command = FormTaskForce(
        name=body.name,
        lead_agency=body.lead_agency,
        member_agencies=tuple(body.member_agencies),
        standing=body.standing,
        incident_ids=tuple(body.incident_ids),
        marking=body.marking.for_user(user) if body.marking else None,
        description=body.description,
    )
    task_force_id = concord.coordination.form_task_force(command, user)
    return _detail(concord, task_force_id, user)


@router.post("/{task_force_id}/members")
def join(task_force_id: str, body: AgencyBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    return _act(concord, task_force_id, user, JoinTaskForce(task_force_id=task_force_id, agency=body.agency))


@router.post("/{task_force_id}/members/{agency}/leave")
def leave(
    task_force_id: str, agency: str, body: LeaveBody, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    command = LeaveTaskForce(task_force_id=task_force_id, agency=agency, reason=body.reason)
    return _act(concord, task_force_id, user, command)


@router.post("/{task_force_id}/units")
def attach_unit(task_force_id: str, body: UnitBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    return _act(concord, task_force_id, user, AttachUnit(task_force_id=task_force_id, unit_id=body.unit_id))


@router.post("/{task_force_id}/units/{unit_id}/detach")
def detach_unit(task_force_id: str, unit_id: str, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    return _act(concord, task_force_id, user, DetachUnit(task_force_id=task_force_id, unit_id=unit_id))


@router.post("/{task_force_id}/liaisons")
def assign_liaison(
    task_force_id: str, body: LiaisonBody, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    command = AssignLiaison(task_force_id=task_force_id, user_id=body.user_id, agency=body.agency)
    return _act(concord, task_force_id, user, command)


@router.post("/{task_force_id}/liaisons/{user_id}/relieve")
def relieve_liaison(
    task_force_id: str, user_id: str, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    return _act(concord, task_force_id, user, RelieveLiaison(task_force_id=task_force_id, user_id=user_id))


@router.post("/{task_force_id}/incidents")
def link_incident(
    task_force_id: str, body: IncidentBody, concord: ConcordDep, user: CurrentUser
) -> dict[str, Any]:
    command = LinkTaskForceToIncident(task_force_id=task_force_id, incident_id=body.incident_id)
    return _act(concord, task_force_id, user, command)


@router.post("/{task_force_id}/disband")
def disband(task_force_id: str, body: DisbandBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    return _act(
        concord, task_force_id, user, DisbandTaskForce(task_force_id=task_force_id, reason=body.reason)
    )
