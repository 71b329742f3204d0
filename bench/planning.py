"""Planning benchmark: exact patrol games against a mixed-integer reference, schedule LPs, simulations.

Prints one JSON document:

* ``games``: random security games (T targets, R = T/10) solved by ORIGAMI (the fast path), the multiple
  LPs and the DOBSS/ERASER MILP (the reference, HiGHS, time-limited); times, the largest utility gap to
  the MILP, and ORIGAMI's speed-up over the MILP.
* ``schedules``: a border of 200 sections patrolled by 20 units of two types (contiguous stretches,
  terrain limits), solved with every stretch listed and by column generation; times and the gap.
* ``validation``: the adaptive-adversary simulation of a fielded plan against the uniform and
  incident-proportional baselines (detection rate and defender utility with 95% intervals).
* ``hotspots``: PAI and hit rate at 5% of the area on held-out weeks of a synthetic clustered history,
  Hawkes and kernel density against the naive "last period's counts".

Run: .venv/bin/python bench/planning.py [--sizes 10,100,500,1000] [--milp-time-limit 300]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from concord.planning import (
    BorderSection,
    Grid,
    HawkesParams,
    PatrolUnits,
    Payoffs,
    ScheduleGame,
    UnitType,
    baseline_samplers,
    decompose_by_type,
    evaluate_forecasts,
    plan_patrols,
    simulate_hawkes,
    solve_joint_game,
    solve_milp,
    solve_multiple_lps,
    solve_origami,
    solve_schedule_game,
)
from concord.planning.validation import compare_strategies


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """HiGHS prints a banner from C++ straight to fd 1; keep the JSON on stdout clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return result, statistics.median(times)


def random_game(rng: np.random.Generator, n: int) -> Payoffs:
    return Payoffs.from_lists(
        rng.uniform(0, 10, n), rng.uniform(-10, 0, n), rng.uniform(-10, 0, n), rng.uniform(0, 10, n)
    )


