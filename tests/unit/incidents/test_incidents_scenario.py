"""A boat goes dark near the coast and meets a second boat: the whole joint response, end to end.

The alert is routed to the coast guard's maritime area of responsibility, a jurisdiction conflict with
customs (the port area overlaps) is surfaced and settled by a commander, an incident opens with its
playbook, a task misses its SLA and escalates, a task force talks on its channel, a unit is put on the
task, and the incident closes with its log complete. Every event goes through the journal's JSON form.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from incidents_kit import AREAS, DIRECTORY, IN_PORT_WATERS, START, Journal, counter, user
from shapely.geometry import box

from concord.adapters.clock import ManualClock
from concord.domain.alert import Alert, AlertKind, ImpactLevel
from concord.domain.coordination import UnitType, incident_channel_id, task_force_channel_id
from concord.domain.errors import Conflict, NotAuthorized, NotFound
from concord.domain.incident import (
    EscalationNotified,
    IncidentEvent,
    IncidentStatus,
    JurisdictionConflictRaised,
)
from concord.domain.incident_codec import event_from_dict
from concord.domain.marking import Marking
from concord.domain.track import Track, TrackStatus
from concord.incidents import (
    AlertLike,
    Area,
    CoordinationView,
    IncidentService,
    MessagingService,
    ResourceService,
    Router,
    TaskForceService,
    due_escalations,
    load_default_playbooks,
    positions_from_tracks,
)
from concord.incidents.commands import (
    AcknowledgeTask,
    AssignUnitToTask,
    ChangeIncidentStatus,
    CompleteTask,
    FormTaskForce,
    LinkTrack,
    MarkRead,
    PostMessage,
    RegisterUnit,
    ResolveConflict,
)

CG_OPS = user("CG", "operator", name="ana")
CG_ANALYST = user("CG", "analyst", name="ivo")
CG_BOSS = user("CG", "commander", name="capt-cg")
CUS_OPS = user("CUS", "operator", name="marta")
CUS_BOSS = user("CUS", "commander", name="chief-cus")
JOC_BOSS = user("JOC", "commander", name="duty-joc")
TERRITORIAL_SEA = Area(
    zone_id="ts", kind="territorial-sea", setting="sea", geometry=box(10.0, 40.0, 13.0, 42.0)
)


def the_alert() -> AlertLike:
    return Alert(
        id="alert-rdv-1",
        kind=AlertKind.RENDEZVOUS,
        dedup_key="rendezvous:trk-dark,trk-b",
        episode=1,
        raised_at=START,
        updated_at=START,
        impact=ImpactLevel.HIGH,
        confidence=0.8,
        track_ids=("trk-dark", "trk-b"),
        zone_ids=(),
        lat=IN_PORT_WATERS[0],
        lon=IN_PORT_WATERS[1],
        marking=Marking(classification="RESTRICTED", originator="CG", rel_to=frozenset({"CUS", "BP"})),
        summary="dark vessel met a second boat 2 nm off the harbour",
    )


def run_scenario(clock: ManualClock, journal: Journal) -> None:
    """The whole response; asserts each step on the way."""
    ids = counter("id")
    alert = the_alert()

    # 1. Routing: the coast guard's sea and the customs port overlap.
    router = Router(
        [*AREAS, TERRITORIAL_SEA], clock=clock, may_notify=lambda owner, partner, a: partner != "BP"
    )
    journal.append(router.route(alert))
    routing = journal.routing(alert.id)
    (conflict,) = routing.open_conflicts
    assert set(conflict.agencies) == {"CG", "CUS"}
    assert routing.owner == "CG"  # provisional: never unowned
    assert any(isinstance(e, JurisdictionConflictRaised) for e in journal.events)

    clock.advance(30)
    cmd = ResolveConflict(
        alert_id=alert.id, conflict_id=conflict.id, decision="CG", reason="vessels still at sea"
    )
    with pytest.raises(NotAuthorized):
        router.resolve(routing, cmd, CUS_OPS, alert)
    journal.append(router.resolve(routing, cmd, JOC_BOSS, alert))
    routing = journal.routing(alert.id)
    assert routing.owner == "CG" and routing.open_conflicts == []
    assert routing.notified == ("CUS",)

    # 2. The incident opens with the maritime playbook; customs supports.
    incidents = IncidentService(
        clock=clock, playbooks=load_default_playbooks(reachable=DIRECTORY), new_id=ids
    )
    opened = journal.append(
        incidents.open_from_alert(alert, routing, CG_OPS, zone_kinds=("territorial-sea",))
    )
    inc_id = opened[0].incident_id
    inc = journal.incident(inc_id)
    assert inc.playbook_id == "maritime-rendezvous"
    assert inc.lead_agency == "CG" and inc.supporting_agencies == ["CUS"]
    assert set(inc.tasks) == {"dispatch-vessel", "identify-vessels", "customs-landing-check"}
    for track_id in ("trk-dark", "trk-b"):
        journal.append(
            incidents.handle(
                journal.incident(inc_id), LinkTrack(incident_id=inc_id, track_id=track_id), CG_ANALYST
            )
        )
    journal.append(
        incidents.handle(
            journal.incident(inc_id),
            ChangeIncidentStatus(incident_id=inc_id, to_status=IncidentStatus.ACTIVE),
            CG_OPS,
        )
    )

    # 3. A joint task force for this incident, and its channel.
    task_forces = TaskForceService(clock=clock, new_id=ids)
    formed = journal.append(
        task_forces.form(
            journal.state(),
            FormTaskForce(
                name="TF Harbour", lead_agency="CG", member_agencies=("CUS",), incident_ids=(inc_id,)
            ),
            CG_BOSS,
        )
    )
    tf_channel = task_force_channel_id(formed[0].task_force_id)
    messages = MessagingService(
        clock=clock, new_id=ids, user_exists=lambda name: name in {"ana", "marta", "capt-cg"}
    )
    cus_mark = Marking(classification="RESTRICTED", originator="CUS", rel_to=frozenset({"CG"}))
    (note,) = journal.append(
        messages.post(
            journal.state(),
            PostMessage(
                channel_id=tf_channel,
                body="@capt-cg the second boat is known to us: MV Gull",
                marking=cus_mark,
            ),
            CUS_OPS,
        )
    )
    assert note.mentions == ("capt-cg",)
    journal.append(
        messages.mark_read(
            journal.state(), MarkRead(channel_id=tf_channel, message_id=note.message_id), CG_BOSS
        )
    )
    assert journal.state().channels[tf_channel].unread_for(CG_BOSS.id) == []
    assert incident_channel_id(inc_id) in journal.state().channels

    # 4. Nobody acknowledges the dispatch: the SLA runs out and the chain runs by the clock.
    clock.advance(300)  # the incident opened 30 s after the alert
    sent = journal.append(incidents.record_due_escalations(journal.incident(inc_id)))
    assert [(e.task_id, e.agency, e.role) for e in sent] == [("dispatch-vessel", "CG", "commander")]
    clock.advance(600)
    sent = journal.append(incidents.record_due_escalations(journal.incident(inc_id)))
    assert ("dispatch-vessel", "JOC", "commander") in [(e.task_id, e.agency, e.role) for e in sent]
    journal.append(
        incidents.handle(
            journal.incident(inc_id), AcknowledgeTask(incident_id=inc_id, task_id="dispatch-vessel"), CG_OPS
        )
    )

    # 5. A boat is put on the task; its position follows its TAK track.
    resources = ResourceService(clock=clock, new_id=ids)
    journal.append(
        resources.register(
            journal.state(),
            RegisterUnit(
                unit_id="cg-p12", agency="CG", unit_type=UnitType.BOAT, callsign="P-12", identity="tak:P12"
            ),
            CG_BOSS,
        )
    )
    journal.append(
        resources.assign_to_task(
            journal.state(),
            journal.incident(inc_id),
            AssignUnitToTask(unit_id="cg-p12", incident_id=inc_id, task_id="dispatch-vessel"),
            CG_OPS,
        )
    )
    boat = Track(
        id="trk-p12",
        updated_at=clock.now(),
        lat=41.01,
        lon=10.12,
        vel_east_mps=6.0,
        vel_north_mps=0.0,
        position_sigma_m=15.0,
        status=TrackStatus.CONFIRMED,
        marking=Marking.default_for("CG"),
        identity="tak:P12",
    )
    journal.append(positions_from_tracks(journal.state(), [boat]))
    assert journal.state().units["cg-p12"].lat == 41.01

    # 6. Contain, then close: refused while a required task is open.
    journal.append(
        incidents.handle(
            journal.incident(inc_id),
            CompleteTask(incident_id=inc_id, task_id="dispatch-vessel", note="intercepted"),
            CG_OPS,
        )
    )
    journal.append(
        incidents.handle(
            journal.incident(inc_id),
            ChangeIncidentStatus(incident_id=inc_id, to_status=IncidentStatus.CONTAINED),
            CG_OPS,
        )
    )
    close = ChangeIncidentStatus(
        incident_id=inc_id, to_status=IncidentStatus.CLOSED, reason="both boats escorted in"
    )
    with pytest.raises(Conflict):
        incidents.handle(journal.incident(inc_id), close, CG_BOSS)
    journal.append(
        incidents.handle(
            journal.incident(inc_id),
            CompleteTask(incident_id=inc_id, task_id="identify-vessels", note="MV Gull"),
            CG_ANALYST,
        )
    )
    clock.advance(60)
    journal.append(incidents.handle(journal.incident(inc_id), close, CG_BOSS))
    inc = journal.incident(inc_id)
    assert inc.status is IncidentStatus.CLOSED
    assert due_escalations(journal.events, clock.now() + timedelta(days=1)) == []

    # 7. The log is complete: one line per incident event, in order, each with its actor and time.
    incident_events = [e for e in journal.events if isinstance(e, IncidentEvent) and e.incident_id == inc_id]
    assert len(inc.log) == len(incident_events)
    assert [(line.type, line.actor, line.at) for line in inc.log] == [
        (e.type, e.actor, e.at) for e in incident_events
    ]
    kinds = [line.type for line in inc.log]
    assert kinds[0] == "incident.opened" and kinds[-1] == "incident.status-changed"
    assert kinds.count("task.escalation-notified") == sum(
        isinstance(e, EscalationNotified) for e in incident_events
    )
    assert {"task.acknowledged", "task.completed", "task.assigned", "incident.track-linked"} <= set(kinds)
    assert inc.log[-1].actor == CG_BOSS.id and "both boats escorted in" in inc.log[-1].summary

    # 8. After a restart, the journal alone gives the same incident and log.
    restarted = Journal()
    restarted.append(event_from_dict(e.to_dict()) for e in journal.events)
    again = restarted.incident(inc_id)
    assert again.log == inc.log and again.status is IncidentStatus.CLOSED and again.marking == inc.marking


def test_dark_boat_rendezvous_joint_response(clock: ManualClock, journal: Journal) -> None:
    run_scenario(clock, journal)


def test_one_view_folds_every_event_type_like_the_separate_folds(
    clock: ManualClock, journal: Journal
) -> None:
    run_scenario(clock, journal)
    view = CoordinationView.from_events(journal.events)
    assert view.applied == len(journal.events)
    assert set(view.incidents) == {e.incident_id for e in journal.events if isinstance(e, IncidentEvent)}
    for incident_id, incident in view.incidents.items():
        assert incident.log == journal.incident(incident_id).log
    assert view.routing("alert-rdv-1").owner == journal.routing("alert-rdv-1").owner
    assert view.coordination.units.keys() == journal.state().units.keys()
    assert view.due_escalations(clock.now()) == due_escalations(journal.events, clock.now())
    assert view.next_escalation_at() is None
    with pytest.raises(NotFound):
        view.incident("nope")
    with pytest.raises(NotFound):
        view.routing("nope")
    view.apply(journal.events[0])  # routing an alert again is allowed: it re-decides the owner
    with pytest.raises(ValueError):
        view.apply(next(e for e in journal.events if isinstance(e, IncidentEvent)))  # opened twice
