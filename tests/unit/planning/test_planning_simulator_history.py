"""The hotspot forecast against the naive baseline on the scenario simulator's own history.

Three simulated days of border crossings and landings (seeded); each six-hour period after the first day
is forecast from what came before and scored at 5% of the area. The kernel-density forecast must beat
"last period's counts" on the predictive accuracy index and on hit rate.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from concord.drills.sim import Scenario, ScenarioConfig
from concord.planning import Grid, hit_rate_and_pai, kde_forecast, naive_forecast

PERIOD_S = 6 * 3600.0


def _history() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    scenario = Scenario.from_config(
        ScenarioConfig(
            seed=11,
            start=start,
            walkers=60,
            vehicles=20,
            boats=10,
            vessels=0,
            patrols=0,
            rendezvous_count=0,
            horizon_s=6 * 86_400.0,
            exercise=False,
        )
    )
    events = [
        ((e.at - start).total_seconds(), e.lat, e.lon)
        for step in scenario.run(3 * 86_400.0, 60.0)
        for e in step.truth_events
        if e.kind.value in ("crossed-border", "landed")
    ]
    t, lat, lon = (np.array(column, dtype=np.float64) for column in zip(*events, strict=True))
    lat0, lon0 = 41.3, 26.5
    x = (lon - lon0) * 111_320.0 * math.cos(math.radians(lat0))
    y = (lat - lat0) * 110_540.0
    return t, x, y


def test_kde_beats_naive_on_the_simulators_history() -> None:
    t, x, y = _history()
    assert len(t) > 1000
    grid = Grid(
        x0_m=float(x.min()) - 3000,
        y0_m=float(y.min()) - 3000,
        cell_m=1000.0,
        nx=int((x.max() - x.min() + 6000) // 1000) + 1,
        ny=int((y.max() - y.min() + 6000) // 1000) + 1,
    )
    kde_scores, naive_scores = [], []
    for k in range(4, 12):
        start, end = k * PERIOD_S, (k + 1) * PERIOD_S
        held_out = (t >= start) & (t < end)
        counts = grid.counts(x[held_out], y[held_out])
        kde = kde_forecast(grid, t, x, y, now=start, bandwidth_m=1000.0)
        naive = naive_forecast(grid, t, x, y, start=start - PERIOD_S, end=start)
        kde_scores.append(hit_rate_and_pai(kde, counts))
        naive_scores.append(hit_rate_and_pai(naive, counts))
    kde_hit, kde_pai = np.mean(kde_scores, axis=0)
    naive_hit, naive_pai = np.mean(naive_scores, axis=0)
    assert kde_pai > naive_pai
    assert kde_hit > naive_hit
