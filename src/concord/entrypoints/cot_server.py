"""The CoT door: TAK clients over plain TCP and over TLS with client certificates.

What comes in goes to ingest: each connection has its own :class:`~concord.ingest.CotStreamFramer`
and :class:`~concord.ingest.CotDecoder` (bounded memory, hostile XML refused); positions are batched
across connections and handed to ``picture.ingest`` in a worker thread, so the event loop never
waits for the database; pings are answered; GeoChat is relayed through the release gate.

What goes out comes from egress via :class:`~concord.services.tak.TakHub`: released records,
serialised once per viewer class. Each connection writes with ``transport.write`` and is dropped,
with a logged reason, when its send buffer passes a bound (a client that does not read), when it
floods, stalls inside an event, goes quiet past the idle timeout, or sends something the framer
cannot frame. One bad client never delays another.

The plain TCP port is bound to one agency and one user (for attribution and for what it may see); on
the TLS port the client certificate, issued by Concord's CA (``concord ca``), names the user.
Expired, foreign and missing certificates are refused during the handshake and logged.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from concord.bootstrap import Concord
from concord.config import Settings
from concord.domain.errors import ConcordError, InvalidInput, NotFound, Unavailable
from concord.domain.identity import User, Viewer
from concord.domain.marking import Marking
from concord.domain.observation import Observation
from concord.domain.record import RecordRow
from concord.egress.cot import encode_ping
from concord.ingest import CotDecoder, CotStreamFramer, DecodeResult, FramerError, build_pong
from concord.services.ca import CertificateAuthority, username_from_peercert
from concord.services.tak import TakHub, current_rows

__all__ = ["CotLimits", "CotServer", "run_cot_server"]

log = logging.getLogger("concord.cot")


@dataclass(frozen=True, slots=True, kw_only=True)
class CotLimits:
    """Bounds that keep one client from hurting the others (all per connection unless said)."""

    max_event_bytes: int = 64 * 1024
    max_send_buffer_bytes: int = 4 * 1024 * 1024  # unread bytes queued for a client before dropping it
    # The kernel's own send buffer per socket, fixed so that it does not grow to megabytes and hide a
    # client that stopped reading from the bound above.
    socket_send_buffer_bytes: int = 256 * 1024
    idle_timeout_s: float = 600.0  # nothing received for this long: close
    partial_timeout_s: float = 30.0  # half an event held this long without more bytes: close
    keepalive_s: float = 30.0  # nothing sent for this long: send a ping
    max_events_per_s: float = 200.0  # sustained rate; above it (past the burst) the client is flooding
    burst_events: float = 2000.0
    max_connections: int = 10_000  # all ports together
    handshake_timeout_s: float = 10.0
    batch_delay_s: float = 0.005  # after a quiet spell, gather positions this long before ingesting
    max_batch: int = 5000
    max_pending_observations: int = 50_000  # across connections, while ingest is behind
    max_own_uids: int = 1024
    log_rejections: int = 5  # rejections logged one by one per connection; the rest are counted


@dataclass(slots=True)
class CotServerStats:
    connections: int = 0
    refused_handshakes: int = 0
    refused_users: int = 0
    closed: dict[str, int] = field(default_factory=dict)
    events: int = 0
    rejected: int = 0
    observations: int = 0
    dropped_observations: int = 0
    ingest_batches: int = 0
    ingest_errors: int = 0

    def count_close(self, reason: str) -> None:
        key = reason.split(":", 1)[0]
        self.closed[key] = self.closed.get(key, 0) + 1


class _IngestBatcher:
    """Positions from every connection, gathered for a few milliseconds and ingested in a thread."""

    def __init__(
        self,
        ingest: Callable[[Sequence[Observation], str], object],
        limits: CotLimits,
        stats: CotServerStats,
    ) -> None:
        self._ingest = ingest
        self._limits = limits
        self._stats = stats
        self._pending: dict[str, dict[str, Observation]] = {}
        self._count = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cot-ingest")

    def add(self, actor: str, observations: Sequence[Observation]) -> None:
        room = self._limits.max_pending_observations - self._count
        if room < len(observations):
            self._stats.dropped_observations += len(observations) - max(room, 0)
            log.warning("cot ingest is behind: dropped %d positions", len(observations) - max(room, 0))
            observations = observations[: max(room, 0)]
        bucket = self._pending.setdefault(actor, {})
        for obs in observations:
            # Ingest refuses a batch whose ids repeat; a resent event is the same observation.
            if obs.id not in bucket:
                bucket[obs.id] = obs
                self._count += 1
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self._limits.batch_delay_s)
            await self.flush()

    async def flush(self) -> None:
        while self._pending:
            pending, self._pending, self._count = self._pending, {}, 0
            await asyncio.to_thread(self._ingest_all, pending)

    def _ingest_all(self, pending: dict[str, dict[str, Observation]]) -> None:
        for actor, batch in pending.items():
            items = list(batch.values())
            for start in range(0, len(items), self._limits.max_batch):
                chunk = items[start : start + self._limits.max_batch]
                try:
                    self._ingest(chunk, actor)
                    self._stats.ingest_batches += 1
                except ConcordError as exc:
                    self._stats.ingest_errors += 1
                    log.warning("cot ingest refused a batch of %d from %s: %s", len(chunk), actor, exc)
                except Exception:
                    self._stats.ingest_errors += 1
                    log.exception("cot ingest failed for a batch of %d from %s", len(chunk), actor)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()


@dataclass(frozen=True, slots=True)
class _Binding:
    """Who a connection speaks for: the user (viewer, attribution) and the agency of its feed."""

    user: User
    agency: str
    marking: Marking

    @property
    def viewer(self) -> Viewer:
        return self.user.viewer()


class _Connection(asyncio.Protocol):
    """One TAK client (a :class:`~concord.services.tak.TakPeer` once its user is known)."""

    def __init__(self, server: CotServer, *, tls: bool) -> None:
        self._server = server
        self._tls = tls
        self._limits = server.limits
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.binding: _Binding | None = None
        self.decoder: CotDecoder | None = None
        self.framer: CotStreamFramer | None = None
        self._early: list[bytes] = []
        self._early_bytes = 0
        self.own_uids: set[str] = set()
        self.exercise = False
        self.closed = False
        self.last_rx = self.last_tx = time.monotonic()
        self._tokens = self._limits.burst_events
        self._refill_at = self.last_rx
        self._rejections = 0
        self._backlog_seen = False

    # -- TakPeer -----------------------------------------------------------------------------------
    @property
    def viewer(self) -> Viewer:
        assert self.binding is not None  # only bound connections join the hub
        return self.binding.viewer

    def send(self, data: bytes) -> None:
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            return
        # The bound applies to what is still queued from earlier writes, so one large write (the
        # picture sent on connect) is not mistaken for a client that does not read.
        buffered = transport.get_write_buffer_size()
        if buffered > self._limits.max_send_buffer_bytes:
            self.drop(f"slow-reader: {buffered} bytes unread (limit {self._limits.max_send_buffer_bytes})")
            return
        transport.write(data)
        self.last_tx = time.monotonic()

    # -- life cycle --------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Stream transports of every event loop (asyncio's, uvloop's) have the Transport methods used
        # here, but uvloop's do not subclass asyncio.Transport.
        self.transport = transport = cast(asyncio.Transport, transport)
        address = transport.get_extra_info("peername")
        self.peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        server = self._server
        if len(server.connections) >= self._limits.max_connections:
            server.stats.count_close("too-many-connections")
            log.warning("cot %s: refused, %d connections open", self.peer, len(server.connections))
            transport.abort()
            self.closed = True
            return
        server.connections.add(self)
        server.stats.connections += 1
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self._limits.socket_send_buffer_bytes)
        if self._tls:
            server.spawn(self._handshake(transport))
        else:
            assert server.tcp_binding is not None
            self._bind(server.tcp_binding)

    async def _handshake(self, raw: asyncio.Transport) -> None:
        server = self._server
        assert server.tls_context is not None
        loop = asyncio.get_running_loop()
        try:
            secured = await loop.start_tls(
                raw,
                self,
                server.tls_context,
                server_side=True,
                ssl_handshake_timeout=self._limits.handshake_timeout_s,
            )
        except (ssl.SSLError, OSError, TimeoutError, ConnectionError, EOFError) as exc:
            server.stats.refused_handshakes += 1
            reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or exc
            log.warning("cot tls %s: handshake refused: %s", self.peer, reason)
            self._abort_quietly(raw, "tls-refused")
            return
        if secured is None or self.closed:
            self._abort_quietly(raw, "tls-refused")
            return
        self.transport = secured
        username = username_from_peercert(secured.get_extra_info("peercert"))
        try:
            if username is None:
                raise NotFound("the certificate names no user")
            user = await asyncio.to_thread(server.concord.accounts.get_user_by_username, username)
            if not user.active:
                raise NotFound("the user is deactivated")
        except NotFound as exc:
            server.stats.refused_users += 1
            log.warning("cot tls %s: certificate for %r refused: %s", self.peer, username, exc)
            self.drop("unknown-user: certificate names no active user")
            return
        if self.closed:
            return
        self._bind(_Binding(user=user, agency=user.agency, marking=server.marking_for(user.agency)))

    def _abort_quietly(self, transport: asyncio.Transport, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self._server.stats.count_close(reason)
            self._server.connections.discard(self)
        transport.abort()

    def _bind(self, binding: _Binding) -> None:
        self.binding = binding
        server = self._server
        self.decoder = CotDecoder(
            binding.agency,
            binding.marking,
            feed=f"cot:{binding.agency}:{binding.user.username}",
            max_event_bytes=self._limits.max_event_bytes,
        )
        self.framer = self.decoder.new_framer()
        log.info("cot %s: connected as %s (%s)", self.peer, binding.user.username, binding.agency)
        server.hub.add(self)
        early, self._early = self._early, []
        for chunk in early:
            self.data_received(chunk)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        now = time.monotonic()
        self.last_rx = now
        framer, decoder = self.framer, self.decoder
        if framer is None or decoder is None:
            # Bytes that arrive between the handshake and the user lookup wait, within bounds.
            self._early_bytes += len(data)
            if self._early_bytes > 2 * self._limits.max_event_bytes:
                self.drop("oversized: too much data before the connection was identified")
            else:
                self._early.append(data)
            return
        try:
            frames = framer.feed_frames(data)
        except FramerError as exc:
            self.drop(f"framing: {exc}")
            return
        if frames:
            self._tokens = min(
                self._limits.burst_events,
                self._tokens + (now - self._refill_at) * self._limits.max_events_per_s,
            )
            self._refill_at = now
            self._tokens -= len(frames)
            if self._tokens < 0:
                self.drop(f"flood: more than {self._limits.max_events_per_s:.0f} events/s sustained")
                return
            self._handle(decoder.decode_frames(frames, received_at=self._server.concord.clock.now()))
        rejections = framer.take_rejections()
        if rejections:
            self._log_rejections(rejections)
        if framer.must_close:
            reason = rejections[-1].code if rejections else "framing"
            self.drop(f"{reason}: the stream cannot be read any further")

    def _handle(self, result: DecodeResult) -> None:
        server = self._server
        binding = self.binding
        assert binding is not None
        server.stats.events += len(result.observations) + len(result.chats) + len(result.pings)
        if result.rejections:
            self._log_rejections(result.rejections)
        if result.pings:
            self.send(build_pong(now=server.concord.clock.now()))
        if result.observations:
            server.stats.observations += len(result.observations)
            for obs in result.observations:
                if obs.identity and len(self.own_uids) < self._limits.max_own_uids:
                    self.own_uids.add(obs.identity.removeprefix("tak:"))
            server.batcher.add(binding.user.id, result.observations)
        for chat in result.chats:
            server.hub.relay_chat(chat, sender=self)

    def _log_rejections(self, rejections: Sequence[Any]) -> None:
        self._server.stats.rejected += len(rejections)
        for rejection in rejections:
            self._rejections += 1
            if self._rejections <= self._limits.log_rejections:
                log.warning("cot %s: rejected (%s): %s", self.peer, rejection.code, rejection.reason)

    def eof_received(self) -> bool | None:
        if self.framer is not None and not self.framer.must_close:
            leftover = self.framer.finish()
            if leftover:
                self._log_rejections(leftover)
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self._server.stats.count_close("disconnected")
            log.info("cot %s: disconnected%s", self.peer, f" ({exc})" if exc else "")
        self._leave()

    def drop(self, reason: str) -> None:
        """Close the connection at once (queued output is discarded) and log why."""
        if self.closed:
            return
        self.closed = True
        self._server.stats.count_close(reason)
        log.log(
            logging.INFO if self._server.stopping else logging.WARNING,
            "cot %s: dropped: %s",
            self.peer,
            reason,
        )
        if self._rejections > self._limits.log_rejections:
            log.warning("cot %s: %d rejections in all", self.peer, self._rejections)
        self._leave()
        if self.transport is not None:
            self.transport.abort()

    def _leave(self) -> None:
        self._server.connections.discard(self)
        if self.binding is not None:
            self._server.hub.remove(self)

    def housekeeping(self, now: float) -> None:
        if self.closed:
            return
        framer = self.framer
        quiet_s = now - self.last_rx
        transport = self.transport
        backlog = transport.get_write_buffer_size() if transport is not None else 0
        if backlog > self._limits.max_send_buffer_bytes and self._backlog_seen:
            self.drop(f"slow-reader: {backlog} bytes unread for over a second")
            return
        self._backlog_seen = backlog > self._limits.max_send_buffer_bytes
        if framer is not None and framer.buffered_bytes and quiet_s > self._limits.partial_timeout_s:
            self.drop(f"stalled: half an event held {quiet_s:.0f} s")
        elif quiet_s > self._limits.idle_timeout_s:
            self.drop(f"idle: nothing received for {quiet_s:.0f} s")
        elif self.binding is not None and now - self.last_tx > self._limits.keepalive_s:
            self.send(encode_ping(now=self._server.concord.clock.now()))


class CotServer:
    """The CoT listeners (plain TCP and/or TLS), their connections, the ingest batcher and the hub."""

    def __init__(
        self,
        concord: Concord,
        *,
        host: str = "127.0.0.1",
        tcp_port: int | None = None,
        tcp_user: str | None = None,
        tcp_agency: str | None = None,
        tls_port: int | None = None,
        tls_context: ssl.SSLContext | None = None,
        limits: CotLimits | None = None,
        hub: TakHub | None = None,
        marking_for: Callable[[str], Marking] = Marking.default_for,
    ) -> None:
        if tcp_port is not None and not tcp_user:
            raise InvalidInput(
                "the plain TCP CoT port needs a user to attribute reports to", details={"field": "tcp_user"}
            )
        if tls_port is not None and tls_context is None:
            raise InvalidInput("the CoT TLS port needs a TLS context", details={"field": "tls_context"})
        self.concord = concord
        self.host = host
        self.limits = limits or CotLimits()
        self.hub = hub or TakHub(gates=concord.sharing, clock=concord.clock)
        self.marking_for = marking_for
        self.tls_context = tls_context
        self.stats = CotServerStats()
        self.stopping = False
        self.connections: set[_Connection] = set()
        self.tcp_binding: _Binding | None = None
        self._tcp_port = tcp_port
        self._tcp_user = tcp_user
        self._tcp_agency = tcp_agency
        self._tls_port = tls_port
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.batcher = _IngestBatcher(
            lambda items, actor: concord.intake.ingest(items, actor=actor), self.limits, self.stats
        )
        self.tcp_address: tuple[str, int] | None = None
        self.tls_address: tuple[str, int] | None = None

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> None:
        """Bind the listeners and start serving (returns once they accept connections)."""
        loop = asyncio.get_running_loop()
        if self._tcp_port is not None:
            assert self._tcp_user is not None
            user = await asyncio.to_thread(self.concord.accounts.get_user_by_username, self._tcp_user)
            agency = self._tcp_agency or user.agency
            if agency != user.agency:
                raise InvalidInput(
                    f"the CoT TCP user {user.username} belongs to {user.agency}, not {agency}",
                    details={"field": "tcp_agency"},
                )
            self.tcp_binding = _Binding(user=user, agency=agency, marking=self.marking_for(agency))
        self.concord.live.subscribe(self.hub.listener(loop))
        rows = await asyncio.to_thread(self._current_rows)
        self.hub.seed(rows)
        self.batcher.start()
        if self._tcp_port is not None:
            server = await loop.create_server(
                lambda: _Connection(self, tls=False), self.host, self._tcp_port, backlog=2048
            )
            self._servers.append(server)
            self.tcp_address = server.sockets[0].getsockname()[:2]
            log.info("CoT TCP listening on %s:%d for %s", *self.tcp_address, self.tcp_binding.agency)  # type: ignore[union-attr]
        if self._tls_port is not None:
            server = await loop.create_server(
                lambda: _Connection(self, tls=True), self.host, self._tls_port, backlog=2048
            )
            self._servers.append(server)
            self.tls_address = server.sockets[0].getsockname()[:2]
            log.info("CoT TLS listening on %s:%d", *self.tls_address)
        self.spawn(self._housekeeping())

    def _current_rows(self) -> list[RecordRow]:
        return current_rows(self.concord.engine)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for connection in list(self.connections):
                connection.housekeeping(now)
            try:
                self.hub.sweep(force=False)
            except Exception:
                log.exception("cot sweep failed")

    async def close(self) -> None:
        """Stop listening, close every connection and ingest what is still pending."""
        self.stopping = True
        for server in self._servers:
            server.close()
        for connection in list(self.connections):
            connection.drop("server-shutdown: the server is stopping")
        for server in self._servers:
            await server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.batcher.close()


async def run_cot_server(
    concord: Concord,
    settings: Settings,
    *,
    tcp_user: str | None = None,
    host: str | None = None,
    limits: CotLimits | None = None,
) -> CotServer:
    """Start the CoT listeners the settings enable (``cot_tcp_port``, ``cot_tls_port``) and return them.

    The TLS listener uses the CA under ``settings.effective_key_dir`` (``concord ca init``) and issues
    its own server certificate from it when missing. Call ``await server.close()`` on shutdown.
    """
    bind = host or settings.host
    tls_context = None
    if settings.cot_tls_port:
        ca = CertificateAuthority(settings.effective_key_dir, clock=concord.clock)
        if not ca.exists():
            raise Unavailable(
                "the CoT TLS port needs a CA: run `concord ca init`",
                details={"path": str(ca.root)},
            )
        tls_context = await asyncio.to_thread(ca.server_context, [bind])
    server = CotServer(
        concord,
        host=bind,
        tcp_port=settings.cot_tcp_port or None,
        tcp_user=tcp_user,
        tcp_agency=settings.cot_tcp_agency or None,
        tls_port=settings.cot_tls_port or None,
        tls_context=tls_context,
        limits=limits,
    )
    await server.start()
    return server
