"""The shipped drill plan end to end: KPIs against values worked out from the plan, replay, AAR PDF."""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from tests.conftest import FAST_HASHER

from concord.adapters.clock import ManualClock
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings
from concord.domain.agreement import Agreement
from concord.domain.errors import Conflict, InvalidInput
from concord.drills import EXERCISE_PREFIX, KpiReport, load_plan, render_html, render_pdf
from concord.drills.plan import DrillPlan
from concord.drills.sim import Scenario
from concord.services.drills import DrillResult, DrillService
from concord.services.reports import ReportService

PLAN = Path(__file__).parents[3] / "examples" / "drill-harbour-night.yaml"


@pytest.fixture
def plan() -> DrillPlan:
    return load_plan(PLAN)


@pytest.fixture(scope="module")
def drilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Concord, DrillResult]]:
    """One run of the shipped plan for the read-only tests below."""
    root = tmp_path_factory.mktemp("drill-run")
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{(root / 'c.db').as_posix()}",
        data_dir=root / "var",
        secret_key="t" * 40,
    )
    app = bootstrap(
        settings, clock=ManualClock(datetime(2026, 3, 1, tzinfo=UTC)), password_hasher=FAST_HASHER
    )
    try:
        yield app, DrillService(app).run(load_plan(PLAN), speed=0)
    finally:
        app.close()


def _check(kpis: KpiReport, inject: str, measure: str) -> float | None:
    (check,) = [c for c in kpis.checks if c.inject == inject and c.measure == measure]
    return check.actual_s


def _expected_dark_detect_s(concord: Concord, plan: DrillPlan) -> float:
    """From the ground truth and the rule threshold, not from the run under test.

    The vessel's last AIS report before it goes dark is the last one the simulator emits before the
    inject; the ais-dark rule fires at the first step at least ``gap_s`` after that report.
    """
    inject = plan.inject("dark-1")
    assert inject.go_dark is not None
    scenario = Scenario.from_config(plan.scenario)
    went_dark = scenario.start + timedelta(seconds=inject.at_s)
    scenario.inject_go_dark(inject.go_dark.mmsi, went_dark, inject.go_dark.duration_s)
    last_report = None
    while scenario.now < went_dark + timedelta(seconds=60):
        st = scenario.step(plan.run.step_s)
        for obs in st.observations:
            if obs.identity == f"mmsi:{inject.go_dark.mmsi}":
                last_report = obs.observed_at
    assert last_report is not None and last_report <= went_dark
    gap_s = concord.picture.rules.config.ais_dark.gap_s
    due_s = (last_report - scenario.start).total_seconds() + gap_s
    alert_s = math.ceil(due_s / plan.run.step_s) * plan.run.step_s
    return alert_s - inject.at_s


