"""``concord report``: after-action reviews, SITREPs and briefing packs, released per viewer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from concord.config import Settings
from concord.domain.errors import ConcordError
from concord.drills.report import ReportDoc, render_html, render_pdf
from concord.services.drills import open_for_drill
from concord.services.reports import ReportService

__all__ = ["app"]

app = typer.Typer(help="Reports: after-action reviews, SITREPs, briefing packs.", no_args_is_help=True)
err = Console(stderr=True)


@app.callback()
def _report() -> None:
    """Reports: after-action reviews, SITREPs, briefing packs."""


def _write(doc: ReportDoc, fmt: str, output: Path | None) -> None:
    if fmt == "pdf":
        data = render_pdf(doc)
        if output is None:
            err.print("[red]a PDF needs --output[/red]")
            raise typer.Exit(2)
        output.write_bytes(data)
        return
    html = render_html(doc)
    if output is None:
        print(html)
    else:
        output.write_text(html, encoding="utf-8")


@app.command()
def aar(
    as_user: Annotated[str, typer.Option("--as", help="username the review is released to")],
    incident: Annotated[str | None, typer.Option(help="incident id")] = None,
    exercise: Annotated[str | None, typer.Option(help="exercise id")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html or pdf")] = "html",
    output: Annotated[Path | None, typer.Option(help="file to write (stdout for HTML when absent)")] = None,
    database: Annotated[str | None, typer.Option(help="database URL (default: the configured one)")] = None,
) -> None:
    """After-action review of one incident or exercise, as USER may see it."""
    _run(lambda s: s.aar(s.viewer_of(as_user), exercise=exercise, incident=incident), fmt, output, database)


@app.command()
def sitrep(
    as_user: Annotated[str, typer.Option("--as", help="username the SITREP is released to")],
    hours: Annotated[float, typer.Option(help="period before now")] = 12.0,
    exercise: Annotated[bool, typer.Option(help="the exercise picture instead of the live one")] = False,
    fmt: Annotated[str, typer.Option("--format", help="html or pdf")] = "html",
    output: Annotated[Path | None, typer.Option(help="file to write")] = None,
    database: Annotated[str | None, typer.Option(help="database URL")] = None,
) -> None:
    """Situation report for USER's agency."""
    _run(lambda s: s.sitrep(s.viewer_of(as_user), hours=hours, exercise=exercise), fmt, output, database)


@app.command()
def briefing(
    as_user: Annotated[str, typer.Option("--as", help="username the pack is released to")],
    days: Annotated[float, typer.Option(help="period before now")] = 7.0,
    fmt: Annotated[str, typer.Option("--format", help="html or pdf")] = "html",
    output: Annotated[Path | None, typer.Option(help="file to write")] = None,
    database: Annotated[str | None, typer.Option(help="database URL")] = None,
) -> None:
    """Joint briefing pack for the interagency meeting."""
    _run(lambda s: s.briefing(s.viewer_of(as_user), days=days), fmt, output, database)


def _run(
    build: Callable[[ReportService], ReportDoc], fmt: str, output: Path | None, database: str | None
) -> None:
    if fmt not in ("html", "pdf"):
        err.print("[red]--format is html or pdf[/red]")
        raise typer.Exit(2)
    settings = Settings(database_url=database) if database else Settings()
    concord = open_for_drill(settings)
    try:
        service = ReportService(concord)
        # A report is dated by the latest journal entry, not the wall clock: reruns give the same document.
        service.set_clock_to_journal()
        doc = build(service)
        _write(doc, fmt, output)
    except ConcordError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        concord.close()
