"""Routing of alerts to the responsible agency, jurisdiction conflicts and their resolution."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from incidents_kit import (
    AREAS,
    AT_SEA,
    IN_PORT_WATERS,
    NOWHERE,
    ON_LAND,
    Journal,
    alert,
    allow_all,
    user,
)
from shapely.geometry import box

from concord.adapters.clock import ManualClock
from concord.domain.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from concord.domain.incident import JOC, AlertRouted, ConflictResolved, JurisdictionConflictRaised
from concord.domain.zone import Zone, ZoneKind
from concord.incidents.base import AlertLike, MayNotify
from concord.incidents.commands import ResolveConflict
from concord.incidents.routing import Area, PrecedenceRule, Router, RoutingPolicy


def router(
    clock: ManualClock,
    policy: RoutingPolicy | None = None,
    may_notify: MayNotify = allow_all,
    areas: Sequence[Area] = AREAS,
) -> Router:
    return Router(areas, clock=clock, may_notify=may_notify, policy=policy)


def test_maritime_aor_routes_dark_vessel_to_coast_guard(clock: ManualClock, journal: Journal) -> None:
    events = journal.append(router(clock).route(alert(kind="ais-dark", where=AT_SEA)))
    assert [type(e) for e in events] == [AlertRouted]
    routing = journal.routing("a1")
    assert routing.owner == "CG"
    assert routing.open_conflicts == []
    assert events[0].at == clock.now()


def test_crossing_on_land_goes_to_border_police(clock: ManualClock, journal: Journal) -> None:
    journal.append(router(clock).route(alert(kind="border-crossing", where=ON_LAND)))
    assert journal.routing("a1").owner == "BP"


def test_overlap_coast_guard_and_customs_raises_a_conflict_naming_both(
    clock: ManualClock, journal: Journal
) -> None:
    events = journal.append(router(clock).route(alert(kind="rendezvous", where=IN_PORT_WATERS)))
    raised = [e for e in events if isinstance(e, JurisdictionConflictRaised)]
    assert len(raised) == 1
    assert set(raised[0].agencies) == {"CG", "CUS"}
    routing = journal.routing("a1")
    # Never unowned while the conflict is open: the first contender holds it provisionally.
    assert routing.owner == raised[0].provisional_owner == "CG"
    assert [c.id for c in routing.open_conflicts] == [raised[0].conflict_id]


def test_configured_precedence_settles_the_conflict_at_once(clock: ManualClock, journal: Journal) -> None:
    policy = RoutingPolicy(precedence=(PrecedenceRule(order=("CUS", "CG")),))
    events = journal.append(router(clock, policy).route(alert(kind="rendezvous", where=IN_PORT_WATERS)))
    assert [type(e) for e in events] == [AlertRouted, JurisdictionConflictRaised, ConflictResolved]
    resolved = events[2]
    assert isinstance(resolved, ConflictResolved)
    assert resolved.by_precedence and resolved.decision == "CUS"
    routing = journal.routing("a1")
    assert routing.owner == "CUS"
    assert routing.open_conflicts == []


def test_precedence_rule_limited_to_other_kinds_does_not_apply(clock: ManualClock, journal: Journal) -> None:
    policy = RoutingPolicy(
        precedence=(PrecedenceRule(order=("CUS", "CG"), alert_kinds=frozenset({"loitering"})),)
    )
    journal.append(router(clock, policy).route(alert(kind="rendezvous", where=IN_PORT_WATERS)))
    assert len(journal.routing("a1").open_conflicts) == 1


def test_commander_resolves_conflict_with_reason(clock: ManualClock, journal: Journal) -> None:
    r = router(clock)
    a = alert(kind="rendezvous", where=IN_PORT_WATERS)
    journal.append(r.route(a))
    routing = journal.routing("a1")
    conflict = routing.open_conflicts[0]
    clock.advance(60)
    commander = user("JOC", "commander", name="duty-commander")
    events = journal.append(
        r.resolve(
            routing,
            ResolveConflict(
                alert_id="a1", conflict_id=conflict.id, decision="CUS", reason="cargo inspection"
            ),
            commander,
            a,
        )
    )
    resolved = events[0]
    assert isinstance(resolved, ConflictResolved)
    assert (resolved.user, resolved.decision, resolved.reason) == (
        "duty-commander",
        "CUS",
        "cargo inspection",
    )
    assert not resolved.by_precedence
    after = journal.routing("a1")
    assert after.owner == "CUS"
    assert after.open_conflicts == []
    assert "CG" in after.notified  # the former provisional owner is told who leads now
    assert after.conflicts[conflict.id].resolved_by == "duty-commander"


@pytest.mark.parametrize("roles", [("operator",), ("analyst",), ("liaison",), ()])
def test_non_commander_may_not_resolve(clock: ManualClock, journal: Journal, roles: tuple[str, ...]) -> None:
    r = router(clock)
    a = alert(kind="rendezvous", where=IN_PORT_WATERS)
    journal.append(r.route(a))
    routing = journal.routing("a1")
    cmd = ResolveConflict(alert_id="a1", conflict_id=routing.open_conflicts[0].id, decision="CUS", reason="x")
    with pytest.raises(NotAuthorized):
        r.resolve(routing, cmd, user("CG", *roles), a)


def test_commander_of_an_uninvolved_agency_may_not_resolve(clock: ManualClock, journal: Journal) -> None:
    r = router(clock)
    a = alert(kind="rendezvous", where=IN_PORT_WATERS)
    journal.append(r.route(a))
    routing = journal.routing("a1")
    cmd = ResolveConflict(alert_id="a1", conflict_id=routing.open_conflicts[0].id, decision="CUS", reason="x")
    with pytest.raises(NotAuthorized):
        r.resolve(routing, cmd, user("BP", "commander"), a)


def test_resolution_is_checked(clock: ManualClock, journal: Journal) -> None:
    r = router(clock)
    a = alert(kind="rendezvous", where=IN_PORT_WATERS)
    journal.append(r.route(a))
    routing = journal.routing("a1")
    cid = routing.open_conflicts[0].id
    boss = user("CG", "commander")
    with pytest.raises(InvalidInput):
        r.resolve(
            routing, ResolveConflict(alert_id="a1", conflict_id=cid, decision="BP", reason="x"), boss, a
        )
    with pytest.raises(InvalidInput):
        r.resolve(
            routing, ResolveConflict(alert_id="a1", conflict_id=cid, decision="CG", reason="  "), boss, a
        )
    with pytest.raises(NotFound):
        r.resolve(
            routing, ResolveConflict(alert_id="a1", conflict_id="nope", decision="CG", reason="x"), boss, a
        )
    journal.append(
        r.resolve(
            routing, ResolveConflict(alert_id="a1", conflict_id=cid, decision="CG", reason="x"), boss, a
        )
    )
    with pytest.raises(Conflict):
        r.resolve(
            journal.routing("a1"),
            ResolveConflict(alert_id="a1", conflict_id=cid, decision="CUS", reason="y"),
            boss,
            a,
        )


def test_unowned_alert_goes_to_the_joint_operations_centre(clock: ManualClock, journal: Journal) -> None:
    journal.append(router(clock).route(alert(kind="loitering", where=NOWHERE)))
    routing = journal.routing("a1")
    assert routing.owner == JOC
    assert routing.candidates == ()


def test_no_alert_is_ever_unowned_without_areas(clock: ManualClock, journal: Journal) -> None:
    journal.append(router(clock, areas=()).route(alert(kind="rendezvous", where=AT_SEA)))
    # No AOR drawn, but the kind preference (rendezvous at sea -> CG) needs a setting: none known.
    assert journal.routing("a1").owner == JOC


def test_setting_alone_routes_by_kind_preference(clock: ManualClock, journal: Journal) -> None:
    sea = Area(zone_id="ts", kind="territorial-sea", setting="sea", geometry=box(10, 40, 12, 42))
    journal.append(router(clock, areas=(sea,)).route(alert(kind="rendezvous", where=AT_SEA)))
    routing = journal.routing("a1")
    assert routing.owner == "CG"
    assert routing.reason == "rendezvous in sea belongs to CG"


def test_precomputed_zone_ids_route_without_geometry(clock: ManualClock, journal: Journal) -> None:
    areas = (Area(zone_id="cg-1", kind="aor", agency="CG", setting="sea"),)
    journal.append(
        router(clock, areas=areas).route(alert(kind="ais-dark", where=NOWHERE, zone_ids=("cg-1",)))
    )
    assert journal.routing("a1").owner == "CG"


def test_partners_are_notified_only_when_the_gate_allows(clock: ManualClock, journal: Journal) -> None:
    calls = []

    def may_notify(owner: str, partner: str, a: AlertLike) -> bool:
        calls.append((owner, partner, a.id))
        return partner != "CUS"

    policy = RoutingPolicy(precedence=(PrecedenceRule(order=("CG", "CUS")),), always_notify=("JOC",))
    journal.append(router(clock, policy, may_notify).route(alert(kind="rendezvous", where=IN_PORT_WATERS)))
    routing = journal.routing("a1")
    assert routing.owner == "CG"
    assert routing.notified == ("JOC",)
    assert ("CG", "CUS", "a1") in calls


def test_context_zone_gives_the_setting(clock: ManualClock, journal: Journal) -> None:
    sea = Zone(id="ts", name="Territorial sea", kind=ZoneKind.TERRITORIAL_SEA, geometry=box(10, 40, 12, 42))
    aor = Zone(id="cg", name="CG AOR", kind=ZoneKind.AOR, geometry=box(10, 40, 12, 42), agency="CG")
    bp = Zone(id="bp", name="BP AOR", kind=ZoneKind.AOR, geometry=box(9, 40, 12, 42), agency="BP")
    areas = [Area.from_zone(sea), Area.from_zone(aor), Area.from_zone(bp)]
    assert areas[0].setting == "sea" and areas[1].setting is None
    journal.append(router(clock, areas=areas).route(alert(kind="ais-dark", where=AT_SEA)))
    # Both AORs cover the point; the preference (ais-dark at sea) narrows it to the coast guard.
    routing = journal.routing("a1")
    assert routing.owner == "CG"
    assert routing.open_conflicts == []
    assert routing.notified == ("BP",)


def test_duplicate_area_ids_refused(clock: ManualClock) -> None:
    with pytest.raises(InvalidInput):
        Router([AREAS[0], AREAS[0]], clock=clock, may_notify=allow_all)


def test_hostile_alert_position_does_not_route_anywhere_odd(clock: ManualClock, journal: Journal) -> None:
    for i, where in enumerate([(float("nan"), 11.0), (41.0, float("inf")), (1e308, -1e308)]):
        journal.append(router(clock).route(alert(alert_id=f"h{i}", kind="ais-dark", where=where)))
        assert journal.routing(f"h{i}").owner == JOC
