"""The API as a client calls it: health, auth, administration, the error shape and hostile input."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.factories import PASSWORD, small_world

from concord.adapters.db import journal
from concord.bootstrap import Concord


def _bearer(api: TestClient, username: str) -> dict[str, str]:
    response = api.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


def _journal_size(concord: Concord) -> int:
    with concord.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one())


def test_health(api: TestClient) -> None:
    body = api.get("/api/health").json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["schema_revision"]


def test_openapi_docs(api: TestClient) -> None:
    assert api.get("/api/docs").status_code == 200
    assert "/api/auth/token" in api.get("/api/openapi.json").json()["paths"]


def test_token_exchange_and_me(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    me = api.get("/api/auth/me", headers=_bearer(api, "bp.op")).json()
    assert me["username"] == "bp.op" and me["agency"] == "BP" and me["roles"] == ["operator"]
    assert "password" not in str(me)


def test_web_login_sets_a_strict_httponly_cookie(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    response = api.post("/api/auth/login", json={"username": "cg.op", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert api.get("/api/auth/me").json()["username"] == "cg.op"
    assert api.post("/api/auth/logout").status_code == 204
    api.cookies.clear()
    _assert_error(api.get("/api/auth/me"), 401, "not-authenticated")


def test_expired_session_is_refused(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    headers = _bearer(api, "bp.op")
    concord.clock.advance(concord.settings.token_ttl_s + 5)  # type: ignore[attr-defined]
    error = _assert_error(api.get("/api/auth/me", headers=headers), 401, "not-authenticated")
    assert "expired" in error["message"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-token",
        "Bearer cct_0000000000000000.AAAAAAAAAAAAAAAAAAAAAAAA",
        "Bearer ' OR 1=1 --",
    ],
)
def test_bad_tokens(api: TestClient, header: str) -> None:
    _assert_error(api.get("/api/auth/me", headers={"Authorization": header}), 401, "not-authenticated")


def test_wrong_password(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    response = api.post("/api/auth/token", json={"username": "bp.op", "password": "not the password"})
    _assert_error(response, 401, "not-authenticated")


def test_brute_force_gets_429(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    for _ in range(concord.settings.login_max_failures):
        api.post("/api/auth/token", json={"username": "bp.op", "password": "not the password"})
    response = api.post("/api/auth/token", json={"username": "bp.op", "password": PASSWORD})
    _assert_error(response, 429, "rate-limited")
    assert "retry-after" in response.headers


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"username": "bp.op", "password": ', ""),
        (b"[1, 2, 3]", ""),
        (b'{"username": 5, "password": "x"}', "username"),
        (b'{"username": "bp.op"}', "password"),
        (b'{"username": "bp.op", "password": "correct horse battery", "admin": true}', "admin"),
        (b'{"username": "' + b"a" * 100 + b'", "password": "x"}', "username"),
    ],
)
def test_malformed_login_bodies(api: TestClient, body: bytes, field: str) -> None:
    response = api.post("/api/auth/token", content=body, headers={"Content-Type": "application/json"})
    error = _assert_error(response, 422, "invalid-input")
    if field:
        assert error["details"]["field"] == field


def test_oversized_body_is_refused(api: TestClient, concord: Concord) -> None:
    big = b'{"username": "' + b"a" * (concord.settings.max_body_bytes + 10) + b'"}'
    response = api.post("/api/auth/token", content=big, headers={"Content-Type": "application/json"})
    _assert_error(response, 413, "payload-too-large")


def test_oversized_chunked_body_is_refused(api: TestClient, concord: Concord) -> None:
    def chunks():
        for _ in range(concord.settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536

    response = api.post("/api/auth/token", content=chunks(), headers={"Content-Type": "application/json"})
    _assert_error(response, 413, "payload-too-large")


def test_admin_creates_users_in_own_agency_only(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    bp_admin = _bearer(api, "bp.admin")
    new = {
        "username": "bp.new",
        "agency": "BP",
        "roles": ["analyst"],
        "clearance": "CONFIDENTIAL",
        "password": PASSWORD,
    }
    created = api.post("/api/admin/users", json=new, headers=bp_admin)
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["analyst"]
    # Another agency's users: not found, never "forbidden", so their existence is not confirmed.
    _assert_error(api.get("/api/admin/users/cg.op", headers=bp_admin), 404, "not-found")
    _assert_error(api.get("/api/admin/users/nobody", headers=bp_admin), 404, "not-found")
    cg_user = dict(new, username="cg.new", agency="CG")
    _assert_error(api.post("/api/admin/users", json=cg_user, headers=bp_admin), 404, "not-found")
    listed = api.get("/api/admin/users", headers=bp_admin).json()
    assert {u["agency"] for u in listed["data"]} == {"BP"} and listed["count"] == len(listed["data"])


def test_platform_admin_creates_agencies(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    joc = _bearer(api, "joc.admin")
    response = api.post(
        "/api/admin/agencies", json={"code": "IMM", "name": "Immigration", "kind": "immigration"}, headers=joc
    )
    assert response.status_code == 201
    codes = [a["code"] for a in api.get("/api/agencies", headers=joc).json()["data"]]
    assert "IMM" in codes
    bp = _bearer(api, "bp.admin")
    _assert_error(
        api.post("/api/admin/agencies", json={"code": "XX", "name": "X", "kind": "other"}, headers=bp),
        404,
        "not-found",
    )


def test_non_admin_is_refused(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    _assert_error(api.get("/api/admin/users", headers=_bearer(api, "bp.op")), 403, "not-authorized")


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"username": "Robert'); DROP TABLE users;--", "roles": ["operator"]}, "username"),
        ({"roles": ["operator"], "clearance": "' OR '1'='1"}, "clearance"),
        ({"roles": "operator"}, "roles"),
        ({"roles": ["operator"], "categories": ["PII", "<script>"]}, "categories"),
        ({"roles": ["operator"], "password": 12345678901}, "password"),
    ],
)
def test_hostile_user_creation_writes_nothing(
    api: TestClient, concord: Concord, patch: dict, field: str
) -> None:
    small_world(concord)
    before = _journal_size(concord)
    body = {
        "username": "bp.x1",
        "agency": "BP",
        "roles": ["operator"],
        "clearance": "RESTRICTED",
        "password": PASSWORD,
    }
    body.update(patch)
    response = api.post("/api/admin/users", json=body, headers=_bearer(api, "bp.admin"))
    error = _assert_error(response, 422, "invalid-input")
    assert error["details"]["field"].split(".")[0] == field
    assert _journal_size(concord) == before


def test_issue_api_token_via_api(api: TestClient, concord: Concord) -> None:
    small_world(concord)
    response = api.post(
        "/api/admin/users/bp.op/tokens", json={"name": "sensor feed"}, headers=_bearer(api, "bp.admin")
    )
    assert response.status_code == 201
    token = response.json()["token"]
    me = api.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["username"] == "bp.op"


def test_unknown_route_has_the_error_shape(api: TestClient) -> None:
    _assert_error(api.get("/api/nope"), 404, "not-found")
    _assert_error(api.delete("/api/health"), 405, "method-not-allowed")


def test_a_lost_database_connection_answers_503_and_other_database_errors_500(
    api: TestClient, concord: Concord, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_world(concord)
    headers = _bearer(api, "bp.op")

    def dropped(*_a: object, **_k: object) -> None:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(concord.queries, "page", dropped)
    error = _assert_error(api.get("/api/tracks", headers=headers), 503, "unavailable")
    assert "server closed" not in error["message"]

    def broken(*_a: object, **_k: object) -> None:
        raise sa.exc.ProgrammingError("SELECT secret FROM x", {}, Exception("syntax error near secret"))

    monkeypatch.setattr(concord.queries, "page", broken)
    error = _assert_error(api.get("/api/tracks", headers=headers), 500, "internal-error")
    assert "secret" not in error["message"]
