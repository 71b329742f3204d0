"""Log in (bearer token or web session cookie), log out, and who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from concord.entrypoints.api.deps import SESSION_COOKIE, ConcordDep, CurrentUser, client_of, credentials_of
from concord.entrypoints.api.schemas import LoginRequest, TokenPublic, UserPublic

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=TokenPublic)
def token(body: LoginRequest, request: Request, concord: ConcordDep) -> TokenPublic:
    """Exchange a username and password for a short-lived bearer token."""
    session = concord.accounts.login(body.username, body.password, client=client_of(request))
    return TokenPublic(access_token=session.token, expires_at=session.expires_at)


@router.post("/login", response_model=UserPublic)
def login(body: LoginRequest, request: Request, response: Response, concord: ConcordDep) -> UserPublic:
    """Log in the web COP: sets an HttpOnly, SameSite=strict session cookie."""
    session = concord.accounts.login(body.username, body.password, client=client_of(request))
    max_age = int((session.expires_at - concord.clock.now()).total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return UserPublic.of(session.user)


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, concord: ConcordDep, _user: CurrentUser) -> Response:
    concord.accounts.logout(credentials_of(request))
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response


@router.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.of(user)
