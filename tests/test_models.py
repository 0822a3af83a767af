"""The model's density at known parameters, by hand; the priors on A and B are honoured exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
from numpyro.infer import Predictive
from numpyro.infer.util import log_density

from bayes_scaling.laws.priors import default_priors
from bayes_scaling.models import build_model, centre_site, model_inputs


@pytest.mark.parametrize("likelihood", ["student_t", "normal"])
def test_log_density_matches_hand_computation(sim_runs, likelihood):
    priors = default_priors("chinchilla", sim_runs, likelihood)
    model = build_model("chinchilla", priors, likelihood)
    x = model_inputs(sim_runs, dtype=jnp.float32)
    y = jnp.log(jnp.asarray(sim_runs.loss, jnp.float32))
    p = {"E": 1.8, "alpha": 0.34, "beta": 0.37, "sigma": 0.012, "nu": 6.0,
         centre_site("A"): -1.1, centre_site("B"): -0.9}
    if likelihood == "normal":
        del p["nu"]
    got, _ = log_density(model, (x, y), {}, {k: jnp.float32(v) for k, v in p.items()})

    nbar, dbar = np.mean(np.log(sim_runs.N)), np.mean(np.log(sim_runs.D))
    log_A, log_B = p[centre_site("A")] + p["alpha"] * nbar, p[centre_site("B")] + p["beta"] * dbar
    A, B = np.exp(log_A), np.exp(log_B)
    mean = np.log(p["E"] + A * sim_runs.N ** -p["alpha"] + B * sim_runs.D ** -p["beta"])

    def logpdf(name, value):  # scipy, independent of NumPyro
        prior = priors[name]
        kind = type(prior).__name__
        if kind == "HalfNormal":
            return st.halfnorm.logpdf(value, scale=float(prior.scale))
        if kind == "LogNormal":
            return st.lognorm.logpdf(value, s=float(prior.scale), scale=np.exp(float(prior.loc)))
        if kind == "Gamma":
            return st.gamma.logpdf(value, a=float(prior.concentration), scale=1 / float(prior.rate))
        if kind == "ShiftedGamma":
            return st.gamma.logpdf(value, a=float(prior.concentration), scale=1 / float(prior.rate),
                                   loc=float(prior.low))
        raise AssertionError(kind)

    expected = sum(logpdf(n, p[n]) for n in ("E", "alpha", "beta", "sigma"))
    # change of variables: u = log A − α·n̄ has density p_A(A)·A (unit Jacobian for the shift)
    expected += logpdf("A", A) + log_A + logpdf("B", B) + log_B
    resid = np.log(sim_runs.loss)
    if likelihood == "student_t":
        expected += logpdf("nu", p["nu"])
        expected += st.t.logpdf(resid, df=p["nu"], loc=mean, scale=p["sigma"]).sum()
    else:
        expected += st.norm.logpdf(resid, loc=mean, scale=p["sigma"]).sum()
    assert float(got) == pytest.approx(expected, rel=2e-5)


def test_prior_on_coefficients_is_honoured(sim_runs):
    """Draws of A and B from the model's prior follow the stated LogNormal (KS test, 1% level)."""
    priors = default_priors("chinchilla", sim_runs)
    model = build_model("chinchilla", priors)
    draws = Predictive(model, num_samples=4000)(jax.random.key(7), model_inputs(sim_runs))
    for name in ("A", "B"):
        prior = priors[name]
        ref = st.lognorm(s=float(prior.scale), scale=np.exp(float(prior.loc)))
        assert st.kstest(np.asarray(draws[name], np.float64), ref.cdf).pvalue > 0.01


@pytest.mark.filterwarnings("ignore:Out-of-support values:UserWarning")  # deliberately outside
def test_bounded_coefficient_prior_is_exact(sim_runs):
    """A Uniform prior on A: outside its support the density is zero."""
    import numpyro.distributions as dist

    priors = {**default_priors("chinchilla", sim_runs), "A": dist.Uniform(100.0, 1000.0)}
    model = build_model("chinchilla", priors)
    x, y = model_inputs(sim_runs), jnp.log(jnp.asarray(sim_runs.loss, jnp.float32))
    nbar = float(jnp.mean(x["N"]))
    base = {"E": 1.8, "alpha": 0.34, "beta": 0.37, "sigma": 0.01, "nu": 5.0, centre_site("B"): -1.0}
    inside, _ = log_density(model, (x, y), {}, {**base, centre_site("A"): np.log(500) - 0.34 * nbar})
    outside, _ = log_density(model, (x, y), {}, {**base, centre_site("A"): np.log(5000) - 0.34 * nbar})
    assert np.isfinite(float(inside)) and float(outside) == -np.inf


def test_fixed_parameter(sim_runs):
    priors = {**default_priors("chinchilla", sim_runs), "nu": 5.0}
    model = build_model("chinchilla", priors)
    draws = Predictive(model, num_samples=5)(jax.random.key(0), model_inputs(sim_runs))
    np.testing.assert_allclose(draws["nu"], 5.0)


def test_unknown_likelihood(sim_runs):
    with pytest.raises(ValueError, match="unknown likelihood 'cauchy'"):
        build_model("chinchilla", default_priors("chinchilla", sim_runs), "cauchy")
