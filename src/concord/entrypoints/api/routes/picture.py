"""The live picture over REST: post observations, read tracks and alerts, acknowledge alerts.

Every record leaves through the release gate (``concord.queries``); a record the caller may not see is
absent (404), and lists, counts and pages count only what was released.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from concord.domain.errors import InvalidInput
from concord.domain.identity import Role, User
from concord.entrypoints.api.deps import ConcordDep, ViewerDep, require_roles
from concord.entrypoints.api.released import RecordPublic, RecordsPublic, public
from concord.ingest import parse_json_batch

router = APIRouter(prefix="/api", tags=["picture"])

Feeder = Annotated[User, Depends(require_roles(Role.OPERATOR, Role.ANALYST, Role.COMMANDER, Role.ADMIN))]
RecordId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$")]
Acker = Annotated[User, Depends(require_roles(Role.OPERATOR, Role.COMMANDER, Role.LIAISON))]


class ObservationsAccepted(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[dict[str, Any]]
    tracks_updated: int | None = Field(
        description="tracks the batch changed; null when tracker workers fused it (scaled-out deployment)"
    )
    alerts: int | None = Field(description="alerts the batch raised; null when tracker workers fused it")


class AckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    try:
        west, south, east, north = (float(v) for v in bbox.split(","))
    except ValueError:
        raise InvalidInput(
            "bbox must be west,south,east,north in degrees", details={"field": "bbox"}
        ) from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInput("bbox must be west,south,east,north within range", details={"field": "bbox"})
    return west, south, east, north


@router.post("/observations", response_model=ObservationsAccepted, status_code=202)
async def post_observations(
    request: Request,
    concord: ConcordDep,
    user: Feeder,
    partial: Annotated[bool, Query(description="accept the valid items when some are rejected")] = False,
) -> ObservationsAccepted:
    """Submit a batch of observations (``{"observations": [...]}`` or a GeoJSON FeatureCollection).

    Without ``partial`` the batch is all or nothing: one bad item rejects it with 422, naming the item.
    Observations are attributed to the caller's agency and carry its default marking
    (RESTRICTED, TLP:AMBER, releasable to all agencies: agreements decide what partners receive).
    """
    body = await request.body()
    result = parse_json_batch(
        body,
        agency=user.agency,
        marking=concord.accounts.default_marking(user.agency),
        received_at=concord.clock.now(),
        partial=partial,
    )
    rejections = [r.to_dict() for r in result.rejections]
    if rejections and not partial:
        first = result.rejections[0]
        raise InvalidInput(
            f"batch rejected: {first.reason}",
            details={"field": first.path or "", "code": first.code, "rejections": rejections},
        )
    receipt = await _ingest(concord, list(result.observations), actor=user.id)
    return ObservationsAccepted(
        accepted=receipt.accepted,
        duplicates=receipt.duplicates,
        rejected=rejections + receipt.rejected,
        tracks_updated=receipt.tracks_updated,
        alerts=receipt.alerts,
    )


async def _ingest(concord: Any, observations: list[Any], *, actor: str) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(concord.intake.ingest, observations, actor=actor)


def _records(
    concord: Any,
    kind: str,
    viewer: Any,
    *,
    bbox: str | None,
    status: str | None,
    offset: int,
    limit: int,
    exercise: bool,
) -> RecordsPublic:
    page = concord.queries.page(
        kind, viewer, bbox=parse_bbox(bbox), status=status, exercise=exercise, offset=offset, limit=limit
    )
    return RecordsPublic(data=[public(r) for r in page.items], count=page.total, offset=offset, limit=limit)


@router.get("/tracks", response_model=RecordsPublic)
def list_tracks(
    concord: ConcordDep,
    viewer: ViewerDep,
    bbox: Annotated[str | None, Query(max_length=100, description="west,south,east,north")] = None,
    status: Annotated[Literal["tentative", "confirmed", "coasting", "deleted"] | None, Query()] = None,
    exercise: bool = False,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> RecordsPublic:
    return _records(
        concord, "track", viewer, bbox=bbox, status=status, offset=offset, limit=limit, exercise=exercise
    )


@router.get("/tracks/{track_id}", response_model=RecordPublic)
def get_track(track_id: RecordId, concord: ConcordDep, viewer: ViewerDep) -> RecordPublic:
    return public(concord.queries.get("track", track_id, viewer))


@router.get("/alerts", response_model=RecordsPublic)
def list_alerts(
    concord: ConcordDep,
    viewer: ViewerDep,
    bbox: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[Literal["open", "acknowledged", "ended"] | None, Query()] = None,
    exercise: bool = False,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> RecordsPublic:
    return _records(
        concord, "alert", viewer, bbox=bbox, status=status, offset=offset, limit=limit, exercise=exercise
    )


@router.get("/alerts/{alert_id}", response_model=RecordPublic)
def get_alert(alert_id: RecordId, concord: ConcordDep, viewer: ViewerDep) -> RecordPublic:
    return public(concord.queries.get("alert", alert_id, viewer))


@router.post("/alerts/{alert_id}/ack", response_model=RecordPublic)
def acknowledge_alert(
    alert_id: RecordId,
    body: AckRequest,
    concord: ConcordDep,
    user: Acker,
    _viewer: ViewerDep,
) -> RecordPublic:
    """Acknowledge an alert the caller can see (once: a second acknowledgement is a 409)."""
    viewer = user.viewer()
    concord.queries.get("alert", alert_id, viewer)  # 404 when the caller may not see it
    concord.picture.acknowledge(alert_id, user_id=user.id, agency=user.agency, note=body.note)
    return public(concord.queries.get("alert", alert_id, viewer))
