"""Posterior predictive checks: replicated losses, LOO-PIT, ECDF bands, and a one-line summary.

A fit can converge and still describe the data badly. These checks compare each fitted run's
observed loss with *replicated* losses at the same (N, D): the law's value for a posterior draw
plus the fitted observation noise, as `bayes_scaling.forecast` does for new points.

* `replicated_losses` draws them; `with_posterior_predictive` stores them (as log-loss) in the
  ``posterior_predictive`` group ArviZ expects.
* `loo_pit` gives each run's leave-one-out probability integral transform: where its observed
  log-loss falls in the predictive distribution of a fit *without* it (Pareto-smoothed importance
  sampling over the stored pointwise log-likelihood, no refits). For a calibrated model they are
  close to independent uniform draws.
* `pit_ecdf` and `rank_ecdf` set an ECDF of PIT values or of simulation-based-calibration ranks
  against a *simultaneous* confidence band (Säilynoja, Bürkner & Vehtari 2022): under uniformity
  the whole ECDF stays inside with probability ``prob``.
* `ppc_summary` condenses it: the share of observed losses inside the central predictive
  interval, a Kolmogorov-Smirnov p-value for the uniformity of the LOO-PIT values, and the number
  of Pareto-k diagnostics above 0.7 (runs whose leave-one-out estimate is unreliable).

Everything random takes an explicit key; the same key gives the same numbers. The statistics use
NumPy only (SciPy is not a dependency of this package).

Example
-------
>>> import jax, bayes_scaling as bs
>>> post = bs.fit(bs.simulate(jax.random.key(0)), key=jax.random.key(1),
...               config=bs.SamplerConfig(num_warmup=500, num_samples=1000))
>>> replicated_losses(post, key=jax.random.key(2)).shape  # (chain, draw, run)
(4, 1000, 245)
>>> summary = ppc_summary(post, key=jax.random.key(2))
>>> bool(0.85 < summary["coverage"] < 0.95), bool(summary["loo_pit_ks_pvalue"] > 0.01)
(True, True)
>>> summary["pareto_k_above_0.7"]
0
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy import stats

from ..inference.sampler import MAX_POINTWISE_LOGLIK
from ..laws.priors import all_param_names
from ..posterior import Posterior, replicated_log_loss

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="ArviZ is undergoing", category=FutureWarning)
    import arviz as az

__all__ = ["replicated_losses", "with_posterior_predictive", "loo_pit", "ppc_summary",
           "pit_ecdf", "rank_ecdf", "ECDFCheck", "ks_uniform_pvalue", "PARETO_K_THRESHOLD"]

PARETO_K_THRESHOLD = 0.7  # above it PSIS-LOO is unreliable for that run (Vehtari et al. 2024)
BAND_SIMULATIONS = 5000  # uniform samples simulated to calibrate a simultaneous band
BAND_SEED = 20220  # fixed: the same inputs always give the same band


# -- replicated data ---------------------------------------------------------------------------
def replicated_log_losses(post, key):
    """Replicated log-loss at the fitted runs, shape (chain, draw, run); no gate warning."""
    names = all_param_names(post.law, post.likelihood)
    samples = {name: post.idata.posterior[name].values for name in names}
    inputs = {name: post.idata.constant_data[name].values for name in post.law.inputs}
    return replicated_log_loss(post.law, post.likelihood, samples, inputs, key)


def replicated_losses(post, *, key):
    """Replicated observed losses at each fitted run's own (N, D), one set per posterior draw.

    Per draw, the law's log-loss plus a draw of the likelihood's noise (Student-t or Normal with
    that draw's σ and ν), exponentiated: what re-running each training run could have reported
    if the model is right.

    Parameters
    ----------
    post : Posterior
    key : jax.random key
        For the noise; the same key gives the same array.

    Returns
    -------
    numpy.ndarray
        Losses (not log-losses), shape (chain, draw, run), runs in the fit's order.

    Warns
    -----
    ConvergenceWarning
        When the posterior fails the diagnostics gate.

    Examples
    --------
    With ``post`` a fit as in the module example (which runs this):
    ``np.quantile(replicated_losses(post, key=jax.random.key(0)), [0.05, 0.95], axis=(0, 1))``
    gives each run's central 90 % predictive interval.
    """
    post.warn_if_unconverged("posterior predictive checks", stacklevel=3)
    return np.exp(replicated_log_losses(post, key))


def _with_group(post, log_rep):
    """A new Posterior sharing ``post``'s groups, plus (or with a replaced) posterior_predictive."""
    idata = post.idata
    observed = idata.observed_data["log_loss"]
    posterior = idata.posterior
    coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values,
              **{dim: observed[dim].values for dim in observed.dims}}
    group = az.dict_to_dataset({"log_loss": log_rep}, coords=coords,
                               dims={"log_loss": list(observed.dims)}, library=None)
    groups = {name: getattr(idata, name) for name in idata.groups()
              if name != "posterior_predictive"}
    return Posterior(az.InferenceData(attrs=dict(idata.attrs), **groups,
                                      posterior_predictive=group))


