"""`concord plan ...`: patrol games, patrol plans, sensor coverage gaps and hotspot forecasts from JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from concord.domain.errors import ConcordError, InvalidInput
from concord.planning import (
    MAX_DOCUMENT_BYTES,
    GameSolution,
    HawkesModel,
    SecurityGame,
    baseline_samplers,
    capability_matrix,
    comb_sample,
    coverage_inputs_from_dict,
    decompose_schedule_mix,
    evaluate_coverage,
    evaluate_forecasts,
    game_from_dict,
    hotspot_inputs_from_dict,
    kde_forecast,
    parse_json_document,
    patrol_inputs_from_dict,
    plan_patrols,
    section_detection,
    solve_game,
    what_if_sensor,
    what_if_unit,
)
from concord.planning.validation import compare_strategies

__all__ = ["app"]

app = typer.Typer(
    help="Planning: patrol allocation games, coverage gaps, hotspot forecasts.", no_args_is_help=True
)

InputPath = Annotated[Path, typer.Argument(help="JSON input file.")]
OutputPath = Annotated[Path | None, typer.Option("--output", "-o", help="Write JSON here (default: stdout).")]


def _read(path: Path) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise InvalidInput(
                f"{path} is larger than {MAX_DOCUMENT_BYTES} bytes", details={"file": str(path)}
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", details={"file": str(path)}) from exc
    return parse_json_document(raw, source=str(path))


def _write(document: Any, output: Path | None) -> None:
    text = json.dumps(document, indent=2, allow_nan=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


def _fail(exc: ConcordError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(code=2)


def _draw_game_shifts(game: SecurityGame, solution: GameSolution, shifts: int, seed: int) -> list[list[int]]:
    """Targets covered in each drawn shift: comb sampling, or the lottery of joint schedules."""
    rng = np.random.default_rng(seed)
    if game.schedules is None:
        return [[int(t) for t in comb_sample(solution.coverage, rng)] for _ in range(shifts)]
    mix = solution.schedule_mix or {}
    mixture = decompose_schedule_mix(
        list(mix["columns"]), np.asarray(mix["x"]), np.array([game.resources]), game.n_targets
    )
    return [sorted({t for _, ts in mixture.sample(rng).columns for t in ts}) for _ in range(shifts)]


@app.command("solve-game")
def solve_game_cmd(
    game_file: InputPath,
    output: OutputPath = None,
    general: Annotated[
        bool, typer.Option(help="Accept payoffs outside the security-game model (solved by multiple LPs).")
    ] = False,
    check_lp: Annotated[bool, typer.Option(help="Re-solve by multiple LPs and insist they agree.")] = False,
    shifts: Annotated[int, typer.Option(min=0, max=1000, help="Concrete shifts to draw from the plan.")] = 0,
    seed: Annotated[int, typer.Option(help="Random seed for the draws.")] = 0,
) -> None:
    """Solve a security game: strong Stackelberg coverage, attacked target, defender utility."""
    try:
        game = game_from_dict(_read(game_file), allow_general_payoffs=general)
        solution = solve_game(game, verify_with_lp=check_lp)
        drawn = _draw_game_shifts(game, solution, shifts, seed) if shifts else None
    except ConcordError as exc:
        raise _fail(exc) from exc
    out = solution.to_dict()
    if drawn is not None:
        out["shifts"] = drawn
    if game.schedules is None:
        uniform = np.full(game.n_targets, min(1.0, game.resources / game.n_targets))
        out["uniform_defender_utility"] = evaluate_coverage(game.payoffs, uniform)
    if solution.schedule_mix is not None:
        out["schedule_mix"] = {
            "schedules": [list(col[1]) for col in solution.schedule_mix["columns"]],
            "x": solution.schedule_mix["x"],
        }
    _write(out, output)


@app.command("patrols")
def patrols_cmd(
    plan_file: InputPath,
    output: OutputPath = None,
    shifts: Annotated[int, typer.Option(min=0, max=1000, help="Concrete shifts to draw.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed for the draws.")] = 0,
    validate_seeds: Annotated[
        int, typer.Option(min=0, max=200, help="Seeds of the adaptive-adversary simulation (0: skip).")
    ] = 0,
) -> None:
    """Patrol plan for border sections and agencies' units, with concrete shifts and baselines."""
    try:
        sections, units, model, extra_unit = patrol_inputs_from_dict(_read(plan_file))
        plan = plan_patrols(sections, units, model=model)
        rng = np.random.default_rng(seed)
        out = plan.to_dict()
        out["shifts"] = [plan.draw_shift(rng) for _ in range(shifts)]
        if validate_seeds:
            n = len(sections)
            incidents = np.array([s.incidents for s in sections], dtype=np.float64)
            samplers = {"game": lambda r: plan.fielding.sample(r).covered(n)}
            samplers.update({k: v[1] for k, v in baseline_samplers(plan.game, incidents).items()})
            scores = compare_strategies(plan.game.payoffs, samplers, seeds=max(2, validate_seeds))
            out["validation"] = {k: v.to_dict() for k, v in scores.items()}
        if extra_unit is not None:
            out["what_if_add_unit"] = what_if_unit(sections, units, add=extra_unit, model=model)
    except ConcordError as exc:
        raise _fail(exc) from exc
    _write(out, output)


