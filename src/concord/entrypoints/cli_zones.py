"""``concord zones``: check zone files before they are imported."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from concord.domain.errors import InvalidInput
from concord.rules.zones_geojson import ZoneLimits, load_zones, to_geojson

__all__ = ["app"]

app = typer.Typer(
    help="Zones: borders, areas of responsibility, restricted areas (GeoJSON).", no_args_is_help=True
)


@app.callback()
def _zones() -> None:
    """Zones: borders, areas of responsibility, restricted areas (GeoJSON)."""


@app.command()
def validate(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="GeoJSON FeatureCollection")
    ],
    repair: Annotated[
        bool, typer.Option(help="repair invalid polygons with make_valid instead of rejecting")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    normalised: Annotated[
        Path | None, typer.Option(help="write the parsed (and repaired) zones to this GeoJSON file")
    ] = None,
) -> None:
    """Parse FILE and report its zones, or the first error with its feature index and field."""
    limits = ZoneLimits()
    size = file.stat().st_size
    if size > limits.max_bytes:
        _report_error(
            InvalidInput(
                f"{file.name}: {size} bytes exceeds the limit of {limits.max_bytes}",
                details={"source": file.name, "reason": "too-large"},
            ),
            as_json,
        )
    try:
        result = load_zones(file.read_bytes(), repair=repair, limits=limits, source=file.name)
    except InvalidInput as exc:
        _report_error(exc, as_json)
    kinds = Counter(zone.kind.value for zone in result.zones)
    if normalised is not None:
        normalised.write_text(json.dumps(to_geojson(result.zones)), encoding="utf-8")
    if as_json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "zones": len(result.zones),
                    "kinds": dict(kinds),
                    "repairs": list(result.repairs),
                }
            )
        )
        return
    print(f"{file.name}: {len(result.zones)} zones valid")
    for kind, count in sorted(kinds.items()):
        print(f"  {kind}: {count}")
    for note in result.repairs:
        print(f"  repaired: {note}")


def _report_error(exc: InvalidInput, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"ok": False, "error": exc.message, "details": exc.details}))
    else:
        typer.echo(f"invalid: {exc.message}", err=True)
    raise typer.Exit(code=1)
