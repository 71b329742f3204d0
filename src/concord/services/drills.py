"""Running an exercise plan through the real pipeline, and the KPIs of drills and live operations.

:meth:`DrillService.run` drives a seeded scenario on the injected manual clock: it creates the
participating agencies and their drill users, imports the scenario's zones, records the whole plan in
the journal (``DrillStarted``), then steps the simulator, feeds every observation to the picture
service (all of it exercise data), runs the time-driven rules, fires the plan's injects at their times,
and plays scripted responders that acknowledge alerts (and messages) after their configured delays,
at exactly that instant of simulated time. Drill users read the exercise picture at intervals, so
sharing between agencies shows in the audit log as it would in a real exercise. ``DrillEnded`` closes
the run with the sensors' tallies.

Each agency's drill user is ``drill.<agency code in lower case>`` (operator and commander, SECRET).
"""

from __future__ import annotations

import heapq
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from concord.adapters.clock import ManualClock
from concord.adapters.journal import read_events
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings
from concord.domain.errors import ConcordError, Conflict, InvalidInput, NotFound
from concord.domain.events import JournalEvent, envelope
from concord.domain.identity import Role, User
from concord.domain.marking import Marking, Tlp
from concord.domain.record import RecordRow
from concord.drills.events import (
    EXERCISE_PREFIX,
    DrillEnded,
    DrillInjected,
    DrillMessageAcknowledged,
    DrillMessageSent,
    DrillStarted,
    DrillTruthRecorded,
)
from concord.drills.kpis import KpiReport, KpiTargets, compute_kpis
from concord.drills.plan import DrillPlan, Inject, ResponderSpec
from concord.drills.sim import Scenario, TruthKind
from concord.services.picture import PictureChange

__all__ = ["DrillResult", "DrillService", "drill_marking", "drill_username", "open_for_drill"]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)


def open_for_drill(settings: Settings, *, start: datetime | None = None) -> Concord:
    """A Concord on a manual clock (what a drill, a report run or a replay of one needs)."""
    return bootstrap(settings, clock=ManualClock(start))


def drill_username(agency: str) -> str:
    return f"drill.{agency.lower()}"


def drill_marking(plan: DrillPlan) -> Marking:
    """Drill bookkeeping is releasable to every participating agency (and to nobody in a live view)."""
    codes = [a.code for a in plan.agencies]
    return Marking(classification="RESTRICTED", originator=codes[0], rel_to=frozenset(codes), tlp=Tlp.GREEN)


@dataclass(frozen=True, slots=True)
class DrillResult:
    exercise_id: str
    steps: int
    observations: int
    alerts: int
    acknowledgements: int
    kpis: KpiReport


@dataclass(order=True, frozen=True, slots=True)
class _Action:
    due: datetime
    serial: int
    kind: str
    args: tuple[Any, ...]