@app.command("coverage")
def coverage_cmd(plan_file: InputPath, output: OutputPath = None) -> None:
    """Sensor detection per border section, ranked gaps, what-ifs and the agency capability matrix."""
    try:
        args = coverage_inputs_from_dict(_read(plan_file))
        common = {"mask": args["mask"], "spacing_m": args["spacing_m"]}
        report = section_detection(args["sections"], args["sensors"], **common)
        out: dict[str, Any] = report.to_dict()
        out["capability"] = capability_matrix(args["sections"], args["sensors"], args["units"], **common)
        if "what_if" in args:
            out["what_if"] = what_if_sensor(args["sections"], args["sensors"], **args["what_if"], **common)
    except ConcordError as exc:
        raise _fail(exc) from exc
    _write(out, output)


@app.command("hotspots")
def hotspots_cmd(
    events_file: InputPath,
    output: OutputPath = None,
    top: Annotated[int, typer.Option(min=1, max=10_000, help="Highest-risk cells to list.")] = 20,
    model: Annotated[str, typer.Option(help="Forecast model: kde or hawkes.")] = "kde",
) -> None:
    """Next period's risk surface (kernel density or Hawkes) and, if asked, held-out PAI scores."""
    try:
        if model not in ("kde", "hawkes"):
            raise InvalidInput("model must be kde or hawkes", details={"field": "model"})
        args = hotspot_inputs_from_dict(_read(events_file))
        grid = args["grid"]
        t, x, y = args["t"], args["x"], args["y"]
        if model == "hawkes":
            fitted = HawkesModel.fit(t, x, y, t_start=float(t.min()), t_end=args["now"])
            surface = fitted.forecast(grid, now=args["now"], horizon=args["horizon"], history=(t, x, y))
        else:
            surface = kde_forecast(
                grid,
                t,
                x,
                y,
                now=args["now"],
                bandwidth_m=args["kde_bandwidth_m"],
                half_life=args["kde_half_life"],
            )
        flat = surface.ravel()
        best = np.argsort(-flat, kind="stable")[:top]
        out: dict[str, Any] = {
            "model": model,
            "top_cells": [
                {"row": int(i // grid.nx), "col": int(i % grid.nx), "risk": float(flat[i])} for i in best
            ],
        }
        if "evaluate" in args:
            ev = args["evaluate"]
            out["evaluation"] = evaluate_forecasts(
                grid,
                args["t"],
                args["x"],
                args["y"],
                train_end=ev["train_end"],
                period=ev["period"],
                n_periods=ev["n_periods"],
                kde_bandwidth_m=args["kde_bandwidth_m"],
                kde_half_life=args["kde_half_life"],
            )
    except ConcordError as exc:
        raise _fail(exc) from exc
    _write(out, output)
