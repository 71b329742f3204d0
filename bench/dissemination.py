"""Dissemination benchmark: N TAK clients on loopback, each reporting its position, each reading everyone's.

The server under test is Concord's CoT server, started in a subprocess on a temporary SQLite
(``bench/_cot_launcher.py``). One asyncio load generator opens N plain-TCP CoT connections (all in one
agency, so everyone may see everyone), and every client sends its own position every ``period`` seconds
with the send time in the event's ``time`` attribute (milliseconds). Every client reads everything it
receives. For each update sent after the warm-up, the benchmark counts how many of the other N-1 clients
received it (delivery ratio) and how long it took (latency from the send time to receipt).

Scenarios (default): N=200 at 1 Hz (target 100 % delivered, p99 < 100 ms) and N=1,000 every 30 s
(target >= 99.9 %, p99 < 500 ms); ``--soak-seconds`` adds a longer run of the first scenario and records
the server's RSS before and after. FreeTAKServer 2.2.1 is run side by side as the baseline when it can
be installed (``bench/.venv-fts``) and started; otherwise the JSON says why not.

    .venv/bin/python bench/dissemination.py [--quick] [--soak-seconds 60] [--no-fts]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_EVENT = re.compile(rb'<event[^>]*?uid="(bench-\d+)"[^>]*?time="([^"]+)"')
_END = b"</event>"


def _stamp(moment: float) -> str:
    utc = datetime.fromtimestamp(moment, UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


_EPOCHS: dict[bytes, float] = {}


def _epoch(stamp: bytes) -> float:
    # Every receiver sees the same few stamps per second: parse each once.
    moment = _EPOCHS.get(stamp)
    if moment is None:
        if len(_EPOCHS) > 100_000:
            _EPOCHS.clear()
        text = stamp.decode()
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
        _EPOCHS[stamp] = moment
    return moment


def _cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) used so far by ``pid``, or by this process."""
    if pid is None:
        usage = os.times()
        return usage.user + usage.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _position(uid: str, lat: float, lon: float, moment: float, seq: int) -> bytes:
    stamp = _stamp(moment)
    stale = _stamp(moment + 120)
    return (
        f'<event version="2.0" uid="{uid}" type="a-f-G-U-C" how="m-g" time="{stamp}" start="{stamp}" '
        f'stale="{stale}"><point lat="{lat:.6f}" lon="{lon:.6f}" hae="0" ce="5" le="9999999"/>'
        f'<detail><contact callsign="{uid}"/><remarks>seq {seq}</remarks></detail></event>'
    ).encode()


@dataclass
class _Agent:
    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    lat: float
    lon: float
    received: int = 0
    tail: bytes = b""


@dataclass
class _Tally:
    sent: dict[tuple[str, bytes], float] = field(default_factory=dict)  # (uid, time) -> send time
    latencies_ms: list[float] = field(default_factory=list)
    delivered: int = 0
    foreign: int = 0  # events that match no counted update (warm-up, snapshots, other events)
    counting: bool = False


async def _reader(agent: _Agent, tally: _Tally) -> None:
    own = f"bench-{agent.index}".encode()
    while True:
        try:
            data = await agent.reader.read(1 << 16)
        except ConnectionError:
            return
        if not data:
            return
        now = time.time()
        buf = agent.tail + data
        cut = buf.rfind(_END)
        if cut == -1:
            agent.tail = buf
            continue
        cut += len(_END)
        agent.tail = buf[cut:]
        for uid, stamp in _EVENT.findall(buf, 0, cut):
            agent.received += 1
            if uid == own:
                continue
            key = (uid.decode(), stamp)
            sent_at = tally.sent.get(key)
            if sent_at is None:
                tally.foreign += 1
                continue
            tally.delivered += 1
            tally.latencies_ms.append((now - _epoch(stamp)) * 1000.0)


async def _sender(agent: _Agent, tally: _Tally, period_s: float, stop_at: float, rng: random.Random) -> None:
    await asyncio.sleep(rng.uniform(0, period_s))
    seq = 0
    uid = f"bench-{agent.index}"
    while time.time() < stop_at:
        moment = time.time()
        agent.lat += rng.uniform(-1e-4, 1e-4)
        agent.lon += rng.uniform(-1e-4, 1e-4)
        data = _position(uid, agent.lat, agent.lon, moment, seq)
        if tally.counting:
            tally.sent[(uid, _stamp(moment).encode())] = moment
        agent.writer.write(data)
        seq += 1
        await asyncio.sleep(max(0.0, period_s - (time.time() - moment)))


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


