"""The incident service: decides incident and task commands and returns the events that record them.

The service never stores anything: it reads the current :class:`Incident` (folded from the journal),
checks the command and the user's agency and roles, and returns events. The caller appends them to
the journal and applies them (``incident.apply(event)`` or a fresh fold).

Who may do what:

* open an incident: an operator or commander of the lead agency, or of the joint operations centre;
* change status, severity, supporting agencies, add or assign tasks: an operator or commander of the
  lead agency or the JOC; close, reopen and transfer the lead: a commander of the lead agency or JOC;
* acknowledge or complete a task: a user of the task's agency holding the task's role, or a commander
  of that agency, or a JOC commander;
* link alerts and tracks, add notes, escalate by hand: any non-auditor of a participating agency.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from enum import Enum
from typing import TypeVar

from concord.domain.coordination import ChannelKind, ChannelMemberAdded, ChannelOpened, incident_channel_id
from concord.domain.errors import Conflict, InvalidInput, NotAuthorized, NotFound
from concord.domain.identity import Role, User
from concord.domain.incident import (
    ALLOWED_TRANSITIONS,
    JOC,
    AlertLinked,
    AlertRouting,
    EscalationAcknowledged,
    EscalationNotified,
    EscalationStep,
    Incident,
    IncidentEvent,
    IncidentNoteAdded,
    IncidentOpened,
    IncidentReopened,
    IncidentSeverityChanged,
    IncidentStatus,
    IncidentStatusChanged,
    LeadAgencyChanged,
    Severity,
    SupportingAgencyAdded,
    Task,
    TaskAcknowledged,
    TaskAssigned,
    TaskCompleted,
    TaskCreated,
    TaskEscalated,
    TrackLinked,
)
from concord.domain.incident_codec import CoordinationEvent
from concord.domain.marking import Marking
from concord.domain.ports import Clock
from concord.incidents.base import SYSTEM_ACTOR, AlertLike, impact_rank, require_role
from concord.incidents.commands import (
    AcknowledgeEscalation,
    AcknowledgeTask,
    AddNote,
    AddSupportingAgency,
    AddTask,
    AssignTask,
    ChangeIncidentStatus,
    ChangeSeverity,
    CompleteTask,
    EscalateTask,
    LinkAlert,
    LinkTrack,
    OpenIncident,
    ReopenIncident,
    TransferLead,
)
from concord.incidents.escalation import due_escalations
from concord.incidents.playbooks import LEAD, Playbook, PlaybookLibrary

__all__ = ["IncidentCommand", "IncidentService", "incident_events", "new_uuid"]

IncidentCommand = (
    ChangeIncidentStatus
    | ReopenIncident
    | ChangeSeverity
    | TransferLead
    | AddSupportingAgency
    | LinkAlert
    | LinkTrack
    | AddNote
    | AddTask
    | AcknowledgeTask
    | AssignTask
    | CompleteTask
    | EscalateTask
    | AcknowledgeEscalation
)

_M = TypeVar("_M", bound=Enum)
_LEADERS = (Role.OPERATOR, Role.COMMANDER)
_WORKERS = (Role.OPERATOR, Role.ANALYST, Role.COMMANDER, Role.LIAISON)
_ROLES = frozenset(r.value for r in Role)
MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 4000
MAX_SLA_S = 30 * 24 * 3600
MAX_LINKS = 1000  # alerts, tracks or agencies named in one command


def new_uuid() -> str:
    return uuid.uuid4().hex


def _text(value: str, field: str, *, max_chars: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text", details={"field": field})
    text = value.strip()
    if required and not text:
        raise InvalidInput(f"{field} must not be empty", details={"field": field})
    if len(text) > max_chars:
        raise InvalidInput(f"{field} is longer than {max_chars} characters", details={"field": field})
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise InvalidInput(f"{field} contains control characters", details={"field": field})
    return text


def _code(value: str, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 32 or not value.replace("-", "").isalnum():
        raise InvalidInput(f"{field} must be an agency code", details={"field": field})
    return value


def _role(value: str, field: str = "role") -> str:
    if value not in _ROLES:
        raise InvalidInput(f"{field} must be one of {', '.join(sorted(_ROLES))}", details={"field": field})
    return value


def _member(cls: type[_M], value: object, field: str) -> _M:
    try:
        return cls(value)
    except ValueError as exc:
        allowed = ", ".join(str(m.value) for m in cls)
        raise InvalidInput(f"{field} must be one of {allowed}", details={"field": field}) from exc


def _sla(ack_s: int, complete_s: int) -> None:
    for name, value in (("ack_sla_s", ack_s), ("complete_sla_s", complete_s)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SLA_S:
            raise InvalidInput(
                f"{name} must be a whole number of seconds in 1..{MAX_SLA_S}", details={"field": name}
            )
    if complete_s < ack_s:
        raise InvalidInput(
            "complete_sla_s must not be shorter than ack_sla_s", details={"field": "complete_sla_s"}
        )


class IncidentService:
    """Decides incident and task commands. Collaborators: a clock, the playbooks, an id source."""

    def __init__(
        self,
        *,
        clock: Clock,
        playbooks: PlaybookLibrary | None = None,
        new_id: Callable[[], str] = new_uuid,
    ) -> None:
        self._clock = clock
        self._playbooks = playbooks or PlaybookLibrary()
        self._new_id = new_id

    # ----------------------------------------------------------------------------------- opening

    def open(
        self,
        command: OpenIncident,
        user: User,
        alerts: Sequence[AlertLike] = (),
        *,
        zone_kinds: Collection[str] = (),
    ) -> list[CoordinationEvent]:
        """Open an incident (from alerts or by hand), instantiate its playbook, open its channel.

        ``alerts`` are the alerts named by ``command.alert_ids``; ``zone_kinds`` the kinds of the zones
        they fall in (for playbook triggers).
        """
        lead = _code(command.lead_agency, "lead_agency")
        require_role(user, _LEADERS, agencies={lead}, action="open an incident")
        title = _text(command.title, "title", max_chars=MAX_TITLE_CHARS)
        description = _text(command.description, "description", max_chars=MAX_TEXT_CHARS, required=False)
        for name, items in (
            ("alert_ids", command.alert_ids),
            ("track_ids", command.track_ids),
            ("supporting_agencies", command.supporting_agencies),
        ):
            if len(items) > MAX_LINKS:
                raise InvalidInput(
                    f"{name}: at most {MAX_LINKS} per incident opening", details={"field": name}
                )
        for track_id in command.track_ids:
            _text(track_id, "track_ids", max_chars=128)
        by_id = {a.id: a for a in alerts}
        if len(by_id) != len(alerts) or set(by_id) != set(command.alert_ids):
            raise InvalidInput(
                "the alerts given must be exactly those named in alert_ids", details={"field": "alert_ids"}
            )
        flags = {a.exercise for a in alerts}
        if len(flags) > 1:
            raise InvalidInput(
                "exercise and real alerts cannot share an incident", details={"field": "alert_ids"}
            )
        if command.exercise and flags == {False}:
            raise InvalidInput("an exercise incident cannot hold real alerts", details={"field": "exercise"})
        exercise = command.exercise or flags == {True}
        supporting = tuple(
            dict.fromkeys(_code(a, "supporting_agencies") for a in command.supporting_agencies if a != lead)
        )

        playbook: Playbook | None = None
        if command.use_playbook:
            if command.playbook_id is not None:
                playbook = self._playbooks.get(command.playbook_id)
                if playbook is None:
                    raise NotFound(f"no playbook {command.playbook_id!r}", details={"field": "playbook_id"})
            elif alerts:
                playbook = self._playbooks.select(alerts, zone_kinds)

        severity = command.severity
        if severity is None:
            candidates = [Severity.parse(a.impact) for a in alerts if impact_rank(a.impact) >= 0]
            if playbook is not None and playbook.severity is not None:
                candidates.append(playbook.severity)
            severity = max(candidates, key=lambda s: s.rank) if candidates else Severity.MEDIUM

        marking = command.marking
        for alert in alerts:
            if marking is None:
                # The incident is the lead's product, built from the first alert's marking.
                m = alert.marking
                marking = Marking(
                    classification=m.classification,
                    originator=lead,
                    rel_to=m.rel_to,
                    tlp=m.tlp,
                    categories=m.categories,
                )
            else:
                marking = marking.combine(alert.marking)
        if marking is None:
            marking = Marking.default_for(lead)

        now = self._clock.now()
        incident_id = command.incident_id or self._new_id()
        _text(incident_id, "incident_id", max_chars=128)
        events: list[CoordinationEvent] = [
            IncidentOpened(
                at=now,
                actor=user.id,
                incident_id=incident_id,
                title=title,
                lead_agency=lead,
                severity=severity,
                marking=marking,
                alert_ids=tuple(command.alert_ids),
                track_ids=tuple(dict.fromkeys(command.track_ids)),
                supporting_agencies=supporting,
                playbook_id=playbook.id if playbook else None,
                exercise=exercise,
                description=description,
            )
        ]
        if playbook is not None:
            for spec in playbook.tasks:
                events.append(
                    TaskCreated(
                        at=now,
                        actor=user.id,
                        incident_id=incident_id,
                        task_id=spec.id,
                        title=spec.title,
                        agency=lead if spec.assignee.agency == LEAD else spec.assignee.agency,
                        role=spec.assignee.role,
                        ack_sla_s=spec.sla.acknowledge_s,
                        complete_sla_s=spec.sla.complete_s,
                        escalation=Playbook.escalation_of(spec),
                        required=spec.required,
                        playbook_id=playbook.id,
                    )
                )
        events.append(
            ChannelOpened(
                at=now,
                actor=user.id,
                channel_id=incident_channel_id(incident_id),
                kind=ChannelKind.INCIDENT,
                name=title,
                agencies=(lead, *supporting),
                marking=marking,
                ref=incident_id,
                exercise=exercise,
            )
        )
        return events

    def open_from_alert(
        self,
        alert: AlertLike,
        routing: AlertRouting,
        user: User,
        *,
        zone_kinds: Collection[str] = (),
        title: str | None = None,
    ) -> list[CoordinationEvent]:
        """Open an incident for a routed alert: its owner leads, the other contenders support.

        ``user`` must be allowed to open for the owner (an operator or commander of the owner or of
        the JOC); an automatic opening passes the JOC's service user.
        """
        if routing.alert_id != alert.id:
            raise InvalidInput("routing and alert do not match", details={"field": "alert_id"})
        kind = str(getattr(alert.kind, "value", alert.kind))
        command = OpenIncident(
            title=title or f"{kind} alert {alert.id}",
            lead_agency=routing.owner,
            alert_ids=(alert.id,),
            supporting_agencies=tuple(a for a in routing.candidates if a != routing.owner),
            exercise=alert.exercise,
        )
        return self.open(command, user, [alert], zone_kinds=zone_kinds)

    # ---------------------------------------------------------------------------------- commands

    def handle(
        self, incident: Incident, command: IncidentCommand, user: User, *, alert: AlertLike | None = None
    ) -> list[CoordinationEvent]:
        """Decide one command on ``incident``; ``alert`` is the alert a LinkAlert names."""
        if getattr(command, "incident_id", None) != incident.id:
            raise InvalidInput("the command names another incident", details={"field": "incident_id"})
        if incident.status is IncidentStatus.CLOSED and not isinstance(command, ReopenIncident | AddNote):
            raise Conflict(f"incident {incident.id} is closed; reopen it first", details={"status": "closed"})
        now = self._clock.now()
        if isinstance(command, ChangeIncidentStatus):
            return self._change_status(incident, command, user, now)
        if isinstance(command, ReopenIncident):
            require_role(user, [Role.COMMANDER], agencies={incident.lead_agency}, action="reopen an incident")
            if incident.status is not IncidentStatus.CLOSED:
                raise Conflict(
                    f"incident {incident.id} is {incident.status}, not closed",
                    details={"status": incident.status.value},
                )
            reason = _text(command.reason, "reason", max_chars=MAX_TEXT_CHARS)
            return [IncidentReopened(at=now, actor=user.id, incident_id=incident.id, reason=reason)]
        if isinstance(command, ChangeSeverity):
            require_role(user, _LEADERS, agencies={incident.lead_agency}, action="change severity")
            severity = _member(Severity, command.severity, "severity")
            if severity is incident.severity:
                raise Conflict(f"severity is already {incident.severity}", details={"field": "severity"})
            reason = _text(command.reason, "reason", max_chars=MAX_TEXT_CHARS, required=False)
            return [
                IncidentSeverityChanged(
                    at=now,
                    actor=user.id,
                    incident_id=incident.id,
                    severity=severity,
                    reason=reason,
                )
            ]
        if isinstance(command, TransferLead):
            require_role(user, [Role.COMMANDER], agencies={incident.lead_agency}, action="transfer the lead")
            new_lead = _code(command.lead_agency, "lead_agency")
            if new_lead == incident.lead_agency:
                raise Conflict(f"{new_lead} already leads", details={"field": "lead_agency"})
            reason = _text(command.reason, "reason", max_chars=MAX_TEXT_CHARS)
            events: list[CoordinationEvent] = [
                LeadAgencyChanged(
                    at=now, actor=user.id, incident_id=incident.id, lead_agency=new_lead, reason=reason
                )
            ]
            if new_lead not in incident.agencies:
                events.append(self._channel_member(incident, new_lead, user, now))
            return events
        if isinstance(command, AddSupportingAgency):
            require_role(user, _LEADERS, agencies={incident.lead_agency}, action="add a supporting agency")
            agency = _code(command.agency, "agency")
            if agency in incident.agencies:
                raise Conflict(f"{agency} already takes part", details={"field": "agency"})
            return [
                SupportingAgencyAdded(at=now, actor=user.id, incident_id=incident.id, agency=agency),
                self._channel_member(incident, agency, user, now),
            ]
        if isinstance(command, LinkAlert):
            return self._link_alert(incident, command, user, alert, now)
        if isinstance(command, LinkTrack):
            require_role(user, _WORKERS, agencies=incident.agencies, action="link a track")
            track_id = _text(command.track_id, "track_id", max_chars=128)
            if track_id in incident.track_ids:
                raise Conflict(f"track {track_id} is already linked", details={"field": "track_id"})
            return [TrackLinked(at=now, actor=user.id, incident_id=incident.id, track_id=track_id)]
        if isinstance(command, AddNote):
            require_role(user, _WORKERS, agencies=incident.agencies, action="add a note")
            return [
                IncidentNoteAdded(
                    at=now,
                    actor=user.id,
                    incident_id=incident.id,
                    text=_text(command.text, "text", max_chars=MAX_TEXT_CHARS),
                )
            ]
        if isinstance(command, AddTask):
            return self._add_task(incident, command, user, now)
        return self._task_command(incident, command, user, now)

    def _channel_member(
        self, incident: Incident, agency: str, user: User, now: datetime
    ) -> ChannelMemberAdded:
        return ChannelMemberAdded(
            at=now, actor=user.id, channel_id=incident_channel_id(incident.id), agency=agency
        )

    def _change_status(
        self, incident: Incident, command: ChangeIncidentStatus, user: User, now: datetime
    ) -> list[CoordinationEvent]:
        target = _member(IncidentStatus, command.to_status, "to_status")
        closing = target is IncidentStatus.CLOSED
        require_role(
            user,
            [Role.COMMANDER] if closing else _LEADERS,
            agencies={incident.lead_agency},
            action="close an incident" if closing else "change an incident's status",
        )
        if target not in ALLOWED_TRANSITIONS[incident.status]:
            allowed = ", ".join(sorted(s.value for s in ALLOWED_TRANSITIONS[incident.status])) or "none"
            raise Conflict(
                f"incident {incident.id} cannot go from {incident.status} to {target} (allowed: {allowed})",
                details={"from": incident.status.value, "to": target.value},
            )
        if closing:
            still_open = incident.open_required_tasks()
            if still_open:
                raise Conflict(
                    f"incident {incident.id} has required tasks still open: "
                    + ", ".join(t.id for t in still_open),
                    details={"open_required_tasks": [t.id for t in still_open]},
                )
        reason = _text(command.reason, "reason", max_chars=MAX_TEXT_CHARS, required=False)
        return [
            IncidentStatusChanged(
                at=now,
                actor=user.id,
                incident_id=incident.id,
                from_status=incident.status,
                to_status=target,
                reason=reason,
            )
        ]

    def _link_alert(
        self, incident: Incident, command: LinkAlert, user: User, alert: AlertLike | None, now: datetime
    ) -> list[CoordinationEvent]:
        require_role(user, _WORKERS, agencies=incident.agencies, action="link an alert")
        if alert is None or alert.id != command.alert_id:
            raise InvalidInput("LinkAlert needs the alert it names", details={"field": "alert_id"})
        if alert.id in incident.alert_ids:
            raise Conflict(f"alert {alert.id} is already linked", details={"field": "alert_id"})
        if alert.exercise != incident.exercise:
            raise InvalidInput(
                "exercise and real records cannot be mixed in one incident", details={"field": "alert_id"}
            )
        return [
            AlertLinked(
                at=now,
                actor=user.id,
                incident_id=incident.id,
                alert_id=alert.id,
                marking=alert.marking,
            )
        ]

    def _add_task(
        self, incident: Incident, command: AddTask, user: User, now: datetime
    ) -> list[CoordinationEvent]:
        require_role(user, _LEADERS, agencies={incident.lead_agency}, action="add a task")
        title = _text(command.title, "title", max_chars=MAX_TITLE_CHARS)
        agency = incident.lead_agency if command.agency == LEAD else _code(command.agency, "agency")
        if agency not in incident.agencies:
            raise Conflict(
                f"{agency} does not take part in incident {incident.id}; add it first",
                details={"field": "agency"},
            )
        role = _role(command.role)
        _sla(command.ack_sla_s, command.complete_sla_s)
        steps = tuple(command.escalation)
        for i, step in enumerate(steps):
            if not isinstance(step, EscalationStep) or step.delay_s < 0:
                raise InvalidInput(
                    "escalation steps need a delay_s of 0 or more", details={"field": f"escalation[{i}]"}
                )
            _code(step.agency, f"escalation[{i}].agency")
            _role(step.role, f"escalation[{i}].role")
        if [s.delay_s for s in steps] != sorted(s.delay_s for s in steps):
            raise InvalidInput(
                "escalation steps must be in order of delay_s", details={"field": "escalation"}
            )
        task_id = command.task_id or self._new_id()
        _text(task_id, "task_id", max_chars=128)
        if task_id in incident.tasks:
            raise Conflict(f"task {task_id} already exists", details={"field": "task_id"})
        return [
            TaskCreated(
                at=now,
                actor=user.id,
                incident_id=incident.id,
                task_id=task_id,
                title=title,
                agency=agency,
                role=role,
                ack_sla_s=command.ack_sla_s,
                complete_sla_s=command.complete_sla_s,
                escalation=steps,
                required=command.required,
            )
        ]

    def _task(self, incident: Incident, task_id: str) -> Task:
        task = incident.tasks.get(task_id)
        if task is None:
            raise NotFound(f"incident {incident.id} has no task {task_id!r}", details={"task_id": task_id})
        return task

    @staticmethod
    def _may_work(user: User, task: Task) -> bool:
        if not user.active:
            return False
        if user.agency == JOC and Role.COMMANDER in user.roles:
            return True
        return user.agency == task.agency and (task.role in user.roles or Role.COMMANDER in user.roles)

    def _task_command(
        self,
        incident: Incident,
        command: AcknowledgeTask | AssignTask | CompleteTask | EscalateTask | AcknowledgeEscalation,
        user: User,
        now: datetime,
    ) -> list[CoordinationEvent]:
        task = self._task(incident, command.task_id)
        if task.completed_at is not None:
            raise Conflict(f"task {task.id} is already completed", details={"task_id": task.id})
        if isinstance(command, AcknowledgeTask):
            if not self._may_work(user, task):
                raise NotAuthorized(
                    f"only the {task.role} of {task.agency} (or a commander) may acknowledge task {task.id}",
                    details={"user": user.id, "task_id": task.id},
                )
            if task.acknowledged_at is not None:
                raise Conflict(
                    f"task {task.id} was already acknowledged by {task.acknowledged_by}",
                    details={"task_id": task.id},
                )
            return [TaskAcknowledged(at=now, actor=user.id, incident_id=incident.id, task_id=task.id)]
        if isinstance(command, CompleteTask):
            if not self._may_work(user, task):
                raise NotAuthorized(
                    f"only the {task.role} of {task.agency} (or a commander) may complete task {task.id}",
                    details={"user": user.id, "task_id": task.id},
                )
            note = _text(command.note, "note", max_chars=MAX_TEXT_CHARS, required=False)
            return [TaskCompleted(at=now, actor=user.id, incident_id=incident.id, task_id=task.id, note=note)]
        if isinstance(command, AssignTask):
            require_role(user, _LEADERS, agencies={incident.lead_agency}, action="assign a task")
            agency = incident.lead_agency if command.agency == LEAD else _code(command.agency, "agency")
            if agency not in incident.agencies:
                raise Conflict(
                    f"{agency} does not take part in incident {incident.id}; add it first",
                    details={"field": "agency"},
                )
            return [
                TaskAssigned(
                    at=now,
                    actor=user.id,
                    incident_id=incident.id,
                    task_id=task.id,
                    agency=agency,
                    role=_role(command.role),
                    user_id=command.user_id,
                    unit_ids=tuple(dict.fromkeys(command.unit_ids)),
                )
            ]
        if isinstance(command, EscalateTask):
            require_role(user, _LEADERS, agencies=incident.agencies, action="escalate a task")
            return [
                TaskEscalated(
                    at=now,
                    actor=user.id,
                    incident_id=incident.id,
                    task_id=task.id,
                    agency=_code(command.agency, "agency"),
                    role=_role(command.role),
                    reason=_text(command.reason, "reason", max_chars=MAX_TEXT_CHARS),
                )
            ]
        if isinstance(command, AcknowledgeEscalation):
            return self._acknowledge_escalation(incident, task, command, user, now)
        raise InvalidInput(f"unknown command {type(command).__name__}")

    def _acknowledge_escalation(
        self,
        incident: Incident,
        task: Task,
        command: AcknowledgeEscalation,
        user: User,
        now: datetime,
    ) -> list[CoordinationEvent]:
        phase = command.phase
        sent = sorted(i for p, i in task.notified if p is phase)
        if not sent:
            raise Conflict(
                f"task {task.id} has no {phase} escalation to acknowledge", details={"task_id": task.id}
            )
        if phase in task.escalation_acknowledged:
            raise Conflict(
                f"the {phase} escalation of task {task.id} was already acknowledged",
                details={"task_id": task.id},
            )
        told = {(task.escalation[i].agency, task.escalation[i].role) for i in sent}
        lead_commander = Role.COMMANDER in user.roles and user.agency in {incident.lead_agency, JOC}
        if not user.active or not (lead_commander or any((user.agency, r.value) in told for r in user.roles)):
            raise NotAuthorized(
                "only someone the escalation reached, or a commander of the lead agency, may acknowledge it",
                details={"user": user.id, "task_id": task.id},
            )
        return [
            EscalationAcknowledged(
                at=now, actor=user.id, incident_id=incident.id, task_id=task.id, phase=phase
            )
        ]

    # -------------------------------------------------------------------------------- escalation

    def record_due_escalations(
        self, incident: Incident, now: datetime | None = None
    ) -> list[EscalationNotified]:
        """The EscalationNotified events for every step due now (the caller sends the notices)."""
        moment = now if now is not None else self._clock.now()
        return [
            EscalationNotified(
                at=moment,
                actor=SYSTEM_ACTOR,
                incident_id=due.incident_id,
                task_id=due.task_id,
                phase=due.phase,
                step_index=due.step_index,
                agency=due.agency,
                role=due.role,
                due_at=due.due_at,
            )
            for due in due_escalations(incident, moment)
        ]


def incident_events(events: Sequence[CoordinationEvent]) -> list[IncidentEvent]:
    """The incident events among ``events`` (to apply to an Incident)."""
    return [e for e in events if isinstance(e, IncidentEvent)]
