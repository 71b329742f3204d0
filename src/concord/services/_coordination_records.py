"""Coordination state as stored records: to and from the JSON of the ``records`` table, and projections.

The projections keep one record per incident, task, alert routing, task force, unit, mutual-aid
request, channel and message. Each projection reads the record it changes, folds the one new event
into it with the domain's own ``apply`` (the same code the live view runs), and writes it back with a
new change number. ``concord replay`` therefore rebuilds exactly the records the commands wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy.engine import Connection

from concord.adapters import records_store as store
from concord.adapters.db import records
from concord.adapters.journal import Projector
from concord.domain.coordination import (
    AidRequest,
    Channel,
    ChannelEvent,
    ChannelMemberAdded,
    CoordinationState,
    MessagePosted,
    MessageRead,
    MutualAidEvent,
    MutualAidHandedOver,
    MutualAidReleased,
    TaskForce,
    TaskForceEvent,
    Unit,
    UnitEvent,
)
from concord.domain.events import JournalEvent
from concord.domain.incident import (
    AlertRouted,
    AlertRouting,
    Incident,
    IncidentEvent,
    IncidentOpened,
    RoutingEvent,
    Task,
)
from concord.domain.incident_codec import CoordinationEvent, event_from_journal, registered_event_types
from concord.domain.marking import Marking
from concord.domain.record import RecordRow
from concord.domain.types import ensure_utc

__all__ = [
    "COORDINATION_KINDS",
    "incident_of",
    "project_coordination_event",
    "register_coordination_projections",
    "routing_of",
    "task_record_id",
    "to_data",
]

COORDINATION_KINDS = ("incident", "task", "routing", "taskforce", "unit", "mutual-aid", "channel", "message")
_MAX_ID = 64

ON_WRITE: list[Callable[[Sequence[RecordRow]], None]] = []
"""Called with the records each projection wrote (the service collects them to announce)."""


# ------------------------------------------------------------------------------------- JSON codec


def to_data(value: Any) -> Any:
    """JSON-able data of a folded aggregate (dataclasses, enums, times, markings, sets, tuples)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    if isinstance(value, Marking):
        return value.to_dict()
    if isinstance(value, set | frozenset):
        return sorted((to_data(v) for v in value), key=repr)
    if isinstance(value, tuple | list):
        return [to_data(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot encode {type(value).__name__}")


def from_data(hint: Any, raw: Any) -> Any:
    """Read back what :func:`to_data` wrote, guided by the type annotation ``hint``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        if raw is None:
            return None
        errors: list[Exception] = []
        for option in (a for a in args if a is not type(None)):
            try:
                return from_data(option, raw)
            except (TypeError, ValueError, KeyError) as exc:
                errors.append(exc)
        raise ValueError(f"no type of {hint!r} reads {raw!r}: {errors}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_data(args[0], v) for v in raw)
        if args:
            return tuple(from_data(a, v) for a, v in zip(args, raw, strict=True))
        return tuple(raw)
    if origin in (list, set, frozenset):
        container: Any = {list: list, set: set, frozenset: frozenset}[origin]
        return container(from_data(args[0], v) for v in raw)
    if origin is dict:
        key_t, val_t = args
        return {from_data(key_t, k): from_data(val_t, v) for k, v in raw.items()}
    if hint is Any:
        return raw
    if hint is datetime:
        return ensure_utc(datetime.fromisoformat(raw))
    if hint is Marking:
        return Marking.from_dict(raw)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(raw)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        kwargs = {
            f.name: from_data(hints[f.name], raw[f.name]) for f in dataclasses.fields(hint) if f.name in raw
        }
        return hint(**kwargs)
    if hint in (str, int, float, bool):
        return hint(raw)
    raise TypeError(f"no decoder for {hint!r}")


# -------------------------------------------------------------------------------- record helpers


def task_record_id(incident_id: str, task_id: str) -> str:
    """The record id of a task: ``<incident>:<task>``, hashed when that would be too long."""
    rid = f"{incident_id}:{task_id}"
    if len(rid) <= _MAX_ID:
        return rid
    return "task-" + hashlib.sha256(rid.encode()).hexdigest()[:40]


def _record_id(value: str) -> str:
    if len(value) <= _MAX_ID:
        return value
    return "h-" + hashlib.sha256(value.encode()).hexdigest()[:48]


def incident_of(row: RecordRow) -> Incident:
    data = dict(row.data)
    data.pop("agencies", None)
    data.pop("open_required_tasks", None)
    incident: Incident = from_data(Incident, data)
    return incident


def routing_of(row: RecordRow) -> AlertRouting:
    data = dict(row.data)
    data.pop("open_conflicts", None)
    routing: AlertRouting = from_data(AlertRouting, data)
    return routing


def _incident_data(incident: Incident) -> dict[str, Any]:
    data: dict[str, Any] = to_data(incident)
    data["agencies"] = sorted(incident.agencies)
    data["open_required_tasks"] = [t.id for t in incident.open_required_tasks()]
    return data


def _task_data(incident: Incident, task: Task) -> dict[str, Any]:
    data: dict[str, Any] = to_data(task)
    data.update(
        incident_id=incident.id,
        incident_title=incident.title,
        incident_status=incident.status.value,
        lead_agency=incident.lead_agency,
        status=task.status.value,
        ack_due_at=to_data(task.ack_due_at),
        complete_due_at=to_data(task.complete_due_at),
    )
    return data


def _row(
    kind: str,
    record_id: str,
    *,
    version: int,
    marking: Marking,
    exercise: bool,
    status: str | None,
    updated_at: datetime,
    data: dict[str, Any],
    lat: float | None = None,
    lon: float | None = None,
) -> RecordRow:
    return RecordRow(
        kind=kind,
        id=_record_id(record_id),
        version=version,
        seq=0,  # numbered when written
        marking=marking,
        exercise=exercise,
        status=status,
        lat=lat,
        lon=lon,
        updated_at=updated_at,
        data=data,
    )


# ------------------------------------------------------------------------------------ projection


def _project_incident(conn: Connection, event: IncidentEvent) -> list[RecordRow]:
    if isinstance(event, IncidentOpened):
        incident = Incident.from_events([event])
    else:
        current = store.get_record(conn, "incident", _record_id(event.incident_id))
        if current is None:
            raise ValueError(f"{event.type} for incident {event.incident_id} before it was opened")
        incident = incident_of(current)
        incident.apply(event)
    rows = [
        _row(
            "incident",
            incident.id,
            version=incident.version,
            marking=incident.marking,
            exercise=incident.exercise,
            status=incident.status.value,
            updated_at=event.at,
            data=_incident_data(incident),
        )
    ]
    task_id = getattr(event, "task_id", None)
    tasks = [incident.tasks[task_id]] if task_id in incident.tasks else list(incident.tasks.values())
    for task in tasks:
        rows.append(
            _row(
                "task",
                task_record_id(incident.id, task.id),
                version=incident.version,
                marking=incident.marking,
                exercise=incident.exercise,
                status=task.status.value,
                updated_at=event.at,
                data=_task_data(incident, task),
            )
        )
    return rows


def _project_routing(conn: Connection, journal: JournalEvent, event: RoutingEvent) -> list[RecordRow]:
    current = store.get_record(conn, "routing", _record_id(event.alert_id))
    if current is None:
        if not isinstance(event, AlertRouted):
            raise ValueError(f"alert {event.alert_id}: {event.type} before alert.routed")
        routing = AlertRouting(
            alert_id=event.alert_id,
            owner=event.owner,
            candidates=event.candidates,
            notified=event.notified,
            reason=event.reason,
            routed_at=event.at,
            exercise=event.exercise,
        )
        version = 1
    else:
        routing = routing_of(current)
        routing.apply(event)
        version = current.version + 1
    data: dict[str, Any] = to_data(routing)
    data["open_conflicts"] = [c.id for c in routing.open_conflicts]
    return [
        _row(
            "routing",
            routing.alert_id,
            version=version,
            marking=journal.marking,
            exercise=routing.exercise,
            status="conflict" if routing.open_conflicts else "routed",
            updated_at=event.at,
            data=data,
        )
    ]


def _load(conn: Connection, kind: str, record_id: str, hint: Any) -> Any:
    row = store.get_record(conn, kind, _record_id(record_id))
    return None if row is None else from_data(hint, row.data)


def _project_state(conn: Connection, journal: JournalEvent, event: CoordinationEvent) -> list[RecordRow]:
    """Task forces, units, aid requests and channels: load what the event touches, apply, write back."""
    state = CoordinationState()
    if isinstance(event, TaskForceEvent):
        tf = _load(conn, "taskforce", event.task_force_id, TaskForce)
        if tf is not None:
            state.task_forces[tf.id] = tf
    unit_id = getattr(event, "unit_id", None)
    if isinstance(event, UnitEvent | MutualAidHandedOver | MutualAidReleased) and unit_id:
        unit = _load(conn, "unit", unit_id, Unit)
        if unit is not None:
            state.units[unit.id] = unit
    if isinstance(event, MutualAidEvent):
        request = _load(conn, "mutual-aid", event.request_id, AidRequest)
        if request is not None:
            state.aid_requests[request.id] = request
    if isinstance(event, ChannelMemberAdded):
        channel = _load(conn, "channel", event.channel_id, Channel)
        if channel is not None:
            state.channels[channel.id] = channel
    try:
        state.apply(event)
    except KeyError as exc:
        raise ValueError(f"{event.type}: unknown {exc} (event out of order?)") from exc
    rows: list[RecordRow] = []
    for tf in state.task_forces.values():
        rows.append(
            _row(
                "taskforce",
                tf.id,
                version=0,
                marking=journal.marking,
                exercise=journal.exercise,
                status="active" if tf.active else "disbanded",
                updated_at=event.at,
                data=to_data(tf),
            )
        )
    for unit in state.units.values():
        rows.append(
            _row(
                "unit",
                unit.id,
                version=0,
                marking=_unit_marking(unit),
                exercise=journal.exercise,
                status=unit.status.value,
                updated_at=event.at,
                data=to_data(unit),
                lat=unit.lat,
                lon=unit.lon,
            )
        )
    for request in state.aid_requests.values():
        rows.append(
            _row(
                "mutual-aid",
                request.id,
                version=0,
                marking=journal.marking,
                exercise=journal.exercise,
                status=request.status.value,
                updated_at=event.at,
                data=to_data(request),
            )
        )
    for channel in state.channels.values():
        data = to_data(channel)
        data.pop("messages", None)
        data.pop("reads", None)
        rows.append(
            _row(
                "channel",
                channel.id,
                version=0,
                marking=channel.marking,
                exercise=channel.exercise,
                status="open",
                updated_at=event.at,
                data=data,
            )
        )
    return rows


def _unit_marking(unit: Unit) -> Marking:
    """A unit is its owner's record, releasable to whoever holds it on loan."""
    return Marking(classification="RESTRICTED", originator=unit.agency, rel_to=frozenset({unit.holder}))


def _project_message(conn: Connection, event: MessagePosted | MessageRead) -> list[RecordRow]:
    if isinstance(event, MessagePosted):
        data: dict[str, Any] = {
            "id": event.message_id,
            "channel_id": event.channel_id,
            "author_id": event.actor,
            "author_username": event.author_username,
            "author_agency": event.author_agency,
            "body": event.body,
            "mentions": list(event.mentions),
            "posted_at": to_data(event.at),
            "read_by": {},
        }
        return [
            _row(
                "message",
                event.message_id,
                version=1,
                marking=event.marking,
                exercise=event.exercise,
                status="posted",
                updated_at=event.at,
                data=data,
            )
        ]
    current = store.get_record(conn, "message", _record_id(event.message_id))
    if current is None:
        raise ValueError(f"message.read for unknown message {event.message_id}")
    data = dict(current.data)
    read_by = dict(data.get("read_by") or {})
    if event.user_id in read_by:
        return []
    read_by[event.user_id] = to_data(event.at)
    data["read_by"] = read_by
    return [dataclasses.replace(current, version=current.version + 1, data=data, seq=0)]


def project_coordination_event(conn: Connection, journal: JournalEvent) -> list[RecordRow]:
    """The records one journal event changes (not yet numbered nor written)."""
    event = event_from_journal(journal)
    if isinstance(event, IncidentEvent):
        return _project_incident(conn, event)
    if isinstance(event, RoutingEvent):
        return _project_routing(conn, journal, event)
    if isinstance(event, MessagePosted | MessageRead):
        return _project_message(conn, event)
    if isinstance(event, TaskForceEvent | UnitEvent | MutualAidEvent | ChannelEvent):
        return _project_state(conn, journal, event)
    raise ValueError(f"not a coordination event: {event.type}")


def _write(conn: Connection, rows: Iterable[RecordRow]) -> list[RecordRow]:
    pending = list(rows)
    if not pending:
        return []
    first = store.next_seqs(conn, len(pending))
    numbered = []
    for i, row in enumerate(pending):
        version = row.version
        if version == 0:  # one more than what is stored
            stored = store.get_record(conn, row.kind, row.id)
            version = 1 if stored is None else stored.version + 1
        numbered.append(dataclasses.replace(row, seq=first + i, version=version))
    store.upsert_records(conn, numbered)
    for hook in ON_WRITE:
        hook(numbered)
    return numbered


def _projection(conn: Connection, journal: JournalEvent) -> None:
    _write(conn, project_coordination_event(conn, journal))


def _reset(conn: Connection) -> None:
    conn.execute(records.delete().where(records.c.kind.in_(COORDINATION_KINDS)))


def register_coordination_projections(projector: Projector) -> None:
    """Project every coordination event type into the records table; ``replay`` starts them afresh."""
    for event_type in registered_event_types():
        projector.register(event_type, _projection)
    projector.add_reset(_reset)
