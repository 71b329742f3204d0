"""The audit log for auditors: signed tree heads, inclusion and consistency proofs, entries.

Proofs carry only hashes. Entries carry who did what to which record; an auditor of the joint
operations centre reads them all, an auditor of an agency the entries by or about that agency.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from concord.domain.errors import InvalidInput, NotFound
from concord.domain.identity import Role, User
from concord.entrypoints.api.deps import ConcordDep, require_roles

router = APIRouter(prefix="/api/audit", tags=["audit"])

Auditor = Annotated[User, Depends(require_roles(Role.AUDITOR))]
JOC = "JOC"


@router.get("/head")
def head(
    concord: ConcordDep, _user: Auditor, size: Annotated[int | None, Query(ge=1)] = None
) -> dict[str, Any]:
    """The latest signed tree head (or the one at ``size``), with the public key to check it."""
    found = concord.audit.head(size)
    if found is None:
        raise NotFound("no signed tree head yet" if size is None else "no signed head at that size")
    return {**found.to_dict(), "public_key_pem": concord.audit.public_key_pem()}


@router.get("/proof/inclusion")
def inclusion(
    concord: ConcordDep,
    _user: Auditor,
    seq: Annotated[int, Query(ge=0)],
    size: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """An RFC 9162 inclusion proof of entry ``seq`` in the tree of ``size`` (default: latest head)."""
    return dict(concord.audit.inclusion_proof(seq, size).to_dict())


@router.get("/proof/consistency")
def consistency(
    concord: ConcordDep,
    _user: Auditor,
    old: Annotated[int, Query(ge=1)],
    new: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """An RFC 9162 consistency proof between two tree sizes (default new: latest head)."""
    return dict(concord.audit.consistency_proof(old, new).to_dict())


@router.get("/entries")
def entries(
    concord: ConcordDep,
    user: Auditor,
    start: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    size = concord.audit.size()
    if start > size:
        raise InvalidInput("start is beyond the end of the log", details={"field": "start"})
    found = concord.audit.entries(start, min(size, start + limit))
    if user.agency != JOC:
        found = [e for e in found if e.agency == user.agency or e.details.get("originator") == user.agency]
    return {"size": size, "data": [e.to_dict() for e in found]}
