"""CAP 1.2 export: one alert as a CAP message, and an Atom feed of the alerts the caller may see.

Both read through the release-aware queries, so an alert the caller may not see answers 404 (never
403) and never appears in the feed; the messages are built from the released values only.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from concord.domain.errors import InvalidInput
from concord.egress.cap import (
    ATOM_MEDIA_TYPE,
    CAP_MEDIA_TYPE,
    AlertRelease,
    CapConfig,
    build_atom_feed,
    build_cap,
)
from concord.entrypoints.api.deps import ConcordDep, ViewerDep

__all__ = ["router"]

router = APIRouter(prefix="/api/cap", tags=["cap"])

MAX_ALERT_ID_CHARS = 200
# Alert ids are made by Concord; anything else in the URL cannot name one, so it is refused early.
_ALERT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")
MAX_FEED_ENTRIES = 1000
_CURRENT = ("open", "acknowledged")


def _config(concord: ConcordDep) -> CapConfig:
    return CapConfig.for_deployment(concord.settings.region_name)


def _check_alert_id(alert_id: str) -> str:
    if len(alert_id) > MAX_ALERT_ID_CHARS or not _ALERT_ID.match(alert_id) or ".." in alert_id:
        raise InvalidInput(
            f"an alert id is 1-{MAX_ALERT_ID_CHARS} letters, digits or . _ : @ - characters",
            details={"field": "alert_id"},
        )
    return alert_id


@router.get(
    "/alerts/{alert_id}.xml",
    response_class=Response,
    responses={200: {"content": {CAP_MEDIA_TYPE: {}}, "description": "The alert as a CAP 1.2 message"}},
)
def cap_alert(alert_id: str, concord: ConcordDep, viewer: ViewerDep) -> Response:
    """One alert as a CAP 1.2 message, as released to the caller (404 when absent or not visible)."""
    released = concord.queries.get("alert", _check_alert_id(alert_id), viewer)
    return Response(content=build_cap(released, _config(concord)), media_type=CAP_MEDIA_TYPE)


@router.get(
    "/alerts.atom",
    response_class=Response,
    responses={200: {"content": {ATOM_MEDIA_TYPE: {}}, "description": "Atom feed of CAP messages"}},
)
def cap_feed(
    request: Request,
    concord: ConcordDep,
    viewer: ViewerDep,
    include_ended: Annotated[bool, Query(description="also list alerts whose episode has ended")] = False,
    exercise: Annotated[bool, Query(description="the exercise picture instead of the live one")] = False,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_FEED_ENTRIES)] = 500,
) -> Response:
    """The caller's current alerts (open or acknowledged; ended too with ``include_ended``) as Atom."""
    statuses = (*_CURRENT, "ended") if include_ended else _CURRENT
    visible: list[AlertRelease] = []
    for status in statuses:
        start = 0
        while True:
            page = concord.queries.page(
                "alert", viewer, status=status, exercise=exercise, offset=start, limit=MAX_FEED_ENTRIES
            )
            visible.extend(page.items)
            start += MAX_FEED_ENTRIES
            if start >= page.total:
                break
    visible.sort(key=lambda r: (str(r.record.fields.get("updated_at", "")), r.record.record_id), reverse=True)
    window = visible[offset : offset + limit]
    base = str(request.base_url).rstrip("/")
    feed_url = f"{base}/api/cap/alerts.atom"
    params = f"include_ended={str(include_ended).lower()}&exercise={str(exercise).lower()}"
    next_url = (
        f"{feed_url}?{params}&offset={offset + limit}&limit={limit}"
        if offset + limit < len(visible)
        else None
    )
    body = build_atom_feed(
        window,
        _config(concord),
        feed_id=f"{feed_url}?{params}",
        self_url=str(request.url),
        cap_url=lambda alert_id: f"{base}/api/cap/alerts/{quote(alert_id, safe='')}.xml",
        updated=concord.clock.now(),
        next_url=next_url,
    )
    return Response(content=body, media_type=ATOM_MEDIA_TYPE)