def test_drill_kpis_match_the_plan(concord: Concord, plan: DrillPlan) -> None:
    for agency in plan.agencies:
        concord.accounts.create_agency(agency.code, agency.name, agency.kind)
    concord.sharing.sign(
        Agreement(agreement_id="bp-cg", owner="BP", partner="CG", valid_from=plan.scenario.start),
        actor="system",
    )
    started = time.monotonic()
    result = DrillService(concord).run(plan, speed=0)
    assert time.monotonic() - started < 120
    kpis = result.kpis
    responders = {r.agency: r for r in plan.responders}

    assert _check(kpis, "dark-1", "detect") == _expected_dark_detect_s(concord, plan)
    assert _check(kpis, "dark-1", "acknowledge") == responders["CG"].acknowledge_after_s
    assert _check(kpis, "dark-1", "incident") == responders["CG"].open_incident_after_s
    crossing_s = _check(kpis, "cross-1", "detect")
    assert crossing_s is not None and 0 <= crossing_s <= plan.run.step_s
    assert _check(kpis, "cross-1", "acknowledge") == responders["BP"].acknowledge_after_s
    assert _check(kpis, "warn-1", "acknowledge") == responders["CG"].acknowledge_messages_after_s

    # Met: dark detect/ack/incident, crossing detect, message ack; missed: crossing ack (90 s > 60 s).
    assert [c.met for c in kpis.checks].count(False) == 1
    assert kpis.sla_compliance == round(5 / 6, 4)
    assert (kpis.caught, kpis.missed, kpis.detection_effectiveness) == (2, 0, 1.0)
    assert kpis.per_agency["CG"]["time_to_acknowledge"].median_s == 60.0
    assert kpis.per_agency["BP"]["time_to_acknowledge"].mean_s == 90.0
    assert kpis.sensor_false_alarms["camera"]["ratio"] == 0.0
    assert kpis.scope == "exercise" and kpis.exercise_id == plan.id

    # Sharing: the Coast Guard's drill user reads the picture every picture_every_s; the crossing alert
    # (Border Police, REL TO CG under agreement bp-cg) reaches it at the first read at or after it.
    alert_s = 600 + crossing_s
    every_s = plan.run.picture_every_s
    crossing_alert = next(c.alert_id for c in kpis.checks if c.inject == "cross-1")
    expected_s = math.ceil(alert_s / every_s) * every_s - alert_s
    assert kpis.share_latencies[f"{crossing_alert}->CG"] == expected_s
    assert all(key.endswith("->CG") for key in kpis.share_latencies)  # nothing of the Coast Guard's to BP
    assert kpis.share_volume_by_agreement == {"bp-cg": kpis.share_volume_by_pair["BP->CG"]}

    # Live KPIs never include the drill.
    live = DrillService(concord).kpis()
    assert live.alerts == 0 and live.scope == "live"

    # Replaying the journal rebuilds the projections; the KPIs come out exactly the same.
    before = DrillService(concord).kpis(exercise=plan.id).to_dict()
    concord.replay()
    assert DrillService(concord).kpis(exercise=plan.id).to_dict() == before == kpis.to_dict()


def test_drill_data_is_flagged_and_kept_out_of_live_views(drilled: tuple[Concord, DrillResult]) -> None:
    concord, ran = drilled
    events = list(DrillService(concord).events())
    drill_types = {"DrillStarted", "DrillInjected", "DrillTruthRecorded", "DrillEnded", "AlertRaised"}
    assert all(e.exercise for e in events if e.type in drill_types)
    started = next(e for e in events if e.type == "DrillStarted")
    assert started.payload["plan"]["id"] == ran.exercise_id and started.payload["plan_digest"]
    sent = next(e for e in events if e.type == "DrillMessageSent")
    assert sent.payload["text"].startswith(EXERCISE_PREFIX)
    viewer = concord.accounts.get_user_by_username("drill.cg").viewer()
    assert concord.queries.page("alert", viewer).total == 0
    assert concord.queries.page("alert", viewer, exercise=True).total > 0


def _pdftoppm(pdf: bytes, tmp_path: Path) -> list[Path]:
    tool = shutil.which("pdftoppm")
    if tool is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    source = tmp_path / "aar.pdf"
    source.write_bytes(pdf)
    subprocess.run([tool, "-r", "40", "-png", str(source), str(tmp_path / "page")], check=True, timeout=60)
    return sorted(tmp_path.glob("page*.png"))


@pytest.mark.slow
def test_aar_pdf_renders_per_viewer(drilled: tuple[Concord, DrillResult], tmp_path: Path) -> None:
    concord, ran = drilled
    reports = ReportService(concord)
    cg = reports.aar(concord.accounts.get_user_by_username("drill.cg").viewer(), exercise=ran.exercise_id)
    from weasyprint import HTML  # type: ignore[import-untyped]

    html = render_html(cg)
    expected_pages = len(HTML(string=html).render().pages)
    pdf = render_pdf(cg)
    assert pdf.startswith(b"%PDF")
    pages = _pdftoppm(pdf, tmp_path)
    assert len(pages) == expected_pages >= 2
    for page in pages:
        with Image.open(page) as img:
            lo, hi = img.convert("L").getextrema()
            assert isinstance(lo, int) and isinstance(hi, int) and hi > lo  # not one flat colour
    assert "EXERCISE EXERCISE EXERCISE" in html
    assert cg.kpis is not None and cg.action_items  # the crossing acknowledgement missed its target

    # Border Police may not see the Coast Guard's AIS alerts: left out, counted, not described.
    bp = reports.aar(concord.accounts.get_user_by_username("drill.bp").viewer(), exercise=ran.exercise_id)
    dark_alert = next(c.alert_id for c in ran.kpis.checks if c.inject == "dark-1" and c.alert_id)
    assert bp.withheld > 0
    bp_html = render_html(bp)
    assert f"{bp.withheld} item(s) withheld" in bp_html
    assert dark_alert not in bp_html and dark_alert in html
    assert "has not reported" not in bp_html


