"""Protocols for the collaborators that services receive: clock and bus."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

__all__ = ["Bus", "Clock"]


class Clock(Protocol):
    """The only source of "now" in Concord; always timezone-aware UTC."""

    def now(self) -> datetime:
        """Return the current time (aware, UTC)."""
        ...


class Bus(Protocol):
    """Publish/subscribe of small JSON-able messages on subjects (in-process or NATS)."""

    async def publish(self, subject: str, message: dict[str, Any]) -> None:
        """Deliver ``message`` to every subscriber of ``subject``."""
        ...

    def subscribe(self, subject: str, handler: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Call ``handler`` for every message published on ``subject`` from now on."""
        ...
