"""API schemas: strict request models (unknown fields refused) and public response models."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from concord.domain.identity import Agency, AgencyKind, Role, User

__all__ = [
    "AgencyCreate",
    "AgencyPublic",
    "HealthPublic",
    "ListOf",
    "LoginRequest",
    "TokenCreate",
    "TokenIssuedPublic",
    "TokenPublic",
    "UserCreate",
    "UserPublic",
    "UserUpdate",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class HealthPublic(BaseModel):
    status: str
    version: str
    database: str
    schema_revision: str | None


class LoginRequest(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class AgencyCreate(Strict):
    code: str = Field(min_length=2, max_length=16, pattern=r"^[A-Z][A-Z0-9]{1,15}$")
    name: str = Field(min_length=1, max_length=200)
    kind: AgencyKind


class AgencyPublic(BaseModel):
    code: str
    name: str
    kind: AgencyKind

    @classmethod
    def of(cls, agency: Agency) -> AgencyPublic:
        return cls(code=agency.code, name=agency.name, kind=agency.kind)


class UserCreate(Strict):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")
    agency: str = Field(min_length=2, max_length=16)
    roles: list[Role] = Field(min_length=1, max_length=6)
    clearance: str = Field(min_length=1, max_length=32)
    categories: list[str] = Field(default_factory=list, max_length=32)
    password: str | None = Field(default=None, min_length=10, max_length=256)
    display_name: str = Field(default="", max_length=200)


class UserUpdate(Strict):
    roles: list[Role] | None = Field(default=None, min_length=1, max_length=6)
    clearance: str | None = Field(default=None, max_length=32)
    categories: list[str] | None = Field(default=None, max_length=32)
    active: bool | None = None


class UserPublic(BaseModel):
    id: str
    username: str
    agency: str
    roles: list[Role]
    clearance: str
    categories: list[str]
    active: bool

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(
            id=user.id,
            username=user.username,
            agency=user.agency,
            roles=sorted(user.roles),
            clearance=user.clearance,
            categories=sorted(user.categories),
            active=user.active,
        )


class TokenCreate(Strict):
    name: str = Field(default="api", min_length=1, max_length=120)
    ttl_s: int | None = Field(default=None, gt=0, le=366 * 24 * 3600)


class TokenIssuedPublic(BaseModel):
    token_id: str
    token: str
    expires_at: datetime | None


T = TypeVar("T")


class ListOf(BaseModel, Generic[T]):
    data: list[T]
    count: int
