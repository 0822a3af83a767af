"""The observation model is defined once: the sampled model, prediction, the discrepancy and the
plots' noise band all use `likelihood.observation` (or its quantiles)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers
from scipy import stats

from bayes_scaling.cli.options import LIKELIHOOD_CHOICES
from bayes_scaling.discrepancy import predictive_noise
from bayes_scaling.prediction import predictive_draws
from bayes_scaling.laws.registry import get_law
from bayes_scaling.laws.priors import describe_prior, has_positive_support, parse_prior
from bayes_scaling.likelihood import (LIKELIHOODS, ShiftedGamma, noise_param_names,
                                      noise_priors, noise_quantile, observation)
from bayes_scaling.models import build_model

# Draws with fixed keys: replay with --xla-isa / --key-offset (root conftest.py).
pytestmark = pytest.mark.statistical

LAW = get_law("chinchilla")
TRUE = {"E": 1.8, "A": 480.0, "alpha": 0.35, "B": 2100.0, "beta": 0.37}
NOISE = {"student_t": {"sigma": 0.02, "nu": 4.0}, "normal": {"sigma": 0.02}}
LOG_X = {"N": jnp.log(jnp.array([1e8, 1e9])), "D": jnp.log(jnp.array([2e9, 2e10]))}


def test_cli_offers_exactly_the_library_likelihoods():
    assert tuple(LIKELIHOODS) == LIKELIHOOD_CHOICES


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_every_likelihood_names_its_parameters_and_priors(likelihood):
    names = noise_param_names(likelihood)
    assert names[0] == "sigma" and set(noise_priors(likelihood)) == set(names)


def test_unknown_likelihood_names_the_choices():
    with pytest.raises(ValueError, match="unknown likelihood 'laplace'.*student_t"):
        observation("laplace", 0.0, {"sigma": 0.1})


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_the_sampled_model_uses_the_observation_model(likelihood):
    """The model's observed site has exactly `observation`'s density at fixed parameters."""
    priors = {**TRUE, **NOISE[likelihood]}  # numbers: every parameter fixed
    model = build_model(LAW, priors, likelihood)
    y = jnp.log(jnp.array([3.1, 2.6]))
    trace = handlers.trace(model).get_trace(LOG_X, y)
    mean = LAW.log_loss({k: jnp.asarray(v) for k, v in TRUE.items()}, LOG_X)
    expected = observation(likelihood, mean, NOISE[likelihood]).log_prob(y)
    site = trace["log_loss"]
    np.testing.assert_allclose(site["fn"].log_prob(site["value"]), expected, rtol=1e-6)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_predictions_follow_the_observation_model(likelihood):
    """Replicated log-losses of `forecast` (and of the discrepancy at distance 0) are draws of
    `observation` around the law: a KS test against the exact noise distribution (scipy), at a
    fixed key. Its power at 4,000 draws, measured: a Student-t (ν=4) read as a Normal gives
    p = 6e-8, a Normal's scale 10% off p = 0.002."""
    draws = 4000
    params = {k: jnp.full(draws, v) for k, v in {**TRUE, **NOISE[likelihood]}.items()}
    law_mean, replicated = predictive_draws(params, LOG_X, jax.random.key(0), law=LAW,
                                            likelihood=likelihood)
    sigma = NOISE[likelihood]["sigma"]
    reference = (stats.t(NOISE[likelihood]["nu"]) if likelihood == "student_t"
                 else stats.norm()).cdf
    for point in range(2):
        standard = np.asarray((replicated[:, point] - law_mean[:, point]) / sigma, np.float64)
        assert stats.kstest(standard, reference).pvalue > 0.01
    _, noise = predictive_noise(params, LOG_X, np.zeros(2), 0.05, law=LAW, likelihood=likelihood)
    np.testing.assert_allclose(noise.scale, sigma, rtol=1e-6)  # inside the data: σ alone


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_noise_quantile_is_the_observation_quantile(likelihood):
    """The plots' noise band (`noise_quantile`) against 200,000 draws of `observation`: the
    95% quantile agrees within its Monte Carlo error (about 1%; 3% allowed)."""
    noise = NOISE[likelihood]
    draws = observation(likelihood, 0.0, noise).sample(jax.random.key(1), (200_000,))
    assert float(noise_quantile(likelihood, 0.95, noise)) == pytest.approx(
        float(np.quantile(np.asarray(draws), 0.95)), rel=0.03)


def test_shifted_gamma_is_a_gamma_moved_to_its_lower_bound():
    """ν's default prior: the density is scipy's Gamma shifted by ``low`` (and nothing below it),
    its draws are ``low`` plus Gamma draws (KS test at a fixed key), and the prior grammar and
    the fit files read back what `describe_prior` writes."""
    prior = ShiftedGamma(2.0, 0.1, low=2.0)
    values = np.array([2.5, 5.0, 22.0, 80.0])
    expected = stats.gamma.logpdf(values, a=2.0, scale=10.0, loc=2.0)
    np.testing.assert_allclose(prior.log_prob(jnp.asarray(values)), expected, rtol=1e-5)
    assert float(prior.support.lower_bound) == 2.0 and has_positive_support(prior)
    draws = np.asarray(prior.sample(jax.random.key(0), (4000,)), np.float64)
    assert draws.min() > 2.0
    assert stats.kstest(draws, stats.gamma(a=2.0, scale=10.0, loc=2.0).cdf).pvalue > 0.01
    text = describe_prior(prior, exact=True)
    again = parse_prior(f"nu={text}")["nu"]
    assert text == "ShiftedGamma(concentration=2.0, rate=0.1, low=2.0)"
    assert (again.concentration, again.rate, again.low) == (2.0, 0.1, 2.0)


def test_student_t_prior_keeps_the_noise_variance_finite():
    """The default ν prior puts no mass at ν ≤ 2, where a Student-t has no variance."""
    prior = noise_priors("student_t")["nu"]
    assert float(prior.support.lower_bound) == 2.0
    assert np.all(np.asarray(prior.sample(jax.random.key(1), (1000,))) > 2.0)
