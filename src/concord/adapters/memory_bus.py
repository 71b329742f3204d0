"""The in-process message bus of the embedded deployment."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["InMemoryBus"]

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class InMemoryBus:
    """Delivers each message to the subscribers of its subject, in order, within this process.

    Subjects may end in ``.>`` to subscribe to a whole family (``tracks.>``), as in NATS.
    A failing subscriber is logged and does not stop delivery to the others.
    """

    def __init__(self) -> None:
        self._subs: list[tuple[str, Handler]] = []

    def subscribe(self, subject: str, handler: Handler) -> None:
        self._subs.append((subject, handler))

    async def publish(self, subject: str, message: dict[str, Any]) -> None:
        for pattern, handler in list(self._subs):
            if _matches(pattern, subject):
                try:
                    await handler(message)
                except Exception:
                    log.exception("bus subscriber for %s failed", pattern)


def _matches(pattern: str, subject: str) -> bool:
    if pattern == subject:
        return True
    if pattern.endswith(".>"):
        return subject.startswith(pattern[:-1])
    return False
