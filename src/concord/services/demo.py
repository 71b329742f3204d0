"""The demo world: six agencies and the joint operations centre, one user per role per agency."""

from __future__ import annotations

from dataclasses import dataclass

from concord.domain.errors import NotFound
from concord.domain.identity import AgencyKind, Role
from concord.services.accounts import AccountService

__all__ = ["DEMO_AGENCIES", "DemoLogin", "ensure_demo_world"]

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
