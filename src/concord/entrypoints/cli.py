"""The ``concord`` command: serve, demo, database, replay, administration, backup and restore."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from concord import __version__
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings, load_settings
from concord.domain.errors import ConcordError
from concord.domain.observation import Observation
from concord.entrypoints.cli_audit import build_app as build_audit_app
from concord.entrypoints.cli_ca import app as ca_app
from concord.entrypoints.cli_cluster import app as cluster_app
from concord.entrypoints.cli_drill import app as drill_app
from concord.entrypoints.cli_incidents import app as incidents_app
from concord.entrypoints.cli_ingest import make_ingest_command
from concord.entrypoints.cli_plan import app as plan_app
from concord.entrypoints.cli_report import app as report_app
from concord.entrypoints.cli_track import track_command
from concord.entrypoints.cli_zones import app as zones_app
from concord.entrypoints.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(help="Concord: multi-agency border security coordination.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
admin_app = typer.Typer(help="Agencies, users and API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.command("track", help="Run the tracker offline on a detections file (JSON lines).")(track_command)
app.add_typer(zones_app, name="zones")
app.add_typer(incidents_app, name="incidents")
app.add_typer(plan_app, name="plan")
app.add_typer(drill_app, name="drill")
app.add_typer(report_app, name="report")
app.add_typer(ca_app, name="ca")
app.add_typer(cluster_app, name="cluster")

console = Console()
err = Console(stderr=True)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for e in exc.errors():
            field = ".".join(str(p) for p in e["loc"]) or "settings"
            err.print(f"[red]configuration error[/red]: CONCORD_{field.upper()}: {e['msg']}")
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[red]configuration error[/red]: {exc}")
        raise typer.Exit(2) from None


def _concord(settings: Settings | None = None) -> Concord:
    return bootstrap(settings or _settings())


def _open_audit() -> tuple[Any, Any]:
    concord = _concord()
    return concord.audit.store_on_engine(), concord.audit.public_key


app.add_typer(build_audit_app(_open_audit), name="audit")


def _ingest_sink(agency: str) -> Callable[[list[Observation]], None]:
    concord = _concord()
    concord.accounts.get_agency(agency)
    intake: Any = concord.picture
    if concord.settings.bus == "nats":
        # A scaled-out deployment: the region owners fuse the file, as they fuse every other door's data.
        from concord.services.workers import background_intake

        stack = contextlib.ExitStack()
        intake = stack.enter_context(background_intake(concord))
        atexit.register(stack.close)

    def sink(observations: list[Observation]) -> None:
        for start in range(0, len(observations), 5000):
            intake.ingest(observations[start : start + 5000], actor=f"import:{agency}")

    return sink


app.command("ingest", help="Import a feed file (CoT, AIS or GeoJSON) into the picture.")(
    make_ingest_command(_ingest_sink)
)


@zones_app.command("import")
def zones_import(
    path: Annotated[Path, typer.Argument(help="a GeoJSON FeatureCollection of zones")],
    agency: Annotated[str, typer.Option(help="the agency that provides the zones")] = "JOC",
    repair: Annotated[bool, typer.Option(help="repair invalid polygons instead of refusing them")] = False,
) -> None:
    """Import zones (border line and sections, AORs, maritime zones, ports) into the picture."""
    concord = _concord()
    try:
        zones = concord.zones.import_geojson(path.read_bytes(), actor="cli", agency=agency, repair=repair)
        console.print(f"imported [bold]{len(zones)}[/bold] zones")
    finally:
        concord.close()


keys_app = typer.Typer(help="Encryption keys of personal data at rest.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new master key version and re-wrap every record's data key (data is not re-encrypted)."""
    concord = _concord()
    try:
        count = concord.rotate_master_key()
        console.print(f"master key rotated; re-wrapped the data keys of [bold]{count}[/bold] records")
    finally:
        concord.close()


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema to the newest version (safe to repeat)."""
    concord = _concord()
    try:
        console.print(f"schema at revision [bold]{concord.schema_revision()}[/bold]")
    finally:
        concord.close()


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database, without changing it."""
    concord = bootstrap(_settings(), upgrade=False)
    try:
        print(concord.schema_revision() or "empty")
    finally:
        concord.close()


