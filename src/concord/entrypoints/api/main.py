"""The FastAPI application: routers, error handlers, middleware and the lifespan that wires Concord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from concord import __version__
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings
from concord.entrypoints.api.errors import install_error_handlers
from concord.entrypoints.api.middleware import AccessLogMiddleware, BodySizeLimitMiddleware
from concord.entrypoints.api.routes import (
    admin,
    agreements,
    audit,
    auth,
    cap,
    health,
    incidents,
    kpis,
    lessons,
    messages,
    picture,
    plans,
    reports,
    routing,
    stream,
    taskforces,
    units,
    web,
    zones,
)

__all__ = ["create_app"]


def create_app(settings: Settings, *, concord: Concord | None = None) -> FastAPI:
    """Build the API. With ``concord`` given (tests, demo), use it; otherwise bootstrap on startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = concord is None
        app.state.concord = concord if concord is not None else bootstrap(settings)
        try:
            yield
        finally:
            hub = getattr(app.state, "stream_hub", None)
            if hub is not None:
                await hub.stop()
            if owned:
                app.state.concord.close()

    app = FastAPI(
        title="Concord",
        version=__version__,
        description="Multi-agency border security coordination.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    if concord is not None:
        app.state.concord = concord
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLogMiddleware)
    for router in (
        health.router,
        auth.router,
        admin.router,
        admin.directory,
        picture.router,
        plans.router,
        zones.router,
        agreements.router,
        audit.router,
        cap.router,
        stream.router,
        web.router,
        incidents.router,
        routing.router,
        taskforces.router,
        units.router,
        messages.router,
        kpis.router,
        reports.router,
        lessons.router,  # fmt: skip
    ):
        app.include_router(router)
    return app
