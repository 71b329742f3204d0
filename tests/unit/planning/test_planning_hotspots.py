"""Hotspot forecasts: PAI by hand, Hawkes maximum likelihood recovery, beating the naive map."""

from __future__ import annotations

import numpy as np
import pytest

from concord.domain.errors import InvalidInput
from concord.planning import (
    Grid,
    HawkesModel,
    HawkesParams,
    evaluate_forecasts,
    hit_rate_and_pai,
    kde_forecast,
    naive_forecast,
    simulate_hawkes,
)

SPOTS = [(2000.0, 3000.0, 400.0, 1.0), (7000.0, 6000.0, 600.0, 2.0), (5000.0, 2000.0, 300.0, 1.0)]


def test_pai_by_hand() -> None:
    # Four cells, top 25% = one cell. Counts 3, 1, 0, 0 (4 events); the forecast ranks the cell with
    # 3 first: hit rate 3/4, PAI = (3/4) / (1/4) = 3.
    counts = np.array([[3.0, 1.0], [0.0, 0.0]])
    surface = np.array([[0.9, 0.5], [0.1, 0.2]])
    assert hit_rate_and_pai(surface, counts, area_fraction=0.25) == pytest.approx((0.75, 3.0))
    # A flat forecast ties every cell: expected hits 4 * 1/4 = 1, hit rate 1/4, PAI 1.
    assert hit_rate_and_pai(np.ones((2, 2)), counts, area_fraction=0.25) == pytest.approx((0.25, 1.0))
    # Half the area, ranking the two empty cells first: no hits.
    assert hit_rate_and_pai(-surface, counts, area_fraction=0.5) == pytest.approx((0.0, 0.0))
    with pytest.raises(InvalidInput):
        hit_rate_and_pai(surface, counts[:1], area_fraction=0.25)
    with pytest.raises(InvalidInput):
        hit_rate_and_pai(surface, counts, area_fraction=0.0)


def test_grid_counts_and_naive() -> None:
    grid = Grid(x0_m=0.0, y0_m=0.0, cell_m=10.0, nx=2, ny=2)
    t = np.array([0.5, 1.5, 1.6, 2.5])
    x = np.array([1.0, 15.0, 15.0, 1.0])
    y = np.array([1.0, 1.0, 1.0, 15.0])
    naive = naive_forecast(grid, t, x, y, start=1.0, end=2.0)
    assert naive.tolist() == [[0.0, 2.0], [0.0, 0.0]]
    with pytest.raises(InvalidInput):
        Grid(x0_m=0.0, y0_m=0.0, cell_m=0.0, nx=2, ny=2)
    with pytest.raises(InvalidInput):
        Grid(x0_m=0.0, y0_m=0.0, cell_m=1.0, nx=10_000, ny=10_000)


def test_kde_mass_is_conserved() -> None:
    grid = Grid(x0_m=-5000.0, y0_m=-5000.0, cell_m=100.0, nx=100, ny=100)
    surface = kde_forecast(
        grid, np.array([0.0, 1.0]), np.array([0.0, 10.0]), np.array([0.0, 0.0]), now=2.0, bandwidth_m=200.0
    )
    assert surface.sum() == pytest.approx(1.0, abs=1e-9)


def test_hawkes_mle_recovers_parameters() -> None:
    true = HawkesParams(mu=3.0, theta=0.5, omega=1.0, sigma_m=150.0)
    t, x, y, background = simulate_hawkes(true, hotspots=SPOTS, t_end=120.0, rng=np.random.default_rng(0))
    model = HawkesModel.fit(t, x, y, t_start=0.0, t_end=120.0, background=background)
    p = model.params
    assert p.mu == pytest.approx(true.mu, rel=0.2)
    assert p.theta == pytest.approx(true.theta, abs=0.12)
    assert p.omega == pytest.approx(true.omega, rel=0.25)
    assert p.sigma_m == pytest.approx(true.sigma_m, rel=0.15)


def test_hawkes_mle_recovers_parameters_without_knowing_the_background() -> None:
    # Same history; the background is now estimated (leave-one-out kernel density, bandwidth chosen by
    # likelihood), as it must be on real data.
    true = HawkesParams(mu=3.0, theta=0.5, omega=1.0, sigma_m=150.0)
    t, x, y, _ = simulate_hawkes(true, hotspots=SPOTS, t_end=120.0, rng=np.random.default_rng(0))
    model = HawkesModel.fit(t, x, y, t_start=0.0, t_end=120.0)
    p = model.params
    assert p.mu == pytest.approx(true.mu, rel=0.2)
    assert p.theta == pytest.approx(true.theta, abs=0.12)
    assert p.omega == pytest.approx(true.omega, rel=0.25)
    assert p.sigma_m == pytest.approx(true.sigma_m, rel=0.15)
    assert model.background_bandwidth_m is not None


def test_hawkes_fit_input_limits() -> None:
    with pytest.raises(InvalidInput):
        HawkesModel.fit(np.array([1.0, 2.0]), np.zeros(2), np.zeros(2), t_start=0.0, t_end=3.0)
    with pytest.raises(InvalidInput):
        simulate_hawkes(
            HawkesParams(mu=1, theta=1.5, omega=1, sigma_m=1),
            hotspots=SPOTS,
            t_end=1.0,
            rng=np.random.default_rng(0),
        )


def test_forecasts_beat_naive_on_pai() -> None:
    true = HawkesParams(mu=4.0, theta=0.5, omega=0.5, sigma_m=200.0)
    t, x, y, _ = simulate_hawkes(
        true, hotspots=SPOTS, t_end=108.0, rng=np.random.default_rng(1), region=(0.0, 0.0, 10_000.0, 10_000.0)
    )
    grid = Grid(x0_m=0.0, y0_m=0.0, cell_m=250.0, nx=40, ny=40)
    result = evaluate_forecasts(
        grid, t, x, y, train_end=80.0, period=7.0, n_periods=4, kde_bandwidth_m=300.0, kde_half_life=30.0
    )
    assert result["hawkes"]["pai"] > result["naive"]["pai"]
    assert result["kde"]["pai"] > result["naive"]["pai"]
