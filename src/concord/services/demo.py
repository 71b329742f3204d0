"""The demo world: six agencies and the joint operations centre, one user per role per agency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from concord.domain.agreement import Agreement
from concord.domain.errors import NotFound
from concord.domain.identity import AgencyKind, Role
from concord.services.accounts import AccountService
from concord.services.sharing import SharingService

__all__ = ["DEMO_AGENCIES", "DemoLogin", "ensure_demo_agreements", "ensure_demo_world"]

DEMO_AGENCIES: tuple[tuple[str, str, AgencyKind], ...] = (
    ("BP", "Border Police", AgencyKind.BORDER_POLICE),
    ("CUS", "Customs", AgencyKind.CUSTOMS),
    ("IMM", "Immigration", AgencyKind.IMMIGRATION),
    ("CG", "Coast Guard", AgencyKind.COAST_GUARD),
    ("ARMY", "Army", AgencyKind.MILITARY),
    ("INT", "Intelligence", AgencyKind.INTELLIGENCE),
    ("JOC", "Joint Operations Centre", AgencyKind.OTHER),
)

_CLEARANCE = {
    Role.OPERATOR: "RESTRICTED",
    Role.ANALYST: "CONFIDENTIAL",
    Role.COMMANDER: "SECRET",
    Role.LIAISON: "CONFIDENTIAL",
    Role.AUDITOR: "SECRET",
    Role.ADMIN: "RESTRICTED",
}

_CATEGORIES: dict[Role, tuple[str, ...]] = {
    Role.OPERATOR: (),
    Role.ANALYST: ("PII", "LAW-ENFORCEMENT-SENSITIVE"),
    Role.COMMANDER: ("PII", "LAW-ENFORCEMENT-SENSITIVE"),
    Role.LIAISON: ("PII",),
    Role.AUDITOR: (),
    Role.ADMIN: (),
}


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    password: str
    agency: str
    role: Role


def demo_password(username: str) -> str:
    """The printed demo password of a demo user (the demo refuses to run outside CONCORD_ENV=dev)."""
    return f"{username}-demo"


def ensure_demo_world(accounts: AccountService) -> list[DemoLogin]:
    """Create whatever part of the demo world is missing; running it twice changes nothing."""
    existing = {a.code for a in accounts.list_agencies()}
    logins: list[DemoLogin] = []
    for code, name, kind in DEMO_AGENCIES:
        if code not in existing:
            accounts.create_agency(code, name, kind)
        for role in Role:
            username = f"{code.lower()}.{role.value}"
            categories = set(_CATEGORIES[role])
            if code == "IMM" and role in (Role.ANALYST, Role.COMMANDER):
                categories.add("BIOMETRIC")
            if code == "INT" and role in (Role.ANALYST, Role.COMMANDER):
                categories.add("INTEL-SOURCE")
            try:
                accounts.get_user_by_username(username)
            except NotFound:
                accounts.create_user(
                    username,
                    code,
                    [role],
                    _CLEARANCE[role],
                    password=demo_password(username),
                    categories=sorted(categories),
                )
            logins.append(DemoLogin(username, demo_password(username), code, role))
    return logins


def ensure_demo_agreements(sharing: SharingService, at: datetime) -> None:
    """The demo's sharing agreements (signed once): every agency shares with the joint operations
    centre; coast guard and customs share law-enforcement-sensitive records both ways; border police and
    immigration share personal data; border police and coast guard share their pictures both ways."""
    existing = {a.agreement_id for a in sharing.agreements()}
    since = at - timedelta(days=1)
    plan: list[tuple[str, str, frozenset[str], frozenset[str]]] = [
        (code, "JOC", frozenset({"LAW-ENFORCEMENT-SENSITIVE", "PII"}), frozenset({"person_name"}))
        for code, _, _ in DEMO_AGENCIES
        if code != "JOC"
    ]
    plan += [
        ("CG", "CUS", frozenset({"LAW-ENFORCEMENT-SENSITIVE"}), frozenset()),
        ("CUS", "CG", frozenset({"LAW-ENFORCEMENT-SENSITIVE"}), frozenset()),
        ("BP", "IMM", frozenset({"PII"}), frozenset({"person_name", "document_number"})),
        ("BP", "CG", frozenset(), frozenset()),
        ("CG", "BP", frozenset(), frozenset()),
    ]
    for owner, partner, categories, fields in plan:
        agreement_id = f"demo-{owner.lower()}-{partner.lower()}"
        if agreement_id in existing:
            continue
        sharing.sign(
            Agreement(
                agreement_id=agreement_id,
                owner=owner,
                partner=partner,
                valid_from=since,
                categories=categories,
                fields=fields,
            ),
            actor="demo",
        )
