"""Agencies, users, roles and the viewer profile the release gate decides on."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Agency", "AgencyKind", "Role", "User", "Viewer"]


class AgencyKind(StrEnum):
    BORDER_POLICE = "border-police"
    CUSTOMS = "customs"
    IMMIGRATION = "immigration"
    COAST_GUARD = "coast-guard"
    MILITARY = "military"
    INTELLIGENCE = "intelligence"
    OTHER = "other"


class Role(StrEnum):
    OPERATOR = "operator"
    ANALYST = "analyst"
    COMMANDER = "commander"
    LIAISON = "liaison"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Agency:
    code: str
    name: str
    kind: AgencyKind


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    agency: str
    roles: frozenset[Role]
    clearance: str
    categories: frozenset[str] = field(default_factory=frozenset)
    active: bool = True

    def viewer(self) -> Viewer:
        return Viewer(
            user_id=self.id,
            agency=self.agency,
            roles=self.roles,
            clearance=self.clearance,
            categories=self.categories,
        )


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking: what the release gate decides on (hashable, so decisions can be cached)."""

    user_id: str
    agency: str
    roles: frozenset[Role]
    clearance: str
    categories: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))
