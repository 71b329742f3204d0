"""Units and mutual aid: register a unit, change its status, put it on a task and take it off, and
borrow another agency's unit step by step (request, approve or decline, hand over, release back)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from concord.bootstrap import Concord
from concord.domain.coordination import UnitStatus, UnitType
from concord.domain.identity import User
from concord.entrypoints.api.deps import ConcordDep, CurrentUser
from concord.entrypoints.api.routes._coordination import (
    AgencyCode,
    Id,
    Reason,
    Strict,
    Text,
    page_of,
    public,
    release_row,
    visible_incident,
)
from concord.incidents.commands import (
    ApproveMutualAid,
    AssignUnitToTask,
    ChangeUnitStatus,
    DeclineMutualAid,
    HandOverUnit,
    RegisterUnit,
    ReleaseMutualAid,
    ReleaseUnitFromTask,
    RequestMutualAid,
)

router = APIRouter(prefix="/api", tags=["units"])

UnitTypeName = Literal["patrol", "boat", "aircraft", "drone"]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


class RegisterBody(Strict):
    agency: AgencyCode
    unit_type: UnitTypeName
    callsign: Annotated[str, Field(min_length=1, max_length=64)]
    identity: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    capabilities: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=32
    )
    unit_id: Id | None = None


class StatusBody(Strict):
    status: Literal["available", "out-of-service"]
    reason: Text = ""


class AssignBody(Strict):
    incident_id: Id
    task_id: Id


class AidRequestBody(Strict):
    owning_agency: AgencyCode
    reason: Reason
    unit_id: Id | None = None
    capability: UnitTypeName | None = None
    incident_id: Id | None = None


class ApproveBody(Strict):
    unit_id: Id | None = None
    note: Text = ""


class DeclineBody(Strict):
    reason: Reason


class NoteBody(Strict):
    note: Text = ""


def _unit(concord: Concord, unit_id: str, user: User) -> dict[str, Any]:
    return public(release_row(concord, concord.coordination.row("unit", unit_id), user.viewer()))


def _aid(concord: Concord, request_id: str, user: User) -> dict[str, Any]:
    return public(release_row(concord, concord.coordination.row("mutual-aid", request_id), user.viewer()))


# ------------------------------------------------------------------------------------------ units


@router.get("/units")
def list_units(
    concord: ConcordDep,
    user: CurrentUser,
    status: Literal["available", "assigned", "out-of-service"] | None = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    rows = concord.coordination.rows("unit", status=status)
    return page_of(concord, rows, user.viewer(), exercise=False, offset=offset, limit=limit)


@router.get("/units/{unit_id}")
def get_unit(unit_id: str, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    return _unit(concord, unit_id, user)


@router.post("/units", status_code=201)
def register_unit(body: RegisterBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    command = RegisterUnit(
        agency=body.agency,
        unit_type=UnitType(body.unit_type),
        callsign=body.callsign,
        identity=body.identity,
        capabilities=tuple(body.capabilities),
        unit_id=body.unit_id,
    )
    return _unit(concord, concord.coordination.register_unit(command, user), user)


@router.post("/units/{unit_id}/status")
def change_status(unit_id: str, body: StatusBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    _unit(concord, unit_id, user)
    command = ChangeUnitStatus(unit_id=unit_id, status=UnitStatus(body.status), reason=body.reason)
    concord.coordination.change_unit_status(command, user)
    return _unit(concord, unit_id, user)


@router.post("/units/{unit_id}/assign")
def assign_unit(unit_id: str, body: AssignBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    _unit(concord, unit_id, user)
    visible_incident(concord, body.incident_id, user)
    command = AssignUnitToTask(unit_id=unit_id, incident_id=body.incident_id, task_id=body.task_id)
    concord.coordination.assign_unit(command, user)
    return _unit(concord, unit_id, user)


@router.post("/units/{unit_id}/release")
def release_unit(unit_id: str, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    _unit(concord, unit_id, user)
    concord.coordination.release_unit(ReleaseUnitFromTask(unit_id=unit_id), user)
    return _unit(concord, unit_id, user)


# ------------------------------------------------------------------------------------- mutual aid


@router.get("/mutual-aid")
def list_aid_requests(
    concord: ConcordDep,
    user: CurrentUser,
    status: Literal["requested", "approved", "declined", "handed-over", "released"] | None = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    rows = concord.coordination.rows("mutual-aid", status=status)
    return page_of(concord, rows, user.viewer(), exercise=False, offset=offset, limit=limit)


@router.get("/mutual-aid/{request_id}")
def get_aid_request(request_id: str, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    return _aid(concord, request_id, user)


@router.post("/mutual-aid", status_code=201)
def request_aid(body: AidRequestBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    if body.unit_id is not None:
        _unit(concord, body.unit_id, user)
    if body.incident_id is not None:
        visible_incident(concord, body.incident_id, user)
    command = RequestMutualAid(
        owning_agency=body.owning_agency,
        reason=body.reason,
        unit_id=body.unit_id,
        capability=UnitType(body.capability) if body.capability else None,
        incident_id=body.incident_id,
    )
    return _aid(concord, concord.coordination.request_aid(command, user), user)


@router.post("/mutual-aid/{request_id}/approve")
def approve(request_id: str, body: ApproveBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    _aid(concord, request_id, user)
    command = ApproveMutualAid(request_id=request_id, unit_id=body.unit_id, note=body.note)
    concord.coordination.approve_aid(command, user)
    return _aid(concord, request_id, user)


@router.post("/mutual-aid/{request_id}/decline")
def decline(request_id: str, body: DeclineBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    _aid(concord, request_id, user)
    concord.coordination.decline_aid(DeclineMutualAid(request_id=request_id, reason=body.reason), user)
    return _aid(concord, request_id, user)


@router.post("/mutual-aid/{request_id}/hand-over")
def hand_over(request_id: str, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    _aid(concord, request_id, user)
    concord.coordination.hand_over(HandOverUnit(request_id=request_id), user)
    return _aid(concord, request_id, user)


@router.post("/mutual-aid/{request_id}/release")
def release_aid(request_id: str, body: NoteBody, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    _aid(concord, request_id, user)
    concord.coordination.release_aid(ReleaseMutualAid(request_id=request_id, note=body.note), user)
    return _aid(concord, request_id, user)
