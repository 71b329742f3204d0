"""The harness of the cluster tests: Concord processes, and the clients of their doors (API, stream, TAK)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from concord.ingest import observation_item
from concord.services.cluster import NatsCluster, concord_env, free_port, spawn_role

__all__ = [
    "Doors",
    "Harness",
    "StreamWatcher",
    "TakWatcher",
    "free_port",
    "seed_world",
    "wait_until",
]


@dataclass
class Harness:
    """The Concord processes of one test, on the session's NATS cluster and the test's database."""

    nats: NatsCluster
    database_url: str
    data_dir: Path
    log_dir: Path
    partitions: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = concord_env(
            database_url=self.database_url,
            nats_url=self.nats.url,
            data_dir=self.data_dir,
            replicas=3,
            partitions=self.partitions,
        )
        env["CONCORD_LEASE_TTL_S"] = "4"
        return env

    def start(self, name: str, role: str, *, port: int = 0, env: dict[str, str] | None = None) -> None:
        env = {**self.env, "CONCORD_WORKER_ID": name, **(env or {})}
        self.procs[name] = spawn_role(role, env, self.log_dir / f"{name}.log", port=port)

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.database_url, pool_pre_ping=True)


def wait_until(predicate: Any, *, timeout_s: float, every_s: float = 0.2) -> float:
    """Seconds until ``predicate()`` is true (raises AssertionError on timeout)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if predicate():
            return time.monotonic() - t0
        time.sleep(every_s)
    raise AssertionError(f"not true within {timeout_s} s")


# -- the doors: API nodes, the WebSocket stream and TAK clients ------------------------------------
def seed_world(database_url: str, data_dir: Path, sim_zones: str) -> None:
    """The demo agencies, users and agreements, and the scenario's zones, before the nodes start."""
    from tests.conftest import FAST_HASHER

    from concord.bootstrap import bootstrap
    from concord.config import Settings
    from concord.services.demo import ensure_demo_agreements, ensure_demo_world

    c = bootstrap(
        Settings(env="test", database_url=database_url, data_dir=data_dir),
        password_hasher=FAST_HASHER,
        upgrade=False,
    )
    try:
        ensure_demo_world(c.accounts)
        ensure_demo_agreements(c.sharing, c.clock.now())
        c.zones.import_geojson(sim_zones, actor="test", agency="JOC")
    finally:
        c.close()


@dataclass
class Doors:
    """A client of several API nodes behind a (client-side) load balancer: round robin, fail over."""

    urls: list[str]
    tokens: dict[str, str] = field(default_factory=dict)
    acked_obs: dict[str, float] = field(default_factory=dict)
    acked_messages: dict[str, float] = field(default_factory=dict)
    retries: int = 0
    conflicts: int = 0
    conflict_reasons: list[str] = field(default_factory=list)
    refused: int = 0
    _next: int = 0

    async def token(self, client: Any, username: str) -> str:
        if username not in self.tokens:
            for _ in range(120):
                try:
                    r = await client.post(
                        self._url("/api/auth/token"),
                        json={"username": username, "password": f"{username}-demo"},
                    )
                    if r.status_code == 200:
                        self.tokens[username] = r.json()["access_token"]
                        break
                except Exception:
                    pass
                await asyncio.sleep(0.5)
            else:
                raise AssertionError(f"no API node gave {username} a token")
        return self.tokens[username]

    def _url(self, path: str) -> str:
        self._next = (self._next + 1) % len(self.urls)
        return self.urls[self._next] + path

    async def send(self, client: Any, path: str, body: dict[str, Any], username: str) -> Any:
        """POST until an API node answers for good (2xx or 409); retries go to the next node."""
        headers = {"Authorization": f"Bearer {await self.token(client, username)}"}
        for _ in range(240):
            try:
                r = await client.post(self._url(path), json=body, headers=headers, timeout=30)
            except Exception:
                self.retries += 1
                await asyncio.sleep(0.25)
                continue
            if r.status_code < 300:
                return r
            if r.status_code == 409:
                details = r.json()["error"]["details"]
                named = body.get("message_id") or body.get("incident_id")
                if named is not None and named in (details.get("message_id"), details.get("incident_id")):
                    return r  # stored by an earlier attempt whose answer was lost
                self.conflicts += 1  # overtaken by another writer: send again
                self.conflict_reasons.append(str(r.json()["error"]["message"]))
                await asyncio.sleep(0.1)
                continue
            if r.status_code in (502, 503, 504):
                self.retries += 1
                await asyncio.sleep(0.25)
                continue
            raise AssertionError(f"{path}: {r.status_code} {r.text[:300]}")
        raise AssertionError(f"{path}: no API node took the request")

    async def post_step(self, client: Any, batch: list[Any]) -> None:
        """Post one scenario step, each agency's reports under its operator."""
        by_agency: dict[str, list[Any]] = {}
        for o in batch:
            by_agency.setdefault(o.agency, []).append(o)
        for agency, items in by_agency.items():
            r = await self.send(
                client,
                "/api/observations?partial=true",
                {"observations": [observation_item(o) for o in items]},
                f"{agency.lower()}.operator",
            )
            refused = {str(x.get("id")) for x in r.json()["rejected"]}
            self.refused += len(refused)
            now = time.time()
            for o in items:
                if o.id not in refused:
                    self.acked_obs.setdefault(o.id, now)

    async def post_message(self, client: Any, channel: str, k: int) -> None:
        message_id = f"load-{k:05d}-{uuid.uuid4().hex[:6]}"
        body = {"body": f"sitrep {k}", "marking": {"classification": "RESTRICTED"}, "message_id": message_id}
        await self.send(client, f"/api/channels/{channel}/messages", body, "cg.operator")
        self.acked_messages.setdefault(message_id, time.time())


