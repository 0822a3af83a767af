"""The hand-written NUTS kernel and warmup (`inference.nuts`) on targets with known answers.

Moments are compared within Monte Carlo error (posterior sd / sqrt(ESS), ESS from ArviZ over the
chains), at 5 standard errors: a correct sampler fails such a check about once in 10^6.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayes_scaling.inference.nuts import laplace, pull_towards, sample_chain, warmup_schedule

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="ArviZ is undergoing", category=FutureWarning)
    import arviz as az

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

CHAINS = 4


def run_chains(potential, z0, key, *, num_warmup=500, num_samples=1000, target_accept=0.8,
               max_tree_depth=10):
    """``CHAINS`` chains of `sample_chain` from ``z0`` (one jitted, vmapped program)."""
    def one(k):
        return sample_chain(k, jnp.asarray(z0, jnp.float32), potential, num_warmup=num_warmup,
                            num_samples=num_samples, target_accept=target_accept,
                            max_tree_depth=max_tree_depth)

    draws, stats = jax.jit(jax.vmap(one))(jax.random.split(key, CHAINS))
    return np.asarray(draws, np.float64), {k: np.asarray(v) for k, v in stats.items()}


def assert_mean_within_mc_error(draws, expected, z=5.0):
    """Each coordinate's mean (draws: chain, draw, coordinate) within ``z`` Monte Carlo
    standard errors of ``expected``; returns the ESS of each coordinate."""
    ess = np.array([float(az.ess(np.ascontiguousarray(draws[..., i])))
                    for i in range(draws.shape[-1])])
    flat = draws.reshape(-1, draws.shape[-1])
    error = flat.std(axis=0) / np.sqrt(ess)
    assert np.all(np.abs(flat.mean(axis=0) - expected) <= z * error), (flat.mean(0), error, ess)
    return ess


def test_correlated_gaussian_of_very_different_scales():
    """Correlation 0.95 and scales from 1e-3 to 10: the dense metric makes it easy."""
    scales = np.array([1e-3, 1.0, 10.0])
    corr = np.array([[1.0, 0.95, 0.5], [0.95, 1.0, 0.6], [0.5, 0.6, 1.0]])
    cov = corr * np.outer(scales, scales)
    mean = np.array([3.0, -1.0, 20.0])
    precision = jnp.asarray(np.linalg.inv(cov), jnp.float32)
    centre = jnp.asarray(mean, jnp.float32)

    def potential(z):
        d = z - centre
        return 0.5 * d @ precision @ d

    draws, stats = run_chains(potential, np.zeros(3), jax.random.key(0))
    ess = assert_mean_within_mc_error(draws, mean)
    assert ess.min() > 1000  # dense metric: near-independent draws
    flat = draws.reshape(-1, 3)
    # Standard deviations within 10% and the correlations within 0.05 (MC error ~2% and ~0.01).
    np.testing.assert_allclose(flat.std(axis=0), scales, rtol=0.1)
    np.testing.assert_allclose(np.corrcoef(flat.T), corr, atol=0.05)
    assert not stats["diverging"].any()


def test_bounded_parameter_through_its_transform():
    """Beta(2, 5) on (0, 1), sampled as its logit with the log-Jacobian: mean 2/7."""
    def potential(z):
        x = jax.nn.sigmoid(z[0])
        log_density = (jnp.log(x) * (2 - 1) + jnp.log1p(-x) * (5 - 1)
                       + jnp.log(x) + jnp.log1p(-x))  # log|dx/dz| = log x + log(1 - x)
        return -log_density

    draws, _ = run_chains(potential, np.zeros(1), jax.random.key(1))
    x = 1.0 / (1.0 + np.exp(-draws))
    assert_mean_within_mc_error(x, np.array([2 / 7]))
    assert 0 < x.min() and x.max() < 1
    sd = np.sqrt(2 * 5 / (7 ** 2 * 8))  # Beta(2, 5)'s standard deviation
    assert x.std() == pytest.approx(sd, rel=0.1)


def funnel(log_scale_sd, dim=5):
    """Neal's funnel: v ~ Normal(0, log_scale_sd), x_i | v ~ Normal(0, exp(v / 2))."""
    def potential(z):
        v, x = z[0], z[1:]
        return 0.5 * (v / log_scale_sd) ** 2 + 0.5 * jnp.sum(x ** 2) * jnp.exp(-v) + 0.5 * dim * v
    return potential


def test_mild_funnel_recovers_its_neck_variable():
    """A funnel mild enough for NUTS (sd of v = 1): v's mean 0 and sd 1 are recovered."""
    draws, _ = run_chains(funnel(1.0), np.zeros(6), jax.random.key(2), target_accept=0.95)
    v = draws[..., :1]
    assert_mean_within_mc_error(v, np.array([0.0]))
    assert v.std() == pytest.approx(1.0, rel=0.15)


