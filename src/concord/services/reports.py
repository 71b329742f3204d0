"""Reports released per viewer: after-action reviews, SITREPs, briefing packs, lessons learned.

Everything comes from the journal. Each journal event that a report would show is first passed through
the release gate for the requesting viewer (exercise events only into exercise documents); what the
gate withholds is left out and only counted, and the KPIs of a document are computed from the released
events alone, so an aggregate never reveals what the viewer may not see.

Lessons and feedback are journal events too (``LessonRecorded``, ``FeedbackSubmitted``); the library
is searched by releasing each lesson (as a record of kind ``lesson``) to the viewer.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from shapely.geometry import shape

from concord.adapters import records_store as store
from concord.adapters.clock import ManualClock
from concord.adapters.db import observations as observations_table
from concord.bootstrap import Concord
from concord.domain.errors import InvalidInput, NotFound
from concord.domain.events import JournalEvent, envelope
from concord.domain.identity import User, Viewer
from concord.domain.marking import Marking, Tlp
from concord.drills.capability import CapabilityReport, SensorReport, assess_capability
from concord.drills.events import (
    DrillStarted,
    FeedbackSubmitted,
    LessonRecorded,
)
from concord.drills.kpis import KpiReport, compute_kpis
from concord.drills.report import MapLayer, ReportDoc, TimelineItem, kpi_chart_png, map_png
from concord.services.drills import DrillService
from concord.sharing import Shareable, Withheld

__all__ = ["ReportService"]

_TEXT_MAX = 4000
_MAX_REPORTS = 500_000  # bounds memory on a long period; the sample still shows who watches where


def _describe(ev: JournalEvent) -> str:
    p = ev.payload
    if ev.type == "AlertRaised":
        a = p["alert"]
        return f"alert {a['kind']} raised: {a.get('summary', '')}"
    if ev.type == "AlertAcknowledged":
        return f"alert {p['alert_id']} acknowledged"
    if ev.type == "AlertUpdated":
        return f"alert {p['alert']['kind']} {p.get('reason', 'updated')}: {p['alert'].get('summary', '')}"
    if ev.type == "DrillStarted":
        return f"drill {p['exercise_id']} started: {p['plan'].get('name', '')}"
    if ev.type == "DrillInjected":
        return f"inject {p['inject_id']} ({p['kind']})"
    if ev.type == "DrillTruthRecorded":
        return "ground truth: " + ", ".join(str(e["kind"]) for e in p.get("events", ()))
    if ev.type == "DrillMessageSent":
        return f"message {p['sender']} -> {', '.join(p['to'])}: {p['text']}"
    if ev.type == "DrillMessageAcknowledged":
        return f"message acknowledged by {p['agency']}"
    if ev.type == "DrillEnded":
        return f"drill {p['exercise_id']} ended after {p['steps']} steps"
    if ev.type.startswith("incident."):
        return f"incident {p.get('incident_id', '')}: {ev.type.split('.', 1)[1]}"
    return ev.type


_TIMELINE_TYPES = frozenset(
    {
        "AlertRaised",
        "AlertAcknowledged",
        "DrillStarted",
        "DrillInjected",
        "DrillTruthRecorded",
        "DrillMessageSent",
        "DrillMessageAcknowledged",
        "DrillEnded",
    }
)


class ReportService:
    """Builds documents for one viewer at a time."""

    def __init__(self, concord: Concord) -> None:
        self._c = concord
        self._drills = DrillService(concord)

    def viewer_of(self, username: str) -> Viewer:
        return self._c.accounts.get_user_by_username(username).viewer()

    def set_clock_to_journal(self) -> None:
        """On a manual clock, move to the newest journal entry (a report run outside any live loop)."""
        clock = self._c.clock
        if not isinstance(clock, ManualClock):
            return
        latest = max((e.recorded_at or e.occurred_at for e in self._drills.events()), default=None)
        if latest is not None and latest > clock.now():
            clock.set(latest)

    # -- release ------------------------------------------------------------------------------------
    def _release(self, events: Sequence[JournalEvent], viewer: Viewer) -> tuple[list[JournalEvent], int]:
        gate = self._c.sharing.gate
        at = self._c.clock.now()
        kept: list[JournalEvent] = []
        withheld = 0
        for ev in events:
            record = Shareable(
                kind=_kind_of(ev),
                record_id=ev.event_id or f"seq-{ev.seq}",
                marking=ev.marking,
                fields={"type": ev.type, "summary": _describe(ev)},
                exercise=ev.exercise,
            )
            if isinstance(gate.release(record, viewer, at, exercise_session=ev.exercise), Withheld):
                withheld += 1
            else:
                kept.append(ev)
        return kept, withheld

    # -- KPIs as a viewer may see them -----------------------------------------------------------------
    def kpis(
        self,
        viewer: Viewer,
        *,
        exercise: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> KpiReport:
        """KPIs computed only from the journal entries released to ``viewer``."""
        if start is not None and end is not None and end <= start:
            raise InvalidInput("'to' must come after 'from'", details={"field": "to"})
        events = list(self._drills.events())
        if exercise is not None:
            from concord.drills.kpis import exercise_events

            scoped = exercise_events(events, exercise)
        else:
            scoped = [
                e
                for e in events
                if not e.exercise
                and (start is None or e.occurred_at >= start)
                and (end is None or e.occurred_at < end)
            ]
        released, _ = self._release(scoped, viewer)
        if exercise is not None and not any(e.type == DrillStarted.type for e in released):
            raise NotFound(f"no exercise {exercise!r}", details={"exercise": exercise})
        lo = start or (scoped[0].occurred_at if scoped else self._c.clock.now())
        hi = end or (scoped[-1].occurred_at + timedelta(days=1) if scoped else self._c.clock.now())
        decisions = [
            d
            for d in self._c.audit.decisions_between(lo, hi)
            if d.viewer_agency == viewer.agency or d.originator == viewer.agency
        ]
        return compute_kpis(released, decisions, exercise_id=exercise, start=start, end=end)

    # -- after-action review -------------------------------------------------------------------------
    def aar(self, viewer: Viewer, *, exercise: str | None = None, incident: str | None = None) -> ReportDoc:
        """The after-action review of one exercise or one incident, as ``viewer`` may see it."""
        if (exercise is None) == (incident is None):
            raise InvalidInput(
                "name exactly one of an exercise or an incident", details={"field": "exercise"}
            )
        events = list(self._drills.events())
        if exercise is not None:
            from concord.drills.kpis import exercise_events

            scoped = exercise_events(events, exercise)
            if not scoped:
                raise NotFound(f"no exercise {exercise!r}", details={"exercise": exercise})
            subject = f"exercise {exercise}"
            is_exercise = True
        else:
            scoped = _incident_events(events, str(incident))
            if not scoped:
                raise NotFound(f"no incident {incident!r}", details={"incident": incident})
            subject = f"incident {incident}"
            is_exercise = scoped[0].exercise
        released, withheld = self._release(scoped, viewer)
        if exercise is not None and not any(e.type == DrillStarted.type for e in released):
            # Without the plan the viewer takes no part in the exercise: nothing to show at all.
            raise NotFound(f"no exercise {exercise!r}", details={"exercise": exercise})
        decisions = self._c.audit.decisions_between(
            scoped[0].occurred_at, scoped[-1].occurred_at + timedelta(days=1)
        )
        decisions = [
            d for d in decisions if d.viewer_agency == viewer.agency or d.originator == viewer.agency
        ]
        kpis = compute_kpis(
            released,
            decisions,
            exercise_id=exercise,
            start=None if exercise else scoped[0].occurred_at,
            end=None if exercise else scoped[-1].occurred_at + timedelta(seconds=1),
            exercise=is_exercise,
        )
        timeline = [
            TimelineItem(
                at=e.occurred_at,
                kind=e.type,
                agency=e.agency,
                summary=_describe(e),
                banner=e.marking.banner(),
            )
            for e in released
            if e.type in _TIMELINE_TYPES or e.type.startswith("incident.")
        ]
        went_well = [
            f"{c.inject}: {c.measure} in {c.actual_s:g} s (target {c.target_s:g} s)"
            for c in kpis.checks
            if c.met and c.actual_s is not None
        ]
        not_well = [
            f"{c.inject}: {c.measure} "
            + (f"took {c.actual_s:g} s" if c.actual_s is not None else "did not happen")
            + f" (target {c.target_s:g} s)"
            for c in kpis.checks
            if not c.met
        ]
        not_well += [
            f"missed: {t.kind} at {t.at.strftime('%H:%M:%S')} ({', '.join(t.truth_ids)})"
            for t in kpis.truth
            if t.alert_id is None
        ]
        actions = [
            f"Review why {c.measure} for inject {c.inject} missed its {c.target_s:g} s target"
            "; owner: lead agency"
            for c in kpis.checks
            if not c.met
        ]
        actions += [
            f"Check sensor coverage where the {t.kind} of {', '.join(t.truth_ids)} went unseen"
            for t in kpis.truth
            if t.alert_id is None
        ]
        name = subject
        for e in released:
            if e.type == DrillStarted.type:
                name = f"{e.payload['plan'].get('name', exercise)} ({exercise})"
        summary = [
            f"{subject}: {len(released)} journal entries shown, {kpis.alerts} alerts",
            f"detection effectiveness {_fmt(kpis.detection_effectiveness)}, "
            f"SLA compliance {_fmt(kpis.sla_compliance)}",
            f"mean time to acknowledge {_fmt(kpis.overall['time_to_acknowledge'].mean_s)} s",
        ]
        if withheld:
            summary.append("figures count only what the sharing rules let you see")
        return ReportDoc(
            title=f"After-action review: {name}",
            kind="aar",
            subject=subject,
            viewer=f"{viewer.user_id} ({viewer.agency})",
            generated_at=self._c.clock.now(),
            exercise=is_exercise,
            summary=summary,
            timeline=timeline,
            sections={"What went well": went_well, "What did not": not_well},
            kpis=kpis,
            action_items=actions,
            withheld=withheld,
            chart_png=kpi_chart_png(kpis),
            map_png=map_png(
                self._map_layer(viewer, kpis, is_exercise), title=f"{subject}: alerts and tracks"
            ),
        )

    def _map_layer(self, viewer: Viewer, kpis: KpiReport, exercise: bool) -> MapLayer:
        zones = []
        for released in self._c.queries.page("zone", viewer, limit=1000).items:
            fields = released.record.fields
            geometry = fields.get("geometry")
            if isinstance(geometry, dict):
                try:
                    zones.append((released.record.record_id, str(fields.get("kind", "")), shape(geometry)))
                except (ValueError, TypeError, AttributeError):
                    continue
        tracks = [
            (float(r.record.fields["lon"]), float(r.record.fields["lat"]))
            for r in self._c.queries.page("track", viewer, exercise=exercise, limit=1000).items
            if isinstance(r.record.fields.get("lon"), int | float)
            and isinstance(r.record.fields.get("lat"), int | float)
        ]
        alerts = [(a.lon, a.lat, a.kind) for a in kpis.alert_facts]
        return MapLayer(zones=zones, tracks=tracks, alerts=alerts)

    # -- SITREP and briefing -------------------------------------------------------------------------
    def sitrep(self, viewer: Viewer, *, hours: float = 12.0, exercise: bool = False) -> ReportDoc:
        """The situation over the last ``hours`` for ``viewer``'s agency (or task force) audience."""
        if not (0 < hours <= 24 * 31):
            raise InvalidInput("hours must be between 0 and 744", details={"field": "hours"})
        end = self._c.clock.now()
        start = end - timedelta(hours=hours)
        events = [
            e for e in self._drills.events() if e.exercise == exercise and start <= e.occurred_at <= end
        ]
        released, withheld = self._release(events, viewer)
        kpis = compute_kpis(released, start=start, end=end + timedelta(seconds=1), exercise=exercise)
        raised = [e for e in released if e.type == "AlertRaised"]
        by_kind = Counter(str(e.payload["alert"]["kind"]) for e in raised)
        by_agency = Counter(e.agency for e in raised)
        open_alerts = [
            f"{r.record.fields.get('kind')}: {r.record.fields.get('summary', '')}"
            for r in self._c.queries.page("alert", viewer, status="open", exercise=exercise, limit=200).items
        ]
        return ReportDoc(
            title=f"SITREP for {viewer.agency}",
            kind="sitrep",
            subject=f"{start.strftime('%Y-%m-%d %H:%M')} to {end.strftime('%Y-%m-%d %H:%M')} UTC",
            viewer=f"{viewer.user_id} ({viewer.agency})",
            generated_at=end,
            exercise=exercise,
            summary=[
                f"{len(raised)} alerts raised in the period",
                "by kind: " + (", ".join(f"{k} {n}" for k, n in sorted(by_kind.items())) or "none"),
                "by agency: " + (", ".join(f"{k} {n}" for k, n in sorted(by_agency.items())) or "none"),
            ],
            sections={"Open alerts": open_alerts[:50]},
            kpis=kpis,
            withheld=withheld,
            timeline=[
                TimelineItem(
                    at=e.occurred_at,
                    kind=e.type,
                    agency=e.agency,
                    summary=_describe(e),
                    banner=e.marking.banner(),
                )
                for e in released
                if e.type in _TIMELINE_TYPES or e.type.startswith("incident.")
            ][-200:],
        )

    def briefing(self, viewer: Viewer, *, days: float = 7.0) -> ReportDoc:
        """The interagency meeting pack: open incidents and alerts, trends, SLA misses, decisions needed."""
        if not (0 < days <= 366):
            raise InvalidInput("days must be between 0 and 366", details={"field": "days"})
        end = self._c.clock.now()
        start = end - timedelta(days=days)
        half = start + (end - start) / 2
        events = [e for e in self._drills.events() if not e.exercise and start <= e.occurred_at <= end]
        released, withheld = self._release(events, viewer)
        kpis = compute_kpis(released, start=start, end=end + timedelta(seconds=1))
        raised = [e for e in released if e.type == "AlertRaised"]
        first = Counter(str(e.payload["alert"]["kind"]) for e in raised if e.occurred_at < half)
        second = Counter(str(e.payload["alert"]["kind"]) for e in raised if e.occurred_at >= half)
        trends = [f"{k}: {first[k]} -> {second[k]}" for k in sorted(set(first) | set(second))]
        misses = [
            f"alert {c.alert_id}: acknowledged "
            + (f"after {c.actual_s:g} s" if c.actual_s is not None else "never")
            + f" (target {c.target_s:g} s)"
            for c in kpis.checks
            if not c.met
        ]
        opened = {str(e.payload.get("incident_id")) for e in released if e.type == "incident.opened"}
        closed = {
            str(e.payload.get("incident_id"))
            for e in released
            if e.type == "incident.status-changed" and e.payload.get("to_status") == "closed"
        }
        conflicts = [
            f"jurisdiction conflict over alert {e.payload.get('alert_id', '')}"
            for e in released
            if e.type.endswith("conflict-raised")
        ]
        return ReportDoc(
            title="Joint briefing pack",
            kind="briefing",
            subject=f"{start.strftime('%Y-%m-%d')} to {end.strftime('%Y-%m-%d')}",
            viewer=f"{viewer.user_id} ({viewer.agency})",
            generated_at=end,
            exercise=False,
            summary=[
                f"{len(raised)} alerts, {len(opened)} incidents opened, {len(opened - closed)} still open",
                f"SLA compliance (acknowledgement) {_fmt(kpis.sla_compliance)}",
            ],
            sections={
                "Open incidents": sorted(opened - closed),
                "Trends (first half -> second half)": trends,
                "SLA misses": misses[:100],
                "Decisions needed": conflicts
                + [f"{len(misses)} alerts missed the acknowledgement target: review staffing"] * bool(misses),
            },
            kpis=kpis,
            withheld=withheld,
            chart_png=kpi_chart_png(kpis),
        )

    # -- capability and gaps ---------------------------------------------------------------------------
    def capability(
        self, *, start: datetime | None = None, end: datetime | None = None, exercise: str | None = None
    ) -> CapabilityReport:
        """Per agency sensors, units, reports and response times; the weakest border sections.

        Internal analysis across agencies (callers restrict it to commanders, analysts and admins).
        """
        kpis = self._drills.kpis(exercise=exercise, start=start, end=end)
        flag = exercise is not None
        lo = kpis.start if flag else start
        hi = kpis.end if flag else end
        query = sa.select(
            observations_table.c.agency,
            observations_table.c.sensor,
            observations_table.c.source,
            observations_table.c.lat,
            observations_table.c.lon,
        ).where(observations_table.c.exercise == flag)
        if lo is not None:
            query = query.where(observations_table.c.observed_at >= lo)
        if hi is not None:
            query = query.where(observations_table.c.observed_at <= hi)
        with self._c.engine.connect() as conn:
            reports = [
                SensorReport(agency=r.agency, sensor=r.sensor, source=r.source, lat=r.lat, lon=r.lon)
                for r in conn.execute(query.limit(_MAX_REPORTS))
            ]
            units = [str(row.marking.originator) for row in store.iter_records(conn, "unit", exercise=flag)]
        sections = [
            (z.id, z.name, None if z.impact_level is None else z.impact_level.value, z.geometry)
            for z in self._c.zones.zones()
            if z.kind.value == "border-section"
        ]
        return assess_capability(sections, reports, units, kpis.alert_facts)

    # -- feedback and lessons --------------------------------------------------------------------------
    def submit_feedback(
        self, user: User, *, subject_kind: str, subject_id: str, rating: int, went_well: str, to_improve: str
    ) -> FeedbackSubmitted:
        if subject_kind not in ("exercise", "incident"):
            raise InvalidInput("subject_kind is exercise or incident", details={"field": "subject_kind"})
        if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
            raise InvalidInput("rating is a whole number from 1 to 5", details={"field": "rating"})
        _check_text("subject_id", subject_id, 128)
        _check_text("went_well", went_well, _TEXT_MAX, allow_empty=True)
        _check_text("to_improve", to_improve, _TEXT_MAX, allow_empty=True)
        event = FeedbackSubmitted(
            feedback_id=str(uuid.uuid4()),
            subject_kind=subject_kind,
            subject_id=subject_id,
            user_id=user.id,
            agency=user.agency,
            at=self._c.clock.now(),
            rating=rating,
            went_well=went_well,
            to_improve=to_improve,
        )
        self._append(
            event.type,
            event.to_dict(),
            user,
            Marking.default_for(user.agency),
            exercise=subject_kind == "exercise",
        )
        return event

    def record_lesson(
        self,
        user: User,
        *,
        title: str,
        body: str,
        tags: Sequence[str] = (),
        subject_kind: str = "",
        subject_id: str = "",
        playbook_id: str | None = None,
        proposed_playbook: str | None = None,
        marking: Marking | None = None,
    ) -> LessonRecorded:
        """Add a lesson to the shared library; its marking decides which agencies may find it."""
        _check_text("title", title, 200)
        _check_text("body", body, _TEXT_MAX)
        if len(tags) > 20:
            raise InvalidInput("at most 20 tags", details={"field": "tags"})
        for tag in tags:
            if not isinstance(tag, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", tag):
                raise InvalidInput("tags are lower-case words with dashes", details={"field": "tags"})
        if playbook_id is not None:
            _check_text("playbook_id", playbook_id, 128)
        if proposed_playbook is not None:
            _check_text("proposed_playbook", proposed_playbook, 100_000)
        mark = marking or Marking(classification="RESTRICTED", originator=user.agency, tlp=Tlp.GREEN)
        if mark.originator != user.agency:
            raise InvalidInput("a lesson is marked by its own agency", details={"field": "marking"})
        event = LessonRecorded(
            lesson_id=str(uuid.uuid4()),
            title=title,
            body=body,
            tags=tuple(tags),
            subject_kind=subject_kind,
            subject_id=subject_id,
            playbook_id=playbook_id,
            proposed_playbook=proposed_playbook,
            user_id=user.id,
            agency=user.agency,
            at=self._c.clock.now(),
        )
        self._append(event.type, event.to_dict(), user, mark, exercise=False)
        return event

    def lessons(
        self, viewer: Viewer, *, text: str = "", tag: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Lessons ``viewer`` may see, newest first, matching ``text`` (in title or body) and ``tag``."""
        if len(text) > 200:
            raise InvalidInput("search text is at most 200 characters", details={"field": "q"})
        if not 0 < limit <= 1000:
            raise InvalidInput("limit must be 1-1000", details={"field": "limit"})
        needle = text.casefold()
        gate = self._c.sharing.gate
        at = self._c.clock.now()
        found: list[dict[str, Any]] = []
        for ev in self._drills.events(types=[LessonRecorded.type]):
            lesson = LessonRecorded.from_dict(ev.payload)
            result = gate.release(
                Shareable(
                    kind="lesson", record_id=lesson.lesson_id, marking=ev.marking, fields=lesson.to_dict()
                ),
                viewer,
                at,
            )
            if isinstance(result, Withheld):
                continue
            fields = dict(result.record.fields)
            if (
                needle
                and needle
                not in (str(fields.get("title", "")) + " " + str(fields.get("body", ""))).casefold()
            ):
                continue
            if tag is not None and tag not in fields.get("tags", ()):
                continue
            fields["banner"] = ev.marking.banner()
            found.append(fields)
        found.reverse()
        return found[:limit]

    def _append(
        self, type_: str, payload: dict[str, Any], user: User, marking: Marking, *, exercise: bool
    ) -> None:
        with self._c.uow() as uow:
            uow.append(
                envelope(
                    type_,
                    payload,
                    at=self._c.clock.now(),
                    actor=user.id,
                    agency=user.agency,
                    marking=marking,
                    exercise=exercise,
                )
            )
            uow.commit()


def _kind_of(ev: JournalEvent) -> str:
    if ev.type.startswith("Alert"):
        return "alert"
    if ev.type.startswith("incident."):
        return "incident"
    if ev.type.startswith("Drill"):
        return "drill"
    return "event"


def _incident_events(events: Sequence[JournalEvent], incident_id: str) -> list[JournalEvent]:
    mine = [
        e
        for e in events
        if e.type.startswith("incident.") and str(e.payload.get("incident_id")) == incident_id
    ]
    alert_ids = {str(a) for e in mine for a in e.payload.get("alert_ids", ())}
    alert_ids |= {str(e.payload["alert_id"]) for e in mine if e.payload.get("alert_id")}
    related = [
        e
        for e in events
        if e.type.startswith("Alert")
        and (
            str(e.payload.get("alert_id", "")) in alert_ids
            or str(e.payload.get("alert", {}).get("id", "")) in alert_ids
        )
    ]
    return sorted([*mine, *related], key=lambda e: e.seq or 0)


def _check_text(name: str, value: object, max_chars: int, *, allow_empty: bool = False) -> None:
    if not isinstance(value, str) or (not allow_empty and not value.strip()) or len(value) > max_chars:
        raise InvalidInput(f"{name} must be text of 1-{max_chars} characters", details={"field": name})
    if "\x00" in value:
        raise InvalidInput(f"{name} must not contain NUL characters", details={"field": name})


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"
