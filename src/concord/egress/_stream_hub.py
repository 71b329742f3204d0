"""The fan-out hub of the live stream: one publish path, release and serialise once per viewer class.

The picture service calls :meth:`StreamHub.publish` synchronously in the ingesting thread after each
commit; the hub hands the change to its event loop and returns at once. A single dispatcher task then
releases every changed record once per *viewer class* (agency, roles, clearance, categories, exercise
session; a TLP:RED record with named recipients also splits a class by "is a named recipient"), encodes
it once, and offers the encoded text to every connection of that class. Per-connection work is a filter
test on the item's released metadata and a ``put_nowait`` on a bounded queue: a connection whose queue
is full is dropped with :data:`CLOSE_SLOW_CONSUMER` and never slows the others.

Joining follows the subscribe-first rule: a connection is registered (live items are buffered for
it), then its snapshot or resume backlog is read, then buffered items at or below the last seq read
are dropped. Agreement changes (revocation, amendment, expiry) change what a class may see without a
record changing; the hub notices the gate's state change and re-syncs each connection: removes what
it may no longer see, sends what it now may.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from bisect import bisect_right
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from concord.domain.identity import Viewer
from concord.domain.ports import Clock
from concord.domain.record import RecordRow
from concord.egress._stream_protocol import (
    CLOSE_BUSY,
    CLOSE_SLOW_CONSUMER,
    STREAM_KINDS,
    Item,
    ItemMeta,
    StreamFilter,
    encode,
    encode_remove,
    encode_upsert,
)
from concord.services.picture import PictureChange
from concord.services.queries import Change, RecordQueries
from concord.sharing import Tlp

__all__ = ["Channel", "StreamClient", "StreamConfig", "StreamHub", "describe", "viewer_class"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamConfig:
    """Limits of the stream; the defaults suit a browser COP on a LAN."""

    queue_max: int = 2_000  # messages waiting for one connection before it is dropped as slow
    max_backlog: int = 5_000  # changes a resume may replay; beyond, a fresh snapshot is sent
    max_client_message_bytes: int = 8_192
    max_client_errors: int = 10  # invalid client messages tolerated before closing
    auth_timeout_s: float = 10.0
    reauth_s: float = 30.0  # how often a connection's credentials are checked again (logout, disable)
    gate_poll_s: float = 0.5  # how often the gate's agreement state is checked for changes
    per_class: bool = True  # False: release and serialise per connection (the naive baseline)
    max_state_records: int = 500_000  # records read for a snapshot or a re-sync
    kinds: frozenset[str] = STREAM_KINDS


class Channel(Protocol):
    """Where a connection's messages go (a WebSocket, or a recording double in tests)."""

    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


ClassKey = tuple[Hashable, ...]


def viewer_class(viewer: Viewer, exercise: bool) -> ClassKey:
    """What the gate's decision depends on, apart from TLP:RED named recipients (handled per record)."""
    return (viewer.agency, viewer.roles, viewer.clearance, viewer.categories, exercise)


