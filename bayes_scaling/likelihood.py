"""The observation model of log-loss, defined once.

An observed log-loss scatters around the law's log-loss μ with scale s:

==========  ===============================  ===================================================
likelihood  log L_observed                   noise parameters and their default priors
==========  ===============================  ===================================================
student_t   StudentT(ν, μ, s)  (default)     σ ~ HalfNormal(0.1), ν ~ Gamma(2, 0.1) (Juárez and
                                             Steel 2010): robust to outlying runs, the Bayesian
                                             cousin of Hoffmann et al.'s Huber loss
normal      Normal(μ, s)                     σ ~ HalfNormal(0.1)
==========  ===============================  ===================================================

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

import numpy as np
import numpyro.distributions as dist
from scipy import stats

__all__ = ["Likelihood", "LIKELIHOODS", "get_likelihood", "noise_param_names", "noise_priors",
           "observation", "noise_quantile"]


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


LIKELIHOODS = {
    "student_t": Likelihood(
        "student_t", ("sigma", "nu"),
        default_priors=lambda: {"sigma": dist.HalfNormal(0.1), "nu": dist.Gamma(2.0, 0.1)},
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