def test_divergences_are_detected_in_a_hard_funnel():
    """Neal's funnel with sd 3: the neck's curvature defeats any one step size, and the
    transitions that blow up (energy error > MAX_ENERGY_ERROR) are flagged, not hidden."""
    _, stats = run_chains(funnel(3.0, dim=9), np.zeros(10), jax.random.key(3), num_samples=500)
    assert stats["diverging"].sum() > 0


def test_u_turn_ends_a_gaussian_trajectory_near_half_an_orbit():
    """On a 1-D standard normal with a unit metric, a trajectory is a rotation in phase space
    with period 2π: it turns back after about h = π/ε leapfrog steps. Doubling stops at the
    first tree whose span passes that half orbit, and the span of a tree is less than twice
    the one before it, so no trajectory is longer than the smallest 2^k - 1 reaching
    2·(h + 1) steps; without the U-turn check it would run to the maximum depth (1023)."""
    draws, stats = run_chains(lambda z: 0.5 * jnp.sum(z ** 2), np.zeros(1), jax.random.key(4),
                              max_tree_depth=10)
    half_orbit = np.pi / stats["step_size"][:, -1]  # with each chain's adapted step size
    longest = 2 ** np.ceil(np.log2(2 * (half_orbit + 1))) - 1
    assert np.all(stats["n_steps"].max(axis=1) <= longest), (stats["n_steps"].max(1), longest)
    assert stats["tree_depth"].max() < 10 and np.all(stats["n_steps"] >= 1)
    assert_mean_within_mc_error(draws, np.array([0.0]))


def test_step_size_adaptation_follows_its_target_acceptance():
    """Dual averaging tunes the step size to ``target_accept``: a higher target gives a smaller
    step and a higher acceptance after warmup, never well below the target. (Above it is
    expected: sampling uses the averaged iterate of the step size, which on a Gaussian is
    smaller than the one that hits the target; measured 0.92 for a target of 0.8, as Stan.)"""
    scales = jnp.asarray([0.1, 1.0, 5.0, 30.0], jnp.float32)
    acceptance, step = {}, {}
    for target in (0.8, 0.95):
        _, stats = run_chains(lambda z: 0.5 * jnp.sum((z / scales) ** 2), np.ones(4),
                              jax.random.key(5), target_accept=target)
        acceptance[target] = stats["acceptance_rate"].mean()
        step[target] = np.median(stats["step_size"][:, -1])
        assert acceptance[target] >= target - 0.05, (target, acceptance[target])
    assert acceptance[0.95] > acceptance[0.8] and step[0.95] < step[0.8], (acceptance, step)


def test_one_trace_per_shape():
    """`sample_chain` inside one jit traces once: other keys and starts reuse the program."""
    traced = []

    def potential(z):
        traced.append(1)  # runs only while tracing
        return 0.5 * jnp.sum(z ** 2)

    run = jax.jit(lambda key, z0: sample_chain(key, z0, potential, num_warmup=50,
                                               num_samples=20))
    run(jax.random.key(0), jnp.zeros(2))
    after_first = len(traced)
    run(jax.random.key(1), jnp.ones(2))
    assert after_first > 0 and len(traced) == after_first


def test_laplace_finds_the_mode_and_curvature_of_a_gaussian():
    precision = jnp.asarray([[4.0, 1.0], [1.0, 2.0]])
    centre = jnp.asarray([1.0, -2.0])
    mode, chol = laplace(lambda z: 0.5 * (z - centre) @ precision @ (z - centre), jnp.zeros(2))
    np.testing.assert_allclose(mode, centre, atol=1e-4)
    # BFGS with a backtracking line search in float32: the inverse Hessian to within a percent
    # (measured 0.3%), ample for a first metric that warmup then replaces.
    np.testing.assert_allclose(chol @ chol.T, np.linalg.inv(precision), rtol=1e-2)


def test_a_far_start_is_pulled_in_to_the_budget():
    potential = lambda z: 0.5 * jnp.sum(z ** 2)  # noqa: E731
    start = pull_towards(potential, jnp.array([100.0, 0.0]), jnp.zeros(2), 8.0)
    assert float(potential(start)) == pytest.approx(8.0, rel=1e-4)
    inside = pull_towards(potential, jnp.array([1.0, 1.0]), jnp.zeros(2), 8.0)
    np.testing.assert_array_equal(inside, [1.0, 1.0])  # a start within the budget stays


def test_warmup_windows_follow_stan():
    slow, ends = warmup_schedule(1000)
    assert np.flatnonzero(slow)[0] == 75 and np.flatnonzero(slow)[-1] == 949  # 75 fast, 50 last
    short_slow, short_ends = warmup_schedule(10)
    assert not short_slow.any() and not short_ends.any()  # step size only
