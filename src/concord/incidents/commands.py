"""Commands of the coordination area: what a user asks for, in the imperative.

A command is checked by a service against the current state (folded from events) and the user's
agency and roles; if it is allowed, the service returns the events that record it.
"""

from __future__ import annotations

from dataclasses import dataclass

from concord.domain.coordination import UnitStatus, UnitType
from concord.domain.incident import EscalationPhase, EscalationStep, IncidentStatus, Severity
from concord.domain.marking import Marking

__all__ = [
    "AcknowledgeEscalation",
    "AcknowledgeTask",
    "AddNote",
    "AddSupportingAgency",
    "AddTask",
    "ApproveMutualAid",
    "AssignLiaison",
    "AssignTask",
    "AssignUnitToTask",
    "AttachUnit",
    "ChangeIncidentStatus",
    "ChangeSeverity",
    "ChangeUnitStatus",
    "CompleteTask",
    "DeclineMutualAid",
    "DetachUnit",
    "DisbandTaskForce",
    "EscalateTask",
    "FormTaskForce",
    "HandOverUnit",
    "JoinTaskForce",
    "LeaveTaskForce",
    "LinkAlert",
    "LinkTaskForceToIncident",
    "LinkTrack",
    "MarkRead",
    "OpenAgencyChannel",
    "OpenIncident",
    "PostMessage",
    "RegisterUnit",
    "RelieveLiaison",
    "ReleaseMutualAid",
    "ReleaseUnitFromTask",
    "ReopenIncident",
    "RequestMutualAid",
    "ResolveConflict",
    "TransferLead",
]


# ----------------------------------------------------------------------------------------- routing


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveConflict:
    alert_id: str
    conflict_id: str
    decision: str  # the agency that leads
    reason: str


# --------------------------------------------------------------------------------------- incidents


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenIncident:
    """Open an incident. With ``playbook_id`` unset, the playbook is chosen by the alerts' triggers."""

    title: str
    lead_agency: str
    severity: Severity | None = None  # default: the highest impact of the alerts, else medium
    alert_ids: tuple[str, ...] = ()
    track_ids: tuple[str, ...] = ()
    supporting_agencies: tuple[str, ...] = ()
    playbook_id: str | None = None
    use_playbook: bool = True
    marking: Marking | None = None
    exercise: bool = False
    description: str = ""
    incident_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeIncidentStatus:
    incident_id: str
    to_status: IncidentStatus
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReopenIncident:
    incident_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeSeverity:
    incident_id: str
    severity: Severity
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferLead:
    incident_id: str
    lead_agency: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AddSupportingAgency:
    incident_id: str
    agency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkAlert:
    incident_id: str
    alert_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkTrack:
    incident_id: str
    track_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AddNote:
    incident_id: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AddTask:
    incident_id: str
    title: str
    agency: str  # an agency code or "lead"
    role: str
    ack_sla_s: int
    complete_sla_s: int
    escalation: tuple[EscalationStep, ...] = ()
    required: bool = False
    task_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AcknowledgeTask:
    incident_id: str
    task_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignTask:
    incident_id: str
    task_id: str
    agency: str
    role: str
    user_id: str | None = None
    unit_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CompleteTask:
    incident_id: str
    task_id: str
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalateTask:
    incident_id: str
    task_id: str
    agency: str
    role: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AcknowledgeEscalation:
    incident_id: str
    task_id: str
    phase: EscalationPhase


# ------------------------------------------------------------------------------------- task forces


@dataclass(frozen=True, slots=True, kw_only=True)
class FormTaskForce:
    name: str
    lead_agency: str
    member_agencies: tuple[str, ...]
    standing: bool = False
    incident_ids: tuple[str, ...] = ()
    marking: Marking | None = None  # of its channel; default: releasable to the members
    description: str = ""
    task_force_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinTaskForce:
    task_force_id: str
    agency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaveTaskForce:
    task_force_id: str
    agency: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachUnit:
    task_force_id: str
    unit_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DetachUnit:
    task_force_id: str
    unit_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignLiaison:
    task_force_id: str
    user_id: str
    agency: str  # the agency the liaison officer comes from


@dataclass(frozen=True, slots=True, kw_only=True)
class RelieveLiaison:
    task_force_id: str
    user_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkTaskForceToIncident:
    task_force_id: str
    incident_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DisbandTaskForce:
    task_force_id: str
    reason: str


# ------------------------------------------------------------------------------------------- units


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterUnit:
    agency: str
    unit_type: UnitType
    callsign: str
    identity: str | None = None
    capabilities: tuple[str, ...] = ()
    unit_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeUnitStatus:
    unit_id: str
    status: UnitStatus
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignUnitToTask:
    unit_id: str
    incident_id: str
    task_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseUnitFromTask:
    unit_id: str


# -------------------------------------------------------------------------------------- mutual aid


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestMutualAid:
    owning_agency: str
    reason: str
    unit_id: str | None = None
    capability: UnitType | None = None
    incident_id: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApproveMutualAid:
    request_id: str
    unit_id: str | None = None  # required when the request named a capability
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclineMutualAid:
    request_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HandOverUnit:
    request_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseMutualAid:
    request_id: str
    note: str = ""


# --------------------------------------------------------------------------------------- messaging


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenAgencyChannel:
    """Open (once) the channel between the user's agency and ``partner``."""

    partner: str
    marking: Marking | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PostMessage:
    channel_id: str
    body: str
    marking: Marking
    # Chosen by the client to make a retry safe: a second post with the same id is a Conflict.
    message_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkRead:
    channel_id: str
    message_id: str
