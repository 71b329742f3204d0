"""The joint response, wired: routing of alerts, incidents, playbooks, SLAs, task forces, units,
mutual aid and messaging, stored in the journal and projected into the records table.

:class:`CoordinationService` keeps a live :class:`CoordinationView` folded from the journal. Every
command takes the lock, asks the pure services of :mod:`concord.incidents` for the events, appends
them to the journal in one unit of work (their projections into the records table run in the same
transaction), commits, and only then applies them to the live view and announces the changed records
to the picture's listeners (WebSocket stream, TAK fan-out). A failed transaction changes nothing,
neither in the database nor in the view.

Alerts are routed as soon as the picture commits them (the service listens to the picture). SLA
escalations are derived from the journal: :meth:`CoordinationService.tick` records every step due, and
a restarted process finds exactly the same steps due.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from concord.adapters import records_store as store
from concord.adapters.journal import UnitOfWorkFactory, read_events
from concord.domain.alert import Alert
from concord.domain.coordination import (
    ChannelEvent,
    ChannelOpened,
    CoordinationState,
    MessagePosted,
    MessageRead,
    MutualAidEvent,
    MutualAidRequested,
    TaskForceAgencyJoined,
    TaskForceEvent,
    TaskForceFormed,
    UnitEvent,
    UnitRegistered,
)
from concord.domain.errors import Conflict, InvalidInput, NotFound, PolicyError
from concord.domain.events import JournalEvent
from concord.domain.identity import Role, User
from concord.domain.incident import (
    JOC,
    AlertLinked,
    AlertRouting,
    EscalationNotified,
    Incident,
    IncidentEvent,
    IncidentOpened,
    IncidentStatus,
    RoutingEvent,
    Severity,
)
from concord.domain.incident_codec import (
    CoordinationEvent,
    event_from_journal,
    event_to_journal,
    registered_event_types,
)
from concord.domain.marking import Marking
from concord.domain.ports import Clock
from concord.domain.record import RecordRow
from concord.domain.zone import Zone, ZoneKind
from concord.incidents import (
    Area,
    CoordinationView,
    EscalationDue,
    IncidentService,
    MessagingService,
    PlaybookLibrary,
    ResourceService,
    Router,
    RoutingPolicy,
    TaskForceService,
    new_uuid,
)
from concord.incidents.base import AlertLike
from concord.incidents.commands import (
    ApproveMutualAid,
    AssignUnitToTask,
    ChangeUnitStatus,
    DeclineMutualAid,
    FormTaskForce,
    HandOverUnit,
    LinkAlert,
    MarkRead,
    OpenAgencyChannel,
    OpenIncident,
    PostMessage,
    RegisterUnit,
    ReleaseMutualAid,
    ReleaseUnitFromTask,
    RequestMutualAid,
    ResolveConflict,
)
from concord.incidents.playbooks import Playbook, parse_playbook
from concord.incidents.routing import DEFAULT_SETTINGS
from concord.incidents.service import IncidentCommand
from concord.incidents.taskforces import TaskForceCommand
from concord.services import _coordination_records as projection
from concord.services._coordination_records import (
    COORDINATION_KINDS,
    register_coordination_projections,
    task_record_id,
)
from concord.services.records import shareable_of

if TYPE_CHECKING:
    from concord.services.accounts import AccountService
    from concord.services.picture import PictureChange, PictureService
    from concord.services.sharing import SharingService
    from concord.services.zones import ZoneService

__all__ = [
    "COORDINATION_KINDS",
    "SERVICE_USER",
    "CoordinationService",
    "areas_from_zones",
    "register_coordination_projections",
    "run_escalations",
]

log = logging.getLogger(__name__)

# How often a command is decided again when other processes keep writing in between.
_MAX_ATTEMPTS = 5
# Arbitrary constant naming the PostgreSQL advisory lock of coordination commands (see _exclusive).
_PG_COORDINATION_LOCK = 0x434F4E43_434F4F52

SERVICE_USER = User(
    id="system:coordination",
    username="system.coordination",
    agency=JOC,
    roles=frozenset({Role.COMMANDER}),
    clearance="UNCLASSIFIED",
)
"""The joint operations centre's service identity: opens incidents automatically when configured."""

