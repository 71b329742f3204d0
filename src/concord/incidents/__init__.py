"""Coordination of the joint response: routing and jurisdiction, incidents, playbooks, SLAs and
escalation, task forces, units and mutual aid, messaging.

Every service here decides: it takes the current state (folded from the journal's events), a command
and the user, checks them, and returns the events to append. Nothing is stored and no clock is read
except the injected one. Fold with :meth:`Incident.from_events`, :func:`fold_incidents`,
:func:`fold_routing` and :meth:`CoordinationState.from_events`; read escalations due with
:func:`due_escalations`.
"""

from concord.domain.coordination import CoordinationState
from concord.domain.incident import Incident, fold_incidents, fold_routing
from concord.domain.incident_codec import (
    CoordinationEvent,
    event_from_dict,
    event_from_journal,
    event_to_journal,
    registered_event_types,
)
from concord.incidents.base import SYSTEM_ACTOR, AlertLike, Directory, MayNotify, Reachability, reaches
from concord.incidents.escalation import EscalationDue, due_escalations, next_escalation_at
from concord.incidents.messaging import MessagingService, parse_mentions
from concord.incidents.playbooks import (
    Playbook,
    PlaybookLibrary,
    load_default_playbooks,
    load_playbook,
    load_playbook_dir,
    parse_playbook,
)
from concord.incidents.projection import CoordinationView
from concord.incidents.resources import (
    ResourceGap,
    ResourceService,
    positions_from_tracks,
    resource_disparity,
)
from concord.incidents.routing import (
    DEFAULT_PREFERENCES,
    Area,
    KindPreference,
    PrecedenceRule,
    Router,
    RoutingPolicy,
)
from concord.incidents.service import IncidentService, new_uuid
from concord.incidents.taskforces import TaskForceService

__all__ = [
    "DEFAULT_PREFERENCES",
    "SYSTEM_ACTOR",
    "AlertLike",
    "Area",
    "CoordinationEvent",
    "CoordinationState",
    "CoordinationView",
    "Directory",
    "EscalationDue",
    "Incident",
    "IncidentService",
    "KindPreference",
    "MayNotify",
    "MessagingService",
    "Playbook",
    "PlaybookLibrary",
    "PrecedenceRule",
    "Reachability",
    "ResourceGap",
    "ResourceService",
    "Router",
    "RoutingPolicy",
    "TaskForceService",
    "due_escalations",
    "event_from_dict",
    "event_from_journal",
    "event_to_journal",
    "fold_incidents",
    "fold_routing",
    "load_default_playbooks",
    "load_playbook",
    "load_playbook_dir",
    "new_uuid",
    "next_escalation_at",
    "parse_mentions",
    "parse_playbook",
    "positions_from_tracks",
    "reaches",
    "registered_event_types",
    "resource_disparity",
]
