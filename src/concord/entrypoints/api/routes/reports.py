"""Reports over REST: after-action reviews, SITREPs and briefing packs, as HTML, PDF or JSON.

Each document is released to the caller: what they may not see is left out and only counted.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from concord.drills.report import ReportDoc, render_html, render_pdf
from concord.entrypoints.api.deps import ConcordDep, ViewerDep
from concord.services.reports import ReportService

router = APIRouter(prefix="/api/reports", tags=["reports"])

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
Format = Literal["html", "pdf", "json"]


def _respond(doc: ReportDoc, fmt: Format) -> Response:
    if fmt == "pdf":
        name = f"{doc.kind}.pdf"
        return Response(
            render_pdf(doc),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    if fmt == "html":
        return HTMLResponse(render_html(doc))
    body: dict[str, Any] = doc.to_dict()
    return JSONResponse(body)


@router.get("/aar")
def aar(
    concord: ConcordDep,
    viewer: ViewerDep,
    exercise: Annotated[str | None, Query(pattern=_ID)] = None,
    incident: Annotated[str | None, Query(pattern=_ID)] = None,
    fmt: Annotated[Format, Query(alias="format")] = "html",
) -> Response:
    """After-action review of one exercise or incident."""
    return _respond(ReportService(concord).aar(viewer, exercise=exercise, incident=incident), fmt)


@router.get("/sitrep")
def sitrep(
    concord: ConcordDep,
    viewer: ViewerDep,
    hours: Annotated[float, Query(gt=0, le=744)] = 12.0,
    exercise: bool = False,
    fmt: Annotated[Format, Query(alias="format")] = "html",
) -> Response:
    """Situation report for the caller's agency over the last ``hours``."""
    return _respond(ReportService(concord).sitrep(viewer, hours=hours, exercise=exercise), fmt)


@router.get("/briefing")
def briefing(
    concord: ConcordDep,
    viewer: ViewerDep,
    days: Annotated[float, Query(gt=0, le=366)] = 7.0,
    fmt: Annotated[Format, Query(alias="format")] = "html",
) -> Response:
    """Joint briefing pack: open incidents, trends, SLA misses, decisions needed."""
    return _respond(ReportService(concord).briefing(viewer, days=days), fmt)