@app.command()
def replay() -> None:
    """Rebuild every read model from the journal."""
    concord = _concord()
    try:
        count = concord.replay()
        console.print(f"replayed [bold]{count}[/bold] events")
    finally:
        concord.close()


@admin_app.command("create-agency")
def create_agency(
    code: Annotated[str, typer.Argument(help="short code, e.g. BP")],
    name: Annotated[str, typer.Argument(help="full name")],
    kind: Annotated[
        str, typer.Option(help="border-police, customs, immigration, coast-guard, ...")
    ] = "other",
) -> None:
    """Create an agency."""
    concord = _concord()
    try:
        agency = concord.accounts.create_agency(code, name, kind)
        console.print(f"created agency [bold]{agency.code}[/bold] ({agency.name}, {agency.kind.value})")
    finally:
        concord.close()


@admin_app.command("create-user")
def create_user(
    username: str,
    agency: Annotated[str, typer.Option(help="agency code")],
    role: Annotated[list[str], typer.Option(help="role; repeat for several")],
    clearance: Annotated[str, typer.Option(help="clearance level")] = "RESTRICTED",
    category: Annotated[list[str] | None, typer.Option(help="need-to-know category; repeatable")] = None,
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
    no_password: Annotated[bool, typer.Option(help="API-token-only user")] = False,
) -> None:
    """Create a user (asks for the password unless --no-password or --password-stdin)."""
    password: str | None = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not no_password:
        password = getpass.getpass("password: ")
    concord = _concord()
    try:
        user = concord.accounts.create_user(
            username, agency, role, clearance, password=password, categories=category or []
        )
        console.print(f"created user [bold]{user.username}[/bold] in {user.agency}")
    finally:
        concord.close()


@admin_app.command("issue-token")
def issue_token(
    username: str,
    name: Annotated[str, typer.Option(help="what the token is for")] = "api",
    ttl_s: Annotated[int | None, typer.Option(help="lifetime in seconds (default: until revoked)")] = None,
) -> None:
    """Issue an API token for a user; it is printed once and stored only as a hash."""
    concord = _concord()
    try:
        issued = concord.accounts.issue_token(username, name=name, ttl_s=ttl_s)
        print(issued.token)
    finally:
        concord.close()


@admin_app.command("revoke-token")
def revoke_token(token_id: str) -> None:
    """Revoke an API token by its id (the 16 hex characters after 'cct_')."""
    concord = _concord()
    try:
        concord.accounts.revoke_token(token_id)
        console.print(f"revoked token {token_id}")
    finally:
        concord.close()


@admin_app.command("list-users")
def list_users(agency: Annotated[str | None, typer.Option(help="only this agency")] = None) -> None:
    """List users."""
    concord = _concord()
    try:
        table = Table("username", "agency", "roles", "clearance", "categories", "active")
        for u in concord.accounts.list_users(agency=agency):
            table.add_row(
                u.username,
                u.agency,
                ",".join(sorted(u.roles)),
                u.clearance,
                ",".join(sorted(u.categories)),
                "yes" if u.active else "no",
            )
        console.print(table)
    finally:
        concord.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    role: Annotated[
        str | None,
        typer.Option(help="api|ingest|tracker|rules|egress|all; all but api need CONCORD_BUS=nats"),
    ] = None,
) -> None:
    """Run the API server (upgrades the schema first), or a worker role on the NATS bus."""
    settings = _settings(host=host, port=port, role=role)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    if settings.bus == "nats":
        from concord.entrypoints.cli_cluster import serve_cluster_role

        serve_cluster_role(settings)
        return
    if settings.role not in ("api", "all"):
        err.print(f"[red]role {settings.role} runs on the NATS bus only[/red] (set CONCORD_BUS=nats)")
        raise typer.Exit(2)
    _run(settings, demo=False, duration_s=None)


@app.command()
def demo(
    duration: Annotated[float | None, typer.Option(help="stop by itself after this many seconds")] = None,
    port: Annotated[int | None, typer.Option(help="port (0 picks a free one)")] = None,
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
) -> None:
    """Create the demo world (idempotently) and run the server with it."""
    settings = _settings(host=host, port=port)
    if settings.env != "dev":
        err.print("[red]the demo runs only with CONCORD_ENV=dev[/red] (its passwords are printed)")
        raise typer.Exit(2)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    _run(settings, demo=True, duration_s=duration)


