"""The CAP routes: messages and feed through the release gate, 404 for the unseen, hostile URLs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.factories import small_world
from tests.integration.cap.cap_plant import make_alert, plant_alert, shared_marking, update_alert

from concord.adapters.clock import ManualClock
from concord.bootstrap import Concord
from concord.domain.agreement import Agreement
from concord.domain.marking import Tlp
from concord.egress.cap import CAP_NS, validate_atom, validate_cap

ATOM = {"a": "http://www.w3.org/2005/Atom"}
CAP = {"cap": CAP_NS}


def _headers(concord: Concord, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {concord.accounts.issue_token(username).token}"}


def _feed_ids(body: bytes) -> list[str]:
    root = ET.fromstring(body)
    out = []
    for entry in root.findall("a:entry", ATOM):
        link = entry.find("a:link[@type='application/cap+xml']", ATOM)
        assert link is not None
        href = link.get("href", "")
        out.append(href.rsplit("/", 1)[1].removesuffix(".xml"))
    return out


@pytest.fixture
def world(concord: Concord) -> Concord:
    small_world(concord)
    return concord


def test_cap_api_alert_as_cap_message(world: Concord, api: TestClient, clock: ManualClock) -> None:
    alert = plant_alert(world, make_alert("alert-0a1", clock.now(), shared_marking("BP", "CG")))
    response = api.get("/api/cap/alerts/alert-0a1.xml", headers=_headers(world, "bp.op"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/cap+xml")
    assert validate_cap(response.content) == []
    root = ET.fromstring(response.content)
    assert root.findtext("cap:identifier", None, CAP) == "concord.alert.alert-0a1.1"
    assert root.findtext("cap:restriction", None, CAP) == alert.marking.banner()
    assert root.findtext("cap:sender", None, CAP) == f"concord@{world.settings.region_name}"


def test_cap_api_needs_authentication(world: Concord, api: TestClient, clock: ManualClock) -> None:
    plant_alert(world, make_alert("alert-0a2", clock.now(), shared_marking("BP")))
    assert api.get("/api/cap/alerts/alert-0a2.xml").status_code == 401
    assert api.get("/api/cap/alerts.atom").status_code == 401


def test_cap_api_other_agency_without_agreement(world: Concord, api: TestClient, clock: ManualClock) -> None:
    plant_alert(world, make_alert("alert-0b1", clock.now(), shared_marking("BP", "CG")))
    plant_alert(world, make_alert("alert-0b2", clock.now(), shared_marking("CG", "BP")))
    cg = _headers(world, "cg.op")
    response = api.get("/api/cap/alerts/alert-0b1.xml", headers=cg)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not-found"
    # Indistinguishable from an alert that does not exist at all.
    missing = api.get("/api/cap/alerts/alert-ffff.xml", headers=cg)
    assert missing.status_code == 404 and missing.json() == response.json()
    feed = api.get("/api/cap/alerts.atom", headers=cg)
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/atom+xml")
    assert validate_atom(feed.content) == []
    assert _feed_ids(feed.content) == ["alert-0b2"]
    assert b"CANARY-alert-0b1" not in feed.content

    # With an agreement in force, the same viewer sees it.
    world.sharing.sign(
        Agreement(
            agreement_id="bp-cg",
            owner="BP",
            partner="CG",
            valid_from=clock.now() - timedelta(days=1),
        ),
        actor="bp.admin",
    )
    assert api.get("/api/cap/alerts/alert-0b1.xml", headers=cg).status_code == 200
    feed = api.get("/api/cap/alerts.atom", headers=cg)
    assert sorted(_feed_ids(feed.content)) == ["alert-0b1", "alert-0b2"]


def test_cap_api_feed_counts_visible_alerts(world: Concord, api: TestClient, clock: ManualClock) -> None:
    for i in range(5):
        plant_alert(world, make_alert(f"alert-1{i}", clock.now(), shared_marking("BP")))
    ended = plant_alert(world, make_alert("alert-1e", clock.now(), shared_marking("BP")))
    update_alert(world, ended, minutes=2, ended=True)
    bp = _headers(world, "bp.op")
    feed = api.get("/api/cap/alerts.atom", headers=bp)
    assert validate_atom(feed.content) == []
    viewer = world.accounts.get_user_by_username("bp.op").viewer()
    current = {
        r.record.record_id
        for status in ("open", "acknowledged")
        for r in world.queries.page("alert", viewer, status=status).items
    }
    assert sorted(_feed_ids(feed.content)) == sorted(current)
    assert len(current) == 5
    everything = api.get("/api/cap/alerts.atom?include_ended=true", headers=bp)
    assert len(_feed_ids(everything.content)) == world.queries.page("alert", viewer).total == 6
    # Paging: two entries a page, with a next link until the end.
    first = api.get("/api/cap/alerts.atom?limit=2", headers=bp)
    root = ET.fromstring(first.content)
    assert len(root.findall("a:entry", ATOM)) == 2
    next_link = root.find("a:link[@rel='next']", ATOM)
    assert next_link is not None
    last = api.get("/api/cap/alerts.atom?offset=4&limit=2", headers=bp)
    assert len(ET.fromstring(last.content).findall("a:entry", ATOM)) == 1
    assert ET.fromstring(last.content).find("a:link[@rel='next']", ATOM) is None


def test_cap_api_update_and_cancel(world: Concord, api: TestClient, clock: ManualClock) -> None:
    alert = plant_alert(world, make_alert("alert-2a", clock.now(), shared_marking("BP")))
    bp = _headers(world, "bp.op")
    updated = update_alert(world, alert, minutes=1)
    root = ET.fromstring(api.get("/api/cap/alerts/alert-2a.xml", headers=bp).content)
    assert root.findtext("cap:msgType", None, CAP) == "Update"
    sender = f"concord@{world.settings.region_name}"
    original = f"{sender},concord.alert.alert-2a.1,{alert.raised_at.strftime('%Y-%m-%dT%H:%M:%S')}+00:00"
    assert root.findtext("cap:references", None, CAP) == original
    update_alert(world, updated, minutes=1, ended=True)
    response = api.get("/api/cap/alerts/alert-2a.xml", headers=bp)
    assert validate_cap(response.content) == []
    root = ET.fromstring(response.content)
    assert root.findtext("cap:msgType", None, CAP) == "Cancel"
    assert root.findtext("cap:identifier", None, CAP) == "concord.alert.alert-2a.3"
    assert root.findtext("cap:references", None, CAP) == original


def test_cap_api_exercise_alerts_stay_marked(world: Concord, api: TestClient, clock: ManualClock) -> None:
    plant_alert(world, make_alert("alert-3x", clock.now(), shared_marking("BP"), exercise=True))
    plant_alert(world, make_alert("alert-3l", clock.now(), shared_marking("BP")))
    bp = _headers(world, "bp.op")
    response = api.get("/api/cap/alerts/alert-3x.xml", headers=bp)
    assert response.status_code == 200
    assert validate_cap(response.content) == []
    assert ET.fromstring(response.content).findtext("cap:status", None, CAP) == "Exercise"
    assert _feed_ids(api.get("/api/cap/alerts.atom", headers=bp).content) == ["alert-3l"]
    drill = api.get("/api/cap/alerts.atom?exercise=true", headers=bp)
    assert _feed_ids(drill.content) == ["alert-3x"]
    assert b"EXERCISE" in api.get("/api/cap/alerts/alert-3x.xml", headers=bp).content


@pytest.mark.parametrize(
    "path",
    [
        "/api/cap/alerts/..%2F..%2Fetc%2Fpasswd.xml",
        "/api/cap/alerts/%2E%2E.xml",
        "/api/cap/alerts/..xml",
        "/api/cap/alerts/" + "a" * 5000 + ".xml",
        "/api/cap/alerts/1'%20OR%20'1'='1.xml",
        "/api/cap/alerts/alert-1;DROP%20TABLE%20records.xml",
        "/api/cap/alerts/%00.xml",
        "/api/cap/alerts/%3Cscript%3E.xml",
        "/api/cap/alerts/alert%0D%0AX-Injected:%201.xml",
        "/api/cap/alerts/%E2%80%AE.xml",
        "/api/cap/alerts/.xml",
        "/api/cap/alerts/alert-0a1",
        "/api/cap/alerts/../../api/admin.xml",
        "/api/cap/alerts.atom?limit=0",
        "/api/cap/alerts.atom?limit=100000",
        "/api/cap/alerts.atom?limit=NaN",
        "/api/cap/alerts.atom?offset=-1",
        "/api/cap/alerts.atom?offset=1e309",
        "/api/cap/alerts.atom?exercise=maybe",
    ],
)
def test_cap_api_hostile_urls_get_clean_errors(world: Concord, api: TestClient, path: str) -> None:
    response = api.get(path, headers=_headers(world, "bp.op"))
    assert response.status_code in (404, 422), response.text
    body: dict[str, Any] = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    assert "Traceback" not in response.text


def test_cap_api_route_is_in_openapi(api: TestClient) -> None:
    paths = api.get("/api/openapi.json").json()["paths"]
    assert "/api/cap/alerts/{alert_id}.xml" in paths
    assert "/api/cap/alerts.atom" in paths


def test_cap_api_tlp_red_stays_with_originator(world: Concord, api: TestClient, clock: ManualClock) -> None:
    plant_alert(world, make_alert("alert-4r", clock.now(), shared_marking("BP", "CG", tlp=Tlp.RED)))
    assert api.get("/api/cap/alerts/alert-4r.xml", headers=_headers(world, "cg.cmd")).status_code == 404
    assert api.get("/api/cap/alerts/alert-4r.xml", headers=_headers(world, "bp.op")).status_code == 200
