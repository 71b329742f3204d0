"""The coordination service on SQLite and PostgreSQL: routing, incidents, escalation, restart, replay,
concurrent edits, task forces, units, mutual aid and messaging, all journaled and projected."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import timedelta
from typing import Any

import pytest
from tests.conftest import FAST_HASHER
from tests.integration.coordination.coordination_world import (
    HARBOUR,
    NOWHERE,
    SEA,
    import_zones,
    raise_alert,
    user,
    world,
)

from concord.adapters.clock import ManualClock
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings
from concord.domain.agreement import Agreement
from concord.domain.coordination import AidStatus, UnitStatus, UnitType, task_force_channel_id
from concord.domain.errors import Conflict, InvalidInput, NotAuthorized, NotFound, Unavailable
from concord.domain.incident import JOC, IncidentStatus
from concord.domain.marking import Marking
from concord.domain.record import RecordRow
from concord.incidents.commands import (
    AcknowledgeTask,
    AddNote,
    ApproveMutualAid,
    AssignUnitToTask,
    ChangeIncidentStatus,
    CompleteTask,
    DeclineMutualAid,
    FormTaskForce,
    HandOverUnit,
    MarkRead,
    OpenIncident,
    PostMessage,
    RegisterUnit,
    ReleaseMutualAid,
    RequestMutualAid,
    ResolveConflict,
)
from concord.services.coordination import COORDINATION_KINDS, areas_from_zones, run_escalations

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def ready(concord: Concord) -> Concord:
    world(concord)
    import_zones(concord)
    return concord


def _records(concord: Concord) -> dict[tuple[str, str], tuple[Any, ...]]:
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    for kind in COORDINATION_KINDS:
        for row in concord.coordination.rows(kind):
            out[(row.kind, row.id)] = (row.version, row.status, row.marking, row.exercise, row.data)
    return out


# ------------------------------------------------------------------------------------------- routing


def test_routing_owner_conflict_and_joc(ready: Concord) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    raise_alert(ready, "alert-harbour", where=HARBOUR)
    raise_alert(ready, "alert-none", where=NOWHERE)
    view = ready.coordination.view
    assert view.routing("alert-sea").owner == "CG"
    assert not view.routing("alert-sea").conflicts
    harbour = view.routing("alert-harbour")
    assert harbour.owner == "CG" and harbour.candidates == ("CG", "CUS")
    [conflict] = harbour.open_conflicts
    assert set(conflict.agencies) == {"CG", "CUS"}
    assert view.routing("alert-none").owner == JOC
    # Projected for the API and stream.
    assert ready.coordination.row("routing", "alert-harbour").status == "conflict"
    assert [r.id for r in ready.coordination.rows("routing", status="conflict")] == ["alert-harbour"]
    assert [(r.alert_id, c) for r, c in ready.coordination.open_conflicts()] == [
        ("alert-harbour", conflict.id)
    ]


def test_conflict_resolution_needs_a_commander_of_a_named_agency(ready: Concord) -> None:
    raise_alert(ready, "alert-harbour", where=HARBOUR)
    conflict_id = ready.coordination.view.routing("alert-harbour").open_conflicts[0].id
    command = ResolveConflict(
        alert_id="alert-harbour", conflict_id=conflict_id, decision="CUS", reason="inside the port"
    )
    with pytest.raises(NotAuthorized):
        ready.coordination.resolve_conflict(command, user(ready, "cus.op"))
    with pytest.raises(NotAuthorized):
        ready.coordination.resolve_conflict(command, user(ready, "bp.cmd"))
    routing = ready.coordination.resolve_conflict(command, user(ready, "cus.cmd"))
    assert routing.owner == "CUS" and not routing.open_conflicts
    assert ready.coordination.row("routing", "alert-harbour").status == "routed"
    with pytest.raises(Conflict):
        ready.coordination.resolve_conflict(command, user(ready, "cg.cmd"))


def test_areas_get_their_ground_from_geometry(ready: Concord) -> None:
    settings = {a.zone_id: a.setting for a in areas_from_zones(ready.zones.zones())}
    assert settings["aor-cg"] == "sea"
    assert settings["aor-cus"] == "port"
    assert settings["aor-bp"] == "land"


# ------------------------------------------------------------------------------------------ incidents


def test_incident_from_alert_runs_its_playbook(ready: Concord) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    incident = ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))
    assert incident.lead_agency == "CG"
    assert incident.playbook_id == "maritime-rendezvous"
    assert set(incident.tasks) == {"dispatch-vessel", "identify-vessels", "customs-landing-check"}
    stored = ready.coordination.row("incident", incident.id)
    assert stored.data["playbook_id"] == "maritime-rendezvous"
    assert stored.marking.originator == "CG"
    task_row = ready.coordination.row("task", f"{incident.id}:dispatch-vessel")
    assert task_row.status == "open" and task_row.data["incident_id"] == incident.id
    assert ready.coordination.row("channel", f"incident:{incident.id}").data["agencies"] == ["CG"]
    with pytest.raises(Conflict):
        ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))


def test_required_tasks_block_closing_and_the_log_is_complete(ready: Concord) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    cg_op, cg_an, cg_cmd = user(ready, "cg.op"), user(ready, "cg.an"), user(ready, "cg.cmd")
    incident = ready.coordination.open_from_alert("alert-sea", cg_op)
    iid = incident.id
    ready.coordination.incident_command(
        ChangeIncidentStatus(incident_id=iid, to_status=IncidentStatus.ACTIVE), cg_op
    )
    ready.coordination.incident_command(
        ChangeIncidentStatus(incident_id=iid, to_status=IncidentStatus.CONTAINED), cg_op
    )
    with pytest.raises(Conflict):
        ready.coordination.incident_command(
            ChangeIncidentStatus(incident_id=iid, to_status=IncidentStatus.CLOSED), cg_cmd
        )
    ready.coordination.incident_command(AcknowledgeTask(incident_id=iid, task_id="dispatch-vessel"), cg_op)
    ready.coordination.incident_command(
        CompleteTask(incident_id=iid, task_id="dispatch-vessel", note="intercepted"), cg_op
    )
    ready.coordination.incident_command(
        CompleteTask(incident_id=iid, task_id="identify-vessels", note="known"), cg_an
    )
    closed = ready.coordination.incident_command(
        ChangeIncidentStatus(incident_id=iid, to_status=IncidentStatus.CLOSED, reason="done"), cg_cmd
    )
    assert closed.status is IncidentStatus.CLOSED
    types = [entry.type for entry in closed.log]
    assert types[0] == "incident.opened"
    assert types.count("task.created") == 3
    assert "task.completed" in types and types[-1] == "incident.status-changed"
    stored = ready.coordination.row("incident", iid)
    assert stored.status == "closed"
    assert [e["type"] for e in stored.data["log"]] == types


def test_open_by_hand_and_note(ready: Concord) -> None:
    bp_op = user(ready, "bp.op")
    incident = ready.coordination.open_incident(
        OpenIncident(title="Fence cut near post 12", lead_agency="BP", use_playbook=False), bp_op
    )
    assert incident.tasks == {}
    with pytest.raises(NotAuthorized):
        ready.coordination.open_incident(OpenIncident(title="x", lead_agency="CG"), bp_op)
    after = ready.coordination.incident_command(
        AddNote(incident_id=incident.id, text="'; DROP TABLE records; --"), bp_op
    )
    assert after.log[-1].summary == "note: '; DROP TABLE records; --"
    assert ready.coordination.row("incident", incident.id).data["log"][-1]["summary"].endswith("--")


# ----------------------------------------------------------------------------------------- escalation


def test_escalation_by_the_clock_once_and_after_restart(
    ready: Concord, settings: Settings, clock: ManualClock
) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    incident = ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))
    assert ready.coordination.tick() == []
    clock.advance(301)  # dispatch-vessel: 300 s to acknowledge
    due = ready.coordination.due_escalations()
    assert [(d.task_id, d.phase.value, d.step_index) for d in due] == [("dispatch-vessel", "acknowledge", 0)]

    # A new process on the same database finds the same escalations due.
    other = bootstrap(settings, clock=clock, password_hasher=FAST_HASHER)
    try:
        assert other.coordination.due_escalations() == due
        assert set(other.coordination.view.incidents) == {incident.id}
        sent = ready.coordination.tick()
        assert [(e.task_id, e.step_index) for e in sent] == [("dispatch-vessel", 0)]
        assert ready.coordination.tick() == []
        other.coordination.rebuild()
        assert other.coordination.due_escalations() == []
        assert other.coordination.tick() == []
    finally:
        other.close()
    log = ready.coordination.row("incident", incident.id).data["log"]
    assert [e["type"] for e in log].count("task.escalation-notified") == 1
    # Acknowledging the task stops the rest of its acknowledge chain.
    ready.coordination.incident_command(
        AcknowledgeTask(incident_id=incident.id, task_id="dispatch-vessel"), user(ready, "cg.op")
    )
    clock.advance(900)
    later = {(e.task_id, e.phase.value, e.step_index) for e in ready.coordination.tick()}
    assert ("dispatch-vessel", "acknowledge", 1) not in later
    assert ("identify-vessels", "acknowledge", 0) in later


# ------------------------------------------------------------------------------ restart and replay


def test_restart_folds_the_same_view(ready: Concord, settings: Settings, clock: ManualClock) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    raise_alert(ready, "alert-harbour", where=HARBOUR)
    incident = ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))
    other = bootstrap(settings, clock=clock, password_hasher=FAST_HASHER)
    try:
        mine, theirs = ready.coordination.view, other.coordination.view
        assert theirs.incidents[incident.id].log == mine.incidents[incident.id].log
        assert theirs.incidents[incident.id].tasks.keys() == mine.incidents[incident.id].tasks.keys()
        assert theirs.routings.keys() == mine.routings.keys()
        assert theirs.routing("alert-harbour").open_conflicts[0].id == "alert-harbour:conflict-1"
    finally:
        other.close()


def test_replay_rebuilds_the_coordination_records(ready: Concord, clock: ManualClock) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    raise_alert(ready, "alert-harbour", where=HARBOUR)
    cg_cmd = user(ready, "cg.cmd")
    incident = ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))
    clock.advance(400)
    ready.coordination.tick()
    tf = ready.coordination.form_task_force(
        FormTaskForce(
            name="Harbour TF", lead_agency="CG", member_agencies=("CUS",), incident_ids=(incident.id,)
        ),
        cg_cmd,
    )
    ready.coordination.post_message(
        PostMessage(
            channel_id=task_force_channel_id(tf),
            body="@cus.op boarding at dawn",
            marking=Marking(classification="RESTRICTED", originator="CG", rel_to=frozenset({"CUS"})),
        ),
        cg_cmd,
    )
    before = _records(ready)
    assert {k for k, _ in before} >= {"incident", "task", "routing", "taskforce", "channel", "message"}
    ready.replay()
    assert _records(ready) == before


# ---------------------------------------------------------------------------------- concurrency


def test_two_officers_acknowledge_at_once_one_conflict(ready: Concord) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    incident = ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))
    officers = [user(ready, "cg.op"), user(ready, "cg.op2")]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def acknowledge(officer: Any) -> None:
        barrier.wait()
        try:
            ready.coordination.incident_command(
                AcknowledgeTask(incident_id=incident.id, task_id="dispatch-vessel"), officer
            )
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=acknowledge, args=(o,)) for o in officers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    log = ready.coordination.row("incident", incident.id).data["log"]
    assert [e["type"] for e in log].count("task.acknowledged") == 1


def test_a_stale_process_gets_a_conflict_then_sees_the_change(
    ready: Concord, settings: Settings, clock: ManualClock
) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    incident = ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))
    other = bootstrap(settings, clock=clock, password_hasher=FAST_HASHER)
    try:
        ready.coordination.incident_command(
            AcknowledgeTask(incident_id=incident.id, task_id="dispatch-vessel"), user(ready, "cg.op")
        )
        with pytest.raises(Conflict):
            other.coordination.incident_command(
                AcknowledgeTask(incident_id=incident.id, task_id="dispatch-vessel"), user(other, "cg.op2")
            )
        # The refused process folded the journal again: it now knows the task was acknowledged.
        assert (
            other.coordination.view.incident(incident.id).tasks["dispatch-vessel"].acknowledged_at is not None
        )
    finally:
        other.close()


def test_a_failed_transaction_leaves_the_view_alone(ready: Concord, monkeypatch: pytest.MonkeyPatch) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    incident = ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))
    version = incident.version
    real = ready.coordination._uow

    def failing() -> Any:
        uow = real()

        def commit() -> None:
            raise Unavailable("the database is not available")

        uow.commit = commit  # type: ignore[method-assign]
        return uow

    monkeypatch.setattr(ready.coordination, "_uow", failing)
    with pytest.raises(Unavailable):
        ready.coordination.incident_command(
            AddNote(incident_id=incident.id, text="lost"), user(ready, "cg.op")
        )
    assert ready.coordination.view.incident(incident.id).version == version
    assert ready.coordination.row("incident", incident.id).version == version


# ----------------------------------------------------------------------- units, aid, messaging


def test_units_and_mutual_aid_step_by_step(ready: Concord) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    bp_op, bp_cmd = user(ready, "bp.op"), user(ready, "bp.cmd")
    cg_op, cg_cmd = user(ready, "cg.op"), user(ready, "cg.cmd")
    incident = ready.coordination.open_from_alert("alert-sea", cg_op)
    boat = ready.coordination.register_unit(
        RegisterUnit(agency="BP", unit_type=UnitType.BOAT, callsign="BP-B1"), bp_cmd
    )
    request = ready.coordination.request_aid(
        RequestMutualAid(owning_agency="BP", reason="need a fast boat", capability=UnitType.BOAT), cg_op
    )
    with pytest.raises(NotAuthorized):
        ready.coordination.approve_aid(ApproveMutualAid(request_id=request, unit_id=boat), bp_op)
    ready.coordination.approve_aid(ApproveMutualAid(request_id=request, unit_id=boat), bp_cmd)
    ready.coordination.hand_over(HandOverUnit(request_id=request), bp_op)
    assert ready.coordination.view.coordination.units[boat].holder == "CG"
    ready.coordination.assign_unit(
        AssignUnitToTask(unit_id=boat, incident_id=incident.id, task_id="dispatch-vessel"), cg_op
    )
    unit_row = ready.coordination.row("unit", boat)
    assert unit_row.status == UnitStatus.ASSIGNED.value and unit_row.marking.rel_to == {"BP", "CG"}
    ready.coordination.release_aid(ReleaseMutualAid(request_id=request, note="thanks"), cg_cmd)
    aid_row = ready.coordination.row("mutual-aid", request)
    assert aid_row.status == AidStatus.RELEASED.value
    assert [h[2] for h in aid_row.data["history"]] == ["requested", "approved", "handed-over", "released"]
    assert ready.coordination.row("unit", boat).data["holder"] == "BP"
    second = ready.coordination.request_aid(
        RequestMutualAid(owning_agency="BP", reason="again", unit_id=boat), cg_op
    )
    ready.coordination.decline_aid(DeclineMutualAid(request_id=second, reason="in maintenance"), bp_cmd)
    assert ready.coordination.row("mutual-aid", second).data["decision_note"] == "in maintenance"


def test_messages_are_marked_and_read_once(ready: Concord, clock: ManualClock) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    cg_cmd, cus_op = user(ready, "cg.cmd"), user(ready, "cus.op")
    incident = ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))
    tf = ready.coordination.form_task_force(
        FormTaskForce(name="TF", lead_agency="CG", member_agencies=("CUS",), incident_ids=(incident.id,)),
        cg_cmd,
    )
    channel = task_force_channel_id(tf)
    ready.sharing.sign(
        Agreement(
            agreement_id="cg-cus", owner="CG", partner="CUS", valid_from=clock.now() - timedelta(days=1)
        ),
        actor="test",
    )
    shared = ready.coordination.post_message(
        PostMessage(
            channel_id=channel,
            body="@cus.op meet at pier 4, mail ops@cg.example",
            marking=Marking(classification="RESTRICTED", originator="CG", rel_to=frozenset({"CUS"})),
        ),
        cg_cmd,
    )
    private = ready.coordination.post_message(
        PostMessage(
            channel_id=channel,
            body="source says 02:00",
            marking=Marking(classification="SECRET", originator="CG"),
        ),
        cg_cmd,
    )
    rows = ready.coordination.message_rows(channel)
    assert [r.id for r in rows] == [shared, private]
    assert rows[0].data["mentions"] == ["cus.op"]
    seen = ready.queries.release_rows(rows, cus_op.viewer())
    assert [r.record.record_id for r in seen] == [shared]
    assert ready.coordination.mark_read(MarkRead(channel_id=channel, message_id=shared), cus_op) is True
    assert ready.coordination.mark_read(MarkRead(channel_id=channel, message_id=shared), cus_op) is False
    assert set(ready.coordination.row("message", shared).data["read_by"]) == {cus_op.id}
    with pytest.raises(NotFound):
        ready.coordination.channel_for(channel, user(ready, "bp.op"))


def test_announced_rows_reach_picture_listeners(ready: Concord) -> None:
    seen: list[RecordRow] = []
    ready.picture.subscribe(lambda change: seen.extend(change.rows))
    raise_alert(ready, "alert-sea", where=SEA)
    ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))
    kinds = {r.kind for r in seen}
    assert {"alert", "routing", "incident", "task", "channel"} <= kinds
    seqs = [r.seq for r in seen if r.kind != "alert"]
    assert seqs == sorted(seqs)


def test_auto_open_for_very_high_impact(ready: Concord) -> None:
    from concord.domain.incident import Severity

    ready.coordination._auto_open_impact = Severity.VERY_HIGH
    raise_alert(ready, "alert-high", where=SEA, impact="high")
    raise_alert(ready, "alert-vh", where=SEA, impact="very-high")
    opened = list(ready.coordination.view.incidents.values())
    assert [i.alert_ids for i in opened] == [["alert-vh"]]
    assert opened[0].lead_agency == "CG"


def test_time_moves_with_the_clock(ready: Concord, clock: ManualClock) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    incident = ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))
    task = incident.tasks["dispatch-vessel"]
    assert task.ack_due_at - task.created_at == timedelta(seconds=300)
    assert task.created_at == clock.now()


def test_run_escalations_ticks_in_the_background(ready: Concord, clock: ManualClock) -> None:
    raise_alert(ready, "alert-sea", where=SEA)
    incident = ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))
    clock.advance(301)

    async def main() -> None:
        task = asyncio.create_task(run_escalations(ready, 0.01))
        for _ in range(500):
            await asyncio.sleep(0.01)
            if not ready.coordination.due_escalations():
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())
    log = ready.coordination.view.incident(incident.id).log
    assert [e.type for e in log].count("task.escalation-notified") == 1
    with pytest.raises(InvalidInput):
        asyncio.run(run_escalations(ready, 0))


# ------------------------------------------------------------------------ several processes, one journal


def _journal_types(concord: Concord, *types: str) -> list[str]:
    import sqlalchemy as sa

    from concord.adapters.db import journal

    with concord.engine.connect() as conn:
        rows = conn.execute(sa.select(journal.c.type).where(journal.c.type.in_(types))).all()
    return [r.type for r in rows]


def test_processes_sharing_a_journal_see_each_others_coordination(
    ready: Concord, settings: Settings, clock: ManualClock
) -> None:
    """Two API nodes on one database: what one decides, the other knows before it decides."""
    other = bootstrap(settings, clock=clock, password_hasher=FAST_HASHER)
    try:
        # Raised and routed by the first process after the second one started.
        raise_alert(ready, "alert-sea", where=SEA)
        assert other.coordination.route_alert("alert-sea").owner == "CG"
        assert _journal_types(ready, "alert.routed") == ["alert.routed"]

        # An incident opened on one node is answered on the other, without a conflict.
        incident = ready.coordination.open_from_alert("alert-sea", user(ready, "cg.op"))
        acked = other.coordination.incident_command(
            AcknowledgeTask(incident_id=incident.id, task_id="dispatch-vessel"), user(other, "cg.op2")
        )
        assert acked.tasks["dispatch-vessel"].acknowledged_at is not None
        with pytest.raises(Conflict):
            other.coordination.open_from_alert("alert-sea", user(other, "cg.op"))

        # A channel one node opened takes messages on the other.
        tf = ready.coordination.form_task_force(
            FormTaskForce(
                name="TF Delta", lead_agency="CG", member_agencies=("CUS",), incident_ids=(incident.id,)
            ),
            user(ready, "cg.cmd"),
        )
        other.coordination.post_message(
            PostMessage(
                channel_id=task_force_channel_id(tf),
                body="on station",
                marking=Marking(classification="RESTRICTED", originator="CUS", rel_to=frozenset({"CG"})),
            ),
            user(other, "cus.op"),
        )
        assert len(ready.coordination.message_rows(task_force_channel_id(tf))) == 1

        # Escalations due are recorded once, whichever node ticks first.
        clock.advance(3600)
        first = ready.coordination.tick()
        assert first and other.coordination.tick() == []
    finally:
        other.close()
