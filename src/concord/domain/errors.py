"""The one exception tree of Concord.

    ConcordError                 anything Concord raises on purpose
    ├── InvalidInput             the caller sent something wrong: fix the input and retry
    │   ├── FeedParseError       a feed record could not be parsed (feed, line, offset, code)
    │   └── PolicyError          a policy or playbook file is malformed (file, line)
    ├── NotAuthenticated         no valid credentials: log in or present a valid token
    ├── NotAuthorized            authenticated but not allowed: ask an admin for the role
    ├── NotFound                 no such record, or none the caller may see: check the id
    ├── Conflict                 the change clashes with the current state: reload and retry
    ├── RateLimited              too many attempts: wait and retry later
    └── Unavailable              a dependency (database, bus) is down: retry later

A test compares this drawing with the real class tree.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConcordError",
    "Conflict",
    "FeedParseError",
    "InvalidInput",
    "NotAuthenticated",
    "NotAuthorized",
    "NotFound",
    "PolicyError",
    "RateLimited",
    "Unavailable",
]


class ConcordError(Exception):
    """Anything Concord raises on purpose; carries a stable code and details for the API."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidInput(ConcordError):
    """The caller sent something wrong: fix the input and retry."""

    code = "invalid-input"


class FeedParseError(InvalidInput):
    """A feed record could not be parsed; details carry feed, line, offset and reject code."""

    code = "feed-parse-error"


class PolicyError(InvalidInput):
    """A policy, playbook or plan file is malformed; details name the file and line."""

    code = "policy-error"


class NotAuthenticated(ConcordError):
    """No valid credentials: log in again or present a valid token."""

    code = "not-authenticated"


class NotAuthorized(ConcordError):
    """Authenticated but not allowed to do this: ask an admin for the role."""

    code = "not-authorized"


class NotFound(ConcordError):
    """No such record, or none the caller may see: check the id."""

    code = "not-found"


class Conflict(ConcordError):
    """The change clashes with the current state: reload and retry."""

    code = "conflict"


class RateLimited(ConcordError):
    """Too many attempts: wait and retry later."""

    code = "rate-limited"


class Unavailable(ConcordError):
    """A dependency (database, bus) is down: retry later."""

    code = "unavailable"
