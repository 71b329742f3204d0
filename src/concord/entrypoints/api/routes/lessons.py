"""Lessons learned over REST: participants' feedback, and the shared, searchable lessons library."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from concord.domain.marking import Tlp
from concord.entrypoints.api.deps import ConcordDep, CurrentUser
from concord.services.reports import ReportService

router = APIRouter(prefix="/api/lessons", tags=["lessons"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class FeedbackCreate(_Strict):
    subject_kind: Literal["exercise", "incident"]
    subject_id: str = Field(min_length=1, max_length=128)
    rating: int = Field(ge=1, le=5, strict=True)
    went_well: str = Field(default="", max_length=4000)
    to_improve: str = Field(default="", max_length=4000)


class LessonCreate(_Strict):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=4000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    subject_kind: Literal["exercise", "incident", ""] = ""
    subject_id: str = Field(default="", max_length=128)
    playbook_id: str | None = Field(default=None, max_length=128)
    proposed_playbook: str | None = Field(default=None, max_length=100_000)
    rel_to: list[str] = Field(default_factory=list, max_length=32)
    tlp: Tlp = Tlp.GREEN


@router.post("/feedback", status_code=201)
def submit_feedback(body: FeedbackCreate, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    """A participant's short structured feedback after a drill or incident."""
    event = ReportService(concord).submit_feedback(
        user,
        subject_kind=body.subject_kind,
        subject_id=body.subject_id,
        rating=body.rating,
        went_well=body.went_well,
        to_improve=body.to_improve,
    )
    return {"id": event.feedback_id, "at": event.at.isoformat()}


@router.post("", status_code=201)
def record_lesson(body: LessonCreate, concord: ConcordDep, user: CurrentUser) -> dict[str, Any]:
    """Add a lesson to the library, marked by the caller's agency (shared per its marking)."""
    from concord.domain.marking import Marking

    marking = Marking(
        classification="RESTRICTED", originator=user.agency, rel_to=frozenset(body.rel_to), tlp=body.tlp
    )
    lesson = ReportService(concord).record_lesson(
        user,
        title=body.title,
        body=body.body,
        tags=body.tags,
        subject_kind=body.subject_kind,
        subject_id=body.subject_id,
        playbook_id=body.playbook_id,
        proposed_playbook=body.proposed_playbook,
        marking=marking,
    )
    return {"id": lesson.lesson_id, "banner": marking.banner()}


@router.get("")
def search_lessons(
    concord: ConcordDep,
    user: CurrentUser,
    q: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Lessons the caller may see, newest first, matching ``q`` and ``tag``."""
    found = ReportService(concord).lessons(user.viewer(), text=q, tag=tag, limit=limit)
    return {"data": found, "count": len(found)}
