"""Posterior predictive loss at new (N, D) points, with central intervals.

Per posterior draw, the law's value is the *expected* loss. The *observed* loss a single new run
would report adds the fitted observation noise (on log-loss) and, beyond the data, the
extrapolation discrepancy: the law's own error, which grows with the distance beyond the
largest fitted N, D or C (`discrepancy`; by default κ is drawn per posterior draw from the
distribution learned across the field's public sweeps, updated by the fit's own internal
backtest, `sweep_evidence`). Both are summarised by their median and
central intervals (50/90/95 % by default). Each point also says how far it lies beyond the
fitted data, and how large each part of its spread is (parameter uncertainty, run-to-run noise,
extrapolation discrepancy).

Example
-------
>>> import bayes_scaling as bs
>>> runs = bs.simulate(jax.random.key(0))
>>> post = bs.fit(runs, key=jax.random.key(1),
...               config=bs.SamplerConfig(num_warmup=500, num_samples=1000))
>>> table = forecast(post, N=70e9, D=1.4e12, key=jax.random.key(2))
>>> table["quantity"].tolist(), bool(table["lo_90"].iloc[0] < 1.97 < table["hi_90"].iloc[0])
(['expected', 'observed'], True)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from .discrepancy import (extrapolation_distance, predictive_noise, resolve_discrepancy,
                          spread_parts)
from .laws.priors import all_param_names
from .likelihood import observation

__all__ = ["forecast", "resolve_points", "law_points", "DEFAULT_PROBS", "predictive_draws",
           "widened_draws", "posterior_params", "FAR_EXTRAPOLATION", "extrapolation_notes", "spread_notes"]

# A point beyond this multiple of the largest fitted N, D or C is "far": its interval assumes the
# law still holds there, which the data cannot check (forecast's ``far`` column, the CLI's note,
# the report's warnings).
FAR_EXTRAPOLATION = 10.0

DEFAULT_PROBS = (0.5, 0.9, 0.95)


def resolve_points(N=None, D=None, C=None, flops_per_param_token=6.0):
    """Complete (N, D, C) from any two of them (broadcast to 1-D float64 arrays).

    >>> resolve_points(N=[70e9], C=[5.88e23])[1]
    array([1.4e+12])
    """
    given = {k: None if v is None else np.atleast_1d(np.asarray(v, dtype=np.float64))
             for k, v in (("N", N), ("D", D), ("C", C))}
    present = [k for k, v in given.items() if v is not None]
    if len(present) < 2:
        raise ValueError(f"give two of N (params), D (tokens) and C (flops); got {present or 'none'}")
    for name in present:
        bad = given[name][~(np.isfinite(given[name]) & (given[name] > 0))]
        if bad.size:
            raise ValueError(f"{name} must be positive and finite, got {bad[0]:g}")
    k = flops_per_param_token
    try:
        np.broadcast_shapes(*(given[name].shape for name in present))
    except ValueError:
        raise ValueError("the point lists have different lengths: "
                         + ", ".join(f"{n}: {given[n].size}" for n in present)) from None
    if len(present) == 3:
        N, D, C = np.broadcast_arrays(given["N"], given["D"], given["C"])
        if np.any(np.abs(np.log(C / (k * N * D))) > np.log(1.5)):
            raise ValueError(f"N, D and C disagree with C = {k:g}·N·D; give only two of them")
        return N, D, C
    if given["C"] is None:
        N, D = np.broadcast_arrays(given["N"], given["D"])
        return N, D, k * N * D
    if given["D"] is None:
        N, C = np.broadcast_arrays(given["N"], given["C"])
        return N, C / (k * N), C
    D, C = np.broadcast_arrays(given["D"], given["C"])
    return C / (k * D), D, C


@functools.partial(jax.jit, static_argnames=("law", "likelihood"))
def predictive_draws(params, log_x, key, *, law, likelihood):
    """Expected and observed log-loss per draw and point: two arrays of shape (draws, points).

    ``params`` holds 1-D arrays of draws; ``log_x`` 1-D arrays of log inputs.
    """
    expand = {name: value[:, None] for name, value in params.items()}
    log_mean = law.log_loss(expand, {name: value[None, :] for name, value in log_x.items()})
    return log_mean, observation(likelihood, log_mean, expand).sample(key)


@functools.partial(jax.jit, static_argnames=("law", "likelihood"))
def widened_draws(params, log_x, distance, kappa, key, *, law, likelihood):
    """`predictive_draws` with the extrapolation discrepancy: ``distance`` per point (e-folds
    beyond the data), ``kappa`` a number or one value per draw (`discrepancy`)."""
    log_mean, noise = predictive_noise(params, log_x, distance, kappa, law=law,
                                       likelihood=likelihood)
    return log_mean, noise.sample(key)


def interval_columns(values, probs):
    """Median, mean and central intervals along axis 0 of ``values`` (draws, points)."""
    levels = [0.5] + [q for p in probs for q in ((1 - p) / 2, (1 + p) / 2)]
    quantiles = np.quantile(values, levels, axis=0)  # one sort for every level
    columns = {"median": quantiles[0], "mean": values.mean(axis=0)}
    for i, p in enumerate(probs):
        label = f"{100 * p:g}"
        columns[f"lo_{label}"], columns[f"hi_{label}"] = quantiles[1 + 2 * i], quantiles[2 + 2 * i]
    return columns


def log_interval_columns(log_values, probs, mean=True):
    """`interval_columns` of ``exp(log_values)``, its quantiles taken in log space: exp is
    monotone, so they are the same, and a heavy-tailed draw (Student-t with small ν) that would
    overflow exp changes no quantile. ``mean=False``: the mean is NaN (it does not exist).

    >>> cols = log_interval_columns(np.log([[1.0], [2.0], [4.0]]), [0.5], mean=False)
    >>> float(cols["median"][0]), bool(np.isnan(cols["mean"][0]))
    (2.0, True)
    """
    with np.errstate(over="ignore"):  # a bound past float's range (ν < 1 tails) is inf, honestly
        columns = {name: np.exp(values)
                   for name, values in interval_columns(log_values, probs).items()}
        columns["mean"] = (np.exp(log_values).mean(axis=0) if mean
                           else np.full(log_values.shape[1], np.nan))
    return columns


def posterior_params(post):
    """The draws the law and the likelihood need, as 1-D JAX arrays (chains flattened)."""
    names = all_param_names(post.law, post.likelihood)
    return {name: jnp.asarray(v) for name, v in post.draws(names).items()}


def law_points(law, N=None, D=None, C=None, inputs=None, flops_per_param_token=6.0):
    """The points' inputs for ``law``: N, D, C completed from two of them (only the law's own one
    is needed by a one-variable law; the others are then NaN) plus its further ``inputs``.

    >>> from bayes_scaling.laws.registry import LAWS
    >>> law_points(LAWS["data_constrained"], N=1e9, D=2e10, inputs={"U": 1e9})["U"]
    array([1.e+09])
    """
    given = {"N": N, "D": D, "C": C}
    present = [name for name, values in given.items() if values is not None]
    own = [name for name in law.inputs if name in given]
    if len(own) == 1 and present == own:  # a one-variable law, given just its input
        values = _positive(own[0], given[own[0]])
        resolved = {k: values if k == own[0] else np.full_like(values, np.nan) for k in given}
    else:
        resolved = dict(zip(given, resolve_points(N, D, C, flops_per_param_token)))
    extra = {name: _positive(name, values) for name, values in (inputs or {}).items()}
    missing = [name for name in law.inputs if name not in resolved and name not in extra]
    if missing:
        raise ValueError(f"law {law.name!r} needs {missing} at the points too; pass "
                         f"inputs={{{missing[0]!r}: ...}}")
    arrays = np.broadcast_arrays(*resolved.values(), *extra.values())
    return dict(zip([*resolved, *extra], arrays))


def _positive(name, values):
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    bad = values[~(np.isfinite(values) & (values > 0))]
    if bad.size:
        raise ValueError(f"{name} must be positive and finite, got {bad[0]:g}")
    return values


def extrapolation_notes(N_vs_max, D_vs_max, C_vs_max):
    """A readable note per point: "within data", or how far beyond the fitted runs it lies.

    >>> extrapolation_notes([0.5, 20.0], [1.0, 3.0], [0.5, 60.0])
    ['within data', '60x max C, 20x max N, 3x max D']
    """
    return ["within data" if np.nanmax([n, d, c]) <= 1
            else f"{c:.3g}x max C, {n:.3g}x max N, {d:.3g}x max D"
            for n, d, c in zip(N_vs_max, D_vs_max, C_vs_max)]


def spread_notes(table):
    """For each point of a `forecast` table beyond the data, its spread of log-loss (about the
    relative spread of the loss) by source, in words.

    >>> import pandas as pd
    >>> spread_notes(pd.DataFrame({"point": [0, 1], "distance": [0.0, 2.3],
    ...     "spread_params": [0.002, 0.006], "spread_noise": [0.01, 0.01],
    ...     "spread_discrepancy": [0.0, 0.046]}))
    ['point 1, 2.3 e-folds beyond the data: parameters 0.60%, noise 1.00%, extrapolation discrepancy 4.60%']
    """
    rows = table[table["distance"] > 0].drop_duplicates("point")
    return [f"point {int(row['point'])}, {row['distance']:.2g} e-folds beyond the data: "
            f"parameters {row['spread_params']:.2%}, noise {row['spread_noise']:.2%}, "
            f"extrapolation discrepancy {row['spread_discrepancy']:.2%}" for _, row in rows.iterrows()]


def forecast(post, N=None, D=None, C=None, *, key, probs=DEFAULT_PROBS, discrepancy="sweep",
             inputs=None):
    """Posterior predictive loss at new points (any two of N, D, C per point).

    Parameters
    ----------
    post : Posterior
    N, D, C : float or array-like, optional
        Parameters, tokens and FLOPs; two of them, broadcast together.
    key : jax.random key
        For the observation noise of the "observed" band (and the draws of κ).
    probs : sequence of float
        Central interval probabilities.
    discrepancy : "sweep", "field", float, KappaDistribution or None
        The extrapolation discrepancy κ (nats of log-loss per e-fold beyond the largest fitted
        N, D or C) added to the observed band's spread. "sweep" (default): κ drawn per
        posterior draw from the distribution learned across the field's public sweeps
        (`discrepancy.field_discrepancy`), updated by the fit's own internal backtest
        (`sweep_evidence`; the field's alone when the fit has none); "field": the field's
        alone; a number: that κ (e.g. from `validation.backtest.estimate_discrepancy`); 0 or
        None: the plain posterior predictive.
    inputs : dict, optional
        Further inputs the law needs at the points, e.g. ``{"U": unique_tokens}`` for the
        data-constrained law. A one-variable law needs only its own one of N, D, C.

    Returns
    -------
    pandas.DataFrame
        Two rows per point (``quantity`` = "expected" and "observed"), with N, D, C, the median,
        mean (NaN for the observed loss under the Student-t likelihood, where exp of a Student-t
        has none), ``lo_<p>``/``hi_<p>`` bounds, and ``N_vs_max``, ``D_vs_max``, ``C_vs_max``: the
        point's size as a multiple of the largest fitted one (> 1 means extrapolation);
        ``extrapolation``, the same as a note (`extrapolation_notes`), and ``far``, True beyond
        `FAR_EXTRAPOLATION` times the largest fitted N, D or C; ``distance``, the e-folds beyond
        the data, and the parts of the observed spread on log-loss (about the relative spread
        of the loss): ``spread_params`` (parameter uncertainty), ``spread_noise`` (run-to-run
        noise σ) and ``spread_discrepancy`` (the median κ times the distance).

    Warns
    -----
    ConvergenceWarning
        When the posterior fails the diagnostics gate.
    """
    probs = tuple(float(p) for p in probs)
    if not probs or not all(0 < p < 1 for p in probs):
        raise ValueError(f"interval probabilities must lie in (0, 1), got {probs}")
    kappa = resolve_discrepancy(discrepancy, post)
    post.warn_if_unconverged("forecasting", stacklevel=3)
    law = post.law
    base = law_points(law, N, D, C, inputs, post.flops_per_param_token)
    N = base["N"]
    params = posterior_params(post)
    log_x = {name: jnp.log(jnp.asarray(base[name])) for name in law.inputs}
    fitted = post.runs_table
    distance = extrapolation_distance(base, fitted)
    if kappa.is_zero:
        kappa_draws = jnp.zeros(())
        expected, observed = predictive_draws(params, log_x, key, law=law,
                                              likelihood=post.likelihood)
    else:
        key, key_kappa = jax.random.split(key)
        kappa_draws = kappa.sample(key_kappa, len(params["sigma"]))
        expected, observed = widened_draws(params, log_x, jnp.asarray(distance), kappa_draws,
                                           key, law=law, likelihood=post.likelihood)
    scale = {f"{k}_vs_max": base[k] / fitted[k].max() for k in ("N", "D", "C")}
    scale["extrapolation"] = extrapolation_notes(*scale.values())
    scale["far"] = np.nanmax(np.stack([scale[f"{k}_vs_max"] for k in "NDC"]), axis=0) \
        > FAR_EXTRAPOLATION
    scale["distance"] = distance
    parts = spread_parts(expected, params, distance, kappa_draws)
    scale.update({f"spread_{name}": values for name, values in parts.items()})
    frames = []
    for quantity, values in (("expected", expected), ("observed", observed)):
        # exp of a Student-t has no mean: the sample mean would be dominated by a few draws
        has_mean = not (quantity == "observed" and post.likelihood == "student_t")
        cols = log_interval_columns(np.asarray(values, np.float64), probs, mean=has_mean)
        frames.append(pd.DataFrame({"point": np.arange(len(N)), "quantity": quantity,
                                    **base, **cols, **scale}))
    return pd.concat(frames).sort_values(["point", "quantity"], kind="stable").reset_index(drop=True)
