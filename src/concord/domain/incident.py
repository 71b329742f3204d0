"""Incidents, their tasks and the routing of alerts: events and the aggregates folded from them.

Nothing here decides anything: the services in :mod:`concord.incidents` check commands against the
current state and emit events; this module says what each event means (``Incident.apply``) so that any
projection, after a restart or a replay, is rebuilt by folding the journal:

    incident = Incident.from_events(events_of_that_incident)
    incidents = fold_incidents(all_events)          # every incident, by id
    routing = fold_routing(all_events)              # every routed alert and conflict, by alert id

The incident log is derived from the same events (``Incident.log``): every action, by whom, when.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from concord.domain.incident_codec import CoordinationEvent, event_type
from concord.domain.marking import Marking

__all__ = [
    "ALLOWED_TRANSITIONS",
    "JOC",
    "AlertLinked",
    "AlertRouted",
    "AlertRouting",
    "ConflictResolved",
    "EscalationAcknowledged",
    "EscalationNotified",
    "EscalationPhase",
    "EscalationStep",
    "Incident",
    "IncidentEvent",
    "IncidentNoteAdded",
    "IncidentOpened",
    "IncidentReopened",
    "IncidentSeverityChanged",
    "IncidentStatus",
    "IncidentStatusChanged",
    "JurisdictionConflict",
    "JurisdictionConflictRaised",
    "LeadAgencyChanged",
    "LogEntry",
    "RoutingEvent",
    "Severity",
    "SupportingAgencyAdded",
    "Task",
    "TaskAcknowledged",
    "TaskAssigned",
    "TaskCompleted",
    "TaskCreated",
    "TaskEscalated",
    "TaskStatus",
    "TrackLinked",
    "fold_incidents",
    "fold_routing",
]

JOC = "JOC"
"""The joint operations centre: owner of every alert no agency's area of responsibility covers."""


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACTIVE = "active"
    CONTAINED = "contained"
    CLOSED = "closed"


ALLOWED_TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    # open -> closed is the stand-down of a false alarm; closed -> active only through a reopen.
    IncidentStatus.OPEN: frozenset({IncidentStatus.ACTIVE, IncidentStatus.CLOSED}),
    IncidentStatus.ACTIVE: frozenset({IncidentStatus.CONTAINED}),
    IncidentStatus.CONTAINED: frozenset({IncidentStatus.ACTIVE, IncidentStatus.CLOSED}),
    IncidentStatus.CLOSED: frozenset(),
}


