"""Joint response beyond one incident: task forces, units and resources, mutual aid, channels and messages.

As with incidents, this module holds only the events and what they mean. The services in
:mod:`concord.incidents` decide; the state is rebuilt by folding the journal:

    state = CoordinationState.from_events(all_events)   # other event types are skipped
    state.apply(event)                                  # one more event

Units belong to an agency (``agency``) and are commanded by their ``holder``: the owner, or the
requesting agency while a mutual-aid loan is handed over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from concord.domain.incident_codec import CoordinationEvent, event_type
from concord.domain.marking import Marking
from concord.domain.types import ensure_utc

__all__ = [
    "AidRequest",
    "AidStatus",
    "Channel",
    "ChannelEvent",
    "ChannelKind",
    "ChannelMemberAdded",
    "ChannelOpened",
    "CoordinationState",
    "LiaisonOfficerAssigned",
    "LiaisonOfficerRelieved",
    "Message",
    "MessagePosted",
    "MessageRead",
    "MutualAidApproved",
    "MutualAidDeclined",
    "MutualAidEvent",
    "MutualAidHandedOver",
    "MutualAidReleased",
    "MutualAidRequested",
    "TaskForce",
    "TaskForceAgencyJoined",
    "TaskForceAgencyLeft",
    "TaskForceDisbanded",
    "TaskForceEvent",
    "TaskForceFormed",
    "TaskForceLinkedToIncident",
    "TaskForceUnitAttached",
    "TaskForceUnitDetached",
    "Unit",
    "UnitAssignedToTask",
    "UnitEvent",
    "UnitPositionUpdated",
    "UnitRegistered",
    "UnitReleasedFromTask",
    "UnitStatus",
    "UnitStatusChanged",
    "UnitType",
    "agency_channel_id",
    "incident_channel_id",
    "liaison_channel_id",
    "task_force_channel_id",
]


class UnitType(StrEnum):
    PATROL = "patrol"
    BOAT = "boat"
    AIRCRAFT = "aircraft"
    DRONE = "drone"


class UnitStatus(StrEnum):
    AVAILABLE = "available"
    ASSIGNED = "assigned"
    OUT_OF_SERVICE = "out-of-service"


class AidStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DECLINED = "declined"
    HANDED_OVER = "handed-over"
    RELEASED = "released"


class ChannelKind(StrEnum):
    INCIDENT = "incident"
    TASK_FORCE = "task-force"
    AGENCY = "agency"  # agency to agency
    LIAISON = "liaison"


def incident_channel_id(incident_id: str) -> str:
    return f"incident:{incident_id}"


def task_force_channel_id(task_force_id: str) -> str:
    return f"task-force:{task_force_id}"


def agency_channel_id(first: str, second: str) -> str:
    """The one channel between two agencies, whichever opens it."""
    a, b = sorted((first, second))
    return f"agency:{a}:{b}"


def liaison_channel_id(host_agency: str, liaison_user_id: str) -> str:
    return f"liaison:{host_agency}:{liaison_user_id}"


# ---------------------------------------------------------------------------------------- task forces


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskForceEvent(CoordinationEvent):
    task_force_id: str


@event_type("task-force.formed")
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskForceFormed(TaskForceEvent):
    name: str
    lead_agency: str
    member_agencies: tuple[str, ...]
    standing: bool
    channel_id: str
    incident_ids: tuple[str, ...] = ()
    description: str = ""


@event_type("task-force.agency-joined")
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskForceAgencyJoined(TaskForceEvent):
    agency: str


@event_type("task-force.agency-left")
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskForceAgencyLeft(TaskForceEvent):
    agency: str
    reason: str = ""


@event_type("task-force.unit-attached")
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskForceUnitAttached(TaskForceEvent):
    unit_id: str


@event_type("task-force.unit-detached")
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskForceUnitDetached(TaskForceEvent):
    unit_id: str


@event_type("task-force.liaison-assigned")
@dataclass(frozen=True, slots=True, kw_only=True)
class LiaisonOfficerAssigned(TaskForceEvent):
    user_id: str
    agency: str  # the agency the liaison officer comes from


@event_type("task-force.liaison-relieved")
@dataclass(frozen=True, slots=True, kw_only=True)
class LiaisonOfficerRelieved(TaskForceEvent):
    user_id: str


@event_type("task-force.incident-linked")
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskForceLinkedToIncident(TaskForceEvent):
    incident_id: str


@event_type("task-force.disbanded")
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskForceDisbanded(TaskForceEvent):
    reason: str


# ---------------------------------------------------------------------------------------------- units


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitEvent(CoordinationEvent):
    unit_id: str


@event_type("unit.registered")
@dataclass(frozen=True, slots=True, kw_only=True)
class UnitRegistered(UnitEvent):
    agency: str
    unit_type: UnitType
    callsign: str
    identity: str | None = None  # matches Track.identity (``mmsi:...``, ``tak:...``)
    capabilities: tuple[str, ...] = ()


@event_type("unit.status-changed")
@dataclass(frozen=True, slots=True, kw_only=True)
class UnitStatusChanged(UnitEvent):
    status: UnitStatus
    reason: str = ""


@event_type("unit.position-updated")
@dataclass(frozen=True, slots=True, kw_only=True)
class UnitPositionUpdated(UnitEvent):
    lat: float
    lon: float
    observed_at: datetime
    track_id: str | None = None

    def __post_init__(self) -> None:
        CoordinationEvent.__post_init__(self)
        object.__setattr__(self, "observed_at", ensure_utc(self.observed_at))
        if not (-90.0 <= self.lat <= 90.0 and -180.0 <= self.lon <= 180.0):
            raise ValueError("position out of range")


@event_type("unit.assigned-to-task")
@dataclass(frozen=True, slots=True, kw_only=True)
class UnitAssignedToTask(UnitEvent):
    incident_id: str
    task_id: str


@event_type("unit.released-from-task")
@dataclass(frozen=True, slots=True, kw_only=True)
class UnitReleasedFromTask(UnitEvent):
    incident_id: str
    task_id: str


# ---------------------------------------------------------------------------------------- mutual aid


@dataclass(frozen=True, slots=True, kw_only=True)
class MutualAidEvent(CoordinationEvent):
    request_id: str


@event_type("mutual-aid.requested")
@dataclass(frozen=True, slots=True, kw_only=True)
class MutualAidRequested(MutualAidEvent):
    requesting_agency: str
    owning_agency: str
    reason: str
    unit_id: str | None = None  # a named unit, or
    capability: UnitType | None = None  # any unit of this type
    incident_id: str | None = None


@event_type("mutual-aid.approved")
@dataclass(frozen=True, slots=True, kw_only=True)
class MutualAidApproved(MutualAidEvent):
    unit_id: str
    note: str = ""


@event_type("mutual-aid.declined")
@dataclass(frozen=True, slots=True, kw_only=True)
class MutualAidDeclined(MutualAidEvent):
    reason: str


@event_type("mutual-aid.handed-over")
@dataclass(frozen=True, slots=True, kw_only=True)
class MutualAidHandedOver(MutualAidEvent):
    unit_id: str


@event_type("mutual-aid.released")
@dataclass(frozen=True, slots=True, kw_only=True)
class MutualAidReleased(MutualAidEvent):
    unit_id: str
    note: str = ""


# ------------------------------------------------------------------------------------------ messaging


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(CoordinationEvent):
    channel_id: str


@event_type("channel.opened")
@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelOpened(ChannelEvent):
    kind: ChannelKind
    name: str
    agencies: tuple[str, ...]
    marking: Marking
    ref: str | None = None  # incident id, task force id, or liaison user id
    exercise: bool = False


@event_type("channel.member-added")
@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelMemberAdded(ChannelEvent):
    agency: str


@event_type("message.posted")
@dataclass(frozen=True, slots=True, kw_only=True)
class MessagePosted(ChannelEvent):
    message_id: str
    author_username: str
    author_agency: str
    body: str
    marking: Marking
    mentions: tuple[str, ...] = ()
    exercise: bool = False


@event_type("message.read")
@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRead(ChannelEvent):
    message_id: str
    user_id: str


# ------------------------------------------------------------------------------------------ aggregates


@dataclass(slots=True, kw_only=True)
class TaskForce:
    id: str
    name: str
    lead_agency: str
    member_agencies: list[str]
    standing: bool
    channel_id: str
    formed_at: datetime
    incident_ids: list[str] = field(default_factory=list)
    unit_ids: list[str] = field(default_factory=list)
    liaisons: dict[str, str] = field(default_factory=dict)  # user id -> agency they come from
    description: str = ""
    disbanded_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.disbanded_at is None


@dataclass(slots=True, kw_only=True)
class Unit:
    id: str
    agency: str
    unit_type: UnitType
    callsign: str
    identity: str | None
    capabilities: tuple[str, ...]
    holder: str
    status: UnitStatus = UnitStatus.AVAILABLE
    lat: float | None = None
    lon: float | None = None
    position_at: datetime | None = None
    task: tuple[str, str] | None = None  # (incident id, task id)
    loan_request_id: str | None = None


@dataclass(slots=True, kw_only=True)
class AidRequest:
    id: str
    requesting_agency: str
    owning_agency: str
    reason: str
    requested_at: datetime
    requested_by: str
    unit_id: str | None
    capability: UnitType | None
    incident_id: str | None
    status: AidStatus = AidStatus.REQUESTED
    decided_by: str | None = None
    decision_note: str = ""
    history: list[tuple[datetime, str, AidStatus]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    id: str
    channel_id: str
    author_id: str
    author_username: str
    author_agency: str
    body: str
    marking: Marking
    mentions: tuple[str, ...]
    posted_at: datetime
    exercise: bool = False


@dataclass(slots=True, kw_only=True)
class Channel:
    id: str
    kind: ChannelKind
    name: str
    agencies: list[str]
    marking: Marking
    opened_at: datetime
    ref: str | None = None
    exercise: bool = False
    messages: list[Message] = field(default_factory=list)
    reads: dict[str, dict[str, datetime]] = field(default_factory=dict)  # message id -> user id -> at

    def unread_for(self, user_id: str) -> list[Message]:
        return [
            m for m in self.messages if m.author_id != user_id and user_id not in self.reads.get(m.id, {})
        ]


@dataclass(slots=True, kw_only=True)
class CoordinationState:
    """Task forces, units, mutual-aid requests and channels folded from the journal."""

    task_forces: dict[str, TaskForce] = field(default_factory=dict)
    units: dict[str, Unit] = field(default_factory=dict)
    aid_requests: dict[str, AidRequest] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    version: int = 0

    @classmethod
    def from_events(cls, events: Iterable[object]) -> CoordinationState:
        state = cls()
        for event in events:
            if isinstance(event, TaskForceEvent | UnitEvent | MutualAidEvent | ChannelEvent):
                state.apply(event)
        return state

    def unit_by_identity(self, identity: str) -> Unit | None:
        for unit in self.units.values():
            if unit.identity == identity:
                return unit
        return None

    def apply(self, event: CoordinationEvent) -> None:
        """Evolve the state by one already-decided event."""
        if isinstance(event, TaskForceEvent):
            self._apply_task_force(event)
        elif isinstance(event, UnitEvent):
            self._apply_unit(event)
        elif isinstance(event, MutualAidEvent):
            self._apply_aid(event)
        elif isinstance(event, ChannelEvent):
            self._apply_channel(event)
        else:
            raise ValueError(f"not a coordination event: {event.type}")
        self.version += 1

    def _apply_task_force(self, event: TaskForceEvent) -> None:
        if isinstance(event, TaskForceFormed):
            self.task_forces[event.task_force_id] = TaskForce(
                id=event.task_force_id,
                name=event.name,
                lead_agency=event.lead_agency,
                member_agencies=list(event.member_agencies),
                standing=event.standing,
                channel_id=event.channel_id,
                formed_at=event.at,
                incident_ids=list(event.incident_ids),
                description=event.description,
            )
            return
        tf = self.task_forces[event.task_force_id]
        if isinstance(event, TaskForceAgencyJoined):
            if event.agency not in tf.member_agencies:
                tf.member_agencies.append(event.agency)
        elif isinstance(event, TaskForceAgencyLeft):
            if event.agency in tf.member_agencies:
                tf.member_agencies.remove(event.agency)
        elif isinstance(event, TaskForceUnitAttached):
            if event.unit_id not in tf.unit_ids:
                tf.unit_ids.append(event.unit_id)
        elif isinstance(event, TaskForceUnitDetached):
            if event.unit_id in tf.unit_ids:
                tf.unit_ids.remove(event.unit_id)
        elif isinstance(event, LiaisonOfficerAssigned):
            tf.liaisons[event.user_id] = event.agency
        elif isinstance(event, LiaisonOfficerRelieved):
            tf.liaisons.pop(event.user_id, None)
        elif isinstance(event, TaskForceLinkedToIncident):
            if event.incident_id not in tf.incident_ids:
                tf.incident_ids.append(event.incident_id)
        elif isinstance(event, TaskForceDisbanded):
            tf.disbanded_at = event.at
        else:
            raise ValueError(f"unknown task force event {event.type}")

    def _apply_unit(self, event: UnitEvent) -> None:
        if isinstance(event, UnitRegistered):
            self.units[event.unit_id] = Unit(
                id=event.unit_id,
                agency=event.agency,
                unit_type=event.unit_type,
                callsign=event.callsign,
                identity=event.identity,
                capabilities=event.capabilities,
                holder=event.agency,
            )
            return
        unit = self.units[event.unit_id]
        if isinstance(event, UnitStatusChanged):
            unit.status = event.status
            if event.status is not UnitStatus.ASSIGNED:
                unit.task = None
        elif isinstance(event, UnitPositionUpdated):
            unit.lat, unit.lon, unit.position_at = event.lat, event.lon, event.observed_at
        elif isinstance(event, UnitAssignedToTask):
            unit.task = (event.incident_id, event.task_id)
            unit.status = UnitStatus.ASSIGNED
        elif isinstance(event, UnitReleasedFromTask):
            unit.task = None
            unit.status = UnitStatus.AVAILABLE
        else:
            raise ValueError(f"unknown unit event {event.type}")

    def _apply_aid(self, event: MutualAidEvent) -> None:
        if isinstance(event, MutualAidRequested):
            request = AidRequest(
                id=event.request_id,
                requesting_agency=event.requesting_agency,
                owning_agency=event.owning_agency,
                reason=event.reason,
                requested_at=event.at,
                requested_by=event.actor,
                unit_id=event.unit_id,
                capability=event.capability,
                incident_id=event.incident_id,
            )
            request.history.append((event.at, event.actor, AidStatus.REQUESTED))
            self.aid_requests[event.request_id] = request
            return
        request = self.aid_requests[event.request_id]
        if isinstance(event, MutualAidApproved):
            request.status = AidStatus.APPROVED
            request.unit_id = event.unit_id
            request.decided_by = event.actor
            request.decision_note = event.note
        elif isinstance(event, MutualAidDeclined):
            request.status = AidStatus.DECLINED
            request.decided_by = event.actor
            request.decision_note = event.reason
        elif isinstance(event, MutualAidHandedOver):
            request.status = AidStatus.HANDED_OVER
            unit = self.units[event.unit_id]
            unit.holder = request.requesting_agency
            unit.loan_request_id = request.id
        elif isinstance(event, MutualAidReleased):
            request.status = AidStatus.RELEASED
            unit = self.units[event.unit_id]
            unit.holder = unit.agency
            unit.loan_request_id = None
            unit.task = None
            if unit.status is UnitStatus.ASSIGNED:
                unit.status = UnitStatus.AVAILABLE
        else:
            raise ValueError(f"unknown mutual aid event {event.type}")
        request.history.append((event.at, event.actor, request.status))

    def _apply_channel(self, event: ChannelEvent) -> None:
        if isinstance(event, ChannelOpened):
            self.channels[event.channel_id] = Channel(
                id=event.channel_id,
                kind=event.kind,
                name=event.name,
                agencies=list(event.agencies),
                marking=event.marking,
                opened_at=event.at,
                ref=event.ref,
                exercise=event.exercise,
            )
            return
        channel = self.channels[event.channel_id]
        if isinstance(event, ChannelMemberAdded):
            if event.agency not in channel.agencies:
                channel.agencies.append(event.agency)
        elif isinstance(event, MessagePosted):
            channel.messages.append(
                Message(
                    id=event.message_id,
                    channel_id=event.channel_id,
                    author_id=event.actor,
                    author_username=event.author_username,
                    author_agency=event.author_agency,
                    body=event.body,
                    marking=event.marking,
                    mentions=event.mentions,
                    posted_at=event.at,
                    exercise=event.exercise,
                )
            )
        elif isinstance(event, MessageRead):
            channel.reads.setdefault(event.message_id, {}).setdefault(event.user_id, event.at)
        else:
            raise ValueError(f"unknown channel event {event.type}")
