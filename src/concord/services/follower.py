"""Follow the records every process commits, in change order: the live source of API and egress nodes.

In the embedded deployment one process commits everything and tells its own listeners (the WebSocket
stream hub, the TAK hub) through :class:`PictureService`. When several processes share the database
(tracker workers fuse, API nodes acknowledge alerts and post messages), a node must also hear of what
the others committed. The journal in the database is the one ordered record of truth, so the follower
reads the records changed after the last change number it handed out (``records.seq`` grows in commit
order: a reader never skips a change committed late) and hands them to its listeners as one
:class:`PictureChange`. It reads when poked (a bus notification that a worker committed, or a local
write) and at least every ``poll_s`` seconds, so a lost notification delays a change, never loses it.
Each change number is handed out once, in order, and a node that restarts resumes from the newest
change: its clients resume from their own last change number through the stream's backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from concord.adapters import records_store as store
from concord.domain.errors import Unavailable
from concord.domain.record import RecordRow
from concord.services.picture import PictureChange

__all__ = ["JournalFollower"]

log = logging.getLogger(__name__)


class JournalFollower:
    """Hands every committed record change, from any process, to local listeners in change order."""

    def __init__(self, engine: Engine, *, poll_s: float = 1.0, batch: int = 5_000) -> None:
        self._engine = engine
        self.poll_s = poll_s
        self._batch = batch
        self._listeners: list[Callable[[PictureChange], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self.position: int | None = None
        self.delivered = 0
        self.reads = 0

    def subscribe(self, listener: Callable[[PictureChange], None]) -> None:
        self._listeners.append(listener)

    def poke(self, *_args: object) -> None:
        """Read now rather than at the next poll (safe from any thread)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between: nobody listens any more
            loop.call_soon_threadsafe(wake.set)

    def _read(self) -> list[RecordRow]:
        try:
            with self._engine.connect() as conn:
                if self.position is None:
                    newest = store.changes_since(conn, 0, limit=1, newest=True)
                    self.position = newest[0].seq if newest else 0
                    return []
                return store.changes_since(conn, self.position, limit=self._batch)
        except SQLAlchemyError as exc:
            raise Unavailable(f"cannot read the record changes: {exc}") from exc

    def _hand_out(self, rows: list[RecordRow]) -> None:
        self.position = rows[-1].seq
        self.delivered += len(rows)
        change = PictureChange(rows=tuple(rows))
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                log.exception("a listener of the record changes failed")

    async def catch_up(self) -> int:
        """Read and hand out what is new now; returns how many records were handed out."""
        rows = await asyncio.to_thread(self._read)
        self.reads += 1
        if rows:
            self._hand_out(rows)
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Follow until ``stop``; a database outage is waited out (and the changes read afterwards)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not stop.is_set():
            self._wake.clear()
            try:
                if await self.catch_up() >= self._batch:
                    continue  # more waiting: read on at once
            except Unavailable as exc:
                log.warning("record follower: %s; retrying", exc)
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waits, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
