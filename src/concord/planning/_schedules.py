"""Security games with schedules: a unit covers a set of targets together (ERASER-C style LP).

Targets are border sections in order along the border. A unit type (one agency's foot patrol, boat,
vehicle...) has a number of units and either an explicit list of schedules or the rule "one contiguous
stretch of at most k sections, all on terrain this type can work". The defender's mixed strategy is
summarised by x_{r,s} >= 0, the expected number of type-r units on schedule s:

    c_t = sum_{(r,s): t in s} x_{r,s} <= 1,     sum_s x_{r,s} <= R_r.

This per-unit LP ignores how units combine. Its x must still be written as a lottery of real joint
patrols (``decompose_schedule_mix``); with one unit type this has worked on every game tested, with
several types it can fail, and then ``_joint.solve_joint_game`` solves over joint patrols directly.

The strong Stackelberg equilibrium is found by multiple LPs (one per candidate attacked target). When
the stretches are too many to list, column generation prices new stretches with the LP duals: the best
new stretch is a maximum-weight contiguous run of length <= k over workable sections, found exactly by
checking every length 1..k with prefix sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.optimize as opt
import scipy.sparse as sp

from concord.domain.errors import InvalidInput
from concord.planning._game import TIE_TOLERANCE, FloatArray, GameSolution, Payoffs

__all__ = [
    "Column",
    "ScheduleGame",
    "UnitType",
    "best_stretches",
    "list_columns",
    "solve_schedule_game",
]

#: A column of the LP: (unit type index, covered targets in increasing order).
Column = tuple[int, tuple[int, ...]]

_SLACK_PENALTY = 1e6
_RC_TOL = 1e-9
_MAX_CG_ROUNDS = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitType:
    """A kind of patrol unit: its agency, how many there are, and what one unit can cover in a shift."""

    name: str
    agency: str
    count: float
    max_stretch: int = 1
    workable: tuple[bool, ...] | None = None
    schedules: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.count) or self.count < 0:
            raise InvalidInput(f"unit type {self.name}: count must be >= 0", details={"field": "count"})
        if self.max_stretch < 1:
            raise InvalidInput(
                f"unit type {self.name}: max_stretch must be >= 1", details={"field": "max_stretch"}
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleGame:
    """Payoffs over targets in border order, and the unit types that patrol them."""

    payoffs: Payoffs
    unit_types: tuple[UnitType, ...]

    def __post_init__(self) -> None:
        n = self.payoffs.n_targets
        for unit in self.unit_types:
            if unit.workable is not None and len(unit.workable) != n:
                raise InvalidInput(
                    f"unit type {unit.name}: workable has {len(unit.workable)} entries, expected {n}",
                    details={"field": "workable"},
                )
            for schedule in unit.schedules or ():
                if any(not 0 <= t < n for t in schedule):
                    raise InvalidInput(
                        f"unit type {unit.name}: schedule index out of range", details={"field": "schedules"}
                    )

    @property
    def counts(self) -> FloatArray:
        """Units per type."""
        return np.array([u.count for u in self.unit_types], dtype=np.float64)


def _workable(game: ScheduleGame, r: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
    unit = game.unit_types[r]
    if unit.workable is None:
        return np.ones(game.payoffs.n_targets, dtype=bool)
    return np.asarray(unit.workable, dtype=bool)


def list_columns(game: ScheduleGame) -> list[Column]:
    """Every schedule of every unit type (explicit lists, or all workable stretches of length <= k)."""
    cols: list[Column] = []
    n = game.payoffs.n_targets
    for r, unit in enumerate(game.unit_types):
        if unit.schedules is not None:
            cols.extend((r, tuple(s)) for s in unit.schedules)
            continue
        ok = _workable(game, r)
        for start in range(n):
            for length in range(1, unit.max_stretch + 1):
                end = start + length
                if end > n or not ok[start:end].all():
                    break
                cols.append((r, tuple(range(start, end))))
    return cols


def best_stretches(
    weights: FloatArray, workable: np.ndarray[Any, np.dtype[np.bool_]], max_len: int, *, threshold: float
) -> list[tuple[float, int, int]]:
    """Contiguous workable stretches of length <= ``max_len`` whose weight sum exceeds ``threshold``.

    Returns, for every end position, the best stretch ending there, as (weight, start, end_exclusive),
    best first. The first entry is the exact maximum-weight stretch (checked over every length).
    """
    n = weights.shape[0]
    prefix = np.concatenate([[0.0], np.cumsum(np.where(workable, weights, 0.0))])
    bad = np.concatenate([[0], np.cumsum(~workable)])
    best_val = np.full(n, -np.inf)
    best_len = np.zeros(n, dtype=np.int64)
    for length in range(1, min(max_len, n) + 1):
        ends = np.arange(length, n + 1)
        sums = prefix[ends] - prefix[ends - length]
        sums = np.where(bad[ends] - bad[ends - length] > 0, -np.inf, sums)
        improve = sums > best_val[ends - 1]
        best_val[ends - 1] = np.where(improve, sums, best_val[ends - 1])
        best_len[ends - 1] = np.where(improve, length, best_len[ends - 1])
    found = np.flatnonzero(best_val > threshold)
    found = found[np.argsort(-best_val[found], kind="stable")]
    return [(float(best_val[j]), int(j + 1 - best_len[j]), int(j + 1)) for j in found]


@dataclass(slots=True)
class _Master:
    value: float
    x: FloatArray
    coverage: FloatArray
    slack: float
    dual_cover: FloatArray
    dual_units: FloatArray
    feasible: bool


def _solve_master(game: ScheduleGame, cols: list[Column], target: int, *, elastic: bool) -> _Master:
    """LP for one candidate attacked target over the given columns.

    Variables [x (columns) | c (T) | s (T-1 best-response slacks, only when elastic)].
    """
    p = game.payoffs
    n = p.n_targets
    n_cols = len(cols)
    n_types = len(game.unit_types)
    loss = p.attacker_loss
    others = np.delete(np.arange(n), target)
    n_slack = n - 1 if elastic else 0
    n_var = n_cols + n + n_slack
    # c - A x = 0
    if n_cols:
        r_idx = np.concatenate([np.asarray(c[1], dtype=np.int64) for c in cols])
        c_idx = np.repeat(np.arange(n_cols), [len(c[1]) for c in cols])
    else:
        r_idx = c_idx = np.zeros(0, dtype=np.int64)
    a_eq = sp.csr_matrix(
        (
            np.concatenate([-np.ones(r_idx.size), np.ones(n)]),
            (np.concatenate([r_idx, np.arange(n)]), np.concatenate([c_idx, n_cols + np.arange(n)])),
        ),
        shape=(n, n_var),
    )
    b_eq = np.zeros(n)
    # sum_s x_{r,s} <= R_r
    types = np.array([c[0] for c in cols], dtype=np.int64)
    a_units = sp.csr_matrix((np.ones(n_cols), (types, np.arange(n_cols))), shape=(n_types, n_var))
    # loss[t] c_t - loss[t'] c_t' - s_t' <= Ua_u[t] - Ua_u[t']
    rows = np.arange(n - 1)
    data = [np.full(n - 1, loss[target]), -loss[others]]
    ri = [rows, rows]
    ci = [np.full(n - 1, n_cols + target), n_cols + others]
    if elastic:
        data.append(-np.ones(n - 1))
        ri.append(rows)
        ci.append(n_cols + n + rows)
    a_br = sp.csr_matrix(
        (np.concatenate(data), (np.concatenate(ri), np.concatenate(ci))), shape=(n - 1, n_var)
    )
    a_ub = sp.vstack([a_units, a_br], format="csr")
    b_ub = np.concatenate([game.counts, p.ua_uncovered[target] - p.ua_uncovered[others]])
    cost = np.zeros(n_var)
    cost[n_cols + target] = -p.defender_gain[target]
    if elastic:
        cost[n_cols + n :] = _SLACK_PENALTY * p.scale
    bounds = np.zeros((n_var, 2))
    bounds[:, 1] = np.inf
    bounds[n_cols : n_cols + n, 1] = 1.0
    res = opt.linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status != 0:
        return _Master(
            value=-np.inf,
            x=np.zeros(n_cols),
            coverage=np.zeros(n),
            slack=np.inf,
            dual_cover=np.zeros(n),
            dual_units=np.zeros(n_types),
            feasible=False,
        )
    slack = float(res.x[n_cols + n :].sum()) if elastic else 0.0
    coverage = np.clip(res.x[n_cols : n_cols + n], 0.0, 1.0)
    return _Master(
        value=float(p.ud_uncovered[target] + p.defender_gain[target] * coverage[target]),
        x=np.maximum(res.x[:n_cols], 0.0),
        coverage=coverage,
        slack=slack,
        dual_cover=np.asarray(res.eqlin.marginals, dtype=np.float64),
        dual_units=np.asarray(res.ineqlin.marginals[:n_types], dtype=np.float64),
        feasible=slack <= 1e-7,
    )


def _price(game: ScheduleGame, master: _Master, known: set[Column]) -> list[Column]:
    """New stretches with negative reduced cost: sum_{t in s} (-y_t) > -mu_r (y, mu: LP duals)."""
    weights = -master.dual_cover
    new: list[Column] = []
    for r, unit in enumerate(game.unit_types):
        if unit.schedules is not None:
            continue
        threshold = -float(master.dual_units[r]) + _RC_TOL * game.payoffs.scale
        for _, start, end in best_stretches(
            weights, _workable(game, r), unit.max_stretch, threshold=threshold
        )[:50]:
            col = (r, tuple(range(start, end)))
            if col not in known:
                new.append(col)
    return new


def _initial_columns(game: ScheduleGame) -> list[Column]:
    cols: list[Column] = []
    for r, unit in enumerate(game.unit_types):
        if unit.schedules is not None:
            cols.extend((r, tuple(s)) for s in unit.schedules)
    return cols


def solve_schedule_game(
    game: ScheduleGame, *, method: Literal["listed", "colgen"] = "colgen"
) -> GameSolution:
    """The strong Stackelberg equilibrium of a schedule game by multiple LPs.

    ``listed`` builds every schedule up front; ``colgen`` starts from the explicit schedules only and
    adds stretches by pricing, sharing the column pool across the candidate targets. Both are exact;
    the solution's ``schedule_mix`` holds the columns and their x values.
    """
    p = game.payoffs
    tol = TIE_TOLERANCE * p.scale
    elastic = method == "colgen"
    cols = list_columns(game) if method == "listed" else _initial_columns(game)
    known = set(cols)
    max_cover = float(game.counts.sum())
    bounds = p.ud_uncovered + np.maximum(p.defender_gain, 0.0) * min(1.0, max_cover)
    order = np.argsort(-bounds, kind="stable")
    best: _Master | None = None
    best_t = -1
    best_cols: list[Column] = []
    rounds = 0
    for t in order:
        t = int(t)
        if best is not None and bounds[t] <= best.value + tol:
            break
        master = _solve_master(game, cols, t, elastic=elastic)
        if elastic:
            for _ in range(_MAX_CG_ROUNDS):
                rounds += 1
                new = _price(game, master, known)
                if not new:
                    break
                cols.extend(new)
                known.update(new)
                master = _solve_master(game, cols, t, elastic=True)
            else:
                raise InvalidInput(
                    "column generation did not converge", details={"target": t, "rounds": rounds}
                )
        if not master.feasible:
            continue
        if best is None or master.value > best.value + tol:
            best, best_t, best_cols = master, t, list(cols)
    if best is None:
        raise InvalidInput("no target can be made the attacker's best response", details={"field": "payoffs"})
    keep = np.flatnonzero(best.x > 1e-12)
    mix = {
        "columns": [best_cols[i] for i in keep],
        "x": best.x[keep].tolist(),
        "n_columns": len(best_cols),
        "cg_rounds": rounds,
    }
    c_t = best.coverage[best_t]
    return GameSolution(
        coverage=best.coverage,
        attacked=best_t,
        defender_utility=best.value,
        attacker_utility=float(c_t * p.ua_covered[best_t] + (1 - c_t) * p.ua_uncovered[best_t]),
        method=f"schedule-lp-{method}",
        schedule_mix=mix,
    )
