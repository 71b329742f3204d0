"""Dependencies of the routes, as ``Annotated`` aliases: the wired app, the caller, role checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from concord.bootstrap import Concord
from concord.domain.errors import NotAuthenticated, NotAuthorized
from concord.domain.identity import Role, User, Viewer

__all__ = [
    "SESSION_COOKIE",
    "ConcordDep",
    "CurrentUser",
    "ViewerDep",
    "client_of",
    "require_roles",
]

SESSION_COOKIE = "concord_session"


def get_concord(request: Request) -> Concord:
    concord: Concord = request.app.state.concord
    return concord


ConcordDep = Annotated[Concord, Depends(get_concord)]


def credentials_of(request: Request) -> str:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise NotAuthenticated("use 'Authorization: Bearer <token>'")
        return value.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie
    raise NotAuthenticated("log in or present a bearer token")


def get_current_user(request: Request, concord: ConcordDep) -> User:
    user = concord.accounts.authenticate(credentials_of(request))
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_viewer(user: CurrentUser) -> Viewer:
    return user.viewer()


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets through only users holding one of ``roles``."""

    def check(user: CurrentUser) -> User:
        if not user.roles & set(roles):
            raise NotAuthorized(
                "this needs the role " + " or ".join(r.value for r in roles),
                details={"required_roles": [r.value for r in roles]},
            )
        return user

    return check


def client_of(request: Request) -> str:
    return request.client.host if request.client else "-"
