"""WebSocket fan-out: many browser connections on one API process, release once per class vs per client.

Starts the API (uvicorn, 127.0.0.1, an ephemeral port) in a child process twice: once with the stream
hub releasing and serialising each change once per viewer class (the design), once per connection
(the naive baseline). Each time it opens ``--connections`` WebSockets spread over a few dozen users
of several agencies and roles, feeds ``--rate`` track updates per second for ``--duration-s`` seconds
inside the server process, and measures:

- delivery ratio: track deltas received / track changes each connection should have received
  (the changes to tracks in its snapshot; visibility is fixed during the run);
- latency p50/p99 (ms): receipt time minus the update's observation time (same machine clock);
- server CPU seconds from the start of the feed until the last delta was delivered (the whole
  process, and without the feeding thread's ingest); the client processes' CPU is reported too;
- connections dropped (slow consumers), changes coalesced, and messages per second delivered.

The connections are held by ``--client-procs`` processes on the same machine, so on a small host
the clients compete with the server for CPU: latency figures include that.

Prints one JSON document. Defaults keep the run near two minutes on a 2-core machine:

    .venv/bin/python bench/websocket_fanout.py
    .venv/bin/python bench/websocket_fanout.py --connections 200 --rate 50 --duration-s 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

AGENCIES = (
    ("BP", "Border Police", "border-police"),
    ("CG", "Coast Guard", "coast-guard"),
    ("JOC", "Joint Ops", "other"),
)
ROLES = (("operator", "RESTRICTED"), ("commander", "SECRET"))
USERS_PER_CLASS = 4
PASSWORD = "bench password 123"
REGION = (41.3, 26.5)


def _settings(workdir: Path) -> Any:
    from concord.config import Settings

    return Settings(
        env="test",
        database_url=f"sqlite:///{(workdir / 'concord.db').as_posix()}",
        data_dir=workdir / "var",
        secret_key="bench-" + "k" * 40,
    )


def _markings() -> list[Any]:
    from concord.domain.marking import Marking, Tlp

    out = []
    for originator, _, _ in AGENCIES:
        others = [a for a, _, _ in AGENCIES if a != originator]
        for level in ("RESTRICTED", "SECRET"):
            for rel in (frozenset(), frozenset(others[:1]), frozenset(others)):
                for tlp in (Tlp.GREEN, Tlp.AMBER):
                    out.append(Marking(classification=level, originator=originator, rel_to=rel, tlp=tlp))
    return out


def _report(n: int, marking: Any, at: datetime, step: int) -> Any:
    from concord.domain.observation import Observation, SensorKind

    lat = REGION[0] - 0.8 + 0.08 * (n % 20) + 0.0001 * step
    lon = REGION[1] - 0.8 + 0.08 * (n // 20) + 0.0001 * step
    return Observation(
        id=f"b-{uuid.uuid4().hex}",
        source=f"ais:{marking.originator}",
        agency=marking.originator,
        sensor=SensorKind.AIS,
        observed_at=at,
        lat=lat,
        lon=lon,
        marking=marking,
        identity=f"mmsi:{400000000 + n}",
        speed_mps=5.0,
        course_deg=45.0,
    )


# -- setup (parent) --------------------------------------------------------------------------------


def prepare(workdir: Path, tracks: int) -> list[str]:
    """Agencies, users, agreements and the initial tracks; returns one session token per user."""
    from argon2 import PasswordHasher

    from concord.bootstrap import bootstrap
    from concord.sharing import Agreement

    concord = bootstrap(
        _settings(workdir), password_hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    tokens = []
    try:
        for code, name, kind in AGENCIES:
            concord.accounts.create_agency(code, name, kind)
        for code, _, _ in AGENCIES:
            for role, clearance in ROLES:
                for i in range(USERS_PER_CLASS):
                    username = f"{code.lower()}.{role}{i}"
                    concord.accounts.create_user(username, code, [role], clearance, password=PASSWORD)
                    tokens.append(concord.accounts.login(username, PASSWORD).token)
        now = concord.clock.now()
        for owner, _, _ in AGENCIES:
            for partner, _, _ in AGENCIES:
                if owner != partner:
                    concord.sharing.sign(
                        Agreement(
                            agreement_id=f"{owner}-{partner}",
                            owner=owner,
                            partner=partner,
                            valid_from=now - timedelta(days=1),
                        ),
                        actor="bench",
                    )
        markings = _markings()
        concord.picture.ingest(
            [_report(n, markings[n % len(markings)], concord.clock.now(), 0) for n in range(tracks)],
            actor="bench",
        )
    finally:
        concord.close()
    return tokens


# -- server (child) --------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from concord.bootstrap import bootstrap
    from concord.egress.stream import StreamConfig
    from concord.entrypoints.api.main import create_app
    from concord.entrypoints.api.routes.stream import get_hub
    from concord.services.picture import PictureChange

    workdir = Path(args.workdir)
    settings = _settings(workdir)
    concord = bootstrap(settings)
    app = create_app(settings, concord=concord)
    app.state.stream_config = StreamConfig(per_class=args.mode == "per-class", queue_max=args.queue_max)
    window: list[tuple[str, int]] = []
    recording = threading.Event()

    def record(change: PictureChange) -> None:
        if recording.is_set():
            window.extend((r.id, r.seq) for r in change.rows if r.kind == "track")

    concord.picture.subscribe(record)
    markings = _markings()
    result: dict[str, Any] = {}

    def feed() -> None:
        # Wait for every connection to have joined (the hub exists once the first one arrived).
        while True:
            hub = getattr(app.state, "stream_hub", None)
            if hub is not None and sum(1 for c in hub.clients if not c.syncing) >= args.connections:
                break
            time.sleep(0.2)
        time.sleep(1.0)
        interval_s = 0.1
        owed = 0.0
        cpu0, wall0, thread0 = time.process_time(), time.monotonic(), time.thread_time()
        recording.set()
        step, n = 1, 0
        deadline = wall0 + args.duration_s
        next_tick = wall0
        while time.monotonic() < deadline:
            batch = []
            owed += args.rate * interval_s
            per_tick, owed = int(owed), owed - int(owed)
            for _ in range(per_tick):
                batch.append(
                    _report(
                        n % args.tracks, markings[(n % args.tracks) % len(markings)], datetime.now(UTC), step
                    )
                )
                n += 1
                if n % args.tracks == 0:
                    step += 1
            if batch:
                concord.picture.ingest(batch, actor="bench")
            next_tick += interval_s
            time.sleep(max(0.0, next_tick - time.monotonic()))
        recording.clear()
        feed_s = time.monotonic() - wall0
        time.sleep(args.grace_s)
        hub = get_hub(app)
        result.update(
            cpu_at_feed_start_s=cpu0,
            cpu_s=time.process_time() - cpu0,
            ingest_cpu_s=time.thread_time() - thread0,
            wall_s=time.monotonic() - wall0,
            feed_s=feed_s,
            updates=n,
            hub=dict(hub.stats),
            connections_at_end=len(hub.clients),
        )
        (workdir / f"server-{args.mode}.json").write_text(json.dumps({"result": result, "window": window}))

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    (workdir / f"port-{args.mode}").write_text(str(sock.getsockname()[1]))
    threading.Thread(target=feed, daemon=True).start()
    config = uvicorn.Config(app, log_level="warning", ws_max_size=1 << 16, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


# -- clients (parent) ------------------------------------------------------------------------------


async def run_clients(
    port: int, tokens: list[str], indices: list[int], done_file: Path, timeout_s: float
) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    visible: dict[int, set[str]] = {i: set() for i in indices}
    received: dict[int, list[tuple[str, int]]] = {i: [] for i in indices}
    latencies_ms: list[float] = []
    closes: dict[str, int] = {}
    ready = asyncio.Semaphore(25)
    last_message = [time.monotonic()]

    async def one(i: int) -> None:
        try:
            async with ready:
                ws = await connect(f"ws://127.0.0.1:{port}/api/stream", max_size=None, open_timeout=60)
                await ws.send(json.dumps({"type": "auth", "token": tokens[i % len(tokens)]}))
                while True:
                    m = json.loads(await ws.recv())
                    if m["type"] == "delta" and m["op"] == "upsert" and m["kind"] == "track":
                        visible[i].add(m["id"])
                    if m["type"] == "snapshot_end":
                        break
            async for text in ws:
                last_message[0] = time.monotonic()
                m = json.loads(text)
                if m["type"] == "delta" and m["kind"] == "track":
                    received[i].append((m["id"], m["seq"]))
                    at = m.get("fields", {}).get("updated_at")
                    if at:
                        latencies_ms.append((time.time() - datetime.fromisoformat(at).timestamp()) * 1000)
        except Exception as exc:  # a closed or dropped connection ends its reader
            code = getattr(getattr(exc, "rcvd", None), "code", None)
            closes[str(code or type(exc).__name__)] = closes.get(str(code or type(exc).__name__), 0) + 1

    tasks = [asyncio.create_task(one(i)) for i in indices]
    start = time.monotonic()
    while not done_file.exists() and time.monotonic() - start < timeout_s:
        await asyncio.sleep(0.5)
    # Deltas still in flight when the feed ended are delivered late, not lost: wait for quiet.
    while time.monotonic() - last_message[0] < 5.0 and time.monotonic() - start < timeout_s:
        await asyncio.sleep(0.5)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"visible": visible, "received": received, "latencies_ms": latencies_ms, "closes": closes}


def _client_process(
    port: int, tokens: list[str], indices: list[int], done_file: Path, timeout_s: float, conn: Connection
) -> None:
    result = asyncio.run(run_clients(port, tokens, indices, done_file, timeout_s))
    result["cpu_s"] = time.process_time()
    conn.send(result)
    conn.close()


def clients_in_processes(
    port: int, tokens: list[str], args: argparse.Namespace, done_file: Path
) -> dict[str, Any]:
    """Spread the connections over ``--client-procs`` processes so one reader is not the bottleneck."""
    ctx = multiprocessing.get_context("fork")
    procs = []
    for p in range(args.client_procs):
        indices = list(range(p, args.connections, args.client_procs))
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_client_process,
            args=(port, tokens, indices, done_file, args.duration_s + 240, child),
        )
        proc.start()
        procs.append((proc, parent))
    merged: dict[str, Any] = {"visible": {}, "received": {}, "latencies_ms": [], "closes": {}, "cpu_s": 0.0}
    for proc, parent in procs:
        part = parent.recv()
        proc.join()
        merged["visible"].update(part["visible"])
        merged["received"].update(part["received"])
        merged["latencies_ms"].extend(part["latencies_ms"])
        merged["cpu_s"] += part["cpu_s"]
        for k, v in part["closes"].items():
            merged["closes"][k] = merged["closes"].get(k, 0) + v
    return merged


def measure(mode: str, args: argparse.Namespace, workdir: Path, tokens: list[str]) -> dict[str, Any]:
    port_file = workdir / f"port-{mode}"
    done_file = workdir / f"server-{mode}.json"
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            "--mode",
            mode,
            "--workdir",
            str(workdir),
            "--connections",
            str(args.connections),
            "--rate",
            str(args.rate),
            "--duration-s",
            str(args.duration_s),
            "--tracks",
            str(args.tracks),
            "--queue-max",
            str(args.queue_max),
            "--grace-s",
            str(args.grace_s),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    try:
        while not port_file.exists():
            if server.poll() is not None:
                raise SystemExit(f"server exited with {server.returncode}")
            time.sleep(0.1)
        time.sleep(0.5)
        port = int(port_file.read_text())
        client = clients_in_processes(port, tokens, args, done_file)
        # The server's CPU until every delta was delivered (a lagging server works past the feed).
        fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
        server_cpu_total_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    finally:
        server.terminate()
        server.wait(timeout=30)
    server_out = json.loads(done_file.read_text())
    window = server_out["window"]
    expected = delivered = 0
    for i in range(args.connections):
        mine = client["visible"][i]
        should = [(tid, seq) for tid, seq in window if tid in mine]
        newest: dict[str, int] = {}
        for tid, seq in client["received"][i]:
            newest[tid] = max(seq, newest.get(tid, 0))
        expected += len(should)
        # A change superseded by a later one of the same record (coalesced under load) is delivered.
        delivered += sum(1 for tid, seq in should if newest.get(tid, 0) >= seq)
    lat = sorted(client["latencies_ms"])
    result = server_out["result"]
    server_cpu_s = server_cpu_total_s - result["cpu_at_feed_start_s"]
    return {
        "mode": mode,
        "connections": args.connections,
        "updates": result["updates"],
        "updates_per_s": round(result["updates"] / result["feed_s"], 1),
        "expected_deliveries": expected,
        "delivered": delivered,
        "delivery_ratio": round(delivered / expected, 4) if expected else None,
        "messages_per_s": round(delivered / result["feed_s"], 1),
        "latency_ms_p50": round(statistics.median(lat), 1) if lat else None,
        "latency_ms_p99": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1) if lat else None,
        "server_cpu_s": round(server_cpu_s, 2),
        "server_cpu_s_without_ingest": round(server_cpu_s - result["ingest_cpu_s"], 2),
        "server_cpu_pct_during_feed": round(100 * result["cpu_s"] / result["wall_s"], 1),
        "releases": result["hub"]["releases"],
        "dropped_slow": result["hub"]["dropped_slow"],
        "coalesced": result["hub"].get("coalesced", 0),
        "client_cpu_s": round(client["cpu_s"], 2),
        "client_closes": client["closes"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="track updates per second")
    parser.add_argument("--duration-s", type=float, default=20.0)
    parser.add_argument("--tracks", type=int, default=200)
    parser.add_argument("--queue-max", type=int, default=2000)
    parser.add_argument("--grace-s", type=float, default=3.0, help="wait after the feed for late deltas")
    parser.add_argument("--modes", default="per-class,naive")
    parser.add_argument("--client-procs", type=int, default=2, help="processes holding the connections")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="per-class", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    runs = []
    started = time.monotonic()
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory(prefix="concord-wsbench-") as tmp:
            workdir = Path(tmp)
            tokens = prepare(workdir, args.tracks)
            runs.append(measure(mode, args, workdir, tokens))
    by_mode = {r["mode"]: r for r in runs}
    out: dict[str, Any] = {
        "benchmark": "websocket_fanout",
        "settings": {
            "connections": args.connections,
            "rate_updates_per_s": args.rate,
            "duration_s": args.duration_s,
            "tracks": args.tracks,
            "users": len(AGENCIES) * len(ROLES) * USERS_PER_CLASS,
            "viewer_classes": len(AGENCIES) * len(ROLES),
            "cpus": os.cpu_count(),
        },
        "runs": runs,
        "total_s": round(time.monotonic() - started, 1),
    }
    if "per-class" in by_mode and "naive" in by_mode:
        a, b = by_mode["per-class"], by_mode["naive"]
        out["comparison"] = {
            "cpu_ratio_naive_over_per_class": round(b["server_cpu_s"] / a["server_cpu_s"], 2)
            if a["server_cpu_s"]
            else None,
            "releases_ratio": round(b["releases"] / a["releases"], 1) if a["releases"] else None,
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
