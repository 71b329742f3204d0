"""Patrol plans from sections and agencies' units, baselines, and the adaptive-adversary simulation."""

from __future__ import annotations

import numpy as np
import pytest

from concord.domain.errors import InvalidInput
from concord.planning import (
    BorderSection,
    PatrolUnits,
    PayoffModel,
    baseline_samplers,
    best_response,
    plan_patrols,
    what_if_unit,
)
from concord.planning.validation import AdversaryModel, compare_strategies, simulate


def _sections() -> list[BorderSection]:
    levels = ["low", "medium", "high", "critical"]
    rng = np.random.default_rng(3)
    return [
        BorderSection(
            section_id=f"S{i}",
            impact=levels[int(rng.integers(0, 4))],
            incidents=int(rng.poisson(3)),
            terrain="river" if i % 7 == 0 else "land",
        )
        for i in range(24)
    ]


def _units() -> list[PatrolUnits]:
    return [
        PatrolUnits(agency="BP", name="foot", count=3, max_sections=3, terrains=frozenset({"land"})),
        PatrolUnits(agency="CG", name="boat", count=1, max_sections=2, terrains=frozenset({"river"})),
    ]


def test_payoff_model_by_hand() -> None:
    # critical (8) with the most incidents (4): value 8 * (1 + 1 * 4/4) = 16; low (1) with none: 1.
    sections = [
        BorderSection(section_id="a", impact="critical", incidents=4),
        BorderSection(section_id="b", impact="low", incidents=0),
    ]
    p = PayoffModel().payoffs(sections)
    assert p.ud_uncovered.tolist() == [-16.0, -1.0]
    assert p.ua_uncovered.tolist() == [16.0, 1.0]
    assert p.ua_covered.tolist() == [-8.0, -0.5]
    assert p.ud_covered.tolist() == pytest.approx([1.6, 0.1])


def test_plan_beats_baselines_and_is_fielded_exactly() -> None:
    plan = plan_patrols(_sections(), _units())
    assert plan.fielding.exact
    # What is fielded is what is evaluated: the coverage of the mixture of real patrols.
    assert plan.utilities["game"] == pytest.approx(
        best_response(plan.game.payoffs, plan.fielding.coverage)[1]
    )
    assert plan.utilities["game"] <= plan.utilities["game_lp_bound"] + 1e-9
    assert plan.utilities["game"] > plan.utilities["uniform"]
    assert plan.utilities["game"] > plan.utilities["incident_proportional"]
    shift = plan.draw_shift(np.random.default_rng(1))
    assert len(shift) == 4
    land = {s.section_id for s in _sections() if s.terrain == "land"}
    for entry in shift:
        if entry["unit"].startswith("foot"):
            assert set(entry["sections"]) <= land
            assert len(entry["sections"]) <= 3
    doc = plan.to_dict()
    assert set(doc["coverage"]) == {"game", "uniform", "incident_proportional"}


def test_plan_rejects_empty_inputs() -> None:
    with pytest.raises(InvalidInput):
        plan_patrols([], _units())
    with pytest.raises(InvalidInput):
        plan_patrols(_sections(), [])
    with pytest.raises(InvalidInput):
        BorderSection(section_id="x", impact="extreme")


def test_baseline_coverage_matches_its_sampler() -> None:
    plan = plan_patrols(_sections(), _units())
    incidents = np.array([s.incidents for s in _sections()], dtype=np.float64)
    rng = np.random.default_rng(0)
    for coverage, sampler in baseline_samplers(plan.game, incidents).values():
        draws = np.mean([sampler(rng) for _ in range(3000)], axis=0)
        assert np.max(np.abs(draws - coverage)) < 0.05


def test_what_if_adding_a_unit_never_hurts_the_bound() -> None:
    extra = PatrolUnits(agency="BP", name="car", count=1, max_sections=4, terrains=frozenset({"land"}))
    out = what_if_unit(_sections(), _units(), add=extra)
    assert set(out) >= {"defender_utility_before", "defender_utility_after"}


def test_simulation_against_adaptive_adversary() -> None:
    plan = plan_patrols(_sections(), _units())
    n = len(plan.sections)
    incidents = np.array([s.incidents for s in plan.sections], dtype=np.float64)
    samplers = {"game": lambda r: plan.fielding.sample(r).covered(n)}
    samplers.update({k: v[1] for k, v in baseline_samplers(plan.game, incidents).items()})
    scores = compare_strategies(plan.game.payoffs, samplers, seeds=8, shifts=120)
    game = scores["game"].defender_utility
    for name in ("uniform", "incident_proportional"):
        assert game.low > scores[name].defender_utility.high
    for score in scores.values():
        assert 0 <= score.detection_rate.mean <= 1


def test_simulate_deterministic_and_detects_full_cover() -> None:
    plan = plan_patrols(_sections(), _units())
    p = plan.game.payoffs
    n = p.n_targets
    always = simulate(p, lambda r: np.ones(n, dtype=bool), shifts=20, seed=1)
    assert always[0] == 1.0
    never = simulate(p, lambda r: np.zeros(n, dtype=bool), shifts=20, seed=1)
    assert never[0] == 0.0
    # Nothing patrolled: the adversary learns and crosses at the highest-value section every time.
    assert never[1] == pytest.approx(float(p.ud_uncovered.min()))
    with pytest.raises(InvalidInput):
        AdversaryModel(memory_shifts=0)


def _three_kinds() -> tuple[list[BorderSection], list[PatrolUnits]]:
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
    return sections, units


def test_three_unit_types_fielded_exactly_at_the_lp_value() -> None:
    # Foot, boat and vehicles share the border; the per-unit LP's mix for this layout cannot be drawn
    # as whole patrols, so the plan is re-solved over joint patrols and must still reach the LP value.
    sections, units = _three_kinds()
    plan = plan_patrols(sections, units)
    assert plan.fielding.exact
    assert plan.utilities["game"] == pytest.approx(plan.utilities["game_lp_bound"], abs=1e-6)
    by_agency = plan.to_dict()["coverage_by_agency"]
    total = np.sum(list(by_agency.values()), axis=0)
    assert total == pytest.approx(plan.fielding.coverage, abs=1e-5)


def test_exclusive_sections_when_joint_search_is_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    def too_large(*args: object, **kwargs: object) -> None:
        raise InvalidInput("too many unit combinations for joint patrols")

    monkeypatch.setattr("concord.planning._patrols.solve_joint_game", too_large)
    sections, units = _three_kinds()
    plan = plan_patrols(sections, units)
    # Each section now belongs to one kind, so drawing kinds independently is exact.
    assert plan.fielding.exact
    assert plan.utilities["game"] <= plan.utilities["game_lp_bound"] + 1e-9
    assert plan.utilities["game"] > plan.utilities["uniform"]
    owners = [
        {r for r, u in enumerate(plan.fielded_game.unit_types) if u.workable is not None and u.workable[t]}
        for t in range(len(sections))
    ]
    assert all(len(o) <= 1 for o in owners)