_POINT_AREA_DEG2 = 1e-3  # an AOR this small around a crossing point or port is that ground
_CAPTURE = threading.local()


# ------------------------------------------------------------------------------------------ areas


def _setting_of_aor(aor: Zone, context: Sequence[Zone]) -> str:
    """The ground an AOR is on: the context zone covering most of it (sea, land, port, crossing point)."""
    area = aor.geometry.area
    best, best_share = "land", 0.0
    for zone in context:
        setting = DEFAULT_SETTINGS.get(zone.kind.value)
        if setting is None or not aor.geometry.intersects(zone.geometry):
            continue
        if zone.geometry.area > 0 and area > 0:
            share = aor.geometry.intersection(zone.geometry).area / area
        else:
            share = 1.0 if area < _POINT_AREA_DEG2 and aor.geometry.covers(zone.geometry) else 0.0
        # Ties go to the more specific ground (a port inside territorial sea is a port).
        specific = setting in ("port", "crossing-point")
        if share > best_share or (share == best_share and share > 0 and specific):
            best, best_share = setting, share
    return best


def areas_from_zones(zones: Sequence[Zone]) -> list[Area]:
    """Routing areas: every agency AOR (with its ground derived from geometry) and every context zone."""
    context = [z for z in zones if z.kind.value in DEFAULT_SETTINGS]
    areas = [Area.from_zone(z) for z in context]
    for zone in zones:
        if zone.kind is ZoneKind.AOR and zone.agency:
            areas.append(Area.from_zone(zone, setting=_setting_of_aor(zone, context)))
    return areas


def _alert_of(row: RecordRow) -> Alert:
    return Alert.from_dict({**row.data, "marking": row.marking.to_dict()})


