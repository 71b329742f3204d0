"""``concord ca``: the certificate authority of the CoT TLS port, client certificates, TAK data packages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from concord.bootstrap import bootstrap
from concord.config import Settings, load_settings
from concord.domain.errors import ConcordError
from concord.services.ca import CertificateAuthority

__all__ = ["app"]

app = typer.Typer(help="Certificate authority for TAK clients on the CoT TLS port.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _ca(settings: Settings) -> CertificateAuthority:
    return CertificateAuthority(settings.effective_key_dir)


def _check_user(settings: Settings, username: str) -> None:
    concord = bootstrap(settings)
    try:
        user = concord.accounts.get_user_by_username(username)
        if not user.active:
            err.print(f"[red]user {username} is deactivated[/red]")
            raise typer.Exit(1)
    except ConcordError as exc:
        err.print(f"[red]{exc}[/red] (create the user first: concord admin create-user)")
        raise typer.Exit(1) from None
    finally:
        concord.close()


@app.command()
def init(
    force: Annotated[
        bool, typer.Option(help="replace an existing CA (all issued certificates stop working)")
    ] = False,
    days: Annotated[int, typer.Option(help="validity of the CA certificate in days")] = 3650,
) -> None:
    """Create the CA (EC P-256) in the key directory."""
    settings = load_settings()
    ca = _ca(settings)
    try:
        cert = ca.init(force=force, days=days)
    except ConcordError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"CA created: [bold]{ca.ca_cert_path}[/bold] (valid until {cert.not_valid_after_utc:%Y-%m-%d})"
    )


@app.command("issue-client")
def issue_client(
    username: Annotated[str, typer.Argument(help="the Concord user the certificate stands for")],
    password: Annotated[
        str | None, typer.Option(help="PKCS#12 password (default: a random one, printed)")
    ] = None,
    days: Annotated[int, typer.Option(help="validity in days")] = 365,
    out: Annotated[
        Path | None, typer.Option(help="directory to write to (default: key dir/tak/clients)")
    ] = None,
) -> None:
    """Issue a client certificate and key for USERNAME as a password-protected PKCS#12 file."""
    settings = load_settings()
    _check_user(settings, username)
    try:
        issued = _ca(settings).issue_client(username, password=password, days=days, out_dir=out)
    except ConcordError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"client certificate: [bold]{issued.p12_path}[/bold] (until {issued.not_after:%Y-%m-%d})")
    if password is None:
        print(f"password: {issued.password}")


@app.command("data-package")
def data_package(
    username: Annotated[str, typer.Argument(help="the Concord user the package is for")],
    host: Annotated[
        str | None, typer.Option(help="address TAK clients connect to (default: CONCORD_HOST)")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="CoT TLS port (default: CONCORD_COT_TLS_PORT or 8089)")
    ] = None,
    password: Annotated[
        str | None, typer.Option(help="PKCS#12 password (default: a random one, printed)")
    ] = None,
    days: Annotated[int, typer.Option(help="validity of the client certificate in days")] = 365,
    out: Annotated[
        Path | None, typer.Option(help="directory to write to (default: key dir/tak/clients)")
    ] = None,
) -> None:
    """Write a TAK data package (zip) for USERNAME: CA, client certificate, server connection."""
    settings = load_settings()
    _check_user(settings, username)
    try:
        path, issued = _ca(settings).data_package(
            username,
            host=host or settings.host,
            port=port or settings.cot_tls_port or 8089,
            password=password,
            out_dir=out,
            days=days,
        )
    except ConcordError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"data package: [bold]{path}[/bold] (import it in ATAK, iTAK or WinTAK)")
    if password is None:
        print(f"password: {issued.password}")
