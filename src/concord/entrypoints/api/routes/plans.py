"""Planning over REST: patrol allocation and hotspot forecasts from what the caller may see."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from concord.domain.identity import Role, User
from concord.entrypoints.api.deps import ConcordDep, require_roles
from concord.planning import PatrolUnits

router = APIRouter(prefix="/api/plans", tags=["planning"])

Planner = Annotated[User, Depends(require_roles(Role.COMMANDER, Role.ANALYST))]


class UnitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency: str = Field(min_length=2, max_length=16)
    name: str = Field(min_length=1, max_length=64)
    count: int = Field(ge=1, le=200)
    max_sections: int = Field(default=1, ge=1, le=20)
    terrains: list[str] = Field(default_factory=lambda: ["land"], min_length=1, max_length=4)


class PatrolRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    units: list[UnitsIn] = Field(min_length=1, max_length=20)
    history_days: float = Field(default=30.0, gt=0, le=366)
    seed: int = Field(default=0, ge=0, le=2**31)


@router.post("/patrols")
def patrols(body: PatrolRequest, concord: ConcordDep, user: Planner) -> dict[str, Any]:
    """Randomized patrol plan for one shift (Stackelberg equilibrium) over the border sections you see,
    weighted by the alerts you see, beside uniform and incident-proportional coverage."""
    units = [
        PatrolUnits(
            agency=u.agency,
            name=u.name,
            count=u.count,
            max_sections=u.max_sections,
            terrains=frozenset(u.terrains),
        )
        for u in body.units
    ]
    return concord.plans.patrols(user.viewer(), units, history_days=body.history_days, seed=body.seed)


@router.get("/hotspots")
def hotspots(
    concord: ConcordDep,
    user: Planner,
    history_days: Annotated[float, Query(gt=0, le=366)] = 30.0,
    cell_m: Annotated[float, Query(ge=200, le=50_000)] = 2_000.0,
    bandwidth_m: Annotated[float, Query(ge=100, le=50_000)] = 1_500.0,
    half_life_h: Annotated[float | None, Query(gt=0, le=24 * 366)] = None,
    top: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Next period's risk surface from the alerts you see (kernel density), as a GeoJSON layer of the
    highest-risk cells."""
    forecast = concord.plans.hotspots(
        user.viewer(),
        history_days=history_days,
        cell_m=cell_m,
        bandwidth_m=bandwidth_m,
        half_life_h=half_life_h,
        top=top,
    )
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [c["polygon"]]},
                "properties": {"rank": c["rank"], "risk": c["risk"]},
            }
            for c in forecast.cells
        ],
        "alerts_used": forecast.alerts_used,
        "banner": forecast.marking.banner() if forecast.marking else None,
    }


@router.post("/report")
def report(
    body: PatrolRequest,
    concord: ConcordDep,
    user: Planner,
    fmt: Annotated[Literal["html", "pdf", "json"], Query(alias="format")] = "html",
) -> Response:
    """The patrol plan and hotspot forecast as a report with a map (HTML, PDF or JSON), for you."""
    from concord.drills.report import render_html, render_pdf

    units = [
        PatrolUnits(
            agency=u.agency,
            name=u.name,
            count=u.count,
            max_sections=u.max_sections,
            terrains=frozenset(u.terrains),
        )
        for u in body.units
    ]
    doc = concord.plans.report(user.viewer(), units, history_days=body.history_days, seed=body.seed)
    if fmt == "pdf":
        return Response(
            render_pdf(doc),
            media_type="application/pdf",
            headers={"Content-Disposition": 'attachment; filename="plan.pdf"'},
        )
    if fmt == "html":
        return HTMLResponse(render_html(doc))
    return JSONResponse(doc.to_dict())
