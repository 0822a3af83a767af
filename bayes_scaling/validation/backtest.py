"""Backtests: fit on the smaller-compute runs, forecast the larger ones, and score the forecasts.

The split is by compute, so every forecast is a true extrapolation, the situation a user is in
when planning a bigger run. Each held-out run is scored by every method on the same footing:

- ``rel_error``: (median forecast − observed loss) / observed loss;
- ``in_50``, ``in_90``, ``in_95``: whether the observed loss lies in the central interval;
- ``lpd``: log predictive density of the observed *log*-loss (higher is better);
- ``crps``: continuous ranked probability score of the loss, in nats (lower is better).

Methods: ``"bayes"`` (this engine: NUTS posterior, observation noise included),
``"bayes+discrepancy"`` (the same, widened beyond the data by the extrapolation discrepancy
learned from the training runs; see `discrepancy`) and ``"huber-bootstrap"`` (the reference
method of Hoffmann et al. and Epoch AI; see `baseline`).

Example
-------
>>> import jax
>>> from bayes_scaling import simulate
>>> runs = simulate(jax.random.key(0), num_runs=60)
>>> result = backtest(runs, key=jax.random.key(1), holdout_top=0.2, compare=())
>>> result.summary[["method", "held_out"]].values.tolist()
[['bayes', 12]]
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..api import fit
from ..inference.progress import steps
from ..inference.sampler import SamplerConfig, settled
from .baseline import bootstrap_predictive, huber_bootstrap
from ..discrepancy import KAPPA_GRID, compute_distance, predictive, predictive_noise
from ..prediction import DEFAULT_PROBS, interval_columns, posterior_params
from ..laws.registry import get_law
from ..laws.priors import all_param_names
from ..sweep_evidence import internal_forecast, split_by_compute
from .scoring import crps, in_interval, log_mean_density, relative_error

__all__ = ["backtest", "rolling_backtest", "Backtest", "METHODS", "METHOD_ABBREVIATIONS",
           "estimate_discrepancy"]

METHODS = ("bayes", "huber-bootstrap")
# The prefixes of each method's columns in `Backtest.side_by_side`.
METHOD_ABBREVIATIONS = {"bayes": "bayes", "bayes+discrepancy": "disc", "huber-bootstrap": "huber"}
DEFAULT_HOLDOUT_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)


@dataclasses.dataclass(frozen=True)
class Backtest:
    """Result of one backtest.

    Attributes
    ----------
    runs : pandas.DataFrame
        One row per held-out run and method: line, N, D, C, ``C_vs_train`` (its compute as a
        multiple of the largest training run's), loss, method, median, ``lo_<p>``/``hi_<p>``,
        rel_error, ``in_<p>``, lpd, crps.
    summary : pandas.DataFrame
        One row per method: held_out, median_abs_rel_error, ``coverage_<p>``, mean_lpd,
        median_crps, ``converged`` (bool: the Bayesian fit passed its diagnostics gate; every
        optimiser run of the baseline's bootstrap met its tolerance) and ``converged_share``
        (the share of fits that converged: the one Bayesian fit, 0 or 1; the bootstrap's
        resamples).
    cutoff_flops : float
        Runs with C >= cutoff were held out.
    num_train : int
    diagnostics : Diagnostics
        The Bayesian fit's diagnostics gate.
    kappa : float or None
        The extrapolation discrepancy learned from the training runs (with ``discrepancy``).
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    cutoff_flops: float
    num_train: int
    diagnostics: object
    kappa: float | None = None

    def side_by_side(self, columns=("median", "lo_90", "hi_90", "rel_error", "in_90")):
        """One row per held-out run with each method's ``columns`` in adjacent columns.

        Each method's columns are prefixed with its short name (`METHOD_ABBREVIATIONS`), e.g.
        ``bayes_median``, ``huber_median``.

        For a backtest ``result``, ``result.side_by_side().columns[:7]`` are ``line, N, D, C,
        C_vs_train, loss, bayes_median``.
        """
        keys = ["line", "N", "D", "C", "C_vs_train", "loss"]
        wide = None
        for method, part in self.runs.groupby("method", sort=False):
            short = METHOD_ABBREVIATIONS[method]
            part = part[keys + list(columns)].rename(
                columns={c: f"{short}_{c}" for c in columns})
            wide = part if wide is None else wide.merge(part, on=keys)
        return wide


def _score(method, point, expected_log, observed_log, log_density, held, probs):
    """Per-run score table of one method (``*_log`` arrays have shape (draws, runs))."""
    losses = np.exp(np.asarray(observed_log, dtype=np.float64))
    bounds = interval_columns(losses, probs)  # one sort for every interval
    table = {"method": method, "median": point}
    for p in probs:
        label = f"{100 * p:g}"
        lo, hi = bounds[f"lo_{label}"], bounds[f"hi_{label}"]
        table.update({f"lo_{label}": lo, f"hi_{label}": hi,
                      f"in_{label}": (lo <= held.loss) & (held.loss <= hi)})
    table["rel_error"] = relative_error(point, held.loss)
    table["lpd"] = log_mean_density(log_density)
    table["crps"] = crps(losses, held.loss)
    # Interval of the curve alone (no observation noise): what is usually reported.
    table["curve_in_90"] = in_interval(np.exp(np.asarray(expected_log, np.float64)),
                                       held.loss, 0.9)
    return pd.DataFrame(table)


def _bayes_scores(train, held, key, *, law, priors, likelihood, config, probs, discrepancy):
    """Scores of the posterior predictive, and with ``discrepancy`` also of the predictive
    widened by the extrapolation discrepancy learned from ``train`` alone."""
    k_fit, k_pred, k_kappa = jax.random.split(key, 3)
    post = fit(train, key=k_fit, law=law, priors=priors, likelihood=likelihood, config=config,
               sweep_evidence=False)
    params = posterior_params(post)
    log_x = {name: jnp.log(jnp.asarray(getattr(held, name))) for name in law.inputs}
    y = np.log(held.loss)
    kappas = {"bayes": 0.0}
    if discrepancy:
        kappas["bayes+discrepancy"], _ = estimate_discrepancy(
            train, key=k_kappa, law=law, priors=priors, likelihood=likelihood, config=config)
    tables = []
    for method, kappa in kappas.items():
        expected, observed, density = predictive(
            params, log_x, compute_distance(held.C, train.C), kappa, key=k_pred, law=law,
            likelihood=likelihood, observed=y)
        point = np.median(np.exp(np.asarray(observed, np.float64)), axis=0)
        tables.append(_score(method, point, expected, observed, density, held, probs))
    return tables, post.check(), kappas


def _baseline_scores(train, held, key, *, num_resamples, probs):
    k_fit, k_pred = jax.random.split(key)
    boot = huber_bootstrap(train, key=k_fit, num_resamples=num_resamples)
    expected, observed = bootstrap_predictive(boot, held.N, held.D, key=k_pred)
    sigma = boot.draws["sigma"][:, None]
    density = (-0.5 * ((np.log(held.loss)[None, :] - expected) / sigma) ** 2
               - np.log(sigma * np.sqrt(2 * np.pi)))
    p = boot.point
    point = p["E"] + p["A"] * held.N ** -p["alpha"] + p["B"] * held.D ** -p["beta"]
    return _score("huber-bootstrap", point, expected, observed, density, held, probs), boot


def _summarise(table, probs, converged):
    """One row per method; ``converged`` maps a method to its share of converged fits."""
    rows = []
    for method, part in table.groupby("method", sort=False):
        row = {"method": method, "held_out": len(part),
               "median_abs_rel_error": float(np.median(np.abs(part["rel_error"])))}
        row.update({f"coverage_{100 * p:g}": float(part[f"in_{100 * p:g}"].mean())
                    for p in probs})
        # CRPS is summarised by its median: a Student-t predictive with nu <= 1 has no mean,
        # and one such run's CRPS would swamp a mean.
        row.update(mean_lpd=float(part["lpd"].mean()),
                   median_crps=float(part["crps"].median()),
                   curve_coverage_90=float(part["curve_in_90"].mean()),
                   converged=bool(converged[method] == 1.0),
                   converged_share=float(converged[method]))
        rows.append(row)
    return pd.DataFrame(rows)


def backtest(runs, *, key, holdout_top=None, cutoff_flops=None, law="chinchilla", priors=None,
             likelihood="student_t", config=None, compare=("huber-bootstrap",),
             num_resamples=4000, probs=DEFAULT_PROBS, discrepancy=False):
    """Fit below a compute cutoff, forecast the held-out larger runs, score every method.

    Parameters
    ----------
    runs : Runs
    key : jax.random key
    holdout_top, cutoff_flops : float
        The split (one of them), see `split_by_compute`.
    law, priors, likelihood, config
        As for `fit`; default priors are scaled to the *training* runs only.
    compare : sequence of str
        Reference methods scored beside ours: ``("huber-bootstrap",)`` or ``()``.
    num_resamples : int
        Bootstrap resamples of the baseline.
    probs : sequence of float
        Central interval probabilities to check.
    discrepancy : bool
        Also score ``"bayes+discrepancy"``: the posterior predictive widened beyond the data by
        the extrapolation discrepancy κ learned from the training runs alone (`discrepancy`).

    Returns
    -------
    Backtest
    """
    law = get_law(law)
    unknown = set(compare) - set(METHODS[1:])
    if unknown:
        raise ValueError(f"unknown comparison method(s) {sorted(unknown)}; "
                         f"choose from {list(METHODS[1:])}")
    probs = tuple(float(p) for p in probs)
    num_params = len(all_param_names(law, likelihood))
    train, held = split_by_compute(runs, holdout_top=holdout_top, cutoff_flops=cutoff_flops,
                                   min_train=num_params)
    k_bayes, k_base = jax.random.split(key)
    tables, diagnostics, kappas = _bayes_scores(
        train, held, k_bayes, law=law, priors=priors, likelihood=likelihood, config=config,
        probs=probs, discrepancy=discrepancy)
    converged = {method: float(diagnostics.ok) for method in kappas}
    if "huber-bootstrap" in compare:
        theirs, boot = _baseline_scores(train, held, k_base, num_resamples=num_resamples,
                                        probs=probs)
        tables.append(theirs)
        converged["huber-bootstrap"] = float(np.mean(boot.converged))
    cutoff = float(np.min(held.C))
    base = pd.DataFrame({"line": held.lines, "N": held.N, "D": held.D, "C": held.C,
                         "C_vs_train": held.C / np.max(train.C), "loss": held.loss})
    table = pd.concat([pd.concat([base, t], axis=1) for t in tables], ignore_index=True)
    return Backtest(runs=table, summary=_summarise(table, probs, converged),
                    cutoff_flops=cutoff, num_train=len(train), diagnostics=diagnostics,
                    kappa=kappas.get("bayes+discrepancy"))


def rolling_backtest(runs, *, key, holdout_fractions=DEFAULT_HOLDOUT_FRACTIONS,
                     cutoffs_flops=None, **options):
    """Backtests at successive compute cutoffs: how error and coverage grow with distance.

    Parameters
    ----------
    runs : Runs
    key : jax.random key
    holdout_fractions : sequence of float
        One backtest per fraction of the largest-compute runs held out (default 10% to 50%).
    cutoffs_flops : sequence of float, optional
        Explicit compute cutoffs instead of fractions.
    **options
        Passed to `backtest`.

    Returns
    -------
    (pandas.DataFrame, list of Backtest)
        The summaries stacked, with columns ``cutoff_flops``, ``num_train`` and
        ``median_C_vs_train`` (median held-out compute as a multiple of the largest training
        compute: the extrapolation distance), and the backtests themselves.
    """
    splits = ([{"cutoff_flops": c} for c in cutoffs_flops] if cutoffs_flops is not None
              else [{"holdout_top": f} for f in holdout_fractions])
    results, frames, seen = [], [], set()
    watched = settled(options.get("config") or SamplerConfig()).progress_bar
    with steps(len(splits), "backtest cutoffs", enabled=watched) as bar:
        for split, k in zip(splits, jax.random.split(key, len(splits))):
            train, _ = split_by_compute(runs, **split)
            if len(train) not in seen:  # two fractions that give the same split: score it once
                seen.add(len(train))
                result = backtest(runs, key=k, **split, **options)
                results.append(result)
                distance = result.runs.groupby("method", sort=False)["C_vs_train"].median()
                frames.append(result.summary.assign(
                    cutoff_flops=result.cutoff_flops, num_train=result.num_train,
                    median_C_vs_train=distance.values))
            bar.update()
    return pd.concat(frames, ignore_index=True), results


def estimate_discrepancy(runs, *, key, law="chinchilla", priors=None, likelihood="student_t",
                         config=None, holdout_top=0.2, grid=KAPPA_GRID):
    """Learn the extrapolation discrepancy κ (see `discrepancy`) from an internal backtest.

    Fit on the runs below an internal compute cutoff, forecast the runs above it, and keep the κ
    whose predictive distribution gives those runs the highest log density.

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

    Examples
    --------
    >>> import jax
    >>> from bayes_scaling import simulate
    >>> runs = simulate(jax.random.key(0), num_runs=60)
    >>> kappa, table = estimate_discrepancy(runs, key=jax.random.key(1))
    >>> bool(kappa >= 0), list(table.columns)
    (True, ['kappa', 'mean_lpd'])
    """
    law = get_law(law)
    train, held, post = internal_forecast(runs, key=key, law=law, priors=priors,
                                          likelihood=likelihood, config=config,
                                          holdout_top=holdout_top)
    post.warn_if_unconverged("estimating the extrapolation discrepancy")
    params = posterior_params(post)
    log_x = {name: jnp.log(jnp.asarray(getattr(held, name))) for name in law.inputs}
    distance = compute_distance(held.C, train.C)
    y = np.log(held.loss)
    scores = []
    for kappa in grid:
        log_mean, noise = predictive_noise(params, log_x, distance, kappa, law=law,
                                           likelihood=likelihood)
        scores.append(float(np.mean(log_mean_density(noise.log_prob(jnp.asarray(y)[None, :])))))
    table = pd.DataFrame({"kappa": np.asarray(grid, float), "mean_lpd": scores})
    return float(table["kappa"][table["mean_lpd"].idxmax()]), table
