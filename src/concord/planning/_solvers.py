"""Exact strong Stackelberg equilibria of security games without schedules.

Three solvers that must agree:

* ``solve_origami``: the ORIGAMI idea (Kiekintveld et al., AAMAS 2009) done in closed form. The defender
  pushes the attacker's best value u down as far as R resources allow: the coverage needed to hold
  target t at attacker value u is (Ua_u[t] - u) / (Ua_u[t] - Ua_c[t]), so the total needed, f(u), is
  piecewise linear and decreasing; u* = max(max_t Ua_c[t], f^-1(R)). Every target whose uncovered
  attacker value reaches u* is in the attack set and the attacker (ties to the defender) hits the one
  best for the defender. O(T log T); the fast path.
* ``solve_multiple_lps``: Conitzer and Sandholm's multiple LPs, one per candidate attacked target t:
  maximise Ud(t) subject to t being a best response, sum(c) <= R, 0 <= c <= 1 (HiGHS through
  scipy.optimize.linprog). Valid for any payoffs, also those outside the security-game model.
* ``solve_milp``: the DOBSS/ERASER mixed-integer program, the reference (HiGHS through highspy).
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import scipy.optimize as opt
import scipy.sparse as sp

from concord.domain.errors import InvalidInput
from concord.planning._game import (
    TIE_TOLERANCE,
    FloatArray,
    GameSolution,
    Payoffs,
    SecurityGame,
)

#: Largest game the optional multiple-LP cross-check runs on.
MAX_LP_CHECK_TARGETS = 5_000

__all__ = [
    "MAX_LP_CHECK_TARGETS",
    "MilpResult",
    "solve_game",
    "solve_milp",
    "solve_multiple_lps",
    "solve_origami",
]


def solve_origami(payoffs: Payoffs, resources: float) -> GameSolution:
    """The strong Stackelberg equilibrium of a game without schedules, in O(T log T).

    Requires the security-game payoff structure (Ud_c >= Ud_u, Ua_c <= Ua_u).
    """
    if not payoffs.satisfies_model():
        raise InvalidInput(
            "ORIGAMI needs Ud_c >= Ud_u and Ua_c <= Ua_u; use the multiple-LP solver for general payoffs",
            details={"field": "payoffs"},
        )
    n = payoffs.n_targets
    ua_u = payoffs.ua_uncovered
    ua_c = payoffs.ua_covered
    loss = payoffs.attacker_loss
    tol = TIE_TOLERANCE * payoffs.scale
    movable = loss > 0
    # The attacker gets at least Ua_c[t] at any target, however well covered.
    floor = float(np.max(ua_c))
    u_star = floor
    idx = np.flatnonzero(movable)
    if idx.size:
        order = idx[np.argsort(-ua_u[idx], kind="stable")]
        a = ua_u[order]
        inv = 1.0 / loss[order]
        s_cum = np.cumsum(a * inv)
        w_cum = np.cumsum(inv)
        next_a = np.append(a[1:], -np.inf)
        # Coverage needed when u sits at the next breakpoint, holding the first m+1 targets at u.
        needed_at_next = s_cum - next_a * w_cum
        m = int(np.argmax(needed_at_next >= resources))  # exists: the last entry is +inf
        u_solve = float((s_cum[m] - resources) / w_cum[m])
        u_star = max(floor, u_solve)
    coverage = np.zeros(n, dtype=np.float64)
    coverage[movable] = np.clip((ua_u[movable] - u_star) / loss[movable], 0.0, 1.0)
    leftover = max(0.0, resources - float(coverage.sum()))
    attack_set = np.flatnonzero(ua_u >= u_star - tol)
    values = payoffs.ud_uncovered[attack_set] + coverage[attack_set] * payoffs.defender_gain[attack_set]
    # A target coverage cannot move (Ua_c == Ua_u) stays a best response whatever its coverage, so any
    # leftover resources raise the defender's utility there.
    fixed = ~movable[attack_set]
    values = np.where(
        fixed,
        payoffs.ud_uncovered[attack_set] + min(1.0, leftover) * payoffs.defender_gain[attack_set],
        values,
    )
    best = int(np.argmax(values))
    attacked = int(attack_set[best])
    if not movable[attacked]:
        coverage[attacked] = min(1.0, leftover)
        leftover -= coverage[attacked]
    # Spend what is left on targets outside the attack set, then on the other attack-set targets: either
    # way they fall (or stay) below u*, so the equilibrium is unchanged and the spare units still deter.
    if leftover > 1e-12:
        outside = np.flatnonzero(ua_u < u_star - tol)
        outside = outside[np.argsort(-payoffs.defender_gain[outside], kind="stable")]
        inside = attack_set[attack_set != attacked]
        for t in np.concatenate([outside, inside]):
            add = min(1.0 - coverage[t], leftover)
            coverage[t] += add
            leftover -= add
            if leftover <= 1e-12:
                break
    defender_utility = float(values[best])
    attacker_utility = float(coverage[attacked] * ua_c[attacked] + (1 - coverage[attacked]) * ua_u[attacked])
    return GameSolution(
        coverage=coverage,
        attacked=attacked,
        defender_utility=defender_utility,
        attacker_utility=attacker_utility,
        method="origami",
    )


def _upper_bounds(payoffs: Payoffs, max_cover: float) -> FloatArray:
    gain = payoffs.defender_gain
    return payoffs.ud_uncovered + np.maximum(gain, 0.0) * min(1.0, max_cover)


def solve_multiple_lps(payoffs: Payoffs, resources: float) -> GameSolution:
    """The strong Stackelberg equilibrium by one LP per candidate attacked target (any payoffs).

    Targets are tried in decreasing order of an upper bound on their LP value and the search stops
    once no remaining target can beat the best found, so the answer is exact.
    """
    n = payoffs.n_targets
    tol = TIE_TOLERANCE * payoffs.scale
    ua_u = payoffs.ua_uncovered
    loss = payoffs.attacker_loss
    bounds = _upper_bounds(payoffs, resources)
    order = np.argsort(-bounds, kind="stable")
    best_value = -np.inf
    best_cov: FloatArray | None = None
    best_t = -1
    for t in order:
        t = int(t)
        if bounds[t] <= best_value + tol:
            break
        others = np.delete(np.arange(n), t)
        rows = np.arange(n - 1)
        # Ua(t') <= Ua(t):  loss[t] c_t - loss[t'] c_t' <= Ua_u[t] - Ua_u[t']
        data = np.concatenate([np.full(n - 1, loss[t]), -loss[others]])
        a_br = sp.csr_matrix(
            (data, (np.concatenate([rows, rows]), np.concatenate([np.full(n - 1, t), others]))),
            shape=(n - 1, n),
        )
        a_res = sp.csr_matrix(np.ones((1, n)))
        a_ub = sp.vstack([a_br, a_res], format="csr")
        b_ub = np.concatenate([ua_u[t] - ua_u[others], [resources]])
        cost = np.zeros(n)
        cost[t] = -payoffs.defender_gain[t]
        res = opt.linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=(0.0, 1.0), method="highs")
        if res.status != 0:
            continue  # t cannot be made a best response
        value = float(payoffs.ud_uncovered[t] - res.fun)
        if value > best_value + tol:
            best_value, best_cov, best_t = value, np.clip(res.x, 0.0, 1.0), t
    if best_cov is None:
        raise InvalidInput("the game has no feasible attacked target", details={"field": "payoffs"})
    c_t = best_cov[best_t]
    attacker_utility = float(c_t * payoffs.ua_covered[best_t] + (1 - c_t) * ua_u[best_t])
    return GameSolution(
        coverage=best_cov,
        attacked=best_t,
        defender_utility=best_value,
        attacker_utility=attacker_utility,
        method="multiple-lps",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class MilpResult:
    """Outcome of the mixed-integer reference: solution (if any), whether proven optimal, HiGHS status."""

    solution: GameSolution | None
    optimal: bool
    mip_gap: float | None
    message: str


def solve_milp(
    payoffs: Payoffs,
    resources: float,
    *,
    schedules: tuple[tuple[int, ...], ...] | None = None,
    time_limit_s: float | None = None,
) -> MilpResult:
    """The DOBSS/ERASER(-C) mixed-integer program for one attacker type, solved by HiGHS (highspy).

    Variables: coverage c, attack indicator a (binary), defender value d, attacker value k and, with
    schedules, the expected number x_s of resources on each schedule (c_t = sum_{s contains t} x_s).
    """
    n = payoffs.n_targets
    n_sched = len(schedules) if schedules is not None else 0
    gain = payoffs.defender_gain
    loss = payoffs.attacker_loss
    big_d = (
        float(
            max(payoffs.ud_covered.max(), payoffs.ud_uncovered.max())
            - min(payoffs.ud_covered.min(), payoffs.ud_uncovered.min())
        )
        + 1.0
    )
    big_a = (
        float(
            max(payoffs.ua_covered.max(), payoffs.ua_uncovered.max())
            - min(payoffs.ua_covered.min(), payoffs.ua_uncovered.min())
        )
        + 1.0
    )
    # Column layout: [x (n_sched) | c (n) | a (n) | d | k]
    ox, oc, oa, od, ok = 0, n_sched, n_sched + n, n_sched + 2 * n, n_sched + 2 * n + 1
    n_var = ok + 1
    rows: list[sp.csr_matrix] = []
    lo: list[FloatArray] = []
    hi: list[FloatArray] = []
    eye = sp.identity(n, format="csr")

    def block(parts: dict[int, sp.spmatrix], n_rows: int) -> sp.csr_matrix:
        mats = []
        cursor = 0
        for start in sorted(parts):
            if start > cursor:
                mats.append(sp.csr_matrix((n_rows, start - cursor)))
            m = parts[start]
            mats.append(m)
            cursor = start + m.shape[1]
        if cursor < n_var:
            mats.append(sp.csr_matrix((n_rows, n_var - cursor)))
        return sp.hstack(mats, format="csr")

    # sum a = 1
    rows.append(block({oa: sp.csr_matrix(np.ones((1, n)))}, 1))
    lo.append(np.array([1.0]))
    hi.append(np.array([1.0]))
    if schedules is not None:
        # An empty schedule list means no unit can cover anything.
        # sum x <= R and c = A x
        rows.append(block({ox: sp.csr_matrix(np.ones((1, n_sched)))}, 1))
        lo.append(np.array([-np.inf]))
        hi.append(np.array([resources]))
        r_idx = np.asarray([t for s in schedules for t in s], dtype=np.int64)
        c_idx = np.repeat(np.arange(n_sched), [len(s) for s in schedules]).astype(np.int64)
        incidence = sp.csr_matrix((np.ones(r_idx.size), (r_idx, c_idx)), shape=(n, n_sched))
        rows.append(block({ox: -incidence, oc: eye}, n))
        lo.append(np.zeros(n))
        hi.append(np.zeros(n))
    else:
        rows.append(block({oc: sp.csr_matrix(np.ones((1, n)))}, 1))
        lo.append(np.array([-np.inf]))
        hi.append(np.array([resources]))
    ones_col = sp.csr_matrix(np.ones((n, 1)))
    # d <= Ud_u + gain c + M_d (1 - a)   ->   d - gain c + M_d a <= Ud_u + M_d
    rows.append(block({oc: sp.diags(-gain, format="csr"), oa: big_d * eye, od: ones_col}, n))
    lo.append(np.full(n, -np.inf))
    hi.append(payoffs.ud_uncovered + big_d)
    # 0 <= k - (Ua_u - loss c) <= M_a (1 - a)
    rows.append(block({oc: sp.diags(loss, format="csr"), ok: ones_col}, n))
    lo.append(payoffs.ua_uncovered.copy())
    hi.append(np.full(n, np.inf))
    rows.append(block({oc: sp.diags(loss, format="csr"), oa: big_a * eye, ok: ones_col}, n))
    lo.append(np.full(n, -np.inf))
    hi.append(payoffs.ua_uncovered + big_a)
    matrix = sp.vstack(rows, format="csr")
    cost = np.zeros(n_var)
    cost[od] = -1.0
    lower = np.zeros(n_var)
    upper = np.ones(n_var)
    if n_sched:
        upper[ox : ox + n_sched] = highspy.kHighsInf
    lower[od], upper[od] = -highspy.kHighsInf, highspy.kHighsInf
    lower[ok], upper[ok] = -highspy.kHighsInf, highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = n_var
    lp.num_row_ = matrix.shape[0]
    lp.col_cost_ = cost
    lp.col_lower_ = lower
    lp.col_upper_ = upper
    lp.row_lower_ = np.maximum(np.concatenate(lo), -highspy.kHighsInf)
    lp.row_upper_ = np.minimum(np.concatenate(hi), highspy.kHighsInf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = n_var
    lp.a_matrix_.num_row_ = matrix.shape[0]
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(np.float64)
    kinds = [highspy.HighsVarType.kContinuous] * n_var
    for j in range(oa, oa + n):
        kinds[j] = highspy.HighsVarType.kInteger
    lp.integrality_ = kinds
    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    highs.setOptionValue("output_flag", False)
    # Tight gaps: the reference must be exact to far better than the 1e-6 it is compared at.
    highs.setOptionValue("mip_rel_gap", 1e-9)
    highs.setOptionValue("mip_abs_gap", 1e-9)
    highs.setOptionValue("mip_feasibility_tolerance", 1e-9)
    if time_limit_s is not None:
        highs.setOptionValue("time_limit", float(time_limit_s))
    highs.passModel(lp)
    highs.run()
    status = highs.getModelStatus()
    info = highs.getInfo()
    message = highs.modelStatusToString(status)
    if info.primal_solution_status != highspy.kSolutionStatusFeasible:
        return MilpResult(solution=None, optimal=False, mip_gap=None, message=message)
    values = np.asarray(highs.getSolution().col_value, dtype=np.float64)
    coverage = np.clip(values[oc : oc + n], 0.0, 1.0)
    attacked = int(np.argmax(values[oa : oa + n]))
    c_t = coverage[attacked]
    solution = GameSolution(
        coverage=coverage,
        attacked=attacked,
        defender_utility=float(values[od]),
        attacker_utility=float(
            c_t * payoffs.ua_covered[attacked] + (1 - c_t) * payoffs.ua_uncovered[attacked]
        ),
        method="milp",
    )
    return MilpResult(
        solution=solution,
        optimal=status == highspy.HighsModelStatus.kOptimal,
        mip_gap=float(info.mip_gap),
        message=message,
    )


def solve_game(game: SecurityGame, *, verify_with_lp: bool = False) -> GameSolution:
    """Solve a game file's game: ORIGAMI without schedules, the schedule LP with them.

    Payoffs outside the security-game model are solved by multiple LPs. ``verify_with_lp`` re-solves a
    schedule-free game by multiple LPs and raises if the two disagree by more than 1e-6.
    """
    if game.schedules is not None:
        from concord.planning._schedules import ScheduleGame, UnitType, solve_schedule_game

        unit = UnitType(name="unit", agency="joint", count=game.resources, schedules=game.schedules)
        return solve_schedule_game(ScheduleGame(payoffs=game.payoffs, unit_types=(unit,)), method="listed")
    if not game.payoffs.satisfies_model():
        return solve_multiple_lps(game.payoffs, game.resources)
    solution = solve_origami(game.payoffs, game.resources)
    if verify_with_lp and game.n_targets > MAX_LP_CHECK_TARGETS:
        raise InvalidInput(
            f"the LP check is limited to {MAX_LP_CHECK_TARGETS} targets (one LP per target)",
            details={"field": "targets"},
        )
    if verify_with_lp:
        check = solve_multiple_lps(game.payoffs, game.resources)
        if abs(check.defender_utility - solution.defender_utility) > 1e-6 * game.payoffs.scale:
            raise InvalidInput(
                "ORIGAMI and the LP disagree; the game is numerically ill-conditioned",
                details={"origami": solution.defender_utility, "lp": check.defender_utility},
            )
    return solution
