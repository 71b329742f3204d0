"""Shared pieces of the coordination routes: strict bodies, markings, and release of records.

Every record leaves through the release gate (``concord.queries``); a record the caller may not see
is reported as absent (404), never as forbidden, so its existence is not confirmed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from concord.bootstrap import Concord
from concord.domain.errors import NotFound
from concord.domain.identity import User, Viewer
from concord.domain.marking import Marking, Tlp
from concord.domain.record import RecordRow
from concord.entrypoints.api.released import public as record_public
from concord.sharing import Released

__all__ = [
    "AgencyCode",
    "Id",
    "MarkingIn",
    "Reason",
    "Strict",
    "Text",
    "Title",
    "page_of",
    "public",
    "release_row",
    "visible_incident",
]

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
AgencyCode = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Z][A-Z0-9-]{1,15}$")]
Text = Annotated[str, Field(max_length=4000)]
Reason = Annotated[str, Field(min_length=1, max_length=4000)]
Title = Annotated[str, Field(min_length=1, max_length=200)]
Category = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class MarkingIn(Strict):
    """A marking the caller's agency originates (the originator is always the caller's agency)."""

    classification: Literal["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"]
    rel_to: list[AgencyCode] = Field(default_factory=list, max_length=64)
    tlp: Literal["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"] = "AMBER"
    categories: list[Category] = Field(default_factory=list, max_length=32)

    def for_user(self, user: User) -> Marking:
        return Marking(
            classification=self.classification,
            originator=user.agency,
            rel_to=frozenset(self.rel_to),
            tlp=Tlp(self.tlp),
            categories=frozenset(self.categories),
        )


def public(released: Released[Any]) -> dict[str, Any]:
    """A released record as JSON, in the same shape as every other record of the API."""
    body: dict[str, Any] = record_public(released).model_dump(mode="json")
    return body


def release_row(concord: Concord, row: RecordRow, viewer: Viewer) -> Released[Any]:
    """The row as ``viewer`` may see it, or NotFound."""
    visible = concord.queries.release_rows([row], viewer, exercise=row.exercise)
    if not visible:
        raise NotFound(f"no such {row.kind}")
    released: Released[Any] = visible[0]
    return released


def page_of(
    concord: Concord, rows: list[RecordRow], viewer: Viewer, *, exercise: bool, offset: int, limit: int
) -> dict[str, Any]:
    """Release first, then count and page: a withheld record never shows in a total."""
    visible = concord.queries.release_rows(rows, viewer, exercise=exercise)
    return {"data": [public(r) for r in visible[offset : offset + limit]], "count": len(visible)}


def visible_incident(concord: Concord, incident_id: str, user: User) -> Released[Any]:
    """The incident as the user may see it; NotFound when absent or withheld."""
    try:
        row = concord.coordination.row("incident", incident_id)
    except NotFound:
        raise NotFound("no such incident", details={"incident_id": incident_id}) from None
    try:
        return release_row(concord, row, user.viewer())
    except NotFound:
        raise NotFound("no such incident", details={"incident_id": incident_id}) from None