@dataclass
class StreamWatcher:
    """A WebSocket client of the live stream that reconnects to the next node and resumes."""

    urls: list[str]
    token: str
    kinds: tuple[str, ...] = ()
    seen: dict[tuple[str, str], int] = field(default_factory=dict)
    updated: dict[tuple[str, str], str] = field(default_factory=dict)
    last_seq: int | None = None
    connects: int = 0
    resumes: int = 0
    snapshots: int = 0
    reconnect_s: list[float] = field(default_factory=list)

    def matches(self, tracks: list[dict[str, Any]]) -> bool:
        """Whether this client holds exactly these tracks (``GET /api/tracks``; the stream removes a
        deleted track, the list shows it with its status)."""
        held = {i: at for (kind, i), at in self.updated.items() if kind == "track"}
        live = {
            t["id"]: str(t["fields"].get("updated_at"))
            for t in tracks
            if t["fields"].get("status") != "deleted"
        }
        return bool(live) and held == live

    async def run(self, stop: asyncio.Event) -> None:
        from websockets.asyncio.client import connect

        lost_at: float | None = None
        k = 0
        while not stop.is_set():
            url = self.urls[k % len(self.urls)].replace("http://", "ws://") + "/api/stream"
            k += 1
            try:
                async with connect(url, max_size=None, open_timeout=5) as ws:
                    hello: dict[str, Any] = {"type": "auth", "token": self.token}
                    if self.kinds:
                        hello["filter"] = {"kinds": list(self.kinds)}
                    if self.last_seq is not None:
                        hello["resume_after"] = self.last_seq
                    await ws.send(json.dumps(hello))
                    self.connects += 1
                    while not stop.is_set():
                        try:
                            text = await asyncio.wait_for(ws.recv(), timeout=0.5)
                        except TimeoutError:
                            continue
                        m = json.loads(text)
                        kind = m.get("type")
                        if kind in ("snapshot_start", "resume_start") and lost_at is not None:
                            self.reconnect_s.append(time.monotonic() - lost_at)
                            lost_at = None
                        if kind == "snapshot_start":
                            self.snapshots += 1
                            self.seen.clear()
                            self.updated.clear()
                        elif kind == "resume_start":
                            self.resumes += 1
                        elif kind == "delta":
                            key = (m["kind"], m["id"])
                            if m["op"] == "remove":
                                self.seen.pop(key, None)
                                self.updated.pop(key, None)
                            else:
                                self.seen[key] = int(m["seq"])
                                self.updated[key] = str(m.get("fields", {}).get("updated_at"))
                            self.last_seq = max(self.last_seq or 0, int(m["seq"]))
                        elif kind in ("snapshot_end", "resume_end"):
                            self.last_seq = max(self.last_seq or 0, int(m["seq"]))
            except Exception:
                pass
            if lost_at is None:
                lost_at = time.monotonic()
            await asyncio.sleep(0.25)


@dataclass
class TakWatcher:
    """A TAK client on the egress node's CoT TCP port that reconnects when the node goes away."""

    host: str
    port: int
    uids: set[str] = field(default_factory=set)
    connects: int = 0
    events: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        from concord.ingest import CotStreamFramer

        while not stop.is_set():
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 2)
            except (OSError, TimeoutError):
                await asyncio.sleep(0.25)
                continue
            self.connects += 1
            framer = CotStreamFramer()
            try:
                while not stop.is_set():
                    try:
                        data = await asyncio.wait_for(reader.read(65536), timeout=0.5)
                    except TimeoutError:
                        continue
                    if not data:
                        break
                    for event in framer.feed(data):
                        self.events += 1
                        found = re.search(rb'uid="([^"]+)"', event)
                        if found:
                            self.uids.add(found.group(1).decode())
            except OSError:
                pass
            finally:
                writer.close()
            await asyncio.sleep(0.25)
