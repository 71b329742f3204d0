"""Patrol plans for border sections: payoffs from impact and history, the game, shifts and baselines."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from concord.domain.errors import InvalidInput
from concord.planning._game import FloatArray, GameSolution, Payoffs, best_response
from concord.planning._joint import solve_joint_game
from concord.planning._sampling import JointPatrol, TypedMixture, decompose_by_type
from concord.planning._schedules import ScheduleGame, UnitType, list_columns, solve_schedule_game

__all__ = [
    "IMPACT_VALUES",
    "BorderSection",
    "PatrolPlan",
    "PatrolUnits",
    "PayoffModel",
    "baseline_samplers",
    "plan_patrols",
    "what_if_unit",
]

#: Relative value of a section by its EUROSUR border-section impact level.
IMPACT_VALUES: Mapping[str, float] = {"low": 1.0, "medium": 2.0, "high": 4.0, "critical": 8.0}

BoolArray = np.ndarray[tuple[int], np.dtype[np.bool_]]
Sampler = Callable[[np.random.Generator], BoolArray]


@dataclass(frozen=True, slots=True, kw_only=True)
class BorderSection:
    """One border section (or crossing point, or port), in order along the border."""

    section_id: str
    impact: str
    incidents: int = 0
    terrain: str = "land"

    def __post_init__(self) -> None:
        if self.impact not in IMPACT_VALUES:
            raise InvalidInput(
                f"section {self.section_id}: impact must be one of {sorted(IMPACT_VALUES)}",
                details={"field": "impact", "section": self.section_id},
            )
        if self.incidents < 0:
            raise InvalidInput(
                f"section {self.section_id}: incidents must be >= 0",
                details={"field": "incidents", "section": self.section_id},
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class PayoffModel:
    """How payoffs follow from impact and history; every weight is editable.

    value_t = impact_value * (1 + history_weight * incidents_t / max incidents)
    Ud_u = -value, Ud_c = interdiction_gain * value, Ua_u = value, Ua_c = -attacker_penalty * value.
    """

    impact_values: Mapping[str, float] = field(default_factory=lambda: dict(IMPACT_VALUES))
    history_weight: float = 1.0
    attacker_penalty: float = 0.5
    interdiction_gain: float = 0.1

    def payoffs(self, sections: Sequence[BorderSection]) -> Payoffs:
        """Payoffs for the sections, in order."""
        if self.history_weight < 0 or self.attacker_penalty < 0 or self.interdiction_gain < 0:
            raise InvalidInput("payoff model weights must be >= 0", details={"field": "payoff_model"})
        incidents = np.array([s.incidents for s in sections], dtype=np.float64)
        scale = max(1.0, float(incidents.max(initial=0.0)))
        base = np.array([self.impact_values[s.impact] for s in sections], dtype=np.float64)
        value = base * (1.0 + self.history_weight * incidents / scale)
        return Payoffs(
            ud_covered=self.interdiction_gain * value,
            ud_uncovered=-value,
            ua_covered=-self.attacker_penalty * value,
            ua_uncovered=value.copy(),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PatrolUnits:
    """One agency's units of one kind: how many, how many sections a shift, which terrain."""

    agency: str
    name: str
    count: int
    max_sections: int = 1
    terrains: frozenset[str] = frozenset({"land"})


