"""Agreements (MOUs) between agencies, "why can this user (not) see this record", dry runs and access
reports.

An agency's users see the agreements it owns or receives, never those between other agencies, so two
partners that receive the same record under different agreements do not learn of each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from concord.domain.agreement import Agreement, AgreementAmended, AgreementRevoked, AgreementSigned
from concord.domain.errors import InvalidInput, NotFound
from concord.domain.identity import Role, User
from concord.entrypoints.api.deps import ConcordDep, require_roles
from concord.sharing import access_report

router = APIRouter(prefix="/api", tags=["sharing"])

Manager = Annotated[User, Depends(require_roles(Role.ADMIN, Role.COMMANDER))]
Auditor = Annotated[User, Depends(require_roles(Role.AUDITOR, Role.ADMIN))]
AgreementId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
JOC = "JOC"


class AgreementBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agreement_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    owner: str = Field(min_length=2, max_length=16)
    partner: str = Field(min_length=2, max_length=16)
    valid_from: AwareDatetime
    valid_until: AwareDatetime | None = None
    categories: list[str] = Field(default_factory=list, max_length=32)
    fields: list[str] = Field(default_factory=list, max_length=64)
    may_reshare: bool = False
    version: int = Field(default=1, ge=1)

    def agreement(self) -> Agreement:
        return Agreement(
            agreement_id=self.agreement_id,
            owner=self.owner,
            partner=self.partner,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            categories=frozenset(self.categories),
            fields=frozenset(self.fields),
            may_reshare=self.may_reshare,
            version=self.version,
        )


class AgreementPublic(BaseModel):
    agreement_id: str
    owner: str
    partner: str
    valid_from: datetime
    valid_until: datetime | None
    categories: list[str]
    fields: list[str]
    may_reshare: bool
    version: int
    revoked: bool
    status: str

    @classmethod
    def of(cls, a: Agreement, at: datetime) -> AgreementPublic:
        return cls(
            agreement_id=a.agreement_id,
            owner=a.owner,
            partner=a.partner,
            valid_from=a.valid_from,
            valid_until=a.valid_until,
            categories=sorted(a.categories),
            fields=sorted(a.fields),
            may_reshare=a.may_reshare,
            version=a.version,
            revoked=a.revoked,
            status=a.status_at(at),
        )


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)


class DryRunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    change: Literal["sign", "amend", "revoke"]
    agreement: AgreementBody | None = None
    agreement_id: str | None = Field(default=None, max_length=64)


def _party(user: User, a: Agreement) -> bool:
    return (
        user.agency in (a.owner, a.partner, JOC)
        if user.agency == JOC
        else user.agency in (a.owner, a.partner)
    )


def _visible(user: User, agreement_id: str, concord: Any) -> Agreement:
    try:
        a: Agreement = concord.sharing.agreement(agreement_id)
    except NotFound:
        raise NotFound("no such agreement") from None
    if not _party(user, a):
        raise NotFound("no such agreement")
    return a


def _owner_manager(user: User, owner: str) -> None:
    if user.agency not in (owner, JOC):
        raise NotFound("no such agreement")


@router.get("/agreements", response_model=list[AgreementPublic])
def list_agreements(
    concord: ConcordDep, user: Annotated[User, Depends(require_roles(*Role))]
) -> list[AgreementPublic]:
    now = concord.clock.now()
    return [AgreementPublic.of(a, now) for a in concord.sharing.agreements() if _party(user, a)]


@router.get("/agreements/{agreement_id}", response_model=AgreementPublic)
def get_agreement(
    agreement_id: AgreementId, concord: ConcordDep, user: Annotated[User, Depends(require_roles(*Role))]
) -> AgreementPublic:
    return AgreementPublic.of(_visible(user, agreement_id, concord), concord.clock.now())


@router.post("/agreements", response_model=AgreementPublic, status_code=201)
def sign_agreement(body: AgreementBody, concord: ConcordDep, user: Manager) -> AgreementPublic:
    """Sign a new agreement: only the owner agency's commanders and admins (or the JOC's)."""
    _owner_manager(user, body.owner)
    if body.version != 1:
        raise InvalidInput("a new agreement starts at version 1", details={"field": "version"})
    signed = concord.sharing.sign(body.agreement(), actor=user.id)
    return AgreementPublic.of(signed, concord.clock.now())


@router.put("/agreements/{agreement_id}", response_model=AgreementPublic)
def amend_agreement(
    agreement_id: AgreementId, body: AgreementBody, concord: ConcordDep, user: Manager
) -> AgreementPublic:
    current = _visible(user, agreement_id, concord)
    _owner_manager(user, current.owner)
    if body.agreement_id != agreement_id:
        raise InvalidInput("the body names another agreement", details={"field": "agreement_id"})
    amended = concord.sharing.amend(body.agreement(), actor=user.id)
    return AgreementPublic.of(amended, concord.clock.now())


@router.post("/agreements/{agreement_id}/revoke", response_model=AgreementPublic)
def revoke_agreement(
    agreement_id: AgreementId, body: RevokeBody, concord: ConcordDep, user: Manager
) -> AgreementPublic:
    """Revoke at once: from this moment the partner receives nothing more under it, on every path."""
    current = _visible(user, agreement_id, concord)
    _owner_manager(user, current.owner)
    revoked = concord.sharing.revoke(agreement_id, actor=user.id, reason=body.reason)
    return AgreementPublic.of(revoked, concord.clock.now())


@router.post("/agreements/dry-run")
def dry_run_agreement(body: DryRunBody, concord: ConcordDep, user: Manager) -> dict[str, Any]:
    """What each partner agency would gain or lose (records and fields) if the change took effect."""
    now = concord.clock.now()
    if body.change == "revoke":
        if not body.agreement_id:
            raise InvalidInput("a revoke dry run names agreement_id", details={"field": "agreement_id"})
        current = _visible(user, body.agreement_id, concord)
        owner = current.owner
        event: Any = AgreementRevoked(agreement_id=body.agreement_id, occurred_at=now)
    else:
        if body.agreement is None:
            raise InvalidInput(
                "a sign or amend dry run carries the agreement", details={"field": "agreement"}
            )
        owner = body.agreement.owner
        if body.change == "amend":
            _visible(user, body.agreement.agreement_id, concord)
            event = AgreementAmended(agreement=body.agreement.agreement(), occurred_at=now)
        else:
            event = AgreementSigned(agreement=body.agreement.agreement(), occurred_at=now)
    _owner_manager(user, owner)
    changes = concord.sharing.dry_run(
        concord.queries.rows_of_originator(owner),
        [u.viewer() for u in concord.accounts.list_users() if u.agency != owner and u.active],
        event,
    )
    return {"changes": [c.to_dict() for c in changes if not c.unchanged]}


@router.get("/explain")
def explain(
    concord: ConcordDep,
    user: Auditor,
    kind: Annotated[str, Query(min_length=1, max_length=32)],
    record_id: Annotated[str, Query(min_length=1, max_length=64)],
    username: Annotated[str, Query(min_length=2, max_length=64)],
) -> dict[str, Any]:
    """Why can ``username`` (not) see a record: the decision, the policies that made it, the reasons.

    Asked by an auditor or admin about a record of their own agency (the JOC's may ask about any).
    """
    row = concord.queries.stored(kind, record_id)
    if row is None or (user.agency != JOC and row.marking.originator != user.agency):
        raise NotFound(f"no such {kind}")
    target = concord.accounts.get_user_by_username(username)
    return {
        "user": target.username,
        "agency": target.agency,
        **concord.sharing.explain(row, target.viewer()).to_dict(),
    }


@router.get("/access-report")
def get_access_report(
    concord: ConcordDep,
    user: Auditor,
    recipient: Annotated[str, Query(min_length=2, max_length=16)],
    originator: Annotated[str, Query(min_length=2, max_length=16)],
    start: Annotated[datetime, Query()],
    end: Annotated[datetime, Query()],
) -> dict[str, Any]:
    """What ``recipient`` received from ``originator`` in [start, end), by agreement and category, and
    every withheld request. Auditors see reports on their own agency's records or deliveries."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("start and end need a time zone", details={"field": "start"})
    if end <= start:
        raise InvalidInput("end must be after start", details={"field": "end"})
    if user.agency != JOC and user.agency not in (recipient, originator):
        raise NotFound("no such report")
    decisions = concord.audit.decisions_between(start, end)
    report = access_report(decisions, recipient=recipient, originator=originator, start=start, end=end)
    return report.to_dict()
