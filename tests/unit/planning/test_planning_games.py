"""Security-game solvers: hand-solved games, and ORIGAMI, multiple LPs and the MILP agreeing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from concord.domain.errors import InvalidInput
from concord.planning import (
    Payoffs,
    best_response,
    game_from_dict,
    solve_game,
    solve_milp,
    solve_multiple_lps,
    solve_origami,
)


def _game_2x1() -> Payoffs:
    return Payoffs.from_lists([0, 0], [-2, -1], [-1, -1], [2, 1])


def test_two_targets_one_resource_by_hand() -> None:
    # Ud_c = [0, 0], Ud_u = [-2, -1], Ua_c = [-1, -1], Ua_u = [2, 1], R = 1.
    # Attacker utility: t0: 2 - 3 c0, t1: 1 - 2 c1, and c0 + c1 = 1.
    # Both in the attack set: 2 - 3 c0 = 1 - 2 (1 - c0)  ->  c0 = 3/5, c1 = 2/5, attacker gets 0.2.
    # Defender: t0 gives -2 * (1 - 0.6) = -0.8, t1 gives -1 * (1 - 0.4) = -0.6; the tie goes to the
    # defender, so the attacker hits t1 and the defender gets -0.6.
    for solution in (solve_origami(_game_2x1(), 1.0), solve_multiple_lps(_game_2x1(), 1.0)):
        assert solution.coverage == pytest.approx([0.6, 0.4], abs=1e-9)
        assert solution.attacked == 1
        assert solution.defender_utility == pytest.approx(-0.6, abs=1e-9)
        assert solution.attacker_utility == pytest.approx(0.2, abs=1e-9)
    milp = solve_milp(_game_2x1(), 1.0)
    assert milp.optimal and milp.solution is not None
    assert milp.solution.defender_utility == pytest.approx(-0.6, abs=1e-7)


def test_one_target_dominates_by_hand() -> None:
    # Ua_u = [10, 1], Ua_c = [0, 0], Ud = covered 0 / uncovered [-10, -1], R = 0.5.
    # Holding t0 down to t1's value 1 needs c0 = 0.9 > R, so only t0 is attacked: c0 = 0.5,
    # attacker gets 10 - 10 * 0.5 = 5 and the defender -10 * 0.5 = -5.
    p = Payoffs.from_lists([0, 0], [-10, -1], [0, 0], [10, 1])
    sol = solve_origami(p, 0.5)
    assert sol.coverage == pytest.approx([0.5, 0.0])
    assert sol.attacked == 0
    assert sol.defender_utility == pytest.approx(-5.0)
    assert solve_multiple_lps(p, 0.5).defender_utility == pytest.approx(-5.0)


def test_floor_reached_with_spare_resources() -> None:
    # Three targets, R = 5 > T. The attacker can always get max Ua_c = -1 (at t1, fully covered).
    # Holding t0 at -1 needs c0 = (1 + 1) / 3 = 2/3 (defender there: -1 + 3 * 2/3 = 1), t2 needs
    # c2 = (1 + 1) / 4 = 1/2 (defender: -1 + 4 / 2 = 1), t1 gives Ud_c = 1: the value is 1 whichever
    # is hit. Spare units then cover the targets not attacked, so all stay at or below -1.
    p = Payoffs.from_lists([2, 1, 3], [-1, -1, -1], [-2, -1, -3], [1, 1, 1])
    sol = solve_origami(p, 5.0)
    assert sol.defender_utility == pytest.approx(1.0)
    assert sol.attacker_utility == pytest.approx(-1.0)
    assert sol.coverage.sum() <= 5.0
    assert best_response(p, sol.coverage)[1] == pytest.approx(1.0)
    assert solve_multiple_lps(p, 5.0).defender_utility == pytest.approx(1.0)


def test_zero_resources_attacker_takes_best_uncovered() -> None:
    p = Payoffs.from_lists([0, 0, 0], [-1, -5, -2], [-1, -1, -1], [3, 3, 1])
    sol = solve_origami(p, 0.0)
    # Ties between t0 and t1 (both 3) go to the defender: t0 costs it -1 rather than -5.
    assert sol.attacked == 0
    assert sol.defender_utility == pytest.approx(-1.0)
    assert best_response(p, sol.coverage)[0] == 0


def test_target_coverage_cannot_move() -> None:
    # t0 has Ua_c == Ua_u == 5: its attacker value never moves, so it is always attacked and every
    # spare unit should sit on it: c0 = 1, defender gets Ud_c[0] = 0.
    p = Payoffs.from_lists([0, 0], [-4, -1], [5, 0], [5, 1])
    sol = solve_origami(p, 1.0)
    assert sol.attacked == 0
    assert sol.coverage[0] == pytest.approx(1.0)
    assert sol.defender_utility == pytest.approx(0.0)
    assert solve_multiple_lps(p, 1.0).defender_utility == pytest.approx(0.0)


payoff = st.integers(min_value=-10, max_value=10).map(float)


@st.composite
def games(draw: st.DrawFn) -> tuple[Payoffs, float]:
    n = draw(st.integers(min_value=1, max_value=6))
    rows = []
    for _ in range(n):
        ud_u = draw(payoff)
        ud_c = ud_u + draw(st.integers(0, 10))
        ua_c = draw(payoff)
        ua_u = ua_c + draw(st.integers(0, 10))
        rows.append((ud_c, ud_u, ua_c, ua_u))
    arr = np.array(rows, dtype=np.float64)
    resources = draw(st.one_of(st.integers(0, n + 1).map(float), st.floats(0, n, allow_nan=False)))
    return Payoffs.from_lists(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]), resources


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(games())
def test_origami_lp_milp_agree(game: tuple[Payoffs, float]) -> None:
    payoffs, resources = game
    origami = solve_origami(payoffs, resources)
    lps = solve_multiple_lps(payoffs, resources)
    milp = solve_milp(payoffs, resources)
    assert milp.optimal and milp.solution is not None
    assert origami.defender_utility == pytest.approx(lps.defender_utility, abs=1e-6)
    assert origami.defender_utility == pytest.approx(milp.solution.defender_utility, abs=1e-6)
    # ORIGAMI's coverage is feasible and really yields its value against the best response.
    assert origami.coverage.sum() <= resources + 1e-9
    assert np.all((origami.coverage >= 0) & (origami.coverage <= 1))
    assert best_response(payoffs, origami.coverage)[1] >= origami.defender_utility - 1e-6


def test_general_payoffs_use_lp() -> None:
    data = {
        "targets": 2,
        "resources": 1,
        # Covering t0 hurts the defender here (Ud_c < Ud_u): outside the security-game model.
        "payoffs": {"Ud_c": [-3, 0], "Ud_u": [-1, -1], "Ua_c": [-1, -1], "Ua_u": [2, 1]},
    }
    with pytest.raises(InvalidInput, match="Ud_c < Ud_u"):
        game_from_dict(data)
    game = game_from_dict(data, allow_general_payoffs=True)
    sol = solve_game(game)
    assert sol.method == "multiple-lps"
    milp = solve_milp(game.payoffs, 1.0)
    assert milp.solution is not None
    assert sol.defender_utility == pytest.approx(milp.solution.defender_utility, abs=1e-6)


def test_solve_game_with_lp_check() -> None:
    game = game_from_dict(
        {
            "targets": 2,
            "resources": 1,
            "payoffs": {"Ud_c": [0, 0], "Ud_u": [-2, -1], "Ua_c": [-1, -1], "Ua_u": [2, 1]},
        }
    )
    sol = solve_game(game, verify_with_lp=True)
    assert sol.to_dict()["defender_utility"] == pytest.approx(-0.6)


def test_large_game_is_fast_and_matches_lp_on_attack_set() -> None:
    rng = np.random.default_rng(7)
    n = 1000
    p = Payoffs.from_lists(
        rng.uniform(0, 10, n), rng.uniform(-10, 0, n), rng.uniform(-10, 0, n), rng.uniform(0, 10, n)
    )
    sol = solve_origami(p, 100.0)
    assert sol.coverage.sum() == pytest.approx(100.0)
    assert best_response(p, sol.coverage)[1] == pytest.approx(sol.defender_utility, abs=1e-9)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "$"),
        ({"targets": 2, "resources": 1}, "payoffs"),
        ({"targets": 0, "resources": 1, "payoffs": {}}, "targets"),
        ({"targets": True, "resources": 1, "payoffs": {}}, "targets"),
        ({"targets": 10**9, "resources": 1, "payoffs": {}}, "targets"),
        ({"targets": 1, "resources": -1, "payoffs": {}}, "resources"),
        ({"targets": 1, "resources": float("inf"), "payoffs": {}}, "resources"),
        ({"targets": 1, "resources": "1", "payoffs": {}}, "resources"),
        (
            {
                "targets": 2,
                "resources": 1,
                "payoffs": {"Ud_c": [0], "Ud_u": [0, 0], "Ua_c": [0, 0], "Ua_u": [0, 0]},
            },
            "payoffs.Ud_c",
        ),
        (
            {
                "targets": 1,
                "resources": 1,
                "payoffs": {"Ud_c": [float("nan")], "Ud_u": [0], "Ua_c": [0], "Ua_u": [0]},
            },
            "payoffs.Ud_c",
        ),
        (
            {"targets": 1, "resources": 1, "payoffs": {"Ud_c": ["x"], "Ud_u": [0], "Ua_c": [0], "Ua_u": [0]}},
            "payoffs.Ud_c",
        ),
        (
            {
                "targets": 1,
                "resources": 1,
                "payoffs": {"Ud_c": [1e300], "Ud_u": [0], "Ua_c": [0], "Ua_u": [0]},
            },
            "payoffs.Ud_c",
        ),
        (
            {"targets": 1, "resources": 1, "payoffs": {"Ud_c": [0], "Ud_u": [0], "Ua_c": [2], "Ua_u": [1]}},
            "payoffs.Ua_c",
        ),
        (
            {
                "targets": 2,
                "resources": 1,
                "payoffs": {"Ud_c": [0, 0], "Ud_u": [0, 0], "Ua_c": [0, 0], "Ua_u": [0, 0]},
                "schedules": [[0, 2]],
            },
            "schedules",
        ),
        (
            {
                "targets": 2,
                "resources": 1,
                "payoffs": {"Ud_c": [0, 0], "Ud_u": [0, 0], "Ua_c": [0, 0], "Ua_u": [0, 0]},
                "schedules": [[]],
            },
            "schedules",
        ),
        ({"targets": 1, "resources": 1, "payoffs": {}, "extra": 1}, "extra"),
    ],
)
def test_game_validation(data: object, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        game_from_dict(data)
    assert info.value.details["field"] == field


def test_schedule_game_file() -> None:
    # Two targets, one resource whose only schedule covers both: c = (1, 1), attacker hits the one
    # with the higher covered value (Ua_c = -1 vs -2 -> t0), defender gets Ud_c[0] = 1.
    game = game_from_dict(
        {
            "targets": 2,
            "resources": 1,
            "payoffs": {"Ud_c": [1, 2], "Ud_u": [-1, -1], "Ua_c": [-1, -2], "Ua_u": [1, 1]},
            "schedules": [[0, 1]],
        }
    )
    sol = solve_game(game)
    assert sol.coverage == pytest.approx([1.0, 1.0])
    assert sol.attacked == 0
    assert sol.defender_utility == pytest.approx(1.0)
