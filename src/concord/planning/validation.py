"""Simulated validation of a patrol strategy against an adaptive adversary (pure numpy).

Each shift the defender draws a patrol from its strategy. The adversary watches: it remembers, per
target, how often it saw a patrol there over the last ``memory_shifts`` shifts, blends that with a prior
(Beta-like pseudo-counts), and crosses where its estimated utility Ua_u - c_hat * (Ua_u - Ua_c) is
highest. A crossing is detected when the crossed target is patrolled that shift.

Two metrics are reported because they differ: the game plan maximises the defender's expected utility
(which weighs what is at stake where the crossing happens), not the raw detection rate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from concord.domain.errors import InvalidInput
from concord.planning._game import Payoffs

__all__ = ["AdversaryModel", "Interval", "StrategyScore", "compare_strategies", "simulate"]

BoolArray = np.ndarray[tuple[int], np.dtype[np.bool_]]
Sampler = Callable[[np.random.Generator], BoolArray]


@dataclass(frozen=True, slots=True, kw_only=True)
class AdversaryModel:
    """How the adversary learns: memory length and the prior it starts from."""

    memory_shifts: int = 30
    prior_coverage: float = 0.5
    prior_strength: float = 2.0

    def __post_init__(self) -> None:
        if self.memory_shifts < 1 or self.prior_strength < 0 or not 0 <= self.prior_coverage <= 1:
            raise InvalidInput("invalid adversary model", details={"field": "adversary"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Interval:
    """A mean with a 95% confidence interval (normal approximation over seeds)."""

    mean: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        """JSON-able form."""
        return {"mean": self.mean, "low": self.low, "high": self.high}


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyScore:
    """Detection rate and realised defender utility per crossing, each with its interval."""

    detection_rate: Interval
    defender_utility: Interval

    def to_dict(self) -> dict[str, dict[str, float]]:
        """JSON-able form."""
        return {
            "detection_rate": self.detection_rate.to_dict(),
            "defender_utility": self.defender_utility.to_dict(),
        }


def simulate(
    payoffs: Payoffs,
    sampler: Sampler,
    *,
    shifts: int,
    seed: int,
    adversary: AdversaryModel | None = None,
) -> tuple[float, float]:
    """One run: (detection rate, mean defender utility per crossing) over ``shifts`` crossings."""
    adversary = adversary or AdversaryModel()
    if shifts < 1:
        raise InvalidInput("shifts must be >= 1", details={"field": "shifts"})
    rng = np.random.default_rng(seed)
    n = payoffs.n_targets
    memory = np.zeros((adversary.memory_shifts, n), dtype=bool)
    # The adversary has watched a full memory of shifts before it first moves.
    for i in range(adversary.memory_shifts):
        memory[i] = sampler(rng)
    loss = payoffs.attacker_loss
    detected = 0
    utility = 0.0
    for shift in range(shifts):
        seen = memory.sum(axis=0)
        c_hat = (adversary.prior_strength * adversary.prior_coverage + seen) / (
            adversary.prior_strength + adversary.memory_shifts
        )
        estimate = payoffs.ua_uncovered - c_hat * loss
        best = np.flatnonzero(estimate >= estimate.max() - 1e-12)
        target = int(rng.choice(best))
        patrol = sampler(rng)
        if patrol[target]:
            detected += 1
            utility += float(payoffs.ud_covered[target])
        else:
            utility += float(payoffs.ud_uncovered[target])
        memory[shift % adversary.memory_shifts] = patrol
    return detected / shifts, utility / shifts


def _interval(values: list[float]) -> Interval:
    arr = np.asarray(values, dtype=np.float64)
    mean = float(arr.mean())
    half = 1.96 * float(arr.std(ddof=1)) / np.sqrt(arr.size) if arr.size > 1 else 0.0
    return Interval(mean=mean, low=mean - half, high=mean + half)


def compare_strategies(
    payoffs: Payoffs,
    samplers: Mapping[str, Sampler],
    *,
    seeds: int = 20,
    shifts: int = 200,
    adversary: AdversaryModel | None = None,
) -> dict[str, StrategyScore]:
    """Score every strategy over the same seeds (common random numbers across strategies)."""
    if seeds < 2:
        raise InvalidInput("seeds must be >= 2 for an interval", details={"field": "seeds"})
    out: dict[str, StrategyScore] = {}
    for name, sampler in samplers.items():
        rates: list[float] = []
        utils: list[float] = []
        for seed in range(seeds):
            rate, util = simulate(payoffs, sampler, shifts=shifts, seed=seed, adversary=adversary)
            rates.append(rate)
            utils.append(util)
        out[name] = StrategyScore(detection_rate=_interval(rates), defender_utility=_interval(utils))
    return out
