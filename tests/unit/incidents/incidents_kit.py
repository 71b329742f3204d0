"""Builders shared by the incident tests: alerts, users, areas, a journal that round-trips events."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shapely.geometry import box

from concord.domain.coordination import CoordinationState
from concord.domain.identity import Role, User
from concord.domain.incident import AlertRouting, Incident, IncidentEvent, fold_routing
from concord.domain.incident_codec import CoordinationEvent, event_from_dict
from concord.domain.marking import Marking, Tlp
from concord.incidents.routing import Area

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AGENCIES = ("CG", "BP", "CUS", "JOC")
ROLES = ("operator", "commander", "analyst")
DIRECTORY: frozenset[tuple[str, str]] = frozenset((a, r) for a in AGENCIES for r in ROLES)

# The coast runs along longitude 10: land to the west, sea to the east. The port straddles it.
CG_SEA = Area(
    zone_id="aor-cg-sea", kind="aor", agency="CG", setting="sea", geometry=box(10.0, 40.0, 12.0, 42.0)
)
BP_LAND = Area(
    zone_id="aor-bp-land", kind="aor", agency="BP", setting="land", geometry=box(8.0, 40.0, 10.0, 42.0)
)
CUS_PORT = Area(
    zone_id="aor-cus-port", kind="aor", agency="CUS", setting="port", geometry=box(9.9, 40.9, 10.2, 41.1)
)
AREAS = (CG_SEA, BP_LAND, CUS_PORT)
AT_SEA = (41.5, 11.0)  # lat, lon
IN_PORT_WATERS = (41.0, 10.1)
ON_LAND = (41.5, 9.0)
NOWHERE = (20.0, 20.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeAlert:
    """Has exactly the attributes of the AlertLike protocol."""

    id: str
    kind: str
    impact: str = "high"
    zone_ids: tuple[str, ...] = ()
    lat: float = AT_SEA[0]
    lon: float = AT_SEA[1]
    marking: Marking = Marking(classification="RESTRICTED", originator="CG", rel_to=frozenset({"CUS", "BP"}))
    exercise: bool = False
    raised_at: datetime = START


def alert(
    alert_id: str = "a1", kind: str = "rendezvous", where: tuple[float, float] = AT_SEA, **kw: object
) -> FakeAlert:
    return FakeAlert(id=alert_id, kind=kind, lat=where[0], lon=where[1], **kw)  # type: ignore[arg-type]


def user(agency: str, *roles: str, name: str | None = None, active: bool = True) -> User:
    username = name or f"{agency.lower()}-{'-'.join(roles) or 'nobody'}"
    return User(
        id=f"u-{username}",
        username=username,
        agency=agency,
        roles=frozenset(Role(r) for r in roles),
        clearance="RESTRICTED",
        active=active,
    )


def allow_all(owner: str, partner: str, alert: object) -> bool:
    return True


def counter(prefix: str = "id") -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"{prefix}-{next(numbers)}"


def secret_marking(originator: str) -> Marking:
    return Marking(
        classification="SECRET",
        originator=originator,
        rel_to=frozenset({"CG"}),
        tlp=Tlp.RED,
        categories=frozenset({"INTEL-SOURCE"}),
    )


class Journal:
    """An append-only list of events; every event goes through to_dict/JSON/from_dict on the way in."""

    def __init__(self) -> None:
        self.events: list[CoordinationEvent] = []

    def append(self, events: Iterable[CoordinationEvent]) -> list[Any]:
        """Store events; returns the stored copies (typed loosely so tests read each event's own fields)."""
        originals = list(events)
        stored = [event_from_dict(json.loads(json.dumps(e.to_dict()))) for e in originals]
        for original, copy in zip(originals, stored, strict=True):
            assert copy == original, (copy, original)
        self.events.extend(stored)
        return stored

    def incident(self, incident_id: str) -> Incident:
        mine: Sequence[IncidentEvent] = [
            e for e in self.events if isinstance(e, IncidentEvent) and e.incident_id == incident_id
        ]
        return Incident.from_events(mine)

    def state(self) -> CoordinationState:
        return CoordinationState.from_events(self.events)

    def routing(self, alert_id: str) -> AlertRouting:
        return fold_routing(self.events)[alert_id]

    def of_type(self, cls: type[CoordinationEvent]) -> list[CoordinationEvent]:
        return [e for e in self.events if isinstance(e, cls)]
