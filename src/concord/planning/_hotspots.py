"""Hotspot forecasts from event history: kernel density, a self-exciting (Hawkes) model, and scoring.

Events are (t, x, y) with t in any time unit (days, say) and x, y in metres of a local frame.

* ``kde_forecast``: Gaussian kernel density of past events, optionally down-weighting old events
  exponentially; the classic retrospective hotspot map.
* ``HawkesModel``: the spatio-temporal self-exciting point process of Mohler et al. (2011),

      lambda(s, t) = mu * g(s) + theta * sum_{t_j < t} omega * exp(-omega (t - t_j)) * N(s; s_j, sigma^2 I),

  with g a background density (a kernel density of the training events, bandwidth chosen by likelihood,
  or one supplied), mu the
  background rate, theta the mean number of follow-on events per event, omega the decay rate and sigma
  the spatial spread. Parameters are fitted by maximum likelihood (scipy.optimize, L-BFGS-B on log
  parameters). The spatial trigger is assumed to lie inside the region (edge loss is ignored).
* Scoring on held-out periods: hit rate and PAI (predictive accuracy index = hit rate / area fraction)
  when the top 5% of the area is flagged, against the naive "last period's counts" map. Cells tied at
  the cut are taken fractionally, which is the expectation under random tie-breaking and keeps
  the naive map (full of ties at zero) from being scored by luck.
* ``simulate_hawkes``: a synthetic generator (background hotspots plus triggered clusters) for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize as opt
from scipy.special import ndtr

from concord.domain.errors import InvalidInput
from concord.planning._game import FloatArray

__all__ = [
    "Grid",
    "HawkesModel",
    "HawkesParams",
    "evaluate_forecasts",
    "hit_rate_and_pai",
    "kde_forecast",
    "naive_forecast",
    "simulate_hawkes",
]

#: Most events a Hawkes fit uses (the likelihood is quadratic in them); older ones are left out.
MAX_EVENTS = 2_500
MAX_CELLS = 250_000

Density = Callable[[FloatArray, FloatArray], FloatArray]


@dataclass(frozen=True, slots=True, kw_only=True)
class Grid:
    """A regular grid of square cells: lower-left corner, cell size (m), columns and rows."""

    x0_m: float
    y0_m: float
    cell_m: float
    nx: int
    ny: int

    def __post_init__(self) -> None:
        if not (np.isfinite(self.x0_m) and np.isfinite(self.y0_m) and np.isfinite(self.cell_m)):
            raise InvalidInput("grid values must be finite", details={"field": "grid"})
        if self.cell_m <= 0 or self.nx < 1 or self.ny < 1 or self.nx * self.ny > MAX_CELLS:
            raise InvalidInput(f"grid needs cell_m > 0 and 1..{MAX_CELLS} cells", details={"field": "grid"})

    @property
    def x_edges(self) -> FloatArray:
        """Cell boundaries along x."""
        return self.x0_m + self.cell_m * np.arange(self.nx + 1, dtype=np.float64)

    @property
    def y_edges(self) -> FloatArray:
        """Cell boundaries along y."""
        return self.y0_m + self.cell_m * np.arange(self.ny + 1, dtype=np.float64)

    def counts(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """Events per cell, shape (ny, nx); events outside the grid are ignored."""
        h, _, _ = np.histogram2d(y, x, bins=[self.y_edges, self.x_edges])
        return np.asarray(h, dtype=np.float64)

    def cell_index(self, x: FloatArray, y: FloatArray) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Row and column of each point, clipped into the grid."""
        col = np.clip(((x - self.x0_m) // self.cell_m).astype(np.int64), 0, self.nx - 1)
        row = np.clip(((y - self.y0_m) // self.cell_m).astype(np.int64), 0, self.ny - 1)
        return row, col


def _gaussian_cell_mass(
    grid: Grid, x: FloatArray, y: FloatArray, sd: float, weights: FloatArray
) -> FloatArray:
    """sum_j w_j * P(N(s_j, sd^2 I) falls in each cell), exact per rectangle, shape (ny, nx)."""
    cx = ndtr((grid.x_edges[None, :] - x[:, None]) / sd)
    cy = ndtr((grid.y_edges[None, :] - y[:, None]) / sd)
    mx = np.diff(cx, axis=1)
    my = np.diff(cy, axis=1)
    return np.asarray((my * weights[:, None]).T @ mx, dtype=np.float64)


def kde_forecast(
    grid: Grid,
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    *,
    now: float,
    bandwidth_m: float,
    half_life: float | None = None,
) -> FloatArray:
    """Risk surface (share of expected events per cell, sums to at most 1) from events before ``now``."""
    if bandwidth_m <= 0:
        raise InvalidInput("bandwidth_m must be > 0", details={"field": "bandwidth_m"})
    keep = t < now
    if not keep.any():
        return np.full((grid.ny, grid.nx), 1.0 / (grid.nx * grid.ny))
    w = np.ones(int(keep.sum()))
    if half_life is not None:
        w = np.power(0.5, (now - t[keep]) / half_life)
    surface = _gaussian_cell_mass(grid, x[keep], y[keep], bandwidth_m, w)
    return surface / float(w.sum())


def naive_forecast(
    grid: Grid, t: FloatArray, x: FloatArray, y: FloatArray, *, start: float, end: float
) -> FloatArray:
    """Last period's counts per cell: the baseline every forecast must beat."""
    keep = (t >= start) & (t < end)
    return grid.counts(x[keep], y[keep])


def hit_rate_and_pai(
    surface: FloatArray, counts: FloatArray, *, area_fraction: float = 0.05
) -> tuple[float, float]:
    """Hit rate and PAI when the top ``area_fraction`` of cells (by ``surface``) are flagged.

    Cells tied at the cut count fractionally (expected value under random tie-breaking).
    """
    if surface.shape != counts.shape:
        raise InvalidInput("surface and counts must have the same shape", details={"field": "surface"})
    if not 0 < area_fraction <= 1:
        raise InvalidInput("area_fraction must be in (0, 1]", details={"field": "area_fraction"})
    s = surface.ravel()
    c = counts.ravel()
    total = float(c.sum())
    n_cells = s.size
    k = max(1, int(round(area_fraction * n_cells)))
    threshold = np.sort(s)[::-1][k - 1]
    above = s > threshold
    tied = s == threshold
    slots = k - int(above.sum())
    share = slots / int(tied.sum())
    hits = float(c[above].sum()) + share * float(c[tied].sum())
    if total == 0:
        return 0.0, 0.0
    hit_rate = hits / total
    return hit_rate, hit_rate / (k / n_cells)


@dataclass(frozen=True, slots=True, kw_only=True)
class HawkesParams:
    """Background rate mu (events per time unit), branching ratio theta, decay omega, spread sigma_m."""

    mu: float
    theta: float
    omega: float
    sigma_m: float

    def to_dict(self) -> dict[str, float]:
        """JSON-able form."""
        return {"mu": self.mu, "theta": self.theta, "omega": self.omega, "sigma_m": self.sigma_m}


def _kde_density(
    x: FloatArray, y: FloatArray, bandwidth_m: float, weights: FloatArray | None = None
) -> Density:
    """A Gaussian kernel density (integrates to 1 over the plane) as a callable, optionally weighted."""
    w = np.full(x.size, 1.0 / x.size) if weights is None else weights / float(weights.sum())

    def density(px: FloatArray, py: FloatArray) -> FloatArray:
        out = np.zeros(px.shape[0])
        norm = 1.0 / (2 * np.pi * bandwidth_m**2)
        for start in range(0, x.size, 512):
            dx = px[:, None] - x[None, start : start + 512]
            dy = py[:, None] - y[None, start : start + 512]
            out += np.exp(-(dx * dx + dy * dy) / (2 * bandwidth_m**2)) @ w[start : start + 512]
        return out * norm

    return density


@dataclass(frozen=True, slots=True, kw_only=True)
class HawkesModel:
    """A fitted spatio-temporal Hawkes model; build with ``fit``."""

    params: HawkesParams
    background: Density
    t: FloatArray
    x: FloatArray
    y: FloatArray
    log_likelihood: float
    background_bandwidth_m: float | None = None

    @staticmethod
    def fit(
        t: FloatArray,
        x: FloatArray,
        y: FloatArray,
        *,
        t_start: float,
        t_end: float,
        background: Density | None = None,
        background_bandwidth_m: float | None = None,
        initial: HawkesParams | None = None,
    ) -> HawkesModel:
        """Maximum-likelihood fit on the events in [t_start, t_end) (the latest ``MAX_EVENTS`` of them).

        Without a given ``background`` the background density is a kernel density of the events
        (leave-one-out at the events themselves); its bandwidth, unless given, is chosen among four
        fractions of the events' spread by the fitted likelihood.
        """
        keep = (t >= t_start) & (t < t_end)
        order = np.argsort(t[keep], kind="stable")
        tt, xx, yy = t[keep][order], x[keep][order], y[keep][order]
        n = tt.size
        if n < 5:
            raise InvalidInput("at least five events are needed to fit a Hawkes model", details={"events": n})
        if n > MAX_EVENTS:
            # Fit on the most recent events only; triggering by older events is ignored (edge effect).
            tt, xx, yy = tt[-MAX_EVENTS:], xx[-MAX_EVENTS:], yy[-MAX_EVENTS:]
            t_start = float(tt[0])
            n = MAX_EVENTS
        span = t_end - t_start
        # Pairwise lags and squared distances, lower triangle (j < i).
        ii, jj = (a.astype(np.int32) for a in np.tril_indices(n, k=-1))
        dt = tt[ii] - tt[jj]
        d2 = (xx[ii] - xx[jj]) ** 2 + (yy[ii] - yy[jj]) ** 2
        tail = t_end - tt
        params = initial or HawkesParams(
            mu=0.5 * n / span,
            theta=0.3,
            omega=10.0 / span,
            sigma_m=max(float(np.sqrt(np.median(d2[d2 > 0]) if np.any(d2 > 0) else 1.0)) / 4.0, 1e-6),
        )

        def fit_given(g: FloatArray, start: HawkesParams) -> tuple[FloatArray, float]:
            def negll(z: FloatArray) -> float:
                mu, theta, omega, sigma = np.exp(z)
                trig = theta * omega * np.exp(-omega * dt - d2 / (2 * sigma**2)) / (2 * np.pi * sigma**2)
                bg = mu * g
                triggered = np.bincount(ii, weights=trig, minlength=n)
                integral = mu * span + theta * float(np.sum(1.0 - np.exp(-omega * tail)))
                return float(integral - np.sum(np.log(np.maximum(bg + triggered, 1e-300))))

            z0 = np.log([start.mu, start.theta, start.omega, start.sigma_m])
            lo = z0 - 12.0
            hi = z0 + 12.0
            hi[1] = min(hi[1], np.log(0.999))
            lo[1] = min(lo[1], np.log(1e-6))
            res = opt.minimize(negll, z0, method="L-BFGS-B", bounds=list(zip(lo, hi, strict=True)))
            return np.asarray(res.x, dtype=np.float64), float(res.fun)

        if background is not None:
            candidates: list[tuple[Density, FloatArray, float | None]] = [
                (background, background(xx, yy), None)
            ]
        else:
            spread = max(float(np.sqrt(0.5 * (np.var(xx) + np.var(yy)))), 1e-6)
            widths: list[float] = (
                [background_bandwidth_m]
                if background_bandwidth_m
                else [spread * f for f in (1 / 24, 1 / 12, 1 / 6, 1 / 3)]
            )
            candidates = []
            for width in widths:
                density = _kde_density(xx, yy, width)
                # Leave each event out of its own background density, or the narrowest kernel would
                # always win by explaining every event with itself.
                own = 1.0 / (2 * np.pi * width**2)
                candidates.append((density, (density(xx, yy) * n - own) / (n - 1), width))
        best: tuple[float, HawkesParams, Density, float | None] | None = None
        for density, g_train, chosen in candidates:
            z, fun = fit_given(np.maximum(g_train, 1e-300), params)
            mu, theta, omega, sigma = (float(v) for v in np.exp(z))
            fitted = HawkesParams(mu=mu, theta=theta, omega=omega, sigma_m=sigma)
            if best is None or -fun > best[0]:
                best = (-fun, fitted, density, chosen)
                params = fitted
        assert best is not None  # candidates is never empty
        return HawkesModel(
            params=best[1],
            background=best[2],
            t=tt,
            x=xx,
            y=yy,
            log_likelihood=best[0],
            background_bandwidth_m=best[3],
        )

    def forecast(
        self,
        grid: Grid,
        *,
        now: float,
        horizon: float,
        history: tuple[FloatArray, FloatArray, FloatArray] | None = None,
    ) -> FloatArray:
        """Expected events per cell in [now, now + horizon) given the events before ``now``.

        First-order: events triggered by events inside the horizon itself are not added.
        """
        t, x, y = history if history is not None else (self.t, self.x, self.y)
        keep = t < now
        p = self.params
        cx = 0.5 * (grid.x_edges[:-1] + grid.x_edges[1:])
        cy = 0.5 * (grid.y_edges[:-1] + grid.y_edges[1:])
        gx, gy = np.meshgrid(cx, cy)
        bg = self.background(gx.ravel(), gy.ravel()).reshape(grid.ny, grid.nx)
        total = bg.sum()
        bg = bg / total if total > 0 else np.full_like(bg, 1.0 / bg.size)
        surface = p.mu * horizon * bg
        if keep.any():
            age = now - t[keep]
            w = p.theta * (np.exp(-p.omega * age) - np.exp(-p.omega * (age + horizon)))
            surface = surface + _gaussian_cell_mass(grid, x[keep], y[keep], p.sigma_m, w)
        return surface


def simulate_hawkes(
    params: HawkesParams,
    *,
    hotspots: Sequence[tuple[float, float, float, float]],
    t_end: float,
    rng: np.random.Generator,
    region: tuple[float, float, float, float] | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, Density]:
    """A clustered event history on [0, t_end): background from Gaussian hotspots plus triggered events.

    ``hotspots`` are (x_m, y_m, sd_m, weight). Returns times, x, y (sorted by time) and the true
    background density. Events outside ``region`` (x0, y0, x1, y1), when given, are dropped.
    """
    if not 0 <= params.theta < 1:
        raise InvalidInput("theta must be in [0, 1) for a stable process", details={"field": "theta"})
    spots = np.asarray(hotspots, dtype=np.float64)
    weights = spots[:, 3] / spots[:, 3].sum()
    n_bg = rng.poisson(params.mu * t_end)
    which = rng.choice(len(spots), size=n_bg, p=weights)
    gen_t = rng.uniform(0.0, t_end, n_bg)
    gen_x = spots[which, 0] + rng.normal(0.0, 1.0, n_bg) * spots[which, 2]
    gen_y = spots[which, 1] + rng.normal(0.0, 1.0, n_bg) * spots[which, 2]
    all_t, all_x, all_y = [gen_t], [gen_x], [gen_y]
    while gen_t.size:
        kids = rng.poisson(params.theta, gen_t.size)
        parent = np.repeat(np.arange(gen_t.size), kids)
        gen_t = gen_t[parent] + rng.exponential(1.0 / params.omega, parent.size)
        gen_x = gen_x[parent] + rng.normal(0.0, params.sigma_m, parent.size)
        gen_y = gen_y[parent] + rng.normal(0.0, params.sigma_m, parent.size)
        inside = gen_t < t_end
        gen_t, gen_x, gen_y = gen_t[inside], gen_x[inside], gen_y[inside]
        all_t.append(gen_t)
        all_x.append(gen_x)
        all_y.append(gen_y)
    t = np.concatenate(all_t)
    x = np.concatenate(all_x)
    y = np.concatenate(all_y)
    if region is not None:
        x0, y0, x1, y1 = region
        inside = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
        t, x, y = t[inside], x[inside], y[inside]
    order = np.argsort(t, kind="stable")

    def background(px: FloatArray, py: FloatArray) -> FloatArray:
        out = np.zeros(px.shape[0])
        for (hx, hy, sd, _), w in zip(spots, weights, strict=True):
            out += w * np.exp(-((px - hx) ** 2 + (py - hy) ** 2) / (2 * sd**2)) / (2 * np.pi * sd**2)
        return out

    return t[order], x[order], y[order], background


def evaluate_forecasts(
    grid: Grid,
    t: FloatArray,
    x: FloatArray,
    y: FloatArray,
    *,
    train_end: float,
    period: float,
    n_periods: int,
    kde_bandwidth_m: float,
    kde_half_life: float | None = None,
    area_fraction: float = 0.05,
) -> dict[str, Any]:
    """Fit on [0, train_end), then score KDE, Hawkes and naive on each following period."""
    if period <= 0 or n_periods < 1:
        raise InvalidInput("period must be > 0 and n_periods >= 1", details={"field": "period"})
    model = HawkesModel.fit(t, x, y, t_start=float(t.min(initial=0.0)), t_end=train_end)
    scores: dict[str, list[tuple[float, float]]] = {"hawkes": [], "kde": [], "naive": []}
    for k in range(n_periods):
        start = train_end + k * period
        end = start + period
        test = (t >= start) & (t < end)
        counts = grid.counts(x[test], y[test])
        surfaces = {
            "hawkes": model.forecast(grid, now=start, horizon=period, history=(t, x, y)),
            "kde": kde_forecast(
                grid, t, x, y, now=start, bandwidth_m=kde_bandwidth_m, half_life=kde_half_life
            ),
            "naive": naive_forecast(grid, t, x, y, start=start - period, end=start),
        }
        for name, surface in surfaces.items():
            scores[name].append(hit_rate_and_pai(surface, counts, area_fraction=area_fraction))
    summary: dict[str, Any] = {"hawkes_params": model.params.to_dict(), "periods": n_periods}
    for name, rows in scores.items():
        arr = np.asarray(rows)
        summary[name] = {"hit_rate": float(arr[:, 0].mean()), "pai": float(arr[:, 1].mean())}
    return summary