def _run(settings: Settings, *, demo: bool, duration_s: float | None) -> None:
    from concord.entrypoints.api.main import create_app
    from concord.entrypoints.server import bind_socket, run_server
    from concord.services.demo import ensure_demo_agreements, ensure_demo_world
    from concord.services.runtime import PeriodicJob, ScenarioFeed, run_periodic, scenario_for

    concord = bootstrap(settings)
    logins = []
    jobs = [
        PeriodicJob("rules", 5.0, concord.picture.tick),
        PeriodicJob("audit-head", 30.0, concord.audit.sign_head),
        PeriodicJob("escalations", 5.0, concord.coordination.tick),
    ]
    if demo:
        logins = ensure_demo_world(concord.accounts)
        ensure_demo_agreements(concord.sharing, concord.clock.now())
        agencies = [a.code for a in concord.accounts.list_agencies()]
        scenario = scenario_for(concord.clock.now(), agencies)
        if not concord.zones.rows():
            concord.zones.import_geojson(json.dumps(scenario.zones_geojson()), actor="demo", agency="JOC")
        feed = ScenarioFeed(scenario, concord.picture, agencies=agencies)
        jobs.append(PeriodicJob("simulator", 1.0, lambda: feed.step_to(concord.clock.now())))
    else:
        concord.picture.warm_start()
    sock = bind_socket(settings.host, settings.port)
    bound_port = sock.getsockname()[1]
    url = f"http://{settings.host}:{bound_port}/"

    async def started() -> None:
        if logins:
            table = Table("username", "password", "agency", "role", title="demo logins")
            for login in logins:
                table.add_row(login.username, login.password, login.agency, login.role.value)
            console.print(table)
            console.print("The simulated border scenario is feeding the picture (radar, cameras, AIS, TAK).")
        console.print(f"Concord {__version__} is running at [bold]{url}[/bold]  (API docs: {url}api/docs)")
        sys.stdout.flush()

    async def main() -> None:
        stop = asyncio.Event()
        background = asyncio.create_task(run_periodic(jobs, stop=stop))
        cot = None
        if settings.cot_tcp_port or settings.cot_tls_port:
            from concord.entrypoints.cot_server import run_cot_server

            cot = await run_cot_server(concord, settings, tcp_user=settings.cot_tcp_user or None)
            console.print(f"CoT (TAK) listening: tcp {cot.tcp_address or '-'}, tls {cot.tls_address or '-'}")
        try:
            await run_server(
                create_app(settings, concord=concord), sock, duration_s=duration_s, on_started=started
            )
        finally:
            stop.set()
            if cot is not None:
                await cot.close()
            await background

    try:
        asyncio.run(main())
    finally:
        sock.close()
        concord.close()


@app.command()
def backup(path: Annotated[Path, typer.Argument(help="the .tar.gz file to write")]) -> None:
    """Write a consistent snapshot of the database, keys and audit log."""
    from concord.services.backup import create_backup

    settings = _settings()
    concord = bootstrap(settings)
    try:
        manifest = create_backup(
            concord.engine,
            path,
            key_dir=settings.effective_key_dir,
            history_tables=concord.history_tables,
            now=concord.clock.now(),
        )
        console.print(f"backup written to [bold]{path}[/bold]: {manifest.tables}")
    finally:
        concord.close()


@app.command()
def restore(path: Annotated[Path, typer.Argument(help="a backup written by 'concord backup'")]) -> None:
    """Restore a backup onto an empty database (e.g. a fresh host) and rebuild the read models."""
    from concord.services.backup import restore_backup

    settings = _settings()
    concord = bootstrap(settings)
    try:
        manifest = restore_backup(
            concord.engine,
            concord.projector,
            path,
            key_dir=settings.effective_key_dir,
            history_tables=concord.history_tables,
            progress=console.print,
        )
        console.print(f"restored backup of {manifest.created_at} (schema {manifest.schema_revision})")
    finally:
        concord.close()


def main() -> None:
    try:
        app()
    except ConcordError as exc:
        err.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        for key, value in exc.details.items():
            err.print(f"  {key}: {value}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
