"""Posterior predictive checks: replicated losses, LOO-PIT, the summary, and the ECDF bands."""

import math
import warnings

import jax
import numpy as np
import pytest
from arviz.stats.ecdf_utils import ecdf_confidence_band

from bayes_scaling import Posterior
from bayes_scaling.validation.checks import (
    ks_uniform_pvalue, loo_pit, pit_ecdf, ppc_summary, rank_ecdf, replicated_losses,
    with_posterior_predictive)
from conftest import TEST_CONFIG

# Runs the sampler: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="ArviZ is undergoing", category=FutureWarning)
    import arviz as az


def binomial_interval(n, p, level):
    """Central ``level`` interval of Binomial(n, p) counts, exactly (math.comb)."""
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    cdf = np.cumsum(pmf)
    tail = (1 - level) / 2
    low = int(np.argmax(cdf > tail))  # P(X < low) <= tail
    high = int(np.argmax(cdf >= 1 - tail))  # P(X > high) <= tail
    return low, high


def with_idata(post, **changes):
    """A Posterior over a copy of ``post``'s groups, some replaced (None removes one)."""
    groups = {g: getattr(post.idata, g) for g in post.idata.groups()}
    groups.update(changes)
    return Posterior(az.InferenceData(**{g: v for g, v in groups.items() if v is not None}))


@pytest.fixture(scope="module")
def replicated(sim_post):
    return replicated_losses(sim_post, key=jax.random.key(0))


@pytest.fixture(scope="module")
def summary(sim_post):
    return ppc_summary(sim_post, key=jax.random.key(1))


def test_replicated_losses_shape_and_key(sim_post, replicated):
    assert replicated.shape == (4, TEST_CONFIG.num_samples, 245) and replicated.dtype == np.float64
    assert np.all(np.isfinite(replicated)) and np.all(replicated > 0)
    np.testing.assert_array_equal(replicated_losses(sim_post, key=jax.random.key(0)), replicated)


def test_replicated_losses_are_the_law_plus_noise(sim_post, replicated):
    """Per draw, log replicated - log law (plain NumPy) is noise of that draw's scale σ."""
    p = sim_post.draws(["E", "A", "alpha", "B", "beta", "sigma", "nu"])
    runs = sim_post.runs_table
    law = (p["E"][:, None] + p["A"][:, None] * runs["N"].to_numpy() ** -p["alpha"][:, None]
           + p["B"][:, None] * runs["D"].to_numpy() ** -p["beta"][:, None])
    standardised = (np.log(replicated.reshape(-1, 245)) - np.log(law)) / p["sigma"][:, None]
    # Student-t noise with each draw's ν, as NumPy draws it: same quantiles (490,000 values
    # each; Monte Carlo standard errors below 0.005)
    reference = np.random.default_rng(0).standard_t(np.repeat(p["nu"][:, None], 245, axis=1))
    levels = [0.05, 0.25, 0.5, 0.75, 0.95]
    np.testing.assert_allclose(np.quantile(standardised, levels), np.quantile(reference, levels),
                               atol=0.02)
    # draws keep their (chain, draw) order: the first chain's first draw is row 0
    np.testing.assert_allclose(np.log(replicated[0, 0] / law[0]) / p["sigma"][0],
                               standardised[0], rtol=1e-6)


def test_with_posterior_predictive_replaces_the_group_without_mutating(sim_post, replicated):
    groups = sim_post.idata.groups()
    stored = sim_post.idata.posterior_predictive["log_loss"].values  # the fit's own, from its key
    checked = with_posterior_predictive(sim_post, key=jax.random.key(0))
    assert sim_post.idata.groups() == groups  # post itself untouched: a copy has the new group
    assert np.array_equal(sim_post.idata.posterior_predictive["log_loss"].values, stored)
    assert checked is not sim_post and isinstance(checked, Posterior)
    predictive = checked.idata.posterior_predictive["log_loss"]
    observed = sim_post.idata.observed_data["log_loss"]
    assert predictive.dims == ("chain", "draw", *observed.dims)
    np.testing.assert_array_equal(predictive["run"], observed["run"])
    np.testing.assert_allclose(np.exp(predictive.values), replicated, rtol=1e-12)
    assert set(groups) == set(checked.idata.groups())
    assert not np.array_equal(predictive.values, stored)  # drawn anew with the key given
    assert checked.idata.posterior is sim_post.idata.posterior  # shared, not copied


def test_loo_pit_matches_arviz_on_the_stored_group(sim_post):
    """Same key: our LOO-PIT equals ArviZ's own, from the posterior_predictive group."""
    values = loo_pit(sim_post, key=jax.random.key(0))
    assert values.shape == (245,) and np.all((values >= 0) & (values <= 1))
    checked = with_posterior_predictive(sim_post, key=jax.random.key(0))
    theirs = np.asarray(az.loo_pit(checked.idata, y="log_loss"))
    # ArviZ's relative efficiency averages the derived a, b too: the smoothing differs a little
    np.testing.assert_allclose(values, theirs, atol=2e-3)


