"""The per-axis Kalman predictor and updater against the textbook 4x4 matrix filter."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.tracking import AxisGaussian, ConstantVelocityPredictor, PositionUpdater


def _full(state: AxisGaussian, i: int) -> tuple[np.ndarray, np.ndarray]:
    """Track i as a 4-vector [x, vx, y, vy] and its 4x4 covariance."""
    x = np.array([state.pos_m[i, 0], state.vel_mps[i, 0], state.pos_m[i, 1], state.vel_mps[i, 1]])
    p = np.zeros((4, 4))
    for axis, off in ((0, 0), (1, 2)):
        p[off, off] = state.ppp_m2[i, axis]
        p[off, off + 1] = p[off + 1, off] = state.ppv_m2ps[i, axis]
        p[off + 1, off + 1] = state.pvv_m2ps2[i, axis]
    return x, p


def _reference(
    x: np.ndarray, p: np.ndarray, dt: float, q: float, z: np.ndarray, r: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    f1 = np.array([[1.0, dt], [0.0, 1.0]])
    q1 = q * np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]])
    f = np.kron(np.eye(2), f1)
    qq = np.kron(np.eye(2), q1)
    h = np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0]])
    xp = f @ x
    pp = f @ p @ f.T + qq
    s = h @ pp @ h.T + r * np.eye(2)
    k = pp @ h.T @ np.linalg.inv(s)
    return xp + k @ (z - h @ xp), (np.eye(4) - k @ h) @ pp, xp, pp


def _state(rng: np.random.Generator, n: int) -> AxisGaussian:
    a = rng.uniform(1, 100, (n, 2))
    c = rng.uniform(1, 10, (n, 2))
    b = rng.uniform(-0.9, 0.9, (n, 2)) * np.sqrt(a * c)
    return AxisGaussian(
        pos_m=rng.normal(0, 1000, (n, 2)),
        vel_mps=rng.normal(0, 10, (n, 2)),
        ppp_m2=a,
        ppv_m2ps=b,
        pvv_m2ps2=c,
    )


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    dt=st.floats(0.0, 60.0),
    q=st.floats(0.0, 5.0),
    r=st.floats(0.5, 1e4),
)
def test_matches_the_matrix_kalman_filter(seed: int, dt: float, q: float, r: float) -> None:
    rng = np.random.default_rng(seed)
    state = _state(rng, 3)
    z = rng.normal(0, 1000, (3, 2))
    predictor, updater = ConstantVelocityPredictor(q), PositionUpdater()
    predicted = predictor.predict(state, np.full((3, 1), dt))
    post = updater.update(predicted, z, np.full((3, 1), r))
    for i in range(3):
        x, p = _full(state, i)
        x_ref, p_ref, xp_ref, pp_ref = _reference(x, p, dt, q, np.array([z[i, 0], z[i, 1]]), r)
        xp, pp = _full(predicted, i)
        np.testing.assert_allclose(xp, xp_ref, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(pp, pp_ref, rtol=1e-9, atol=1e-9)
        xu, pu = _full(post, i)
        np.testing.assert_allclose(xu, x_ref, rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(pu, p_ref, rtol=1e-7, atol=1e-7)


def test_backward_prediction_still_grows_uncertainty() -> None:
    state = _state(np.random.default_rng(1), 2)
    predictor = ConstantVelocityPredictor(1.0)
    back = predictor.predict(state, np.full((2, 1), -10.0))
    np.testing.assert_allclose(back.pos_m, state.pos_m - 10.0 * state.vel_mps)
    assert (back.pvv_m2ps2 > state.pvv_m2ps2).all()


def test_innovation_is_residual_and_its_variance() -> None:
    state = _state(np.random.default_rng(2), 1)
    z = state.pos_m + np.array([[3.0, -4.0]])
    nu, s = PositionUpdater().innovation(state, z, np.array([[25.0]]))
    np.testing.assert_allclose(nu, [[3.0, -4.0]])
    np.testing.assert_allclose(s, state.ppp_m2 + 25.0)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    m=st.integers(1, 30),
    shared_r=st.booleans(),
    with_dt=st.booleans(),
)
def test_mahalanobis_matrix_matches_pairwise_formula(
    seed: int, n: int, m: int, shared_r: bool, with_dt: bool
) -> None:
    rng = np.random.default_rng(seed)
    state = _state(rng, n)
    state = AxisGaussian(
        pos_m=state.pos_m + 40_000.0,  # far from the origin, as in a wide region
        vel_mps=state.vel_mps,
        ppp_m2=state.ppp_m2,
        ppv_m2ps=state.ppv_m2ps,
        pvv_m2ps2=state.pvv_m2ps2,
    )
    z = state.pos_m.mean(axis=0) + rng.normal(0, 50, (m, 2))
    r = np.full(1, 30.0) if shared_r else rng.uniform(1, 900, m)
    dt = rng.uniform(-5, 0, m) if with_dt else None
    d2 = PositionUpdater().mahalanobis_sq(state, z, r, dt)
    expected = np.empty((n, m))
    for i in range(n):
        for j in range(m):
            shift = 0.0 if dt is None else dt[j]
            rj = r[0] if shared_r else r[j]
            nu = z[j] - (state.pos_m[i] + shift * state.vel_mps[i])
            expected[i, j] = float(np.sum(nu * nu / (state.ppp_m2[i] + rj)))
    np.testing.assert_allclose(d2, expected, rtol=1e-6, atol=1e-6)
