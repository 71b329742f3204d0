"""The ``concord`` command: serve, demo, database, replay, administration, backup and restore."""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from concord import __version__
from concord.bootstrap import Concord, bootstrap
from concord.config import Settings, load_settings
from concord.domain.errors import ConcordError
from concord.entrypoints.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(help="Concord: multi-agency border security coordination.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
admin_app = typer.Typer(help="Agencies, users and API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")

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
) -> None:
    """Run the API server (upgrades the schema first)."""
    settings = _settings(host=host, port=port)
    configure_logging(settings.log_level, json_lines=settings.log_json)
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

    concord = bootstrap(settings)
    logins = []
    if demo:
        from concord.services.demo import ensure_demo_world

        logins = ensure_demo_world(concord.accounts)
    sock = bind_socket(settings.host, settings.port)
    bound_port = sock.getsockname()[1]
    url = f"http://{settings.host}:{bound_port}/"

    async def started() -> None:
        if logins:
            table = Table("username", "password", "agency", "role", title="demo logins")
            for login in logins:
                table.add_row(login.username, login.password, login.agency, login.role.value)
            console.print(table)
        console.print(f"Concord {__version__} is running at [bold]{url}[/bold]  (API docs: {url}api/docs)")
        sys.stdout.flush()

    try:
        asyncio.run(
            run_server(create_app(settings, concord=concord), sock, duration_s=duration_s, on_started=started)
        )
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
