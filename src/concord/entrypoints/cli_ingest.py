"""``concord ingest``: import a recorded CoT, AIS or GeoJSON file, with a progress bar and counts.

The command is thin: :func:`import_file` drives :func:`concord.ingest.files.iter_file` and hands each
chunk's observations to a sink (the observation pipeline, wired by the composition root). Without a
sink the command validates the file and reports what it would import.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from concord.domain.observation import Observation
from concord.ingest.base import IngestStats, TimeWindow
from concord.ingest.files import FileFormat, iter_file

__all__ = ["FileFormatOption", "Sink", "app", "import_file", "ingest_command", "make_ingest_command"]

Sink = Callable[[list[Observation]], None]


class FileFormatOption(StrEnum):
    COT = "cot"
    AIS = "ais"
    GEOJSON = "geojson"


_FORMATS: dict[FileFormatOption, FileFormat] = {
    FileFormatOption.COT: "cot",
    FileFormatOption.AIS: "ais",
    FileFormatOption.GEOJSON: "geojson",
}


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def import_file(
    path: Path,
    fmt: FileFormat,
    agency: str,
    sink: Sink,
    progress: bool,
    *,
    replay: bool = False,
    now: Callable[[], datetime] = _wall_clock,
    console: Console | None = None,
) -> IngestStats:
    """Import ``path`` and pass each chunk's observations to ``sink``; return the counts.

    ``replay=True`` accepts any record time (old recordings); otherwise records must lie within
    the usual window around the import time.
    """
    stats = IngestStats(feed=f"{fmt}-file:{agency}")
    window = TimeWindow.unbounded() if replay else TimeWindow()
    chunks = iter_file(path, fmt, agency=agency, received_at=now(), window=window)
    if not progress:
        for chunk in chunks:
            stats.record(chunk.result)
            if chunk.result.observations:
                sink(list(chunk.result.observations))
        return stats
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[accepted]} accepted, {task.fields[rejected]} rejected"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(path.name, total=path.stat().st_size or None, accepted=0, rejected=0)
        for chunk in chunks:
            stats.record(chunk.result)
            if chunk.result.observations:
                sink(list(chunk.result.observations))
            bar.update(
                task, completed=chunk.bytes_read, accepted=stats.accepted, rejected=stats.rejected_total
            )
    return stats


def _print_counts(console: Console, stats: IngestStats) -> None:
    table = Table(title=f"Import {stats.feed}")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    table.add_row("accepted observations", str(stats.accepted))
    if stats.chats:
        table.add_row("chat messages", str(stats.chats))
    for code, count in stats.rejected.items():
        if count:
            table.add_row(f"rejected: {code}", str(count))
    console.print(table)


def make_ingest_command(sink_factory: Callable[[str], Sink] | None) -> Callable[..., None]:
    """Build the Typer command; ``sink_factory(agency)`` gives the sink, ``None`` validates only."""

    def ingest_command(
        file: Annotated[
            Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="File to import")
        ],
        fmt: Annotated[FileFormatOption, typer.Option("--format", "-f", help="cot, ais or geojson")],
        agency: Annotated[str, typer.Option("--agency", "-a", help="Agency code owning the data")],
        replay: Annotated[
            bool, typer.Option("--replay", help="Accept any record time (old recordings)")
        ] = False,
        progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    ) -> None:
        """Import a recorded feed file (CoT XML events, AIS NMEA lines, JSON or GeoJSON batch)."""
        console = Console()
        dry_run = sink_factory is None
        sink: Sink = (lambda _batch: None) if sink_factory is None else sink_factory(agency)
        stats = import_file(file, _FORMATS[fmt], agency, sink, progress, replay=replay, console=console)
        _print_counts(console, stats)
        if dry_run:
            console.print("[yellow]validated only: no sink is configured, nothing was stored[/yellow]")
        if stats.accepted == 0 and stats.rejected_total > 0:
            raise typer.Exit(code=1)

    return ingest_command


ingest_command = make_ingest_command(None)

app = typer.Typer(help="Import feed files (CoT, AIS, GeoJSON).", no_args_is_help=True)
app.command("file")(ingest_command)
