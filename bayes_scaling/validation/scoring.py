"""Scores of probabilistic forecasts against what happened: coverage, CRPS, log density, error.

Every function takes an ensemble of predictive draws with the draws on axis 0, shape
``(draws, points)``, and the observed values, shape ``(points,)``, so the Bayesian posterior
predictive and the bootstrap baseline are scored by the same code.

Example
-------
>>> import numpy as np
>>> draws = np.random.default_rng(0).normal(size=(4000, 3))
>>> in_interval(draws, np.array([0.0, 1.0, 3.0]), 0.9)
array([ True,  True, False])
>>> crps(draws, np.zeros(3)).round(2)  # exact value for N(0, 1) at 0: 0.23
array([0.23, 0.23, 0.23])
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["in_interval", "crps", "log_mean_density", "relative_error", "chi2_uniformity"]


def in_interval(draws, observed, prob):
    """Whether each observed value lies inside the central ``prob`` interval of its draws.

    Parameters
    ----------
    draws : array_like, shape (draws, points)
    observed : array_like, shape (points,)
    prob : float
        Central probability of the interval, in (0, 1).

    Returns
    -------
    numpy.ndarray of bool, shape (points,)
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must be in (0, 1), got {prob}")
    lo, hi = np.quantile(np.asarray(draws), [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    observed = np.asarray(observed)
    return (lo <= observed) & (observed <= hi)


def crps(draws, observed):
    """Continuous ranked probability score of an ensemble (lower is better; units of the data).

    CRPS(F, y) = E|X − y| − ½·E|X − X'| for X, X' independent draws from F, estimated from the
    ensemble. The second term uses the sorted-draws identity
    E|X − X'| = 2/m² · Σᵢ (2i − m − 1)·x₍ᵢ₎, so the cost is a sort, not m² pairs.

    Parameters
    ----------
    draws : array_like, shape (draws, points)
    observed : array_like, shape (points,)

    Returns
    -------
    numpy.ndarray, shape (points,)
    """
    x = np.sort(np.asarray(draws, dtype=float), axis=0)
    m = x.shape[0]
    weights = (2 * np.arange(1, m + 1) - m - 1)[:, None]
    spread = 2.0 / m**2 * np.sum(weights * x, axis=0)
    return np.mean(np.abs(x - np.asarray(observed, dtype=float)), axis=0) - 0.5 * spread


def log_mean_density(log_densities):
    """Log predictive density: log of the mean over draws of each point's density.

    Parameters
    ----------
    log_densities : array_like, shape (draws, points)
        Per draw, the log density of the observed value.

    Returns
    -------
    numpy.ndarray, shape (points,)
    """
    values = np.asarray(log_densities, dtype=float)
    top = np.max(values, axis=0)
    return top + np.log(np.mean(np.exp(values - top), axis=0))


def relative_error(predicted, observed):
    """(predicted − observed) / observed, elementwise."""
    observed = np.asarray(observed, dtype=float)
    return (np.asarray(predicted, dtype=float) - observed) / observed


def chi2_uniformity(ranks, max_rank, bins):
    """Pearson χ² test that integer ranks in 0..max_rank are uniform; returns (statistic, p).

    The ``max_rank + 1`` possible ranks are split into ``bins`` equal groups, so ``max_rank + 1``
    must be a multiple of ``bins``. Keep the expected count per bin at 5 or more for the χ²
    approximation to hold.

    >>> ranks = np.arange(100).repeat(2)
    >>> chi2_uniformity(ranks, 99, 10)
    (0.0, 1.0)
    """
    ranks = np.asarray(ranks)
    if (max_rank + 1) % bins:
        raise ValueError(f"max_rank + 1 = {max_rank + 1} is not a multiple of bins = {bins}")
    if ranks.min() < 0 or ranks.max() > max_rank:
        raise ValueError(f"ranks must lie in 0..{max_rank}")
    counts = np.bincount(ranks * bins // (max_rank + 1), minlength=bins)
    result = stats.chisquare(counts)  # against equal expected counts, bins − 1 degrees of freedom
    return float(result.statistic), float(result.pvalue)
