"""The contracts of the incidents package: what it needs from an alert, a directory and the release gate.

The incidents package does not depend on how alerts are produced: anything with the attributes of
:class:`AlertLike` can be routed and linked (``concord.domain.alert.Alert`` has them). Permissions are
checked against :class:`concord.domain.identity.User` values passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Protocol

from concord.domain.errors import InvalidInput, NotAuthorized
from concord.domain.identity import Role, User
from concord.domain.incident import JOC, Severity
from concord.domain.marking import Marking

__all__ = [
    "SYSTEM_ACTOR",
    "AlertLike",
    "Directory",
    "MayNotify",
    "Reachability",
    "impact_rank",
    "reaches",
    "require_role",
]

SYSTEM_ACTOR = "system:sla"
"""The actor recorded on events the clock causes (escalations)."""


class AlertLike(Protocol):
    """What routing, playbooks and incidents read from an alert."""

    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def impact(self) -> str: ...

    @property
    def zone_ids(self) -> Collection[str]: ...

    @property
    def lat(self) -> float: ...

    @property
    def lon(self) -> float: ...

    @property
    def marking(self) -> Marking: ...

    @property
    def exercise(self) -> bool: ...

    @property
    def raised_at(self) -> datetime: ...


MayNotify = Callable[[str, str, AlertLike], bool]
"""``may_notify(owner_agency, partner_agency, alert)``: the release gate's word on telling a partner."""

Directory = Callable[[str, str], int]
"""``directory(agency, role)``: how many active users hold ``role`` in ``agency``."""

Reachability = Directory | Collection[tuple[str, str]]
"""A directory, or the set of (agency, role) pairs that someone holds."""


def reaches(reachability: Reachability, agency: str, role: str) -> bool:
    """True when at least one user holds ``role`` in ``agency``."""
    if callable(reachability):
        return reachability(agency, role) > 0
    return (agency, role) in reachability


def impact_rank(level: object) -> int:
    """Rank of an EUROSUR impact level (``low`` 0 .. ``very-high`` 3), whatever enum carries it."""
    try:
        return Severity.parse(level).rank
    except ValueError as exc:
        raise InvalidInput(f"unknown impact level {level!r}", details={"field": "impact"}) from exc


def require_role(
    user: User,
    roles: Iterable[Role],
    *,
    agencies: Collection[str] | None = None,
    action: str,
) -> None:
    """Refuse unless ``user`` is active, holds one of ``roles`` and (if given) belongs to ``agencies``.

    The joint operations centre's users count as members of every agency for coordination purposes.
    """
    wanted = frozenset(roles)
    if not user.active:
        raise NotAuthorized(f"{action}: user {user.username} is not active", details={"user": user.id})
    if not (user.roles & wanted):
        raise NotAuthorized(
            f"{action}: needs role {' or '.join(sorted(wanted))}",
            details={"user": user.id, "roles": sorted(wanted)},
        )
    if agencies is not None and user.agency not in agencies and user.agency != JOC:
        raise NotAuthorized(
            f"{action}: only {', '.join(sorted(agencies))} may do this",
            details={"user": user.id, "agency": user.agency},
        )
