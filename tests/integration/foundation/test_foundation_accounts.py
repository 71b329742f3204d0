"""Agencies, users, passwords, tokens and sessions, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tests.factories import PASSWORD, small_world

from concord.adapters.db import journal, users
from concord.bootstrap import Concord
from concord.domain.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, RateLimited


def _journal_size(concord: Concord) -> int:
    with concord.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one())


def test_create_and_list(concord: Concord) -> None:
    small_world(concord)
    assert [a.code for a in concord.accounts.list_agencies()] == ["BP", "CG", "JOC"]
    bp_users = concord.accounts.list_users(agency="BP")
    assert {u.username for u in bp_users} == {"bp.op", "bp.cmd", "bp.admin"}


def test_passwords_are_stored_hashed(concord: Concord) -> None:
    small_world(concord)
    with concord.engine.connect() as conn:
        stored = conn.execute(
            sa.select(users.c.password_hash).where(users.c.username == "bp.op")
        ).scalar_one()
        raw_journal = str(conn.execute(sa.select(journal.c.payload)).all())
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert PASSWORD not in raw_journal


@pytest.mark.parametrize(
    ("code", "name", "kind", "field"),
    [
        ("bp", "Border", "border-police", "code"),
        ("B", "Border", "border-police", "code"),
        ("BP'; DROP TABLE agencies;--", "Border", "other", "code"),
        ("BP", "", "other", "name"),
        ("BP", "x" * 201, "other", "name"),
        ("BP", "Border\x00Police", "other", "name"),
        ("BP", "Border", "navy", "kind"),
    ],
)
def test_bad_agency_input_names_the_field_and_writes_nothing(
    concord: Concord, code: str, name: str, kind: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        concord.accounts.create_agency(code, name, kind)
    assert info.value.details["field"] == field
    assert _journal_size(concord) == 0


def test_sql_like_names_are_plain_text(concord: Concord) -> None:
    name = "Robert'); DROP TABLE users;--"
    concord.accounts.create_agency("BP", name, "border-police")
    assert concord.accounts.get_agency("BP").name == name


def test_duplicates_conflict(concord: Concord) -> None:
    small_world(concord)
    with pytest.raises(Conflict):
        concord.accounts.create_agency("BP", "Again", "other")
    with pytest.raises(Conflict):
        concord.accounts.create_user("bp.op", "BP", ["operator"], "RESTRICTED", password=PASSWORD)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"username": "Bad Name"}, "username"),
        ({"username": "x"}, "username"),
        ({"agency": "NOPE"}, "agency"),
        ({"roles": ["pilot"]}, "roles"),
        ({"roles": []}, "roles"),
        ({"clearance": "TOP"}, "clearance"),
        ({"categories": ["GOSSIP"]}, "categories"),
        ({"password": "short"}, "password"),
    ],
)
def test_bad_user_input(concord: Concord, kwargs: dict[str, object], field: str) -> None:
    small_world(concord)
    before = _journal_size(concord)
    args: dict[str, object] = {
        "username": "new.user",
        "agency": "BP",
        "roles": ["operator"],
        "clearance": "RESTRICTED",
        "password": PASSWORD,
    }
    args.update(kwargs)
    with pytest.raises(InvalidInput) as info:
        concord.accounts.create_user(
            args["username"],  # type: ignore[arg-type]
            args["agency"],  # type: ignore[arg-type]
            args["roles"],  # type: ignore[arg-type]
            args["clearance"],  # type: ignore[arg-type]
            password=args["password"],  # type: ignore[arg-type]
            categories=kwargs.get("categories", []),  # type: ignore[arg-type]
        )
    assert info.value.details["field"] == field
    assert _journal_size(concord) == before


def test_login_and_session_life(concord: Concord) -> None:
    small_world(concord)
    session = concord.accounts.login("bp.op", PASSWORD)
    assert concord.accounts.authenticate(session.token).username == "bp.op"
    concord.clock.advance(concord.settings.token_ttl_s + 1)  # type: ignore[attr-defined]
    with pytest.raises(NotAuthenticated, match="expired"):
        concord.accounts.authenticate(session.token)


def test_logout_revokes_at_once(concord: Concord) -> None:
    small_world(concord)
    session = concord.accounts.login("bp.op", PASSWORD)
    concord.accounts.logout(session.token)
    with pytest.raises(NotAuthenticated):
        concord.accounts.authenticate(session.token)


def test_tampered_session_token(concord: Concord) -> None:
    small_world(concord)
    token = concord.accounts.login("bp.op", PASSWORD).token
    with pytest.raises(NotAuthenticated):
        concord.accounts.authenticate(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))


def test_wrong_password_and_unknown_user_look_alike(concord: Concord) -> None:
    small_world(concord)
    with pytest.raises(NotAuthenticated) as a:
        concord.accounts.login("bp.op", "wrong password!")
    with pytest.raises(NotAuthenticated) as b:
        concord.accounts.login("nobody", "wrong password!")
    assert a.value.message == b.value.message


def test_brute_force_is_throttled(concord: Concord) -> None:
    small_world(concord)
    for _ in range(concord.settings.login_max_failures):
        with pytest.raises(NotAuthenticated):
            concord.accounts.login("bp.op", "wrong password!", client="10.0.0.9")
    with pytest.raises(RateLimited):
        concord.accounts.login("bp.op", PASSWORD, client="10.0.0.9")
    # The real user from elsewhere is not locked out by one attacker address.
    assert concord.accounts.login("bp.op", PASSWORD, client="10.0.0.1").user.username == "bp.op"


def test_disabled_user_cannot_log_in_or_use_tokens(concord: Concord) -> None:
    small_world(concord)
    issued = concord.accounts.issue_token("bp.op")
    assert concord.accounts.authenticate(issued.token).username == "bp.op"
    concord.accounts.update_user("bp.op", active=False)
    with pytest.raises(NotAuthenticated):
        concord.accounts.login("bp.op", PASSWORD)
    with pytest.raises(NotAuthenticated):
        concord.accounts.authenticate(issued.token)


def test_api_tokens_hashed_expire_and_revoke(concord: Concord) -> None:
    small_world(concord)
    issued = concord.accounts.issue_token("cg.op", ttl_s=60)
    assert "cct_" in issued.token and issued.token not in repr(issued)
    assert concord.accounts.authenticate(issued.token).username == "cg.op"
    with pytest.raises(NotAuthenticated):
        concord.accounts.authenticate(issued.token[:-1] + ("x" if issued.token[-1] != "x" else "y"))
    concord.clock.advance(61)  # type: ignore[attr-defined]
    with pytest.raises(NotAuthenticated, match="expired"):
        concord.accounts.authenticate(issued.token)
    other = concord.accounts.issue_token("cg.op")
    concord.accounts.revoke_token(other.token_id)
    with pytest.raises(NotAuthenticated, match="revoked"):
        concord.accounts.authenticate(other.token)
    with pytest.raises(NotFound):
        concord.accounts.revoke_token("0" * 16)


@pytest.mark.parametrize(
    "token", ["", "x" * 600, "cct_zz.short", "cct_0123456789abcdef.", "Bearer abc", "null"]
)
def test_garbage_tokens(concord: Concord, token: str) -> None:
    with pytest.raises(NotAuthenticated):
        concord.accounts.authenticate(token)
