"""The observation model of log-loss, defined once.

An observed log-loss scatters around the law's log-loss μ with scale s:

==========  ===============================  ===================================================
likelihood  log L_observed                   noise parameters and their default priors
==========  ===============================  ===================================================
student_t   StudentT(ν, μ, s)  (default)     σ ~ HalfNormal(0.1), ν − 2 ~ Gamma(2, 0.1): robust
                                             to outlying runs, the Bayesian cousin of Hoffmann
                                             et al.'s Huber loss (see below for the shift)
normal      Normal(μ, s)                     σ ~ HalfNormal(0.1)
==========  ===============================  ===================================================

ν's prior is Juárez and Steel's (2010) Gamma(2, 0.1) moved to start at 2 (`ShiftedGamma`), as
Kruschke (2013) moves his exponential prior to start at 1: run-to-run noise of a final loss has a
finite variance, and a Student-t with ν ≤ 2 has none. On the shared isoFLOP sweeps Juárez and
Steel's prior let ν fall to 1 (a Cauchy), where the posterior has a second mode in which every
run off the law's valley is an outlier: chains split between the modes failed the diagnostics
gate whatever the number of draws, and the forecast's observed-loss band had no variance.
Measured with the defaults on every shared loss set (benchmarks/results/bench_defaults_cpu.md),
before → after: 34 → 37 of 38 fits pass the gate after the automatic remedies (277 → 77 s of
refits); on the leave-future-out validation (docs/validation.md) the default forecast's 90%
width over its error fell from 7.65 to 7.13 and its CRPS from 0.117 to 0.109.

Inside the data s = σ; beyond it the extrapolation discrepancy widens s (`discrepancy`). The
sampled model (`models`, `inference.pooled`), prediction (`forecast`, `discrepancy`), the checks
and the plots all take the distribution from `observation`, so the model that is fitted is the
one that predicts. A new likelihood is one `Likelihood` entry in `LIKELIHOODS` plus its tests.

Example
-------
>>> import jax.numpy as jnp
>>> noise = {"sigma": jnp.array(0.02), "nu": jnp.array(4.0)}
>>> round(float(observation("student_t", jnp.log(2.0), noise).mean), 4)  # any precision
0.6931
>>> round(float(noise_quantile("normal", 0.95, noise)), 4)
0.0329
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes, validate_sample
from scipy import stats

__all__ = ["ShiftedGamma", "Likelihood", "LIKELIHOODS", "get_likelihood", "noise_param_names",
           "noise_priors", "observation", "noise_quantile"]


class ShiftedGamma(dist.Distribution):
    """``low + Gamma(concentration, rate)``: a Gamma distribution moved to start at ``low``.

    Written here for a measured reason. In NumPyro it is a `TransformedDistribution`, which the
    sampler's cache cannot rebuild from arrays (`inference.sampler.split_priors`), so every fit
    would trace and compile the sampler again: 13-17 s a fit against 1.4 s. NumPyro 0.22's
    ``TruncatedGamma`` is another distribution, and NumPyro 0.21 lacks it. This one is rebuilt
    from its three arguments like any other prior, and reads back from `describe_prior`.

    Parameters
    ----------
    concentration, rate : float or array
        Of the Gamma distribution of ``x - low`` (mean ``concentration / rate``).
    low : float or array
        The lower end of the support.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> prior = ShiftedGamma(2.0, 0.1, low=2.0)
    >>> float(prior.mean), float(prior.support.lower_bound)
    (22.0, 2.0)
    >>> bool(prior.log_prob(jnp.array(12.0)) == dist.Gamma(2.0, 0.1).log_prob(jnp.array(10.0)))
    True
    """

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive,
                       "low": constraints.real}
    reparametrized_params = ["concentration", "rate", "low"]
    pytree_data_fields = ("concentration", "rate", "low")

    def __init__(self, concentration=1.0, rate=1.0, low=0.0, *, validate_args=None):
        self.concentration, self.rate, self.low = promote_shapes(concentration, rate, low)
        batch_shape = jax.lax.broadcast_shapes(jnp.shape(concentration), jnp.shape(rate),
                                               jnp.shape(low))
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.greater_than(self.low)

    def _gamma(self):
        return dist.Gamma(self.concentration, self.rate)

    def sample(self, key, sample_shape=()):
        return self.low + self._gamma().sample(key, sample_shape)

    @validate_sample
    def log_prob(self, value):
        excess = value - self.low
        inside = excess > 0
        density = self._gamma().log_prob(jnp.where(inside, excess, 1.0))
        return jnp.where(inside, density, -jnp.inf)

    @property
    def mean(self):
        return self.low + self._gamma().mean

    @property
    def variance(self):
        return self._gamma().variance


@dataclasses.dataclass(frozen=True)
class Likelihood:
    """One observation model of log-loss.

    Attributes
    ----------
    name : str
    params : tuple of str
        Its noise parameters, the scale ``"sigma"`` first.
    default_priors : callable
        ``() -> dict`` of the noise parameters' default priors.
    distribution : callable
        ``(loc, scale, noise) -> numpyro Distribution`` of observed log-loss; ``noise`` maps the
        parameters to values (arrays broadcast with ``loc``).
    standard_quantile : callable
        ``(q, noise) -> array``: the ``q`` quantile of the noise at unit scale (NumPy, for
        reporting; NumPyro's Student-t has no quantile function without TensorFlow Probability).
    """

    name: str
    params: tuple
    default_priors: Callable
    distribution: Callable
    standard_quantile: Callable


NU_FLOOR = 2.0  # the Student-t's degrees of freedom start here: finite noise variance

LIKELIHOODS = {
    "student_t": Likelihood(
        "student_t", ("sigma", "nu"),
        default_priors=lambda: {"sigma": dist.HalfNormal(0.1),
                                "nu": ShiftedGamma(2.0, 0.1, low=NU_FLOOR)},
        distribution=lambda loc, scale, noise: dist.StudentT(noise["nu"], loc, scale),
        standard_quantile=lambda q, noise: stats.t.ppf(q, np.asarray(noise["nu"]))),
    "normal": Likelihood(
        "normal", ("sigma",),
        default_priors=lambda: {"sigma": dist.HalfNormal(0.1)},
        distribution=lambda loc, scale, noise: dist.Normal(loc, scale),
        standard_quantile=lambda q, noise: stats.norm.ppf(q)),
}


def get_likelihood(name):
    """The `Likelihood` called ``name``; `ValueError` naming the choices otherwise."""
    if name not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood {name!r}; choose one of {tuple(LIKELIHOODS)}")
    return LIKELIHOODS[name]


def noise_param_names(name):
    """Names of the likelihood's own parameters (``sigma``, plus ``nu`` for Student-t)."""
    return get_likelihood(name).params


def noise_priors(name):
    """Default priors of the likelihood's own parameters (see the module's table)."""
    return get_likelihood(name).default_priors()


def observation(name, loc, noise, scale=None):
    """The distribution of observed log-loss around the law's log-loss ``loc``.

    Parameters
    ----------
    name : str
        A key of `LIKELIHOODS`.
    loc : array
        The law's log-loss.
    noise : dict
        Values of the noise parameters (``sigma``, ``nu``, ...), broadcasting with ``loc``.
    scale : array, optional
        The scale; default ``noise["sigma"]`` (`discrepancy` passes a wider one).

    Returns
    -------
    numpyro.distributions.Distribution
    """
    return get_likelihood(name).distribution(loc, noise["sigma"] if scale is None else scale,
                                              noise)


def noise_quantile(name, q, noise):
    """The ``q`` quantile of the observation noise on log-loss, per value of the parameters:
    ``sigma`` times the standard quantile (NumPy arrays)."""
    sigma = np.asarray(noise["sigma"])
    return sigma * get_likelihood(name).standard_quantile(q, noise)
