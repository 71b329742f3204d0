"""Routing of alerts: who owns an alert and who was told, open jurisdiction conflicts, and a
commander's decision on one. An alert the caller may not see answers 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from concord.domain.identity import Role, User
from concord.entrypoints.api.deps import ConcordDep, CurrentUser, require_roles
from concord.entrypoints.api.routes._coordination import (
    AgencyCode,
    Reason,
    Strict,
    page_of,
    public,
    release_row,
)
from concord.incidents.commands import ResolveConflict

router = APIRouter(prefix="/api", tags=["routing"])

Commander = Annotated[User, Depends(require_roles(Role.COMMANDER))]


class ResolveBody(Strict):
    decision: AgencyCode
    reason: Reason


@router.get("/alerts/{alert_id}/routing")
def get_routing(alert_id: str, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    viewer = user.viewer()
    concord.queries.get("alert", alert_id, viewer)
    return public(release_row(concord, concord.coordination.row("routing", alert_id), viewer))


@router.get("/conflicts")
def list_conflicts(
    concord: ConcordDep,
    user: CurrentUser,
    exercise: bool = False,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Routings with a jurisdiction conflict still open, as far as the caller may see them."""
    rows = concord.coordination.rows("routing", status="conflict")
    return page_of(concord, rows, user.viewer(), exercise=exercise, offset=offset, limit=limit)


@router.post("/alerts/{alert_id}/conflicts/{conflict_id}/resolve")
def resolve_conflict(
    alert_id: str, conflict_id: str, body: ResolveBody, concord: ConcordDep, user: Commander
) -> dict[str, Any]:
    viewer = user.viewer()
    concord.queries.get("alert", alert_id, viewer)
    command = ResolveConflict(
        alert_id=alert_id, conflict_id=conflict_id, decision=body.decision, reason=body.reason
    )
    concord.coordination.resolve_conflict(command, user)
    return public(release_row(concord, concord.coordination.row("routing", alert_id), viewer))
