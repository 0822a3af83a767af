"""NumPyro models built from (law, priors, likelihood): ``model(x, y=None)``.

``x`` maps each input of the law (``"N"``, ``"D"``, ...) to the *log* of its values and ``y`` is the
observed *log*-loss; with ``y=None`` the model simulates it (prior predictive).

Geometry. In ``log L = logsumexp(log E, log A − α·log N, ...)`` the pair (log A, α) is almost
perfectly correlated because log N sits far from zero (≈ 20). The model therefore samples each
power term's coefficient as the log of the term at the data's centre, ``u = log A − α·n̄`` with
n̄ = mean log N, which the data pin down independently of α. The prior stated on A is honoured
exactly: ``u`` is given the distribution of ``log A − α·n̄`` implied by the prior on A
(a change of variables with unit Jacobian for the shift), and A itself is recorded as a
deterministic site. Together with a dense mass matrix this cuts NUTS trajectories from hundreds
of leapfrog steps to about ten.

Example
-------
>>> import jax, jax.numpy as jnp
>>> from numpyro.infer import Predictive
>>> from bayes_scaling.simulation import simulate
>>> from bayes_scaling.laws.priors import default_priors
>>> runs = simulate(jax.random.key(0), num_runs=20)
>>> model = build_model("chinchilla", default_priors("chinchilla", runs))
>>> draws = Predictive(model, num_samples=3)(jax.random.key(1), model_inputs(runs))
>>> draws["log_loss"].shape
(3, 20)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import transforms

from .laws.priors import check_priors
from .laws.registry import get_law, term_log_input
from .likelihood import get_likelihood, noise_param_names, observation

__all__ = ["build_model", "model_inputs", "model_data", "centre_site", "observation_noise"]


def centre_site(coef):
    """Name of the sampled site that carries coefficient ``coef`` (log of its term at the centre)."""
    return f"log_{coef}_term"


def model_inputs(runs, law="chinchilla", dtype=None):
    """The model's ``x``: a dict of the log of each input the law needs, from `Runs`.

    Raises `data.RunsError` naming the column when the runs lack an input the law needs.
    """
    return jax.device_put(_log_inputs(runs, get_law(law), _float_dtype(dtype)))


def model_data(runs, law="chinchilla", dtype=None):
    """The model's ``(x, y)`` as NumPy arrays of one floating dtype (JAX's default unless
    given): the log of each input and the observed log-losses. The samplers pad them
    (`inference.padding`) and move them to the device once."""
    dtype = _float_dtype(dtype)
    return (_log_inputs(runs, get_law(law), dtype),
            np.log(np.asarray(runs.loss, np.float64)).astype(dtype))


def _float_dtype(dtype):
    return jnp.dtype(dtype) if dtype is not None else jnp.asarray(0.0).dtype


def _log_inputs(runs, law, dtype):
    # The log in NumPy: a jnp operation on an array of a new length (even jnp.asarray, through
    # lax.stage, in jax 0.10) compiles a small program of its own, and every refit of another
    # size would keep a few more in memory.
    return {name: np.log(np.asarray(runs.input(name, law.name), np.float64)).astype(dtype)
            for name in law.inputs}


def _parameter(name, prior):
    """A sampled parameter, or a constant when the prior is a fixed number."""
    if isinstance(prior, dist.Distribution):
        return numpyro.sample(name, prior)
    return numpyro.deterministic(name, jnp.asarray(prior))


def _coefficient(term, prior, exponent, centre):
    """Sample coefficient ``term.coef`` through the log of its term at ``centre`` (see module)."""
    if not isinstance(prior, dist.Distribution):
        return numpyro.deterministic(term.coef, jnp.asarray(prior))
    shift = exponent * centre  # log coef = log term at centre + exponent · centre
    log_term = numpyro.sample(centre_site(term.coef), dist.TransformedDistribution(
        prior, [transforms.ExpTransform().inv, transforms.AffineTransform(-shift, 1.0)]))
    coef = jnp.exp(log_term + shift)
    if prior.support is not dist.constraints.positive:
        # A bounded prior (e.g. Uniform): the unconstrained site can leave the support, so the
        # density must be zero there (NumPyro's log_prob does not check the support itself).
        numpyro.factor(f"{term.coef}_in_support",
                       jnp.where(prior.support(coef), 0.0, -jnp.inf))
    return numpyro.deterministic(term.coef, coef)


def observation_noise(likelihood, mean, priors):
    """The distribution of observed log-loss around ``mean`` (`likelihood.observation`), after
    sampling the noise parameters from their priors."""
    noise = {name: _parameter(name, priors[name]) for name in noise_param_names(likelihood)}
    return observation(likelihood, mean, noise)


def build_model(law, priors, likelihood="student_t"):
    """Build the NumPyro model ``model(x, y=None)`` of a law with the given priors.

    Parameters
    ----------
    law : Law or str
    priors : dict
        One NumPyro distribution (or fixed number) per parameter of the law and the likelihood.
    likelihood : {"student_t", "normal"}
        Noise on log-loss. Student-t (default) is robust to outlying runs, the Bayesian cousin of
        the Huber loss used by Hoffmann et al.; Normal is the textbook choice.

    Returns
    -------
    callable
        ``model(x, y=None, mask=None)``; ``mask`` (boolean, one per run) leaves padded runs out
        of the likelihood and of the centring, for batches of data sets of unequal size. Sites: the law's parameters (coefficients as deterministic sites),
        ``log_<coef>_term`` for each power term, ``sigma`` (and ``nu``), and the observed
        ``log_loss``.
    """
    law = get_law(law)
    get_likelihood(likelihood)  # a clear error for an unknown name
    check_priors(law, priors, likelihood)
    return make_model(law, priors, likelihood)


def make_model(law, priors, likelihood):
    """`build_model` without the checks; the sampler calls it with traced prior parameters."""
    coefs = {term.coef for term in law.power_terms}

    def model(x, y=None, mask=None):
        params = {name: _parameter(name, priors[name])
                  for name in law.param_names if name not in coefs}
        for term in law.power_terms:
            values = term_log_input(term, x)
            centre = (jnp.mean(values) if mask is None
                      else jnp.sum(jnp.where(mask, values, 0.0)) / jnp.sum(mask))
            params[term.coef] = _coefficient(term, priors[term.coef], params[term.exponent], centre)
        mean = law.log_loss(params, x)
        observation = observation_noise(likelihood, mean, priors)
        if mask is not None:
            # A mask of another shape would broadcast the likelihood and count runs twice.
            if jnp.shape(mask) != jnp.shape(mean):
                raise ValueError(f"mask has shape {jnp.shape(mask)}, the runs {jnp.shape(mean)}")
            observation = observation.mask(mask)
        numpyro.sample("log_loss", observation, obs=y)

    return model