async def run_scenario(
    host: str,
    port: int,
    *,
    clients: int,
    period_s: float,
    warmup_s: float,
    measure_s: float,
    seed: int = 7,
    server_pid: int | None = None,
) -> dict[str, Any]:
    rng = random.Random(seed)
    tally = _Tally()
    agents: list[_Agent] = []
    for i in range(clients):
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
        # A grid ~1 km apart around the region origin, so no two agents are mistaken for one.
        agents.append(_Agent(i, reader, writer, 41.0 + (i % 40) * 0.01, 26.2 + (i // 40) * 0.012))
    readers = [asyncio.create_task(_reader(a, tally)) for a in agents]
    start = time.time()
    stop_at = start + warmup_s + measure_s
    senders = [asyncio.create_task(_sender(a, tally, period_s, stop_at, rng)) for a in agents]
    await asyncio.sleep(warmup_s)
    tally.counting = True
    cpu_start = (_cpu_s(server_pid) if server_pid else None, _cpu_s())
    await asyncio.sleep(measure_s)
    tally.counting = False
    cpu: dict[str, float | None] = {
        "server_cpu_s_per_s": round((_cpu_s(server_pid) - cpu_start[0]) / measure_s, 3)
        if server_pid and cpu_start[0] is not None
        else None,
        "load_generator_cpu_s_per_s": round((_cpu_s() - cpu_start[1]) / measure_s, 3),
    }
    await asyncio.gather(*senders)
    await asyncio.sleep(min(5.0, max(1.0, period_s / 10)))  # in-flight updates land
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for agent in agents:
        agent.writer.close()
    expected = len(tally.sent) * (clients - 1)
    server_cpu = cpu["server_cpu_s_per_s"]
    if server_cpu is not None and tally.delivered:
        # Independent of how busy the machine is: server CPU per event delivered to one client.
        cpu["server_cpu_us_per_delivery"] = round(server_cpu * measure_s * 1e6 / tally.delivered, 2)
    lat = tally.latencies_ms
    return {
        "clients": clients,
        "period_s": period_s,
        "measured_s": measure_s,
        "updates_sent": len(tally.sent),
        "deliveries_expected": expected,
        "deliveries": tally.delivered,
        "delivery_ratio": round(tally.delivered / expected, 6) if expected else None,
        "latency_ms": {
            "p50": _percentile(lat, 0.50),
            "p95": _percentile(lat, 0.95),
            "p99": _percentile(lat, 0.99),
            "max": round(max(lat), 2) if lat else None,
        },
        "events_received": sum(a.received for a in agents),
        "cpu": cpu,
    }


def _rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class ConcordProcess:
    """The server under test in a subprocess, on a temporary SQLite database."""

    def __init__(self, uvloop: bool) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="concord-bench-"))
        self.port_file = self.dir / "port"
        cmd = [sys.executable, str(HERE / "_cot_launcher.py"), str(self.dir / "data"), str(self.port_file)]
        if uvloop:
            cmd.append("--uvloop")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        self.proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)

    def wait_port(self, timeout_s: float = 60.0) -> int:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.port_file.exists() and self.port_file.read_text():
                return int(self.port_file.read_text())
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the CoT server exited: {self.proc.stderr.read() if self.proc.stderr else ''}"
                )
            time.sleep(0.1)
        raise RuntimeError("the CoT server did not start")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        shutil.rmtree(self.dir, ignore_errors=True)
        return (err or "").strip().splitlines()[-1] if err and err.strip() else ""


