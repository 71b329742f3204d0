"""Projections and queries of agencies, users and API tokens (read models of the journal)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from concord.adapters.db import agencies, api_tokens, sessions, users
from concord.adapters.journal import Projector
from concord.domain.events import JournalEvent
from concord.domain.identity import Agency, AgencyKind, Role, User

__all__ = [
    "StoredToken",
    "create_session",
    "revoke_session",
    "session_valid",
    "get_agency",
    "get_user",
    "get_user_by_username",
    "list_agencies",
    "list_users",
    "password_hash_of",
    "register_identity_projections",
]


def _agency_created(conn: Connection, ev: JournalEvent) -> None:
    p = ev.payload
    conn.execute(
        agencies.insert().values(
            code=p["code"], name=p["name"], kind=p["kind"], created_at=ev.occurred_at, seq=ev.seq
        )
    )


def _user_created(conn: Connection, ev: JournalEvent) -> None:
    p = ev.payload
    conn.execute(
        users.insert().values(
            id=p["id"],
            username=p["username"],
            agency=p["agency"],
            display_name=p.get("display_name", ""),
            roles=sorted(p["roles"]),
            clearance=p["clearance"],
            categories=sorted(p.get("categories", [])),
            password_hash=p.get("password_hash"),
            active=True,
            created_at=ev.occurred_at,
            seq=ev.seq,
        )
    )


def _user_changed(conn: Connection, ev: JournalEvent) -> None:
    p = ev.payload
    values: dict[str, Any] = {"seq": ev.seq}
    for key in ("roles", "categories"):
        if key in p:
            values[key] = sorted(p[key])
    for key in ("clearance", "active", "display_name"):
        if key in p:
            values[key] = p[key]
    conn.execute(users.update().where(users.c.id == p["id"]).values(**values))


def _password_set(conn: Connection, ev: JournalEvent) -> None:
    p = ev.payload
    conn.execute(
        users.update().where(users.c.id == p["id"]).values(password_hash=p["password_hash"], seq=ev.seq)
    )


def _token_issued(conn: Connection, ev: JournalEvent) -> None:
    p = ev.payload
    conn.execute(
        api_tokens.insert().values(
            id=p["token_id"],
            user_id=p["user_id"],
            name=p["name"],
            token_hash=p["token_hash"],
            created_at=ev.occurred_at,
            expires_at=datetime.fromisoformat(p["expires_at"]) if p.get("expires_at") else None,
            revoked=False,
        )
    )


def _token_revoked(conn: Connection, ev: JournalEvent) -> None:
    conn.execute(api_tokens.update().where(api_tokens.c.id == ev.payload["token_id"]).values(revoked=True))


def register_identity_projections(projector: Projector) -> None:
    projector.add_tables(agencies, users, api_tokens)
    projector.register("AgencyCreated", _agency_created)
    projector.register("UserCreated", _user_created)
    projector.register("UserChanged", _user_changed)
    projector.register("PasswordSet", _password_set)
    projector.register("TokenIssued", _token_issued)
    projector.register("TokenRevoked", _token_revoked)


def _agency(row: Any) -> Agency:
    return Agency(code=row.code, name=row.name, kind=AgencyKind(row.kind))


def _user(row: Any) -> User:
    return User(
        id=row.id,
        username=row.username,
        agency=row.agency,
        roles=frozenset(Role(r) for r in row.roles),
        clearance=row.clearance,
        categories=frozenset(row.categories),
        active=bool(row.active),
    )


def get_agency(conn: Connection, code: str) -> Agency | None:
    row = conn.execute(sa.select(agencies).where(agencies.c.code == code)).first()
    return _agency(row) if row is not None else None


def list_agencies(conn: Connection) -> list[Agency]:
    return [_agency(r) for r in conn.execute(sa.select(agencies).order_by(agencies.c.code))]


def get_user(conn: Connection, user_id: str) -> User | None:
    row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
    return _user(row) if row is not None else None


def get_user_by_username(conn: Connection, username: str) -> User | None:
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    return _user(row) if row is not None else None


def password_hash_of(conn: Connection, user_id: str) -> str | None:
    value = conn.execute(sa.select(users.c.password_hash).where(users.c.id == user_id)).scalar()
    return None if value is None else str(value)


def list_users(conn: Connection, *, agency: str | None = None) -> list[User]:
    query = sa.select(users).order_by(users.c.agency, users.c.username)
    if agency is not None:
        query = query.where(users.c.agency == agency)
    return [_user(r) for r in conn.execute(query)]


class StoredToken:
    """An API token row: enough to verify a presented token and check its validity."""

    __slots__ = ("expires_at", "id", "revoked", "token_hash", "user_id")

    def __init__(self, row: Any) -> None:
        self.id: str = row.id
        self.user_id: str = row.user_id
        self.token_hash: str = row.token_hash
        self.expires_at: datetime | None = row.expires_at
        self.revoked: bool = bool(row.revoked)

    @staticmethod
    def get(conn: Connection, token_id: str) -> StoredToken | None:
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
        return StoredToken(row) if row is not None else None


def create_session(conn: Connection, session_id: str, user_id: str, at: datetime, until: datetime) -> None:
    conn.execute(
        sessions.insert().values(
            id=session_id, user_id=user_id, created_at=at, expires_at=until, revoked=False
        )
    )


def session_valid(conn: Connection, session_id: str, at: datetime) -> str | None:
    """The user id of a live session, or None when it is unknown, revoked or expired."""
    row = conn.execute(sa.select(sessions).where(sessions.c.id == session_id)).first()
    if row is None or row.revoked or row.expires_at <= at:
        return None
    return str(row.user_id)


def revoke_session(conn: Connection, session_id: str) -> None:
    conn.execute(sessions.update().where(sessions.c.id == session_id).values(revoked=True))
