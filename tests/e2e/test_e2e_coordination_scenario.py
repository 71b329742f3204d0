"""The coordination capability end to end, driven by the simulator and the API as clients call it.

A vessel near the coast switches its AIS off in the harbour approaches, where the coast guard's sea
area and a customs port area overlap. The picture raises an AIS-dark alert; it is routed to the coast
guard and a jurisdiction conflict with customs is surfaced; a coast guard commander settles it through
the API; an incident opens with its playbook; a task misses its SLA and escalates as the clock runs; a
task force talks on its channel; the incident closes with a complete log. Each agency's users, with
their own tokens, see only what the release gate gives them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import FAST_HASHER, START
from tests.integration.coordination.coordination_world import feature, world

from concord.adapters.clock import ManualClock
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings
from concord.domain.agreement import Agreement
from concord.domain.record import RecordRow
from concord.drills.sim import Scenario, ScenarioConfig
from concord.entrypoints.api.main import create_app

pytestmark = pytest.mark.timeout(180)

STEP_S = 10.0
DARK_AT = START + timedelta(seconds=60)


def _config() -> ScenarioConfig:
    # A quiet sea: AIS-reporting vessels only, so that silence is darkness (no radar keeps them lit).
    return ScenarioConfig(
        seed=7,
        start=START,
        walkers=0,
        vehicles=0,
        boats=0,
        vessels=6,
        patrols=0,
        respawn=False,
        dark_probability=0.0,
        rendezvous_count=0,
        exercise=False,
        radar={"sites": 0},
        camera={"towers": 0},
        ugs={"count": 0},
        markings={"CG": {"rel_to": ["CG", "CUS"]}},
    )


def _scenario() -> tuple[Scenario, int]:
    """The scenario, with the vessel nearest the coast going dark at DARK_AT."""
    scenario = Scenario.from_config(_config())
    probe = Scenario.from_config(_config())
    vessels = [t for t in probe.step(STEP_S).truth if t.mmsi]
    mmsi = max(vessels, key=lambda t: t.lat).mmsi
    assert mmsi is not None
    scenario.inject_go_dark(mmsi, DARK_AT, duration_s=2400.0)
    return scenario, mmsi


def _where_it_goes_dark(mmsi: int) -> tuple[float, float]:
    """(lon, lat) of the vessel when it switches off, from a dry run of the same seeded scenario."""
    dry = Scenario.from_config(_config())
    dry.inject_go_dark(mmsi, DARK_AT, duration_s=2400.0)
    while True:
        step = dry.step(STEP_S)
        if step.time >= DARK_AT:
            vessel = next(t for t in step.truth if t.mmsi == mmsi)
            return vessel.lon, vessel.lat


def _zones(scenario: Scenario, lon: float, lat: float) -> dict[str, Any]:
    """The simulator's zones plus harbour approaches around the darkening point: a port area that
    customs is responsible for, overlapping the coast guard's maritime AOR."""
    half = 0.04
    square = [
        [
            [lon - half, lat - half],
            [lon + half, lat - half],
            [lon + half, lat + half],
            [lon - half, lat + half],
            [lon - half, lat - half],
        ]
    ]
    geojson = scenario.zones_geojson()
    geojson["features"] = [
        *geojson["features"],
        feature("port-approaches", "port", square),
        feature("aor-cus-approaches", "aor", square, agency="CUS"),
    ]
    return geojson


@pytest.fixture
def system(settings: Settings, clock: ManualClock) -> Iterator[tuple[Concord, TestClient]]:
    concord = bootstrap(settings, clock=clock, password_hasher=FAST_HASHER)
    try:
        with TestClient(create_app(settings, concord=concord)) as client:
            yield concord, client
    finally:
        concord.close()


