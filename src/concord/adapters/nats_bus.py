"""The NATS JetStream message bus of a deployment beyond one process.

JetStream carries work and fan-out; the journal in the database stays the one ordered record of truth.
Two streams, each replicated (``stream_replicas``, 3 in a cluster) on file storage:

- ``CONCORD_INGEST`` (``ingest.>``): observation batches from any door, before partitioning;
- ``CONCORD_OBS`` (``obs.<region>``): observations routed to the region that tracks them.

Notifications that need no durability (``committed.<region>``: a tracker committed these observations)
travel on core NATS: whoever misses one finds the same fact in the journal.

Publishing waits for JetStream's acknowledgement (the message is stored on a quorum of replicas) and
names each message (``Nats-Msg-Id``) so a publisher's retry inside the duplicate window is stored once.
Workers consume through durable pull consumers and acknowledge a message only after their handler
returned, i.e. after the database commit; a crash in between means redelivery, which the handlers make
harmless (observations are deduplicated by id). Leases (which worker owns which region) live in a
JetStream key-value bucket whose entries expire unless renewed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue

from concord.domain.errors import Conflict, InvalidInput, Unavailable

__all__ = [
    "INGEST_STREAM",
    "OBS_STREAM",
    "BatchHandler",
    "Lease",
    "LeaseBucket",
    "RouteBucket",
    "NatsBus",
    "PublishAck",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

INGEST_STREAM = "CONCORD_INGEST"
OBS_STREAM = "CONCORD_OBS"
_STREAM_SUBJECTS = {INGEST_STREAM: "ingest.>", OBS_STREAM: "obs.>"}
_MAX_MESSAGE_BYTES = 8_000_000
_WRONG_LAST_SEQUENCE = 10071  # JetStream's error code for a compare-and-set on a stale revision

Handler = Callable[[dict[str, Any]], Awaitable[None]]
BatchHandler = Callable[[list[dict[str, Any]]], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishAck:
    """JetStream's answer to a publish: where the message is stored, and whether it was a repeat."""

    stream: str
    seq: int
    duplicate: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """An owned key of the lease bucket: who holds it and the revision to renew from."""

    key: str
    owner: str
    revision: int


def _encode(message: dict[str, Any]) -> bytes:
    try:
        data = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"bus message is not JSON: {exc}", details={"field": "message"}) from exc
    if len(data) > _MAX_MESSAGE_BYTES:
        raise InvalidInput(
            f"bus message of {len(data)} bytes exceeds {_MAX_MESSAGE_BYTES}", details={"field": "message"}
        )
    return data


