"""Patrol plans and hotspot forecasts over the API, built only from what the caller may see."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient

from concord.adapters import records_store as store
from concord.bootstrap import Concord
from concord.domain.alert import Alert, AlertKind, ImpactLevel
from concord.domain.marking import Marking, Tlp
from concord.drills.sim import Scenario, ScenarioConfig
from concord.services.records import alert_row
from tests.factories import PASSWORD, small_world


def _bearer(api: TestClient, username: str) -> dict[str, str]:
    r = api.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _world(api: TestClient, concord: Concord) -> list[str]:
    small_world(concord)
    scenario = Scenario.from_config(
        ScenarioConfig(
            seed=3,
            start=concord.clock.now(),
            walkers=0,
            vehicles=0,
            boats=0,
            vessels=0,
            patrols=0,
            rendezvous_count=0,
        )
    )
    r = api.post(
        "/api/zones", content=json.dumps(scenario.zones_geojson()), headers=_bearer(api, "joc.admin")
    )
    assert r.status_code == 201
    sections = sorted(z.id for z in concord.zones.zones() if z.kind.value == "border-section")
    everyone = frozenset({"BP", "CG", "JOC"})
    rows = []
    for i in range(6):
        originator = "BP" if i < 4 else "CG"
        marking = Marking(classification="RESTRICTED", originator=originator, rel_to=everyone, tlp=Tlp.AMBER)
        alert = Alert(
            id=f"alert-{i}",
            kind=AlertKind.BORDER_CROSSING,
            dedup_key=f"k{i}",
            episode=1,
            raised_at=concord.clock.now() - timedelta(hours=i),
            updated_at=concord.clock.now(),
            impact=ImpactLevel.HIGH,
            confidence=0.9,
            track_ids=(f"t{i}",),
            zone_ids=(sections[0],),
            lat=41.3 + 0.01 * i,
            lon=26.45,
            marking=marking,
            summary="crossing",
        )
        rows.append(alert_row(alert, seq=100 + i))
    with concord.engine.begin() as conn:
        store.upsert_records(conn, rows)
    return sections


def test_patrol_plan_over_visible_sections_and_history(api: TestClient, concord: Concord) -> None:
    sections = _world(api, concord)
    body = {"units": [{"agency": "BP", "name": "foot", "count": 2, "max_sections": 1}], "seed": 1}
    r = api.post("/api/plans/patrols", json=body, headers=_bearer(api, "bp.cmd"))
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["sections"] == sections
    # BP sees its own four alerts; CG's two are withheld (no agreement) and weigh nothing.
    assert plan["alerts_used"] == 4
    coverage = plan["coverage"]["game"]
    assert abs(sum(coverage) - 2.0) < 1e-6 and all(0 <= c <= 1 + 1e-9 for c in coverage)
    assert len([u for u in plan["shift"] if u["sections"]]) <= 2
    assert plan["banner"].startswith("RESTRICTED")


def test_hotspots_come_from_released_alerts_only(api: TestClient, concord: Concord) -> None:
    _world(api, concord)
    bp = api.get("/api/plans/hotspots", params={"top": 5}, headers=_bearer(api, "bp.cmd")).json()
    assert bp["type"] == "FeatureCollection" and bp["alerts_used"] == 4
    assert 1 <= len(bp["features"]) <= 5
    risks = [f["properties"]["risk"] for f in bp["features"]]
    assert risks == sorted(risks, reverse=True)
    lon, lat = bp["features"][0]["geometry"]["coordinates"][0][0]
    assert 26.3 < lon < 26.6 and 41.2 < lat < 41.4
    cg = api.get("/api/plans/hotspots", headers=_bearer(api, "cg.cmd")).json()
    assert cg["alerts_used"] == 2  # CG's own; BP shares nothing with CG here
    assert api.get("/api/plans/hotspots", headers=_bearer(api, "bp.op")).status_code == 403


def test_bad_plan_requests(api: TestClient, concord: Concord) -> None:
    _world(api, concord)
    headers = _bearer(api, "bp.cmd")
    for body in (
        {"units": []},
        {"units": [{"agency": "BP", "name": "x", "count": 0}]},
        {"units": [{"agency": "BP", "name": "x", "count": 1, "surprise": 1}]},
        {"units": "many"},
    ):
        r = api.post("/api/plans/patrols", json=body, headers=headers)
        assert r.status_code == 422, body
    assert api.get("/api/plans/hotspots", params={"cell_m": "NaN"}, headers=headers).status_code == 422


def test_no_sections_visible_is_a_clear_error(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    body = {"units": [{"agency": "BP", "name": "foot", "count": 1}]}
    r = api.post("/api/plans/patrols", json=body, headers=_bearer(api, "bp.cmd"))
    assert r.status_code == 422 and "border sections" in r.json()["error"]["message"]


def test_plan_report_html_and_pdf(api: TestClient, concord: Concord) -> None:
    _world(api, concord)
    headers = _bearer(api, "bp.cmd")
    body = {"units": [{"agency": "BP", "name": "foot", "count": 2}], "seed": 2}
    html = api.post("/api/plans/report", json=body, headers=headers)
    assert html.status_code == 200, html.text
    assert "Patrol plan for BP" in html.text and "4 alerts you may see" in html.text
    assert "alert-4" not in html.text  # CG's withheld alerts are not in the report
    pdf = api.post("/api/plans/report?format=pdf", json=body, headers=headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert api.post("/api/plans/report", json=body, headers=_bearer(api, "bp.op")).status_code == 403