def freetakserver_status(timeout_s: float = 300.0) -> dict[str, Any]:
    """Install FreeTAKServer 2.2.1 into bench/.venv-fts and check that it starts (the baseline peer)."""
    venv = HERE / ".venv-fts"
    python = venv / "bin" / "python"
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        probe = subprocess.run([str(python), "-c", "import FreeTAKServer"], capture_output=True, timeout=60)
        if probe.returncode != 0:
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "FreeTAKServer==2.2.1"],
                check=True,
                capture_output=True,
                timeout=timeout_s,
            )
    except (subprocess.SubprocessError, OSError) as exc:
        return {"status": "unavailable", "reason": f"install failed: {str(exc)[:300]}"}
    workdir = Path(tempfile.mkdtemp(prefix="fts-"))
    try:
        run = subprocess.run(
            [
                str(python),
                "-m",
                "FreeTAKServer.controllers.services.FTS",
                "-DataPackageIP",
                "127.0.0.1",
                "-AutoStart",
                "True",
            ],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        tail = (run.stderr or run.stdout or "").strip().splitlines()[-1:] or ["no output"]
        return {
            "status": "unavailable",
            "reason": "installed, but it exits when started unattended (code "
            f"{run.returncode}; it asks first-run configuration questions on standard input): "
            f"{tail[0].strip()[:300]}",
        }
    except subprocess.TimeoutExpired as exc:
        out = exc.stderr or exc.stdout or b""
        text = out.decode(errors="replace") if isinstance(out, bytes) else str(out)
        return {
            "status": "unavailable",
            "reason": "installed and running, but it did not open its CoT port on its own within 30 s "
            f"(it needs interactive configuration); last output: {text.strip().splitlines()[-1:]!r}",
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    scale = 0.5 if args.quick else 1.0
    scenarios = [
        {
            "name": "n200_1hz",
            "clients": 200,
            "period_s": 1.0,
            "warmup_s": 5.0,
            "measure_s": 20.0 * scale,
            "target": {"delivery_ratio": 1.0, "p99_ms": 100},
        },
        {
            "name": "n1000_30s",
            "clients": 1000,
            "period_s": 30.0,
            "warmup_s": 32.0,
            "measure_s": 60.0 * scale,
            "target": {"delivery_ratio": 0.999, "p99_ms": 500},
        },
    ]
    if args.only:
        scenarios = [s for s in scenarios if s["name"] == args.only]
    results: dict[str, Any] = {"benchmark": "dissemination", "server": "concord", "scenarios": {}}
    for scenario in scenarios:
        server = ConcordProcess(args.uvloop)
        try:
            port = await asyncio.to_thread(server.wait_port)
            rss_start = _rss_kib(server.proc.pid)
            outcome = await run_scenario(
                "127.0.0.1",
                port,
                clients=int(scenario["clients"]),  # type: ignore[call-overload]
                period_s=float(scenario["period_s"]),  # type: ignore[arg-type]
                warmup_s=float(scenario["warmup_s"]),  # type: ignore[arg-type]
                measure_s=float(scenario["measure_s"]),  # type: ignore[arg-type]
                server_pid=server.proc.pid,
            )
            outcome["server_rss_kib"] = {"start": rss_start, "end": _rss_kib(server.proc.pid)}
            target = scenario["target"]
            outcome["target"] = target
            p99 = outcome["latency_ms"]["p99"]
            outcome["meets_target"] = (
                outcome["delivery_ratio"] is not None
                and outcome["delivery_ratio"] >= target["delivery_ratio"]  # type: ignore[index]
                and p99 is not None
                and p99 < target["p99_ms"]  # type: ignore[index]
            )
        finally:
            outcome["server_summary"] = server.stop()
        results["scenarios"][scenario["name"]] = outcome
    if args.soak_seconds > 0:
        server = ConcordProcess(args.uvloop)
        try:
            port = await asyncio.to_thread(server.wait_port)
            before = _rss_kib(server.proc.pid)
            warm = await run_scenario(
                "127.0.0.1", port, clients=200, period_s=1.0, warmup_s=3.0, measure_s=10.0
            )
            after_warmup = _rss_kib(server.proc.pid)
            soak = await run_scenario(
                "127.0.0.1",
                port,
                clients=200,
                period_s=1.0,
                warmup_s=1.0,
                measure_s=float(args.soak_seconds),
                server_pid=server.proc.pid,
            )
            soak["server_rss_kib"] = {
                "before_warmup": before,
                "after_warmup": after_warmup,
                "after_soak": _rss_kib(server.proc.pid),
            }
            soak["warmup_delivery_ratio"] = warm["delivery_ratio"]
            results["soak"] = soak
        finally:
            server.stop()
    results["freetakserver"] = (
        {"status": "skipped", "reason": "--no-fts"}
        if args.no_fts
        else await asyncio.to_thread(freetakserver_status)
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="halve the measured periods")
    parser.add_argument("--soak-seconds", type=float, default=0.0, help="extra soak run of N=200 at 1 Hz")
    parser.add_argument("--only", choices=["n200_1hz", "n1000_30s"], help="run one scenario")
    parser.add_argument("--no-fts", action="store_true", help="do not try FreeTAKServer")
    parser.add_argument(
        "--uvloop", action="store_true", help="run the server and the load generator on uvloop"
    )
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.install()
    print(json.dumps(asyncio.run(_main(args)), indent=2))


if __name__ == "__main__":
    main()
