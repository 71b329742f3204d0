"""Units and resources of each agency, their assignment to tasks, mutual aid, and the disparity view.

A unit (patrol, boat, aircraft, drone) belongs to one agency and is commanded by its *holder*: the
owner, or the borrowing agency while a mutual-aid loan is handed over. Positions come from the
tracks the fusion engine keeps (TAK and AIS identities), matched by ``identity``.

Mutual aid runs in steps, each an event: requested (by the borrowing agency), approved or declined
(only by a commander of the owning agency, with a reason when declined), handed over (by the owner),
released back (by either side).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from concord.domain.coordination import (
    AidRequest,
    AidStatus,
    CoordinationState,
    MutualAidApproved,
    MutualAidDeclined,
    MutualAidHandedOver,
    MutualAidReleased,
    MutualAidRequested,
    Unit,
    UnitAssignedToTask,
    UnitPositionUpdated,
    UnitRegistered,
    UnitReleasedFromTask,
    UnitStatus,
    UnitStatusChanged,
    UnitType,
)
from concord.domain.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from concord.domain.identity import Role, User
from concord.domain.incident import Incident, IncidentStatus, TaskAssigned
from concord.domain.incident_codec import CoordinationEvent
from concord.domain.ports import Clock
from concord.domain.track import Track, TrackStatus
from concord.incidents.base import require_role
from concord.incidents.commands import (
    ApproveMutualAid,
    AssignUnitToTask,
    ChangeUnitStatus,
    DeclineMutualAid,
    HandOverUnit,
    RegisterUnit,
    ReleaseMutualAid,
    ReleaseUnitFromTask,
    RequestMutualAid,
)

__all__ = ["ResourceGap", "ResourceService", "positions_from_tracks", "resource_disparity"]

_HANDS = (Role.OPERATOR, Role.COMMANDER)


def _text(value: str, field: str, max_chars: int, *, required: bool = True) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if (required and not text) or len(text) > max_chars or any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise InvalidInput(
            f"{field} must be up to {max_chars} printable characters", details={"field": field}
        )
    return text


_E = TypeVar("_E", bound=Enum)


def _enum(cls: type[_E], value: object, field: str) -> _E:
    try:
        return cls(value)
    except ValueError as exc:
        allowed = ", ".join(str(m.value) for m in cls)
        raise InvalidInput(f"{field} must be one of {allowed}", details={"field": field}) from exc


class ResourceService:
    """Decides unit and mutual-aid commands against the folded coordination state."""

    def __init__(self, *, clock: Clock, new_id: Callable[[], str]) -> None:
        self._clock = clock
        self._new_id = new_id

    def _unit(self, state: CoordinationState, unit_id: str) -> Unit:
        unit = state.units.get(unit_id)
        if unit is None:
            raise NotFound(f"no unit {unit_id!r}", details={"unit_id": unit_id})
        return unit

    # ------------------------------------------------------------------------------------- units

    def register(
        self, state: CoordinationState, command: RegisterUnit, user: User
    ) -> list[CoordinationEvent]:
        require_role(user, [Role.COMMANDER, Role.ADMIN], agencies={command.agency}, action="register a unit")
        unit_id = command.unit_id or self._new_id()
        if unit_id in state.units:
            raise Conflict(f"unit {unit_id} already exists", details={"unit_id": unit_id})
        if command.identity is not None and state.unit_by_identity(command.identity) is not None:
            raise Conflict(
                f"identity {command.identity} belongs to another unit", details={"field": "identity"}
            )
        return [
            UnitRegistered(
                at=self._clock.now(),
                actor=user.id,
                unit_id=unit_id,
                agency=_text(command.agency, "agency", 32),
                unit_type=_enum(UnitType, command.unit_type, "unit_type"),
                callsign=_text(command.callsign, "callsign", 64),
                identity=_text(command.identity, "identity", 128) if command.identity is not None else None,
                capabilities=tuple(_text(c, "capabilities", 64) for c in command.capabilities),
            )
        ]

    def change_status(
        self, state: CoordinationState, command: ChangeUnitStatus, user: User
    ) -> list[CoordinationEvent]:
        unit = self._unit(state, command.unit_id)
        require_role(user, _HANDS, agencies={unit.holder}, action="change a unit's status")
        status = _enum(UnitStatus, command.status, "status")
        if status is UnitStatus.ASSIGNED:
            raise InvalidInput("assign a unit to a task to make it assigned", details={"field": "status"})
        if status is unit.status:
            raise Conflict(f"{unit.callsign} is already {status}", details={"field": "status"})
        reason = _text(command.reason, "reason", 4000, required=False)
        return [
            UnitStatusChanged(
                at=self._clock.now(), actor=user.id, unit_id=unit.id, status=status, reason=reason
            )
        ]

    def assign_to_task(
        self, state: CoordinationState, incident: Incident, command: AssignUnitToTask, user: User
    ) -> list[CoordinationEvent]:
        """Put an available unit on a task: a unit event and the task's new assignment."""
        unit = self._unit(state, command.unit_id)
        if command.incident_id != incident.id:
            raise InvalidInput("the command names another incident", details={"field": "incident_id"})
        task = incident.tasks.get(command.task_id)
        if task is None:
            raise NotFound(
                f"incident {incident.id} has no task {command.task_id!r}",
                details={"task_id": command.task_id},
            )
        require_role(user, _HANDS, agencies={unit.holder, incident.lead_agency}, action="assign a unit")
        if incident.status is IncidentStatus.CLOSED or task.completed_at is not None:
            raise Conflict("the incident is closed or the task completed", details={"task_id": task.id})
        if unit.status is not UnitStatus.AVAILABLE:
            raise Conflict(f"{unit.callsign} is {unit.status}", details={"unit_id": unit.id})
        if unit.holder not in incident.agencies:
            raise Conflict(
                f"{unit.callsign} is held by {unit.holder}, which does not take part; request mutual aid",
                details={"unit_id": unit.id},
            )
        now = self._clock.now()
        return [
            UnitAssignedToTask(
                at=now, actor=user.id, unit_id=unit.id, incident_id=incident.id, task_id=task.id
            ),
            TaskAssigned(
                at=now,
                actor=user.id,
                incident_id=incident.id,
                task_id=task.id,
                agency=task.agency,
                role=task.role,
                user_id=task.user_id,
                unit_ids=tuple(dict.fromkeys((*task.unit_ids, unit.id))),
            ),
        ]

    def release_from_task(
        self,
        state: CoordinationState,
        command: ReleaseUnitFromTask,
        user: User,
        incident: Incident | None = None,
    ) -> list[CoordinationEvent]:
        """Take a unit off its task; with the task's ``incident``, the task's unit list is updated too."""
        unit = self._unit(state, command.unit_id)
        require_role(user, _HANDS, agencies={unit.holder}, action="release a unit")
        if unit.task is None:
            raise Conflict(f"{unit.callsign} is not on a task", details={"unit_id": unit.id})
        incident_id, task_id = unit.task
        now = self._clock.now()
        events: list[CoordinationEvent] = [
            UnitReleasedFromTask(
                at=now, actor=user.id, unit_id=unit.id, incident_id=incident_id, task_id=task_id
            )
        ]
        task = incident.tasks.get(task_id) if incident is not None and incident.id == incident_id else None
        if task is not None and unit.id in task.unit_ids and incident is not None:
            if incident.status is not IncidentStatus.CLOSED and task.completed_at is None:
                events.append(
                    TaskAssigned(
                        at=now,
                        actor=user.id,
                        incident_id=incident_id,
                        task_id=task_id,
                        agency=task.agency,
                        role=task.role,
                        user_id=task.user_id,
                        unit_ids=tuple(u for u in task.unit_ids if u != unit.id),
                    )
                )
        return events

    # -------------------------------------------------------------------------------- mutual aid

    def request_aid(
        self, state: CoordinationState, command: RequestMutualAid, user: User
    ) -> list[CoordinationEvent]:
        require_role(user, _HANDS, action="request mutual aid")
        owner = _text(command.owning_agency, "owning_agency", 32)
        if owner == user.agency:
            raise InvalidInput("mutual aid is asked of another agency", details={"field": "owning_agency"})
        if (command.unit_id is None) == (command.capability is None):
            raise InvalidInput("name either a unit or a capability", details={"field": "unit_id"})
        if command.unit_id is not None:
            unit = self._unit(state, command.unit_id)
            if unit.agency != owner:
                raise InvalidInput(
                    f"{unit.callsign} does not belong to {owner}", details={"field": "unit_id"}
                )
        request_id = command.request_id or self._new_id()
        if request_id in state.aid_requests:
            raise Conflict(f"request {request_id} already exists", details={"request_id": request_id})
        return [
            MutualAidRequested(
                at=self._clock.now(),
                actor=user.id,
                request_id=request_id,
                requesting_agency=user.agency,
                owning_agency=owner,
                reason=_text(command.reason, "reason", 4000),
                unit_id=command.unit_id,
                capability=_enum(UnitType, command.capability, "capability")
                if command.capability is not None
                else None,
                incident_id=command.incident_id,
            )
        ]

    def _request(self, state: CoordinationState, request_id: str) -> AidRequest:
        request = state.aid_requests.get(request_id)
        if request is None:
            raise NotFound(f"no mutual aid request {request_id!r}", details={"request_id": request_id})
        return request

    @staticmethod
    def _owner_commander(request: AidRequest, user: User, action: str) -> None:
        if not user.active or Role.COMMANDER not in user.roles or user.agency != request.owning_agency:
            raise NotAuthorized(
                f"only a commander of {request.owning_agency} may {action}",
                details={"user": user.id, "request_id": request.id},
            )

    def approve_aid(
        self, state: CoordinationState, command: ApproveMutualAid, user: User
    ) -> list[CoordinationEvent]:
        request = self._request(state, command.request_id)
        self._owner_commander(request, user, "approve this request")
        if request.status is not AidStatus.REQUESTED:
            raise Conflict(f"request {request.id} is {request.status}", details={"request_id": request.id})
        unit_id = command.unit_id or request.unit_id
        if unit_id is None:
            raise InvalidInput("name the unit you lend", details={"field": "unit_id"})
        if request.unit_id is not None and unit_id != request.unit_id:
            raise InvalidInput(f"the request was for unit {request.unit_id}", details={"field": "unit_id"})
        unit = self._unit(state, unit_id)
        if unit.agency != request.owning_agency:
            raise InvalidInput(
                f"{unit.callsign} does not belong to {request.owning_agency}", details={"field": "unit_id"}
            )
        if request.capability is not None and unit.unit_type is not request.capability:
            raise InvalidInput(f"{unit.callsign} is not a {request.capability}", details={"field": "unit_id"})
        if unit.status is not UnitStatus.AVAILABLE or unit.holder != unit.agency:
            raise Conflict(f"{unit.callsign} is not available", details={"unit_id": unit.id})
        return [
            MutualAidApproved(
                at=self._clock.now(),
                actor=user.id,
                request_id=request.id,
                unit_id=unit.id,
                note=_text(command.note, "note", 4000, required=False),
            )
        ]

    def decline_aid(
        self, state: CoordinationState, command: DeclineMutualAid, user: User
    ) -> list[CoordinationEvent]:
        request = self._request(state, command.request_id)
        self._owner_commander(request, user, "decline this request")
        if request.status is not AidStatus.REQUESTED:
            raise Conflict(f"request {request.id} is {request.status}", details={"request_id": request.id})
        return [
            MutualAidDeclined(
                at=self._clock.now(),
                actor=user.id,
                request_id=request.id,
                reason=_text(command.reason, "reason", 4000),
            )
        ]

    def hand_over(
        self, state: CoordinationState, command: HandOverUnit, user: User
    ) -> list[CoordinationEvent]:
        request = self._request(state, command.request_id)
        require_role(user, _HANDS, agencies={request.owning_agency}, action="hand over a unit")
        if request.status is not AidStatus.APPROVED or request.unit_id is None:
            raise Conflict(
                f"request {request.id} is {request.status}, not approved", details={"request_id": request.id}
            )
        unit = self._unit(state, request.unit_id)
        if unit.status is not UnitStatus.AVAILABLE or unit.holder != unit.agency:
            raise Conflict(f"{unit.callsign} is no longer available", details={"unit_id": unit.id})
        return [
            MutualAidHandedOver(at=self._clock.now(), actor=user.id, request_id=request.id, unit_id=unit.id)
        ]

    def release_aid(
        self, state: CoordinationState, command: ReleaseMutualAid, user: User
    ) -> list[CoordinationEvent]:
        request = self._request(state, command.request_id)
        require_role(
            user, _HANDS, agencies={request.owning_agency, request.requesting_agency}, action="release a unit"
        )
        if request.status is not AidStatus.HANDED_OVER or request.unit_id is None:
            raise Conflict(
                f"request {request.id} is {request.status}, not handed over",
                details={"request_id": request.id},
            )
        return [
            MutualAidReleased(
                at=self._clock.now(),
                actor=user.id,
                request_id=request.id,
                unit_id=request.unit_id,
                note=_text(command.note, "note", 4000, required=False),
            )
        ]