class CoordinationService:
    """Commands and reads of the coordination area, journaled, projected and announced."""

    def __init__(
        self,
        *,
        engine: Engine,
        uow: UnitOfWorkFactory,
        clock: Clock,
        zones: ZoneService,
        accounts: AccountService,
        sharing: SharingService,
        picture: PictureService,
        policy: RoutingPolicy | None = None,
        auto_open_impact: Severity | None = None,
        new_id: Callable[[], str] = new_uuid,
    ) -> None:
        self._engine = engine
        self._uow = uow
        self._clock = clock
        self._zones = zones
        self._accounts = accounts
        self._sharing = sharing
        self._picture = picture
        self._policy = policy or RoutingPolicy()
        self._auto_open_impact = auto_open_impact
        self._new_id = new_id
        self._lock = threading.RLock()
        self._reachable: frozenset[tuple[str, str]] | None = None
        self.playbooks = PlaybookLibrary()
        self.playbook_problems: list[str] = []
        self.incidents = IncidentService(clock=clock, playbooks=self.playbooks, new_id=new_id)
        self.task_forces = TaskForceService(clock=clock, new_id=new_id)
        self.resources = ResourceService(clock=clock, new_id=new_id)
        self.messaging = MessagingService(clock=clock, new_id=new_id, user_exists=self._user_exists)
        self.router = Router([], clock=clock, may_notify=self._may_notify, policy=self._policy)
        self._view_seq = 0
        self._view = self._fold()
        self.zones_changed(zones.zones())
        self.reload_playbooks()

    # ------------------------------------------------------------------------------ set-up

    def _fold(self) -> CoordinationView:
        """The view folded from every coordination event of the journal (sets the view's position)."""
        types = list(registered_event_types())
        with self._engine.connect() as conn:
            stored = list(read_events(conn, types=types))
        self._view_seq = max((e.seq or 0 for e in stored), default=0)
        return CoordinationView.from_events([event_from_journal(e) for e in stored])

    @property
    def view(self) -> CoordinationView:
        """The coordination state, brought up to date with what other processes journalled.

        Several processes (API nodes, tracker workers) share one journal. A read first takes in the
        events others appended since this view last looked (one indexed query, usually empty);
        commands are also checked at commit time, under the journal lock (see :meth:`_commit`).
        """
        with self._lock:
            self._catch_up()
        return self._view

    @view.setter
    def view(self, value: CoordinationView) -> None:
        self._view = value

    def _catch_up(self) -> None:
        """Apply the coordination events journalled after this view's position. Caller holds the lock."""
        types = list(registered_event_types())
        with self._engine.connect() as conn:
            stored = list(read_events(conn, after_seq=self._view_seq, types=types))
        if not stored:
            return
        try:
            self._view.apply_all([event_from_journal(e) for e in stored])
        except (ValueError, KeyError):
            log.exception("coordination view diverged from the journal; folding it again")
            self._view = self._fold()
            return
        self._view_seq = max(self._view_seq, *(e.seq or 0 for e in stored))

    def rebuild(self) -> None:
        """Fold the live view afresh from the journal (after another process wrote, or a failure)."""
        with self._lock:
            self.view = self._fold()

    def zones_changed(self, zones: Sequence[Zone]) -> None:
        """Route with new areas from now on (called when zones are imported)."""
        with self._lock:
            self.router = Router(
                areas_from_zones(zones), clock=self._clock, may_notify=self._may_notify, policy=self._policy
            )

    def _reachability(self) -> frozenset[tuple[str, str]]:
        return frozenset(
            (u.agency, role.value) for u in self._accounts.list_users() if u.active for role in u.roles
        )

    def reload_playbooks(self, *, force: bool = False) -> PlaybookLibrary:
        """Load the shipped playbooks against who can be reached now; a playbook whose steps reach
        nobody is left out (and named in ``playbook_problems``) until the users exist."""
        reachable = self._reachability()
        with self._lock:
            if not force and reachable == self._reachable:
                return self.playbooks
            folder = resources.files("concord.incidents").joinpath("playbooks")
            loaded: list[Playbook] = []
            problems: list[str] = []
            for entry in sorted(folder.iterdir(), key=lambda e: e.name):
                if not entry.name.endswith((".yaml", ".yml")):
                    continue
                try:
                    loaded.append(
                        parse_playbook(
                            entry.read_bytes(), source=f"playbooks/{entry.name}", reachable=reachable
                        )
                    )
                except PolicyError as exc:
                    problems.append(exc.message)
            self.playbooks = PlaybookLibrary(loaded)
            self.playbook_problems = problems
            self._reachable = reachable
            self.incidents = IncidentService(clock=self._clock, playbooks=self.playbooks, new_id=self._new_id)
            return self.playbooks

    def _user_exists(self, username: str) -> bool:
        try:
            self._accounts.get_user_by_username(username)
        except NotFound:
            return False
        return True

    # ---------------------------------------------------------------------- release gate

    def _may_notify(self, _owner: str, partner: str, alert: AlertLike) -> bool:
        """Would a user of ``partner`` be released this alert? (Nobody to tell means no.)"""
        row = self._alert_row(alert.id)
        if row is None:
            return False
        now = self._clock.now()
        gate = self._sharing.gate
        for user in self._accounts.list_users(agency=partner):
            if not user.active:
                continue
            result = gate.release(shareable_of(row), user.viewer(), now, exercise_session=row.exercise)
            if not _withheld(result):
                return True
        return False

    def _alert_row(self, alert_id: str) -> RecordRow | None:
        with self._engine.connect() as conn:
            return store.get_record(conn, "alert", alert_id)

    def alert(self, alert_id: str) -> Alert:
        row = self._alert_row(alert_id)
        if row is None:
            raise NotFound(f"no alert {alert_id!r}", details={"alert_id": alert_id})
        return _alert_of(row)

    # -------------------------------------------------------------------- journal + view

    def _marking_of(
        self, event: CoordinationEvent, batch: Sequence[CoordinationEvent]
    ) -> tuple[str, Marking, bool]:
        """(agency, marking, exercise) of the journal entry for ``event``."""
        view = self._view
        if isinstance(event, IncidentOpened):
            return event.lead_agency, event.marking, event.exercise
        if isinstance(event, IncidentEvent):
            opened = next(
                (e for e in batch if isinstance(e, IncidentOpened) and e.incident_id == event.incident_id),
                None,
            )
            if opened is not None:
                return opened.lead_agency, opened.marking, opened.exercise
            incident = view.incident(event.incident_id)
            marking = incident.marking
            if isinstance(event, AlertLinked):
                marking = marking.combine(event.marking)
            return incident.lead_agency, marking, incident.exercise
        if isinstance(event, ChannelOpened):
            return event.marking.originator, event.marking, event.exercise
        if isinstance(event, MessagePosted):
            return event.author_agency, event.marking, event.exercise
        if isinstance(event, MessageRead):
            channel = view.coordination.channels[event.channel_id]
            message = next(m for m in channel.messages if m.id == event.message_id)
            return message.author_agency, message.marking, message.exercise
        if isinstance(event, ChannelEvent):
            channel_opened = next(
                (e for e in batch if isinstance(e, ChannelOpened) and e.channel_id == event.channel_id), None
            )
            if channel_opened is not None:
                return channel_opened.marking.originator, channel_opened.marking, channel_opened.exercise
            channel = view.coordination.channels[event.channel_id]
            return channel.marking.originator, channel.marking, channel.exercise
        if isinstance(event, TaskForceEvent):
            if isinstance(event, TaskForceFormed):
                lead, members = event.lead_agency, set(event.member_agencies)
            else:
                tf = view.coordination.task_forces[event.task_force_id]
                lead, members = tf.lead_agency, set(tf.member_agencies)
            members |= {e.agency for e in batch if isinstance(e, TaskForceAgencyJoined)}
            return (
                lead,
                Marking(classification="RESTRICTED", originator=lead, rel_to=frozenset(members)),
                False,
            )
        if isinstance(event, UnitEvent):
            if isinstance(event, UnitRegistered):
                agency, holder = event.agency, event.agency
            else:
                unit = view.coordination.units[event.unit_id]
                agency, holder = unit.agency, unit.holder
            return (
                agency,
                Marking(classification="RESTRICTED", originator=agency, rel_to=frozenset({holder})),
                False,
            )
        if isinstance(event, MutualAidEvent):
            if isinstance(event, MutualAidRequested):
                requester, owner = event.requesting_agency, event.owning_agency
            else:
                request = view.coordination.aid_requests[event.request_id]
                requester, owner = request.requesting_agency, request.owning_agency
            return (
                requester,
                Marking(classification="RESTRICTED", originator=requester, rel_to=frozenset({owner})),
                False,
            )
        raise InvalidInput(f"no marking rule for {event.type}")

    def _check_fresh(self, conn: Connection, events: Sequence[CoordinationEvent]) -> None:
        """Refuse when another process changed an incident since this view folded it.

        Run after this transaction appended its events (the journal lock is then held), so the stored
        incident must be exactly the view's version plus this batch's events of that incident.
        """
        added: dict[str, int] = {}
        for event in events:
            if isinstance(event, IncidentEvent):
                added[event.incident_id] = added.get(event.incident_id, 0) + 1
        for incident_id, count in added.items():
            incident = self._view.incidents.get(incident_id)
            stored = store.get_record(conn, "incident", incident_id)
            expected = (incident.version if incident is not None else 0) + count
            if stored is not None and stored.version != expected:
                raise _Stale(incident_id)

    def _check_behind(self, conn: Connection, ours: set[int | None]) -> None:
        """Refuse when another process journalled coordination events this view has not seen.

        Run after this transaction appended its events, so the journal lock is held (PostgreSQL) or
        the database is locked for writing (SQLite): nothing can slip in between this check and the
        commit. The caller catches up and decides again.
        """
        types = list(registered_event_types())
        for event in read_events(conn, after_seq=self._view_seq, types=types, batch=len(ours) + 1):
            if event.seq not in ours:
                raise _Behind()

    def _commit(
        self,
        events: Sequence[CoordinationEvent],
        *,
        routing_marking: Marking | None = None,
        routing_agency: str | None = None,
        routing_exercise: bool = False,
    ) -> list[RecordRow]:
        """Journal ``events`` in one unit of work, then apply them to the view. Caller holds the lock."""
        if not events:
            return []
        entries: list[JournalEvent] = []
        for event in events:
            if isinstance(event, RoutingEvent):
                if routing_marking is None:
                    raise InvalidInput("routing events need the alert's marking")
                agency = routing_agency or routing_marking.originator
                entries.append(
                    event_to_journal(event, agency=agency, marking=routing_marking, exercise=routing_exercise)
                )
            else:
                agency, marking, exercise = self._marking_of(event, events)
                entries.append(event_to_journal(event, agency=agency, marking=marking, exercise=exercise))
        try:
            with _capture() as written, self._uow() as uow:
                stored = [uow.append(entry) for entry in entries]
                self._check_behind(uow.conn, {e.seq for e in stored})
                self._check_fresh(uow.conn, events)
                uow.commit()
        except _Stale as stale:
            self.view = self._fold()
            raise Conflict(
                f"incident {stale.incident_id} was changed by someone else; look again and retry",
                details={"incident_id": stale.incident_id},
            ) from None
        try:
            self._view.apply_all(events)
        except (ValueError, KeyError):
            log.exception("coordination view diverged from the journal; folding it again")
            self.view = self._fold()
        else:
            self._view_seq = max(self._view_seq, *(e.seq or 0 for e in stored))
        latest: dict[tuple[str, str], RecordRow] = {}
        for row in written:
            latest[(row.kind, row.id)] = row
        return sorted(latest.values(), key=lambda r: r.seq)

    def _announce(self, rows: Sequence[RecordRow]) -> None:
        if rows:
            self._picture.announce(rows)

    def _run(self, decide: Callable[[], list[CoordinationEvent]]) -> list[RecordRow]:
        with self._lock:
            rows = self._decide_and_commit(decide)
        self._announce(rows)
        return rows

    def _decide_and_commit(
        self, decide: Callable[[], list[CoordinationEvent]], **commit: Any
    ) -> list[RecordRow]:
        """Decide on the latest state and commit; decide again when another process wrote in between.

        Caller holds the lock.
        """
        for _attempt in range(_MAX_ATTEMPTS):
            with self._exclusive():
                self._catch_up()
                try:
                    return self._commit(decide(), **commit)
                except _Behind:
                    continue
        raise Conflict("the coordination state kept changing under this command; retry")

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """While held, no other process decides a coordination command (PostgreSQL advisory lock).

        Processes sharing the database would otherwise overtake one another between catching up and
        committing (caught by :meth:`_check_behind`, and decided again). Only coordination commands
        take this lock, and before the journal lock, so it cannot deadlock with the picture's writes.
        On SQLite one process writes anyway.
        """
        if self._engine.dialect.name != "postgresql":
            yield
            return
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_COORDINATION_LOCK})
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_COORDINATION_LOCK})

    # -------------------------------------------------------------------------- routing

    def on_picture_change(self, change: PictureChange) -> None:
        """Picture listener: route every alert not routed yet, right after the picture committed it."""
        for row in change.rows:
            if row.kind == "alert" and row.id not in self.view.routings:
                try:
                    self._route_row(row)
                except Exception:
                    log.exception("routing alert %s failed", row.id)

    def route_alert(self, alert_id: str) -> AlertRouting:
        """Route an alert now if it was not yet routed; return its routing."""
        row = self._alert_row(alert_id)
        if row is None:
            raise NotFound(f"no alert {alert_id!r}", details={"alert_id": alert_id})
        self._route_row(row)
        return self.view.routing(alert_id)

    def _route_row(self, row: RecordRow) -> None:
        alert = _alert_of(row)
        with self._lock:
            for _attempt in range(_MAX_ATTEMPTS):
                with self._exclusive():
                    self._catch_up()
                    if alert.id in self._view.routings:
                        return  # routed already, perhaps by another process
                    events = list(self.router.route(alert))
                    owner = self._owner_after(events)
                    try:
                        rows = self._commit(
                            events,
                            routing_marking=row.marking,
                            routing_agency=owner,
                            routing_exercise=row.exercise,
                        )
                        break
                    except _Behind:
                        continue
            else:
                raise Conflict(f"routing alert {alert.id} kept being overtaken; retry")
        self._announce(rows)
        threshold = self._auto_open_impact
        if threshold is not None and Severity.parse(alert.impact).rank >= threshold.rank:
            try:
                self.open_from_alert(alert.id, SERVICE_USER)
            except Exception:
                log.exception("opening an incident for alert %s failed", alert.id)

    @staticmethod
    def _owner_after(events: Sequence[RoutingEvent]) -> str:
        owner = JOC
        for event in events:
            owner = getattr(event, "owner", None) or getattr(event, "decision", None) or owner
        return owner

    def resolve_conflict(self, command: ResolveConflict, user: User) -> AlertRouting:
        """A commander names the lead of an alert under a jurisdiction conflict."""
        row = self._alert_row(command.alert_id)
        if row is None:
            raise NotFound(f"no alert {command.alert_id!r}", details={"alert_id": command.alert_id})
        alert = _alert_of(row)
        with self._lock:
            rows = self._decide_and_commit(
                lambda: list(self.router.resolve(self._view.routing(alert.id), command, user, alert)),
                routing_marking=row.marking,
                routing_agency=command.decision,
                routing_exercise=row.exercise,
            )
            result = self._view.routing(alert.id)
        self._announce(rows)
        return result

    def open_conflicts(self) -> list[tuple[AlertRouting, str]]:
        """(routing, conflict id) of every conflict not yet resolved."""
        with self._lock:
            return [(r, c.id) for r in self.view.routings.values() for c in r.open_conflicts]

    # -------------------------------------------------------------------------- incidents

    def _zone_kinds(self, alerts: Sequence[AlertLike]) -> list[str]:
        kinds: dict[str, None] = {}
        for alert in alerts:
            for area in self.router.areas_containing(alert):
                kinds.setdefault(area.kind, None)
        return list(kinds)

    def open_incident(self, command: OpenIncident, user: User) -> Incident:
        """Open an incident by hand or from alerts (its playbook's tasks are created at once)."""
        self.reload_playbooks()
        alerts = [self.alert(a) for a in dict.fromkeys(command.alert_ids)]
        incident_id = command.incident_id or self._new_id()
        command = replace(command, incident_id=incident_id)

        def decide() -> list[CoordinationEvent]:
            if incident_id in self._view.incidents:
                raise Conflict(f"incident {incident_id} already exists", details={"incident_id": incident_id})
            return list(self.incidents.open(command, user, alerts, zone_kinds=self._zone_kinds(alerts)))

        with self._lock:
            rows = self._decide_and_commit(decide)
            incident = self._view.incident(incident_id)
        self._announce(rows)
        return incident

    def open_from_alert(self, alert_id: str, user: User, *, title: str | None = None) -> Incident:
        """Open an incident for a routed alert: its owner leads, the other contenders support."""
        self.reload_playbooks()
        alert = self.alert(alert_id)
        if alert_id not in self.view.routings:
            self.route_alert(alert_id)
        opened: list[IncidentOpened] = []

        def decide() -> list[CoordinationEvent]:
            for incident in self._view.incidents.values():
                if alert_id in incident.alert_ids and incident.status is not IncidentStatus.CLOSED:
                    raise Conflict(
                        f"alert {alert_id} already belongs to incident {incident.id}",
                        details={"incident_id": incident.id},
                    )
            events = list(
                self.incidents.open_from_alert(
                    alert,
                    self._view.routing(alert_id),
                    user,
                    zone_kinds=self._zone_kinds([alert]),
                    title=title,
                )
            )
            opened[:] = [e for e in events if isinstance(e, IncidentOpened)][:1]
            return events

        with self._lock:
            rows = self._decide_and_commit(decide)
            incident = self._view.incident(opened[0].incident_id)
        self._announce(rows)
        return incident

    def incident_command(self, command: IncidentCommand, user: User) -> Incident:
        """Any command on an existing incident or its tasks (status, lead, notes, links, tasks...)."""
        alert = self.alert(command.alert_id) if isinstance(command, LinkAlert) else None
        with self._lock:
            rows = self._decide_and_commit(
                lambda: list(
                    self.incidents.handle(
                        self._view.incident(command.incident_id), command, user, alert=alert
                    )
                )
            )
            result = self._view.incident(command.incident_id)
        self._announce(rows)
        return result

    # ------------------------------------------------------------------------- escalation

    def due_escalations(self, now: datetime | None = None) -> list[EscalationDue]:
        with self._lock:
            return self.view.due_escalations(now or self._clock.now())

    def tick(self) -> list[EscalationNotified]:
        """Record every escalation step due now (each once); returns what was sent."""
        now = self._clock.now()
        events: list[EscalationNotified] = []

        def decide() -> list[CoordinationEvent]:
            events.clear()
            for incident in self._view.incidents.values():
                if incident.status is not IncidentStatus.CLOSED:
                    events.extend(self.incidents.record_due_escalations(incident, now))
            return list(events)

        with self._lock:
            rows = self._decide_and_commit(decide)
        self._announce(rows)
        return events

    # ------------------------------------------------------------------------ task forces

    def form_task_force(self, command: FormTaskForce, user: User) -> str:
        tf_id = command.task_force_id or self._new_id()
        command = replace(command, task_force_id=tf_id)
        self._run(lambda: self.task_forces.form(self.view.coordination, command, user))
        return tf_id

    def task_force_command(self, command: TaskForceCommand, user: User) -> None:
        self._run(lambda: self.task_forces.handle(self.view.coordination, command, user))

    # ------------------------------------------------------------------------------ units

    def register_unit(self, command: RegisterUnit, user: User) -> str:
        unit_id = command.unit_id or self._new_id()
        command = replace(command, unit_id=unit_id)
        self._run(lambda: self.resources.register(self.view.coordination, command, user))
        return unit_id

    def change_unit_status(self, command: ChangeUnitStatus, user: User) -> None:
        self._run(lambda: self.resources.change_status(self.view.coordination, command, user))

    def assign_unit(self, command: AssignUnitToTask, user: User) -> None:
        def decide() -> list[CoordinationEvent]:
            incident = self.view.incident(command.incident_id)
            return self.resources.assign_to_task(self.view.coordination, incident, command, user)

        self._run(decide)

    def release_unit(self, command: ReleaseUnitFromTask, user: User) -> None:
        def decide() -> list[CoordinationEvent]:
            unit = self.view.coordination.units.get(command.unit_id)
            incident = self.view.incidents.get(unit.task[0]) if unit is not None and unit.task else None
            return self.resources.release_from_task(self.view.coordination, command, user, incident)

        self._run(decide)

    # ------------------------------------------------------------------------- mutual aid

    def request_aid(self, command: RequestMutualAid, user: User) -> str:
        request_id = command.request_id or self._new_id()
        command = replace(command, request_id=request_id)
        self._run(lambda: self.resources.request_aid(self.view.coordination, command, user))
        return request_id

    def approve_aid(self, command: ApproveMutualAid, user: User) -> None:
        self._run(lambda: self.resources.approve_aid(self.view.coordination, command, user))

    def decline_aid(self, command: DeclineMutualAid, user: User) -> None:
        self._run(lambda: self.resources.decline_aid(self.view.coordination, command, user))

    def hand_over(self, command: HandOverUnit, user: User) -> None:
        self._run(lambda: self.resources.hand_over(self.view.coordination, command, user))

    def release_aid(self, command: ReleaseMutualAid, user: User) -> None:
        self._run(lambda: self.resources.release_aid(self.view.coordination, command, user))

    # -------------------------------------------------------------------------- messaging

    def open_agency_channel(self, command: OpenAgencyChannel, user: User) -> str:
        rows = self._run(lambda: self.messaging.open_agency_channel(self.view.coordination, command, user))
        return next(r.id for r in rows if r.kind == "channel")

    def post_message(self, command: PostMessage, user: User) -> str:
        rows = self._run(lambda: self.messaging.post(self.view.coordination, command, user))
        return next(r.id for r in rows if r.kind == "message")

    def mark_read(self, command: MarkRead, user: User) -> bool:
        """Record a read receipt; False when there was nothing to record (already read, own message)."""
        rows = self._run(lambda: self.messaging.mark_read(self.view.coordination, command, user))
        return bool(rows)

    def channel_for(self, channel_id: str, user: User) -> Any:
        """The channel, if the user's agency is a member (or the JOC); otherwise NotFound."""
        with self._lock:
            channel = self.view.coordination.channels.get(channel_id)
            if channel is None or (user.agency not in channel.agencies and user.agency != JOC):
                raise NotFound(f"no channel {channel_id!r}", details={"channel_id": channel_id})
            return channel

    def channels_for(self, user: User) -> list[Any]:
        with self._lock:
            return [
                c
                for c in self.view.coordination.channels.values()
                if user.agency in c.agencies or user.agency == JOC
            ]

    # ------------------------------------------------------------------------------ reads

    def coordination_state(self) -> CoordinationState:
        return self.view.coordination

    def rows(self, kind: str, *, status: str | None = None) -> list[RecordRow]:
        """Stored records of a coordination kind (release them before showing anyone)."""
        if kind not in COORDINATION_KINDS:
            raise InvalidInput(f"unknown record kind {kind!r}", details={"field": "kind"})
        with self._engine.connect() as conn:
            return list(store.iter_records(conn, kind, status=status))

    def row(self, kind: str, record_id: str) -> RecordRow:
        if kind not in COORDINATION_KINDS:
            raise InvalidInput(f"unknown record kind {kind!r}", details={"field": "kind"})
        with self._engine.connect() as conn:
            row = store.get_record(conn, kind, record_id)
        if row is None:
            raise NotFound(f"no such {kind}")
        return row

    def message_rows(self, channel_id: str) -> list[RecordRow]:
        with self._lock:
            channel = self.view.coordination.channels.get(channel_id)
            ids = [m.id for m in channel.messages] if channel is not None else []
        with self._engine.connect() as conn:
            found = [store.get_record(conn, "message", i) for i in ids]
        return [r for r in found if r is not None]

    def task_row_id(self, incident_id: str, task_id: str) -> str:
        return task_record_id(incident_id, task_id)


