"""Routing and jurisdiction: which agency owns an alert, who else is told, and overlapping claims.

An alert falls in *areas*: agencies' areas of responsibility (AORs, with an agency) and context zones
(territorial sea, port, crossing point: a *setting*, no agency). The owner is chosen in four steps:

1. the agencies whose AORs contain the alert (by geometry, or by the alert's precomputed zone ids);
2. kind preferences narrow them: ``ais-dark`` or ``rendezvous`` at sea goes to the coast guard, a
   crossing on land to the border police, anything at a port or crossing point to customs;
3. if more than one agency remains, a :class:`JurisdictionConflictRaised` names them all; a configured
   precedence settles it at once (:class:`ConflictResolved` with ``by_precedence``), otherwise the
   first remains provisional owner until a commander decides;
4. with no agency at all, the joint operations centre (``JOC``) owns the alert: none is left unowned.

Every other agency concerned is notified when ``may_notify(owner, partner, alert)`` (the release gate
applied to the sharing agreements) allows it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep

from concord.domain.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from concord.domain.identity import Role, User
from concord.domain.incident import (
    JOC,
    AlertRouted,
    AlertRouting,
    ConflictResolved,
    JurisdictionConflictRaised,
    RoutingEvent,
)
from concord.domain.ports import Clock
from concord.domain.zone import Zone, ZoneKind
from concord.incidents.base import AlertLike, MayNotify
from concord.incidents.commands import ResolveConflict

__all__ = [
    "DEFAULT_PREFERENCES",
    "DEFAULT_SETTINGS",
    "Area",
    "KindPreference",
    "PrecedenceRule",
    "Router",
    "RoutingPolicy",
]

DEFAULT_SETTINGS: dict[str, str] = {
    ZoneKind.TERRITORIAL_SEA.value: "sea",
    ZoneKind.CONTIGUOUS_ZONE.value: "sea",
    ZoneKind.PORT.value: "port",
    ZoneKind.CROSSING_POINT.value: "crossing-point",
    ZoneKind.BORDER_SECTION.value: "land",
}
"""The setting a context zone of each kind puts an alert in."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Area:
    """A zone that matters to routing. ``agency`` is set for an AOR; ``setting`` names the ground."""

    zone_id: str
    kind: str
    agency: str | None = None
    setting: str | None = None
    geometry: BaseGeometry | None = None

    @classmethod
    def from_zone(cls, zone: Zone, *, setting: str | None = None) -> Area:
        """An area from a zone; an AOR's setting (``sea``, ``land``, ``port``) must be said explicitly."""
        return cls(
            zone_id=zone.id,
            kind=zone.kind.value,
            agency=zone.agency,
            setting=setting if setting is not None else DEFAULT_SETTINGS.get(zone.kind.value),
            geometry=zone.geometry,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class KindPreference:
    """Alerts of ``alert_kinds`` (``*`` for any) in one of ``settings`` belong to ``agency``."""

    alert_kinds: frozenset[str]
    settings: frozenset[str]
    agency: str

    def matches(self, alert_kind: str, settings: Collection[str]) -> bool:
        kind_ok = "*" in self.alert_kinds or alert_kind in self.alert_kinds
        return kind_ok and any(s in self.settings for s in settings)


@dataclass(frozen=True, slots=True, kw_only=True)
class PrecedenceRule:
    """When the agencies in ``order`` conflict over an alert of ``alert_kinds``, the first present wins."""

    order: tuple[str, ...]
    alert_kinds: frozenset[str] = frozenset({"*"})

    def winner(self, alert_kind: str, agencies: Collection[str]) -> str | None:
        if "*" not in self.alert_kinds and alert_kind not in self.alert_kinds:
            return None
        for agency in self.order:
            if agency in agencies:
                return agency
        return None


DEFAULT_PREFERENCES: tuple[KindPreference, ...] = (
    KindPreference(
        alert_kinds=frozenset({"ais-dark", "rendezvous"}), settings=frozenset({"sea"}), agency="CG"
    ),
    KindPreference(
        alert_kinds=frozenset({"border-crossing", "unidentified-near-border"}),
        settings=frozenset({"land"}),
        agency="BP",
    ),
    KindPreference(
        alert_kinds=frozenset({"*"}), settings=frozenset({"port", "crossing-point"}), agency="CUS"
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingPolicy:
    """Configuration of routing: kind preferences, precedence rules, and who is always told."""

    preferences: tuple[KindPreference, ...] = DEFAULT_PREFERENCES
    precedence: tuple[PrecedenceRule, ...] = ()
    always_notify: tuple[str, ...] = field(default_factory=tuple)


class Router:
    """Routes alerts and resolves jurisdiction conflicts; returns events, changes nothing itself."""

    def __init__(
        self,
        areas: Iterable[Area],
        *,
        clock: Clock,
        may_notify: MayNotify,
        policy: RoutingPolicy | None = None,
        actor: str = "system:router",
    ) -> None:
        self._areas = tuple(areas)
        ids = [a.zone_id for a in self._areas]
        if len(set(ids)) != len(ids):
            raise InvalidInput("routing areas must have unique zone ids", details={"field": "zone_id"})
        self._prepared: dict[str, PreparedGeometry] = {
            a.zone_id: prep(a.geometry) for a in self._areas if a.geometry is not None
        }
        self._clock = clock
        self._may_notify = may_notify
        self._policy = policy or RoutingPolicy()
        self._actor = actor

    def areas_containing(self, alert: AlertLike) -> list[Area]:
        """The areas the alert falls in: named in its zone ids, or containing its position."""
        named = set(alert.zone_ids)
        point: Point | None = None
        found: list[Area] = []
        for area in self._areas:
            if area.zone_id in named:
                found.append(area)
                continue
            prepared = self._prepared.get(area.zone_id)
            if prepared is None:
                continue
            if point is None:
                point = Point(alert.lon, alert.lat)
            if prepared.covers(point):
                found.append(area)
        return found

    def route(self, alert: AlertLike, existing: AlertRouting | None = None) -> list[RoutingEvent]:
        """Decide the owner of ``alert``: AlertRouted, then any conflict raised (and settled)."""
        now = self._clock.now()
        kind = str(getattr(alert.kind, "value", alert.kind))
        areas = self.areas_containing(alert)
        aor_agencies = _unique(a.agency for a in areas if a.agency)
        settings = {a.setting for a in areas if a.setting}
        preferred = _unique(p.agency for p in self._policy.preferences if p.matches(kind, settings))

        contenders: list[str]
        if not aor_agencies:
            contenders = preferred
        else:
            narrowed = [a for a in preferred if a in aor_agencies]
            contenders = narrowed or aor_agencies

        events: list[RoutingEvent] = []
        winner: str | None = None
        if not contenders:
            owner, reason = JOC, "no agency's area of responsibility covers the alert"
        elif len(contenders) == 1:
            owner = contenders[0]
            parts = []
            if owner in aor_agencies:
                parts.append(f"in the area of responsibility of {owner}")
            if owner in preferred:
                parts.append(f"{kind} in {', '.join(sorted(settings))} belongs to {owner}")
            reason = "; ".join(parts)
        else:
            winner = self._precedence(kind, contenders)
            owner = winner or contenders[0]
            reason = f"jurisdictions overlap ({', '.join(contenders)})"

        concerned = _unique([*aor_agencies, *preferred, *self._policy.always_notify])
        notified = tuple(a for a in concerned if a != owner and self._may_notify(owner, a, alert))
        events.append(
            AlertRouted(
                at=now,
                actor=self._actor,
                alert_id=alert.id,
                owner=owner,
                candidates=tuple(contenders),
                notified=notified,
                reason=reason,
                exercise=alert.exercise,
            )
        )
        if len(contenders) > 1:
            number = len(existing.conflicts) + 1 if existing is not None else 1
            conflict_id = f"{alert.id}:conflict-{number}"
            events.append(
                JurisdictionConflictRaised(
                    at=now,
                    actor=self._actor,
                    alert_id=alert.id,
                    conflict_id=conflict_id,
                    agencies=tuple(contenders),
                    provisional_owner=owner,
                )
            )
            if winner is not None:
                events.append(
                    ConflictResolved(
                        at=now,
                        actor=self._actor,
                        alert_id=alert.id,
                        conflict_id=conflict_id,
                        decision=winner,
                        user=self._actor,
                        reason=f"configured precedence: {winner} before "
                        + ", ".join(a for a in contenders if a != winner),
                        by_precedence=True,
                    )
                )
        return events

    def resolve(
        self, routing: AlertRouting, command: ResolveConflict, user: User, alert: AlertLike
    ) -> list[RoutingEvent]:
        """A commander decides who leads; returns ConflictResolved and the re-routing it implies."""
        conflict = routing.conflicts.get(command.conflict_id)
        if conflict is None or routing.alert_id != command.alert_id or alert.id != routing.alert_id:
            raise NotFound(
                f"no conflict {command.conflict_id!r} on alert {command.alert_id!r}",
                details={"conflict_id": command.conflict_id},
            )
        if Role.COMMANDER not in user.roles or not user.active:
            raise NotAuthorized(
                "only a commander may resolve a jurisdiction conflict",
                details={"user": user.id, "conflict_id": conflict.id},
            )
        if user.agency not in conflict.agencies and user.agency != JOC:
            raise NotAuthorized(
                f"only a commander of {', '.join(conflict.agencies)} or {JOC} may resolve this conflict",
                details={"user": user.id, "agency": user.agency},
            )
        if conflict.resolved:
            raise Conflict(
                f"conflict {conflict.id} was already resolved in favour of {conflict.decision}",
                details={"conflict_id": conflict.id},
            )
        if command.decision not in conflict.agencies and command.decision != JOC:
            raise InvalidInput(
                f"decision must be one of {', '.join(conflict.agencies)} or {JOC}",
                details={"field": "decision"},
            )
        reason = command.reason.strip()
        if not reason:
            raise InvalidInput("a lead decision needs a reason", details={"field": "reason"})
        now = self._clock.now()
        concerned = _unique([*routing.candidates, routing.owner, *routing.notified])
        notified = tuple(
            a for a in concerned if a != command.decision and self._may_notify(command.decision, a, alert)
        )
        return [
            ConflictResolved(
                at=now,
                actor=user.id,
                alert_id=routing.alert_id,
                conflict_id=conflict.id,
                decision=command.decision,
                user=user.username,
                reason=reason,
            ),
            AlertRouted(
                at=now,
                actor=user.id,
                alert_id=routing.alert_id,
                owner=command.decision,
                candidates=routing.candidates,
                notified=notified,
                reason=f"lead decided by {user.username}: {reason}",
                exercise=routing.exercise,
            ),
        ]

    def _precedence(self, kind: str, contenders: Sequence[str]) -> str | None:
        for rule in self._policy.precedence:
            winner = rule.winner(kind, contenders)
            if winner is not None:
                return winner
        return None


def _unique(items: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return list(seen)
