"""Exact patrol games over whole joint patrols, for several unit types on one border.

The schedule LP of ``_schedules`` plans each unit's stretch on its own; with several unit types its
coverage may be impossible to field (no lottery of real joint patrols reproduces it). Here the
defender's strategy is a lottery over *joint patrols* (every unit of every type gets at most one
contiguous workable stretch, no section patrolled twice), so whatever is planned can be fielded exactly.

The joint patrols are far too many to list, so each candidate attacked target's LP is solved by column
generation. The pricing problem, "which joint patrol covers the most dual weight", is solved exactly by
dynamic programming along the border: at each section either skip it or start a stretch of some type
that still has units, with the state being the units left per type.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize as opt
import scipy.sparse as sp

from concord.domain.errors import InvalidInput
from concord.planning._game import TIE_TOLERANCE, FloatArray, GameSolution
from concord.planning._sampling import JointPatrol, PatrolMixture
from concord.planning._schedules import Column, ScheduleGame

__all__ = ["MAX_JOINT_STATES", "best_joint_patrol", "enumerate_joint_patrols", "solve_joint_game"]

#: Largest product over unit types of (units + 1) the pricing handles.
MAX_JOINT_STATES = 20_000
#: Largest (sections + 1) x states table of the dynamic programme (memory: two such arrays).
MAX_JOINT_TABLE = 2_000_000

_SLACK_PENALTY = 1e6
_RC_TOL = 1e-9
_MAX_ROUNDS = 2_000


def _counts(game: ScheduleGame) -> list[int]:
    counts = game.counts
    if np.any(np.abs(counts - np.round(counts)) > 1e-9) or any(
        u.schedules is not None for u in game.unit_types
    ):
        raise InvalidInput(
            "joint patrols need whole unit counts and contiguous stretches", details={"field": "unit_types"}
        )
    return [int(round(c)) for c in counts]


def _workable(game: ScheduleGame) -> list[np.ndarray[tuple[int], np.dtype[np.bool_]]]:
    n = game.payoffs.n_targets
    return [
        np.ones(n, dtype=bool) if u.workable is None else np.asarray(u.workable, dtype=bool)
        for u in game.unit_types
    ]


def best_joint_patrol(game: ScheduleGame, weights: FloatArray) -> tuple[float, tuple[Column, ...]]:
    """The joint patrol with the largest total weight of covered sections, exactly (dynamic programme)."""
    counts = _counts(game)
    n = game.payoffs.n_targets
    radix = [c + 1 for c in counts]
    n_states = int(np.prod(radix))
    if n_states > MAX_JOINT_STATES or n_states * (n + 1) > MAX_JOINT_TABLE:
        raise InvalidInput(
            f"too many unit combinations for joint patrols ({n_states} > {MAX_JOINT_STATES})",
            details={"field": "unit_types"},
        )
    strides = np.cumprod([1, *radix[:-1]]).astype(np.int64)
    idx = np.arange(n_states)
    has_unit = [((idx // strides[r]) % radix[r]) > 0 for r in range(len(counts))]
    workable = _workable(game)
    prefix = np.concatenate([[0.0], np.cumsum(weights)])
    bad = [np.concatenate([[0], np.cumsum(~ok)]) for ok in workable]
    value = np.zeros((n + 1, n_states))
    # choice: 0 = skip the section, otherwise r * (k_max + 1) + L for a type-r stretch of length L.
    k_max = max((u.max_stretch for u in game.unit_types), default=1)
    choice = np.zeros((n + 1, n_states), dtype=np.int64)
    for i in range(n - 1, -1, -1):
        best = value[i + 1].copy()
        pick = np.zeros(n_states, dtype=np.int64)
        for r, unit in enumerate(game.unit_types):
            if counts[r] == 0:
                continue
            states = idx[has_unit[r]]
            for length in range(1, min(unit.max_stretch, n - i) + 1):
                if bad[r][i + length] - bad[r][i] > 0:
                    break
                gain = prefix[i + length] - prefix[i]
                cand = gain + value[i + length][states - strides[r]]
                better = cand > best[states] + 1e-15
                if better.any():
                    best[states[better]] = cand[better]
                    pick[states[better]] = r * (k_max + 1) + length
        value[i] = best
        choice[i] = pick
    state = int(sum(counts[r] * strides[r] for r in range(len(counts))))
    cols: list[Column] = []
    i = 0
    while i < n:
        code = int(choice[i][state])
        if code == 0:
            i += 1
            continue
        r, length = divmod(code, k_max + 1)
        cols.append((r, tuple(range(i, i + length))))
        state -= int(strides[r])
        i += length
    return float(value[0][int(sum(counts[r] * strides[r] for r in range(len(counts))))]), tuple(cols)


def enumerate_joint_patrols(game: ScheduleGame, *, limit: int = 100_000) -> list[tuple[Column, ...]]:
    """Every joint patrol (for small games and tests); raises if there are more than ``limit``."""
    counts = _counts(game)
    workable = _workable(game)
    n = game.payoffs.n_targets
    out: list[tuple[Column, ...]] = []

    def extend(i: int, left: list[int], cols: list[Column]) -> None:
        if len(out) > limit:
            raise InvalidInput("too many joint patrols to list", details={"limit": limit})
        if i >= n:
            out.append(tuple(cols))
            return
        extend(i + 1, left, cols)
        for r, unit in enumerate(game.unit_types):
            if left[r] == 0:
                continue
            for length in range(1, unit.max_stretch + 1):
                if i + length > n or not workable[r][i + length - 1]:
                    break
                if not workable[r][i]:
                    break
                left[r] -= 1
                cols.append((r, tuple(range(i, i + length))))
                extend(i + length, left, cols)
                cols.pop()
                left[r] += 1

    extend(0, list(counts), [])
    return out


def _solve_target(
    game: ScheduleGame, patrols: list[tuple[Column, ...]], target: int
) -> tuple[float, FloatArray, FloatArray, float, FloatArray, float]:
    """LP over the given joint patrols for one attacked target.

    Returns (value, lambda, coverage, slack, coverage duals, convexity dual); value is -inf if the LP fails.
    """
    p = game.payoffs
    n = p.n_targets
    n_j = len(patrols)
    loss = p.attacker_loss
    others = np.delete(np.arange(n), target)
    n_var = n_j + n + (n - 1)
    r_idx: list[int] = []
    c_idx: list[int] = []
    for j, patrol in enumerate(patrols):
        for _, targets in patrol:
            r_idx.extend(targets)
            c_idx.extend([j] * len(targets))
    a_cover = sp.csr_matrix(
        (
            np.concatenate([-np.ones(len(r_idx)), np.ones(n)]),
            (
                np.concatenate([np.asarray(r_idx, dtype=np.int64), np.arange(n)]),
                np.concatenate([np.asarray(c_idx, dtype=np.int64), n_j + np.arange(n)]),
            ),
        ),
        shape=(n, n_var),
    )
    a_convex = sp.csr_matrix(
        (np.ones(n_j), (np.zeros(n_j, dtype=np.int64), np.arange(n_j))), shape=(1, n_var)
    )
    a_eq = sp.vstack([a_cover, a_convex], format="csr")
    b_eq = np.concatenate([np.zeros(n), [1.0]])
    rows = np.arange(n - 1)
    a_ub = sp.csr_matrix(
        (
            np.concatenate([np.full(n - 1, loss[target]), -loss[others], -np.ones(n - 1)]),
            (
                np.concatenate([rows, rows, rows]),
                np.concatenate([np.full(n - 1, n_j + target), n_j + others, n_j + n + rows]),
            ),
        ),
        shape=(n - 1, n_var),
    )
    b_ub = p.ua_uncovered[target] - p.ua_uncovered[others]
    cost = np.zeros(n_var)
    cost[n_j + target] = -p.defender_gain[target]
    cost[n_j + n :] = _SLACK_PENALTY * p.scale
    bounds = np.zeros((n_var, 2))
    bounds[:, 1] = np.inf
    bounds[n_j : n_j + n, 1] = 1.0
    res = opt.linprog(
        cost,
        A_ub=a_ub if n > 1 else None,
        b_ub=b_ub if n > 1 else None,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=bounds,
        # Dual simplex without presolve: these masters are small and re-solved hundreds of times, and
        # presolve costs more than it saves (about 3x faster measured on the 200-section benchmark).
        method="highs-ds",
        options={"presolve": False},
    )
    if res.status != 0:
        return -np.inf, np.zeros(n_j), np.zeros(n), np.inf, np.zeros(n), 0.0
    lam = np.maximum(res.x[:n_j], 0.0)
    coverage = np.clip(res.x[n_j : n_j + n], 0.0, 1.0)
    slack = float(res.x[n_j + n :].sum())
    duals = np.asarray(res.eqlin.marginals, dtype=np.float64)
    value = float(p.ud_uncovered[target] + p.defender_gain[target] * coverage[target])
    return value, lam, coverage, slack, duals[:n], float(duals[n])


def solve_joint_game(
    game: ScheduleGame,
    *,
    patrols: list[tuple[Column, ...]] | None = None,
    price: bool = True,
    first_target: int | None = None,
    upper_bound: float | None = None,
) -> tuple[GameSolution, PatrolMixture]:
    """The strong Stackelberg equilibrium over lotteries of joint patrols, and that lottery.

    ``patrols`` seeds the column pool (the empty patrol is always added); with ``price=False`` the LP
    is solved over exactly those patrols (for small games where ``enumerate_joint_patrols`` lists all).
    ``first_target`` is tried first and ``upper_bound`` (the per-unit schedule LP's value, which no
    joint plan can beat) stops the search as soon as it is reached.
    """
    p = game.payoffs
    n = p.n_targets
    tol = TIE_TOLERANCE * p.scale
    pool: list[tuple[Column, ...]] = [()]
    seen: set[tuple[Column, ...]] = {()}
    for patrol in patrols or []:
        if patrol not in seen:
            pool.append(patrol)
            seen.add(patrol)
    max_cover = min(1.0, float(game.counts.sum()))
    bounds = p.ud_uncovered + np.maximum(p.defender_gain, 0.0) * max_cover
    order = np.argsort(-bounds, kind="stable")
    if first_target is not None:
        order = np.concatenate([[first_target], order[order != first_target]])
    best: tuple[float, int, FloatArray, FloatArray, list[tuple[Column, ...]]] | None = None
    rounds = 0
    for t in order:
        t = int(t)
        if best is not None and bounds[t] <= best[0] + tol:
            break
        value, lam, coverage, slack, duals, convex = _solve_target(game, pool, t)
        while price and np.isfinite(value):
            rounds += 1
            if rounds > _MAX_ROUNDS:
                raise InvalidInput("joint-patrol column generation did not converge", details={"target": t})
            gain, patrol = best_joint_patrol(game, -duals)
            if gain <= -convex + _RC_TOL * p.scale or patrol in seen:
                break
            pool.append(patrol)
            seen.add(patrol)
            value, lam, coverage, slack, duals, convex = _solve_target(game, pool, t)
        if not np.isfinite(value) or slack > 1e-7:
            continue
        if best is None or value > best[0] + tol:
            best = (value, t, lam, coverage, list(pool))
        if upper_bound is not None and best[0] >= upper_bound - 1e-9 * p.scale:
            break
    if best is None:
        raise InvalidInput("no target can be made the attacker's best response", details={"field": "payoffs"})
    value, attacked, lam, coverage, used = best
    keep = np.flatnonzero(lam > 1e-12)
    probs = lam[keep] / lam[keep].sum()
    mixture = PatrolMixture(
        probabilities=tuple(float(v) for v in probs),
        patrols=tuple(JointPatrol(columns=used[j]) for j in keep),
    )
    exact_cov = mixture.coverage(n)
    c_t = exact_cov[attacked]
    solution = GameSolution(
        coverage=exact_cov,
        attacked=attacked,
        defender_utility=value,
        attacker_utility=float(c_t * p.ua_covered[attacked] + (1 - c_t) * p.ua_uncovered[attacked]),
        method="joint-patrols-colgen" if price else "joint-patrols-listed",
        schedule_mix={"joint_patrols": len(keep), "pool": len(used), "rounds": rounds},
    )
    return solution, mixture