def _token(concord: Concord, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {concord.accounts.issue_token(username).token}"}


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_e2e_dark_vessel_in_the_harbour_approaches(
    system: tuple[Concord, TestClient], clock: ManualClock
) -> None:
    concord, api = system
    world(concord)
    # Customs and the coast guard share with each other (no sensitive fields); BP has no agreement.
    for owner, partner in (("CG", "CUS"), ("CUS", "CG")):
        concord.sharing.sign(
            Agreement(
                agreement_id=f"{owner}-{partner}".lower(),
                owner=owner,
                partner=partner,
                valid_from=START - timedelta(days=1),
            ),
            actor="test",
        )
    scenario, mmsi = _scenario()
    lon, lat = _where_it_goes_dark(mmsi)
    concord.zones.import_geojson(json.dumps(_zones(scenario, lon, lat)), actor="test", agency="JOC")
    announced: list[RecordRow] = []
    concord.picture.subscribe(lambda change: announced.extend(change.rows))
    cg_op, cg_an, cg_cmd = (_token(concord, u) for u in ("cg.op", "cg.an", "cg.cmd"))
    cus_op, cus_cmd, bp_op = (_token(concord, u) for u in ("cus.op", "cus.cmd", "bp.op"))

    # 1. The simulator runs; the picture ingests and ticks; an AIS-dark alert is raised.
    dark_alert: dict[str, Any] | None = None
    for _ in range(200):
        step = scenario.step(STEP_S)
        clock.set(step.time)
        if step.observations:
            concord.picture.ingest(step.observations, actor="sim")
        concord.picture.tick()
        alerts = _ok(api.get("/api/alerts", headers=cg_op))["data"]
        dark = [a for a in alerts if a["fields"]["kind"] == "ais-dark"]
        if dark:
            dark_alert = dark[0]
            break
    assert dark_alert is not None, "the vessel going dark raised no alert"
    alert_id = dark_alert["id"]
    assert dark_alert["fields"]["track_ids"]

    # 2. Routed at once: owned (provisionally) by CG, a conflict with CUS surfaced.
    routing = _ok(api.get(f"/api/alerts/{alert_id}/routing", headers=cg_op))["fields"]
    assert routing["owner"] == "CG"
    assert set(routing["candidates"]) == {"CG", "CUS"}
    [conflict_id] = routing["open_conflicts"]
    assert set(routing["conflicts"][conflict_id]["agencies"]) == {"CG", "CUS"}
    conflicts = _ok(api.get("/api/conflicts", headers=cus_cmd))
    assert [c["id"] for c in conflicts["data"]] == [alert_id]
    assert _ok(api.get("/api/conflicts", headers=bp_op))["count"] == 0
    assert api.get(f"/api/alerts/{alert_id}/routing", headers=bp_op).status_code == 404

    # 3. A commander resolves it through the API (an operator may not).
    body = {"decision": "CG", "reason": "the vessel is at sea, outside the harbour mouth"}
    url = f"/api/alerts/{alert_id}/conflicts/{conflict_id}/resolve"
    assert api.post(url, json=body, headers=cg_op).status_code == 403
    resolved = _ok(api.post(url, json=body, headers=cg_cmd))["fields"]
    assert resolved["owner"] == "CG" and resolved["open_conflicts"] == []
    assert resolved["conflicts"][conflict_id]["decision"] == "CG"
    assert _ok(api.get("/api/conflicts", headers=cus_cmd))["count"] == 0
    assert api.post(url, json=body, headers=cus_cmd).status_code == 409

    # 4. An incident opens from the alert with its playbook's tasks.
    opened = _ok(api.post(f"/api/alerts/{alert_id}/incident", json={}, headers=cg_op), 201)
    incident_id = opened["id"]
    fields = opened["fields"]
    assert fields["lead_agency"] == "CG" and fields["supporting_agencies"] == ["CUS"]
    assert fields["playbook_id"] == "maritime-rendezvous"
    assert fields["alert_ids"] == [alert_id]
    tasks = {t["fields"]["id"]: t["fields"] for t in opened["tasks"]}
    assert set(tasks) == {"dispatch-vessel", "identify-vessels", "customs-landing-check"}
    assert tasks["customs-landing-check"]["agency"] == "CUS"
    assert any(r.kind == "incident" and r.id == incident_id for r in announced)

    # 5. Nobody acknowledges dispatch-vessel within 300 s: the clock escalates it, once.
    clock.advance(301)
    sent = concord.coordination.tick()
    assert [(e.task_id, e.phase.value, e.agency, e.role) for e in sent] == [
        ("dispatch-vessel", "acknowledge", "CG", "commander")
    ]
    assert concord.coordination.tick() == []
    log = _ok(api.get(f"/api/incidents/{incident_id}", headers=cg_op))["fields"]["log"]
    assert [e["type"] for e in log].count("task.escalation-notified") == 1
    _ok(api.post(f"/api/incidents/{incident_id}/tasks/dispatch-vessel/ack", headers=cg_op))
    _ok(
        api.post(
            f"/api/incidents/{incident_id}/tasks/dispatch-vessel/escalation/ack",
            json={"phase": "acknowledge"},
            headers=cg_cmd,
        )
    )
    _ok(api.post(f"/api/incidents/{incident_id}/status", json={"to_status": "active"}, headers=cg_op))

    # 6. A task force of CG and CUS exchanges messages on its channel.
    tf = _ok(
        api.post(
            "/api/taskforces",
            json={
                "name": "Harbour approaches",
                "lead_agency": "CG",
                "member_agencies": ["CUS"],
                "incident_ids": [incident_id],
            },
            headers=cg_cmd,
        ),
        201,
    )
    channel = tf["fields"]["channel_id"]
    shared = {"classification": "RESTRICTED", "rel_to": ["CUS"]}
    posted = _ok(
        api.post(
            f"/api/channels/{channel}/messages",
            json={"body": "@cus.op SILVER VENTURE went dark, check landings", "marking": shared},
            headers=cg_cmd,
        ),
        201,
    )
    assert posted["fields"]["mentions"] == ["cus.op"]
    _ok(
        api.post(
            f"/api/channels/{channel}/messages",
            json={"body": "informant: landing at 02:00", "marking": {"classification": "SECRET"}},
            headers=cg_cmd,
        ),
        201,
    )
    cus_view = _ok(api.get(f"/api/channels/{channel}/messages", headers=cus_op))
    assert [m["fields"]["body"] for m in cus_view["data"]] == [
        "@cus.op SILVER VENTURE went dark, check landings"
    ]
    read = _ok(api.post(f"/api/channels/{channel}/messages/{posted['id']}/read", headers=cus_op))
    assert read == {"recorded": True}
    _ok(
        api.post(
            f"/api/channels/{channel}/messages",
            json={
                "body": "landing team ready at pier 4",
                "marking": {"classification": "RESTRICTED", "rel_to": ["CG"]},
            },
            headers=cus_op,
        ),
        201,
    )
    # The SECRET message reaches only cleared readers, even inside the coast guard.
    cg_view = _ok(api.get(f"/api/channels/{channel}/messages", headers=cg_cmd))
    assert [m["fields"]["author_username"] for m in cg_view["data"]] == ["cg.cmd", "cg.cmd", "cus.op"]
    cg_op_view = _ok(api.get(f"/api/channels/{channel}/messages", headers=cg_op))
    assert [m["fields"]["author_username"] for m in cg_op_view["data"]] == ["cg.cmd", "cus.op"]
    assert api.get(f"/api/channels/{channel}/messages", headers=bp_op).status_code == 404

    # 7. The work is done; the incident closes with its log complete.
    _ok(
        api.post(
            f"/api/incidents/{incident_id}/tasks/dispatch-vessel/complete",
            json={"note": "intercepted"},
            headers=cg_op,
        )
    )
    _ok(
        api.post(
            f"/api/incidents/{incident_id}/tasks/identify-vessels/complete",
            json={"note": "AIS history"},
            headers=cg_an,
        )
    )
    _ok(api.post(f"/api/incidents/{incident_id}/status", json={"to_status": "contained"}, headers=cg_op))
    assert (
        api.post(
            f"/api/incidents/{incident_id}/status", json={"to_status": "closed"}, headers=cg_op
        ).status_code
        == 403
    )
    closed = _ok(
        api.post(
            f"/api/incidents/{incident_id}/status",
            json={"to_status": "closed", "reason": "vessel boarded"},
            headers=cg_cmd,
        )
    )
    assert closed["fields"]["status"] == "closed"
    types = [e["type"] for e in closed["fields"]["log"]]
    assert types == [
        "incident.opened",
        "task.created",
        "task.created",
        "task.created",
        "task.escalation-notified",
        "task.acknowledged",
        "task.escalation-acknowledged",
        "incident.status-changed",
        "task.completed",
        "task.completed",
        "incident.status-changed",
        "incident.status-changed",
    ]
    assert all(e["actor"] for e in closed["fields"]["log"])

    # 8. Each agency sees only what it may: CG in full, CUS redacted as the gate says, BP nothing.
    cg_seen = _ok(api.get(f"/api/incidents/{incident_id}", headers=cg_op))
    assert cg_seen["redacted"] == [] and cg_seen["fields"]["log"]
    cus_seen = _ok(api.get(f"/api/incidents/{incident_id}", headers=cus_op))
    explained = concord.sharing.explain(
        concord.coordination.row("incident", incident_id),
        concord.accounts.get_user_by_username("cus.op").viewer(),
    )
    assert cus_seen["decision"] == explained.decision != "withheld"
    assert cus_seen["redacted"] == list(explained.redacted)
    assert cus_seen["fields"]["lead_agency"] == "CG"
    assert api.get(f"/api/incidents/{incident_id}", headers=bp_op).status_code == 404
    assert _ok(api.get("/api/incidents?status=closed", headers=bp_op))["count"] == 0
    assert _ok(api.get("/api/incidents?status=closed", headers=cus_op))["count"] == 1
    assert (
        api.post(f"/api/incidents/{incident_id}/notes", json={"text": "x"}, headers=bp_op).status_code == 404
    )
