"""Liveness and readiness: is the database reachable, which version and schema run."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from concord import __version__
from concord.entrypoints.api.deps import ConcordDep
from concord.entrypoints.api.schemas import HealthPublic

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=HealthPublic)
def health(concord: ConcordDep) -> HealthPublic | JSONResponse:
    if not concord.database_ok():
        body = HealthPublic(
            status="degraded", version=__version__, database="unreachable", schema_revision=None
        )
        return JSONResponse(body.model_dump(), status_code=503)
    return HealthPublic(
        status="ok", version=__version__, database="ok", schema_revision=concord.schema_revision()
    )
