"""``concord track``: run the tracker offline on a file of position-only detections (local metric frame)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from concord.domain.errors import ConcordError
from concord.tracking import (
    Tracker,
    TrackerConfig,
    config_for_sensor,
    group_scans,
    read_detections,
    track_scans,
)

__all__ = ["app", "track_command"]

app = typer.Typer(help="Offline multi-target tracking of detection files.", no_args_is_help=True)

# Files with more scans than this get a progress bar.
_PROGRESS_MIN_SCANS = 200
_MAX_REJECTS_SHOWN = 20


@app.command("track")
def track_command(
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help='JSON Lines detections: {"t": s, "x": m, "y": m} per line.')
    ],
    output_path: Annotated[
        Path, typer.Option("--output", "-o", help='JSON Lines tracks: {"t", "track_id", "x", "y"} per line.')
    ],
    pd: Annotated[float | None, typer.Option("--pd", help="Detection probability, in (0, 1].")] = None,
    meas_sigma: Annotated[
        float, typer.Option("--meas-sigma", help="1-sigma position error per axis, metres.")
    ] = 10.0,
    clutter_per_scan: Annotated[
        float | None, typer.Option("--clutter-per-scan", help="Mean false detections per scan.")
    ] = None,
    scan_interval: Annotated[
        float | None,
        typer.Option("--scan-interval", help="Seconds per scan; detections are grouped by interval."),
    ] = None,
    process_noise: Annotated[
        float, typer.Option("--process-noise", help="Acceleration noise density, m^2/s^3.")
    ] = 0.5,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first bad line.")] = False,
) -> None:
    """Track position-only detections and write every confirmed track at every scan time."""
    err = Console(stderr=True)
    if not math.isfinite(meas_sigma) or meas_sigma <= 0:
        raise typer.BadParameter("must be a positive number", param_hint="--meas-sigma")
    try:
        with input_path.open(encoding="utf-8", errors="replace") as handle:
            detections, rejected = read_detections(handle)
    except OSError as exc:
        err.print(f"cannot read {input_path}: {exc.strerror}")
        raise typer.Exit(code=2) from exc
    for rej in rejected[:_MAX_REJECTS_SHOWN]:
        err.print(f"line {rej.line}: rejected: {rej.reason}", markup=False, highlight=False, soft_wrap=True)
    if len(rejected) > _MAX_REJECTS_SHOWN:
        err.print(f"... and {len(rejected) - _MAX_REJECTS_SHOWN} more rejected lines")
    if rejected and strict:
        raise typer.Exit(code=1)
    try:
        area_m2 = None
        if detections:
            xs = [d.x_m for d in detections]
            ys = [d.y_m for d in detections]
            area_m2 = max(max(xs) - min(xs), 1.0) * max(max(ys) - min(ys), 1.0)
        config = config_for_sensor(
            TrackerConfig(meas_sigma_m=meas_sigma, process_noise_m2ps3=process_noise),
            pd=pd,
            clutter_per_scan=clutter_per_scan,
            scan_interval_s=scan_interval,
            surveillance_area_m2=area_m2,
        )
        scans = group_scans(detections, scan_interval)
    except ConcordError as exc:
        err.print(f"error: {exc.message}", markup=False)
        raise typer.Exit(code=2) from exc
    tracker = Tracker.from_config(config)
    written = 0
    try:
        with output_path.open("w", encoding="utf-8") as out:
            with Progress(
                TextColumn("tracking"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} scans"),
                TimeRemainingColumn(),
                console=err,
                disable=len(scans) < _PROGRESS_MIN_SCANS,
            ) as progress:
                task = progress.add_task("tracking", total=len(scans))
                for records in track_scans(scans, tracker):
                    for record in records:
                        out.write(json.dumps(record) + "\n")
                    written += len(records)
                    progress.advance(task)
    except OSError as exc:
        err.print(f"cannot write {output_path}: {exc.strerror}")
        raise typer.Exit(code=2) from exc
    err.print(
        f"{len(detections)} detections in {len(scans)} scans, {len(rejected)} lines rejected, "
        f"{tracker.dropped_late} too late; {written} track states written "
        f"(M/N {config.confirm_hits}/{config.confirm_window}, "
        f"delete after {config.delete_after_misses} misses)",
        highlight=False,
        soft_wrap=True,
    )
