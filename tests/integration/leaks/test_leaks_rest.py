"""The leak suite on the REST paths: lists, counts, pages, details, errors, directories and explanations.

Canary tracks with every marking combination are planted through the real pipeline; for viewers drawn
by Hypothesis from a pool covering every agency, role, clearance and need-to-know profile, what each
REST path returns must equal what the reference rules (tests/reference_rules.py) allow — nothing more,
nothing less, with exactly the fields allowed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import FAST_HASHER
from tests.leakkit import PASSWORD, LeakWorld, _agreement, build_leak_world

from concord.bootstrap import bootstrap
from concord.domain.errors import ConcordError
from concord.domain.identity import User
from concord.services import sharing as sharing_service
from concord.entrypoints.api.main import create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LeakWorld]:
    w = build_leak_world(tmp_path_factory.mktemp("leaks"))
    yield w
    w.concord.close()


@pytest.fixture(scope="module")
def client(world: LeakWorld) -> Iterator[TestClient]:
    with TestClient(create_app(world.concord.settings, concord=world.concord)) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(world: LeakWorld, client: TestClient) -> dict[str, str]:
    out = {}
    for user in world.users:
        r = client.post("/api/auth/token", json={"username": user.username, "password": PASSWORD})
        assert r.status_code == 200
        out[user.username] = r.json()["access_token"]
    return out


def _headers(tokens: dict[str, str], user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user.username]}"}


def _all_tracks(client: TestClient, headers: dict[str, str]) -> tuple[list[dict], int]:
    items: list[dict] = []
    offset = 0
    total = -1
    while True:
        r = client.get("/api/tracks", params={"offset": offset, "limit": 500}, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        total = body["count"]
        items.extend(body["data"])
        if len(body["data"]) < 500:
            return items, total
        offset += 500


USERS = st.integers(min_value=0, max_value=27)


@given(index=USERS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_lists_counts_and_pages_release_exactly_what_the_rules_allow(
    world: LeakWorld, client: TestClient, tokens: dict[str, str], index: int
) -> None:
    user = world.users[index]
    expected = world.expected_for(user.viewer())
    items, total = _all_tracks(client, _headers(tokens, user))
    visible = {rid for rid, e in expected.items() if e.visible}
    got = {item["id"] for item in items}
    assert got == visible
    assert total == len(visible)  # totals count released records only
    for item in items:
        e = expected[item["id"]]
        assert item["decision"] == e.decision
        assert set(item["redacted"]) == set(e.redacted)
        assert not set(item["fields"]) & set(e.redacted)


@given(index=USERS, pick=st.randoms(use_true_random=False))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_details_are_404_exactly_when_withheld(
    world: LeakWorld, client: TestClient, tokens: dict[str, str], index: int, pick
) -> None:
    user = world.users[index]
    expected = world.expected_for(user.viewer())
    headers = _headers(tokens, user)
    sample = pick.sample(sorted(expected), 25)
    missing = client.get("/api/tracks/no-such-track", headers=headers)
    for record_id in sample:
        r = client.get(f"/api/tracks/{record_id}", headers=headers)
        if expected[record_id].visible:
            assert r.status_code == 200
            assert r.json()["id"] == record_id
        else:
            # Indistinguishable from a record that does not exist: same status, same body.
            assert r.status_code == 404
            assert r.json() == missing.json()


def test_bounding_box_counts_do_not_leak(
    world: LeakWorld, client: TestClient, tokens: dict[str, str]
) -> None:
    for user in world.users[::5]:
        expected = world.visible_ids(user.viewer())
        rows = {r.id: r for r in world.rows()}
        inside = {rid for rid in expected if rows[rid].lat is not None and rows[rid].lat <= 41.1}
        r = client.get(
            "/api/tracks",
            params={"bbox": "25.9,40.9,27.1,41.1", "limit": 1000},
            headers=_headers(tokens, user),
        )
        assert r.json()["count"] == len(inside)
        assert {i["id"] for i in r.json()["data"]} == inside


def test_agreements_directory_shows_only_own_agreements(
    world: LeakWorld, client: TestClient, tokens: dict[str, str]
) -> None:
    for user in world.users:
        r = client.get("/api/agreements", headers=_headers(tokens, user))
        assert r.status_code == 200
        for a in r.json():
            assert user.agency in (a["owner"], a["partner"]) or user.agency == "JOC"
        if user.agency == "ARMY":
            # ARMY receives from INT only; it must not learn that CG shares with CUS.
            assert {a["agreement_id"] for a in r.json()} == {"int-army"}


def test_user_directory_is_own_agency_only(
    world: LeakWorld, client: TestClient, tokens: dict[str, str]
) -> None:
    admin = world.concord.accounts.create_user("cg.admin", "CG", ["admin"], "RESTRICTED", password=PASSWORD)
    token = client.post("/api/auth/token", json={"username": admin.username, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    listed = client.get("/api/admin/users", headers=headers).json()
    assert {u["agency"] for u in listed["data"]} == {"CG"}
    assert client.get("/api/admin/users/bp.op", headers=headers).status_code == 404


def test_explain_equals_the_decision_the_viewer_got(
    world: LeakWorld, client: TestClient, tokens: dict[str, str]
) -> None:
    auditor = next(u for u in world.users if u.username == "cg.aud")
    headers = _headers(tokens, auditor)
    cg_rows = [r for r in world.rows() if r.marking.originator == "CG"][:40]
    for username in ("cus.an", "bp.op", "army.cmd", "cg.op"):
        viewer = world.concord.accounts.get_user_by_username(username).viewer()
        expected = world.expected_for(viewer)
        for row in cg_rows:
            r = client.get(
                "/api/explain",
                params={"kind": "track", "record_id": row.id, "username": username},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            assert r.json()["decision"] == expected[row.id].decision
    # An auditor cannot ask about another agency's records: absent, not forbidden.
    other = next(r for r in world.rows() if r.marking.originator == "BP")
    r = client.get(
        "/api/explain", params={"kind": "track", "record_id": other.id, "username": "bp.op"}, headers=headers
    )
    assert r.status_code == 404


def test_error_messages_do_not_name_withheld_records(
    world: LeakWorld, client: TestClient, tokens: dict[str, str]
) -> None:
    user = next(u for u in world.users if u.username == "army.op")
    withheld = [rid for rid, e in world.expected_for(user.viewer()).items() if not e.visible][:10]
    for rid in withheld:
        r = client.post(f"/api/alerts/{rid}/ack", json={}, headers=_headers(tokens, user))
        assert r.status_code in (403, 404)
        assert rid not in r.text
        assert "CANARY" not in r.text


def test_a_revocation_on_one_node_reaches_the_other_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two API nodes on one database: the node that did not revoke stops releasing just as fast."""
    world = build_leak_world(tmp_path)
    other = bootstrap(world.concord.settings, clock=world.concord.clock, password_hasher=FAST_HASHER)
    try:
        viewer = world.concord.accounts.get_user_by_username("cus.an").viewer()
        before = {r.record.record_id for r in other.queries.page("track", viewer, limit=1000).items}
        assert before == world.visible_ids(viewer)
        world.concord.sharing.revoke("cg-cus", actor="test")
        # Within the catch-up interval the other node looks at the journal again (here: at once).
        monkeypatch.setattr(sharing_service, "CATCH_UP_S", 0.0)
        after = {r.record.record_id for r in other.queries.page("track", viewer, limit=1000).items}
        assert after == world.visible_ids(viewer) != before
        # A change is validated against the journal, not against what this node last looked at.
        monkeypatch.setattr(sharing_service, "CATCH_UP_S", 3600.0)
        world.concord.sharing.sign(_agreement("cg-cus-2", "CG", "CUS", set()), actor="test")
        with pytest.raises(ConcordError):
            other.sharing.sign(_agreement("cg-cus-2", "CG", "CUS", {"PII"}), actor="test")
        assert other.sharing.agreement("cg-cus-2").categories == frozenset()
    finally:
        other.close()
        world.concord.close()


def test_revocation_takes_effect_at_once(tmp_path: Path) -> None:
    world = build_leak_world(tmp_path)
    try:
        viewer = world.concord.accounts.get_user_by_username("cus.an").viewer()
        before = world.visible_ids(viewer)
        from_cg = {r.id for r in world.rows() if r.marking.originator == "CG"}
        assert before & from_cg, "the CG-CUS agreement releases some CG records to CUS"
        world.concord.sharing.revoke("cg-cus", actor="test")
        page = world.concord.queries.page("track", viewer, limit=1000)
        got = {r.record.record_id for r in page.items}
        assert got == world.visible_ids(viewer)
        # Without the agreement, CUS keeps only CG's community records (TLP CLEAR or GREEN, no categories).
        community = {
            r.id
            for r in world.rows()
            if r.marking.originator == "CG"
            and r.marking.tlp.value in ("CLEAR", "GREEN")
            and not r.marking.categories
        }
        assert got & from_cg <= community
        assert (before & from_cg) - community, "the agreement had released more than community records"
    finally:
        world.concord.close()