def _decode(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


class NatsBus:
    """The :class:`concord.domain.ports.Bus` on NATS JetStream, plus durable consumers and leases.

    Build it unconnected (the composition root is synchronous) and ``await connect()`` inside the event
    loop that uses it. ``subscribe`` handlers registered before ``connect`` are attached on connect.
    """

    def __init__(
        self,
        servers: Sequence[str],
        *,
        name: str = "concord",
        stream_replicas: int = 1,
        ack_wait_s: float = 5.0,
        publish_timeout_s: float = 5.0,
    ) -> None:
        if not servers:
            raise InvalidInput("at least one NATS server URL is needed", details={"field": "nats_url"})
        self.servers = list(servers)
        self.name = name
        self.stream_replicas = stream_replicas
        self.ack_wait_s = ack_wait_s
        self.publish_timeout_s = publish_timeout_s
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._pending_subs: list[tuple[str, Handler]] = []

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> NatsBus:
        """``nats://a:4222,nats://b:4223`` (comma-separated) names the servers of one cluster."""
        return cls([u.strip() for u in url.split(",") if u.strip()], **kwargs)

    # -- connection --------------------------------------------------------------------------------
    async def connect(self, *, timeout_s: float = 10.0) -> None:
        try:
            self._nc = await nats.connect(
                servers=self.servers,
                name=self.name,
                connect_timeout=2,
                reconnect_time_wait=0.25,
                max_reconnect_attempts=-1,
                allow_reconnect=True,
                ping_interval=2,
                max_outstanding_pings=3,
            )
        except (OSError, nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"cannot reach NATS at {','.join(self.servers)}: {exc}") from exc
        self._js = self._nc.jetstream(timeout=timeout_s)
        pending, self._pending_subs = self._pending_subs, []
        for subject, handler in pending:
            await self._attach(subject, handler)

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            try:
                await self._nc.drain()
            except (nats.errors.Error, TimeoutError, OSError):
                await self._nc.close()
        self._nc = None
        self._js = None

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise Unavailable("the NATS bus is not connected")
        return self._js

    async def ensure_streams(self) -> None:
        """Create (or bring to this configuration) the streams: file storage, replicated, deduplicating."""
        js = self._jetstream()
        for stream, subject in _STREAM_SUBJECTS.items():
            config = StreamConfig(
                name=stream,
                subjects=[subject],
                storage=StorageType.FILE,
                num_replicas=self.stream_replicas,
                duplicate_window=120.0,
                max_age=7 * 86_400.0,
            )
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError:
                await js.update_stream(config)

    # -- the Bus protocol --------------------------------------------------------------------------
    async def publish(self, subject: str, message: dict[str, Any]) -> None:
        """Publish on JetStream when a stream covers ``subject`` (named by ``message["id"]``), else core."""
        if any(subject.startswith(s[:-1]) for s in _STREAM_SUBJECTS.values()):
            msg_id = message.get("id")
            await self.publish_durable(subject, message, msg_id=msg_id if isinstance(msg_id, str) else None)
            return
        if self._nc is None:
            raise Unavailable("the NATS bus is not connected")
        try:
            await self._nc.publish(subject, _encode(message))
        except nats.errors.Error as exc:
            raise Unavailable(f"NATS publish on {subject} failed: {exc}") from exc

    def subscribe(self, subject: str, handler: Handler) -> None:
        """Fan-out subscription (every subscriber gets every message, from now on)."""
        if self._nc is None:
            self._pending_subs.append((subject, handler))
            return
        asyncio.get_running_loop().create_task(self._attach(subject, handler))

    async def _attach(self, subject: str, handler: Handler) -> None:
        assert self._nc is not None

        async def deliver(msg: Msg) -> None:
            message = _decode(msg.data)
            if message is None:
                log.warning("dropping a malformed message on %s", msg.subject)
                return
            try:
                await handler(message)
            except Exception:
                log.exception("bus subscriber for %s failed", subject)

        await self._nc.subscribe(subject, cb=deliver)

    # -- JetStream ---------------------------------------------------------------------------------
    async def publish_durable(
        self, subject: str, message: dict[str, Any], *, msg_id: str | None = None
    ) -> PublishAck:
        """Store ``message`` in its stream and return once JetStream acknowledged it."""
        js = self._jetstream()
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        try:
            ack = await js.publish(subject, _encode(message), timeout=self.publish_timeout_s, headers=headers)
        except nats.js.errors.NoStreamResponseError as exc:
            raise Unavailable(f"no JetStream stream answered for {subject}") from exc
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            raise Unavailable(f"JetStream publish on {subject} failed: {exc}") from exc
        return PublishAck(stream=ack.stream, seq=ack.seq, duplicate=bool(ack.duplicate))

    async def consume(
        self,
        subject: str,
        *,
        durable: str,
        stream: str,
        handler: BatchHandler,
        stop: asyncio.Event,
        batch: int = 500,
        idle_s: float = 0.5,
        still_owner: Callable[[], bool] | None = None,
    ) -> int:
        """Pull batches from the durable consumer until ``stop`` is set; acknowledge after ``handler``.

        A batch whose handler raises is not acknowledged: JetStream redelivers it after ``ack_wait_s``.
        ``still_owner`` is asked before each batch is handled (a lost lease stops consumption).
        Returns the number of messages acknowledged.
        """
        js = self._jetstream()
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait_s,
            # One batch in flight per consumer: redelivery after a crash stays a small, ordered set.
            max_ack_pending=batch,
            filter_subject=subject,
        )
        sub = await _retrying(
            lambda: js.pull_subscribe(subject, durable=durable, stream=stream, config=config)
        )
        info = await _retrying(lambda: js.consumer_info(stream, durable))
        if info.num_ack_pending:
            # A previous holder died with messages in flight: let them come due, so that they are
            # redelivered (JetStream serves redeliveries first) before anything newer is fused.
            await asyncio.sleep(self.ack_wait_s)
        acked = 0
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(batch=batch, timeout=idle_s)
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                except nats.errors.Error as exc:
                    log.warning("fetch on %s failed (%s); retrying", durable, exc)
                    await asyncio.sleep(idle_s)
                    continue
                if still_owner is not None and not still_owner():
                    break  # unacknowledged: the next owner gets them after ack_wait
                good = [(m, d) for m in msgs if (d := _decode(m.data)) is not None]
                try:
                    await handler([d for _, d in good])
                except Exception:
                    log.exception("handler for %s failed; the batch will be redelivered", durable)
                    for m in msgs:
                        with contextlib.suppress(nats.errors.Error, TimeoutError):
                            await m.nak(delay=idle_s)
                    await asyncio.sleep(idle_s)
                    continue
                for m in msgs:
                    try:
                        await m.ack_sync(timeout=self.publish_timeout_s)
                        acked += 1
                    except (nats.errors.Error, TimeoutError) as exc:
                        # Redelivered later and deduplicated by the handler: harmless.
                        log.warning("ack on %s failed: %s", durable, exc)
        finally:
            try:
                await sub.unsubscribe()
            except (nats.errors.Error, TimeoutError):
                pass
        return acked

    async def route_bucket(self, bucket: str, *, ttl_s: float) -> RouteBucket:
        js = self._jetstream()
        config = KeyValueConfig(bucket=bucket, ttl=ttl_s, replicas=self.stream_replicas, history=1)
        kv = await _retrying(lambda: js.create_key_value(config))
        return RouteBucket(kv)

    async def lease_bucket(self, bucket: str, *, ttl_s: float) -> LeaseBucket:
        js = self._jetstream()
        config = KeyValueConfig(bucket=bucket, ttl=ttl_s, replicas=self.stream_replicas, history=1)
        kv = await _retrying(lambda: js.create_key_value(config))
        return LeaseBucket(kv)