def with_posterior_predictive(post, *, key):
    """A copy of ``post`` whose InferenceData has a ``posterior_predictive`` group.

    The group holds the replicated log-loss (variable ``"log_loss"``, dims chain, draw, run, as
    the observed data's), so ArviZ's own checks (``az.plot_ppc``, ``az.loo_pit``) apply.
    ``post`` is left untouched; the copy shares its other groups, and a posterior_predictive
    group already there is replaced.

    Parameters
    ----------
    post : Posterior
    key : jax.random key

    Returns
    -------
    Posterior

    Warns
    -----
    ConvergenceWarning
        When the posterior fails the diagnostics gate.

    Examples
    --------
    With ``post`` a fit as in the module example (which runs this):
    ``with_posterior_predictive(post, key=jax.random.key(0)).idata.posterior_predictive``.
    """
    post.warn_if_unconverged("posterior predictive checks", stacklevel=3)
    return _with_group(post, replicated_log_losses(post, key))


# -- leave-one-out -----------------------------------------------------------------------------
def _pointwise_loglik(post):
    """The stored pointwise log-likelihood, or a clear error saying why it is missing."""
    idata = post.idata
    if "log_likelihood" not in idata.groups() or "log_loss" not in idata.log_likelihood:
        raise ValueError(
            "this posterior has no pointwise log-likelihood (InferenceData group "
            "'log_likelihood'), which LOO-PIT and PSIS-LOO need. Fits store it only while "
            f"chains x draws x runs <= inference.MAX_POINTWISE_LOGLIK = {MAX_POINTWISE_LOGLIK:,} "
            "numbers, to bound memory; refit with fewer chains or draws to check this one")
    return idata.log_likelihood["log_loss"]


def _relative_ess(post):
    """Relative efficiency of the draws (mean-ESS / draws, averaged over sampled parameters),
    as `arviz.loo` computes it but ignoring fixed parameters (whose ESS is undefined)."""
    posterior = post.idata.posterior
    if posterior.sizes["chain"] == 1:
        return 1.0
    ess = az.ess(post.idata, var_names=post.param_names, method="mean")
    size = posterior.sizes["chain"] * posterior.sizes["draw"]
    return float(np.mean([float(ess[name]) for name in post.param_names]) / size)