def test_sitrep_and_briefing_are_released_per_viewer(drilled: tuple[Concord, DrillResult]) -> None:
    concord, ran = drilled
    reports = ReportService(concord)
    viewer = concord.accounts.get_user_by_username("drill.bp").viewer()
    sitrep = reports.sitrep(viewer, hours=2, exercise=True)
    assert sitrep.exercise and sitrep.withheld > 0
    assert all(t.agency in ("BP", "CG", "JOC") for t in sitrep.timeline)
    briefing = reports.briefing(viewer)
    assert briefing.kind == "briefing" and not briefing.exercise
    assert "<script>" not in render_html(briefing)


def test_capability_points_at_sections(drilled: tuple[Concord, DrillResult]) -> None:
    concord, ran = drilled
    report = ReportService(concord).capability(exercise=ran.exercise_id)
    assert report.agencies["BP"]["sensors"]["camera"] >= 1
    assert report.agencies["CG"]["sensors"]["ais"] == 1
    assert len(report.weakest) == 3
    assert {s["id"] for s in report.sections} >= set(report.weakest)


class _WallClock:
    """A stand-in for the wall clock: time passes only while the runner sleeps."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def monotonic(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now_s += seconds


def test_speed_paces_the_run_and_zero_does_not_wait(concord: Concord, plan: DrillPlan) -> None:
    short = DrillPlan.from_dict(
        {
            **plan.to_dict(),
            "id": "paced-1",
            "run": {**plan.run.model_dump(), "duration_s": 200.0},
            "injects": [],
            "expectations": [],
        }
    )
    wall = _WallClock()
    DrillService(concord, sleep=wall.sleep, monotonic=wall.monotonic).run(short, speed=50.0)
    assert wall.now_s == pytest.approx(200.0 / 50.0)
    again = DrillPlan.from_dict(
        {
            **short.to_dict(),
            "id": "paced-2",
            "scenario": {**short.scenario.model_dump(mode="json"), "start": "2026-03-14T21:00:00Z"},
        }
    )
    idle = _WallClock()
    DrillService(concord, sleep=idle.sleep, monotonic=idle.monotonic).run(again, speed=0)
    assert idle.now_s == 0.0
    # An exercise runs once per database; a new id may not start in the clock's past.
    with pytest.raises(Conflict):
        DrillService(concord).run(short)
    with pytest.raises(InvalidInput):
        DrillService(concord).run(DrillPlan.from_dict({**short.to_dict(), "id": "paced-3"}))


def test_aar_of_an_incident(drilled: tuple[Concord, DrillResult]) -> None:
    concord, ran = drilled
    dark_alert = next(c.alert_id for c in ran.kpis.checks if c.inject == "dark-1" and c.alert_id)
    opened = [
        e
        for e in DrillService(concord).events(types=["incident.opened"])
        if dark_alert in e.payload["alert_ids"]
    ]
    assert len(opened) == 1 and opened[0].exercise
    incident_id = str(opened[0].payload["incident_id"])
    reports = ReportService(concord)
    doc = reports.aar(concord.accounts.get_user_by_username("drill.cg").viewer(), incident=incident_id)
    assert doc.exercise and doc.subject == f"incident {incident_id}"
    kinds = [t.kind for t in doc.timeline]
    assert kinds[:1] == ["AlertRaised"] and "incident.opened" in kinds and "AlertAcknowledged" in kinds
    assert doc.kpis is not None and doc.kpis.overall["time_to_acknowledge"].mean_s == 60.0
    # Border Police may see none of it: the incident is as absent as one that never existed.
    bp = reports.aar(concord.accounts.get_user_by_username("drill.bp").viewer(), incident=incident_id)
    assert list(bp.timeline) == [] and bp.withheld > 0 and dark_alert not in render_html(bp)
