"""KPIs, reports and lessons over REST, released per caller, with hostile inputs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from tests.conftest import FAST_HASHER
from tests.factories import small_world

from concord.adapters.clock import ManualClock
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings
from concord.domain.agreement import Agreement
from concord.drills import parse_plan
from concord.services.drills import DrillService

PLAN = Path(__file__).parents[3] / "examples" / "drill-harbour-night.yaml"


def _auth(concord: Concord, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {concord.accounts.issue_token(username).token}"}


@pytest.fixture(scope="module")
def concord(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Concord]:
    """One drilled database for the whole module (the reads below do not disturb each other)."""
    root = tmp_path_factory.mktemp("drill-api")
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
        yield app
    finally:
        app.close()


@pytest.fixture(scope="module")
def api(concord: Concord) -> Iterator[TestClient]:
    from concord.entrypoints.api.main import create_app

    with TestClient(create_app(concord.settings, concord=concord)) as client:
        yield client


@pytest.fixture(scope="module")
def drilled(concord: Concord) -> str:
    small_world(concord)  # the drill takes part with the agencies already there
    # Border Police shares with the Coast Guard (not the other way round).
    agreement = Agreement(
        agreement_id="bp-cg", owner="BP", partner="CG", valid_from=datetime(2026, 1, 1, tzinfo=UTC)
    )
    concord.sharing.sign(agreement, actor="system")
    # The shipped plan, cut short after the crossing (enough for the API; the full run is tested apart).
    data = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    data["run"]["duration_s"] = 720
    data["injects"] = [i for i in data["injects"] if i["id"] != "outage-1"]
    plan = parse_plan(yaml.safe_dump(data))
    DrillService(concord).run(plan)
    return str(plan.id)


def test_kpis_endpoint(api: TestClient, concord: Concord, drilled: str) -> None:
    cg = _auth(concord, "drill.cg")
    body: dict[str, Any] = api.get("/api/kpis", params={"exercise": drilled}, headers=cg).json()
    assert body["scope"] == "exercise" and body["exercise_id"] == drilled
    dark = [c for c in body["sla"]["checks"] if c["inject"] == "dark-1" and c["measure"] == "acknowledge"]
    assert dark[0]["actual_s"] is None  # cut short: the vessel is not yet overdue
    cross = [c for c in body["sla"]["checks"] if c["inject"] == "cross-1" and c["measure"] == "acknowledge"]
    assert cross[0]["actual_s"] == 90.0  # a Border Police alert, shared with the Coast Guard
    # The Coast Guard's drill user reads the picture every 60 s: the crossing reached it at the next read.
    assert body["sharing"]["volume_by_pair"].get("BP->CG", 0) >= 1
    assert 0 < body["sharing"]["latency"]["max_s"] <= 60
    bp_body = api.get("/api/kpis", params={"exercise": drilled}, headers=_auth(concord, "drill.bp")).json()
    cross = [
        c for c in bp_body["sla"]["checks"] if c["inject"] == "cross-1" and c["measure"] == "acknowledge"
    ]
    assert cross[0]["actual_s"] == 90.0
    live = api.get(
        "/api/kpis", params={"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z"}, headers=cg
    )
    assert live.status_code == 200 and live.json()["alerts"] == 0
    runs = api.get("/api/kpis/exercises", headers=cg).json()
    assert [r["exercise_id"] for r in runs["data"]] == [drilled]
    assert api.get("/api/kpis/exercises", headers=_auth(concord, "bp.op")).json()["count"] == 1


@pytest.mark.parametrize(
    "params",
    [
        {"exercise": "../../etc/passwd"},
        {"exercise": "x" * 500},
        {"from": "not-a-time"},
        {"from": "2026-01-01T00:00:00"},  # no time zone
        {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"exercise": "no-such-drill"},
    ],
)
def test_kpis_hostile_queries(
    api: TestClient, concord: Concord, drilled: str, params: dict[str, str]
) -> None:
    resp = api.get("/api/kpis", params=params, headers=_auth(concord, "drill.cg"))
    assert resp.status_code in (400, 404, 422)
    assert "error" in resp.json() or "detail" in resp.json()


def test_kpis_need_a_caller(api: TestClient, drilled: str) -> None:
    assert api.get("/api/kpis").status_code == 401
    assert api.get("/api/reports/aar", params={"exercise": drilled}).status_code == 401
    assert api.get("/api/lessons").status_code == 401


def test_a_non_participant_sees_no_exercise(api: TestClient, concord: Concord, drilled: str) -> None:
    if "CUS" not in {a.code for a in concord.accounts.list_agencies()}:
        concord.accounts.create_agency("CUS", "Customs", "customs")
    concord.accounts.create_user("cus.op", "CUS", ["operator"], "RESTRICTED")
    resp = api.get(
        "/api/reports/aar", params={"exercise": drilled, "format": "json"}, headers=_auth(concord, "cus.op")
    )
    assert resp.status_code == 404


@pytest.mark.slow
def test_aar_formats(api: TestClient, concord: Concord, drilled: str) -> None:
    cg = _auth(concord, "drill.cg")
    doc = api.get("/api/reports/aar", params={"exercise": drilled, "format": "json"}, headers=cg).json()
    assert doc["exercise"] and doc["banner"].startswith("EXERCISE EXERCISE EXERCISE")
    html = api.get("/api/reports/aar", params={"exercise": drilled}, headers=cg)
    assert html.headers["content-type"].startswith("text/html")
    pdf = api.get("/api/reports/aar", params={"exercise": drilled, "format": "pdf"}, headers=cg)
    assert pdf.content.startswith(b"%PDF")
    bad = api.get("/api/reports/aar", params={"exercise": drilled, "incident": "i-1"}, headers=cg)
    assert bad.status_code == 422
    assert (
        api.get("/api/reports/aar", params={"format": "docx", "exercise": drilled}, headers=cg).status_code
        == 422
    )
    assert api.get("/api/reports/aar", params={"incident": "nope"}, headers=cg).status_code == 404


def test_sitrep_briefing_capability(api: TestClient, concord: Concord, drilled: str) -> None:
    cg = _auth(concord, "drill.cg")
    sitrep = api.get(
        "/api/reports/sitrep", params={"format": "json", "exercise": "true", "hours": 2}, headers=cg
    )
    assert sitrep.status_code == 200 and sitrep.json()["kind"] == "sitrep"
    assert api.get("/api/reports/sitrep", params={"hours": "nan"}, headers=cg).status_code == 422
    assert api.get("/api/reports/briefing", params={"days": -1}, headers=cg).status_code == 422
    assert (
        api.get("/api/reports/briefing", params={"format": "json"}, headers=cg).json()["kind"] == "briefing"
    )
    cap = api.get("/api/kpis/capability", params={"exercise": drilled}, headers=cg)
    assert cap.status_code == 200 and len(cap.json()["weakest"]) == 3
    assert api.get("/api/kpis/capability", headers=_auth(concord, "bp.op")).status_code == 403


def test_feedback_and_lessons_library(api: TestClient, concord: Concord, drilled: str) -> None:
    bp = _auth(concord, "bp.op")
    cg = _auth(concord, "cg.op")
    ok = api.post(
        "/api/lessons/feedback",
        json={
            "subject_kind": "exercise",
            "subject_id": drilled,
            "rating": 4,
            "went_well": "fast",
            "to_improve": "ack",
        },
        headers=bp,
    )
    assert ok.status_code == 201
    for hostile in (
        {"subject_kind": "exercise", "subject_id": drilled, "rating": 9},
        {"subject_kind": "exercise", "subject_id": drilled, "rating": "4"},
        {"subject_kind": "meeting", "subject_id": drilled, "rating": 3},
        {"subject_kind": "exercise", "subject_id": "", "rating": 3},
        {"subject_kind": "exercise", "subject_id": drilled, "rating": 3, "went_well": "x" * 5000},
        {"subject_kind": "exercise", "subject_id": drilled, "rating": 3, "extra": 1},
    ):
        assert api.post("/api/lessons/feedback", json=hostile, headers=bp).status_code in (400, 422)
    shared = api.post(
        "/api/lessons",
        json={
            "title": "Acknowledge crossings faster",
            "body": "BP took 90 s <script>x</script>",
            "tags": ["crossing"],
            "playbook_id": "land-crossing",
            "proposed_playbook": "steps: []",
            "rel_to": ["CG"],
            "tlp": "AMBER",
        },
        headers=bp,
    )
    assert shared.status_code == 201
    own = api.post(
        "/api/lessons",
        json={"title": "BP only", "body": "internal", "tlp": "RED", "rel_to": ["BP"]},
        headers=bp,
    )
    assert own.status_code == 201
    for hostile_lesson in (
        {"title": "", "body": "b"},
        {"title": "t", "body": "b", "tags": ["Bad Tag"]},
        {"title": "t", "body": "\x00"},
        {"title": "t", "body": "b", "tlp": "PURPLE"},
    ):
        assert api.post("/api/lessons", json=hostile_lesson, headers=bp).status_code in (400, 422)
    mine = api.get("/api/lessons", headers=bp).json()
    assert mine["count"] == 2
    theirs = api.get("/api/lessons", params={"q": "crossings"}, headers=cg).json()
    assert [x["title"] for x in theirs["data"]] == ["Acknowledge crossings faster"]
    assert theirs["data"][0]["playbook_id"] == "land-crossing"
    assert api.get("/api/lessons", params={"q": "internal"}, headers=cg).json()["count"] == 0
    assert api.get("/api/lessons", params={"tag": "crossing"}, headers=cg).json()["count"] == 1
    assert api.get("/api/lessons", params={"tag": "DROP TABLE"}, headers=cg).status_code == 422
    assert api.get("/api/lessons", params={"q": "x" * 201}, headers=cg).status_code == 422