def test_calibrated_on_well_specified_simulation(summary):
    """sim_post fits data drawn from the model itself, so the checks must not flag it.

    Were each run independently inside its 90 % interval with probability 0.9, the count
    inside would be Binomial(245, 0.9); we accept its central 99.9 % interval (about ±3.3 sd,
    ±4.7 runs each). In-sample intervals cover a little more than nominal (the runs were
    fitted; ~p_loo / n = 3 % more at most), so the upper end gets that slack.
    """
    n = summary["num_runs"]
    low, high = binomial_interval(n, 0.9, 0.999)
    inside = round(summary["coverage"] * n)
    slack = math.ceil(summary["p_loo"])
    assert low <= inside <= high + slack, (summary["coverage"], low / n, high / n)
    assert summary["loo_pit_ks_pvalue"] > 0.01
    assert summary["loo_pit_in_band"]
    assert summary["pareto_k_above_0.7"] == 0 and summary["pareto_k_max"] < 0.7
    assert 5 < summary["p_loo"] < 9  # seven parameters, weakly informative priors
    assert set(summary) == {"num_runs", "prob", "coverage", "loo_pit_ks_statistic",
                            "loo_pit_ks_pvalue", "loo_pit_in_band", "elpd_loo", "p_loo",
                            "pareto_k_max", "pareto_k_above_0.7"}


def test_checks_flag_too_narrow_noise(sim_post):
    """The same fit with σ shrunk 3x (replicates far too tight): coverage collapses and the
    LOO-PIT values pile up at 0 and 1."""
    posterior = sim_post.idata.posterior
    narrow = with_idata(sim_post, posterior=posterior.assign(sigma=posterior["sigma"] / 3))
    summary = ppc_summary(narrow, key=jax.random.key(1))
    assert summary["coverage"] < 0.6
    assert summary["loo_pit_ks_pvalue"] < 1e-6 and not summary["loo_pit_in_band"]


def test_without_pointwise_loglik_the_error_says_why(sim_post):
    bare = with_idata(sim_post, log_likelihood=None)
    for call in (loo_pit, ppc_summary):
        with pytest.raises(ValueError, match=r"no pointwise log-likelihood .*"
                                             r"MAX_POINTWISE_LOGLIK = 20,000,000"):
            call(bare, key=jax.random.key(0))


def test_bad_prob(sim_post):
    with pytest.raises(ValueError, match="interval probability must lie in"):
        ppc_summary(sim_post, key=jax.random.key(0), prob=1.0)


# -- the statistics, without a posterior ----------------------------------------------------------
@pytest.mark.parametrize("n", [3, 10, 50, 245, 2000])
def test_ks_pvalue_matches_scipy(n):
    """Within 0.035 everywhere, within 0.1 % below p = 0.15 (SciPy, not a dependency of the
    package, is here only as the reference)."""
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(n)
    pvalues = []
    for power in np.repeat([1.0, 1.1, 1.3, 2.0], 25):
        u = rng.uniform(size=n) ** power
        statistic, p = ks_uniform_pvalue(u)
        ref = stats.kstest(u, "uniform")
        assert statistic == pytest.approx(ref.statistic, rel=1e-12)
        if ref.pvalue < 0.15:
            assert p == pytest.approx(ref.pvalue, rel=1e-3)
        else:
            assert p == pytest.approx(ref.pvalue, abs=0.035)
        pvalues.append(ref.pvalue)
    assert min(pvalues) < 0.05 and max(pvalues) > 0.5  # both branches were exercised


@pytest.mark.parametrize("n", [20, 245])
def test_pit_band_is_simultaneous(n):
    """Over 3000 uniform samples, about 1 % of ECDF curves leave the 99 % band at some point;
    Binomial(3000, 0.01) has mean 30 and the band is conservative by construction (≥ 99 %)."""
    u = np.random.default_rng(7).uniform(size=(n, 3000))
    check = pit_ecdf(u, 0.99)
    outside = int(np.sum(~check.inside))
    assert 12 <= outside <= 45
    assert check.difference.shape == (len(check.z), 3000)
    assert np.all(check.lower < 0) and np.all(check.upper > 0)


@pytest.mark.parametrize("n", [100, 245])
def test_pit_band_agrees_with_arviz(n):
    """The hand-written band (kept for speed, see checks._simultaneous_band) and ArviZ's
    optimised simultaneous band agree to within one count of n at every point."""
    check = pit_ecdf(np.linspace(0.001, 0.999, n), 0.99)
    lower, upper = ecdf_confidence_band(n, check.z, check.z, prob=0.99, method="optimized")
    np.testing.assert_allclose(check.lower + check.z, lower, atol=1 / n + 1e-9)
    np.testing.assert_allclose(check.upper + check.z, upper, atol=1 / n + 1e-9)


def test_rank_band_is_simultaneous_and_catches_bias():
    rng = np.random.default_rng(8)
    ranks = rng.integers(0, 1000, size=(200, 3000))
    check = rank_ecdf(ranks, 999)
    assert len(check.z) == 99 and 12 <= np.sum(~check.inside) <= 45
    # the ECDF of ranks at z = t / (max_rank + 1) is the share of ranks below t
    j = 5
    np.testing.assert_allclose(check.difference[:, j] + check.z,
                               [(ranks[:, j] < t).mean() for t in check.z * 1000])
    skewed = np.minimum(rng.integers(0, 1000, size=(200, 10)) + 80, 999)  # truth often high
    assert not np.any(rank_ecdf(skewed, 999).inside)
    small = rank_ecdf(rng.integers(0, 16, size=100), 15)  # few draws: every rank a point
    assert len(small.z) == 15 and isinstance(small.inside, bool)


@pytest.mark.parametrize("call, match", [
    (lambda: rank_ecdf(np.array([[0.5, 1.0]] * 3), 10), "ranks must be integers"),
    (lambda: rank_ecdf(np.array([0, 11]), 10), r"ranks must lie in 0..max_rank = 0..10"),
    (lambda: rank_ecdf(np.array([0, 1]), 0), "max_rank must be a positive whole number"),
    (lambda: rank_ecdf(np.array([0, 1]), 10, prob=1.5), "band probability"),
    (lambda: pit_ecdf([0.2, 1.2]), "PIT values must be"),
    (lambda: ks_uniform_pvalue([]), "non-empty")])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