def _loo(post, reff):
    """``arviz.loo(pointwise=True)``, quiet: its Pareto-k warning is reported by our callers."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto",
                                category=UserWarning)
        return az.loo(post.idata, pointwise=True, var_name="log_loss", reff=reff)


def _loo_pit(post, log_rep):
    """LOO-PIT values (one per run) from replicated log-loss (chain, draw, run)."""
    loglik = _pointwise_loglik(post).stack(__sample__=("chain", "draw"))
    reff = _relative_ess(post)
    log_weights, _ = az.psislw(-loglik, reff=reff)
    y_hat = np.moveaxis(log_rep.reshape(-1, log_rep.shape[-1]), 0, -1)  # (run, sample)
    y = post.idata.observed_data["log_loss"].values
    log_weights = log_weights.transpose(*loglik.dims).values
    return np.asarray(az.loo_pit(y=y, y_hat=y_hat, log_weights=log_weights), np.float64), reff


def loo_pit(post, *, key):
    """Leave-one-out probability integral transform of each fitted run's observed log-loss.

    For run i, the share of the leave-one-out predictive distribution (the posterior without
    run i, by Pareto-smoothed importance weights on the stored draws) lying at or below its
    observed log-loss, via `arviz.loo_pit`. Uniform on [0, 1] for a calibrated model; values
    piling up near 0 and 1 mean the predictive intervals are too narrow, near 0.5 too wide.

    Parameters
    ----------
    post : Posterior
        With its pointwise log-likelihood (stored unless the fit was very large).
    key : jax.random key
        For the replicated draws.

    Returns
    -------
    numpy.ndarray
        One value in [0, 1] per run, in the fit's order.

    Raises
    ------
    ValueError
        When the posterior has no pointwise log-likelihood (fits with more than
        ``inference.sampler.MAX_POINTWISE_LOGLIK`` chains x draws x runs omit it).

    Examples
    --------
    With ``post`` a fit as in the module example (which runs this):
    ``loo_pit(post, key=jax.random.key(0))`` and `ks_uniform_pvalue` of it.
    """
    _pointwise_loglik(post)  # fail before drawing anything
    post.warn_if_unconverged("posterior predictive checks", stacklevel=3)
    return _loo_pit(post, replicated_log_losses(post, key))[0]


def ks_uniform_pvalue(values):
    """Kolmogorov-Smirnov test of values against the uniform distribution on [0, 1].

    SciPy's `scipy.stats.kstest`, with the exact distribution of the statistic up to 10,000
    values (its ``method="auto"``).

    Parameters
    ----------
    values : array-like
        1-D, in [0, 1].

    Returns
    -------
    (float, float)
        The statistic D = sup |ECDF(u) - u| and its p-value.

    >>> statistic, p = ks_uniform_pvalue((np.arange(100) + 0.5) / 100)
    >>> round(statistic, 3), p
    (0.005, 1.0)
    >>> ks_uniform_pvalue(np.linspace(0, 0.5, 100))[1] < 1e-6
    True
    """
    u = np.asarray(values, np.float64).reshape(-1)
    if u.size == 0 or not np.all((u >= 0) & (u <= 1)):
        raise ValueError("KS uniformity test needs a non-empty set of values in [0, 1]")
    result = stats.kstest(u, "uniform")
    return float(result.statistic), float(result.pvalue)


def ppc_summary(post, *, key, prob=0.9):
    """Posterior predictive checks of a fit in a few numbers.

    Parameters
    ----------
    post : Posterior
        With its pointwise log-likelihood.
    key : jax.random key
        For the replicated draws (the same for all the numbers).
    prob : float
        Central predictive interval whose coverage is counted.

    Returns
    -------
    dict
        ``num_runs``; ``prob``; ``coverage``: the share of runs whose observed loss lies inside
        the central ``prob`` interval of its replicated losses (near ``prob`` when calibrated,
        slightly above it because the runs were also fitted); ``loo_pit_ks_statistic`` and
        ``loo_pit_ks_pvalue``: KS test of the LOO-PIT values against uniform;
        ``loo_pit_in_band``: whether their ECDF stays inside the simultaneous 99 % band of
        `pit_ecdf`; ``elpd_loo`` and ``p_loo`` from `arviz.loo`; ``pareto_k_max`` and
        ``pareto_k_above_0.7``: how many runs have Pareto k above `PARETO_K_THRESHOLD`.

    Raises
    ------
    ValueError
        When the posterior has no pointwise log-likelihood, or ``prob`` is not in (0, 1).

    Examples
    --------
    See the module example, which runs it.
    """
    prob = float(prob)
    if not 0 < prob < 1:
        raise ValueError(f"interval probability must lie in (0, 1), got {prob}")
    _pointwise_loglik(post)
    post.warn_if_unconverged("posterior predictive checks", stacklevel=3)
    log_rep = replicated_log_losses(post, key)
    y = post.idata.observed_data["log_loss"].values
    lower, upper = np.quantile(log_rep, [(1 - prob) / 2, (1 + prob) / 2], axis=(0, 1))
    pit, reff = _loo_pit(post, log_rep)
    statistic, pvalue = ks_uniform_pvalue(pit)
    loo = _loo(post, reff)
    pareto_k = np.asarray(loo["pareto_k"], np.float64)
    return {
        "num_runs": int(y.size), "prob": prob,
        "coverage": float(np.mean((lower <= y) & (y <= upper))),
        "loo_pit_ks_statistic": statistic, "loo_pit_ks_pvalue": pvalue,
        "loo_pit_in_band": bool(pit_ecdf(pit).inside),
        "elpd_loo": float(loo["elpd_loo"]), "p_loo": float(loo["p_loo"]),
        "pareto_k_max": float(pareto_k.max()),
        f"pareto_k_above_{PARETO_K_THRESHOLD:g}": int(np.sum(pareto_k > PARETO_K_THRESHOLD)),
    }


# -- ECDF with a simultaneous band ---------------------------------------------------------------
class ECDFCheck(NamedTuple):
    """ECDF differences against the uniform CDF, with a simultaneous band.

    Attributes
    ----------
    z : numpy.ndarray
        Evaluation points in (0, 1), shape (K,).
    difference : numpy.ndarray
        ECDF(z) - z, shape (K,) or (K, columns).
    lower, upper : numpy.ndarray
        The band for ECDF(z) - z, shape (K,): under uniformity the whole difference curve lies
        inside (bounds included) with probability at least ``prob``.
    prob : float
    inside : bool or numpy.ndarray
        Whether the curve (each column's) stays inside the band.
    """

    z: np.ndarray
    difference: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    prob: float
    inside: object


def _binomial_tails(n, z):
    """P(X ≤ c) and P(X ≥ c) for X ~ Binomial(n, z_k), c = 0..n: two arrays (K, n + 1)."""
    c = np.arange(n + 1)
    z = np.asarray(z, np.float64)[:, None]
    return stats.binom.cdf(c, n, z), stats.binom.sf(c - 1, n, z)


# Hand-written beside ArviZ's `arviz.stats.ecdf_utils.ecdf_confidence_band(method="optimized")`,
# which gives the same bounds to within one count (tests/validation/test_checks.py) but took
# 0.37 / 0.68 / 1.5 / 9.7 s for n = 100 / 245 / 1000 / 4000 at 100 points against 0.09 / 0.12 /
# 0.24 / 0.50 s here; SBC and every report draw several bands.
def _simultaneous_band(n, z, prob, num_sims=BAND_SIMULATIONS, seed=BAND_SEED):
    """Bounds (counts, each shape (K,)) of a simultaneous ``prob`` band for n·ECDF(z).

    Säilynoja, Bürkner & Vehtari (2022), by simulation: the pointwise binomial intervals are
    widened to level 1 - γ, with γ chosen so that a share ``prob`` of simulated uniform samples
    stays inside at every z at once. Under uniformity the counts n·ECDF(z_1..z_K) are the partial
    sums of a multinomial over the intervals between the z, so that is what is simulated.
    """
    cdf, sf = _binomial_tails(n, z)
    rng = np.random.default_rng(seed)
    widths = np.diff(np.concatenate([[0.0], z, [1.0]]))
    counts = np.cumsum(rng.multinomial(n, widths, size=num_sims)[:, :-1], axis=1)
    rows = np.arange(len(z))
    tail = np.minimum(cdf[rows, counts], sf[rows, counts]).min(axis=1)  # per simulation
    gamma = 2 * np.quantile(tail, 1 - prob, method="lower")
    # inside ⟺ P(X ≤ c) ≥ γ/2 and P(X ≥ c) ≥ γ/2 at every z
    lower = np.argmax(cdf >= gamma / 2, axis=1)
    upper = n - np.argmax(sf[:, ::-1] >= gamma / 2, axis=1)
    return lower, upper


def _check_prob(prob):
    prob = float(prob)
    if not 0 < prob < 1:
        raise ValueError(f"band probability must lie in (0, 1), got {prob}")
    return prob


def _ecdf_check(samples, z, prob, counts_below):
    """Shared tail of `pit_ecdf` and `rank_ecdf`: ``counts_below`` (K, columns) of n samples."""
    n = samples.shape[0]
    lower, upper = _simultaneous_band(n, z, prob)
    inside = np.all((counts_below >= lower[:, None]) & (counts_below <= upper[:, None]), axis=0)
    difference = counts_below / n - z[:, None]
    if samples.ndim == 1:
        difference, inside = difference[:, 0], bool(inside[0])
    return ECDFCheck(z, difference, lower / n - z, upper / n - z, prob, inside)


def pit_ecdf(values, prob=0.99, *, num_points=100):
    """ECDF of PIT values (e.g. `loo_pit`) minus the uniform CDF, with a simultaneous band.

    Parameters
    ----------
    values : array-like
        Values in [0, 1], shape (n,) or (n, columns) for several tested at once.
    prob : float
        Simultaneous coverage of the band under uniformity.
    num_points : int
        Evaluation points z = 1/K, ..., (K-1)/K with K = min(n, num_points).

    Returns
    -------
    ECDFCheck

    >>> rng = np.random.default_rng(0)
    >>> pit_ecdf(rng.uniform(size=200)).inside, pit_ecdf(rng.uniform(size=200) ** 2).inside
    (True, False)
    """
    prob = _check_prob(prob)
    u = np.asarray(values, np.float64)
    if u.ndim not in (1, 2) or u.shape[0] < 2 or not np.all((u >= 0) & (u <= 1)):
        raise ValueError("PIT values must be at least 2 numbers in [0, 1], shape (n,) or "
                         "(n, columns)")
    k = min(u.shape[0], int(num_points))
    z = np.arange(1, k) / k
    columns = u.reshape(u.shape[0], -1)
    counts = (columns[None, :, :] <= z[:, None, None]).sum(axis=1)  # (K, columns)
    return _ecdf_check(u, z, prob, counts)


def rank_ecdf(ranks, max_rank, prob=0.99, *, num_points=100):
    """ECDF of simulation-based-calibration ranks minus the uniform CDF, with a simultaneous band.

    ``ranks`` are ranks of true values among ``max_rank`` posterior draws, each in
    0..max_rank and uniform on those ``max_rank + 1`` values when the inference is calibrated
    (Talts et al. 2018). The ECDF is evaluated at z_k = t_k / (max_rank + 1), the share of ranks
    below t_k, for up to ``num_points - 1`` thresholds t_k evenly spread over 1..max_rank; there
    it is exactly Binomial(n, z_k) / n under uniformity, so the band is exact up to its
    simulation (see `pit_ecdf`).

    Parameters
    ----------
    ranks : array-like of int
        Shape (replicates,) or (replicates, parameters).
    max_rank : int
        The number of posterior draws each rank was taken among.
    prob : float
        Simultaneous coverage of the band under uniformity.
    num_points : int

    Returns
    -------
    ECDFCheck

    >>> rng = np.random.default_rng(0)
    >>> ranks = rng.integers(0, 100, size=(500, 2))
    >>> rank_ecdf(ranks, 99).inside
    array([ True,  True])
    >>> ranks[:, 1] = np.minimum(ranks[:, 1], 80)  # a pile-up at rank 80
    >>> rank_ecdf(ranks, 99).inside
    array([ True, False])
    """
    prob = _check_prob(prob)
    ranks = np.asarray(ranks)
    if int(max_rank) != max_rank or max_rank < 1:
        raise ValueError(f"max_rank must be a positive whole number, got {max_rank!r}")
    max_rank = int(max_rank)
    if ranks.dtype.kind not in "iu":
        raise ValueError(f"ranks must be integers, got dtype {ranks.dtype}")
    if ranks.ndim not in (1, 2) or ranks.shape[0] < 2:
        raise ValueError("ranks must have shape (replicates,) or (replicates, parameters), "
                         "with at least 2 replicates")
    if ranks.min() < 0 or ranks.max() > max_rank:
        raise ValueError(f"ranks must lie in 0..max_rank = 0..{max_rank}, "
                         f"got {ranks.min()}..{ranks.max()}")
    k = min(max_rank + 1, int(num_points))
    thresholds = np.unique(np.rint(np.arange(1, k) * (max_rank + 1) / k).astype(np.int64))
    z = thresholds / (max_rank + 1)
    columns = ranks.reshape(ranks.shape[0], -1)
    counts = (columns[None, :, :] < thresholds[:, None, None]).sum(axis=1)
    return _ecdf_check(ranks, z, prob, counts)


def rank_hist_band(n, bins, prob):
    """Central pointwise ``prob`` interval of a bin's count, Binomial(n, 1/bins)."""
    cdf, sf = _binomial_tails(n, np.array([1.0 / bins]))
    alpha = (1 - prob) / 2
    return int(np.argmax(cdf[0] >= alpha)), int(n - np.argmax(sf[0, ::-1] >= alpha))
