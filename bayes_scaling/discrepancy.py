"""Extrapolation discrepancy: how the law's own error grows beyond the fitted data.

A law fitted to hundreds of runs has tight parameters, and its noise scale σ describes how runs
scatter *inside* the data. Beyond the data the law's own error (a form that is not quite right, a
change of regime) adds to that: on real sweeps the plain posterior predictive covers far less
than its nominal rate there (docs/validation.md). This module models that error as extra spread
of log-loss whose scale grows with the distance beyond the data::

    scale(x) = sqrt(σ² + (κ · d(x))²),   d(x) = max(0, log N/N_max, log D/D_max, log C/C_max)

d is in e-folds beyond the largest fitted N, D or C (0 inside the data), κ in nats of log-loss
per e-fold. κ = 0 is the plain posterior predictive.

Inside the data d = 0, so a fit's runs cannot estimate κ the way they estimate σ. Its prior is
learned across the field's public sweeps (`field_discrepancy`): the leave-future-out errors of
the plain posterior on every shared loss dataset, pooled by a hierarchical model (log κ of a
sweep ~ Normal(m, t), m and t on a grid with flat priors; `learn_kappa_distribution`). The
result, κ for a sweep not yet seen, ships as `discrepancy_prior.json` with its provenance
(written by ``benchmarks/validation.py``). A fit's own runs then sharpen it, as the hierarchical
model does for a new sweep once its data are seen: `api.fit` runs an internal backtest
(`sweep_evidence`, one more fit) whose likelihood of κ (`SweepEvidence`) it keeps with the
posterior, and `update_kappa_distribution` multiplies the field's distribution by it. That
updated distribution ("sweep", `resolve_discrepancy`) is the default of `forecast`,
`compute_for_target`, `plan` and `design`; a fit without evidence (too few runs, an internal
fit that failed the gate, `fit(..., sweep_evidence=False)`) gets the field's alone, and the
distribution's `origin` says which. A forecast draws one κ per posterior draw, so its intervals
carry parameter uncertainty, run-to-run noise and the extrapolation discrepancy together;
`spread_parts` reports the three separately.

Example
-------
>>> import numpy as np
>>> extrapolation_distance({"N": [1e9, 1e11], "D": [2e10, 2e12], "C": [1.2e20, 1.2e24]},
...                        {"N": [1e8, 1e9], "D": [2e9, 2e10], "C": [1.2e18, 1.2e20]}).round(2)
array([0.  , 9.21])
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special, stats

from .inference.padding import pad_to, padded_size
from .likelihood import observation

__all__ = ["KappaDistribution", "SweepEvidence", "field_discrepancy", "resolve_discrepancy",
           "fit_evidence",
           "extrapolation_distance", "compute_distance", "predictive", "predictive_noise",
           "kappa_log_likelihood", "learn_kappa_distribution", "update_kappa_distribution",
           "grid_log_mass", "kappa_log_evidence",
           "spread_parts", "KAPPA_GRID", "LOG_KAPPA_GRID", "HELD_OUT_BUCKET",
           "FIELD_PRIOR_PATH"]

# 0 and 1e-4 .. 0.3 nats per e-fold of compute, log-spaced
KAPPA_GRID = np.concatenate([[0.0], np.geomspace(1e-4, 0.3, 36)])

# Where the learned default lives (package data; `benchmarks/validation.py` writes it).
FIELD_PRIOR_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "discrepancy_prior.json")

# The meta-analysis's grids: log κ of one sweep (1e-4 .. 1 nats per e-fold; below 1e-4 the term
# is negligible against any fitted σ), its population mean m over the same range and its
# population spread t (0.05 .. 3 in log κ).
LOG_KAPPA_GRID = np.linspace(np.log(1e-4), np.log(1.0), 121)
POPULATION_SPREAD_GRID = np.linspace(0.05, 3.0, 60)

# How a stored evidence names its grid (first, last, count): evidence on another is not used.
GRID_SIGNATURE = [float(LOG_KAPPA_GRID[0]), float(LOG_KAPPA_GRID[-1]), len(LOG_KAPPA_GRID)]

# Held-out runs are padded to the next power of two from 16 (`kappa_log_likelihood`).
HELD_OUT_BUCKET = 16


@dataclasses.dataclass(frozen=True)
class KappaDistribution:
    """A distribution of κ given by equally weighted values (sorted), with where it came from.

    Attributes
    ----------
    values : numpy.ndarray
        κ values, each of equal probability (quantiles of the distribution).
    source : dict
        Provenance: how and on what it was learned.
    """

    values: np.ndarray
    source: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def fixed(cls, kappa):
        """A single known κ."""
        if not np.isfinite(kappa) or kappa < 0:
            raise ValueError(f"the extrapolation discrepancy kappa must be >= 0, got {kappa!r}")
        return cls(np.array([float(kappa)]), {"method": "fixed"})

    def sample(self, key, count):
        """``count`` independent draws of κ (a JAX array)."""
        return jax.random.choice(key, jnp.asarray(self.values), (count,))

    @property
    def is_zero(self):
        """True when κ is 0 everywhere: the plain posterior predictive, the law taken as exact."""
        return bool(np.all(self.values == 0))

    def quantile(self, q):
        return float(np.quantile(self.values, q))

    def describe(self):
        """One line: the median κ and its central 90% range."""
        if len(self.values) == 1:
            return f"kappa = {self.values[0]:.3g} nats of log-loss per e-fold beyond the data"
        return (f"kappa median {self.quantile(0.5):.3g} (90%: {self.quantile(0.05):.3g} - "
                f"{self.quantile(0.95):.3g}) nats of log-loss per e-fold beyond the data")

    def origin(self):
        """Where the distribution comes from, in words ("given" for one of the caller's)."""
        if "sets" not in self.source:
            return "given"
        where = f"learned across {len(self.source['sets'])} public sweeps, docs/validation.md"
        if "updated_by" in self.source:
            return f"{where}, updated by {self.source['updated_by']}"
        if "not_updated" in self.source:
            return f"{where}; not updated by this fit's own runs: {self.source['not_updated']}"
        return where


def field_discrepancy(path=FIELD_PRIOR_PATH):
    """The default κ distribution, learned across the field's public sweeps (see the module
    docstring); ``source`` records the datasets, the protocol and the commit."""
    with open(path) as f:
        stored = json.load(f)
    return KappaDistribution(np.asarray(stored["kappa_quantiles"], float), stored["source"])


@dataclasses.dataclass(frozen=True)
class SweepEvidence:
    """What a fit's own runs say about its κ: an internal backtest's log-likelihood of κ on
    `LOG_KAPPA_GRID` (`sweep_evidence.kappa_evidence`), or why there is none.

    Attributes
    ----------
    log_likelihood : numpy.ndarray or None
        The mean over the internally held-out runs of their log predictive density, for each
        κ of the grid; None when there is no evidence.
    held_out : int
        How many runs the internal backtest held out (0 when there is no evidence).
    reason : str
        Why there is no evidence ("" when there is).

    Examples
    --------
    >>> none = SweepEvidence.missing("4 runs are too few for an internal backtest")
    >>> SweepEvidence.from_json(none.to_json()).reason
    '4 runs are too few for an internal backtest'
    """

    log_likelihood: np.ndarray | None
    held_out: int = 0
    reason: str = ""

    @classmethod
    def missing(cls, reason):
        return cls(None, 0, reason)

    def to_json(self):
        """The record as a JSON string (kept in a fit's attributes and file)."""
        loglik = None if self.log_likelihood is None else [float(v) for v in self.log_likelihood]
        return json.dumps({"log_likelihood": loglik, "held_out": self.held_out,
                           "reason": self.reason, "grid": GRID_SIGNATURE})

    @classmethod
    def from_json(cls, text):
        """The record from `to_json`'s string (or its parsed dict); a grid other than today's
        `LOG_KAPPA_GRID` (a file from another version) gives no evidence, saying so."""
        stored = json.loads(text) if isinstance(text, str) else dict(text)
        if stored["log_likelihood"] is not None and stored.get("grid") != GRID_SIGNATURE:
            return cls.missing("the fit's internal backtest was scored on another grid of "
                               "kappa (a file from another version); refit to use it")
        loglik = stored["log_likelihood"]
        return cls(None if loglik is None else np.asarray(loglik, float),
                   int(stored["held_out"]), stored["reason"])


def resolve_discrepancy(discrepancy, post=None):
    """A `KappaDistribution` from what a caller may pass.

    Parameters
    ----------
    discrepancy : "sweep", "field", float, KappaDistribution or None
        "sweep" (the default of every forecast): the field's distribution updated by the fit's
        own evidence (`SweepEvidence`, gathered by `api.fit`), or the field's alone, saying why
        in its ``source["not_updated"]``, when the fit has none; "field": the distribution
        learned across the public sweeps; a number: that κ (0 is the plain posterior
        predictive); None: plain; a `KappaDistribution` as it is.
    post : Posterior, optional
        The fit the forecast is made from (needed for "sweep").

    Returns
    -------
    KappaDistribution
    """
    if isinstance(discrepancy, KappaDistribution):
        return discrepancy
    if discrepancy is None:
        return KappaDistribution.fixed(0.0)
    if isinstance(discrepancy, str):
        if discrepancy not in ("sweep", "field"):
            raise ValueError(f"discrepancy must be 'sweep', 'field', a number (kappa) or None, "
                             f"got {discrepancy!r}")
        field = field_discrepancy()
        if discrepancy == "field":
            return field
        evidence = fit_evidence(post)
        if evidence.log_likelihood is None:
            return KappaDistribution(field.values, {**field.source,
                                                    "not_updated": evidence.reason})
        return update_kappa_distribution(field, evidence.log_likelihood, source={
            "updated_by": f"an internal backtest of this fit's runs, {evidence.held_out} of "
                          f"them held out", "internal_held_out": evidence.held_out})
    return KappaDistribution.fixed(float(discrepancy))


def fit_evidence(post):
    """The `SweepEvidence` a fit carries (``attrs["kappa_evidence"]``), or why it has none."""
    if post is None:
        return SweepEvidence.missing("no fit was given to take the evidence from")
    stored = post.attrs.get("kappa_evidence")
    if stored is None:
        return SweepEvidence.missing("the fit carries no internal backtest (fitted with "
                                     "sweep_evidence=False, by fit_many or fit_pooled, or by "
                                     "an older version)")
    return SweepEvidence.from_json(stored)


def extrapolation_distance(points, fitted):
    """e-folds beyond the largest fitted value in any of N, D, C (0 inside the data).

    ``points`` and ``fitted`` map "N", "D", "C" to arrays (NaN where unknown, as for a
    one-variable law); an input unknown on either side is left out.
    """
    parts = []
    for name in ("N", "D", "C"):
        if name not in points or name not in fitted:
            continue
        largest = np.nanmax(np.asarray(fitted[name], float)) if np.any(
            np.isfinite(np.asarray(fitted[name], float))) else np.nan
        parts.append(np.log(np.asarray(points[name], float) / largest))
    return np.maximum(0.0, np.nan_to_num(np.nanmax(np.stack(parts), axis=0), nan=0.0))


def compute_distance(C, fitted_C):
    """Extrapolation distance in compute alone: e-folds beyond the largest fitted C (0 inside)."""
    return np.maximum(0.0, np.log(np.asarray(C, float) / np.max(fitted_C)))


def _kappa_per_draw(kappa):
    """κ broadcast against (draws, points): a number, or one value per draw."""
    kappa = jnp.asarray(kappa)
    return kappa[:, None] if kappa.ndim == 1 else kappa


def predictive_noise(params, log_x, distance, kappa, *, law, likelihood):
    """Per draw and point: the law's log-loss and the noise distribution around it, widened by
    the discrepancy (``kappa`` a number or one value per draw)."""
    expand = {name: value[:, None] for name, value in params.items()}
    log_mean = law.log_loss(expand, {name: value[None, :] for name, value in log_x.items()})
    scale = jnp.sqrt(expand["sigma"] ** 2
                     + (_kappa_per_draw(kappa) * jnp.asarray(distance)[None, :]) ** 2)
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
        `extrapolation_distance` of each point.
    kappa : float or 1-D array
        κ, or one κ per posterior draw (e.g. `KappaDistribution.sample`).
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


def spread_parts(expected, params, distance, kappa):
    """The three parts of a forecast's spread on log-loss (≈ relative spread of the loss), per
    point: ``params`` the standard deviation of the law's log-loss over draws (parameter
    uncertainty), ``noise`` the median σ (run-to-run noise), ``discrepancy`` the median κ·d
    (extrapolation discrepancy). Each is a 1-D NumPy array."""
    expected = np.asarray(expected, np.float64)
    sigma = float(np.median(np.asarray(params["sigma"])))
    kappa = float(np.median(np.asarray(kappa)))
    return {"params": expected.std(axis=0), "noise": np.full(expected.shape[1], sigma),
            "discrepancy": kappa * np.asarray(distance, np.float64)}


def kappa_log_likelihood(log_mean, noise, distance, observed, *, likelihood,
                         log_kappa=LOG_KAPPA_GRID):
    """Log-likelihood of κ on a grid from held-out runs of one sweep.

    Parameters
    ----------
    log_mean : array (draws, runs)
        The plain posterior's law log-loss at the held-out runs.
    noise : dict of 1-D arrays
        The noise parameters' draws (``sigma``, ``nu``, ...).
    distance : array (runs,)
        `extrapolation_distance` of each run.
    observed : array (runs,)
        Their observed log-loss.
    likelihood : str
    log_kappa : array
        The grid of log κ.

    Returns
    -------
    numpy.ndarray
        For each grid value, Σ over runs of log mean over draws of the predictive density.
    """
    # Padded to the next power of two and masked (`inference.padding`): otherwise every new
    # number of held-out runs compiles the density's program again. Not to the fits' bucket of
    # 256: for the dozen runs an internal backtest holds out that was 20x the work (1.5 s).
    count = np.shape(observed)[-1]
    size = padded_size(count, smallest=HELD_OUT_BUCKET)
    noise = {k: jnp.asarray(v) for k, v in noise.items()}
    out = grid_log_likelihood(
        jnp.asarray(pad_to(log_mean, size)), noise, jnp.asarray(pad_to(distance, size)),
        jnp.asarray(pad_to(observed, size)), jnp.arange(size) < count,
        jnp.exp(jnp.asarray(log_kappa)), likelihood=likelihood)
    return np.asarray(out, np.float64)


# One program for the whole grid: op by op, the 121 values of κ dispatched 5 small programs each
# (1.2 s of a warm CLI fit's 10 s, measured), and NumPyro's argument checks waited on the device
# (0.9 s; under jit it cannot check traced values). lax.map, not vmap: the densities of one κ at
# a time stay in memory (draws x runs), not those of the whole grid.
@functools.partial(jax.jit, static_argnames=("likelihood",))
def grid_log_likelihood(log_mean, noise, distance, observed, mask, kappas, *, likelihood):
    """`kappa_log_likelihood` on padded arrays: ``mask`` marks the real runs."""
    expand = {k: v[:, None] for k, v in noise.items()}

    def at(kappa):
        scale = jnp.sqrt(expand["sigma"] ** 2 + (kappa * distance[None, :]) ** 2)
        density = observation(likelihood, log_mean, expand, scale).log_prob(observed[None, :])
        per_run = jax.scipy.special.logsumexp(density, axis=0) - jnp.log(density.shape[0])
        return jnp.sum(jnp.where(mask, per_run, 0.0))

    return jax.lax.map(at, kappas)


def learn_kappa_distribution(log_likelihoods, *, source=None, num_quantiles=200,
                             log_kappa=LOG_KAPPA_GRID, spreads=POPULATION_SPREAD_GRID):
    """κ for a sweep not yet seen, from the κ log-likelihoods of many sweeps.

    Each sweep s has its own κ_s, log κ_s ~ Normal(m, t); m (over the range of ``log_kappa``)
    and t (``spreads``) have flat priors on their grids. The posterior of (m, t) is computed on
    the grid, and κ for a new sweep is its posterior predictive.

    Parameters
    ----------
    log_likelihoods : array (sweeps, grid)
        `kappa_log_likelihood` of each sweep on the grid ``log_kappa``.
    source : dict, optional
        Provenance recorded in the result.
    num_quantiles : int
        How many equally weighted κ values represent the result.

    Returns
    -------
    KappaDistribution
        Its ``source`` adds the posterior medians of m and t.
    """
    loglik = np.asarray(log_likelihoods, float)
    if loglik.ndim != 2 or loglik.shape[1] != len(log_kappa) or not len(loglik):
        raise ValueError(f"log_likelihoods must have shape (sweeps, {len(log_kappa)}), "
                         f"got {loglik.shape}")
    step = log_kappa[1] - log_kappa[0]
    means = log_kappa
    # Population density of each grid value of log κ, for each (m, t): shape (m, t, grid).
    log_population = stats.norm.logpdf(log_kappa[None, None, :], means[:, None, None],
                                       spreads[None, :, None]) + np.log(step)
    # Marginal log-likelihood of each sweep given (m, t), summed over sweeps.
    per_sweep = special.logsumexp(log_population[None] + loglik[:, None, None, :], axis=-1)
    log_post = per_sweep.sum(axis=0)
    weights = np.exp(log_post - special.logsumexp(log_post))
    # Predictive density of log κ for a new sweep: the population density averaged over (m, t).
    predictive_density = np.einsum("mt,mtg->g", weights, np.exp(log_population))
    cdf = np.cumsum(predictive_density) / predictive_density.sum()
    levels = (np.arange(num_quantiles) + 0.5) / num_quantiles
    quantiles = np.exp(np.interp(levels, cdf, log_kappa))
    m_index, t_index = np.unravel_index(np.argmax(weights), weights.shape)
    summary = {"sweeps": int(len(loglik)),
               "population_log_kappa_mean": float(np.sum(weights.sum(axis=1) * means)),
               "population_log_kappa_spread": float(np.sum(weights.sum(axis=0) * spreads)),
               "mode": [float(means[m_index]), float(spreads[t_index])]}
    return KappaDistribution(quantiles, {**(source or {}), **summary})


def grid_log_mass(prior, log_kappa=LOG_KAPPA_GRID):
    """The log of ``prior``'s mass in each cell of the grid of log κ (edges half-way between
    grid values; below the first and above the last edge the mass goes to the end cells).

    >>> import numpy as np
    >>> mass = np.exp(grid_log_mass(KappaDistribution(np.geomspace(1e-3, 1e-1, 200))))
    >>> round(float(mass.sum()), 6)
    1.0
    """
    levels = (np.arange(len(prior.values)) + 0.5) / len(prior.values)
    log_values = np.log(np.maximum(np.sort(prior.values), np.exp(log_kappa[0])))
    edges = 0.5 * (log_kappa[1:] + log_kappa[:-1])
    cdf = np.concatenate([[0.0], np.interp(edges, log_values, levels, left=0.0, right=1.0),
                          [1.0]])
    with np.errstate(divide="ignore"):
        return np.log(np.diff(cdf))


def kappa_log_evidence(prior, log_likelihood, log_kappa=LOG_KAPPA_GRID):
    """log ∫ p(κ) exp(ℓ(κ)) dκ on the grid: how well a prior of κ explains a sweep's evidence
    ℓ (`kappa_log_likelihood`), e.g. to weigh two laws by their internal backtests.

    >>> import numpy as np
    >>> prior = KappaDistribution(np.geomspace(1e-3, 1e-1, 200))
    >>> round(kappa_log_evidence(prior, np.full(len(LOG_KAPPA_GRID), -2.0)), 6)
    -2.0
    """
    return float(special.logsumexp(grid_log_mass(prior, log_kappa)
                                   + _grid_values(log_likelihood, log_kappa)))


def _grid_values(log_likelihood, log_kappa):
    loglik = np.asarray(log_likelihood, float)
    if loglik.shape != log_kappa.shape:
        raise ValueError(f"log_likelihood must have shape {log_kappa.shape}, got {loglik.shape}")
    return loglik


def update_kappa_distribution(prior, log_likelihood, *, source=None, num_quantiles=200,
                              log_kappa=LOG_KAPPA_GRID):
    """κ of one sweep: a prior (e.g. the field's) updated by the sweep's own evidence.

    The prior's equally weighted values give its distribution function on the grid of log κ;
    the posterior is prior × likelihood on that grid (Bayes' rule, as for a new group of the
    hierarchical model of `learn_kappa_distribution` once its own data are seen).

    Parameters
    ----------
    prior : KappaDistribution
    log_likelihood : array (grid,)
        `kappa_log_likelihood` of the sweep's internally held-out runs on ``log_kappa``.
    source : dict, optional
        Provenance added to the prior's.

    Returns
    -------
    KappaDistribution

    Examples
    --------
    >>> import numpy as np
    >>> prior = KappaDistribution(np.geomspace(1e-3, 1e-1, 200))
    >>> flat = update_kappa_distribution(prior, np.zeros(len(LOG_KAPPA_GRID)))
    >>> round(flat.quantile(0.5), 3)   # no evidence: the prior's median
    0.01
    >>> small = update_kappa_distribution(prior, -0.5 * ((LOG_KAPPA_GRID - np.log(2e-3)) / 0.2) ** 2)
    >>> bool(small.quantile(0.95) < 4e-3)
    True
    """
    log_post = grid_log_mass(prior, log_kappa) + _grid_values(log_likelihood, log_kappa)
    weights = np.exp(log_post - special.logsumexp(log_post))
    cumulative = np.cumsum(weights)
    quantiles = np.exp(np.interp((np.arange(num_quantiles) + 0.5) / num_quantiles,
                                 cumulative, log_kappa))
    return KappaDistribution(quantiles, {**prior.source, **(source or {})})