class Severity(StrEnum):
    """EUROSUR impact levels, used as incident severity."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very-high"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    @classmethod
    def parse(cls, value: object) -> Severity:
        """Accept ``very high``, ``VERY_HIGH``, ``very-high`` and an enum of any module alike."""
        text = str(getattr(value, "value", value)).strip().lower().replace("_", "-").replace(" ", "-")
        return cls(text)


_SEVERITY_ORDER: tuple[Severity, ...] = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.VERY_HIGH)


class TaskStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    COMPLETED = "completed"


class EscalationPhase(StrEnum):
    """Which SLA was missed: the time to acknowledge or the time to complete."""

    ACKNOWLEDGE = "acknowledge"
    COMPLETE = "complete"


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationStep:
    """Who is told (``role`` in ``agency``) ``delay_s`` seconds after an SLA was missed."""

    agency: str
    role: str
    delay_s: int


# ---------------------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentEvent(CoordinationEvent):
    """Any event of one incident."""

    incident_id: str

    def summary(self) -> str:
        return self.type


@event_type("incident.opened")
@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentOpened(IncidentEvent):
    title: str
    lead_agency: str
    severity: Severity
    marking: Marking
    alert_ids: tuple[str, ...] = ()
    track_ids: tuple[str, ...] = ()
    supporting_agencies: tuple[str, ...] = ()
    playbook_id: str | None = None
    exercise: bool = False
    description: str = ""

    def summary(self) -> str:
        source = f"from alerts {', '.join(self.alert_ids)}" if self.alert_ids else "by hand"
        playbook = f", playbook {self.playbook_id}" if self.playbook_id else ""
        return f"opened {source}: {self.title!r}, lead {self.lead_agency}, severity {self.severity}{playbook}"


@event_type("incident.status-changed")
@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentStatusChanged(IncidentEvent):
    from_status: IncidentStatus
    to_status: IncidentStatus
    reason: str = ""

    def summary(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"status {self.from_status} -> {self.to_status}{why}"


@event_type("incident.reopened")
@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentReopened(IncidentEvent):
    reason: str

    def summary(self) -> str:
        return f"reopened: {self.reason}"


@event_type("incident.severity-changed")
@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentSeverityChanged(IncidentEvent):
    severity: Severity
    reason: str = ""

    def summary(self) -> str:
        return f"severity set to {self.severity}" + (f" ({self.reason})" if self.reason else "")


@event_type("incident.lead-changed")
@dataclass(frozen=True, slots=True, kw_only=True)
class LeadAgencyChanged(IncidentEvent):
    lead_agency: str
    reason: str

    def summary(self) -> str:
        return f"lead agency is now {self.lead_agency}: {self.reason}"


@event_type("incident.supporting-agency-added")
@dataclass(frozen=True, slots=True, kw_only=True)
class SupportingAgencyAdded(IncidentEvent):
    agency: str

    def summary(self) -> str:
        return f"{self.agency} joined as supporting agency"


@event_type("incident.alert-linked")
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertLinked(IncidentEvent):
    alert_id: str
    marking: Marking

    def summary(self) -> str:
        return f"alert {self.alert_id} linked"


@event_type("incident.track-linked")
@dataclass(frozen=True, slots=True, kw_only=True)
class TrackLinked(IncidentEvent):
    track_id: str

    def summary(self) -> str:
        return f"track {self.track_id} linked"


@event_type("incident.note-added")
@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentNoteAdded(IncidentEvent):
    text: str

    def summary(self) -> str:
        return f"note: {self.text}"


@event_type("task.created")
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCreated(IncidentEvent):
    task_id: str
    title: str
    agency: str
    role: str
    ack_sla_s: int
    complete_sla_s: int
    escalation: tuple[EscalationStep, ...] = ()
    required: bool = False
    playbook_id: str | None = None

    def summary(self) -> str:
        req = " (required before close)" if self.required else ""
        return f"task {self.task_id} {self.title!r} for {self.role} of {self.agency}{req}"


@event_type("task.acknowledged")
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskAcknowledged(IncidentEvent):
    task_id: str

    def summary(self) -> str:
        return f"task {self.task_id} acknowledged"


@event_type("task.assigned")
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskAssigned(IncidentEvent):
    task_id: str
    agency: str
    role: str
    user_id: str | None = None
    unit_ids: tuple[str, ...] = ()

    def summary(self) -> str:
        who = f"user {self.user_id}" if self.user_id else f"{self.role} of {self.agency}"
        units = f" with units {', '.join(self.unit_ids)}" if self.unit_ids else ""
        return f"task {self.task_id} assigned to {who}{units}"


@event_type("task.completed")
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskCompleted(IncidentEvent):
    task_id: str
    note: str = ""

    def summary(self) -> str:
        return f"task {self.task_id} completed" + (f": {self.note}" if self.note else "")


@event_type("task.escalated")
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskEscalated(IncidentEvent):
    """A user escalated a task by hand (the clock's escalations are EscalationNotified)."""

    task_id: str
    agency: str
    role: str
    reason: str

    def summary(self) -> str:
        return f"task {self.task_id} escalated to {self.role} of {self.agency}: {self.reason}"


@event_type("task.escalation-notified")
@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationNotified(IncidentEvent):
    """An escalation step fell due and was sent; recorded so it is never sent twice."""

    task_id: str
    phase: EscalationPhase
    step_index: int
    agency: str
    role: str
    due_at: datetime

    def summary(self) -> str:
        return (
            f"task {self.task_id} missed its {self.phase} SLA: step {self.step_index + 1} "
            f"told {self.role} of {self.agency}"
        )


@event_type("task.escalation-acknowledged")
@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationAcknowledged(IncidentEvent):
    """Someone took the escalation in hand: the rest of that phase's chain is not sent."""

    task_id: str
    phase: EscalationPhase

    def summary(self) -> str:
        return f"escalation of task {self.task_id} ({self.phase}) acknowledged"


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingEvent(CoordinationEvent):
    """Any event of the routing of one alert."""

    alert_id: str


@event_type("alert.routed")
@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRouted(RoutingEvent):
    owner: str
    candidates: tuple[str, ...]
    notified: tuple[str, ...]
    reason: str
    exercise: bool = False


@event_type("alert.jurisdiction-conflict-raised")
@dataclass(frozen=True, slots=True, kw_only=True)
class JurisdictionConflictRaised(RoutingEvent):
    conflict_id: str
    agencies: tuple[str, ...]
    provisional_owner: str


@event_type("alert.conflict-resolved")
@dataclass(frozen=True, slots=True, kw_only=True)
class ConflictResolved(RoutingEvent):
    conflict_id: str
    decision: str
    user: str
    reason: str
    by_precedence: bool = False


# ------------------------------------------------------------------------------------------ aggregates


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """One line of an incident log."""

    at: datetime
    actor: str
    type: str
    summary: str


@dataclass(slots=True, kw_only=True)
class Task:
    """A task of an incident as folded from its events."""

    id: str
    title: str
    agency: str
    role: str
    ack_sla_s: int
    complete_sla_s: int
    escalation: tuple[EscalationStep, ...]
    required: bool
    created_at: datetime
    playbook_id: str | None = None
    user_id: str | None = None
    unit_ids: tuple[str, ...] = ()
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None
    notified: set[tuple[EscalationPhase, int]] = field(default_factory=set)
    escalation_acknowledged: set[EscalationPhase] = field(default_factory=set)

    @property
    def status(self) -> TaskStatus:
        if self.completed_at is not None:
            return TaskStatus.COMPLETED
        if self.acknowledged_at is not None:
            return TaskStatus.ACKNOWLEDGED
        return TaskStatus.OPEN

    @property
    def ack_due_at(self) -> datetime:
        return self.created_at + timedelta(seconds=self.ack_sla_s)

    @property
    def complete_due_at(self) -> datetime:
        return self.created_at + timedelta(seconds=self.complete_sla_s)


@dataclass(slots=True, kw_only=True)
class Incident:
    """An incident folded from its events. Mutated only by :meth:`apply`."""

    id: str
    title: str
    lead_agency: str
    severity: Severity
    marking: Marking
    opened_at: datetime
    opened_by: str
    status: IncidentStatus = IncidentStatus.OPEN
    supporting_agencies: list[str] = field(default_factory=list)
    alert_ids: list[str] = field(default_factory=list)
    track_ids: list[str] = field(default_factory=list)
    playbook_id: str | None = None
    exercise: bool = False
    description: str = ""
    closed_at: datetime | None = None
    tasks: dict[str, Task] = field(default_factory=dict)
    log: list[LogEntry] = field(default_factory=list)
    version: int = 0

    @classmethod
    def from_events(cls, events: Iterable[IncidentEvent]) -> Incident:
        """Fold one incident's events, oldest first; the first must be IncidentOpened."""
        incident: Incident | None = None
        for event in events:
            if incident is None:
                if not isinstance(event, IncidentOpened):
                    raise ValueError(f"an incident starts with incident.opened, not {event.type}")
                incident = cls._opened(event)
            else:
                incident.apply(event)
        if incident is None:
            raise ValueError("no events: nothing to fold")
        return incident

    @classmethod
    def _opened(cls, event: IncidentOpened) -> Incident:
        incident = cls(
            id=event.incident_id,
            title=event.title,
            lead_agency=event.lead_agency,
            severity=event.severity,
            marking=event.marking,
            opened_at=event.at,
            opened_by=event.actor,
            supporting_agencies=list(event.supporting_agencies),
            alert_ids=list(event.alert_ids),
            track_ids=list(event.track_ids),
            playbook_id=event.playbook_id,
            exercise=event.exercise,
            description=event.description,
        )
        incident._log(event)
        return incident

    @property
    def agencies(self) -> frozenset[str]:
        """The lead and every supporting agency."""
        return frozenset({self.lead_agency, *self.supporting_agencies})

    def open_required_tasks(self) -> list[Task]:
        return [t for t in self.tasks.values() if t.required and t.status is not TaskStatus.COMPLETED]

    def _log(self, event: IncidentEvent) -> None:
        self.log.append(LogEntry(at=event.at, actor=event.actor, type=event.type, summary=event.summary()))
        self.version += 1

    def apply(self, event: IncidentEvent) -> None:
        """Evolve this incident by one event (already decided; never refused here)."""
        if event.incident_id != self.id:
            raise ValueError(f"event of incident {event.incident_id} applied to {self.id}")
        if isinstance(event, IncidentOpened):
            raise ValueError(f"incident {self.id} is already open")
        if isinstance(event, IncidentStatusChanged):
            self.status = event.to_status
            self.closed_at = event.at if event.to_status is IncidentStatus.CLOSED else None
        elif isinstance(event, IncidentReopened):
            self.status = IncidentStatus.ACTIVE
            self.closed_at = None
        elif isinstance(event, IncidentSeverityChanged):
            self.severity = event.severity
        elif isinstance(event, LeadAgencyChanged):
            previous = self.lead_agency
            self.lead_agency = event.lead_agency
            if event.lead_agency in self.supporting_agencies:
                self.supporting_agencies.remove(event.lead_agency)
            # The former lead keeps working the incident, now in support.
            if previous not in self.supporting_agencies:
                self.supporting_agencies.append(previous)
        elif isinstance(event, SupportingAgencyAdded):
            if event.agency not in self.supporting_agencies and event.agency != self.lead_agency:
                self.supporting_agencies.append(event.agency)
        elif isinstance(event, AlertLinked):
            if event.alert_id not in self.alert_ids:
                self.alert_ids.append(event.alert_id)
            self.marking = self.marking.combine(event.marking)
        elif isinstance(event, TrackLinked):
            if event.track_id not in self.track_ids:
                self.track_ids.append(event.track_id)
        elif isinstance(event, TaskCreated):
            self.tasks[event.task_id] = Task(
                id=event.task_id,
                title=event.title,
                agency=event.agency,
                role=event.role,
                ack_sla_s=event.ack_sla_s,
                complete_sla_s=event.complete_sla_s,
                escalation=event.escalation,
                required=event.required,
                created_at=event.at,
                playbook_id=event.playbook_id,
            )
        elif isinstance(event, TaskAcknowledged):
            task = self.tasks[event.task_id]
            if task.acknowledged_at is None:
                task.acknowledged_at = event.at
                task.acknowledged_by = event.actor
        elif isinstance(event, TaskAssigned):
            task = self.tasks[event.task_id]
            task.agency = event.agency
            task.role = event.role
            task.user_id = event.user_id
            task.unit_ids = event.unit_ids
        elif isinstance(event, TaskCompleted):
            task = self.tasks[event.task_id]
            task.completed_at = event.at
            task.completed_by = event.actor
        elif isinstance(event, EscalationNotified):
            self.tasks[event.task_id].notified.add((event.phase, event.step_index))
        elif isinstance(event, EscalationAcknowledged):
            self.tasks[event.task_id].escalation_acknowledged.add(event.phase)
        elif isinstance(event, TaskEscalated | IncidentNoteAdded):
            pass  # recorded in the log only
        else:
            raise ValueError(f"unknown incident event {event.type}")
        self._log(event)


def fold_incidents(events: Iterable[object]) -> dict[str, Incident]:
    """Fold every incident event of a journal (other events are skipped), by incident id."""
    incidents: dict[str, Incident] = {}
    for event in events:
        if not isinstance(event, IncidentEvent):
            continue
        if isinstance(event, IncidentOpened):
            if event.incident_id in incidents:
                raise ValueError(f"incident {event.incident_id} opened twice")
            incidents[event.incident_id] = Incident.from_events([event])
        elif event.incident_id in incidents:
            incidents[event.incident_id].apply(event)
        else:
            raise ValueError(f"{event.type} for incident {event.incident_id} before it was opened")
    return incidents


@dataclass(slots=True, kw_only=True)
class JurisdictionConflict:
    """An overlap of jurisdictions on one alert, open until resolved."""

    id: str
    alert_id: str
    agencies: tuple[str, ...]
    raised_at: datetime
    provisional_owner: str
    decision: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    reason: str | None = None
    by_precedence: bool = False

    @property
    def resolved(self) -> bool:
        return self.decision is not None


@dataclass(slots=True, kw_only=True)
class AlertRouting:
    """Who owns an alert and who else was told, folded from its routing events."""

    alert_id: str
    owner: str
    candidates: tuple[str, ...]
    notified: tuple[str, ...]
    reason: str
    routed_at: datetime
    exercise: bool = False
    conflicts: dict[str, JurisdictionConflict] = field(default_factory=dict)

    @property
    def open_conflicts(self) -> list[JurisdictionConflict]:
        return [c for c in self.conflicts.values() if not c.resolved]

    def apply(self, event: RoutingEvent) -> None:
        if isinstance(event, AlertRouted):
            self.owner = event.owner
            self.candidates = event.candidates
            self.notified = event.notified
            self.reason = event.reason
            self.routed_at = event.at
        elif isinstance(event, JurisdictionConflictRaised):
            self.conflicts[event.conflict_id] = JurisdictionConflict(
                id=event.conflict_id,
                alert_id=event.alert_id,
                agencies=event.agencies,
                raised_at=event.at,
                provisional_owner=event.provisional_owner,
            )
        elif isinstance(event, ConflictResolved):
            conflict = self.conflicts[event.conflict_id]
            conflict.decision = event.decision
            conflict.resolved_by = event.user
            conflict.resolved_at = event.at
            conflict.reason = event.reason
            conflict.by_precedence = event.by_precedence
            self.owner = event.decision
        else:
            raise ValueError(f"unknown routing event {event.type}")


def fold_routing(events: Iterable[object]) -> dict[str, AlertRouting]:
    """Fold every routing event of a journal (other events are skipped), by alert id."""
    routings: dict[str, AlertRouting] = {}
    for event in events:
        if not isinstance(event, RoutingEvent):
            continue
        current = routings.get(event.alert_id)
        if current is None:
            if not isinstance(event, AlertRouted):
                raise ValueError(f"alert {event.alert_id}: {event.type} before alert.routed")
            current = AlertRouting(
                alert_id=event.alert_id,
                owner=event.owner,
                candidates=event.candidates,
                notified=event.notified,
                reason=event.reason,
                routed_at=event.at,
                exercise=event.exercise,
            )
            routings[event.alert_id] = current
        else:
            current.apply(event)
    return routings
