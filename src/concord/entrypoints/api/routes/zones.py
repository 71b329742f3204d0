"""Zones over REST: import a GeoJSON FeatureCollection, read the zones the caller may see as GeoJSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from concord.domain.identity import Role, User
from concord.entrypoints.api.deps import ConcordDep, ViewerDep, require_roles
from concord.entrypoints.api.released import public

router = APIRouter(prefix="/api/zones", tags=["zones"])

ZoneAdmin = Annotated[User, Depends(require_roles(Role.ADMIN, Role.COMMANDER))]


@router.get("")
def list_zones(concord: ConcordDep, viewer: ViewerDep) -> dict[str, Any]:
    """The zones this viewer may see, as a GeoJSON FeatureCollection with markings in the properties."""
    page = concord.queries.page("zone", viewer, limit=1000)
    features = []
    for released in page.items:
        record = public(released)
        fields = dict(record.fields)
        geometry = fields.pop("geometry", None)
        features.append(
            {
                "type": "Feature",
                "id": record.id,
                "geometry": geometry,
                "properties": {**fields, "banner": record.marking.banner, "redacted": record.redacted},
            }
        )
    return {"type": "FeatureCollection", "features": features, "count": page.total}


@router.post("", status_code=201)
async def import_zones(
    request: Request,
    concord: ConcordDep,
    user: ZoneAdmin,
    repair: Annotated[bool, Query(description="repair invalid polygons instead of refusing them")] = False,
) -> dict[str, Any]:
    """Import zones from a GeoJSON FeatureCollection (zones with existing ids are replaced)."""
    from starlette.concurrency import run_in_threadpool

    body = await request.body()
    zones = await run_in_threadpool(
        concord.zones.import_geojson, body, actor=user.id, agency=user.agency, repair=repair
    )
    return {"imported": len(zones), "ids": [z.id for z in zones]}
