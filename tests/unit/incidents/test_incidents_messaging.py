"""Messaging (channels, markings, mentions, read receipts) and joint task forces."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from incidents_kit import Journal, counter, user

from concord.adapters.clock import ManualClock
from concord.domain.coordination import (
    ChannelKind,
    MessagePosted,
    MessageRead,
    TaskForceFormed,
    UnitType,
    agency_channel_id,
    liaison_channel_id,
    task_force_channel_id,
)
from concord.domain.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from concord.domain.marking import Marking
from concord.incidents.commands import (
    AssignLiaison,
    AttachUnit,
    DetachUnit,
    DisbandTaskForce,
    FormTaskForce,
    JoinTaskForce,
    LeaveTaskForce,
    LinkTaskForceToIncident,
    MarkRead,
    OpenAgencyChannel,
    PostMessage,
    RegisterUnit,
    RelieveLiaison,
)
from concord.incidents.messaging import MAX_MESSAGE_CHARS, MessagingService, parse_mentions
from concord.incidents.resources import ResourceService
from concord.incidents.taskforces import TaskForceService

CG_BOSS = user("CG", "commander", name="cg-boss")
CG_OPS = user("CG", "operator", name="alice")
CUS_OPS = user("CUS", "operator", name="bob")
BP_OPS = user("BP", "operator", name="carol")


def marking(agency: str) -> Marking:
    return Marking(classification="RESTRICTED", originator=agency, rel_to=frozenset({"CG", "CUS"}))


def maritime_task_force(clock: ManualClock, journal: Journal, **kw: Any) -> tuple[TaskForceService, str]:
    svc = TaskForceService(clock=clock, new_id=counter("tf"))
    cmd = FormTaskForce(
        name="Maritime task force", lead_agency="CG", member_agencies=("CUS",), standing=True, **kw
    )
    events = journal.append(svc.form(journal.state(), cmd, CG_BOSS))
    return svc, events[0].task_force_id


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ("@alice please check", ("alice",)),
        ("cc @bob, @alice and @bob again.", ("bob", "alice")),
        ("mail ops@cg.example not a mention", ()),
        ("@@alice", ()),
        ("(@carol)", ("carol",)),
        ("@x.y-z_1: ok", ("x.y-z_1",)),
        ("end with @dave.", ("dave",)),
        ("no mentions here", ()),
        ("@", ()),
        ("@" + "a" * 100, ("a" * 64,)),
    ],
)
def test_parse_mentions(body: str, mentions: tuple[str, ...]) -> None:
    assert parse_mentions(body) == mentions


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=200))
def test_mentions_are_always_names_found_after_an_at_sign(body: str) -> None:
    for name in parse_mentions(body):
        assert "@" + name in body
        assert name and len(name) <= 64 and not name.endswith((".", "-", "_"))


def test_task_force_channel_messages_mentions_and_receipts(clock: ManualClock, journal: Journal) -> None:
    _, tf_id = maritime_task_force(clock, journal)
    channel_id = task_force_channel_id(tf_id)
    chan = journal.state().channels[channel_id]
    assert chan.kind is ChannelKind.TASK_FORCE and set(chan.agencies) == {"CG", "CUS"}
    msgs = MessagingService(clock=clock, new_id=counter("msg"), user_exists=lambda n: n in {"alice", "bob"})
    (posted,) = journal.append(
        msgs.post(
            journal.state(),
            PostMessage(channel_id=channel_id, body="@bob @nobody boarding at 14:00", marking=marking("CG")),
            CG_OPS,
        )
    )
    assert isinstance(posted, MessagePosted)
    assert posted.mentions == ("bob",)  # unknown names are not mentions
    assert posted.author_username == "alice" and posted.author_agency == "CG"
    state = journal.state()
    assert [m.id for m in state.channels[channel_id].unread_for(CUS_OPS.id)] == [posted.message_id]
    assert state.channels[channel_id].unread_for(CG_OPS.id) == []  # one's own message is read
    (receipt,) = journal.append(
        msgs.mark_read(
            journal.state(), MarkRead(channel_id=channel_id, message_id=posted.message_id), CUS_OPS
        )
    )
    assert isinstance(receipt, MessageRead) and receipt.user_id == CUS_OPS.id
    assert (
        msgs.mark_read(
            journal.state(), MarkRead(channel_id=channel_id, message_id=posted.message_id), CUS_OPS
        )
        == []
    )
    assert (
        msgs.mark_read(journal.state(), MarkRead(channel_id=channel_id, message_id=posted.message_id), CG_OPS)
        == []
    )
    assert journal.state().channels[channel_id].unread_for(CUS_OPS.id) == []
    assert CUS_OPS.id in journal.state().channels[channel_id].reads[posted.message_id]
    with pytest.raises(NotFound):
        msgs.mark_read(journal.state(), MarkRead(channel_id=channel_id, message_id="nope"), CUS_OPS)


def test_posting_is_checked(clock: ManualClock, journal: Journal) -> None:
    _, tf_id = maritime_task_force(clock, journal)
    channel_id = task_force_channel_id(tf_id)
    msgs = MessagingService(clock=clock, new_id=counter("msg"))
    state = journal.state()
    with pytest.raises(NotFound):  # a channel one's agency is not in does not exist for one
        msgs.post(state, PostMessage(channel_id=channel_id, body="hi", marking=marking("BP")), BP_OPS)
    with pytest.raises(NotFound):
        msgs.post(state, PostMessage(channel_id="nope", body="hi", marking=marking("CG")), CG_OPS)
    with pytest.raises(InvalidInput):  # a marking must originate from the author's agency
        msgs.post(state, PostMessage(channel_id=channel_id, body="hi", marking=marking("CUS")), CG_OPS)
    for body in ["", "   ", "x" * (MAX_MESSAGE_CHARS + 1), "bell\x07", "nul\x00", "del\x7f"]:
        with pytest.raises(InvalidInput):
            msgs.post(state, PostMessage(channel_id=channel_id, body=body, marking=marking("CG")), CG_OPS)
    with pytest.raises(NotAuthorized):
        msgs.post(
            state, PostMessage(channel_id=channel_id, body="hi", marking=marking("CG")), user("CG", "auditor")
        )
    # Injection strings are just text: stored as given, never interpreted.
    body = "'; DROP TABLE messages; -- <script>alert(1)</script> {{7*7}}"
    (posted,) = msgs.post(state, PostMessage(channel_id=channel_id, body=body, marking=marking("CG")), CG_OPS)
    assert isinstance(posted, MessagePosted) and posted.body == body
    joc = user("JOC", "commander")
    with pytest.raises(NotAuthorized):  # JOC may read every channel but only members post
        msgs.post(state, PostMessage(channel_id=channel_id, body="hi", marking=marking("JOC")), joc)


def test_agency_to_agency_channel(clock: ManualClock, journal: Journal) -> None:
    msgs = MessagingService(clock=clock, new_id=counter("msg"))
    (opened,) = journal.append(
        msgs.open_agency_channel(journal.state(), OpenAgencyChannel(partner="CG"), CUS_OPS)
    )
    assert opened.channel_id == agency_channel_id("CG", "CUS") == agency_channel_id("CUS", "CG")
    with pytest.raises(Conflict):
        msgs.open_agency_channel(journal.state(), OpenAgencyChannel(partner="CUS"), CG_OPS)
    with pytest.raises(InvalidInput):
        msgs.open_agency_channel(journal.state(), OpenAgencyChannel(partner="CUS"), CUS_OPS)
    with pytest.raises(InvalidInput):
        msgs.open_agency_channel(
            journal.state(), OpenAgencyChannel(partner="BP", marking=marking("CG")), CUS_OPS
        )
    journal.append(
        msgs.post(
            journal.state(),
            PostMessage(channel_id=opened.channel_id, body="container 7 flagged", marking=marking("CUS")),
            CUS_OPS,
        )
    )
    assert len(journal.state().channels[opened.channel_id].messages) == 1


def test_task_force_membership(clock: ManualClock, journal: Journal) -> None:
    svc, tf_id = maritime_task_force(clock, journal)
    with pytest.raises(NotAuthorized):
        svc.handle(journal.state(), JoinTaskForce(task_force_id=tf_id, agency="BP"), CUS_OPS)
    with pytest.raises(NotAuthorized):
        svc.handle(journal.state(), JoinTaskForce(task_force_id=tf_id, agency="BP"), user("CUS", "commander"))
    journal.append(svc.handle(journal.state(), JoinTaskForce(task_force_id=tf_id, agency="BP"), CG_BOSS))
    state = journal.state()
    assert state.task_forces[tf_id].member_agencies == ["CG", "CUS", "BP"]
    assert "BP" in state.channels[task_force_channel_id(tf_id)].agencies
    with pytest.raises(Conflict):
        svc.handle(state, JoinTaskForce(task_force_id=tf_id, agency="BP"), CG_BOSS)
    with pytest.raises(Conflict):
        svc.handle(state, LeaveTaskForce(task_force_id=tf_id, agency="CG"), CG_BOSS)
    # An agency may withdraw itself (its commander), and the lead may remove others.
    journal.append(
        svc.handle(
            state,
            LeaveTaskForce(task_force_id=tf_id, agency="BP", reason="recalled"),
            user("BP", "commander"),
        )
    )
    with pytest.raises(NotFound):
        svc.handle(journal.state(), LeaveTaskForce(task_force_id=tf_id, agency="BP"), CG_BOSS)
    assert journal.state().task_forces[tf_id].member_agencies == ["CG", "CUS"]


def test_task_force_units_liaisons_incidents_and_disband(clock: ManualClock, journal: Journal) -> None:
    svc, tf_id = maritime_task_force(clock, journal)
    res = ResourceService(clock=clock, new_id=counter("u"))
    journal.append(
        res.register(
            journal.state(),
            RegisterUnit(unit_id="cus-boat", agency="CUS", unit_type=UnitType.BOAT, callsign="C1"),
            user("CUS", "commander"),
        )
    )
    journal.append(
        res.register(
            journal.state(),
            RegisterUnit(unit_id="bp-car", agency="BP", unit_type=UnitType.PATROL, callsign="B1"),
            user("BP", "commander"),
        )
    )
    with pytest.raises(NotAuthorized):  # only the holder attaches its unit
        svc.handle(journal.state(), AttachUnit(task_force_id=tf_id, unit_id="cus-boat"), CG_OPS)
    with pytest.raises(Conflict):  # BP is not a member
        svc.handle(journal.state(), AttachUnit(task_force_id=tf_id, unit_id="bp-car"), BP_OPS)
    journal.append(svc.handle(journal.state(), AttachUnit(task_force_id=tf_id, unit_id="cus-boat"), CUS_OPS))
    assert journal.state().task_forces[tf_id].unit_ids == ["cus-boat"]
    with pytest.raises(Conflict):  # CUS must detach its units before it leaves
        svc.handle(journal.state(), LeaveTaskForce(task_force_id=tf_id, agency="CUS"), CG_BOSS)
    liaison = user("CUS", "liaison", name="lia")
    events = journal.append(
        svc.handle(
            journal.state(),
            AssignLiaison(task_force_id=tf_id, user_id=liaison.id, agency="CUS"),
            user("CUS", "commander"),
        )
    )
    chan_id = liaison_channel_id("CG", liaison.id)
    assert any(getattr(e, "channel_id", None) == chan_id for e in events)
    state = journal.state()
    assert state.task_forces[tf_id].liaisons == {liaison.id: "CUS"}
    assert state.channels[chan_id].kind is ChannelKind.LIAISON
    msgs = MessagingService(clock=clock, new_id=counter("msg"))
    journal.append(
        msgs.post(
            state,
            PostMessage(channel_id=chan_id, body="@cg-boss customs ready", marking=marking("CUS")),
            liaison,
        )
    )
    with pytest.raises(Conflict):
        svc.handle(
            journal.state(), AssignLiaison(task_force_id=tf_id, user_id=liaison.id, agency="CUS"), CG_BOSS
        )
    journal.append(
        svc.handle(journal.state(), RelieveLiaison(task_force_id=tf_id, user_id=liaison.id), CG_BOSS)
    )
    journal.append(
        svc.handle(
            journal.state(), LinkTaskForceToIncident(task_force_id=tf_id, incident_id="inc-9"), CG_BOSS
        )
    )
    journal.append(svc.handle(journal.state(), DetachUnit(task_force_id=tf_id, unit_id="cus-boat"), CG_OPS))
    with pytest.raises(InvalidInput):
        svc.handle(journal.state(), DisbandTaskForce(task_force_id=tf_id, reason=""), CG_BOSS)
    journal.append(
        svc.handle(journal.state(), DisbandTaskForce(task_force_id=tf_id, reason="season over"), CG_BOSS)
    )
    tf = journal.state().task_forces[tf_id]
    assert not tf.active and tf.incident_ids == ["inc-9"] and tf.unit_ids == [] and tf.liaisons == {}
    with pytest.raises(Conflict):
        svc.handle(journal.state(), JoinTaskForce(task_force_id=tf_id, agency="BP"), CG_BOSS)
    with pytest.raises(NotFound):
        svc.handle(journal.state(), JoinTaskForce(task_force_id="nope", agency="BP"), CG_BOSS)


def test_forming_a_task_force_is_checked(clock: ManualClock, journal: Journal) -> None:
    svc = TaskForceService(clock=clock, new_id=counter("tf"))
    state = journal.state()
    with pytest.raises(NotAuthorized):
        svc.form(state, FormTaskForce(name="x", lead_agency="CG", member_agencies=(), standing=True), CG_OPS)
    with pytest.raises(InvalidInput):
        svc.form(state, FormTaskForce(name="x", lead_agency="CG", member_agencies=()), CG_BOSS)
    with pytest.raises(InvalidInput):
        svc.form(state, FormTaskForce(name=" ", lead_agency="CG", member_agencies=(), standing=True), CG_BOSS)
    with pytest.raises(InvalidInput):
        svc.form(
            state,
            FormTaskForce(
                name="x", lead_agency="CG", member_agencies=(), standing=True, marking=marking("CUS")
            ),
            CG_BOSS,
        )
    events = svc.form(
        state,
        FormTaskForce(name="Op Harbour", lead_agency="CG", member_agencies=("CUS",), incident_ids=("i1",)),
        CG_BOSS,
    )
    formed = events[0]
    assert isinstance(formed, TaskForceFormed)
    assert formed.incident_ids == ("i1",) and not formed.standing