def bench_games(sizes: list[int], milp_limit_s: float, lp_max: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(2026)
    rows = []
    for n in sizes:
        payoffs = random_game(rng, n)
        resources = max(1.0, n / 10)
        origami, t_origami = timed(functools.partial(solve_origami, payoffs, resources), repeat=20)
        row: dict[str, Any] = {
            "targets": n,
            "resources": resources,
            "origami_s": t_origami,
            "origami_utility": origami.defender_utility,
        }
        if n <= lp_max:
            lps, t_lps = timed(functools.partial(solve_multiple_lps, payoffs, resources))
            row["multiple_lps_s"] = t_lps
            row["gap_origami_vs_lps"] = abs(origami.defender_utility - lps.defender_utility)
        with quiet_stdout():
            milp, t_milp = timed(functools.partial(solve_milp, payoffs, resources, time_limit_s=milp_limit_s))
        row["milp_s"] = t_milp
        row["milp_status"] = milp.message
        row["milp_proven_optimal"] = milp.optimal
        if milp.solution is not None:
            row["milp_utility"] = milp.solution.defender_utility
            row["gap_origami_vs_milp"] = abs(origami.defender_utility - milp.solution.defender_utility)
        if milp.optimal:
            row["speedup_origami_vs_milp"] = t_milp / t_origami
        rows.append(row)
    return rows


def schedule_game(n_sections: int) -> ScheduleGame:
    rng = np.random.default_rng(7)
    payoffs = random_game(rng, n_sections)
    river = rng.random(n_sections) < 0.15
    foot = UnitType(
        name="foot", agency="BP", count=12, max_stretch=5, workable=tuple(bool(v) for v in ~river)
    )
    vehicle = UnitType(name="vehicle", agency="BP", count=8, max_stretch=10)
    return ScheduleGame(payoffs=payoffs, unit_types=(foot, vehicle))


def bench_schedules(n_sections: int) -> dict[str, Any]:
    game = schedule_game(n_sections)
    listed, t_listed = timed(lambda: solve_schedule_game(game, method="listed"))
    colgen, t_colgen = timed(lambda: solve_schedule_game(game, method="colgen"))
    mix = colgen.schedule_mix or {}
    fielded, t_field = timed(
        lambda: decompose_by_type(
            list(mix["columns"]), np.asarray(mix["x"]), game.counts, game.payoffs.n_targets
        )
    )
    fielding: dict[str, Any] = {"per_unit_mix_fielded_exactly": fielded.exact, "decomposition_s": t_field}
    if not fielded.exact:
        seed = [q.columns for q in fielded.partial] + [q.columns for m in fielded.mixtures for q in m.patrols]
        (joint, _), t_joint = timed(
            lambda: solve_joint_game(
                game, patrols=seed, first_target=colgen.attacked, upper_bound=colgen.defender_utility
            )
        )
        (_, _), t_cold = timed(
            lambda: solve_joint_game(game, first_target=colgen.attacked, upper_bound=colgen.defender_utility)
        )
        fielding.update(
            joint_patrols_s=t_joint,
            joint_patrols_unseeded_s=t_cold,
            joint_pricing_rounds=(joint.schedule_mix or {}).get("rounds"),
            joint_utility=joint.defender_utility,
            gap_joint_vs_lp=abs(joint.defender_utility - colgen.defender_utility),
        )
    return {
        "sections": n_sections,
        "units": int(game.counts.sum()),
        "fielding": fielding,
        "listed_s": t_listed,
        "listed_columns": (listed.schedule_mix or {}).get("n_columns"),
        "colgen_s": t_colgen,
        "colgen_columns": (colgen.schedule_mix or {}).get("n_columns"),
        "colgen_pricing_rounds": (colgen.schedule_mix or {}).get("cg_rounds"),
        "listed_utility": listed.defender_utility,
        "colgen_utility": colgen.defender_utility,
        "gap": abs(listed.defender_utility - colgen.defender_utility),
    }


def bench_validation(seeds: int) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    levels = ["low", "medium", "high", "critical"]
    sections = [
        BorderSection(
            section_id=f"S{i}",
            impact=levels[int(rng.integers(0, 4))],
            incidents=int(rng.poisson(3)),
            terrain="river" if i % 7 == 0 else "land",
        )
        for i in range(40)
    ]
    units = [
        PatrolUnits(agency="BP", name="foot", count=3, max_sections=3, terrains=frozenset({"land"})),
        PatrolUnits(agency="CG", name="boat", count=1, max_sections=2, terrains=frozenset({"river"})),
        PatrolUnits(agency="BP", name="car", count=2, max_sections=5, terrains=frozenset({"land", "river"})),
    ]
    plan, t_plan = timed(lambda: plan_patrols(sections, units))
    n = len(sections)
    incidents = np.array([s.incidents for s in sections], dtype=np.float64)
    samplers = {"game": lambda r: plan.fielding.sample(r).covered(n)}
    samplers.update({k: v[1] for k, v in baseline_samplers(plan.game, incidents).items()})
    scores, t_sim = timed(lambda: compare_strategies(plan.game.payoffs, samplers, seeds=seeds, shifts=200))
    return {
        "sections": n,
        "units": sum(u.count for u in units),
        "plan_s": t_plan,
        "fielding_exact": plan.fielding.exact,
        "expected_defender_utility": plan.utilities,
        "simulation_s": t_sim,
        "seeds": seeds,
        "shifts_per_seed": 200,
        "simulated": {k: v.to_dict() for k, v in scores.items()},
    }


def bench_hotspots() -> dict[str, Any]:
    true = HawkesParams(mu=4.0, theta=0.5, omega=0.5, sigma_m=200.0)
    spots = [(2000.0, 3000.0, 400.0, 1.0), (7000.0, 6000.0, 600.0, 2.0), (5000.0, 2000.0, 300.0, 1.0)]
    t, x, y, _ = simulate_hawkes(
        true,
        hotspots=spots,
        t_end=200.0,
        rng=np.random.default_rng(11),
        region=(0.0, 0.0, 10_000.0, 10_000.0),
    )
    grid = Grid(x0_m=0.0, y0_m=0.0, cell_m=250.0, nx=40, ny=40)
    result, seconds = timed(
        lambda: evaluate_forecasts(
            grid, t, x, y, train_end=144.0, period=7.0, n_periods=8, kde_bandwidth_m=300.0, kde_half_life=30.0
        )
    )
    return {"events": int(t.size), "true_params": true.to_dict(), "seconds": seconds, **result}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,100,500,1000", help="comma-separated numbers of targets")
    parser.add_argument("--milp-time-limit", type=float, default=300.0, help="seconds per MILP")
    parser.add_argument("--lp-max", type=int, default=1000, help="largest T solved by multiple LPs")
    parser.add_argument("--schedule-sections", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=30, help="seeds of the adversary simulation")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    report = {
        "games": bench_games(sizes, args.milp_time_limit, args.lp_max),
        "schedules": bench_schedules(args.schedule_sections),
        "validation": bench_validation(args.seeds),
        "hotspots": bench_hotspots(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