class DrillService:
    """Runs drills and computes KPIs over the journal."""

    def __init__(
        self,
        concord: Concord,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._c = concord
        self._sleep = sleep
        self._monotonic = monotonic

    # -- reading -----------------------------------------------------------------------------------
    def events(self, *, types: list[str] | None = None) -> Iterator[JournalEvent]:
        with self._c.engine.connect() as conn:
            yield from read_events(conn, types=types)

    def exercises(self) -> list[dict[str, Any]]:
        """Every drill run recorded in the journal: id, name, start, end."""
        runs: dict[str, dict[str, Any]] = {}
        for ev in self.events(types=[DrillStarted.type, DrillEnded.type]):
            ex = str(ev.payload["exercise_id"])
            if ev.type == DrillStarted.type:
                runs[ex] = {
                    "exercise_id": ex,
                    "name": str(ev.payload["plan"].get("name", ex)),
                    "agencies": list(ev.payload["plan"].get("agencies", ())),
                    "started_at": ev.occurred_at.isoformat(),
                    "ended_at": None,
                }
            elif ex in runs:
                runs[ex]["ended_at"] = ev.occurred_at.isoformat()
        return list(runs.values())

    def kpis(
        self,
        *,
        exercise: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        targets: KpiTargets | None = None,
    ) -> KpiReport:
        """KPIs of one exercise, or of live operations in [start, end)."""
        events = list(self.events())
        if exercise is not None and not any(
            e.type == DrillStarted.type and e.payload.get("exercise_id") == exercise for e in events
        ):
            raise NotFound(f"no exercise {exercise!r} in the journal", details={"exercise": exercise})
        decisions = self._c.audit.decisions_between(start or _EPOCH, end or _FAR)
        return compute_kpis(events, decisions, exercise_id=exercise, start=start, end=end, targets=targets)

    # -- running -----------------------------------------------------------------------------------
    def run(self, plan: DrillPlan, *, speed: float = 0.0) -> DrillResult:
        """Run ``plan``; ``speed`` is simulated seconds per wall second (0: as fast as possible)."""
        clock = self._c.clock
        if not isinstance(clock, ManualClock):
            raise InvalidInput("a drill runs on a manual clock; bootstrap Concord with ManualClock")
        if not (speed >= 0 and speed < float("inf")):
            raise InvalidInput("speed must be a finite number, 0 or more", details={"field": "speed"})
        if any(e.payload.get("exercise_id") == plan.id for e in self.events(types=[DrillStarted.type])):
            raise Conflict(
                f"exercise {plan.id!r} has already run on this database; give the plan a new id",
                details={"field": "id"},
            )
        # Observation ids carry the run id: the plan id keeps two exercises' reports apart.
        scenario = Scenario.from_config(plan.scenario.model_copy(update={"run_id": plan.id}))
        if scenario.start < clock.now():
            raise InvalidInput(
                "the scenario starts before the clock's current time; start it later",
                details={"field": "scenario.start", "clock": clock.now().isoformat()},
            )
        clock.set(scenario.start)
        users = self._prepare(plan, scenario)
        marking = drill_marking(plan)
        ex = plan.id
        first_agency = plan.agencies[0].code
        self._append(
            DrillStarted.type,
            DrillStarted(
                exercise_id=ex,
                at=clock.now(),
                plan=plan.to_dict(),
                plan_digest=plan.digest,
                speed=speed,
                scenario_start=scenario.start,
            ).to_dict(),
            marking=marking,
            agency=first_agency,
            actor=users[first_agency].id,
        )

        actions: list[_Action] = []
        serial = 0

        def schedule(due: datetime, kind: str, *args: Any) -> None:
            nonlocal serial
            serial += 1
            heapq.heappush(actions, _Action(due, serial, kind, args))

        for inject in plan.injects:
            details = self._arm(scenario, inject)
            schedule(scenario.start + timedelta(seconds=inject.at_s), "inject", inject, details)

        seen_alerts: set[str] = set()
        new_alerts: list[RecordRow] = []

        active = [True]

        def listen(change: PictureChange) -> None:
            if not active[0]:
                return
            for row in change.rows:
                if row.kind == "alert" and row.exercise and row.id not in seen_alerts:
                    seen_alerts.add(row.id)
                    new_alerts.append(row)

        self._c.picture.subscribe(listen)
        picture_every = timedelta(seconds=plan.run.picture_every_s)
        next_look = scenario.start + picture_every
        stats: dict[str, dict[str, int]] = defaultdict(lambda: {"observations": 0, "false_alarms": 0})
        steps = observations = acks = 0
        wall0 = self._monotonic()
        end = scenario.start + timedelta(seconds=plan.run.duration_s)
        try:
            while scenario.now < end:
                dt = min(plan.run.step_s, (end - scenario.now).total_seconds())
                step_end = scenario.now + timedelta(seconds=dt)
                while actions and actions[0].due <= step_end:
                    action = heapq.heappop(actions)
                    clock.set(max(action.due, clock.now()))
                    acks += self._perform(action, plan, users, marking, schedule)
                st = scenario.step(dt)
                steps += 1
                clock.set(max(st.time, clock.now()))
                for obs in st.observations:
                    bucket = stats[obs.sensor.value]
                    bucket["observations"] += 1
                    if st.detections.get(obs.id) is None:
                        bucket["false_alarms"] += 1
                observations += len(st.observations)
                if st.observations:
                    self._c.picture.ingest(st.observations, actor=f"sim:{ex}")
                if st.truth_events:
                    self._append(
                        DrillTruthRecorded.type,
                        DrillTruthRecorded(
                            exercise_id=ex, at=st.time, events=tuple(e.to_dict() for e in st.truth_events)
                        ).to_dict(),
                        marking=marking,
                        agency=first_agency,
                        actor=f"sim:{ex}",
                    )
                self._c.picture.tick()
                for row in new_alerts:
                    self._respond(row, plan.responders, schedule)
                new_alerts.clear()
                if clock.now() >= next_look:
                    self._look(plan, users)
                    next_look += picture_every
                if speed > 0:
                    ahead_s = (st.time - scenario.start).total_seconds() / speed - (self._monotonic() - wall0)
                    if ahead_s > 0:
                        self._sleep(ahead_s)
            # What falls due at the very end still happens (the last acknowledgements).
            while actions and actions[0].due <= end:
                action = heapq.heappop(actions)
                clock.set(max(action.due, clock.now()))
                acks += self._perform(action, plan, users, marking, schedule)
        finally:
            # The picture service has no unsubscribe; a finished drill's listener stays, inert.
            active[0] = False
        self._append(
            DrillEnded.type,
            DrillEnded(exercise_id=ex, at=clock.now(), steps=steps, sensor_stats=dict(stats)).to_dict(),
            marking=marking,
            agency=first_agency,
            actor=f"sim:{ex}",
        )
        report = self.kpis(exercise=ex)
        return DrillResult(
            exercise_id=ex,
            steps=steps,
            observations=observations,
            alerts=len(seen_alerts),
            acknowledgements=acks,
            kpis=report,
        )

    # -- helpers -----------------------------------------------------------------------------------
    def _prepare(self, plan: DrillPlan, scenario: Scenario) -> dict[str, User]:
        accounts = self._c.accounts
        users: dict[str, User] = {}
        for spec in plan.agencies:
            try:
                accounts.get_agency(spec.code)
            except NotFound:
                accounts.create_agency(spec.code, spec.name, spec.kind)
            name = drill_username(spec.code)
            try:
                users[spec.code] = accounts.get_user_by_username(name)
            except NotFound:
                users[spec.code] = accounts.create_user(
                    name,
                    spec.code,
                    [Role.OPERATOR, Role.COMMANDER],
                    "SECRET",
                    display_name=f"{EXERCISE_PREFIX} {spec.code} drill operator",
                )
        self._c.zones.import_geojson(
            json.dumps(scenario.zones_geojson()).encode("utf-8"),
            actor=users[plan.agencies[0].code].id,
            agency=plan.agencies[0].code,
        )
        return users

    def _append(
        self, type_: str, payload: dict[str, Any], *, marking: Marking, agency: str, actor: str
    ) -> None:
        with self._c.uow() as uow:
            uow.append(
                envelope(
                    type_,
                    payload,
                    at=self._c.clock.now(),
                    actor=actor,
                    agency=agency,
                    marking=marking,
                    exercise=True,
                )
            )
            uow.commit()

    @staticmethod
    def _arm(scenario: Scenario, inject: Inject) -> dict[str, Any]:
        """Tell the simulator about an inject now (a crossing needs time to walk up to the border)."""
        at = scenario.start + timedelta(seconds=inject.at_s)
        if inject.go_dark is not None:
            spec = inject.go_dark
            scenario.inject_go_dark(spec.mmsi, at, spec.duration_s)
            truth_id = next((t.truth_id for t in scenario.truth() if t.mmsi == spec.mmsi), None)
            return {"mmsi": spec.mmsi, "truth_id": truth_id, "duration_s": spec.duration_s}
        if inject.crossing is not None:
            c = inject.crossing
            truth_id = scenario.inject_crossing(
                at, lat=c.lat, kind=TruthKind(c.kind), loiter_s=c.loiter_s, inbound=c.inbound
            )
            return {"truth_id": truth_id, "mover": c.kind, "inbound": c.inbound}
        if inject.sensor_outage is not None:
            o = inject.sensor_outage
            scenario.inject_sensor_outage(o.sensor_id, at, at + timedelta(seconds=o.duration_s))
            return {"sensor_id": o.sensor_id, "duration_s": o.duration_s}
        assert inject.message is not None
        return {"sender": inject.message.sender, "to": list(inject.message.to)}

    def _respond(
        self, row: RecordRow, responders: tuple[ResponderSpec, ...], schedule: Callable[..., None]
    ) -> None:
        kind = str(row.data.get("kind"))
        seen = self._c.clock.now()  # the responder reacts from the moment the alert reaches the picture
        for spec in responders:
            if spec.agency != row.marking.originator:
                continue
            if spec.alert_kinds and kind not in spec.alert_kinds:
                continue
            schedule(seen + timedelta(seconds=spec.acknowledge_after_s), "ack-alert", row.id, spec.agency)
            if spec.open_incident_after_s is not None:
                schedule(
                    seen + timedelta(seconds=spec.open_incident_after_s), "open-incident", row.id, spec.agency
                )
            return

    def _perform(
        self,
        action: _Action,
        plan: DrillPlan,
        users: dict[str, User],
        marking: Marking,
        schedule: Callable[..., None],
    ) -> int:
        now = self._c.clock.now()
        if action.kind == "ack-alert":
            alert_id, agency = action.args
            user = users[agency]
            self._c.picture.acknowledge(
                alert_id, user_id=user.id, agency=agency, note=f"{EXERCISE_PREFIX} drill responder"
            )
            return 1
        if action.kind == "open-incident":
            alert_id, agency = action.args
            try:
                self._c.coordination.open_from_alert(
                    alert_id, users[agency], title=f"{EXERCISE_PREFIX} {alert_id}"
                )
            except ConcordError as exc:
                # A responder may not be the agency the alert was routed to: that is a drill finding.
                log.info("drill responder of %s could not open an incident for %s: %s", agency, alert_id, exc)
            return 0
        if action.kind == "ack-message":
            message_id, agency = action.args
            self._append(
                DrillMessageAcknowledged.type,
                DrillMessageAcknowledged(
                    exercise_id=plan.id,
                    message_id=message_id,
                    agency=agency,
                    user_id=users[agency].id,
                    at=now,
                ).to_dict(),
                marking=marking,
                agency=agency,
                actor=users[agency].id,
            )
            return 1
        inject, details = action.args
        self._append(
            DrillInjected.type,
            DrillInjected(
                exercise_id=plan.id, inject_id=inject.id, kind=inject.kind, at=now, details=details
            ).to_dict(),
            marking=marking,
            agency=plan.agencies[0].code,
            actor=f"sim:{plan.id}",
        )
        if inject.message is not None:
            msg = inject.message
            message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"concord-drill:{plan.id}:{inject.id}"))
            self._append(
                DrillMessageSent.type,
                DrillMessageSent(
                    exercise_id=plan.id,
                    message_id=message_id,
                    inject_id=inject.id,
                    sender=msg.sender,
                    to=msg.to,
                    text=f"{EXERCISE_PREFIX} {msg.text}",
                    at=now,
                ).to_dict(),
                marking=marking,
                agency=msg.sender,
                actor=users[msg.sender].id,
            )
            for spec in plan.responders:
                if spec.agency in msg.to and spec.acknowledge_messages_after_s is not None:
                    schedule(
                        now + timedelta(seconds=spec.acknowledge_messages_after_s),
                        "ack-message",
                        message_id,
                        spec.agency,
                    )
        return 0

    def _look(self, plan: DrillPlan, users: dict[str, User]) -> None:
        """Each agency's drill user reads the exercise alerts (what reached whom goes to the audit log)."""
        for spec in plan.agencies:
            self._c.queries.page("alert", users[spec.code].viewer(), exercise=True, limit=1000)
