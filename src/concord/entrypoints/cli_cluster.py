"""``concord cluster``: a local multi-process deployment on 127.0.0.1 (PostgreSQL, 3 NATS nodes, workers).

Also holds what ``concord serve --role ...`` runs when the bus is NATS.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from concord.bootstrap import bootstrap
from concord.config import Settings
from concord.domain.errors import ConcordError
from concord.services.cluster import LocalCluster, serve_role
from concord.services.runtime import PeriodicJob, ScenarioFeed, run_periodic, scenario_for
from concord.services.workers import roles_of

__all__ = ["app", "serve_cluster_role"]

app = typer.Typer(help="A local cluster on 127.0.0.1: PostgreSQL, 3 NATS nodes, API and workers.")
console = Console()
err = Console(stderr=True)

WorkDir = Annotated[Path, typer.Option(help="where the cluster keeps its data, logs and cluster.json")]


@app.command()
def up(
    work_dir: WorkDir = Path("var/cluster"),
    trackers: Annotated[int, typer.Option(min=1, max=16, help="tracker workers")] = 2,
    apis: Annotated[int, typer.Option(min=1, max=8, help="API nodes")] = 1,
    ingest: Annotated[int, typer.Option(min=0, max=8, help="ingest workers")] = 1,
    partitions: Annotated[str, typer.Option(help="regions as name:lon_min:lon_max,...")] = (
        "west:-180:26.7,east:26.7:180"
    ),
    api_port: Annotated[int, typer.Option(help="port of the first API node (0: a free one)")] = 0,
    cot_port: Annotated[
        int, typer.Option(help="an egress node serving TAK clients on this port (0: none)")
    ] = 0,
    demo: Annotated[
        bool,
        typer.Option(
            help="demo agencies, users, agreements and zones; the first API node feeds the scenario"
        ),
    ] = False,
) -> None:
    """Start PostgreSQL, a 3-node NATS JetStream cluster and Concord processes; print the URLs."""
    try:
        state = LocalCluster(work_dir).up(
            trackers=trackers,
            apis=apis,
            ingest=ingest,
            partitions=partitions,
            api_port=api_port or None,
            cot_port=cot_port or None,
            cot_user="joc.operator" if demo else "",
            prepare=_seed_demo if demo else None,
            simulate=demo,
        )
    except ConcordError as exc:
        err.print(f"[red]cluster up failed[/red]: {exc}")
        raise typer.Exit(1) from None
    console.print(f"PostgreSQL  {state.database_url}")
    console.print(f"NATS        {state.nats_url}")
    for p in state.processes:
        console.print(f"{p.role:<11} pid {p.pid}  {p.url or ''}  (log {p.log})")


def _seed_demo(env: dict[str, str]) -> None:
    """The demo world in the cluster's database: agencies, users, agreements, the scenario's zones."""
    from concord.services.demo import ensure_demo_agreements, ensure_demo_world
    from concord.services.runtime import scenario_for

    settings = Settings(
        env="dev",
        database_url=env["CONCORD_DATABASE_URL"],
        data_dir=Path(env["CONCORD_DATA_DIR"]),
    )
    concord = bootstrap(settings, upgrade=False)
    try:
        logins = ensure_demo_world(concord.accounts)
        ensure_demo_agreements(concord.sharing, concord.clock.now())
        agencies = [a.code for a in concord.accounts.list_agencies()]
        if not concord.zones.rows():
            scenario = scenario_for(concord.clock.now(), agencies)
            concord.zones.import_geojson(json.dumps(scenario.zones_geojson()), actor="demo", agency="JOC")
    finally:
        concord.close()
    console.print(f"demo users: {len(logins)} (username = agency.role, password = username-demo)")


@app.command()
def down(work_dir: WorkDir = Path("var/cluster")) -> None:
    """Stop every process of the local cluster."""
    try:
        LocalCluster(work_dir).down()
    except ConcordError as exc:
        err.print(f"[red]cluster down failed[/red]: {exc}")
        raise typer.Exit(1) from None
    console.print("cluster stopped")


@app.command()
def status(work_dir: WorkDir = Path("var/cluster")) -> None:
    """Print the processes of the local cluster and whether they run (JSON)."""
    try:
        print(json.dumps(LocalCluster(work_dir).status(), indent=2))
    except ConcordError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def serve_cluster_role(settings: Settings) -> None:
    """Run this process's role (``settings.role``) on the NATS bus; the API too when the role has it."""
    from concord.entrypoints.api.main import create_app
    from concord.entrypoints.server import bind_socket, run_server

    roles = roles_of(settings.role)
    concord = bootstrap(settings)
    sock = bind_socket(settings.host, settings.port) if "api" in roles else None

    async def started() -> None:
        if sock is not None:
            console.print(f"Concord API ({settings.role}) at http://{settings.host}:{sock.getsockname()[1]}/")
            sys.stdout.flush()

    async def api(stop: asyncio.Event) -> None:
        assert sock is not None
        # Every API node may run these: a node decides on the journal's latest state, so an escalation
        # step or an audit head is recorded once whichever node comes first.
        jobs = [
            PeriodicJob("audit-head", 30.0, concord.audit.sign_head),
            PeriodicJob("escalations", 5.0, concord.coordination.tick),
        ]
        if settings.simulate:
            # The demo scenario's reports go through this node's doors to the tracker workers.
            agencies = [a.code for a in concord.accounts.list_agencies()]
            feed = ScenarioFeed(
                scenario_for(concord.clock.now(), agencies), concord.intake, agencies=agencies
            )
            jobs.append(PeriodicJob("simulator", 1.0, lambda: feed.step_to(concord.clock.now())))
        background = asyncio.create_task(run_periodic(jobs, stop=stop))
        try:
            await run_server(create_app(settings, concord=concord), sock, on_started=started)
        finally:
            stop.set()
            await background

    async def egress(stop: asyncio.Event) -> None:
        """TAK clients over CoT (TCP and/or TLS, as configured), fed from the journal follower."""
        from concord.entrypoints.cot_server import run_cot_server

        cot = await run_cot_server(concord, settings, tcp_user=settings.cot_tcp_user or None)
        console.print(f"CoT (TAK) listening: tcp {cot.tcp_address or '-'}, tls {cot.tls_address or '-'}")
        sys.stdout.flush()
        try:
            await stop.wait()
        finally:
            await cot.close()

    has_cot = bool(settings.cot_tcp_port or settings.cot_tls_port)
    try:
        asyncio.run(
            serve_role(
                concord,
                settings.role,
                api=api if sock is not None else None,
                egress=egress if "egress" in roles and has_cot else None,
            )
        )
    finally:
        if sock is not None:
            sock.close()
        concord.close()
