"""Agencies, users, passwords, API tokens and sessions.

Passwords and API tokens are stored only as argon2 hashes. The bearer token that
``POST /api/auth/token`` returns and the web session cookie are the same thing: a signed, short-lived
reference to a server-side session, so logging out revokes it at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.engine import Engine

from concord.adapters import identity_store as store
from concord.adapters.journal import UnitOfWorkFactory
from concord.domain.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, RateLimited
from concord.domain.events import envelope
from concord.domain.identity import Agency, AgencyKind, Role, User
from concord.domain.marking import DEFAULT_CATEGORIES, DEFAULT_LADDER, ClassificationLadder, Marking, Tlp
from concord.domain.ports import Clock

__all__ = ["AccountService", "IssuedToken", "LoginThrottle", "Session"]

_AGENCY_CODE = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_TOKEN = re.compile(r"^cct_([0-9a-f]{16})\.([A-Za-z0-9_-]{20,100})$")
MIN_PASSWORD_LEN = 10
MAX_PASSWORD_LEN = 256

SYSTEM_ACTOR = "system"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token_id: str
    token: str  # shown once; only its hash is kept
    expires_at: datetime | None

    def __repr__(self) -> str:
        return f"IssuedToken(token_id={self.token_id!r}, token='**********')"


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    expires_at: datetime
    user: User

    def __repr__(self) -> str:
        return f"Session(user={self.user.username!r}, expires_at={self.expires_at.isoformat()})"


class LoginThrottle:
    """Failed logins per (username, client) in a sliding window; in memory, per process."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self._max = max_failures
        self._window = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self._window:
            q.popleft()
        return q

    def check(self, username: str, client: str, now: float) -> None:
        with self._lock:
            for key in ((username, client), (username, "*")):
                limit = self._max if key[1] != "*" else self._max * 4
                if len(self._recent(key, now)) >= limit:
                    raise RateLimited(
                        "too many failed logins; wait before trying again",
                        details={"retry_after_s": int(self._window)},
                    )

    def fail(self, username: str, client: str, now: float) -> None:
        with self._lock:
            self._recent((username, client), now).append(now)
            self._recent((username, "*"), now).append(now)

    def succeed(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop((username, client), None)


class AccountService:
    """Use cases of identities and authentication."""

    def __init__(
        self,
        *,
        engine: Engine,
        uow: UnitOfWorkFactory,
        clock: Clock,
        secret_key: str,
        token_ttl_s: int,
        session_ttl_s: int,
        throttle: LoginThrottle,
        ladder: ClassificationLadder = DEFAULT_LADDER,
        categories: frozenset[str] = DEFAULT_CATEGORIES,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._engine = engine
        self._uow = uow
        self._clock = clock
        self._signer = URLSafeTimedSerializer(secret_key, salt="concord-session")
        self._token_ttl_s = token_ttl_s
        self._session_ttl_s = session_ttl_s
        self._throttle = throttle
        self._ladder = ladder
        self._categories = categories
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        # Verified API tokens, so argon2 runs once per token and not on every request.
        self._token_cache: OrderedDict[str, tuple[str, str, float]] = OrderedDict()
        self._token_cache_lock = threading.Lock()
        self.on_agencies_changed: list[Callable[[list[Agency]], None]] = []

    # -- agencies ------------------------------------------------------------------------------
    def create_agency(
        self, code: str, name: str, kind: AgencyKind | str, *, actor: str = SYSTEM_ACTOR
    ) -> Agency:
        if not isinstance(code, str) or not _AGENCY_CODE.match(code):
            raise InvalidInput(
                "agency code must be 2-16 upper-case letters or digits, starting with a letter",
                details={"field": "code"},
            )
        name = _clean_text(name, "name", 200)
        try:
            kind = AgencyKind(kind)
        except ValueError:
            raise InvalidInput(
                f"unknown agency kind; expected one of {', '.join(k.value for k in AgencyKind)}",
                details={"field": "kind"},
            ) from None
        with self._uow() as uow:
            if store.get_agency(uow.conn, code) is not None:
                raise Conflict(f"agency {code} already exists", details={"field": "code"})
            uow.append(
                envelope(
                    "AgencyCreated",
                    {"code": code, "name": name, "kind": kind.value},
                    at=self._clock.now(),
                    actor=actor,
                    agency=code,
                    marking=Marking(classification=self._ladder.levels[0], originator=code, tlp=Tlp.GREEN),
                )
            )
            uow.commit()
        agencies = self.list_agencies()
        for listener in self.on_agencies_changed:
            listener(agencies)
        return Agency(code=code, name=name, kind=kind)

    def default_marking(self, agency: str) -> Marking:
        """The marking an agency's feeds carry unless they say otherwise: RESTRICTED, TLP:AMBER,
        releasable to every agency — so what a partner actually receives is decided by the agreements."""
        codes = frozenset(a.code for a in self.list_agencies())
        return Marking(classification="RESTRICTED", originator=agency, rel_to=codes, tlp=Tlp.AMBER)

    def list_agencies(self) -> list[Agency]:
        with self._engine.connect() as conn:
            return store.list_agencies(conn)

    def get_agency(self, code: str) -> Agency:
        with self._engine.connect() as conn:
            agency = store.get_agency(conn, code)
        if agency is None:
            raise NotFound("no such agency", details={"field": "code"})
        return agency

    # -- users ---------------------------------------------------------------------------------
    def create_user(
        self,
        username: str,
        agency: str,
        roles: Iterable[Role | str],
        clearance: str,
        *,
        password: str | None = None,
        categories: Iterable[str] = (),
        display_name: str = "",
        actor: str = SYSTEM_ACTOR,
    ) -> User:
        if not isinstance(username, str) or not _USERNAME.match(username):
            raise InvalidInput(
                "username must be 2-64 characters: lower-case letters, digits, '.', '_' or '-'",
                details={"field": "username"},
            )
        role_set = self._roles(roles)
        self._check_clearance(clearance)
        cat_set = self._check_categories(categories)
        display_name = _clean_text(display_name, "display_name", 200, allow_empty=True)
        password_hash = self._hash_password(password) if password is not None else None
        user = User(
            id=str(uuid.uuid4()),
            username=username,
            agency=agency,
            roles=role_set,
            clearance=clearance,
            categories=cat_set,
        )
        with self._uow() as uow:
            if store.get_agency(uow.conn, agency) is None:
                raise InvalidInput(f"unknown agency {agency!r}", details={"field": "agency"})
            if store.get_user_by_username(uow.conn, username) is not None:
                raise Conflict(f"user {username} already exists", details={"field": "username"})
            uow.append(
                envelope(
                    "UserCreated",
                    {
                        "id": user.id,
                        "username": username,
                        "agency": agency,
                        "display_name": display_name,
                        "roles": sorted(r.value for r in role_set),
                        "clearance": clearance,
                        "categories": sorted(cat_set),
                        "password_hash": password_hash,
                    },
                    at=self._clock.now(),
                    actor=actor,
                    agency=agency,
                    marking=Marking.default_for(agency),
                )
            )
            uow.commit()
        return user

    def update_user(
        self,
        username: str,
        *,
        roles: Iterable[Role | str] | None = None,
        clearance: str | None = None,
        categories: Iterable[str] | None = None,
        active: bool | None = None,
        actor: str = SYSTEM_ACTOR,
    ) -> User:
        user = self.get_user_by_username(username)
        payload: dict[str, object] = {"id": user.id}
        if roles is not None:
            payload["roles"] = sorted(r.value for r in self._roles(roles))
        if clearance is not None:
            self._check_clearance(clearance)
            payload["clearance"] = clearance
        if categories is not None:
            payload["categories"] = sorted(self._check_categories(categories))
        if active is not None:
            payload["active"] = bool(active)
        if len(payload) == 1:
            raise InvalidInput("nothing to change")
        with self._uow() as uow:
            uow.append(
                envelope(
                    "UserChanged",
                    payload,
                    at=self._clock.now(),
                    actor=actor,
                    agency=user.agency,
                    marking=Marking.default_for(user.agency),
                )
            )
            uow.commit()
        self._forget_tokens_of(user.id)
        return self.get_user_by_username(username)

    def set_password(self, username: str, password: str, *, actor: str = SYSTEM_ACTOR) -> None:
        user = self.get_user_by_username(username)
        password_hash = self._hash_password(password)
        with self._uow() as uow:
            uow.append(
                envelope(
                    "PasswordSet",
                    {"id": user.id, "password_hash": password_hash},
                    at=self._clock.now(),
                    actor=actor,
                    agency=user.agency,
                    marking=Marking.default_for(user.agency),
                )
            )
            uow.commit()

    def get_user(self, user_id: str) -> User:
        with self._engine.connect() as conn:
            user = store.get_user(conn, user_id)
        if user is None:
            raise NotFound("no such user")
        return user

    def get_user_by_username(self, username: str) -> User:
        with self._engine.connect() as conn:
            user = store.get_user_by_username(conn, username)
        if user is None:
            raise NotFound("no such user", details={"field": "username"})
        return user

    def list_users(self, *, agency: str | None = None) -> list[User]:
        with self._engine.connect() as conn:
            return store.list_users(conn, agency=agency)

    # -- API tokens ----------------------------------------------------------------------------
    def issue_token(
        self, username: str, *, name: str = "api", ttl_s: int | None = None, actor: str = SYSTEM_ACTOR
    ) -> IssuedToken:
        user = self.get_user_by_username(username)
        name = _clean_text(name, "name", 120)
        if ttl_s is not None and ttl_s <= 0:
            raise InvalidInput("ttl must be positive", details={"field": "ttl_s"})
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = self._clock.now()
        expires_at = now + timedelta(seconds=ttl_s) if ttl_s else None
        with self._uow() as uow:
            uow.append(
                envelope(
                    "TokenIssued",
                    {
                        "token_id": token_id,
                        "user_id": user.id,
                        "name": name,
                        "token_hash": self._hasher.hash(secret),
                        "expires_at": expires_at.isoformat() if expires_at else None,
                    },
                    at=now,
                    actor=actor,
                    agency=user.agency,
                    marking=Marking.default_for(user.agency),
                )
            )
            uow.commit()
        return IssuedToken(token_id=token_id, token=f"cct_{token_id}.{secret}", expires_at=expires_at)

    def revoke_token(self, token_id: str, *, actor: str = SYSTEM_ACTOR) -> None:
        with self._uow() as uow:
            stored = store.StoredToken.get(uow.conn, token_id)
            if stored is None:
                raise NotFound("no such token")
            user = store.get_user(uow.conn, stored.user_id)
            agency = user.agency if user else "JOC"
            uow.append(
                envelope(
                    "TokenRevoked",
                    {"token_id": token_id},
                    at=self._clock.now(),
                    actor=actor,
                    agency=agency,
                    marking=Marking.default_for(agency),
                )
            )
            uow.commit()
        with self._token_cache_lock:
            for key in [k for k, v in self._token_cache.items() if v[0] == token_id]:
                del self._token_cache[key]

    # -- login and sessions --------------------------------------------------------------------
    def login(self, username: str, password: str, *, client: str = "-") -> Session:
        if not isinstance(username, str) or not isinstance(password, str):
            raise InvalidInput("username and password must be strings")
        mono = time.monotonic()
        self._throttle.check(username, client, mono)
        with self._engine.connect() as conn:
            user = store.get_user_by_username(conn, username) if _USERNAME.match(username) else None
            stored_hash = store.password_hash_of(conn, user.id) if user else None
        ok = self._verify(stored_hash or self._dummy_hash, password[:MAX_PASSWORD_LEN])
        if user is None or stored_hash is None or not ok or not user.active:
            self._throttle.fail(username, client, mono)
            raise NotAuthenticated("wrong username or password")
        self._throttle.succeed(username, client)
        return self._open_session(user)

    def _open_session(self, user: User) -> Session:
        session_id = secrets.token_urlsafe(32)
        now = self._clock.now()
        ttl = min(self._token_ttl_s, self._session_ttl_s)
        until = now + timedelta(seconds=ttl)
        with self._engine.begin() as conn:
            store.create_session(conn, session_id, user.id, now, until)
        token = self._signer.dumps({"sid": session_id, "exp": until.timestamp()})
        return Session(token=token, expires_at=until, user=user)

    def logout(self, token: str) -> None:
        session_id = self._session_id(token)
        with self._engine.begin() as conn:
            store.revoke_session(conn, session_id)

    def authenticate(self, token: str) -> User:
        """The active user a bearer token or session cookie belongs to."""
        if not isinstance(token, str) or not token or len(token) > 512:
            raise NotAuthenticated("missing or malformed credentials")
        if token.startswith("cct_"):
            user_id = self._verify_api_token(token)
        else:
            session_id = self._session_id(token)
            with self._engine.connect() as conn:
                found = store.session_valid(conn, session_id, self._clock.now())
            if found is None:
                raise NotAuthenticated("the session has expired or was closed; log in again")
            user_id = found
        with self._engine.connect() as conn:
            user = store.get_user(conn, user_id)
        if user is None or not user.active:
            raise NotAuthenticated("the account is disabled")
        return user

    def _session_id(self, token: str) -> str:
        try:
            data = self._signer.loads(token)
        except SignatureExpired as exc:
            raise NotAuthenticated("the session has expired; log in again") from exc
        except BadSignature as exc:
            raise NotAuthenticated("invalid credentials") from exc
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            raise NotAuthenticated("invalid credentials")
        exp = data.get("exp")
        if not isinstance(exp, int | float) or exp <= self._clock.now().timestamp():
            raise NotAuthenticated("the session has expired; log in again")
        return str(data["sid"])

    def _verify_api_token(self, token: str) -> str:
        match = _TOKEN.match(token)
        if match is None:
            raise NotAuthenticated("malformed API token")
        token_id, secret = match.groups()
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock.now()
        with self._token_cache_lock:
            cached = self._token_cache.get(digest)
        with self._engine.connect() as conn:
            stored = store.StoredToken.get(conn, token_id)
        if stored is None or stored.revoked:
            raise NotAuthenticated("the API token is unknown or revoked")
        if stored.expires_at is not None and stored.expires_at <= now:
            raise NotAuthenticated("the API token has expired")
        if cached is None:
            if not self._verify(stored.token_hash, secret):
                raise NotAuthenticated("the API token is unknown or revoked")
            with self._token_cache_lock:
                self._token_cache[digest] = (token_id, stored.user_id, time.monotonic())
                while len(self._token_cache) > 10_000:
                    self._token_cache.popitem(last=False)
        return stored.user_id

    def _forget_tokens_of(self, user_id: str) -> None:
        with self._token_cache_lock:
            for key in [k for k, v in self._token_cache.items() if v[1] == user_id]:
                del self._token_cache[key]

    # -- helpers -------------------------------------------------------------------------------
    def _verify(self, stored_hash: str, secret: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _hash_password(self, password: str) -> str:
        if not isinstance(password, str):
            raise InvalidInput("password must be a string", details={"field": "password"})
        if not MIN_PASSWORD_LEN <= len(password) <= MAX_PASSWORD_LEN:
            raise InvalidInput(
                f"password must be {MIN_PASSWORD_LEN}-{MAX_PASSWORD_LEN} characters",
                details={"field": "password"},
            )
        return self._hasher.hash(password)

    def _roles(self, roles: Iterable[Role | str]) -> frozenset[Role]:
        try:
            role_set = frozenset(Role(r) for r in roles)
        except ValueError:
            raise InvalidInput(
                f"unknown role; expected some of {', '.join(r.value for r in Role)}",
                details={"field": "roles"},
            ) from None
        if not role_set:
            raise InvalidInput("a user needs at least one role", details={"field": "roles"})
        return role_set

    def _check_clearance(self, clearance: str) -> None:
        if clearance not in self._ladder.levels:
            raise InvalidInput(
                f"unknown clearance; expected one of {', '.join(self._ladder.levels)}",
                details={"field": "clearance"},
            )

    def _check_categories(self, categories: Iterable[str]) -> frozenset[str]:
        cats = frozenset(categories)
        unknown = cats - self._categories
        if unknown:
            raise InvalidInput(
                f"unknown need-to-know categories: {', '.join(sorted(unknown))}",
                details={"field": "categories"},
            )
        return cats


def _clean_text(value: object, field: str, max_len: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", details={"field": field})
    value = value.strip()
    if (not value and not allow_empty) or len(value) > max_len:
        raise InvalidInput(f"{field} must be 1-{max_len} characters", details={"field": field})
    if any(ord(ch) < 32 for ch in value):
        raise InvalidInput(f"{field} must not contain control characters", details={"field": field})
    return value
