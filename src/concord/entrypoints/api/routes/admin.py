"""Administration of agencies, users and API tokens.

Admins manage the users of their own agency; admins of the operating agency (the joint operations
centre) also create agencies and manage every agency's users. Other agencies' users are not listed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from concord.domain.errors import NotFound
from concord.domain.identity import Role, User
from concord.entrypoints.api.deps import ConcordDep, require_roles
from concord.entrypoints.api.schemas import (
    AgencyCreate,
    AgencyPublic,
    ListOf,
    TokenCreate,
    TokenIssuedPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)

router = APIRouter(prefix="/api/admin", tags=["admin"])
directory = APIRouter(prefix="/api", tags=["directory"])

AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]
OPERATING_AGENCY = "JOC"


def _is_platform_admin(user: User) -> bool:
    return user.agency == OPERATING_AGENCY and Role.ADMIN in user.roles


def _check_agency_scope(admin: User, agency: str) -> None:
    # Another agency's users are reported as absent, not forbidden: do not confirm they exist.
    if not _is_platform_admin(admin) and admin.agency != agency:
        raise NotFound("no such user")


@directory.get("/agencies", response_model=ListOf[AgencyPublic])
def list_agencies(concord: ConcordDep, _admin: AdminUser) -> ListOf[AgencyPublic]:
    data = [AgencyPublic.of(a) for a in concord.accounts.list_agencies()]
    return ListOf[AgencyPublic](data=data, count=len(data))


@router.post("/agencies", response_model=AgencyPublic, status_code=201)
def create_agency(body: AgencyCreate, concord: ConcordDep, admin: AdminUser) -> AgencyPublic:
    if not _is_platform_admin(admin):
        raise NotFound("not found")
    agency = concord.accounts.create_agency(body.code, body.name, body.kind, actor=admin.id)
    return AgencyPublic.of(agency)


@router.get("/users", response_model=ListOf[UserPublic])
def list_users(concord: ConcordDep, admin: AdminUser, agency: str | None = None) -> ListOf[UserPublic]:
    if not _is_platform_admin(admin):
        agency = admin.agency
    data = [UserPublic.of(u) for u in concord.accounts.list_users(agency=agency)]
    return ListOf[UserPublic](data=data, count=len(data))


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, concord: ConcordDep, admin: AdminUser) -> UserPublic:
    _check_agency_scope(admin, body.agency)
    user = concord.accounts.create_user(
        body.username,
        body.agency,
        body.roles,
        body.clearance,
        password=body.password,
        categories=body.categories,
        display_name=body.display_name,
        actor=admin.id,
    )
    return UserPublic.of(user)


@router.get("/users/{username}", response_model=UserPublic)
def get_user(username: str, concord: ConcordDep, admin: AdminUser) -> UserPublic:
    user = concord.accounts.get_user_by_username(username)
    _check_agency_scope(admin, user.agency)
    return UserPublic.of(user)


@router.patch("/users/{username}", response_model=UserPublic)
def update_user(username: str, body: UserUpdate, concord: ConcordDep, admin: AdminUser) -> UserPublic:
    user = concord.accounts.get_user_by_username(username)
    _check_agency_scope(admin, user.agency)
    updated = concord.accounts.update_user(
        username,
        roles=body.roles,
        clearance=body.clearance,
        categories=body.categories,
        active=body.active,
        actor=admin.id,
    )
    return UserPublic.of(updated)


@router.post("/users/{username}/tokens", response_model=TokenIssuedPublic, status_code=201)
def issue_token(username: str, body: TokenCreate, concord: ConcordDep, admin: AdminUser) -> TokenIssuedPublic:
    user = concord.accounts.get_user_by_username(username)
    _check_agency_scope(admin, user.agency)
    issued = concord.accounts.issue_token(username, name=body.name, ttl_s=body.ttl_s, actor=admin.id)
    return TokenIssuedPublic(token_id=issued.token_id, token=issued.token, expires_at=issued.expires_at)
