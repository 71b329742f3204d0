"""Test building blocks for sharing: six agencies, viewers, agreements and gates at a fixed time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from concord.domain.agreement import Agreement, AgreementSet
from concord.domain.identity import Agency, AgencyKind, Role, Viewer
from concord.sharing import ReleaseGate, ReleasePolicies

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

AGENCIES = (
    Agency(code="BP", name="Border Police", kind=AgencyKind.BORDER_POLICE),
    Agency(code="CUS", name="Customs", kind=AgencyKind.CUSTOMS),
    Agency(code="IMM", name="Immigration", kind=AgencyKind.IMMIGRATION),
    Agency(code="CG", name="Coast Guard", kind=AgencyKind.COAST_GUARD),
    Agency(code="ARMY", name="Army", kind=AgencyKind.MILITARY),
    Agency(code="INT", name="Intelligence", kind=AgencyKind.INTELLIGENCE),
)
AGENCY_CODES = frozenset(a.code for a in AGENCIES)


def make_viewer(
    agency: str,
    *,
    clearance: str = "SECRET",
    categories: frozenset[str] | set[str] = frozenset(
        {"PII", "BIOMETRIC", "INTEL-SOURCE", "LAW-ENFORCEMENT-SENSITIVE"}
    ),
    roles: frozenset[Role] | set[Role] = frozenset({Role.ANALYST}),
    user_id: str | None = None,
) -> Viewer:
    return Viewer(
        user_id=user_id or f"{agency.lower()}-user",
        agency=agency,
        roles=frozenset(roles),
        clearance=clearance,
        categories=frozenset(categories),
    )


def make_agreement(
    owner: str = "BP",
    partner: str = "CUS",
    *,
    agreement_id: str | None = None,
    categories: set[str] | frozenset[str] = frozenset({"PII"}),
    fields: set[str] | frozenset[str] = frozenset({"person_name"}),
    start: datetime = AT - timedelta(days=30),
    until: datetime | None = AT + timedelta(days=30),
    may_reshare: bool = False,
    revoked: bool = False,
    version: int = 1,
) -> Agreement:
    return Agreement(
        agreement_id=agreement_id or f"{owner}-{partner}",
        owner=owner,
        partner=partner,
        valid_from=start,
        valid_until=until,
        categories=frozenset(categories),
        fields=frozenset(fields),
        may_reshare=may_reshare,
        revoked=revoked,
        version=version,
    )


def make_gate(policies: ReleasePolicies, *agreements: Agreement, cache_size: int = 10_000) -> ReleaseGate:
    return ReleaseGate(
        policies=policies, agencies=AGENCIES, agreements=AgreementSet.of(agreements), cache_size=cache_size
    )