class _Behind(Exception):
    """Another process journalled coordination events after this view's position."""


class _Stale(Exception):
    def __init__(self, incident_id: str) -> None:
        super().__init__(incident_id)
        self.incident_id = incident_id


@contextmanager
def _capture() -> Iterator[list[RecordRow]]:
    """Collect the records the projections write in this thread (to announce them after commit)."""
    written: list[RecordRow] = []
    previous = getattr(_CAPTURE, "rows", None)
    _CAPTURE.rows = written
    try:
        yield written
    finally:
        _CAPTURE.rows = previous


def captured(rows: Sequence[RecordRow]) -> None:
    target = getattr(_CAPTURE, "rows", None)
    if target is not None:
        target.extend(rows)


projection.ON_WRITE.append(captured)


def _withheld(result: object) -> bool:
    from concord.sharing import Withheld

    return isinstance(result, Withheld)


async def run_escalations(concord: Any, interval_s: float = 5.0) -> None:
    """Background loop for the server: record due escalations every ``interval_s`` seconds."""
    if interval_s <= 0:
        raise InvalidInput("interval_s must be positive", details={"field": "interval_s"})
    while True:
        try:
            await asyncio.to_thread(concord.coordination.tick)
        except Exception:
            log.exception("escalation tick failed")
        await asyncio.sleep(interval_s)
