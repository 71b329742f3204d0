"""Joint task forces: named groups of agencies, units and liaison officers, each with its own channel.

A task force is tied to one or more incidents, or *standing* (a maritime task force that patrols the
coast all year). Its lead agency's commanders (or the joint operations centre's) form, grow, shrink
and disband it; a unit is attached by its holding agency; liaison officers from member agencies get a
channel of their own with the lead agency.
"""

from __future__ import annotations

from collections.abc import Callable

from concord.domain.coordination import (
    ChannelKind,
    ChannelMemberAdded,
    ChannelOpened,
    CoordinationState,
    LiaisonOfficerAssigned,
    LiaisonOfficerRelieved,
    TaskForce,
    TaskForceAgencyJoined,
    TaskForceAgencyLeft,
    TaskForceDisbanded,
    TaskForceFormed,
    TaskForceLinkedToIncident,
    TaskForceUnitAttached,
    TaskForceUnitDetached,
    liaison_channel_id,
    task_force_channel_id,
)
from concord.domain.errors import Conflict, InvalidInput, NotFound
from concord.domain.identity import Role, User
from concord.domain.incident_codec import CoordinationEvent
from concord.domain.marking import Marking
from concord.domain.ports import Clock
from concord.incidents.base import require_role
from concord.incidents.commands import (
    AssignLiaison,
    AttachUnit,
    DetachUnit,
    DisbandTaskForce,
    FormTaskForce,
    JoinTaskForce,
    LeaveTaskForce,
    LinkTaskForceToIncident,
    RelieveLiaison,
)

__all__ = ["TaskForceCommand", "TaskForceService"]

TaskForceCommand = (
    JoinTaskForce
    | LeaveTaskForce
    | AttachUnit
    | DetachUnit
    | AssignLiaison
    | RelieveLiaison
    | LinkTaskForceToIncident
    | DisbandTaskForce
)


def _name(value: str, field: str, max_chars: int = 200) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > max_chars or any(ord(c) < 32 for c in text):
        raise InvalidInput(f"{field} must be 1-{max_chars} printable characters", details={"field": field})
    return text


