"""The coordination routes as a client calls them: strict bodies, clear 4xx naming the field, hostile
input, and 404 (never 403) for what the caller may not see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.integration.coordination.coordination_world import HARBOUR, SEA, import_zones, raise_alert, world

from concord.bootstrap import Concord
from concord.domain.agreement import Agreement
from concord.domain.marking import Marking

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def ready(concord: Concord, api: TestClient) -> tuple[Concord, TestClient]:
    world(concord)
    import_zones(concord)
    return concord, api


def _h(concord: Concord, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {concord.accounts.issue_token(username).token}"}


def _agree(concord: Concord, owner: str, partner: str) -> None:
    since = concord.clock.now() - timedelta(days=1)
    agreement = Agreement(
        agreement_id=f"{owner}-{partner}".lower(), owner=owner, partner=partner, valid_from=since
    )
    concord.sharing.sign(agreement, actor="test")


def _incident(concord: Concord, api: TestClient) -> str:
    raise_alert(concord, "alert-sea", where=SEA)
    response = api.post("/api/alerts/alert-sea/incident", json={}, headers=_h(concord, "cg.op"))
    assert response.status_code == 201, response.text
    incident_id: str = response.json()["id"]
    return incident_id


def test_needs_a_token(ready: tuple[Concord, TestClient]) -> None:
    _, api = ready
    assert api.get("/api/incidents").status_code == 401
    assert api.post("/api/incidents", json={"title": "x", "lead_agency": "CG"}).status_code == 401


def test_an_incident_the_client_names_is_opened_once(ready: tuple[Concord, TestClient]) -> None:
    concord, api = ready
    cg = _h(concord, "cg.op")
    body = {"title": "Night patrol", "lead_agency": "CG", "incident_id": "cg-2026-11-0007"}
    first = api.post("/api/incidents", json=body, headers=cg)
    assert first.status_code == 201 and first.json()["id"] == "cg-2026-11-0007"
    again = api.post("/api/incidents", json=body, headers=cg)
    assert again.status_code == 409
    listed = api.get("/api/incidents", headers=cg).json()["data"]
    assert [i["id"] for i in listed].count("cg-2026-11-0007") == 1
    for bad in ("x", "a b c d e f g h", "1' OR '1'='1", "z" * 65):
        r = api.post("/api/incidents", json={**body, "incident_id": bad}, headers=cg)
        assert r.status_code == 422 and r.json()["error"]["details"]["field"].endswith("incident_id")


def test_open_by_hand_and_read_back(ready: tuple[Concord, TestClient]) -> None:
    concord, api = ready
    cg = _h(concord, "cg.op")
    body = {"title": "Suspicious RHIB", "lead_agency": "CG", "use_playbook": False, "severity": "high"}
    created = api.post("/api/incidents", json=body, headers=cg)
    assert created.status_code == 201, created.text
    incident = created.json()
    assert incident["fields"]["severity"] == "high" and incident["tasks"] == []
    listed = api.get("/api/incidents", headers=cg).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == incident["id"]
    task = api.post(
        f"/api/incidents/{incident['id']}/tasks",
        json={
            "title": "Check the slipway",
            "agency": "lead",
            "role": "operator",
            "ack_sla_s": 60,
            "complete_sla_s": 600,
        },
        headers=cg,
    )
    assert task.status_code == 201, task.text
    assert [t["fields"]["title"] for t in task.json()["tasks"]] == ["Check the slipway"]
    assert api.get("/api/tasks?status=open", headers=cg).json()["count"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lead_agency": "CG"}, "title"),
        ({"title": "x", "lead_agency": "CG", "colour": "red"}, "colour"),
        ({"title": "x", "lead_agency": 7}, "lead_agency"),
        ({"title": "x", "lead_agency": "cg; DROP TABLE"}, "lead_agency"),
        ({"title": "x" * 201, "lead_agency": "CG"}, "title"),
        ({"title": "x", "lead_agency": "CG", "severity": "apocalyptic"}, "severity"),
        ({"title": "x", "lead_agency": "CG", "exercise": "yes"}, "exercise"),
        ({"title": "x", "lead_agency": "CG", "marking": {"classification": "TOP"}}, "marking.classification"),
    ],
)
def test_bad_bodies_name_the_field(
    ready: tuple[Concord, TestClient], body: dict[str, Any], field: str
) -> None:
    concord, api = ready
    response = api.post("/api/incidents", json=body, headers=_h(concord, "cg.op"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"].endswith(field)


def test_malformed_and_oversized_json(ready: tuple[Concord, TestClient]) -> None:
    concord, api = ready
    headers = {**_h(concord, "cg.op"), "content-type": "application/json"}
    assert api.post("/api/incidents", content=b"{not json", headers=headers).status_code == 422
    assert api.post("/api/incidents", content=b"[]", headers=headers).status_code == 422
    huge = b'{"title": "' + b"x" * (concord.settings.max_body_bytes + 10) + b'", "lead_agency": "CG"}'
    assert api.post("/api/incidents", content=huge, headers=headers).status_code == 413


def test_sql_ish_text_is_stored_as_text(ready: tuple[Concord, TestClient]) -> None:
    concord, api = ready
    incident_id = _incident(concord, api)
    hostile = "Robert'); DROP TABLE records;-- <script>alert(1)</script>"
    response = api.post(
        f"/api/incidents/{incident_id}/notes", json={"text": hostile}, headers=_h(concord, "cg.op")
    )
    assert response.status_code == 200, response.text
    assert response.json()["fields"]["log"][-1]["summary"] == f"note: {hostile}"
    assert api.get("/api/incidents", headers=_h(concord, "cg.op")).json()["count"] == 1
    control = api.post(
        f"/api/incidents/{incident_id}/notes", json={"text": "a\x00b"}, headers=_h(concord, "cg.op")
    )
    assert control.status_code == 422
    assert control.json()["error"]["details"]["field"] == "text"


def test_withheld_incidents_are_absent_not_forbidden(ready: tuple[Concord, TestClient]) -> None:
    concord, api = ready
    incident_id = _incident(concord, api)
    bp = _h(concord, "bp.op")
    assert api.get(f"/api/incidents/{incident_id}", headers=bp).status_code == 404
    assert api.get("/api/incidents/no-such-incident", headers=bp).status_code == 404
    assert api.post(f"/api/incidents/{incident_id}/notes", json={"text": "hi"}, headers=bp).status_code == 404
    assert api.post(f"/api/incidents/{incident_id}/tasks/dispatch-vessel/ack", headers=bp).status_code == 404
    assert api.get("/api/incidents", headers=bp).json()["count"] == 0
    assert api.get("/api/tasks", headers=bp).json()["count"] == 0


def test_task_lifecycle_and_refusals(ready: tuple[Concord, TestClient]) -> None:
    concord, api = ready
    incident_id = _incident(concord, api)
    cg_op, cg_an = _h(concord, "cg.op"), _h(concord, "cg.an")
    base = f"/api/incidents/{incident_id}/tasks"
    assert api.post(f"{base}/dispatch-vessel/ack", headers=cg_an).status_code == 403
    assert api.post(f"{base}/dispatch-vessel/ack", headers=cg_op).status_code == 200
    assert api.post(f"{base}/dispatch-vessel/ack", headers=cg_op).status_code == 409
    assert api.post(f"{base}/nope/ack", headers=cg_op).status_code == 404
    bad = api.post(f"{base}/dispatch-vessel/escalation/ack", json={"phase": "later"}, headers=cg_op)
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"].endswith("phase")
    escalated = api.post(
        f"{base}/identify-vessels/escalate",
        json={"agency": "JOC", "role": "commander", "reason": "need a second look"},
        headers=cg_op,
    )
    assert escalated.status_code == 200, escalated.text
    done = api.post(f"{base}/identify-vessels/complete", json={"note": "registry checked"}, headers=cg_an)
    assert done.status_code == 200
    row = [t for t in done.json()["tasks"] if t["fields"]["id"] == "identify-vessels"][0]
    assert row["fields"]["status"] == "completed"


def test_conflicts_through_the_api(ready: tuple[Concord, TestClient]) -> None:
    concord, api = ready
    _agree(concord, "CG", "CUS")
    shared = Marking(classification="RESTRICTED", originator="CG", rel_to=frozenset({"CUS"}))
    raise_alert(concord, "alert-h", where=HARBOUR, marking=shared)
    routing = api.get("/api/alerts/alert-h/routing", headers=_h(concord, "cg.op"))
    assert routing.status_code == 200
    [conflict_id] = routing.json()["fields"]["open_conflicts"]
    url = f"/api/alerts/alert-h/conflicts/{conflict_id}/resolve"
    assert (
        api.post(url, json={"decision": "CUS", "reason": "port"}, headers=_h(concord, "cg.op")).status_code
        == 403
    )
    missing = api.post(url, json={"decision": "CUS"}, headers=_h(concord, "cg.cmd"))
    assert missing.status_code == 422 and missing.json()["error"]["details"]["field"].endswith("reason")
    assert (
        api.post(url, json={"decision": "BP", "reason": "x"}, headers=_h(concord, "cg.cmd")).status_code
        == 422
    )
    ok = api.post(url, json={"decision": "CUS", "reason": "inside the port"}, headers=_h(concord, "cus.cmd"))
    assert ok.status_code == 200, ok.text
    assert ok.json()["fields"]["owner"] == "CUS"
    assert api.get("/api/alerts/no-such/routing", headers=_h(concord, "cg.op")).status_code == 404


def test_units_and_mutual_aid_through_the_api(ready: tuple[Concord, TestClient]) -> None:
    concord, api = ready
    incident_id = _incident(concord, api)
    bp_cmd, cg_op = _h(concord, "bp.cmd"), _h(concord, "cg.op")
    # Without an agreement BP would not even see CG's request: the gate decides, not the route.
    _agree(concord, "CG", "BP")
    _agree(concord, "BP", "CG")
    unit = api.post(
        "/api/units", json={"agency": "BP", "unit_type": "boat", "callsign": "BP-B1"}, headers=bp_cmd
    )
    assert unit.status_code == 201, unit.text
    unit_id = unit.json()["id"]
    wrong = api.post(
        "/api/units", json={"agency": "BP", "unit_type": "submarine", "callsign": "x"}, headers=bp_cmd
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["details"]["field"].endswith("unit_type")
    request = api.post(
        "/api/mutual-aid",
        json={"owning_agency": "BP", "reason": "fast boat", "capability": "boat"},
        headers=cg_op,
    )
    assert request.status_code == 201, request.text
    request_id = request.json()["id"]
    # CG cannot see BP's unit record, so it cannot name it; BP approves and hands it over.
    approve = api.post(f"/api/mutual-aid/{request_id}/approve", json={"unit_id": unit_id}, headers=bp_cmd)
    assert approve.status_code == 200, approve.text
    assert api.post(f"/api/mutual-aid/{request_id}/approve", json={}, headers=bp_cmd).status_code == 409
    handed = api.post(f"/api/mutual-aid/{request_id}/hand-over", headers=_h(concord, "bp.op"))
    assert handed.json()["fields"]["status"] == "handed-over"
    assigned = api.post(
        f"/api/units/{unit_id}/assign",
        json={"incident_id": incident_id, "task_id": "dispatch-vessel"},
        headers=cg_op,
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["fields"]["status"] == "assigned"
    released = api.post(f"/api/mutual-aid/{request_id}/release", json={"note": "thanks"}, headers=cg_op)
    assert released.json()["fields"]["status"] == "released"
    assert api.get(f"/api/units/{unit_id}", headers=cg_op).status_code == 404


def test_channels_and_messages_through_the_api(ready: tuple[Concord, TestClient]) -> None:
    concord, api = ready
    cg_op = _h(concord, "cg.op")
    opened = api.post("/api/channels/agency", json={"partner": "CUS"}, headers=cg_op)
    assert opened.status_code == 201, opened.text
    channel = opened.json()["id"]
    assert (
        api.post("/api/channels/agency", json={"partner": "CG"}, headers=_h(concord, "cus.op")).status_code
        == 409
    )
    marking = {"classification": "RESTRICTED", "rel_to": ["CUS"]}
    posted = api.post(
        f"/api/channels/{channel}/messages", json={"body": "hello @cus.op", "marking": marking}, headers=cg_op
    )
    assert posted.status_code == 201, posted.text
    for body, field in (
        ({"body": "", "marking": marking}, "body"),
        ({"body": "x" * 4001, "marking": marking}, "body"),
        ({"body": "x"}, "marking"),
        ({"body": "x", "marking": marking, "author": "cus.cmd"}, "author"),
        ({"body": 5, "marking": marking}, "body"),
        ({"body": "x", "marking": marking, "message_id": "short"}, "message_id"),
        ({"body": "x", "marking": marking, "message_id": "m-1'; DROP TABLE journal;--"}, "message_id"),
    ):
        response = api.post(f"/api/channels/{channel}/messages", json=body, headers=cg_op)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["details"]["field"].endswith(field)
    # A post the client names can be retried safely: the second one is refused, the first kept.
    named = {"body": "on station", "marking": marking, "message_id": "cg-op-2026-0001"}
    first = api.post(f"/api/channels/{channel}/messages", json=named, headers=cg_op)
    assert first.status_code == 201 and first.json()["id"] == "cg-op-2026-0001"
    retry = api.post(f"/api/channels/{channel}/messages", json=named, headers=cg_op)
    assert retry.status_code == 409 and retry.json()["error"]["details"]["message_id"] == "cg-op-2026-0001"
    listed = api.get(f"/api/channels/{channel}/messages", headers=cg_op).json()
    assert [m["id"] for m in listed["data"]].count("cg-op-2026-0001") == 1
    bp = _h(concord, "bp.op")
    assert api.get(f"/api/channels/{channel}/messages", headers=bp).status_code == 404
    assert (
        api.post(
            f"/api/channels/{channel}/messages",
            json={"body": "x", "marking": {"classification": "RESTRICTED"}},
            headers=bp,
        ).status_code
        == 404
    )
    mine = api.get("/api/channels", headers=cg_op).json()
    assert [c["id"] for c in mine["data"]] == [channel]
    message_id = posted.json()["id"]
    again = api.post(f"/api/channels/{channel}/messages/{message_id}/read", headers=cg_op)
    assert again.json() == {"recorded": False}  # one's own message


def test_task_forces_through_the_api(ready: tuple[Concord, TestClient]) -> None:
    concord, api = ready
    cg_cmd = _h(concord, "cg.cmd")
    formed = api.post(
        "/api/taskforces",
        json={"name": "Maritime TF", "lead_agency": "CG", "member_agencies": ["CUS"], "standing": True},
        headers=cg_cmd,
    )
    assert formed.status_code == 201, formed.text
    tf_id = formed.json()["id"]
    assert (
        api.post(
            "/api/taskforces",
            json={"name": "x", "lead_agency": "CG", "member_agencies": ["CUS"]},
            headers=cg_cmd,
        ).status_code
        == 422
    )
    joined = api.post(f"/api/taskforces/{tf_id}/members", json={"agency": "BP"}, headers=cg_cmd)
    assert joined.status_code == 200 and "BP" in joined.json()["fields"]["member_agencies"]
    assert (
        api.post(
            f"/api/taskforces/{tf_id}/members", json={"agency": "BP"}, headers=_h(concord, "cg.op")
        ).status_code
        == 403
    )
    liaison = api.post(
        f"/api/taskforces/{tf_id}/liaisons",
        json={"user_id": concord.accounts.get_user_by_username("cus.an").id, "agency": "CUS"},
        headers=cg_cmd,
    )
    assert liaison.status_code == 200, liaison.text
    disbanded = api.post(f"/api/taskforces/{tf_id}/disband", json={"reason": "season over"}, headers=cg_cmd)
    assert disbanded.json()["fields"]["disbanded_at"] is not None
    assert (
        api.post(f"/api/taskforces/{tf_id}/disband", json={"reason": "again"}, headers=cg_cmd).status_code
        == 409
    )
    assert api.get("/api/taskforces/none", headers=cg_cmd).status_code == 404


def test_lead_transfer_supporting_agency_and_links(ready: tuple[Concord, TestClient]) -> None:
    concord, api = ready
    incident_id = _incident(concord, api)
    raise_alert(concord, "alert-two", where=SEA)
    cg_op, cg_cmd = _h(concord, "cg.op"), _h(concord, "cg.cmd")
    base = f"/api/incidents/{incident_id}"
    linked = api.post(f"{base}/alerts", json={"alert_id": "alert-two"}, headers=cg_op)
    assert linked.status_code == 200, linked.text
    assert linked.json()["fields"]["alert_ids"] == ["alert-sea", "alert-two"]
    assert api.post(f"{base}/alerts", json={"alert_id": "no-such"}, headers=cg_op).status_code == 404
    assert api.post(f"{base}/tracks", json={"track_id": "trk-none"}, headers=cg_op).status_code == 404
    added = api.post(f"{base}/supporting-agencies", json={"agency": "CUS"}, headers=cg_op)
    assert added.json()["fields"]["supporting_agencies"] == ["CUS"]
    refused = api.post(f"{base}/lead", json={"lead_agency": "CUS", "reason": "port"}, headers=cg_op)
    assert refused.status_code == 403
    moved = api.post(
        f"{base}/lead", json={"lead_agency": "CUS", "reason": "it is in the port"}, headers=cg_cmd
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["fields"]["lead_agency"] == "CUS"
    assert moved.json()["fields"]["supporting_agencies"] == ["CG"]
    severity = api.post(f"{base}/severity", json={"severity": "very-high"}, headers=_h(concord, "cus.op"))
    # CUS leads now, but the incident's marking is CG's own: CUS may not see it, so it is absent.
    assert severity.status_code == 404
