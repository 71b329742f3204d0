"""Turning what the gate released into API bodies: the only way a record reaches a response."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from concord.sharing import Released, Visible

__all__ = ["MarkingPublic", "RecordPublic", "RecordsPublic", "public"]


class MarkingPublic(BaseModel):
    banner: str
    classification: str
    originator: str
    rel_to: list[str]
    tlp: str
    categories: list[str]


class RecordPublic(BaseModel):
    """A record as this viewer may see it: its fields (redacted ones removed and named), its marking."""

    kind: str
    id: str
    marking: MarkingPublic
    exercise: bool
    decision: str
    redacted: list[str]
    fields: dict[str, Any]


class RecordsPublic(BaseModel):
    data: list[RecordPublic]
    count: int
    offset: int
    limit: int


def public(released: Released[Any] | Visible) -> RecordPublic:
    record = released.record
    m = record.marking
    return RecordPublic(
        kind=record.kind,
        id=record.record_id,
        marking=MarkingPublic(
            banner=m.banner(),
            classification=m.classification,
            originator=m.originator,
            rel_to=sorted(m.rel_to),
            tlp=m.tlp.value,
            categories=sorted(m.categories),
        ),
        exercise=record.exercise,
        decision=released.explanation.decision,
        redacted=list(released.redacted_fields),
        fields={k: _jsonable(v) for k, v in record.fields.items()},
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value