class TaskForceService:
    """Decides task force commands against the folded coordination state."""

    def __init__(self, *, clock: Clock, new_id: Callable[[], str]) -> None:
        self._clock = clock
        self._new_id = new_id

    def form(self, state: CoordinationState, command: FormTaskForce, user: User) -> list[CoordinationEvent]:
        """Form a task force and open its channel (releasable to its member agencies by default)."""
        lead = command.lead_agency
        require_role(user, [Role.COMMANDER], agencies={lead}, action="form a task force")
        name = _name(command.name, "name")
        members = tuple(dict.fromkeys([lead, *command.member_agencies]))
        for agency in members:
            _name(agency, "member_agencies", 32)
        if not command.standing and not command.incident_ids:
            raise InvalidInput(
                "a task force is standing or tied to at least one incident", details={"field": "incident_ids"}
            )
        tf_id = command.task_force_id or self._new_id()
        if tf_id in state.task_forces:
            raise Conflict(f"task force {tf_id} already exists", details={"task_force_id": tf_id})
        marking = command.marking or Marking(
            classification="RESTRICTED", originator=lead, rel_to=frozenset(members)
        )
        if marking.originator != lead:
            raise InvalidInput(
                "the channel marking must originate from the lead agency", details={"field": "marking"}
            )
        now = self._clock.now()
        channel_id = task_force_channel_id(tf_id)
        return [
            TaskForceFormed(
                at=now,
                actor=user.id,
                task_force_id=tf_id,
                name=name,
                lead_agency=lead,
                member_agencies=members,
                standing=command.standing,
                channel_id=channel_id,
                incident_ids=tuple(dict.fromkeys(command.incident_ids)),
                description=command.description.strip(),
            ),
            ChannelOpened(
                at=now,
                actor=user.id,
                channel_id=channel_id,
                kind=ChannelKind.TASK_FORCE,
                name=name,
                agencies=members,
                marking=marking,
                ref=tf_id,
            ),
        ]

    def handle(
        self, state: CoordinationState, command: TaskForceCommand, user: User
    ) -> list[CoordinationEvent]:
        tf = state.task_forces.get(command.task_force_id)
        if tf is None:
            raise NotFound(
                f"no task force {command.task_force_id!r}", details={"task_force_id": command.task_force_id}
            )
        if not tf.active:
            raise Conflict(f"task force {tf.name} was disbanded", details={"task_force_id": tf.id})
        now = self._clock.now()
        if isinstance(command, JoinTaskForce):
            self._lead_commander(tf, user, "add an agency")
            agency = _name(command.agency, "agency", 32)
            if agency in tf.member_agencies:
                raise Conflict(f"{agency} is already a member", details={"field": "agency"})
            return [
                TaskForceAgencyJoined(at=now, actor=user.id, task_force_id=tf.id, agency=agency),
                ChannelMemberAdded(at=now, actor=user.id, channel_id=tf.channel_id, agency=agency),
            ]
        if isinstance(command, LeaveTaskForce):
            # An agency may withdraw itself; the lead may remove any other member.
            if user.agency != command.agency:
                self._lead_commander(tf, user, "remove an agency")
            else:
                require_role(user, [Role.COMMANDER], action="withdraw from a task force")
            if command.agency == tf.lead_agency:
                raise Conflict(
                    "the lead agency cannot leave its task force; disband it", details={"field": "agency"}
                )
            if command.agency not in tf.member_agencies:
                raise NotFound(f"{command.agency} is not a member", details={"field": "agency"})
            held = [u for u in tf.unit_ids if u in state.units and state.units[u].holder == command.agency]
            if held:
                raise Conflict(
                    f"detach {', '.join(held)} before {command.agency} leaves", details={"unit_ids": held}
                )
            return [
                TaskForceAgencyLeft(
                    at=now,
                    actor=user.id,
                    task_force_id=tf.id,
                    agency=command.agency,
                    reason=command.reason.strip(),
                )
            ]
        if isinstance(command, AttachUnit):
            unit = state.units.get(command.unit_id)
            if unit is None:
                raise NotFound(f"no unit {command.unit_id!r}", details={"unit_id": command.unit_id})
            require_role(
                user, [Role.OPERATOR, Role.COMMANDER], agencies={unit.holder}, action="attach a unit"
            )
            if unit.holder not in tf.member_agencies:
                raise Conflict(f"{unit.holder} is not a member of {tf.name}", details={"unit_id": unit.id})
            if unit.id in tf.unit_ids:
                raise Conflict(f"{unit.callsign} is already attached", details={"unit_id": unit.id})
            return [TaskForceUnitAttached(at=now, actor=user.id, task_force_id=tf.id, unit_id=unit.id)]
        if isinstance(command, DetachUnit):
            if command.unit_id not in tf.unit_ids:
                raise NotFound(
                    f"unit {command.unit_id} is not attached", details={"unit_id": command.unit_id}
                )
            unit = state.units[command.unit_id]
            require_role(
                user,
                [Role.OPERATOR, Role.COMMANDER],
                agencies={unit.holder, tf.lead_agency},
                action="detach a unit",
            )
            return [TaskForceUnitDetached(at=now, actor=user.id, task_force_id=tf.id, unit_id=unit.id)]
        if isinstance(command, AssignLiaison):
            require_role(
                user, [Role.COMMANDER], agencies={tf.lead_agency, command.agency}, action="assign a liaison"
            )
            if command.agency not in tf.member_agencies:
                raise Conflict(f"{command.agency} is not a member of {tf.name}", details={"field": "agency"})
            if command.user_id in tf.liaisons:
                raise Conflict(
                    f"{command.user_id} is already a liaison officer here", details={"field": "user_id"}
                )
            _name(command.user_id, "user_id", 128)
            events: list[CoordinationEvent] = [
                LiaisonOfficerAssigned(
                    at=now, actor=user.id, task_force_id=tf.id, user_id=command.user_id, agency=command.agency
                )
            ]
            channel_id = liaison_channel_id(tf.lead_agency, command.user_id)
            if channel_id not in state.channels:
                events.append(
                    ChannelOpened(
                        at=now,
                        actor=user.id,
                        channel_id=channel_id,
                        kind=ChannelKind.LIAISON,
                        name=f"liaison {command.user_id} ({command.agency}) with {tf.lead_agency}",
                        agencies=tuple(dict.fromkeys((tf.lead_agency, command.agency))),
                        marking=Marking(
                            classification="RESTRICTED",
                            originator=tf.lead_agency,
                            rel_to=frozenset({command.agency}),
                        ),
                        ref=command.user_id,
                    )
                )
            return events
        if isinstance(command, RelieveLiaison):
            if command.user_id not in tf.liaisons:
                raise NotFound(
                    f"{command.user_id} is not a liaison officer here", details={"field": "user_id"}
                )
            require_role(
                user,
                [Role.COMMANDER],
                agencies={tf.lead_agency, tf.liaisons[command.user_id]},
                action="relieve a liaison",
            )
            return [
                LiaisonOfficerRelieved(at=now, actor=user.id, task_force_id=tf.id, user_id=command.user_id)
            ]
        if isinstance(command, LinkTaskForceToIncident):
            self._lead_commander(tf, user, "link an incident")
            if command.incident_id in tf.incident_ids:
                raise Conflict("the incident is already linked", details={"field": "incident_id"})
            _name(command.incident_id, "incident_id", 128)
            return [
                TaskForceLinkedToIncident(
                    at=now, actor=user.id, task_force_id=tf.id, incident_id=command.incident_id
                )
            ]
        if isinstance(command, DisbandTaskForce):
            self._lead_commander(tf, user, "disband a task force")
            reason = _name(command.reason, "reason", 4000)
            return [TaskForceDisbanded(at=now, actor=user.id, task_force_id=tf.id, reason=reason)]
        raise InvalidInput(f"unknown command {type(command).__name__}")

    @staticmethod
    def _lead_commander(tf: TaskForce, user: User, action: str) -> None:
        require_role(user, [Role.COMMANDER], agencies={tf.lead_agency}, action=action)
