"""Units and resources: registration, status, positions, task assignment, mutual aid, disparity."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from incidents_kit import START, Journal, counter, user

from concord.adapters.clock import ManualClock
from concord.domain.coordination import (
    AidStatus,
    MutualAidApproved,
    MutualAidDeclined,
    MutualAidHandedOver,
    MutualAidReleased,
    MutualAidRequested,
    UnitStatus,
    UnitType,
)
from concord.domain.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from concord.domain.incident import TaskAssigned
from concord.domain.marking import Marking
from concord.domain.track import Track, TrackStatus
from concord.incidents.commands import (
    AddTask,
    ApproveMutualAid,
    AssignUnitToTask,
    ChangeUnitStatus,
    DeclineMutualAid,
    HandOverUnit,
    OpenIncident,
    RegisterUnit,
    ReleaseMutualAid,
    ReleaseUnitFromTask,
    RequestMutualAid,
)
from concord.incidents.resources import ResourceService, positions_from_tracks, resource_disparity
from concord.incidents.service import IncidentService

CG_BOSS = user("CG", "commander")
CG_OPS = user("CG", "operator")
BP_BOSS = user("BP", "commander")
BP_OPS = user("BP", "operator")


def fleet(clock: ManualClock, journal: Journal) -> ResourceService:
    svc = ResourceService(clock=clock, new_id=counter("req"))
    for unit_id, agency, kind, who in [
        ("cg-boat-1", "CG", UnitType.BOAT, CG_BOSS),
        ("cg-boat-2", "CG", UnitType.BOAT, CG_BOSS),
        ("cg-heli", "CG", UnitType.AIRCRAFT, CG_BOSS),
        ("bp-patrol-1", "BP", UnitType.PATROL, BP_BOSS),
    ]:
        journal.append(
            svc.register(
                journal.state(),
                RegisterUnit(
                    unit_id=unit_id,
                    agency=agency,
                    unit_type=kind,
                    callsign=unit_id.upper(),
                    identity=f"tak:{unit_id}",
                ),
                who,
            )
        )
    return svc


def track(
    identity: str,
    at: datetime,
    lat: float = 41.0,
    lon: float = 11.0,
    status: TrackStatus = TrackStatus.CONFIRMED,
) -> Track:
    return Track(
        id=f"trk-{identity}",
        updated_at=at,
        lat=lat,
        lon=lon,
        vel_east_mps=0.0,
        vel_north_mps=0.0,
        position_sigma_m=10.0,
        status=status,
        marking=Marking.default_for("CG"),
        identity=identity,
    )


def test_register_and_permissions(clock: ManualClock, journal: Journal) -> None:
    svc = fleet(clock, journal)
    state = journal.state()
    assert state.units["cg-boat-1"].holder == "CG"
    assert state.units["cg-boat-1"].status is UnitStatus.AVAILABLE
    with pytest.raises(NotAuthorized):
        svc.register(state, RegisterUnit(agency="CG", unit_type=UnitType.DRONE, callsign="D1"), BP_BOSS)
    with pytest.raises(Conflict):
        svc.register(
            state,
            RegisterUnit(unit_id="cg-boat-1", agency="CG", unit_type=UnitType.BOAT, callsign="X"),
            CG_BOSS,
        )
    with pytest.raises(Conflict):
        svc.register(
            state,
            RegisterUnit(agency="CG", unit_type=UnitType.BOAT, callsign="X", identity="tak:cg-boat-1"),
            CG_BOSS,
        )
    for callsign in ["", "x" * 65, "bad\x07"]:
        with pytest.raises(InvalidInput):
            svc.register(
                state, RegisterUnit(agency="CG", unit_type=UnitType.BOAT, callsign=callsign), CG_BOSS
            )
    with pytest.raises(InvalidInput):
        svc.register(state, RegisterUnit(agency="CG", unit_type="submarine", callsign="S"), CG_BOSS)  # type: ignore[arg-type]


def test_status_changes(clock: ManualClock, journal: Journal) -> None:
    svc = fleet(clock, journal)
    state = journal.state()
    journal.append(
        svc.change_status(
            state,
            ChangeUnitStatus(unit_id="cg-heli", status=UnitStatus.OUT_OF_SERVICE, reason="rotor"),
            CG_OPS,
        )
    )
    assert journal.state().units["cg-heli"].status is UnitStatus.OUT_OF_SERVICE
    with pytest.raises(Conflict):
        svc.change_status(
            journal.state(), ChangeUnitStatus(unit_id="cg-heli", status=UnitStatus.OUT_OF_SERVICE), CG_OPS
        )
    with pytest.raises(InvalidInput):
        svc.change_status(
            journal.state(), ChangeUnitStatus(unit_id="cg-heli", status=UnitStatus.ASSIGNED), CG_OPS
        )
    with pytest.raises(NotAuthorized):
        svc.change_status(
            journal.state(), ChangeUnitStatus(unit_id="cg-heli", status=UnitStatus.AVAILABLE), BP_OPS
        )
    with pytest.raises(NotFound):
        svc.change_status(
            journal.state(), ChangeUnitStatus(unit_id="nope", status=UnitStatus.AVAILABLE), CG_OPS
        )


def test_positions_follow_tracks_by_identity(clock: ManualClock, journal: Journal) -> None:
    fleet(clock, journal)
    t1 = START + timedelta(seconds=10)
    updates = positions_from_tracks(
        journal.state(),
        [
            track("tak:cg-boat-1", t1, 41.2, 11.3),
            track("tak:cg-boat-1", t1 - timedelta(seconds=5), 0.0, 0.0),  # older: ignored
            track("mmsi:999", t1),  # not a unit
            track("tak:bp-patrol-1", t1, status=TrackStatus.DELETED),
        ],
    )
    assert [(u.unit_id, u.lat, u.lon) for u in updates] == [("cg-boat-1", 41.2, 11.3)]
    journal.append(updates)
    unit = journal.state().units["cg-boat-1"]
    assert (unit.lat, unit.lon, unit.position_at) == (41.2, 11.3, t1)
    assert positions_from_tracks(journal.state(), [track("tak:cg-boat-1", t1)]) == []


def incident_with_task(clock: ManualClock, journal: Journal, supporting: tuple[str, ...] = ()) -> str:
    isvc = IncidentService(clock=clock, new_id=counter("inc"))
    opened = journal.append(
        isvc.open(OpenIncident(title="x", lead_agency="CG", supporting_agencies=supporting), CG_OPS)
    )
    inc_id = opened[0].incident_id
    journal.append(
        isvc.handle(
            journal.incident(inc_id),
            AddTask(
                incident_id=inc_id,
                task_id="t1",
                title="Intercept",
                agency="CG",
                role="operator",
                ack_sla_s=60,
                complete_sla_s=600,
            ),
            CG_OPS,
        )
    )
    return str(inc_id)


def test_assign_unit_to_task_updates_both_sides(clock: ManualClock, journal: Journal) -> None:
    svc = fleet(clock, journal)
    inc_id = incident_with_task(clock, journal)
    events = journal.append(
        svc.assign_to_task(
            journal.state(),
            journal.incident(inc_id),
            AssignUnitToTask(unit_id="cg-boat-1", incident_id=inc_id, task_id="t1"),
            CG_OPS,
        )
    )
    assert any(isinstance(e, TaskAssigned) and e.unit_ids == ("cg-boat-1",) for e in events)
    assert journal.state().units["cg-boat-1"].status is UnitStatus.ASSIGNED
    assert journal.state().units["cg-boat-1"].task == (inc_id, "t1")
    assert journal.incident(inc_id).tasks["t1"].unit_ids == ("cg-boat-1",)
    with pytest.raises(Conflict):
        svc.assign_to_task(
            journal.state(),
            journal.incident(inc_id),
            AssignUnitToTask(unit_id="cg-boat-1", incident_id=inc_id, task_id="t1"),
            CG_OPS,
        )
    with pytest.raises(Conflict):  # the border police take no part: mutual aid first
        svc.assign_to_task(
            journal.state(),
            journal.incident(inc_id),
            AssignUnitToTask(unit_id="bp-patrol-1", incident_id=inc_id, task_id="t1"),
            CG_OPS,
        )
    journal.append(
        svc.release_from_task(
            journal.state(), ReleaseUnitFromTask(unit_id="cg-boat-1"), CG_OPS, journal.incident(inc_id)
        )
    )
    assert journal.state().units["cg-boat-1"].status is UnitStatus.AVAILABLE
    assert journal.incident(inc_id).tasks["t1"].unit_ids == ()
    with pytest.raises(Conflict):
        svc.release_from_task(journal.state(), ReleaseUnitFromTask(unit_id="cg-boat-1"), CG_OPS)


def test_mutual_aid_full_flow(clock: ManualClock, journal: Journal) -> None:
    svc = fleet(clock, journal)
    events = journal.append(
        svc.request_aid(
            journal.state(),
            RequestMutualAid(
                owning_agency="CG", capability=UnitType.BOAT, reason="river crossing, need a boat"
            ),
            BP_OPS,
        )
    )
    (requested,) = events
    assert isinstance(requested, MutualAidRequested) and requested.requesting_agency == "BP"
    rid = requested.request_id
    approve = ApproveMutualAid(request_id=rid, unit_id="cg-boat-2", note="until dusk")
    with pytest.raises(NotAuthorized):  # an operator of the owner may not approve
        svc.approve_aid(journal.state(), approve, CG_OPS)
    with pytest.raises(NotAuthorized):  # nor the requesting agency's commander
        svc.approve_aid(journal.state(), approve, BP_BOSS)
    with pytest.raises(InvalidInput):  # a capability request needs a unit of that type
        svc.approve_aid(journal.state(), ApproveMutualAid(request_id=rid, unit_id="cg-heli"), CG_BOSS)
    with pytest.raises(InvalidInput):
        svc.approve_aid(journal.state(), ApproveMutualAid(request_id=rid), CG_BOSS)
    journal.append(svc.approve_aid(journal.state(), approve, CG_BOSS))
    with pytest.raises(Conflict):
        svc.decline_aid(journal.state(), DeclineMutualAid(request_id=rid, reason="changed mind"), CG_BOSS)
    with pytest.raises(NotAuthorized):
        svc.hand_over(journal.state(), HandOverUnit(request_id=rid), BP_OPS)
    journal.append(svc.hand_over(journal.state(), HandOverUnit(request_id=rid), CG_OPS))
    state = journal.state()
    assert state.units["cg-boat-2"].holder == "BP"
    assert state.aid_requests[rid].status is AidStatus.HANDED_OVER
    # While on loan the border police command it.
    journal.append(
        svc.change_status(
            state,
            ChangeUnitStatus(unit_id="cg-boat-2", status=UnitStatus.OUT_OF_SERVICE, reason="fuel"),
            BP_OPS,
        )
    )
    with pytest.raises(NotAuthorized):
        svc.release_aid(journal.state(), ReleaseMutualAid(request_id=rid), user("CUS", "operator"))
    journal.append(
        svc.release_aid(journal.state(), ReleaseMutualAid(request_id=rid, note="back at base"), BP_OPS)
    )
    state = journal.state()
    assert state.units["cg-boat-2"].holder == "CG"
    request = state.aid_requests[rid]
    assert request.status is AidStatus.RELEASED
    assert [s for _, _, s in request.history] == [
        AidStatus.REQUESTED,
        AidStatus.APPROVED,
        AidStatus.HANDED_OVER,
        AidStatus.RELEASED,
    ]
    types = [type(e) for e in journal.events if type(e).__name__.startswith("MutualAid")]
    assert types == [MutualAidRequested, MutualAidApproved, MutualAidHandedOver, MutualAidReleased]
    with pytest.raises(Conflict):
        svc.release_aid(journal.state(), ReleaseMutualAid(request_id=rid), BP_OPS)


def test_mutual_aid_decline_needs_owner_commander_and_reason(clock: ManualClock, journal: Journal) -> None:
    svc = fleet(clock, journal)
    (req,) = journal.append(
        svc.request_aid(
            journal.state(), RequestMutualAid(owning_agency="CG", unit_id="cg-heli", reason="search"), BP_BOSS
        )
    )
    rid = req.request_id
    with pytest.raises(InvalidInput):
        svc.decline_aid(journal.state(), DeclineMutualAid(request_id=rid, reason="  "), CG_BOSS)
    with pytest.raises(NotAuthorized):
        svc.decline_aid(journal.state(), DeclineMutualAid(request_id=rid, reason="busy"), BP_BOSS)
    events = journal.append(
        svc.decline_aid(journal.state(), DeclineMutualAid(request_id=rid, reason="busy"), CG_BOSS)
    )
    assert isinstance(events[0], MutualAidDeclined) and events[0].reason == "busy"
    assert journal.state().aid_requests[rid].status is AidStatus.DECLINED
    with pytest.raises(Conflict):
        svc.hand_over(journal.state(), HandOverUnit(request_id=rid), CG_OPS)
    with pytest.raises(NotFound):
        svc.hand_over(journal.state(), HandOverUnit(request_id="nope"), CG_OPS)


def test_mutual_aid_request_is_checked(clock: ManualClock, journal: Journal) -> None:
    svc = fleet(clock, journal)
    state = journal.state()
    for cmd in [
        RequestMutualAid(owning_agency="BP", capability=UnitType.PATROL, reason="self"),
        RequestMutualAid(owning_agency="CG", reason="neither unit nor capability"),
        RequestMutualAid(owning_agency="CG", unit_id="cg-heli", capability=UnitType.AIRCRAFT, reason="both"),
        RequestMutualAid(owning_agency="CG", unit_id="bp-patrol-1", reason="not theirs"),
        RequestMutualAid(owning_agency="CG", unit_id="cg-heli", reason=""),
    ]:
        with pytest.raises(InvalidInput):
            svc.request_aid(state, cmd, BP_OPS)
    with pytest.raises(NotAuthorized):
        svc.request_aid(
            state, RequestMutualAid(owning_agency="CG", unit_id="cg-heli", reason="x"), user("BP", "analyst")
        )


def test_loaned_unit_can_work_the_borrowers_incident(clock: ManualClock, journal: Journal) -> None:
    svc = fleet(clock, journal)
    isvc = IncidentService(clock=clock, new_id=counter("inc"))
    opened = journal.append(isvc.open(OpenIncident(title="river", lead_agency="BP"), BP_OPS))
    inc_id = opened[0].incident_id
    journal.append(
        isvc.handle(
            journal.incident(inc_id),
            AddTask(
                incident_id=inc_id,
                task_id="t1",
                title="Search",
                agency="BP",
                role="operator",
                ack_sla_s=60,
                complete_sla_s=60,
            ),
            BP_OPS,
        )
    )
    (req,) = journal.append(
        svc.request_aid(
            journal.state(),
            RequestMutualAid(owning_agency="CG", unit_id="cg-boat-1", reason="r", incident_id=inc_id),
            BP_OPS,
        )
    )
    journal.append(svc.approve_aid(journal.state(), ApproveMutualAid(request_id=req.request_id), CG_BOSS))
    journal.append(svc.hand_over(journal.state(), HandOverUnit(request_id=req.request_id), CG_BOSS))
    journal.append(
        svc.assign_to_task(
            journal.state(),
            journal.incident(inc_id),
            AssignUnitToTask(unit_id="cg-boat-1", incident_id=inc_id, task_id="t1"),
            BP_OPS,
        )
    )
    assert journal.state().units["cg-boat-1"].task == (inc_id, "t1")
    journal.append(svc.release_aid(journal.state(), ReleaseMutualAid(request_id=req.request_id), CG_OPS))
    unit = journal.state().units["cg-boat-1"]
    assert (unit.holder, unit.status, unit.task) == ("CG", UnitStatus.AVAILABLE, None)


def test_resource_disparity_counts_by_holder_against_needs(clock: ManualClock, journal: Journal) -> None:
    svc = fleet(clock, journal)
    journal.append(
        svc.change_status(
            journal.state(), ChangeUnitStatus(unit_id="cg-heli", status=UnitStatus.OUT_OF_SERVICE), CG_OPS
        )
    )
    (req,) = journal.append(
        svc.request_aid(
            journal.state(), RequestMutualAid(owning_agency="CG", unit_id="cg-boat-2", reason="r"), BP_OPS
        )
    )
    journal.append(svc.approve_aid(journal.state(), ApproveMutualAid(request_id=req.request_id), CG_BOSS))
    journal.append(svc.hand_over(journal.state(), HandOverUnit(request_id=req.request_id), CG_OPS))
    needs = {"CG": {UnitType.BOAT: 3, UnitType.AIRCRAFT: 1}, "BP": {UnitType.PATROL: 1, UnitType.DRONE: 2}}
    rows = {(r.agency, r.unit_type): r for r in resource_disparity(journal.state(), needs)}
    cg_boats = rows[("CG", UnitType.BOAT)]
    assert (cg_boats.available, cg_boats.lent_out, cg_boats.needed, cg_boats.shortfall) == (1, 1, 3, 2)
    bp_boats = rows[("BP", UnitType.BOAT)]
    assert (bp_boats.available, bp_boats.borrowed, bp_boats.needed, bp_boats.surplus) == (1, 1, 0, 1)
    heli = rows[("CG", UnitType.AIRCRAFT)]
    assert (heli.out_of_service, heli.in_service, heli.shortfall) == (1, 0, 1)
    assert rows[("BP", UnitType.DRONE)].shortfall == 2
    assert rows[("BP", UnitType.PATROL)].shortfall == 0
    with pytest.raises(InvalidInput):
        resource_disparity(journal.state(), {"CG": {UnitType.BOAT: -1}})