@dataclass(eq=False, slots=True)
class StreamClient:
    """One connection's state in the hub."""

    viewer: Viewer
    exercise: bool
    filter: StreamFilter
    channel: Channel
    queue: asyncio.Queue[tuple[str, bool]]
    queue_max: int
    syncing: bool = True
    floor: int = 0  # items at or below this seq were covered by the snapshot or backlog read
    pending: list[Item] = field(default_factory=list)
    seen: dict[tuple[str, str], int] = field(default_factory=dict)  # latest seq handled per record
    held: dict[tuple[str, str], int] = field(default_factory=dict)  # records the client shows: text hash
    epoch: Hashable = None
    closed: bool = False
    close_code: int | None = None
    close_reason: str = ""
    sent: int = 0
    burst_queued: int = 0  # snapshot and re-sync messages waiting: they do not count against queue_max
    writer: asyncio.Task[None] | None = None
    on_drop: Callable[[StreamClient, int], None] | None = None

    def push(self, text: str, *, burst: bool = False) -> bool:
        """Queue one message; drop the connection when more than ``queue_max`` live ones wait.

        Snapshot and re-sync messages (``burst``) may exceed the limit: a large picture is not a slow
        reader. Live messages queued behind them count only once the burst is out.
        """
        if self.closed:
            return False
        if not burst and self.queue.qsize() - self.burst_queued >= self.queue_max:
            self.drop(CLOSE_SLOW_CONSUMER, f"slow consumer: more than {self.queue_max} messages waiting")
            return False
        if burst:
            self.burst_queued += 1
        self.queue.put_nowait((text, burst))
        return True

    def drop(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.close_reason = reason
        self.pending.clear()
        if self.writer is not None:
            self.writer.cancel()
        if self.on_drop is not None:
            self.on_drop(self, code)
        asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.channel.close(code, reason), timeout=2.0)

    def deliver(self, item: Item) -> None:
        """Apply one live item: at most once per seq per record, filtered, removals only if held."""
        if self.closed:
            return
        if self.syncing:
            if len(self.pending) >= self.queue_max:
                self.drop(CLOSE_BUSY, "the picture changed too fast while joining; reconnect")
                return
            self.pending.append(item)
            return
        if item.seq <= self.floor:
            return
        key = item.key
        last = self.seen.get(key)
        if last is not None and item.seq <= last:
            return
        self.seen[key] = item.seq
        self._apply(item, key)

    def _apply(self, item: Item, key: tuple[str, str], *, only_changes: bool = False) -> None:
        if item.text is not None and self.filter.matches(item.meta):
            digest = hash(item.text)
            if only_changes and self.held.get(key) == digest:
                return
            self.held[key] = digest
            self.push(item.text, burst=only_changes)
        elif key in self.held:
            del self.held[key]
            self.push(encode_remove(item.seq, item.meta.kind, item.meta.record_id), burst=only_changes)


@dataclass(frozen=True, slots=True)
class _Resync:
    clients: tuple[StreamClient, ...] | None  # None: every live connection (the gate changed)
    done: asyncio.Future[int] | None = None


@dataclass(frozen=True, slots=True)
class _Barrier:
    client: StreamClient
    nonce: str | int | None


