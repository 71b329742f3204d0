"""The TAK fan-out: connected TAK clients, grouped by viewer class, fed from the live picture.

Every connected client is a :class:`TakPeer`. Clients whose viewers the release gate cannot tell apart
(same agency, roles, clearance, need-to-know categories and exercise flag) form one viewer class, and
each changed record is released and serialised to CoT once per class, then the same bytes are handed
to every client of the class. The gate is asked per client only for TLP:RED records that name
individual recipients, since only those depend on who exactly is asking.

Each class remembers what it currently shows (record -> CoT uid and bytes), so that

- a client that joins gets the class's current picture at once;
- a record that ends, is deleted, or is withheld on a later release (an agreement revoked, a marking
  tightened) is removed from the maps that show it with a ``t-x-d-d`` event, and only from those;
- :meth:`TakHub.sweep` re-releases everything when the agreement set changes, without waiting for the
  record's next update.

A client never gets its own position back (the uids it reported are in ``own_uids``). Everything here
runs on the event loop thread; :meth:`TakHub.listener` hands picture changes over from the ingesting
thread with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.engine import Engine

from concord.adapters import records_store
from concord.domain.identity import Role, Viewer
from concord.domain.marking import Tlp
from concord.domain.ports import Clock
from concord.domain.record import RecordRow
from concord.egress.cot import CotEncoding, cot_uid, encode_delete, encode_released, is_removal
from concord.ingest import ChatMessage
from concord.services.picture import PictureChange
from concord.services.queries import GateSource
from concord.services.records import shareable_of
from concord.sharing import ReleaseGate, Shareable, Visible, Withheld

__all__ = ["ClassKey", "TakHub", "TakHubStats", "TakPeer", "current_rows"]

log = logging.getLogger(__name__)

ClassKey = tuple[str, frozenset[Role], str, frozenset[str], bool]
_RecordKey = tuple[str, str]
_Item = tuple[str, bytes]  # (CoT uid, event bytes)
_Shown = tuple[str, bytes, int]  # (CoT uid, event bytes, change number of the record encoded)

DEFAULT_KINDS = frozenset({"track", "alert", "incident"})


class TakPeer(Protocol):
    """One connected TAK client as the hub sees it."""

    @property
    def viewer(self) -> Viewer: ...

    @property
    def exercise(self) -> bool: ...

    @property
    def own_uids(self) -> set[str]: ...

    def send(self, data: bytes) -> None:
        """Queue ``data`` for the client; a client that cannot keep up drops itself."""
        ...


@dataclass(slots=True)
class TakHubStats:
    """Counters for metrics and the benchmark."""

    batches: int = 0
    rows: int = 0
    releases: int = 0
    encodings: int = 0
    deletes: int = 0
    deliveries: int = 0
    chats: int = 0
    sweeps: int = 0


@dataclass(slots=True, eq=False)
class _ViewerClass:
    key: ClassKey
    viewer: Viewer
    exercise: bool
    peers: list[TakPeer] = field(default_factory=list)
    current: dict[_RecordKey, _Shown] = field(default_factory=dict)


def current_rows(
    engine: Engine, *, kinds: Iterable[str] = DEFAULT_KINDS, limit: int = 20_000
) -> list[RecordRow]:
    """The stored records a TAK map starts from (newest first, at most ``limit`` per kind)."""
    rows: list[RecordRow] = []
    with engine.connect() as conn:
        for kind in sorted(kinds):
            for count, row in enumerate(records_store.iter_records(conn, kind)):
                if count >= limit:
                    break
                rows.append(row)
    return rows


def class_key(viewer: Viewer, exercise: bool) -> ClassKey:
    return (viewer.agency, viewer.roles, viewer.clearance, viewer.categories, exercise)


def _names_recipients(row: RecordRow) -> bool:
    marking = row.marking
    return marking.tlp is Tlp.RED and bool(marking.recipients)


class TakHub:
    """Connected TAK clients and the release-once-per-class fan-out of records and GeoChat to them."""

    def __init__(
        self,
        *,
        gates: GateSource,
        clock: Clock,
        encoding: CotEncoding | None = None,
        kinds: frozenset[str] = DEFAULT_KINDS,
        max_age_s: float = 3600.0,
        sweep_interval_s: float = 30.0,
    ) -> None:
        self._gates = gates
        self._clock = clock
        self._encoding = encoding or CotEncoding()
        self._kinds = kinds
        self._max_age = timedelta(seconds=max_age_s)
        self._sweep_interval_s = sweep_interval_s
        self._latest: dict[_RecordKey, RecordRow] = {}
        self._classes: dict[ClassKey, _ViewerClass] = {}
        self._class_of: dict[int, _ViewerClass] = {}
        # TLP:RED records naming recipients are tracked per client: record -> uid.
        self._private: dict[int, dict[_RecordKey, str]] = {}
        self._gate_seen: tuple[int, int] = (0, -1)
        self._last_sweep: datetime | None = None
        self.stats = TakHubStats()
        self.on_chat: list[Callable[[ChatMessage], None]] = []

    # -- wiring ------------------------------------------------------------------------------------
    def listener(self, loop: asyncio.AbstractEventLoop) -> Callable[[PictureChange], None]:
        """A picture subscriber that hands each change to ``loop`` (called in the ingesting thread)."""

        def on_change(change: PictureChange) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(self.publish, change.rows)

        return on_change

    def seed(self, rows: Iterable[RecordRow]) -> None:
        """Start from the current picture (rows already stored before the server started)."""
        cutoff = self._clock.now() - self._max_age
        for row in rows:
            if row.kind in self._kinds and not is_removal(row.kind, row.status) and row.updated_at > cutoff:
                self._latest[(row.kind, row.id)] = row

    @property
    def classes(self) -> int:
        return len(self._classes)

    @property
    def peers(self) -> int:
        return len(self._class_of)

    def showing(self, peer: TakPeer) -> dict[_RecordKey, str]:
        """What ``peer``'s map shows now: record -> CoT uid (for tests and diagnostics)."""
        cls = self._class_of.get(id(peer))
        shown = {key: item[0] for key, item in cls.current.items()} if cls else {}
        shown.update(self._private.get(id(peer), {}))
        return shown

    # -- clients -----------------------------------------------------------------------------------
    def add(self, peer: TakPeer) -> None:
        """Register a client and send it the current picture as its viewer class may see it."""
        key = class_key(peer.viewer, peer.exercise)
        cls = self._classes.get(key)
        now = self._clock.now()
        gate = self._gates.gate
        if cls is None:
            cls = _ViewerClass(key=key, viewer=peer.viewer, exercise=peer.exercise)
            self._classes[key] = cls
            self._refresh(cls, list(self._latest.values()), gate, now, {})
        cls.peers.append(peer)
        self._class_of[id(peer)] = cls
        snapshot = [item[1] for item in cls.current.values()]
        private: dict[_RecordKey, str] = {}
        for rkey, row in self._latest.items():
            if _names_recipients(row) and row.exercise == peer.exercise:
                item = self._release_one(row, peer.viewer, peer.exercise, gate, now)
                if item is not None:
                    private[rkey] = item[0]
                    snapshot.append(item[1])
        self._private[id(peer)] = private
        if snapshot:
            peer.send(b"".join(snapshot))

    def remove(self, peer: TakPeer) -> None:
        cls = self._class_of.pop(id(peer), None)
        self._private.pop(id(peer), None)
        if cls is None:
            return
        cls.peers = [p for p in cls.peers if p is not peer]
        if not cls.peers:
            del self._classes[cls.key]

    # -- records -----------------------------------------------------------------------------------
    def publish(self, rows: Sequence[RecordRow]) -> None:
        """Fan out changed records (on the event loop): release and encode once per viewer class."""
        relevant = [r for r in rows if r.kind in self._kinds]
        if not relevant:
            return
        self.stats.batches += 1
        self.stats.rows += len(relevant)
        for row in relevant:
            key = (row.kind, row.id)
            if is_removal(row.kind, row.status):
                self._latest.pop(key, None)
            else:
                self._latest[key] = row
        now = self._clock.now()
        gate = self._gates.gate
        deletes: dict[str, bytes] = {}
        shareables: dict[_RecordKey, Shareable] = {}
        for cls in list(self._classes.values()):
            items = self._refresh(cls, relevant, gate, now, deletes, all_rows=False, shareables=shareables)
            self._deliver(cls.peers, items)
        self._publish_private(relevant, gate, now, deletes)

    def sweep(self, *, force: bool = True) -> None:
        """Re-release what every class shows; withdraw what is now withheld, add what became visible.

        Without ``force`` it runs only when the agreement set (or the gate) changed, or when the sweep
        interval passed (agreements also expire by the clock).
        """
        gate = self._gates.gate
        now = self._clock.now()
        seen = (id(gate), gate.agreements.version)
        due = self._last_sweep is None or (now - self._last_sweep).total_seconds() >= self._sweep_interval_s
        if not force and seen == self._gate_seen and not due:
            return
        self._gate_seen = seen
        self._last_sweep = now
        self.stats.sweeps += 1
        cutoff = now - self._max_age
        for key in [k for k, row in self._latest.items() if row.updated_at < cutoff]:
            del self._latest[key]
        rows = list(self._latest.values())
        deletes: dict[str, bytes] = {}
        shareables: dict[_RecordKey, Shareable] = {}
        for cls in list(self._classes.values()):
            for key in [k for k in cls.current if k not in self._latest]:
                del cls.current[key]  # aged out: its stale time passed long ago
            items = self._refresh(cls, rows, gate, now, deletes, all_rows=True, shareables=shareables)
            self._deliver(cls.peers, items)
        self._publish_private(rows, gate, now, deletes, only_changes=True)

    def _refresh(
        self,
        cls: _ViewerClass,
        rows: Sequence[RecordRow],
        gate: ReleaseGate,
        now: datetime,
        deletes: dict[str, bytes],
        *,
        all_rows: bool = True,
        shareables: dict[_RecordKey, Shareable] | None = None,
    ) -> list[_Item]:
        """Release ``rows`` to the class; update what it shows; return the events to send."""
        items: list[_Item] = []
        current = cls.current
        cache = shareables if shareables is not None else {}
        for row in rows:
            if row.exercise != cls.exercise or _names_recipients(row):
                continue
            key = (row.kind, row.id)
            previous = current.get(key)
            if is_removal(row.kind, row.status):
                if previous is not None:
                    del current[key]
                    items.append((previous[0], self._delete(previous[0], deletes, now)))
                continue
            shareable = cache.get(key)
            if shareable is None:
                shareable = cache[key] = shareable_of(row)
            released = self._release(shareable, cls.viewer, cls.exercise, gate, now)
            if released is None:
                if previous is not None:
                    del current[key]
                    items.append((previous[0], self._delete(previous[0], deletes, now)))
                continue
            if all_rows and previous is not None and previous[2] == row.seq:
                continue  # a sweep sends only what changed; an unchanged record is not re-encoded
            item = self._encode(row, released, now)
            if item is None:
                continue
            if previous is not None and previous[0] != item[0]:
                items.append((previous[0], self._delete(previous[0], deletes, now)))
            current[key] = (item[0], item[1], row.seq)
            items.append(item)
        return items

    def _release(
        self, shareable: Shareable, viewer: Viewer, exercise: bool, gate: ReleaseGate, now: datetime
    ) -> Visible | None:
        self.stats.releases += 1
        result = gate.release(shareable, viewer, now, exercise_session=exercise)
        return None if isinstance(result, Withheld) else result

    def _encode(self, row: RecordRow, released: Visible, now: datetime) -> _Item | None:
        payload = encode_released(released, now=now, encoding=self._encoding)
        if payload is None:
            return None
        self.stats.encodings += 1
        return cot_uid(row.kind, row.id, released.record.fields), payload

    def _release_one(
        self, row: RecordRow, viewer: Viewer, exercise: bool, gate: ReleaseGate, now: datetime
    ) -> _Item | None:
        released = self._release(shareable_of(row), viewer, exercise, gate, now)
        return None if released is None else self._encode(row, released, now)

    def _publish_private(
        self,
        rows: Sequence[RecordRow],
        gate: ReleaseGate,
        now: datetime,
        deletes: dict[str, bytes],
        *,
        only_changes: bool = False,
    ) -> None:
        private_keys = self._private_keys()
        named = [r for r in rows if _names_recipients(r) or (r.kind, r.id) in private_keys]
        if not named:
            return
        for cls in self._classes.values():
            for peer in cls.peers:
                shown = self._private.setdefault(id(peer), {})
                items: list[_Item] = []
                for row in named:
                    if row.exercise != peer.exercise:
                        continue
                    key = (row.kind, row.id)
                    previous = shown.get(key)
                    item = None
                    if not is_removal(row.kind, row.status) and _names_recipients(row):
                        item = self._release_one(row, peer.viewer, peer.exercise, gate, now)
                    if item is None:
                        if previous is not None:
                            del shown[key]
                            items.append((previous, self._delete(previous, deletes, now)))
                        continue
                    if only_changes and previous == item[0]:
                        continue
                    shown[key] = item[0]
                    items.append(item)
                self._deliver([peer], items)

    def _private_keys(self) -> set[_RecordKey]:
        keys: set[_RecordKey] = set()
        for shown in self._private.values():
            keys.update(shown)
        return keys

    def _delete(self, uid: str, deletes: dict[str, bytes], now: datetime) -> bytes:
        payload = deletes.get(uid)
        if payload is None:
            payload = deletes[uid] = encode_delete(uid, now=now)
            self.stats.deletes += 1
        return payload

    def _deliver(self, peers: Sequence[TakPeer], items: list[_Item]) -> None:
        if not items or not peers:
            return
        blob = b"".join(payload for _, payload in items)
        uids = {uid for uid, _ in items}
        for peer in list(peers):
            own = peer.own_uids
            if own and not own.isdisjoint(uids):
                data = b"".join(payload for uid, payload in items if uid not in own)
                if not data:
                    continue
                peer.send(data)
            else:
                peer.send(blob)
            self.stats.deliveries += 1

    # -- GeoChat -----------------------------------------------------------------------------------
    def relay_chat(self, chat: ChatMessage, sender: TakPeer | None = None) -> int:
        """Send a GeoChat message to every other client allowed to receive it; return how many got it."""
        self.stats.chats += 1
        fields = chat.to_dict()
        del fields["marking"]
        shareable = Shareable(
            kind="message",
            record_id=chat.id,
            marking=chat.marking,
            fields=fields,
            exercise=chat.exercise,
        )
        gate = self._gates.gate
        now = self._clock.now()
        delivered = 0
        for cls in list(self._classes.values()):
            if cls.exercise != chat.exercise:
                continue
            self.stats.releases += 1
            result = gate.release(shareable, cls.viewer, now, exercise_session=cls.exercise)
            if isinstance(result, Withheld):
                continue
            payload = encode_released(result, now=now, encoding=self._encoding)
            if payload is None:
                continue
            for peer in list(cls.peers):
                if peer is not sender:
                    peer.send(payload)
                    delivered += 1
        for listener in self.on_chat:
            try:
                listener(chat)
            except Exception:
                log.exception("chat listener failed")
        return delivered
