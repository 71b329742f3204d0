"""KPIs over REST: response times, SLA compliance, sharing and detection, per agency and overall.

Figures are computed only from what the caller may see; live operations and each exercise apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from concord.domain.errors import InvalidInput
from concord.domain.identity import Role, User
from concord.domain.types import ensure_utc
from concord.entrypoints.api.deps import ConcordDep, ViewerDep, require_roles
from concord.services.reports import ReportService

router = APIRouter(prefix="/api/kpis", tags=["kpis"])

Analyst = Annotated[User, Depends(require_roles(Role.ADMIN, Role.COMMANDER, Role.ANALYST))]
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(f"'{name}' needs a time zone (e.g. Z)", details={"field": name})
    return ensure_utc(value)


@router.get("")
def kpis(
    concord: ConcordDep,
    viewer: ViewerDep,
    exercise: Annotated[str | None, Query(pattern=_ID, description="exercise id; absent: live")] = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """KPIs of live operations in [from, to), or of one exercise."""
    report = ReportService(concord).kpis(
        viewer, exercise=exercise, start=_utc(start, "from"), end=_utc(end, "to")
    )
    return report.to_dict()


@router.get("/exercises")
def exercises(concord: ConcordDep, viewer: ViewerDep) -> dict[str, Any]:
    """The drill runs recorded in the journal that the caller's agency took part in."""
    from concord.services.drills import DrillService

    runs = [
        r
        for r in DrillService(concord).exercises()
        if viewer.agency in {a["code"] for a in r.get("agencies", ())}
    ]
    return {"data": runs, "count": len(runs)}


@router.get("/capability")
def capability(
    concord: ConcordDep,
    _analyst: Analyst,
    exercise: Annotated[str | None, Query(pattern=_ID)] = None,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """Capability and gap assessment: per agency sensors, units, response times; weakest sections."""
    report = ReportService(concord).capability(
        exercise=exercise, start=_utc(start, "from"), end=_utc(end, "to")
    )
    return report.to_dict()
