"""Extrapolation discrepancy: the widened predictive, the κ learned across sweeps by the
meta-analysis, and the κ learned by an internal backtest."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import bayes_scaling as bs

from bayes_scaling.discrepancy import (LOG_KAPPA_GRID, KappaDistribution, compute_distance,
                                       extrapolation_distance, field_discrepancy, grid_log_mass,
                                       kappa_log_evidence, kappa_log_likelihood,
                                       learn_kappa_distribution,
                                       predictive, resolve_discrepancy,
                                       update_kappa_distribution)
from bayes_scaling.validation.backtest import estimate_discrepancy
from bayes_scaling.laws.registry import get_law

from conftest import TEST_CONFIG

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical


def test_distance_is_zero_inside_the_data():
    np.testing.assert_allclose(compute_distance([1e18, 1e20, np.e * 1e20], [1e19, 1e20]),
                               [0.0, 0.0, 1.0])


def test_extrapolation_distance_takes_the_furthest_input():
    fitted = {"N": [1e8, 1e9], "D": [2e9, 2e10], "C": [1.2e18, 1.2e20]}
    points = {"N": [1e9, 1e9 * np.e, 1e8], "D": [2e10, 2e10, 2e10 * np.e ** 3],
              "C": [1.2e20, 1.2e20 * np.e, 1.2e19 * np.e ** 3]}
    # inside; N one e-fold beyond; D three e-folds beyond (C only two: over-training)
    np.testing.assert_allclose(extrapolation_distance(points, fitted), [0.0, 1.0, 3.0])
    one_variable = {"N": [1e8, 1e9], "D": [np.nan, np.nan], "C": [np.nan, np.nan]}
    np.testing.assert_allclose(
        extrapolation_distance({"N": [1e10], "D": [np.nan], "C": [np.nan]}, one_variable),
        [math.log(10)])


def test_log_density_with_a_kappa_per_draw_matches_a_hand_computation():
    """Student-t around the law with scale sqrt(σ² + (κ d)²), one κ per posterior draw."""
    law = get_law("chinchilla")
    params = {"E": jnp.array([1.8, 1.7]), "A": jnp.array([480.0, 400.0]),
              "alpha": jnp.array([0.35, 0.33]), "B": jnp.array([2100.0, 1800.0]),
              "beta": jnp.array([0.37, 0.36]), "sigma": jnp.array([0.01, 0.02]),
              "nu": jnp.array([5.0, 3.0])}
    n, d = np.array([1e9, 1e11]), np.array([2e10, 2e12])
    distance, kappa, y = np.array([0.0, 2.0]), np.array([0.03, 0.01]), np.log([2.2, 1.95])
    _, _, density = predictive(params, {"N": jnp.log(n), "D": jnp.log(d)}, distance,
                               jnp.asarray(kappa), key=jax.random.key(0), law=law,
                               likelihood="student_t", observed=y)
    for i in range(2):
        p = {k: float(v[i]) for k, v in params.items()}
        mean = np.log(p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"])
        scale = np.sqrt(p["sigma"] ** 2 + (kappa[i] * distance) ** 2)
        np.testing.assert_allclose(density[i], stats.t.logpdf(y, p["nu"], mean, scale),
                                   rtol=1e-4)


def _simulated_errors(key, kappa, num_runs=6, draws=200, sigma=0.005):
    """Held-out runs of one sweep whose law errs by κ·d·z beyond the data, and a posterior
    that knows the law up to a small spread: what `kappa_log_likelihood` is given."""
    k_d, k_z, k_eps, k_post = jax.random.split(key, 4)
    distance = np.asarray(jax.random.uniform(k_d, (num_runs,), minval=0.3, maxval=3.0))
    truth = np.log(2.0) - 0.05 * distance
    error = kappa * distance * np.asarray(jax.random.normal(k_z, (num_runs,)))
    y = truth + error + sigma * np.asarray(jax.random.normal(k_eps, (num_runs,)))
    log_mean = truth[None, :] + 0.002 * np.asarray(jax.random.normal(k_post, (draws, 1)))
    noise = {"sigma": np.full(draws, sigma)}
    return kappa_log_likelihood(log_mean, noise, distance, y, likelihood="normal")


def test_meta_analysis_recovers_the_population_of_kappa():
    """40 sweeps with log κ ~ Normal(log 0.02, 0.5): the learned population's mean and spread
    come back within three of their standard errors (≈ 0.55/√40 ≈ 0.09 for the mean, with
    each sweep's own estimate error; ≈ 0.5/√80 ≈ 0.06 for the spread)."""
    keys = jax.random.split(jax.random.key(11), 41)
    true_log_kappa = math.log(0.02) + 0.5 * np.asarray(jax.random.normal(keys[0], (40,)))
    loglik = np.stack([_simulated_errors(k, math.exp(v))
                       for k, v in zip(keys[1:], true_log_kappa)])
    learned = learn_kappa_distribution(loglik, source={"test": True})
    assert learned.source["test"] and learned.source["sweeps"] == 40
    assert learned.source["population_log_kappa_mean"] == pytest.approx(math.log(0.02), abs=0.27)
    assert learned.source["population_log_kappa_spread"] == pytest.approx(0.5, abs=0.2)
    # the predictive for a new sweep: its median is near the population's, its spread wider
    assert math.log(learned.quantile(0.5)) == pytest.approx(math.log(0.02), abs=0.27)
    with pytest.raises(ValueError, match="shape"):
        learn_kappa_distribution(loglik[:, :10])


def test_intervals_with_a_kappa_distribution_cover_at_the_nominal_rate():
    """Sweeps whose law errs beyond the data with κ drawn from a distribution: forecasts that
    draw κ from the same distribution cover at the nominal rate (binomial tolerance, 3 SE);
    forecasts without the discrepancy do not."""
    law = get_law("chinchilla")
    kappas = KappaDistribution(np.exp(np.linspace(np.log(0.005), np.log(0.08), 200)))
    num, draws = 600, 1000
    keys = jax.random.split(jax.random.key(21), 4)
    kappa_true = np.asarray(kappas.sample(keys[0], num))
    distance = np.full(num, 2.0)
    params = {"E": jnp.full(draws, 1.8), "A": jnp.full(draws, 480.0),
              "alpha": jnp.full(draws, 0.35), "B": jnp.full(draws, 2100.0),
              "beta": jnp.full(draws, 0.37), "sigma": jnp.full(draws, 0.01),
              "nu": jnp.full(draws, 1e6)}
    n = np.full(num, 1e11)
    log_x = {"N": jnp.log(n), "D": jnp.log(20 * n)}
    mean = float(np.log(1.8 + 480.0 / 1e11 ** 0.35 + 2100.0 / 2e12 ** 0.37))
    y = (mean + np.hypot(0.01, kappa_true * distance)
         * np.asarray(jax.random.normal(keys[1], (num,))))
    covered = {}
    for name, kappa in (("field", kappas.sample(keys[2], draws)), ("plain", 0.0)):
        _, replicated, _ = predictive(params, log_x, distance, kappa, key=keys[3], law=law,
                                      likelihood="student_t")
        lo, hi = np.quantile(np.asarray(replicated), [0.05, 0.95], axis=0)
        covered[name] = np.mean((lo <= y) & (y <= hi))
    assert covered["field"] == pytest.approx(0.9, abs=3 * math.sqrt(0.9 * 0.1 / num))
    assert covered["plain"] < 0.6


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


def test_updating_kappa_is_bayes_rule_on_the_grid():
    """A log-normal prior times a likelihood Gaussian in log κ: the posterior is the
    precision-weighted log-normal (quantiles within one grid step of log κ, 0.077)."""
    levels = (np.arange(400) + 0.5) / 400
    prior = KappaDistribution(np.exp(stats.norm.ppf(levels, math.log(0.01), 1.0)), {"p": 1})
    step = LOG_KAPPA_GRID[1] - LOG_KAPPA_GRID[0]
    unchanged = update_kappa_distribution(prior, np.zeros(len(LOG_KAPPA_GRID)))
    for q in (0.05, 0.5, 0.95):
        assert math.log(unchanged.quantile(q)) == pytest.approx(math.log(prior.quantile(q)),
                                                                abs=step)
    center, width = math.log(0.002), 0.5
    loglik = -0.5 * ((LOG_KAPPA_GRID - center) / width) ** 2
    posterior = update_kappa_distribution(prior, loglik, source={"u": 2})
    precision = 1.0 + 1 / width ** 2
    mean = (math.log(0.01) + center / width ** 2) / precision
    for q in (0.05, 0.5, 0.95):
        expected = stats.norm.ppf(q, mean, 1 / math.sqrt(precision))
        assert math.log(posterior.quantile(q)) == pytest.approx(expected, abs=step)
    assert posterior.source == {"p": 1, "u": 2}
    with pytest.raises(ValueError, match="shape"):
        update_kappa_distribution(prior, loglik[:5])


def test_a_sweeps_own_backtest_narrows_or_widens_the_field():
    """The default κ of a fit: the field's updated by the internal backtest `fit` runs (the
    largest 20% by compute held out), and the forecast uses it.
    A precise sweep (σ = 0.3%) simulated from the law itself moves well below the field's median
    κ (0.01: a law error of 1% per e-fold would show against 0.3% noise); the same sweep whose
    loss drifts up by 3% per e-fold of compute above its 80th percentile, where the internal
    backtest sees it, moves above it. The backtest counts as one observation (its runs repeat
    one error of the law), so κ stays uncertain: its 90% range spans more than a factor 5."""
    runs = bs.simulate(jax.random.key(7), num_runs=120, sigma=0.003, nu=np.inf)
    excess = np.maximum(0.0, np.log(runs.C / np.quantile(runs.C, 0.8)))
    drifting = dataclasses.replace(runs, loss=runs.loss * np.exp(0.03 * excess))
    field = field_discrepancy()
    updated = {}
    for name, sweep in (("ok", runs), ("drifting", drifting)):
        post = bs.fit(sweep, key=jax.random.key(5), config=TEST_CONFIG)
        updated[name] = resolve_discrepancy("sweep", post)
        assert updated[name].source["internal_held_out"] >= 0.2 * len(runs)
        assert updated[name].quantile(0.95) > 5 * updated[name].quantile(0.05)
        # the default forecast draws κ from it: the median of its 4000 draws lies between the
        # distribution's 40% and 60% quantiles (12 standard errors of a sample median away)
        beyond = bs.forecast(post, N=1e12, D=2e13, key=jax.random.key(6)).iloc[0]
        kappa_used = beyond["spread_discrepancy"] / beyond["distance"]
        assert updated[name].quantile(0.4) <= kappa_used <= updated[name].quantile(0.6)
    assert updated["ok"].quantile(0.5) < 0.5 * field.quantile(0.5)
    assert updated["drifting"].quantile(0.5) > field.quantile(0.5)
    # ... and near the drift's own rate, 0.03 per e-fold (0.024-0.026 over three seeds)
    assert 0.015 < updated["drifting"].quantile(0.5) < 0.06


def test_the_field_default_is_learned_and_says_where_from():
    field = field_discrepancy()
    assert np.all(np.diff(field.values) >= 0) and field.values[0] > 0
    for key in ("method", "commit", "sets", "held_out_runs", "population_log_kappa_mean"):
        assert key in field.source, key
    assert resolve_discrepancy("field").values.tolist() == field.values.tolist()
    assert resolve_discrepancy(0).values.tolist() == [0.0]
    assert resolve_discrepancy(None).values.tolist() == [0.0]
    assert resolve_discrepancy(None).is_zero and not field.is_zero
    with pytest.raises(ValueError, match="kappa must be >= 0"):
        resolve_discrepancy(-0.1)
    with pytest.raises(ValueError, match="'field', a number"):
        resolve_discrepancy("fields")


def test_kappa_log_evidence_is_the_prior_mass_where_the_evidence_allows():
    """An evidence that rules out every κ above 1e-2 (ℓ = 0 below, -1e9 above) has marginal
    likelihood the prior's probability of κ below 1e-2: half, for a log-uniform prior on
    1e-4 .. 1 (to the grid's resolution)."""
    prior = KappaDistribution(np.geomspace(1e-4, 1.0, 2000))
    allowed = np.where(LOG_KAPPA_GRID <= np.log(1e-2), 0.0, -1e9)
    assert np.exp(kappa_log_evidence(prior, allowed)) == pytest.approx(0.5, abs=0.01)
    assert np.exp(grid_log_mass(prior)).sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="log_likelihood must have shape"):
        kappa_log_evidence(prior, np.zeros(3))