class LeaseBucket:
    """Expiring ownership records (compare-and-set on the key's revision).

    While the cluster elects a new leader the bucket does not answer: such calls raise Unavailable,
    and a holder must then treat its lease as valid only until its TTL runs out.
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def acquire(self, key: str, owner: str) -> Lease | None:
        """Take ``key`` if nobody holds it; None when someone does."""
        try:
            revision = await self._kv.create(key, owner.encode())
        except nats.js.errors.KeyWrongLastSequenceError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"lease bucket unavailable: {exc}") from exc
        return Lease(key=key, owner=owner, revision=revision)

    async def renew(self, lease: Lease) -> Lease:
        """Extend ``lease``; raises Conflict when it expired and someone else took the key."""
        try:
            revision = await self._kv.update(lease.key, lease.owner.encode(), last=lease.revision)
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            raise Conflict(f"lease {lease.key} is lost", details={"key": lease.key}) from exc
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"lease bucket unavailable: {exc}") from exc
        return Lease(key=lease.key, owner=lease.owner, revision=revision)

    async def release(self, lease: Lease) -> None:
        try:
            await self._kv.delete(lease.key, last=lease.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            pass  # already taken over: nothing of ours to release
        except nats.js.errors.BadRequestError as exc:
            # A delete with a stale revision answers with a plain 400 ("wrong last sequence").
            if exc.err_code != _WRONG_LAST_SEQUENCE:
                raise Unavailable(f"lease bucket refused the release: {exc}") from exc
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"lease bucket unavailable: {exc}") from exc

    async def holder(self, key: str) -> str | None:
        """Who holds ``key`` now, or None."""
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"lease bucket unavailable: {exc}") from exc
        return entry.value.decode() if entry.value else None

    async def holders(self, prefix: str, *, timeout_s: float = 5.0) -> dict[str, str]:
        """Current holders of the keys starting with ``prefix``: key → owner."""
        try:
            # Listing keys runs a watcher over the bucket; bound it so a stalled one cannot hang a worker.
            keys = await asyncio.wait_for(self._kv.keys(), timeout=timeout_s)
        except nats.js.errors.NoKeysError:
            return {}
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"lease bucket unavailable: {exc}") from exc
        out: dict[str, str] = {}
        for key in keys:
            if not key.startswith(prefix):
                continue
            try:
                entry = await self._kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                continue
            except (nats.errors.Error, TimeoutError) as exc:
                raise Unavailable(f"lease bucket unavailable: {exc}") from exc
            if entry.value:
                out[key] = entry.value.decode()
        return out


class RouteBucket:
    """Shared first-come names (identity → region) that expire unless refreshed."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def claim(self, key: str, value: str, allowed: Sequence[str], *, refresh: bool = False) -> str:
        """The value stored under ``key``, storing ``value`` when there is none (or it is not allowed);
        with ``refresh`` the stored value's expiry starts again."""
        try:
            return await self._claim(key, value, allowed, refresh)
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"route bucket unavailable: {exc}") from exc

    async def _claim(self, key: str, value: str, allowed: Sequence[str], refresh: bool) -> str:
        try:
            await self._kv.create(key, value.encode())
            return value
        except nats.js.errors.KeyWrongLastSequenceError:
            pass
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            entry = None  # expired between the two calls
        stored = entry.value.decode() if entry is not None and entry.value else ""
        if stored not in allowed:
            await self._kv.put(key, value.encode())
            return value
        if refresh:
            await self._kv.put(key, stored.encode())
        return stored


async def _retrying(make: Callable[[], Awaitable[T]], *, attempts: int = 20, wait_s: float = 0.5) -> T:
    """JetStream API calls fail while a cluster elects a leader; retry for a few seconds."""
    for attempt in range(attempts):
        try:
            return await make()
        except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError, TimeoutError) as exc:
            if attempt == attempts - 1:
                raise Unavailable(f"JetStream did not answer: {exc}") from exc
            await asyncio.sleep(wait_s)
        except nats.js.errors.APIError as exc:
            if attempt == attempts - 1 or exc.code not in (500, 503):
                raise Unavailable(f"JetStream refused: {exc}") from exc
            await asyncio.sleep(wait_s)
    raise Unavailable("JetStream did not answer")
