"""Security games: payoffs, validation of game files, and evaluation of a coverage vector.

A Stackelberg security game has T targets. The defender commits to a randomised allocation of R
resources, summarised by the coverage vector c (c_t is the probability that target t is covered). The
attacker observes c and attacks the target that maximises its expected utility

    Ua(t, c) = c_t * Ua_c[t] + (1 - c_t) * Ua_u[t],

breaking ties in the defender's favour (strong Stackelberg equilibrium). The defender then receives

    Ud(t, c) = c_t * Ud_c[t] + (1 - c_t) * Ud_u[t].

The model assumes covering helps the defender (Ud_c >= Ud_u) and hurts the attacker (Ua_c <= Ua_u).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from concord.domain.errors import InvalidInput

__all__ = [
    "MAX_PAYOFF_ABS",
    "MAX_SCHEDULES",
    "MAX_SCHEDULE_TARGETS",
    "MAX_TARGETS",
    "GameSolution",
    "Payoffs",
    "SecurityGame",
    "best_response",
    "evaluate_coverage",
    "game_from_dict",
]

FloatArray = npt.NDArray[np.float64]

#: Largest game a file may describe; beyond this a plan is not a one-shift computation any more.
MAX_TARGETS = 20_000
#: Largest number of explicit schedules a game file may list.
MAX_SCHEDULES = 20_000
#: Largest number of targets of a game with schedules (one LP per candidate target, each over every
#: schedule, so the work grows with both).
MAX_SCHEDULE_TARGETS = 2_000
#: Payoffs beyond this magnitude make the LP tolerances meaningless.
MAX_PAYOFF_ABS = 1e9
#: Attacker utilities closer than this (relative to the payoff scale) count as a tie inside the solvers.
TIE_TOLERANCE = 1e-9
#: Tie tolerance when scoring a coverage vector that came out of an LP: its feasibility tolerance is
#: about 1e-7, so attacker utilities closer than this are ties, not preferences.
EVALUATION_TIE_TOLERANCE = 1e-6

_PAYOFF_KEYS = ("Ud_c", "Ud_u", "Ua_c", "Ua_u")


@dataclass(frozen=True, slots=True, kw_only=True)
class Payoffs:
    """The four payoff vectors of a security game, one entry per target."""

    ud_covered: FloatArray
    ud_uncovered: FloatArray
    ua_covered: FloatArray
    ua_uncovered: FloatArray

    @property
    def n_targets(self) -> int:
        """Number of targets T."""
        return int(self.ud_covered.shape[0])

    @property
    def defender_gain(self) -> FloatArray:
        """Ud_c - Ud_u: what full coverage of a target is worth to the defender."""
        return self.ud_covered - self.ud_uncovered

    @property
    def attacker_loss(self) -> FloatArray:
        """Ua_u - Ua_c: what full coverage of a target costs the attacker."""
        return self.ua_uncovered - self.ua_covered

    @property
    def scale(self) -> float:
        """Largest payoff magnitude (at least 1), used to scale tolerances."""
        arrays = (self.ud_covered, self.ud_uncovered, self.ua_covered, self.ua_uncovered)
        return max(1.0, *(float(np.max(np.abs(a))) if a.size else 0.0 for a in arrays))

    def satisfies_model(self) -> bool:
        """True when Ud_c >= Ud_u and Ua_c <= Ua_u for every target (the security-game assumption)."""
        return bool(np.all(self.defender_gain >= 0) and np.all(self.attacker_loss >= 0))

    def to_dict(self) -> dict[str, list[float]]:
        """Serialise in the literature's notation."""
        return {
            "Ud_c": self.ud_covered.tolist(),
            "Ud_u": self.ud_uncovered.tolist(),
            "Ua_c": self.ua_covered.tolist(),
            "Ua_u": self.ua_uncovered.tolist(),
        }

    @classmethod
    def from_lists(
        cls,
        ud_c: Any,
        ud_u: Any,
        ua_c: Any,
        ua_u: Any,
    ) -> Payoffs:
        """Build from four sequences (no validation beyond conversion to float arrays)."""
        return cls(
            ud_covered=np.asarray(ud_c, dtype=np.float64),
            ud_uncovered=np.asarray(ud_u, dtype=np.float64),
            ua_covered=np.asarray(ua_c, dtype=np.float64),
            ua_uncovered=np.asarray(ua_u, dtype=np.float64),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityGame:
    """A security game: payoffs, R homogeneous resources and, optionally, explicit schedules.

    Without schedules each resource covers one target. With schedules each resource covers every
    target of one schedule (a tuple of target indices).
    """

    payoffs: Payoffs
    resources: float
    schedules: tuple[tuple[int, ...], ...] | None = None

    @property
    def n_targets(self) -> int:
        """Number of targets T."""
        return self.payoffs.n_targets


@dataclass(frozen=True, slots=True, kw_only=True)
class GameSolution:
    """A defender coverage, the target the attacker then attacks, and both players' utilities."""

    coverage: FloatArray
    attacked: int
    defender_utility: float
    attacker_utility: float
    method: str
    schedule_mix: dict[str, Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """The solve-game output: coverage, attacked target and defender utility (plus context)."""
        return {
            "coverage": [float(v) for v in self.coverage],
            "attacked": int(self.attacked),
            "defender_utility": float(self.defender_utility),
            "attacker_utility": float(self.attacker_utility),
            "method": self.method,
        }


def best_response(
    payoffs: Payoffs, coverage: FloatArray, *, tie_tolerance: float = EVALUATION_TIE_TOLERANCE
) -> tuple[int, float, float]:
    """The attacker's best response to ``coverage``, ties broken in the defender's favour.

    Attacker utilities within ``tie_tolerance`` times the payoff scale of the best count as ties, so
    an LP's rounding noise does not decide which target is scored. Returns (attacked target, defender
    utility, attacker utility).
    """
    c = np.clip(np.asarray(coverage, dtype=np.float64), 0.0, 1.0)
    ua = c * payoffs.ua_covered + (1.0 - c) * payoffs.ua_uncovered
    ud = c * payoffs.ud_covered + (1.0 - c) * payoffs.ud_uncovered
    best = float(np.max(ua))
    tied = np.flatnonzero(ua >= best - tie_tolerance * payoffs.scale)
    attacked = int(tied[np.argmax(ud[tied])])
    return attacked, float(ud[attacked]), float(ua[attacked])


def evaluate_coverage(payoffs: Payoffs, coverage: FloatArray) -> float:
    """Expected defender utility of ``coverage`` against the attacker's best response."""
    return best_response(payoffs, coverage)[1]


def _finite_vector(data: dict[str, Any], key: str, n_targets: int) -> FloatArray:
    raw = data.get(key)
    if not isinstance(raw, list):
        raise InvalidInput(f"payoffs.{key} must be a list of numbers", details={"field": f"payoffs.{key}"})
    if len(raw) != n_targets:
        raise InvalidInput(
            f"payoffs.{key} has {len(raw)} entries but the game has {n_targets} targets",
            details={"field": f"payoffs.{key}", "expected": n_targets, "got": len(raw)},
        )
    out = np.empty(n_targets, dtype=np.float64)
    for i, value in enumerate(raw):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(
                f"payoffs.{key}[{i}] must be a number", details={"field": f"payoffs.{key}", "index": i}
            )
        number = float(value)
        if not math.isfinite(number) or abs(number) > MAX_PAYOFF_ABS:
            raise InvalidInput(
                f"payoffs.{key}[{i}] must be finite and at most {MAX_PAYOFF_ABS:g} in magnitude",
                details={"field": f"payoffs.{key}", "index": i},
            )
        out[i] = number
    return out


def game_from_dict(data: Any, *, allow_general_payoffs: bool = False) -> SecurityGame:
    """Validate a parsed game file and build the game.

    The file is ``{"targets": T, "resources": R, "payoffs": {"Ud_c": [...], "Ud_u": [...],
    "Ua_c": [...], "Ua_u": [...]}, "schedules": [[t, ...], ...]?}``.

    Payoffs that break the security-game assumption (Ud_c < Ud_u or Ua_c > Ua_u somewhere) are refused
    unless ``allow_general_payoffs``; then only the multiple-LP solver is valid (ORIGAMI is not).
    """
    if not isinstance(data, dict):
        raise InvalidInput("a game must be a JSON object", details={"field": "$"})
    unknown = set(data) - {"targets", "resources", "payoffs", "schedules"}
    if unknown:
        raise InvalidInput(f"unknown game fields: {sorted(unknown)}", details={"field": sorted(unknown)[0]})
    n_targets = data.get("targets")
    if isinstance(n_targets, bool) or not isinstance(n_targets, int):
        raise InvalidInput("targets must be an integer", details={"field": "targets"})
    if not 1 <= n_targets <= MAX_TARGETS:
        raise InvalidInput(
            f"targets must be between 1 and {MAX_TARGETS}", details={"field": "targets", "got": n_targets}
        )
    resources = data.get("resources")
    if isinstance(resources, bool) or not isinstance(resources, int | float):
        raise InvalidInput("resources must be a number", details={"field": "resources"})
    resources = float(resources)
    if not math.isfinite(resources) or resources < 0:
        raise InvalidInput("resources must be finite and >= 0", details={"field": "resources"})
    if resources > MAX_TARGETS:
        raise InvalidInput(f"resources must be at most {MAX_TARGETS}", details={"field": "resources"})
    payoff_data = data.get("payoffs")
    if not isinstance(payoff_data, dict):
        raise InvalidInput(
            "payoffs must be an object with Ud_c, Ud_u, Ua_c, Ua_u", details={"field": "payoffs"}
        )
    extra = set(payoff_data) - set(_PAYOFF_KEYS)
    if extra:
        raise InvalidInput(f"unknown payoff fields: {sorted(extra)}", details={"field": "payoffs"})
    vectors = [_finite_vector(payoff_data, key, n_targets) for key in _PAYOFF_KEYS]
    payoffs = Payoffs(
        ud_covered=vectors[0], ud_uncovered=vectors[1], ua_covered=vectors[2], ua_uncovered=vectors[3]
    )
    if not allow_general_payoffs:
        bad_d = np.flatnonzero(payoffs.defender_gain < 0)
        if bad_d.size:
            raise InvalidInput(
                f"Ud_c < Ud_u at target {int(bad_d[0])}: the security-game model assumes covering a "
                "target never hurts the defender (use the general solver to accept such payoffs)",
                details={"field": "payoffs.Ud_c", "index": int(bad_d[0])},
            )
        bad_a = np.flatnonzero(payoffs.attacker_loss < 0)
        if bad_a.size:
            raise InvalidInput(
                f"Ua_c > Ua_u at target {int(bad_a[0])}: the security-game model assumes covering a "
                "target never helps the attacker (use the general solver to accept such payoffs)",
                details={"field": "payoffs.Ua_c", "index": int(bad_a[0])},
            )
    schedules = _schedules_from(data.get("schedules"), n_targets)
    return SecurityGame(payoffs=payoffs, resources=resources, schedules=schedules)


def _schedules_from(raw: Any, n_targets: int) -> tuple[tuple[int, ...], ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidInput("schedules must be a list of target-index lists", details={"field": "schedules"})
    if n_targets > MAX_SCHEDULE_TARGETS:
        raise InvalidInput(
            f"a game with schedules may have at most {MAX_SCHEDULE_TARGETS} targets",
            details={"field": "schedules"},
        )
    if not 1 <= len(raw) <= MAX_SCHEDULES:
        raise InvalidInput(
            f"schedules must list between 1 and {MAX_SCHEDULES} schedules", details={"field": "schedules"}
        )
    out: list[tuple[int, ...]] = []
    total = 0
    for i, schedule in enumerate(raw):
        if not isinstance(schedule, list) or not schedule:
            raise InvalidInput(
                f"schedules[{i}] must be a non-empty list of target indices",
                details={"field": "schedules", "index": i},
            )
        for j, target in enumerate(schedule):
            if isinstance(target, bool) or not isinstance(target, int):
                raise InvalidInput(
                    f"schedules[{i}][{j}] must be an integer target index",
                    details={"field": "schedules", "index": i},
                )
            if not 0 <= target < n_targets:
                raise InvalidInput(
                    f"schedules[{i}][{j}] = {target} is out of range 0..{n_targets - 1}",
                    details={"field": "schedules", "index": i},
                )
        total += len(schedule)
        if total > 10 * MAX_SCHEDULES:
            raise InvalidInput("schedules are too large in total", details={"field": "schedules"})
        out.append(tuple(sorted(set(schedule))))
    return tuple(out)
