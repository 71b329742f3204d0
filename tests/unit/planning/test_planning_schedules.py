"""Schedule games: pricing, listed LP vs column generation vs MILP, and exact fielding of coverage."""

from __future__ import annotations

import itertools
from typing import Any, Literal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from concord.domain.errors import InvalidInput
from concord.planning import (
    Payoffs,
    ScheduleGame,
    UnitType,
    best_joint_patrol,
    best_stretches,
    comb_distribution,
    comb_sample,
    decompose_by_type,
    decompose_schedule_mix,
    enumerate_joint_patrols,
    list_columns,
    solve_joint_game,
    solve_milp,
    solve_schedule_game,
)
from concord.planning._schedules import Column


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=12),
    st.lists(st.booleans(), min_size=12, max_size=12),
    st.integers(1, 5),
)
def test_best_stretch_is_exact(weights: list[int], ok: list[bool], k: int) -> None:
    w = np.array(weights, dtype=np.float64)
    mask = np.array(ok[: len(weights)])
    brute = -np.inf
    for a in range(len(w)):
        for b in range(a + 1, min(len(w), a + k) + 1):
            if mask[a:b].all():
                brute = max(brute, float(w[a:b].sum()))
    found = best_stretches(w, mask, k, threshold=-np.inf)
    if brute == -np.inf:
        assert found == []
    else:
        value, start, end = found[0]
        assert value == pytest.approx(brute)
        assert 1 <= end - start <= k and mask[start:end].all()
        assert float(w[start:end].sum()) == pytest.approx(value)


def _random_game(rng: np.random.Generator, n: int, types: int) -> ScheduleGame:
    p = Payoffs.from_lists(
        rng.uniform(0, 10, n), rng.uniform(-10, 0, n), rng.uniform(-10, 0, n), rng.uniform(0, 10, n)
    )
    unit_types = tuple(
        UnitType(
            name=f"u{r}",
            agency=f"A{r}",
            count=float(rng.integers(1, 3)),
            max_stretch=int(rng.integers(1, 4)),
            workable=tuple(bool(v) for v in rng.random(n) > 0.2),
        )
        for r in range(types)
    )
    return ScheduleGame(payoffs=p, unit_types=unit_types)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(2, 7))
def test_listed_colgen_and_milp_agree(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    game = _random_game(rng, n, 1)
    listed = solve_schedule_game(game, method="listed")
    colgen = solve_schedule_game(game, method="colgen")
    assert listed.defender_utility == pytest.approx(colgen.defender_utility, abs=1e-6)
    cols = list_columns(game)
    milp = solve_milp(game.payoffs, game.unit_types[0].count, schedules=tuple(c[1] for c in cols))
    assert milp.solution is not None and milp.optimal
    assert listed.defender_utility == pytest.approx(milp.solution.defender_utility, abs=1e-6)


def test_two_unit_types_listed_vs_colgen() -> None:
    rng = np.random.default_rng(11)
    for _ in range(5):
        game = _random_game(rng, 12, 2)
        listed = solve_schedule_game(game, method="listed")
        colgen = solve_schedule_game(game, method="colgen")
        assert listed.defender_utility == pytest.approx(colgen.defender_utility, abs=1e-6)


def test_hand_solved_stretch_game() -> None:
    # Three sections, one unit that covers a stretch of up to 2. Payoffs: Ud_c = 0, Ud_u = -1,
    # Ua_c = 0, Ua_u = 1 everywhere. Attacker value at t is 1 - c_t, so the defender maximises the
    # smallest coverage. Stretches {0,1} and {1,2} each with x = 1/2 give c = (1/2, 1, 1/2); no mix
    # does better since c_0 + c_2 <= 1 (no stretch covers both). Attacker gets 1/2 at 0 or 2;
    # defender -1/2.
    p = Payoffs.from_lists([0, 0, 0], [-1, -1, -1], [0, 0, 0], [1, 1, 1])
    game = ScheduleGame(payoffs=p, unit_types=(UnitType(name="car", agency="BP", count=1, max_stretch=2),))
    methods: tuple[Literal["listed", "colgen"], ...] = ("listed", "colgen")
    for method in methods:
        sol = solve_schedule_game(game, method=method)
        assert sol.defender_utility == pytest.approx(-0.5)
        assert sol.coverage[0] == pytest.approx(0.5)
        assert sol.coverage[2] == pytest.approx(0.5)


def _exact_coverage(
    columns: list[Column], x: np.ndarray[Any, Any], counts: np.ndarray[Any, Any], n: int
) -> np.ndarray[Any, Any]:
    mixture = decompose_schedule_mix(columns, x, counts, n)
    assert sum(mixture.probabilities) == pytest.approx(1.0)
    for patrol in mixture.patrols:
        seen = np.zeros(n)
        per_type = np.zeros(counts.shape[0])
        for typ, targets in patrol.columns:
            seen[list(targets)] += 1
            per_type[typ] += 1
        assert seen.max(initial=0) <= 1  # no section patrolled twice
        assert np.all(per_type <= counts)  # never more units than exist
    return mixture.coverage(n)


def test_decomposition_honours_coverage_exactly() -> None:
    rng = np.random.default_rng(5)
    for _ in range(10):
        game = _random_game(rng, int(rng.integers(3, 15)), 1)
        sol = solve_schedule_game(game)
        mix = sol.schedule_mix or {}
        cov = _exact_coverage(mix["columns"], np.asarray(mix["x"]), game.counts, game.payoffs.n_targets)
        assert cov == pytest.approx(sol.coverage, abs=1e-7)


def test_decomposition_refuses_what_cannot_be_fielded() -> None:
    # One unit, three schedules {0,1}, {1,2}, {0,2} each at x = 1/2: coverage is 1 everywhere, which
    # would need the unit on all three sections at once; no mixture of single schedules gives it
    # (each covers two, so the average covered count is 2 < 3).
    cols: list[tuple[int, tuple[int, ...]]] = [(0, (0, 1)), (0, (1, 2)), (0, (0, 2))]
    with pytest.raises(InvalidInput):
        decompose_schedule_mix(cols, np.array([0.5, 0.5, 0.5]), np.array([1.0]), 3)


def test_decompose_by_type_is_exact_or_says_so() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        game = _random_game(rng, 10, 2)
        sol = solve_schedule_game(game)
        mix = sol.schedule_mix or {}
        fielded = decompose_by_type(mix["columns"], np.asarray(mix["x"]), game.counts, 10)
        if fielded.exact:
            assert fielded.coverage == pytest.approx(sol.coverage, abs=1e-7)
        else:
            assert np.all(fielded.coverage <= sol.coverage + 1e-9)


def test_comb_distribution_exact_marginals() -> None:
    c = np.array([0.3, 0.9, 0.0, 0.55, 0.25, 1.0])
    dist = comb_distribution(c)
    assert sum(p for p, _ in dist) == pytest.approx(1.0)
    marg = np.zeros(c.size)
    for prob, picks in dist:
        marg[list(picks)] += prob
        assert len(picks) in (int(np.floor(c.sum())), int(np.ceil(c.sum())))
    assert marg == pytest.approx(c, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=10))
