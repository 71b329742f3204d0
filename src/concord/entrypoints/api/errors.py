"""One JSON error shape for every failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from concord.domain.errors import (
    ConcordError,
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotAuthorized,
    NotFound,
    RateLimited,
    Unavailable,
)

__all__ = ["error_body", "install_error_handlers", "status_of"]

log = logging.getLogger("concord.api")

_STATUS: list[tuple[type[ConcordError], int]] = [
    (NotAuthenticated, 401),
    (NotAuthorized, 403),
    (NotFound, 404),
    (Conflict, 409),
    (RateLimited, 429),
    (InvalidInput, 422),
    (Unavailable, 503),
]

_HTTP_CODES = {
    400: "bad-request",
    401: "not-authenticated",
    403: "not-authorized",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "rate-limited",
}


def status_of(exc: ConcordError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _clean_loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) if parts else str(loc[0] if loc else "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ConcordError)
    async def _concord_error(_request: Request, exc: ConcordError) -> JSONResponse:
        status = status_of(exc)
        headers = {}
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if status == 429 and "retry_after_s" in exc.details:
            headers["Retry-After"] = str(exc.details["retry_after_s"])
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details), status_code=status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            errors.append(
                {
                    "field": _clean_loc(err.get("loc", ())),
                    "type": err.get("type", ""),
                    "message": err.get("msg", ""),
                }
            )
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        message = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
        return JSONResponse(
            error_body("invalid-input", message, {"field": first["field"], "errors": errors}),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(DBAPIError)
    async def _database_gone(_request: Request, exc: DBAPIError) -> JSONResponse:
        # A connection the database dropped (a restart, a fail-over, an administrator). Requests that
        # name what they create (observation ids, message and incident ids) can be sent again safely.
        # Other database errors are internal errors.
        if not (exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)):
            log.exception("unhandled database error", exc_info=exc)
            return JSONResponse(error_body("internal-error", "an internal error occurred"), status_code=500)
        log.warning("database connection lost during a request: %s", type(exc.orig).__name__)
        return JSONResponse(
            error_body(
                "unavailable", "the database connection was lost; check the result or send the request again"
            ),
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("internal-error", "an internal error occurred"), status_code=500)
