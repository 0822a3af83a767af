"""Extrapolation discrepancy: how much wider forecasts must be beyond the fitted compute.

A law fitted to hundreds of runs has tight parameters, and its noise scale describes how runs
scatter *inside* the data. Beyond the data the law's own error (a form that is not quite right, a
change of regime) adds to that, and the backtests in docs/validation.md show intervals that are
far too narrow there. This module models that error as extra noise on log-loss whose scale grows
with the distance beyond the largest fitted compute::

    scale(C) = sqrt(σ² + (κ · max(0, log(C / C_max)))²)

and learns the one number κ (nats of log-loss per e-fold of compute) from the runs themselves: fit
on the runs below an internal compute cutoff, forecast the runs above it, and keep the κ whose
predictive distribution gives those runs the highest log density. κ = 0 recovers the plain
posterior predictive.

Example
-------
>>> import jax
>>> from bayes_scaling import simulate
>>> runs = simulate(jax.random.key(0), num_runs=60)
>>> kappa, table = estimate_discrepancy(runs, key=jax.random.key(1))
>>> bool(kappa >= 0), list(table.columns)
(True, ['kappa', 'mean_lpd'])
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd

from .scoring import log_mean_density

__all__ = ["predictive", "compute_distance", "estimate_discrepancy", "KAPPA_GRID"]

# 0 and 1e-4 .. 0.3 nats per e-fold of compute, log-spaced
KAPPA_GRID = np.concatenate([[0.0], np.geomspace(1e-4, 0.3, 36)])


def compute_distance(C, fitted_C):
    """Extrapolation distance: e-folds of compute beyond the largest fitted run (0 inside)."""
    return np.maximum(0.0, np.log(np.asarray(C, float) / np.max(fitted_C)))


def _noise(params, log_x, distance, kappa, *, law, likelihood):
    """Per draw and point: the law's log-loss and the noise distribution around it."""
    expand = {name: value[:, None] for name, value in params.items()}
    log_mean = law.log_loss(expand, {name: value[None, :] for name, value in log_x.items()})
    scale = jnp.sqrt(expand["sigma"] ** 2 + (kappa * jnp.asarray(distance)[None, :]) ** 2)
    if likelihood == "student_t":
        return log_mean, dist.StudentT(expand["nu"], log_mean, scale)
    return log_mean, dist.Normal(log_mean, scale)


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
    log_mean, noise = _noise(params, log_x, distance, kappa, law=law, likelihood=likelihood)
    density = None if observed is None else noise.log_prob(jnp.asarray(observed)[None, :])
    return log_mean, noise.sample(key), density


def estimate_discrepancy(runs, *, key, law="chinchilla", priors=None, likelihood="student_t",
                         config=None, holdout_top=0.2, grid=KAPPA_GRID):
    """Learn κ from an internal backtest on ``runs`` (see the module docstring).

    Parameters
    ----------
    runs : Runs
        The runs a forecast will be based on; the largest ``holdout_top`` of them by compute are
        held out internally.
    key : jax.random key
    law, priors, likelihood, config
        As for `fit`.
    holdout_top : float
    grid : array_like
        Candidate values of κ.

    Returns
    -------
    (float, pandas.DataFrame)
        The chosen κ, and the mean log predictive density of the internally held-out runs for
        every κ of the grid.
    """
    from .api import fit
    from .forecast import posterior_params
    from .laws import get_law
    from .priors import all_param_names
    from .validate import split_by_compute

    law = get_law(law)
    train, held = split_by_compute(runs, holdout_top=holdout_top,
                                   min_train=len(all_param_names(law, likelihood)))
    post = fit(train, key=key, law=law, priors=priors, likelihood=likelihood, config=config)
    post.warn_if_unconverged("estimating the extrapolation discrepancy")
    params = posterior_params(post)
    log_x = {name: jnp.log(jnp.asarray(getattr(held, name))) for name in law.inputs}
    distance = compute_distance(held.C, train.C)
    y = np.log(held.loss)
    scores = []
    for kappa in grid:
        log_mean, noise = _noise(params, log_x, distance, kappa, law=law, likelihood=likelihood)
        scores.append(float(np.mean(log_mean_density(noise.log_prob(jnp.asarray(y)[None, :])))))
    table = pd.DataFrame({"kappa": np.asarray(grid, float), "mean_lpd": scores})
    return float(table["kappa"][table["mean_lpd"].idxmax()]), table
