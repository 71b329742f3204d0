"""SLA escalation derived from the journal, never from in-memory timers.

A task has two SLAs: time to acknowledge and time to complete, counted from its creation. When one is
missed, the task's escalation chain runs: step *i* is due ``delay_s`` seconds after the miss. A step
is sent once (an :class:`EscalationNotified` event records it). One acknowledgement stops the whole
chain: acknowledging the task stops the acknowledge chain; completing the task, or acknowledging the
escalation, stops the complete chain. A closed incident escalates nothing.

Because everything here is computed from folded events and an explicit ``now``, a restarted process
that replays the journal finds exactly the same escalations due.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from concord.domain.incident import (
    EscalationPhase,
    Incident,
    IncidentEvent,
    IncidentStatus,
    Task,
    fold_incidents,
)
from concord.domain.types import ensure_utc

__all__ = ["EscalationDue", "due_escalations", "next_escalation_at"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationDue:
    """One escalation step that must be sent now."""

    incident_id: str
    task_id: str
    phase: EscalationPhase
    step_index: int
    agency: str
    role: str
    missed_at: datetime  # when the SLA ran out
    due_at: datetime  # when this step fell due
    exercise: bool = False


def _incidents(source: Incident | Iterable[Incident | IncidentEvent | object]) -> list[Incident]:
    if isinstance(source, Incident):
        return [source]
    items = list(source)
    incidents = [i for i in items if isinstance(i, Incident)]
    events = [e for e in items if not isinstance(e, Incident)]
    if events:
        incidents.extend(fold_incidents(events).values())
    return incidents


def _chains(task: Task) -> list[tuple[EscalationPhase, datetime]]:
    """The phases whose chain is running (SLA missed or not yet), with their deadline."""
    chains: list[tuple[EscalationPhase, datetime]] = []
    if task.completed_at is not None:
        return chains
    if task.acknowledged_at is None and EscalationPhase.ACKNOWLEDGE not in task.escalation_acknowledged:
        chains.append((EscalationPhase.ACKNOWLEDGE, task.ack_due_at))
    if EscalationPhase.COMPLETE not in task.escalation_acknowledged:
        chains.append((EscalationPhase.COMPLETE, task.complete_due_at))
    return chains


def due_escalations(
    source: Incident | Iterable[Incident | IncidentEvent | object], now: datetime
) -> list[EscalationDue]:
    """Every escalation step due at ``now`` and not yet sent, oldest first.

    ``source`` is an incident, several incidents, or journal events (folded here; events of other
    kinds are skipped).
    """
    now = ensure_utc(now)
    due: list[EscalationDue] = []
    for incident in _incidents(source):
        if incident.status is IncidentStatus.CLOSED:
            continue
        for task in incident.tasks.values():
            for phase, deadline in _chains(task):
                if now < deadline:
                    continue
                for index, step in enumerate(task.escalation):
                    step_due = deadline + timedelta(seconds=step.delay_s)
                    if step_due <= now and (phase, index) not in task.notified:
                        due.append(
                            EscalationDue(
                                incident_id=incident.id,
                                task_id=task.id,
                                phase=phase,
                                step_index=index,
                                agency=step.agency,
                                role=step.role,
                                missed_at=deadline,
                                due_at=step_due,
                                exercise=incident.exercise,
                            )
                        )
    due.sort(key=lambda d: (d.due_at, d.incident_id, d.task_id, d.phase.value, d.step_index))
    return due


def next_escalation_at(source: Incident | Iterable[Incident | IncidentEvent | object]) -> datetime | None:
    """When the next escalation step not yet sent falls due (for a scheduler's sleep), or None."""
    moments: list[datetime] = []
    for incident in _incidents(source):
        if incident.status is IncidentStatus.CLOSED:
            continue
        for task in incident.tasks.values():
            for phase, deadline in _chains(task):
                for index, step in enumerate(task.escalation):
                    if (phase, index) not in task.notified:
                        moments.append(deadline + timedelta(seconds=step.delay_s))
    return min(moments) if moments else None
