"""Drills: the scenario simulator, exercise plans, KPIs, after-action reviews and capability assessment.

Plans (:func:`load_plan`) describe a seeded scenario, the agencies taking part, timed injects and the
responses expected; ``concord.services.drills.DrillService`` runs them through the real pipeline and
journals them (:mod:`concord.drills.events`). :func:`compute_kpis` turns journal events into figures;
:mod:`concord.drills.report` draws and lays out documents; :func:`assess_capability` ranks sections.
"""

from concord.drills.capability import CapabilityReport, SensorReport, assess_capability
from concord.drills.events import (
    DRILL_EVENT_TYPES,
    EXERCISE_PREFIX,
    DrillEnded,
    DrillInjected,
    DrillMessageAcknowledged,
    DrillMessageSent,
    DrillStarted,
    DrillTruthRecorded,
    FeedbackSubmitted,
    LessonRecorded,
    drill_event_from_dict,
)
from concord.drills.kpis import AlertFacts, Check, KpiReport, KpiTargets, Stat, TruthMatch, compute_kpis
from concord.drills.plan import DrillPlan, load_plan, parse_plan
from concord.drills.report import MapLayer, ReportDoc, TimelineItem, render_html, render_pdf

__all__ = [
    "DRILL_EVENT_TYPES",
    "EXERCISE_PREFIX",
    "AlertFacts",
    "CapabilityReport",
    "Check",
    "DrillEnded",
    "DrillInjected",
    "DrillMessageAcknowledged",
    "DrillMessageSent",
    "DrillPlan",
    "DrillStarted",
    "DrillTruthRecorded",
    "FeedbackSubmitted",
    "KpiReport",
    "KpiTargets",
    "LessonRecorded",
    "MapLayer",
    "ReportDoc",
    "SensorReport",
    "Stat",
    "TimelineItem",
    "TruthMatch",
    "assess_capability",
    "compute_kpis",
    "drill_event_from_dict",
    "load_plan",
    "parse_plan",
    "render_html",
    "render_pdf",
]
