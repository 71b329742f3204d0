"""One in-memory read model of the whole coordination area, rebuilt from the journal.

The services decide against it; the caller appends the events they return to the journal and then
applies them here. After a restart, :meth:`CoordinationView.from_events` over the journal gives the
same view, timers included.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from concord.domain.coordination import (
    ChannelEvent,
    CoordinationState,
    MutualAidEvent,
    TaskForceEvent,
    UnitEvent,
)
from concord.domain.errors import NotFound
from concord.domain.incident import (
    AlertRouted,
    AlertRouting,
    Incident,
    IncidentEvent,
    IncidentOpened,
    RoutingEvent,
)
from concord.domain.incident_codec import CoordinationEvent
from concord.incidents.escalation import EscalationDue, due_escalations, next_escalation_at

__all__ = ["CoordinationView"]


@dataclass(slots=True)
class CoordinationView:
    """Incidents, alert routings, task forces, units, aid requests and channels."""

    incidents: dict[str, Incident] = field(default_factory=dict)
    routings: dict[str, AlertRouting] = field(default_factory=dict)
    coordination: CoordinationState = field(default_factory=CoordinationState)
    applied: int = 0

    @classmethod
    def from_events(cls, events: Iterable[CoordinationEvent]) -> CoordinationView:
        view = cls()
        view.apply_all(events)
        return view

    def apply_all(self, events: Iterable[CoordinationEvent]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: CoordinationEvent) -> None:
        """Evolve the view by one event of any coordination type."""
        if isinstance(event, IncidentEvent):
            if isinstance(event, IncidentOpened):
                if event.incident_id in self.incidents:
                    raise ValueError(f"incident {event.incident_id} opened twice")
                self.incidents[event.incident_id] = Incident.from_events([event])
            elif event.incident_id in self.incidents:
                self.incidents[event.incident_id].apply(event)
            else:
                raise ValueError(f"{event.type} for incident {event.incident_id} before it was opened")
        elif isinstance(event, RoutingEvent):
            routing = self.routings.get(event.alert_id)
            if routing is None:
                if not isinstance(event, AlertRouted):
                    raise ValueError(f"alert {event.alert_id}: {event.type} before alert.routed")
                self.routings[event.alert_id] = AlertRouting(
                    alert_id=event.alert_id,
                    owner=event.owner,
                    candidates=event.candidates,
                    notified=event.notified,
                    reason=event.reason,
                    routed_at=event.at,
                    exercise=event.exercise,
                )
            else:
                routing.apply(event)
        elif isinstance(event, TaskForceEvent | UnitEvent | MutualAidEvent | ChannelEvent):
            self.coordination.apply(event)
        else:
            raise ValueError(f"not a coordination event: {event.type}")
        self.applied += 1

    def incident(self, incident_id: str) -> Incident:
        incident = self.incidents.get(incident_id)
        if incident is None:
            raise NotFound(f"no incident {incident_id!r}", details={"incident_id": incident_id})
        return incident

    def routing(self, alert_id: str) -> AlertRouting:
        routing = self.routings.get(alert_id)
        if routing is None:
            raise NotFound(f"alert {alert_id!r} was never routed", details={"alert_id": alert_id})
        return routing

    def due_escalations(self, now: datetime) -> list[EscalationDue]:
        return due_escalations(self.incidents.values(), now)

    def next_escalation_at(self) -> datetime | None:
        return next_escalation_at(self.incidents.values())