def test_comb_marginals_property(values: list[float]) -> None:
    c = np.array(values)
    marg = np.zeros(c.size)
    for prob, picks in comb_distribution(c):
        marg[list(picks)] += prob
    assert marg == pytest.approx(c, abs=1e-9)


def test_comb_sample_draws_from_distribution() -> None:
    c = np.array([0.5, 0.5, 1.0])
    rng = np.random.default_rng(0)
    allowed = {picks for _, picks in comb_distribution(c)}
    for _ in range(50):
        assert tuple(int(t) for t in comb_sample(c, rng)) in allowed


@pytest.mark.parametrize("bad", [[1.5], [-0.1], [float("nan")]])
def test_comb_rejects_bad_coverage(bad: list[float]) -> None:
    with pytest.raises(InvalidInput):
        comb_distribution(np.array(bad))


def test_unit_type_validation() -> None:
    with pytest.raises(InvalidInput):
        UnitType(name="x", agency="A", count=-1)
    with pytest.raises(InvalidInput):
        UnitType(name="x", agency="A", count=1, max_stretch=0)
    p = Payoffs.from_lists([0], [-1], [0], [1])
    with pytest.raises(InvalidInput):
        ScheduleGame(payoffs=p, unit_types=(UnitType(name="x", agency="A", count=1, workable=(True, False)),))


def test_listed_columns_respect_terrain() -> None:
    p = Payoffs.from_lists(*([np.zeros(4)] * 4))
    unit = UnitType(name="boat", agency="CG", count=1, max_stretch=3, workable=(True, True, False, True))
    cols = {c[1] for c in list_columns(ScheduleGame(payoffs=p, unit_types=(unit,)))}
    assert cols == {(0,), (1,), (0, 1), (3,)}
    assert all(2 not in c for c in itertools.chain(cols))


def _covered_weight(patrol: tuple[Column, ...], w: np.ndarray[Any, Any]) -> float:
    cov = np.zeros(w.size, dtype=bool)
    for _, targets in patrol:
        cov[list(targets)] = True
    return float(w[cov].sum())


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_joint_pricing_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 7))
    game = ScheduleGame(
        payoffs=Payoffs.from_lists(*([np.zeros(n)] * 4)),
        unit_types=(
            UnitType(
                name="a",
                agency="A",
                count=int(rng.integers(0, 3)),
                max_stretch=int(rng.integers(1, 4)),
                workable=tuple(bool(v) for v in rng.random(n) > 0.3),
            ),
            UnitType(name="b", agency="B", count=int(rng.integers(0, 2)), max_stretch=2),
        ),
    )
    w = rng.normal(size=n)
    patrols = enumerate_joint_patrols(game)
    brute = max(_covered_weight(p, w) for p in patrols)
    value, patrol = best_joint_patrol(game, w)
    assert value == pytest.approx(brute, abs=1e-9)
    assert _covered_weight(patrol, w) == pytest.approx(value, abs=1e-9)
    assert patrol in set(patrols)


def test_joint_game_colgen_matches_listed_and_is_fielded_exactly() -> None:
    rng = np.random.default_rng(21)
    for _ in range(6):
        game = _random_game(rng, int(rng.integers(2, 7)), 2)
        game = ScheduleGame(
            payoffs=game.payoffs,
            unit_types=tuple(
                UnitType(
                    name=u.name,
                    agency=u.agency,
                    count=u.count,
                    max_stretch=u.max_stretch,
                    workable=u.workable,
                )
                for u in game.unit_types
            ),
        )
        colgen, mixture = solve_joint_game(game)
        listed, _ = solve_joint_game(game, patrols=enumerate_joint_patrols(game), price=False)
        assert colgen.defender_utility == pytest.approx(listed.defender_utility, abs=1e-6)
        # Never better than the per-unit LP, which ignores how units combine.
        assert colgen.defender_utility <= solve_schedule_game(game).defender_utility + 1e-7
        assert sum(mixture.probabilities) == pytest.approx(1.0)
        assert mixture.coverage(game.payoffs.n_targets) == pytest.approx(colgen.coverage)
