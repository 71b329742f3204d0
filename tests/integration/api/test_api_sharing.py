"""Agreements, dry runs, explanations, access reports and the audit endpoints over the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from concord.audit import verify_consistency, verify_inclusion
from concord.bootstrap import Concord
from tests.factories import PASSWORD, small_world


def _bearer(api: TestClient, username: str) -> dict[str, str]:
    r = api.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _agreement(concord: Concord, **extra: object) -> dict[str, object]:
    return {
        "agreement_id": "bp-cg-1",
        "owner": "BP",
        "partner": "CG",
        "valid_from": (concord.clock.now() - timedelta(days=1)).isoformat(),
        "categories": ["LAW-ENFORCEMENT-SENSITIVE"],
        **extra,
    }


def _plant_track(api: TestClient, concord: Concord) -> str:
    body = {
        "observations": [
            {
                "id": "o1",
                "sensor": "camera",
                "observed_at": concord.clock.now().isoformat(),
                "lat": 41.3,
                "lon": 26.5,
                "identity": "plate:1",
            }
        ]
    }
    assert api.post("/api/observations", json=body, headers=_bearer(api, "bp.op")).status_code == 202
    return str(api.get("/api/tracks", headers=_bearer(api, "bp.op")).json()["data"][0]["id"])


def test_agreement_life_cycle_changes_what_the_partner_sees(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    track_id = _plant_track(api, concord)
    cg = _bearer(api, "cg.op")
    assert api.get(f"/api/tracks/{track_id}", headers=cg).status_code == 404
    cmd = _bearer(api, "bp.cmd")
    dry = api.post(
        "/api/agreements/dry-run", json={"change": "sign", "agreement": _agreement(concord)}, headers=cmd
    )
    assert dry.status_code == 200, dry.text
    gained = {g["record_id"] for c in dry.json()["changes"] if c["agency"] == "CG" for g in c["gained"]}
    assert track_id in gained
    signed = api.post("/api/agreements", json=_agreement(concord), headers=cmd)
    assert signed.status_code == 201, signed.text
    assert signed.json()["status"] == "in-force"
    assert api.get(f"/api/tracks/{track_id}", headers=cg).status_code == 200
    revoked = api.post("/api/agreements/bp-cg-1/revoke", json={"reason": "review"}, headers=cmd)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert api.get(f"/api/tracks/{track_id}", headers=cg).status_code == 404
    assert api.post("/api/agreements/bp-cg-1/revoke", json={}, headers=cmd).status_code == 409


@pytest.mark.parametrize(
    ("patch", "status"),
    [
        ({"partner": "NOPE"}, 422),
        ({"owner": "BP", "partner": "BP"}, 422),
        ({"valid_from": "2026-01-01T00:00:00"}, 422),
        ({"categories": ["GOSSIP"]}, 422),
        ({"version": 2}, 422),
        ({"surprise": True}, 422),
        ({"agreement_id": "bad id with spaces"}, 422),
    ],
)
def test_bad_agreements(api: TestClient, concord: Concord, patch: dict[str, object], status: int) -> None:
    small_world(concord)
    r = api.post("/api/agreements", json=_agreement(concord, **patch), headers=_bearer(api, "bp.cmd"))
    assert r.status_code == status, r.text
    assert api.get("/api/agreements", headers=_bearer(api, "bp.cmd")).json() == []


def test_other_agencies_cannot_sign_for_an_owner(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    r = api.post("/api/agreements", json=_agreement(concord), headers=_bearer(api, "cg.cmd"))
    assert r.status_code == 404
    assert (
        api.post("/api/agreements", json=_agreement(concord), headers=_bearer(api, "bp.op")).status_code
        == 403
    )


def test_explain_and_access_report(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    concord.accounts.create_user("bp.aud", "BP", ["auditor"], "SECRET", password=PASSWORD)
    track_id = _plant_track(api, concord)
    api.post("/api/agreements", json=_agreement(concord), headers=_bearer(api, "bp.cmd"))
    cg = _bearer(api, "cg.op")
    assert api.get(f"/api/tracks/{track_id}", headers=cg).status_code == 200
    aud = _bearer(api, "bp.aud")
    why = api.get(
        "/api/explain", params={"kind": "track", "record_id": track_id, "username": "cg.op"}, headers=aud
    )
    assert why.status_code == 200 and why.json()["decision"] == "full"
    assert "bp-cg-1" in why.json()["agreement_ids"]
    start = (concord.clock.now() - timedelta(hours=1)).isoformat()
    end = (concord.clock.now() + timedelta(hours=1)).isoformat()
    report = api.get(
        "/api/access-report",
        params={"recipient": "CG", "originator": "BP", "start": start, "end": end},
        headers=aud,
    )
    assert report.status_code == 200, report.text
    assert report.json()["released"] >= 1
    assert (
        api.get(
            "/api/access-report",
            params={"recipient": "CG", "originator": "JOC", "start": start, "end": end},
            headers=_bearer(api, "bp.aud"),
        ).status_code
        == 404
    )


def test_audit_proofs_verify(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    concord.accounts.create_user("joc.aud", "JOC", ["auditor"], "SECRET", password=PASSWORD)
    aud = _bearer(api, "joc.aud")
    first = concord.audit.sign_head()
    _plant_track(api, concord)
    api.post("/api/agreements", json=_agreement(concord), headers=_bearer(api, "bp.cmd"))
    head = concord.audit.sign_head()
    body = api.get("/api/audit/head", headers=aud).json()
    assert body["tree_size"] == head.tree_size and "BEGIN PUBLIC KEY" in body["public_key_pem"]
    proof = api.get("/api/audit/proof/inclusion", params={"seq": 3}, headers=aud).json()
    entries = api.get("/api/audit/entries", params={"start": 3, "limit": 1}, headers=aud).json()
    assert entries["data"][0]["seq"] == 3
    from concord.audit import AuditEntry, leaf_hash

    leaf = leaf_hash(AuditEntry.from_dict(entries["data"][0]).to_json())
    assert verify_inclusion(
        leaf, 3, head.tree_size, [bytes.fromhex(h) for h in proof["path"]], head.root_hash
    )
    cons = api.get("/api/audit/proof/consistency", params={"old": first.tree_size}, headers=aud).json()
    assert verify_consistency(
        first.tree_size,
        head.tree_size,
        first.root_hash,
        head.root_hash,
        [bytes.fromhex(h) for h in cons["path"]],
    )
    assert api.get("/api/audit/head", headers=_bearer(api, "bp.op")).status_code == 403
    assert concord.audit.verify().ok