def positions_from_tracks(
    state: CoordinationState, tracks: Iterable[Track], *, actor: str = "system:tracking"
) -> list[UnitPositionUpdated]:
    """Unit positions from the tracks whose identity (TAK uid, MMSI) is a registered unit's.

    A track older than the unit's last known position, or deleted, changes nothing.
    """
    by_identity = {u.identity: u for u in state.units.values() if u.identity}
    updates: dict[str, UnitPositionUpdated] = {}
    for track in tracks:
        if track.identity is None or track.status is TrackStatus.DELETED:
            continue
        unit = by_identity.get(track.identity)
        if unit is None:
            continue
        known = updates[unit.id].observed_at if unit.id in updates else unit.position_at
        if known is not None and track.updated_at <= known:
            continue
        updates[unit.id] = UnitPositionUpdated(
            at=track.updated_at,
            actor=actor,
            unit_id=unit.id,
            lat=track.lat,
            lon=track.lon,
            observed_at=track.updated_at,
            track_id=track.id,
        )
    return list(updates.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceGap:
    """One row of the disparity view: an agency's units of one type against the region's need."""

    agency: str
    unit_type: UnitType
    available: int
    assigned: int
    out_of_service: int
    lent_out: int  # owned, but handed over to another agency
    borrowed: int  # held on loan from another agency
    needed: int

    @property
    def in_service(self) -> int:
        return self.available + self.assigned

    @property
    def shortfall(self) -> int:
        return max(0, self.needed - self.in_service)

    @property
    def surplus(self) -> int:
        return max(0, self.in_service - self.needed)


def resource_disparity(
    state: CoordinationState, needs: Mapping[str, Mapping[UnitType, int]]
) -> list[ResourceGap]:
    """Units each agency holds, by type and status, against ``needs[agency][type]`` (sorted rows).

    Units count for their holder: a boat lent to the border police counts as theirs until released.
    """
    rows: dict[tuple[str, UnitType], dict[str, int]] = {}

    def row(agency: str, unit_type: UnitType) -> dict[str, int]:
        return rows.setdefault(
            (agency, unit_type),
            {"available": 0, "assigned": 0, "out_of_service": 0, "lent_out": 0, "borrowed": 0},
        )

    for agency, by_type in needs.items():
        for unit_type, count in by_type.items():
            if count < 0:
                raise InvalidInput("a need is 0 or more units", details={"field": f"{agency}.{unit_type}"})
            row(agency, _enum(UnitType, unit_type, "needs"))
    for unit in state.units.values():
        counts = row(unit.holder, unit.unit_type)
        counts[unit.status.value.replace("-", "_")] += 1
        if unit.holder != unit.agency:
            counts["borrowed"] += 1
            row(unit.agency, unit.unit_type)["lent_out"] += 1
    return [
        ResourceGap(
            agency=agency,
            unit_type=unit_type,
            needed=needs.get(agency, {}).get(unit_type, 0),
            **counts,
        )
        for (agency, unit_type), counts in sorted(rows.items())
    ]
