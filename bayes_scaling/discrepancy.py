"""Extrapolation discrepancy: how much wider forecasts must be beyond the fitted compute.

A law fitted to hundreds of runs has tight parameters, and its noise scale describes how runs
scatter *inside* the data. Beyond the data the law's own error (a form that is not quite right, a
change of regime) adds to that, and the backtests in docs/validation.md show intervals that are
far too narrow there. This module models that error as extra noise on log-loss whose scale grows
with the distance beyond the largest fitted compute::

    scale(C) = sqrt(σ² + (κ · max(0, log(C / C_max)))²)

with one number κ (nats of log-loss per e-fold of compute). κ = 0 recovers the plain posterior
predictive. `validation.backtest.estimate_discrepancy` learns κ from the runs themselves by an internal
backtest; this module holds only the predictive distribution, so that `forecast` can use it
without depending on the fitting and backtesting layers.

Example
-------
>>> import numpy as np
>>> compute_distance([1e20, 1e22], fitted_C=np.array([1e19, 1e21])).round(2).tolist()
[0.0, 2.3]
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .likelihood import observation

__all__ = ["predictive", "predictive_noise", "compute_distance", "KAPPA_GRID"]

# 0 and 1e-4 .. 0.3 nats per e-fold of compute, log-spaced
KAPPA_GRID = np.concatenate([[0.0], np.geomspace(1e-4, 0.3, 36)])


def compute_distance(C, fitted_C):
    """Extrapolation distance: e-folds of compute beyond the largest fitted run (0 inside)."""
    return np.maximum(0.0, np.log(np.asarray(C, float) / np.max(fitted_C)))


def predictive_noise(params, log_x, distance, kappa, *, law, likelihood):
    """Per draw and point: the law's log-loss and the noise distribution around it."""
    expand = {name: value[:, None] for name, value in params.items()}
    log_mean = law.log_loss(expand, {name: value[None, :] for name, value in log_x.items()})
    scale = jnp.sqrt(expand["sigma"] ** 2 + (kappa * jnp.asarray(distance)[None, :]) ** 2)
    return log_mean, observation(likelihood, log_mean, expand, scale)


def predictive(params, log_x, distance, kappa, *, key, law, likelihood, observed=None):
    """Posterior predictive log-loss with the discrepancy term.

    Parameters
    ----------
    params : dict of 1-D arrays
        Posterior draws of the law's and the likelihood's parameters.
    log_x : dict of 1-D arrays
        Log inputs of the points.
    distance : array_like
        `compute_distance` of each point.
    kappa : float
    key : jax.random key
    law, likelihood
        Of the fit.
    observed : array_like, optional
        Observed log-losses; when given, their log density under each draw is returned too.

    Returns
    -------
    (expected, replicated, log_density or None)
        Arrays of shape (draws, points): the law's log-loss, a replicated observed log-loss,
        and the log density of ``observed``.
    """
    log_mean, noise = predictive_noise(params, log_x, distance, kappa, law=law,
                                       likelihood=likelihood)
    density = None if observed is None else noise.log_prob(jnp.asarray(observed)[None, :])
    return log_mean, noise.sample(key), density