@dataclass(frozen=True, slots=True, kw_only=True)
class PatrolPlan:
    """The equilibrium plan, how to field it, and what the baselines would give.

    ``game`` is the patrol game as posed; ``fielded_game`` is the one actually solved for fielding (the
    same, or, in the rare case the joint-patrol solve is too large, with each section given to one unit
    type).
    """

    sections: tuple[BorderSection, ...]
    units: tuple[PatrolUnits, ...]
    game: ScheduleGame
    fielded_game: ScheduleGame
    solution: GameSolution
    fielding: TypedMixture
    utilities: dict[str, float]
    coverages: dict[str, FloatArray]

    def draw_shift(self, rng: np.random.Generator) -> list[dict[str, Any]]:
        """One shift's concrete assignments: for every unit, its stretch of sections (or standby)."""
        patrol = self.fielding.sample(rng)
        return self.assignments(patrol)

    def assignments(self, patrol: JointPatrol) -> list[dict[str, Any]]:
        """Per-unit assignments of a joint patrol, agency by agency."""
        out: list[dict[str, Any]] = []
        for r, unit in enumerate(self.units):
            stretches = [targets for typ, targets in patrol.columns if typ == r]
            for i in range(unit.count):
                entry: dict[str, Any] = {"agency": unit.agency, "unit": f"{unit.name}-{i + 1}"}
                if i < len(stretches):
                    entry["sections"] = [self.sections[t].section_id for t in stretches[i]]
                else:
                    entry["sections"] = []
                out.append(entry)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: coverage per section, attacked section, utilities beside baselines."""
        ids = [s.section_id for s in self.sections]
        per_agency: dict[str, list[float]] = {}
        for mixture in self.fielding.mixtures:
            for prob, patrol in zip(mixture.probabilities, mixture.patrols, strict=True):
                for typ, targets in patrol.columns:
                    row = per_agency.setdefault(self.units[typ].agency, [0.0] * len(ids))
                    for t in targets:
                        row[t] += prob
        return {
            "sections": ids,
            "coverage": {name: [round(float(v), 6) for v in c] for name, c in self.coverages.items()},
            "coverage_by_agency": {a: [round(v, 6) for v in row] for a, row in per_agency.items()},
            "attacked": ids[self.solution.attacked],
            "defender_utility": self.utilities,
            "fielding_exact": self.fielding.exact,
            "joint_patrols": sum(len(m.patrols) for m in self.fielding.mixtures),
        }


def _game_for(
    sections: Sequence[BorderSection], units: Sequence[PatrolUnits], model: PayoffModel
) -> ScheduleGame:
    types = tuple(
        UnitType(
            name=u.name,
            agency=u.agency,
            count=float(u.count),
            max_stretch=u.max_sections,
            workable=tuple(s.terrain in u.terrains for s in sections),
        )
        for u in units
    )
    return ScheduleGame(payoffs=model.payoffs(sections), unit_types=types)


def _independent_coverage(game: ScheduleGame, weight: Callable[[tuple[int, ...]], float]) -> FloatArray:
    """Coverage when every unit picks its own stretch at random, with probability proportional to weight."""
    n = game.payoffs.n_targets
    miss = np.ones(n)
    cols = list_columns(game)
    for r, unit in enumerate(game.unit_types):
        own = [c[1] for c in cols if c[0] == r]
        if not own or unit.count <= 0:
            continue
        w = np.array([weight(s) for s in own], dtype=np.float64)
        p = np.zeros(n)
        for share, targets in zip(w / w.sum(), own, strict=True):
            p[list(targets)] += share
        miss *= (1.0 - p) ** unit.count
    return 1.0 - miss


def baseline_samplers(game: ScheduleGame, incidents: FloatArray) -> dict[str, tuple[FloatArray, Sampler]]:
    """The two baselines, as exact coverage and as a shift sampler.

    uniform: every unit picks a workable stretch uniformly at random; incident-proportional: with
    probability proportional to past incidents on the stretch (plus one, so quiet sections are not
    abandoned outright).
    """
    n = game.payoffs.n_targets
    cols = list_columns(game)

    def uniform(stretch: tuple[int, ...]) -> float:
        del stretch  # every stretch weighs the same
        return 1.0

    def by_history(stretch: tuple[int, ...]) -> float:
        return float(incidents[list(stretch)].sum()) + 1.0

    out: dict[str, tuple[FloatArray, Sampler]] = {}
    for name, weight in (("uniform", uniform), ("incident_proportional", by_history)):
        per_type: list[tuple[list[tuple[int, ...]], FloatArray, int]] = []
        for r, unit in enumerate(game.unit_types):
            own = [c[1] for c in cols if c[0] == r]
            if own:
                w = np.array([weight(s) for s in own], dtype=np.float64)
                per_type.append((own, w / w.sum(), int(unit.count)))

        def sampler(rng: np.random.Generator, per_type: Any = per_type) -> BoolArray:
            covered = np.zeros(n, dtype=bool)
            for own, probs, count in per_type:
                for i in rng.choice(len(own), size=count, p=probs):
                    covered[list(own[int(i)])] = True
            return covered

        out[name] = (_independent_coverage(game, weight), sampler)
    return out


def _field(game: ScheduleGame, solution: GameSolution) -> TypedMixture:
    mix = solution.schedule_mix or {}
    return decompose_by_type(
        list(mix.get("columns", [])),
        np.asarray(mix.get("x", []), dtype=np.float64),
        game.counts,
        game.payoffs.n_targets,
    )


def _exclusive_game(game: ScheduleGame, solution: GameSolution) -> ScheduleGame:
    n = game.payoffs.n_targets
    n_types = len(game.unit_types)
    per_type = np.zeros((n_types, n))
    mix = solution.schedule_mix or {}
    for (typ, targets), x in zip(mix.get("columns", []), mix.get("x", []), strict=True):
        per_type[typ, list(targets)] += x
    workable = np.array(
        [u.workable if u.workable is not None else (True,) * n for u in game.unit_types], dtype=bool
    )
    # Sections nobody covered go to the type that reaches furthest there.
    reach = np.array([u.max_stretch for u in game.unit_types], dtype=np.float64)[:, None] * workable
    score = np.where(per_type.max(axis=0) > 1e-9, per_type, 1e-12 * reach)
    owner = np.argmax(np.where(workable, score, -np.inf), axis=0)
    types = tuple(
        UnitType(
            name=u.name,
            agency=u.agency,
            count=u.count,
            max_stretch=u.max_stretch,
            workable=tuple(bool(workable[r, t] and owner[t] == r) for t in range(n)),
        )
        for r, u in enumerate(game.unit_types)
    )
    return ScheduleGame(payoffs=game.payoffs, unit_types=types)


def plan_patrols(
    sections: Sequence[BorderSection],
    units: Sequence[PatrolUnits],
    *,
    model: PayoffModel | None = None,
    method: Literal["listed", "colgen"] = "colgen",
) -> PatrolPlan:
    """Solve the patrol game for one shift and compare it with the baselines."""
    if not sections:
        raise InvalidInput("at least one section is needed", details={"field": "sections"})
    if not units:
        raise InvalidInput("at least one unit type is needed", details={"field": "units"})
    model = model or PayoffModel()
    game = original = _game_for(sections, units, model)
    solution = solve_schedule_game(game, method=method)
    bound = solution.defender_utility
    fielding = _field(game, solution)
    if not fielding.exact:
        # The per-unit LP's mix interlocks several unit types in a way no lottery of real patrols
        # reproduces. Solve over whole joint patrols instead (exact, and its value can only be at most
        # the per-unit LP's); when the unit combinations are too many for that, give every section to
        # the one type that carried most of its coverage and solve again, so types never share a
        # section and drawing each type on its own is exact.
        try:
            solution, mixture = solve_joint_game(
                game,
                # The patrols peeled off before the decomposition failed, and each type's own
                # patrols, are nearly the whole answer: seeded with them the re-solve takes few rounds.
                patrols=[q.columns for q in fielding.partial]
                + [q.columns for m in fielding.mixtures for q in m.patrols],
                first_target=solution.attacked,
                upper_bound=bound,
            )
            fielding = TypedMixture(mixtures=(mixture,), exact=True, coverage=mixture.coverage(len(sections)))
        except InvalidInput:
            game = _exclusive_game(game, solution)
            solution = solve_schedule_game(game, method=method)
            fielding = _field(game, solution)
    incidents = np.array([s.incidents for s in sections], dtype=np.float64)
    coverages: dict[str, FloatArray] = {"game": fielding.coverage}
    for name, (cov, _) in baseline_samplers(original, incidents).items():
        coverages[name] = cov
    utilities = {name: best_response(original.payoffs, c)[1] for name, c in coverages.items()}
    utilities["game_lp_bound"] = bound
    return PatrolPlan(
        sections=tuple(sections),
        units=tuple(units),
        game=original,
        fielded_game=game,
        solution=solution,
        fielding=fielding,
        utilities=utilities,
        coverages=coverages,
    )


def what_if_unit(
    sections: Sequence[BorderSection],
    units: Sequence[PatrolUnits],
    *,
    add: PatrolUnits,
    model: PayoffModel | None = None,
    method: Literal["listed", "colgen"] = "colgen",
) -> dict[str, Any]:
    """Defender utility of the fielded plan before and after adding ``add`` to the units."""
    before = plan_patrols(sections, units, model=model, method=method)
    after = plan_patrols(sections, [*units, add], model=model, method=method)
    return {
        "defender_utility_before": before.utilities["game"],
        "defender_utility_after": after.utilities["game"],
        "attacked_before": before.sections[before.solution.attacked].section_id,
        "attacked_after": after.sections[after.solution.attacked].section_id,
    }
