"""Turning coverage into concrete patrols whose odds match the plan exactly.

* Without schedules: comb (systematic) sampling. Lay the coverages end to end on [0, sum c); draw one
  offset u in [0, 1) and pick the target under each tooth u, u+1, u+2, ... Every target is picked with
  probability exactly c_t, never twice (c_t <= 1), and exactly floor or ceil of sum(c) targets are
  picked. ``comb_distribution`` lists the finitely many outcomes with their exact probabilities.
* With schedules: ``decompose_schedule_mix`` writes the LP's x as a convex combination of joint
  patrols (for every unit type at most R_r schedules, no target covered twice) by Caratheodory
  peeling: find a 0/1 point (a small MILP) on the face of the patrol polytope that contains x, take out
  as much of it as possible, repeat. When x is not such a mixture (possible with several unit types or
  arbitrary explicit schedules) no 0/1 point exists at some step, and it says so rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize as opt
import scipy.sparse as sp

from concord.domain.errors import InvalidInput
from concord.planning._game import FloatArray
from concord.planning._schedules import Column

__all__ = [
    "JointPatrol",
    "PatrolMixture",
    "comb_distribution",
    "comb_sample",
    "decompose_schedule_mix",
    "decompose_by_type",
]

_EPS = 1e-9


def _checked(coverage: FloatArray) -> FloatArray:
    c = np.asarray(coverage, dtype=np.float64)
    if c.ndim != 1 or not np.all(np.isfinite(c)) or np.any(c < -_EPS) or np.any(c > 1 + _EPS):
        raise InvalidInput(
            "coverage must be a vector of probabilities in [0, 1]", details={"field": "coverage"}
        )
    return np.clip(c, 0.0, 1.0)


def comb_sample(coverage: FloatArray, rng: np.random.Generator) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
    """Targets to patrol this shift, each included with probability exactly ``coverage[t]``."""
    c = _checked(coverage)
    return _comb_pick(c, float(rng.random()))


def _comb_pick(c: FloatArray, offset: float) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
    upper = np.cumsum(c)
    lower = upper - c
    # Target t is picked when some tooth offset + j lies in [lower_t, upper_t).
    first_tooth = np.ceil(lower - offset)
    picked = (first_tooth + offset < upper) & (c > 0)
    return np.flatnonzero(picked)


def comb_distribution(coverage: FloatArray) -> list[tuple[float, tuple[int, ...]]]:
    """Every outcome of comb sampling with its exact probability (the offsets form O(T) intervals)."""
    c = _checked(coverage)
    upper = np.cumsum(c)
    lower = upper - c
    cuts = np.unique(np.concatenate([[0.0, 1.0], np.mod(lower, 1.0), np.mod(upper, 1.0)]))
    cuts = cuts[(cuts >= 0.0) & (cuts <= 1.0)]
    out: dict[tuple[int, ...], float] = {}
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        # Slivers of width ~1e-16 are rounding in the cumulative sums, not outcomes.
        if b - a <= 1e-12:
            continue
        picks = tuple(int(t) for t in _comb_pick(c, 0.5 * (a + b)))
        out[picks] = out.get(picks, 0.0) + float(b - a)
    return sorted(((p, k) for k, p in out.items()), key=lambda item: -item[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class JointPatrol:
    """One concrete joint patrol: the columns (unit type, covered targets) it fields."""

    columns: tuple[Column, ...]

    def covered(self, n_targets: int) -> np.ndarray[tuple[int], np.dtype[np.bool_]]:
        """Boolean vector of the targets this patrol covers."""
        out = np.zeros(n_targets, dtype=bool)
        for _, targets in self.columns:
            out[list(targets)] = True
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class PatrolMixture:
    """A probability distribution over joint patrols."""

    probabilities: tuple[float, ...]
    patrols: tuple[JointPatrol, ...]

    def coverage(self, n_targets: int) -> FloatArray:
        """Exact coverage implied by the mixture (sum of probability times patrol coverage)."""
        out = np.zeros(n_targets)
        for prob, patrol in zip(self.probabilities, self.patrols, strict=True):
            out += prob * patrol.covered(n_targets)
        return out

    def sample(self, rng: np.random.Generator) -> JointPatrol:
        """Draw one joint patrol."""
        probs = np.asarray(self.probabilities, dtype=np.float64)
        index = int(rng.choice(len(self.patrols), p=probs / probs.sum()))
        return self.patrols[index]


def decompose_schedule_mix(
    columns: list[Column],
    x: FloatArray,
    counts: FloatArray,
    n_targets: int,
    *,
    found: list[JointPatrol] | None = None,
) -> PatrolMixture:
    """Write x (expected units per column) as a mixture of joint patrols that honours it exactly.

    ``counts`` are the units per type and must be whole numbers. Raises InvalidInput when x is not a
    mixture of joint patrols (seen with several unit types, and possible with explicit schedules);
    the joint patrols peeled off before that are appended to ``found`` when given.
    """
    if np.any(np.abs(counts - np.round(counts)) > 1e-9):
        raise InvalidInput("unit counts must be whole numbers to draw patrols", details={"field": "count"})
    counts = np.round(counts)
    x = np.asarray(x, dtype=np.float64).copy()
    n_types = counts.shape[0]
    n_cols = len(columns)
    types = np.array([c[0] for c in columns], dtype=np.int64)
    if n_cols:
        r_idx = np.concatenate([np.asarray(c[1], dtype=np.int64) for c in columns])
        c_idx = np.repeat(np.arange(n_cols), [len(c[1]) for c in columns])
    else:
        r_idx = c_idx = np.zeros(0, dtype=np.int64)
    incidence = sp.csr_matrix((np.ones(r_idx.size), (r_idx, c_idx)), shape=(n_targets, n_cols))
    by_type = sp.csr_matrix((np.ones(n_cols), (types, np.arange(n_cols))), shape=(n_types, n_cols))
    probabilities: list[float] = []
    patrols: list[JointPatrol] = []
    remaining = 1.0
    for _ in range(2 * (n_cols + n_targets + n_types) + 2):
        support = np.flatnonzero(x > _EPS)
        if remaining <= _EPS:
            break
        if support.size == 0:
            probabilities.append(remaining)
            patrols.append(JointPatrol(columns=()))
            remaining = 0.0
            break
        cover = incidence @ x
        used = by_type @ x
        tight_t = cover >= 1 - 1e-7
        tight_r = used >= counts - 1e-7
        a_t = incidence[:, support]
        a_r = by_type[:, support]
        # A vertex of the face containing x: tight rows stay tight, zeros of x stay zero.
        a_eq = sp.vstack([a_t[tight_t], a_r[tight_r]], format="csr")
        b_eq = np.concatenate([np.ones(int(tight_t.sum())), counts[tight_r]])
        a_ub = sp.vstack([a_t[~tight_t], a_r[~tight_r]], format="csr")
        b_ub = np.concatenate([np.ones(int((~tight_t).sum())), counts[~tight_r]])
        # An integer point of the face. Its LP vertices need not be 0/1 (several unit types interlock),
        # so ask for integrality outright; the MILP is tiny (one variable per column in use).
        constraints = []
        if a_eq.shape[0]:
            constraints.append(opt.LinearConstraint(a_eq, b_eq, b_eq))
        if a_ub.shape[0]:
            constraints.append(opt.LinearConstraint(a_ub, -np.inf, b_ub))
        res = opt.milp(
            -x[support],
            constraints=constraints,
            integrality=np.ones(support.size),
            bounds=opt.Bounds(0.0, 1.0),
            options={"disp": False},
        )
        if res.status != 0 or res.x is None:
            raise InvalidInput(
                "the schedule mix is not a mixture of joint patrols: the schedules overlap in a way that "
                "the coverage cannot be fielded exactly",
                details={"step": len(patrols)},
            )
        v_support = np.round(res.x)
        v = np.zeros(n_cols)
        v[support] = v_support
        on = v > 0.5
        v_cover = incidence @ v
        v_used = by_type @ v
        limits = [x[on]]
        slack_t = ~tight_t & (v_cover < 0.5)
        limits.append(1.0 - cover[slack_t])
        slack_r = ~tight_r & (v_used < counts - 0.5)
        limits.append((counts[slack_r] - used[slack_r]) / (counts[slack_r] - v_used[slack_r]))
        lam = min(1.0, float(min((float(np.min(a)) for a in limits if a.size), default=1.0)))
        if lam <= _EPS:
            raise InvalidInput("decomposition made no progress", details={"step": len(patrols)})
        probabilities.append(remaining * lam)
        patrols.append(JointPatrol(columns=tuple(columns[i] for i in np.flatnonzero(on))))
        if found is not None:
            found.append(patrols[-1])
        if lam >= 1.0 - _EPS:
            remaining = 0.0
            break
        x = np.maximum((x - lam * v) / (1.0 - lam), 0.0)
        remaining *= 1.0 - lam
    if remaining > 1e-7:
        raise InvalidInput("decomposition did not finish", details={"remaining": remaining})
    return PatrolMixture(probabilities=tuple(probabilities), patrols=tuple(patrols))


@dataclass(frozen=True, slots=True, kw_only=True)
class TypedMixture:
    """How a schedule mix is fielded: one joint mixture (exact) or one mixture per unit type.

    When the joint decomposition does not exist (several unit types whose planned stretches interlock),
    each type is drawn on its own; a target planned for two types may then be doubly covered in some
    shifts, so the realised coverage is 1 - prod_r (1 - c^r_t), at most the planned one. ``exact``
    says which case holds and ``coverage`` is always the realised coverage. ``partial`` keeps the
    joint patrols found before the joint decomposition failed (good starting columns for a re-solve).
    """

    mixtures: tuple[PatrolMixture, ...]
    exact: bool
    coverage: FloatArray
    partial: tuple[JointPatrol, ...] = ()

    def sample(self, rng: np.random.Generator) -> JointPatrol:
        """Draw one joint patrol (independently per type when not exact)."""
        cols: list[Column] = []
        for mixture in self.mixtures:
            cols.extend(mixture.sample(rng).columns)
        return JointPatrol(columns=tuple(cols))


def decompose_by_type(
    columns: list[Column], x: FloatArray, counts: FloatArray, n_targets: int
) -> TypedMixture:
    """The joint decomposition when it exists, otherwise one decomposition per unit type."""
    found: list[JointPatrol] = []
    try:
        joint = decompose_schedule_mix(columns, x, counts, n_targets, found=found)
        return TypedMixture(mixtures=(joint,), exact=True, coverage=joint.coverage(n_targets))
    except InvalidInput:
        pass
    mixtures: list[PatrolMixture] = []
    miss = np.ones(n_targets)
    sharing = np.zeros(n_targets, dtype=np.int64)
    x = np.asarray(x, dtype=np.float64)
    for r in range(counts.shape[0]):
        keep = [i for i, col in enumerate(columns) if col[0] == r]
        own_counts = np.zeros_like(counts)
        own_counts[r] = counts[r]
        mixture = decompose_schedule_mix([columns[i] for i in keep], x[keep], own_counts, n_targets)
        mixtures.append(mixture)
        own = mixture.coverage(n_targets)
        sharing += own > _EPS
        miss *= 1.0 - own
    # Types drawn independently are still exact when no target is planned for two of them.
    exact = bool(np.all(sharing <= 1))
    return TypedMixture(mixtures=tuple(mixtures), exact=exact, coverage=1.0 - miss, partial=tuple(found))
