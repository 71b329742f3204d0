"""``concord drill``: run an exercise plan through the real pipeline and print its KPIs."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from concord.config import Settings
from concord.domain.errors import ConcordError
from concord.drills.plan import load_plan
from concord.services.drills import DrillService, open_for_drill

__all__ = ["app"]

app = typer.Typer(help="Exercises: run drill plans on the simulated border.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


@app.callback()
def _drill() -> None:
    """Exercises: run drill plans on the simulated border."""


@app.command()
def run(
    plan: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="drill plan (YAML)")
    ],
    speed: Annotated[
        float, typer.Option(min=0, help="simulated seconds per wall second; 0 runs as fast as possible")
    ] = 0.0,
    database: Annotated[
        str | None, typer.Option(help="database URL; default: a new SQLite database in a temporary directory")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the KPIs as JSON")] = False,
) -> None:
    """Run PLAN on the injected clock and print the exercise KPIs (all data flagged as exercise)."""
    try:
        parsed = load_plan(plan)
    except ConcordError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    workdir = Path(tempfile.mkdtemp(prefix="concord-drill-"))
    if database is None:
        settings = Settings(
            database_url=f"sqlite:///{(workdir / 'drill.db').as_posix()}", data_dir=workdir / "var"
        )
    else:
        settings = Settings(database_url=database)
    concord = open_for_drill(settings)
    try:
        result = DrillService(concord).run(parsed, speed=speed)
    except ConcordError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        concord.close()
    if as_json:
        print(json.dumps({"database": settings.effective_database_url, **result.kpis.to_dict()}, indent=2))
        return
    k = result.kpis
    console.print(f"[bold red]EXERCISE EXERCISE EXERCISE[/bold red] {result.exercise_id}")
    console.print(
        f"{result.steps} steps, {result.observations} observations, {result.alerts} alerts, "
        f"{result.acknowledgements} acknowledgements; database {settings.effective_database_url}"
    )
    for check in k.checks:
        verdict = "[green]met[/green]" if check.met else "[red]missed[/red]"
        console.print(
            f"  {check.inject:<16} {check.measure:<12} target {check.target_s:g} s"
            f"  actual {check.actual_s} s  {verdict}"
        )
    console.print(f"detection effectiveness {k.detection_effectiveness}, SLA compliance {k.sla_compliance}")
