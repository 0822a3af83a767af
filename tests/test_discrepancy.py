"""Extrapolation discrepancy: the widened predictive and the κ learned by an internal backtest."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayes_scaling.discrepancy import compute_distance, predictive
from bayes_scaling.validation.backtest import estimate_discrepancy
from bayes_scaling.laws.registry import get_law

from conftest import TEST_CONFIG

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical


def test_distance_is_zero_inside_the_data():
    np.testing.assert_allclose(compute_distance([1e18, 1e20, np.e * 1e20], [1e19, 1e20]),
                               [0.0, 0.0, 1.0])


def test_predictive_widens_only_beyond_the_data():
    law = get_law("chinchilla")
    params = {"E": jnp.full(2000, 1.8), "A": jnp.full(2000, 480.0), "alpha": jnp.full(2000, 0.35),
              "B": jnp.full(2000, 2100.0), "beta": jnp.full(2000, 0.37),
              "sigma": jnp.full(2000, 0.01), "nu": jnp.full(2000, 1e6)}
    log_x = {"N": jnp.log(jnp.array([1e9, 1e11])), "D": jnp.log(jnp.array([2e10, 2e12]))}
    distance = np.array([0.0, 2.0])
    key = jax.random.key(0)
    _, plain, _ = predictive(params, log_x, distance, 0.0, key=key, law=law,
                             likelihood="student_t")
    _, wide, _ = predictive(params, log_x, distance, 0.02, key=key, law=law,
                            likelihood="student_t")
    np.testing.assert_allclose(wide[:, 0], plain[:, 0], rtol=1e-6)  # inside: unchanged
    # beyond: scale sqrt(0.01^2 + (0.02 * 2)^2) = 0.0412; nu huge, so nearly normal
    assert np.std(wide[:, 1]) == pytest.approx(np.hypot(0.01, 0.04), rel=0.1)


@pytest.fixture(scope="module")
def drifting_runs(sim_runs):
    """The simulated runs with a misspecification: loss drifts up by 1.5% per e-fold of
    compute above the median compute (the law's form stops holding at scale)."""
    excess = np.maximum(0.0, np.log(sim_runs.C / np.median(sim_runs.C)))
    return dataclasses.replace(sim_runs, loss=sim_runs.loss * np.exp(0.015 * excess))


def test_kappa_is_larger_for_a_law_that_stops_holding(sim_runs, drifting_runs):
    kappa_ok, ok = estimate_discrepancy(sim_runs, key=jax.random.key(5), config=TEST_CONFIG)
    kappa_bad, bad = estimate_discrepancy(drifting_runs, key=jax.random.key(5),
                                          config=TEST_CONFIG)
    assert ok["mean_lpd"].max() == ok.set_index("kappa").loc[kappa_ok, "mean_lpd"]

    def gain(table):  # what widening buys over the plain posterior predictive
        return table["mean_lpd"].max() - table.loc[table["kappa"] == 0, "mean_lpd"].iloc[0]

    # Same design, same keys: only the drift differs. Widening is worth more, and more of it
    # is chosen, when the law stops holding beyond the data.
    assert gain(ok) < 0.2
    assert kappa_bad > kappa_ok and gain(bad) > gain(ok)