class StreamHub:
    """Fans picture changes out to stream connections; see the module docstring."""

    def __init__(
        self,
        *,
        queries: RecordQueries,
        clock: Clock,
        config: StreamConfig | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._queries = queries
        self._clock = clock
        self.config = config or StreamConfig()
        self._loop = loop
        self._events: asyncio.Queue[PictureChange | _Resync | _Barrier] | None = None
        self._clients: set[StreamClient] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._epoch: Hashable = None
        self.stats: dict[str, int] = {
            "changes": 0,
            "releases": 0,
            "encodes": 0,
            "dropped_slow": 0,
            "coalesced": 0,
        }

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the dispatcher on the running loop (call from async code, once)."""
        loop = asyncio.get_running_loop()
        if self._tasks and self._loop is loop:
            return
        # A new loop (a test client's, a restarted server's): start afresh on it.
        self._tasks = []
        self._clients.clear()
        self._loop = loop
        self._events = asyncio.Queue()
        self._epoch = self._gate_epoch()
        self._tasks = [
            self._loop.create_task(self._dispatch(), name="stream-dispatch"),
            self._loop.create_task(self._watch_gate(), name="stream-gate-watch"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for client in list(self._clients):
            client.drop(1001, "server shutting down")
        self._clients.clear()

    @property
    def clients(self) -> frozenset[StreamClient]:
        return frozenset(self._clients)

    def publish(self, change: PictureChange) -> None:
        """The picture listener: called in the committing thread; hands the change to the loop."""
        loop, events = self._loop, self._events
        if loop is None or events is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(events.put_nowait, change)
        except RuntimeError:
            # The loop closed between the check and the call: nobody is listening any more.
            log.debug("stream loop closed; change not published")

    # -- connections -------------------------------------------------------------------------------
    async def join(
        self,
        viewer: Viewer,
        channel: Channel,
        *,
        exercise: bool = False,
        stream_filter: StreamFilter | None = None,
        resume_after: int | None = None,
    ) -> StreamClient:
        """Register a connection, send its snapshot or resume backlog, then let live deltas flow."""
        self.start()
        client = StreamClient(
            viewer=viewer,
            exercise=exercise,
            filter=stream_filter or StreamFilter(),
            channel=channel,
            queue=asyncio.Queue(),
            queue_max=self.config.queue_max,
            on_drop=self._dropped,
        )
        client.writer = asyncio.get_running_loop().create_task(self._write(client))
        # Subscribe first: from here on live items are buffered in client.pending.
        self._clients.add(client)
        client.epoch = self._epoch
        state, last_seq = await asyncio.to_thread(self._read_state, viewer, exercise)
        if client.closed:
            return client
        if resume_after is None:
            self._send_snapshot(client, state, last_seq, "initial")
        elif sum(1 for item in state if item.seq > resume_after) > self.config.max_backlog:
            self._send_snapshot(client, state, last_seq, "backlog-too-large")
        elif any(
            item.text is None
            and not item.gone_visible
            and (client.filter.kinds is None or item.meta.kind in client.filter.kinds)
            for item in state
            if item.seq > resume_after
        ):
            # A removal in a backlog would name a record the client may never have held (its id is
            # all it would learn, but that is already too much): send the whole picture instead.
            # Deleted records the viewer may see are safe to name: they are removed in the backlog;
            # kinds outside the client's layers it cannot hold, so they need no removal at all.
            self._send_snapshot(client, state, last_seq, "resync")
        else:
            self._send_backlog(client, state, resume_after, last_seq)
        self._go_live(client, last_seq)
        return client

    def _dropped(self, client: StreamClient, code: int) -> None:
        self._clients.discard(client)
        if code == CLOSE_SLOW_CONSUMER:
            self.stats["dropped_slow"] += 1

    def leave(self, client: StreamClient) -> None:
        self._clients.discard(client)
        client.closed = True
        if client.writer is not None:
            client.writer.cancel()

    async def change_filter(self, client: StreamClient, stream_filter: StreamFilter) -> int:
        """Apply new layers: remove what no longer matches, send what now does; returns the seq."""
        if client.queue.qsize() > self.config.queue_max:
            # Still behind on the previous burst: another one would only pile up in memory.
            client.drop(CLOSE_SLOW_CONSUMER, "slow consumer: filter changed before the last one was read")
            return -1
        client.filter = stream_filter
        return await self._request_resync((client,))

    def ping(self, client: StreamClient, nonce: str | int | None) -> None:
        """Answer with a pong once every change published before now has been offered to ``client``."""
        self._enqueue(_Barrier(client, nonce))

    async def _write(self, client: StreamClient) -> None:
        try:
            while True:
                text, burst = await client.queue.get()
                await client.channel.send(text)
                if burst:
                    client.burst_queued -= 1
                client.sent += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send: nothing more to deliver
            log.debug("stream send failed: %s", type(exc).__name__)
            client.closed = True
            self._clients.discard(client)

    # -- reading state (in a worker thread) ---------------------------------------------------------
    def _read_state(self, viewer: Viewer, exercise: bool) -> tuple[list[Item], int]:
        """Every streamed record as ``viewer`` may see it now (encoded, oldest change first) and the
        last seq; ``Item.text`` is None for a record deleted or not visible.

        The last seq is read first: every change at or below it is in the state read after it (seqs
        follow commit order), which is what lets buffered live items at or below it be dropped.
        """
        last_seq = self._queries.latest_seq()
        state = self._queries.changes(
            viewer,
            after_seq=0,
            kinds=sorted(self.config.kinds),
            exercise=exercise,
            limit=self.config.max_state_records,
        )
        items = [self._state_item(c) for c in state]
        return items, max([last_seq, *(c.seq for c in state)])

    def _send_snapshot(self, client: StreamClient, items: Sequence[Item], last_seq: int, reason: str) -> None:
        client.held.clear()
        client.push(encode({"type": "snapshot_start", "seq": last_seq, "reason": reason}), burst=True)
        count = 0
        for item in items:
            client.seen[item.key] = item.seq
            if item.text is not None and client.filter.matches(item.meta):
                client.held[item.key] = hash(item.text)
                client.push(item.text, burst=True)
                count += 1
        client.push(encode({"type": "snapshot_end", "seq": last_seq, "count": count}), burst=True)

    def _send_backlog(self, client: StreamClient, items: Sequence[Item], after: int, last_seq: int) -> None:
        # What the client holds after the backlog: everything visible now that matches its filter.
        for item in items:
            client.seen[item.key] = item.seq
            if item.text is not None and client.filter.matches(item.meta):
                client.held[item.key] = hash(item.text)
        client.push(encode({"type": "resume_start", "after": after, "seq": last_seq}), burst=True)
        count = 0
        for item in items:
            if item.seq <= after:
                continue
            if item.text is not None and item.key in client.held:
                client.push(item.text, burst=True)
            elif item.text is None and not item.gone_visible:
                continue  # withheld, of a kind outside the client's layers: it holds none, name none
            else:
                # Gone, no longer visible, or outside the filter: the client drops it if it has it.
                client.push(encode_remove(item.seq, item.meta.kind, item.meta.record_id), burst=True)
            count += 1
        client.push(encode({"type": "resume_end", "seq": last_seq, "count": count}), burst=True)

    def _go_live(self, client: StreamClient, last_seq: int) -> None:
        client.floor = last_seq
        pending, client.pending = client.pending, []
        client.syncing = False
        for item in pending:
            client.deliver(item)
        if client.epoch != self._epoch:
            # The gate changed while this connection was reading: bring it up to date.
            self._enqueue(_Resync((client,)))

    # -- the dispatcher ----------------------------------------------------------------------------
    def _enqueue(self, event: PictureChange | _Resync | _Barrier) -> None:
        if self._events is not None:
            self._events.put_nowait(event)

    async def _request_resync(self, clients: tuple[StreamClient, ...] | None) -> int:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._enqueue(_Resync(clients, done))
        return await done

    def _coalesce(self, first: PictureChange) -> tuple[PictureChange, _Resync | _Barrier | None]:
        """Merge the changes waiting right behind ``first`` into one batch, in seq order.

        Under load this turns many small fan-outs into one, and it restores seq order when two writers'
        listeners ran in the opposite order of their commits. Only the latest change of each record is
        kept: it supersedes the earlier ones, as in a resume backlog.
        """
        assert self._events is not None
        rows = list(first.rows)
        stopper: _Resync | _Barrier | None = None
        while not self._events.empty():
            nxt = self._events.get_nowait()
            if not isinstance(nxt, PictureChange):
                stopper = nxt
                break
            rows.extend(nxt.rows)
        if len(rows) == len(first.rows) and stopper is None:
            return first, None
        latest: dict[tuple[str, str], RecordRow] = {}
        for row in rows:
            key = (row.kind, row.id)
            if key not in latest or latest[key].seq < row.seq:
                latest[key] = row
        self.stats["coalesced"] += len(rows) - len(latest)
        return PictureChange(rows=tuple(sorted(latest.values(), key=lambda r: r.seq))), stopper

    async def _dispatch(self) -> None:
        assert self._events is not None
        carried: PictureChange | _Resync | _Barrier | None = None
        while True:
            event = carried if carried is not None else await self._events.get()
            carried = None
            if isinstance(event, PictureChange):
                event, carried = self._coalesce(event)
            try:
                if isinstance(event, PictureChange):
                    await self._fan_out(event)
                elif isinstance(event, _Barrier):
                    event.client.push(encode({"type": "pong", "nonce": event.nonce}))
                else:
                    seq = await self._resync(event.clients)
                    if event.done is not None and not event.done.done():
                        event.done.set_result(seq)
            except Exception:
                log.exception("stream dispatch failed")
                if isinstance(event, _Resync) and event.done is not None and not event.done.done():
                    event.done.set_result(-1)

    async def _fan_out(self, change: PictureChange) -> None:
        rows = [r for r in change.rows if r.kind in self.config.kinds]
        clients = [c for c in self._clients if not c.closed]
        if not rows or not clients:
            return
        self.stats["changes"] += 1
        groups: dict[Hashable, list[StreamClient]] = {}
        for client in clients:
            key: Hashable = (
                viewer_class(client.viewer, client.exercise) if self.config.per_class else id(client)
            )
            groups.setdefault(key, []).append(client)
        plans = await asyncio.to_thread(self._prepare, rows, list(groups.values()))
        for members, per_client in plans:
            for client in members:
                for item in per_client(client):
                    client.deliver(item)

    def _prepare(
        self, rows: Sequence[RecordRow], groups: Sequence[list[StreamClient]]
    ) -> list[tuple[list[StreamClient], Callable[[StreamClient], list[Item]]]]:
        """Release and encode each row once per group (and per named-recipient flag for TLP:RED)."""
        plans: list[tuple[list[StreamClient], Callable[[StreamClient], list[Item]]]] = []
        for members in groups:
            exercise = members[0].exercise
            mine = [r for r in rows if r.exercise == exercise]
            if not mine:
                continue
            # Releases for one representative per (named-recipient flag) of each named row.
            cache: dict[tuple[int, bool], Item] = {}
            shared: list[Item | None] = []
            for index, row in enumerate(mine):
                if _named_row(row):
                    shared.append(None)
                    for flag in (False, True):
                        rep = next(
                            (c for c in members if (c.viewer.user_id in row.marking.recipients) == flag), None
                        )
                        if rep is not None:
                            cache[(index, flag)] = self._item(row, rep.viewer, exercise)
                else:
                    shared.append(self._item(row, members[0].viewer, exercise))

            def per_client(
                client: StreamClient,
                mine: list[RecordRow] = mine,
                shared: list[Item | None] = shared,
                cache: dict[tuple[int, bool], Item] = cache,
            ) -> list[Item]:
                items: list[Item] = []
                for index, item in enumerate(shared):
                    if item is None:
                        flag = client.viewer.user_id in mine[index].marking.recipients
                        item = cache[(index, flag)]
                    items.append(item)
                return items

            plans.append((members, per_client))
        return plans

    def _item(self, row: RecordRow, viewer: Viewer, exercise: bool) -> Item:
        self.stats["releases"] += 1
        (change,) = self._queries.changes_of([row], viewer, exercise=exercise)
        if change.released is None:
            meta = ItemMeta(row.kind, row.id, "", None, None)
            return Item(row.seq, meta, None)
        self.stats["encodes"] += 1
        return encode_upsert(change.seq, change.released)

    # -- agreement changes -------------------------------------------------------------------------
    def _gate_epoch(self) -> Hashable:
        gate = self._queries.gate
        agreements = gate.agreements
        return (id(gate), agreements.version, bisect_right(agreements.boundaries, self._clock.now()))

    async def _watch_gate(self) -> None:
        while True:
            await asyncio.sleep(self.config.gate_poll_s)
            try:
                epoch = self._gate_epoch()
            except Exception:
                log.exception("reading the gate state failed")
                continue
            if epoch != self._epoch:
                self._epoch = epoch
                self._enqueue(_Resync(None))

    async def _resync(self, only: tuple[StreamClient, ...] | None) -> int:
        clients = [c for c in (only if only is not None else tuple(self._clients)) if not c.closed]
        live = [c for c in clients if not c.syncing]
        groups: dict[Hashable, list[StreamClient]] = {}
        for client in live:
            # Connections of one class and one filter could share a read; one read per class is enough.
            groups.setdefault(viewer_class(client.viewer, client.exercise), []).append(client)
        last = 0
        for members in groups.values():
            # Named-recipient records differ per user; read per user when the class mixes users.
            by_user: dict[str, list[StreamClient]] = {}
            for client in members:
                by_user.setdefault(client.viewer.user_id, []).append(client)
            for users_clients in by_user.values():
                first = users_clients[0]
                items, last_seq = await asyncio.to_thread(self._read_state, first.viewer, first.exercise)
                last = max(last, last_seq)
                for client in users_clients:
                    if client.closed:
                        continue
                    client.epoch = self._epoch
                    self._apply_state(client, items, last_seq)
        for client in clients:
            if not client.closed and only is not None:
                client.push(
                    encode({"type": "filter_applied", "seq": last, "filter": client.filter.to_dict()})
                )
        return last

    @staticmethod
    def _state_item(change: Change) -> Item:
        if change.released is None:
            meta = ItemMeta(change.kind, change.record_id, "", None, None)
            return Item(change.seq, meta, None, gone_visible=change.gone_visible)
        return encode_upsert(change.seq, change.released)

    @staticmethod
    def _apply_state(client: StreamClient, items: Sequence[Item], last_seq: int) -> None:
        present = set()
        for item in items:
            key = item.key
            present.add(key)
            if item.seq > client.seen.get(key, 0):
                client.seen[key] = item.seq
            client._apply(item, key, only_changes=True)
        for key in [k for k in client.held if k not in present]:
            del client.held[key]
            client.push(encode_remove(client.seen.get(key, last_seq), key[0], key[1]), burst=True)
        client.floor = max(client.floor, last_seq)


def _named_row(row: RecordRow) -> bool:
    return row.marking.tlp is Tlp.RED and bool(row.marking.recipients)


def describe(hub: StreamHub) -> dict[str, Any]:
    """Counters for health pages and the benchmark."""
    return {**hub.stats, "connections": len(hub.clients)}
