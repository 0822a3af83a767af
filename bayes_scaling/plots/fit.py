"""Plots of a fit itself: the data with the fitted law and its bands (`plot_fit`), the residuals
(`plot_residuals`) and the posterior of the law's parameters as a corner plot (`plot_pairs`).

Same conventions as `bayes_scaling.plots`: matplotlib only, ``ax=None`` draws a new figure, the
Axes come back, colours from Okabe & Ito's colour-blind-safe palette, posterior medians are
lines and central credible intervals shaded bands; what lies beyond the fitted runs is shaded
grey, so an extrapolation is visibly one.

Example
-------
>>> import jax, matplotlib.pyplot as plt, bayes_scaling as bs
>>> post = bs.fit(bs.simulate(jax.random.key(0)), key=jax.random.key(1),
...               config=bs.SamplerConfig(num_warmup=500, num_samples=1000))
>>> fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
>>> plot_fit(post, ax=left) is left
True
>>> right = plot_residuals(post, against="C", ax=right)
>>> right.get_xscale(), right.get_xlabel()
('log', 'training compute C (FLOP)')
>>> plt.close(fig)

Residuals in numbers, and the corner plot of A, B, α, β, E:

>>> lower, upper = noise_interval(post, 0.9)
>>> bool(np.mean((lower <= fit_residuals(post)) & (fit_residuals(post) <= upper)) > 0.8)
True
>>> plot_pairs(post).shape
(5, 5)
>>> plt.close("all")
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..allocation import ALLOCATION_LAWS, optimal
from ..likelihood import noise_param_names, noise_quantile
from .style import (BAND_ALPHAS, DATA_SHADE, OKABE_ITO, PALETTE, check_probs, draw_band,
                    new_axes)

__all__ = ["plot_fit", "plot_residuals", "plot_pairs", "fit_residuals", "noise_interval",
           "AXIS_LABELS"]

AXIS_LABELS = {"N": "parameters N", "D": "training tokens D",
               "C": "training compute C (FLOP)"}
UNITS = {"N": "", "D": " tokens", "C": " FLOP"}
SIZES = ("N", "D", "C")
GROUP_COLORS = PALETTE[:-1]  # yellow left out: too faint for points and lines on white
# Beyond the fitted runs: hatched, so that its legend key cannot be taken for a band's.
BEYOND_STYLE = dict(facecolor="#F3F3F3", edgecolor="#C4C4C4", hatch="//", linewidth=0)
BAND_KEY_COLOR = "#333333"  # legend key of the bands when the curves have several colours
OTHER_RUNS = "#AAAAAA"  # runs left out of every group (`_group_runs`)
MAX_DRAWS = 1000  # posterior draws used for the bands (evenly thinned; ample for quantiles)


# -- the law at given points, per draw -----------------------------------------------------------
def _check_inputs(law):
    extra = [name for name in law.inputs if name not in SIZES]
    if extra:
        raise ValueError(f"law {law.name!r} needs inputs {extra} beyond N, D, C; these plots "
                         f"draw laws of N, D and C only")


def _thinned(values, max_draws=MAX_DRAWS):
    """Every k-th draw so that at most ``max_draws`` remain (deterministic)."""
    step = max(1, -(-len(values) // max_draws))
    return values[::step]


def law_losses(post, points):
    """Expected loss per (thinned) draw and point: array (draws, points).

    ``points`` maps the law's inputs among N, D, C to 1-D arrays of equal length.
    """
    law = post.law
    _check_inputs(law)
    params = {name: jnp.asarray(_thinned(values))[:, None]
              for name, values in post.draws(list(law.param_names)).items()}
    log_x = {name: jnp.log(jnp.asarray(points[name], dtype=params[law.param_names[0]].dtype))
             [None, :] for name in law.inputs}
    return np.exp(np.asarray(law.log_loss(params, log_x), dtype=np.float64))


def _complete(x_name, xs, fixed_name, fixed_value, k):
    """N, D, C along ``xs`` of ``x_name`` with ``fixed_name`` held at ``fixed_value`` (C = k·N·D)."""
    values = {x_name: xs, fixed_name: np.full_like(xs, fixed_value)}
    if "C" not in values:
        values["C"] = k * values["N"] * values["D"]
    elif "N" not in values:
        values["N"] = values["C"] / (k * values["D"])
    else:
        values["D"] = values["C"] / (k * values["N"])
    return values


# -- grouping the runs ---------------------------------------------------------------------------
def _group_runs(values, groups, subset=True):
    """Split runs by ``values`` (one of N, D, C) into at most ``groups`` groups.

    Runs sharing a value (to 2.3 %, e.g. an IsoFLOP budget) form a group when there are at most
    ``groups`` such values. When there are more, but the runs come in such shared values (three
    or more runs per value on average: a sweep's design), ``groups`` of the values, evenly
    spread from the smallest to the largest, are kept as groups and the other runs are left
    out of every group, so that each curve is the law at its runs' own value. Otherwise (a
    continuum of values, or without ``subset``) the log range is cut into ``groups`` equal bins
    (empty ones dropped).

    Returns
    -------
    (list, numpy.ndarray)
        A list of (mask, centre, low, high) per group: centre is the geometric mean of the
        group's values, low and high its extremes; and the mask of the runs in no group.

    >>> budgets = np.repeat([1e18, 2e18, 4e18, 8e18], 3)
    >>> parts, rest = _group_runs(budgets, 2)
    >>> [float(centre) for _, centre, _, _ in parts], int(rest.sum())
    ([1e+18, 8e+18], 6)
    """
    log_v = np.log10(values)
    rounded = np.round(log_v, 2)
    distinct = np.unique(rounded)
    labels = np.searchsorted(distinct, rounded)
    if subset and len(distinct) > groups and len(values) >= 3 * len(distinct):
        keep = np.unique(np.round(np.linspace(0, len(distinct) - 1, groups)).astype(int))
        labels = np.where(np.isin(labels, keep), labels, -1)
    elif len(distinct) > groups:
        edges = np.linspace(log_v.min(), log_v.max(), groups + 1)
        labels = np.clip(np.searchsorted(edges, log_v, side="right") - 1, 0, groups - 1)
    out = []
    for label in np.unique(labels[labels >= 0]):
        mask = labels == label
        out.append((mask, 10 ** log_v[mask].mean(), values[mask].min(), values[mask].max()))
    return out, labels < 0


def _short(name, value):
    """70B, 1.4T for N and D (as the CLI reads them); 5.8e+23 for FLOPs."""
    if name == "C":
        return f"{value:.2g}"
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= size:
            scaled = value / size
            return f"{scaled:.3g}{suffix}" if scaled >= 100 else f"{scaled:.2g}{suffix}"
    return f"{value:.2g}"


def _group_label(name, centre, low, high):
    unit = UNITS[name]
    if high / low < 1.05:
        return f"{name} ≈ {_short(name, centre)}{unit}"
    return (f"{name} {_short(name, low)}–{_short(name, high)}{unit} "
            f"(curve at {_short(name, centre)})")


# -- the fit -------------------------------------------------------------------------------------
def _default_color_by(law, x):
    if len(law.inputs) < 2:
        return None  # one-variable law: one curve
    return {"N": "D", "D": "N", "C": "N"}[x]


def _forecast_bars(forecasts, x, prob):
    """x, median, lower and upper of a `forecast` table's observed rows at ``prob``."""
    rows = forecasts
    if "quantity" in rows:
        rows = rows[rows["quantity"] == "observed"]
    lo, hi = f"lo_{100 * prob:g}", f"hi_{100 * prob:g}"
    missing = [c for c in (x, "median", lo, hi) if c not in rows]
    if missing:
        raise ValueError(f"forecasts lack column(s) {missing}; pass a table from "
                         f"bayes_scaling.forecast with probs including {prob:g}")
    return (rows[x].to_numpy(float), rows["median"].to_numpy(float),
            rows[lo].to_numpy(float), rows[hi].to_numpy(float))


def plot_fit(post, ax=None, *, x="N", color_by="auto", groups=5, probs=(0.5, 0.9),
             forecasts=None, forecast_prob=0.9, extend=10.0, num=60):
    """The fitted runs' loss against N, D or C with the law's posterior median and bands.

    Runs are coloured by ``color_by`` (one of the other inputs), cut into at most ``groups``
    groups (runs sharing a value, e.g. an IsoFLOP budget, form one group; when a sweep has more
    such values than ``groups``, that many of them, evenly spread, get a colour and a curve and
    the other runs are drawn small and grey; a continuum of values, or the runs under the
    compute-optimal curve below, are cut into equal bins in log scale). For each group the law's expected loss at the group's typical value (its geometric
    mean) is a median line with central ``probs`` bands in the group's colour. When the held
    value is N or D and the axis the other one, the curves reach ``extend`` times past the
    largest fitted value; beyond the data the axes are hatched grey, the region where the
    bands show what extrapolation costs. Curves that move along C (IsoFLOP profiles, or loss
    against C at fixed N) stay near their group's runs, where the law is informed. Against C,
    a law with a closed-form compute-optimal allocation (Chinchilla) is drawn instead as its
    compute-optimal loss L*(C) in black, reaching ``extend`` times past the largest fitted C,
    over the runs coloured by group.

    Parameters
    ----------
    post : Posterior
        A fit of a law of N, D and/or C.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    x : {"N", "D", "C"}
        The horizontal axis.
    color_by : {"auto", "N", "D", "C", None}
        What groups the runs; "auto": D against N, N against D or C, None for one-variable laws.
    groups : int
        At most this many groups (1 to 7: the palette's distinguishable colours).
    probs : sequence of float
        Central interval probabilities of the bands.
    forecasts : pandas.DataFrame, optional
        A table from `bayes_scaling.forecast`; its observed loss is drawn as black diamonds with
        the central ``forecast_prob`` interval as error bars.
    forecast_prob : float
        Which interval of ``forecasts`` the error bars show (its ``lo_``/``hi_`` columns).
    extend : float
        How far (a factor >= 1) the curves reach beyond the largest fitted value of ``x``.
    num : int
        Points per curve.

    Returns
    -------
    matplotlib.axes.Axes
        Log-log axes with a legend: one entry per group, the bands, the extrapolation region,
        the forecasts.

    Examples
    --------
    With ``post`` a fit as in the module example (which runs this):
    ``plot_fit(post, x="C", forecasts=bs.forecast(post, N=70e9, D=1.4e12, key=key))``.
    """
    law = post.law
    _check_inputs(law)
    if x not in SIZES:
        raise ValueError(f"x must be one of 'N', 'D', 'C', got {x!r}")
    if color_by == "auto":
        color_by = _default_color_by(law, x)
    if color_by is not None and (color_by not in SIZES or color_by == x):
        raise ValueError(f"color_by must be one of N, D, C other than x={x!r}, or None; "
                         f"got {color_by!r}")
    if int(groups) != groups or not 1 <= groups <= len(GROUP_COLORS):
        raise ValueError(f"groups must be a whole number from 1 to {len(GROUP_COLORS)}, "
                         f"got {groups!r}")
    if not extend >= 1:
        raise ValueError(f"extend must be a factor >= 1, got {extend!r}")
    probs = check_probs(probs)
    if color_by is None and tuple(law.inputs) != (x,):
        raise ValueError(f"law {law.name!r} is a law of {', '.join(law.inputs)}: with "
                         f"color_by=None plot a one-variable law against its own input")
    table = post.runs_table
    k = post.flops_per_param_token
    xs_data = table[x].to_numpy()
    bars = None if forecasts is None else _forecast_bars(forecasts, x, forecast_prob)

    # Against C, a law with a closed-form optimum is drawn as its compute-optimal loss L*(C);
    # curves at a fixed N or D vary the other input only when neither is C.
    envelope = x == "C" and color_by is not None and law.name in ALLOCATION_LAWS
    free = color_by is None or {x, color_by} == {"N", "D"}
    reach = extend if free or envelope else 1.3
    lo = xs_data.min() / 1.3
    hi = max(xs_data.max() * reach, xs_data.max() * 1.3,
             *(bars[0] * 1.3 if bars is not None else [0]))
    ax = new_axes(ax)
    ax.axvspan(xs_data.max(), hi, **BEYOND_STYLE,
               label=f"beyond the fitted runs (largest {x} = {xs_data.max():.3g})")
    grid = np.geomspace(lo, hi, int(num))
    if color_by is None:
        parts, rest = [(np.ones(len(table), bool), None, None, None)], np.zeros(len(table), bool)
    else:
        # without curves (the envelope), every run keeps a colour: bins rather than a subset
        parts, rest = _group_runs(table[color_by].to_numpy(), int(groups), subset=not envelope)
    for j, (mask, centre, low, high) in enumerate(parts):
        color = GROUP_COLORS[j % len(GROUP_COLORS)]
        if envelope:
            ax.scatter(xs_data[mask], table["loss"].to_numpy()[mask], s=16, color=color,
                       edgecolors="white", linewidths=0.4, zorder=3,
                       label="runs, " + _group_label(color_by, centre, low, high).split(" (")[0])
            continue
        if color_by is None:
            points, label, xs = {x: grid}, "law", grid
        else:
            xs = grid if free else np.geomspace(xs_data[mask].min() / 1.5,
                                                xs_data[mask].max() * 1.5, int(num))
            points = _complete(x, xs, color_by, centre, k)
            label = _group_label(color_by, centre, low, high)
        losses = law_losses(post, points)
        quantiles = np.quantile(losses, [0.5] + [q for p in probs for q in ((1 - p) / 2,
                                                                          (1 + p) / 2)], axis=0)
        bands = {p: (quantiles[1 + 2 * i], quantiles[2 + 2 * i]) for i, p in enumerate(probs)}
        draw_band(ax, xs, quantiles[0], bands, color, label=label)
        ax.scatter(xs_data[mask], table["loss"].to_numpy()[mask], s=16, color=color,
                   edgecolors="white", linewidths=0.4, zorder=3)
    if rest.any():
        others = len(np.unique(np.round(np.log10(table[color_by].to_numpy()[rest]), 2)))
        ax.scatter(xs_data[rest], table["loss"].to_numpy()[rest], s=10, color=OTHER_RUNS,
                   linewidths=0, zorder=2, label=f"runs at {others} other {color_by} values")
    if envelope:
        _draw_optimal_loss(post, ax, grid, probs)
    if bars is not None:
        at, median, lower, upper = bars
        ax.errorbar(at, median, yerr=[median - lower, upper - median], fmt="D",
                    color=OKABE_ITO["black"], markerfacecolor="white", capsize=4, zorder=4,
                    label=f"forecast: observed loss, {forecast_prob:.0%} interval")
    from matplotlib.patches import Patch

    handles, _ = ax.get_legend_handles_labels()
    # Keys for the bands: the curve's own colour when there is one curve, else a dark neutral
    # one; never the light grey of the hatched extrapolation region.
    key_color = (OKABE_ITO["black"] if envelope else GROUP_COLORS[0] if len(parts) == 1
                 else BAND_KEY_COLOR)
    handles += [Patch(facecolor=key_color, linewidth=0,
                      alpha=BAND_ALPHAS[min(i, len(BAND_ALPHAS) - 1)],
                      label=f"{p:.0%} credible interval of the expected loss")
                for i, p in enumerate(sorted(probs, reverse=True))]
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), xlabel=AXIS_LABELS[x], ylabel="final loss")
    _plain_log_ticks(ax.yaxis)
    ax.set_title(f"{law.name} law fitted to {len(table)} runs: posterior median and "
                 f"{', '.join(f'{p:.0%}' for p in probs)} bands", fontsize="small")
    ax.legend(handles=handles, loc="best", fontsize="x-small")
    return ax


def _draw_optimal_loss(post, ax, grid, probs):
    """The compute-optimal expected loss L*(C) with bands, for laws with a closed form."""
    rows = optimal(post, grid, probs=probs)
    rows = rows[rows["quantity"] == "loss"]
    bands = {p: (rows[f"lo_{100 * p:g}"].to_numpy(), rows[f"hi_{100 * p:g}"].to_numpy())
             for p in probs}
    draw_band(ax, grid, rows["median"].to_numpy(), bands, OKABE_ITO["black"],
               label="compute-optimal loss L*(C)")


def _plain_log_ticks(axis):
    """Plain "2.4" labels at round values on a log axis spanning less than a decade (losses)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

    axis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_locator(NullLocator())


# -- residuals -----------------------------------------------------------------------------------
def fit_residuals(post):
    """Each run's log-loss minus the posterior median of the law's log-loss at the run.

    Examples
    --------
    See the module example, which runs it.
    """
    table = post.runs_table
    losses = law_losses(post, {n: table[n].to_numpy() for n in SIZES})
    return np.log(table["loss"].to_numpy()) - np.median(np.log(losses), axis=0)


def noise_interval(post, prob):
    """Central ``prob`` interval of the observation noise on log-loss (median over draws).

    Per posterior draw the noise is σ·t_ν (Student-t) or σ·z (Normal); its quantiles are
    exact per draw, and the median over draws is returned, as (lower, upper).

    Examples
    --------
    See the module example, which runs it.
    """
    (prob,) = check_probs(prob)
    draws = post.idata.posterior
    noise = {name: _thinned(draws[name].values.reshape(-1))
             for name in noise_param_names(post.likelihood)}
    upper = float(np.median(noise_quantile(post.likelihood, (1 + prob) / 2, noise)))
    return -upper, upper


def plot_residuals(post, against="N", ax=None, *, prob=0.9, bins=8):
    """Residuals of the fit against N, D or C: where does the law miss the runs?

    Each run's residual is its log-loss minus the posterior median of the law's log-loss there
    (`fit_residuals`), so 0.01 means 1 % above the fitted law. The grey band is the central
    ``prob`` interval of the fitted observation noise (`noise_interval`); runs inside are black
    dots, runs outside vermillion crosses. A blue line joins the median residual in ``bins``
    equal bins of log ``against``: a trend in it, rather than scatter around 0, is a misfit.

    Parameters
    ----------
    post : Posterior
    against : {"N", "D", "C"}
        The horizontal axis.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    prob : float
        Central probability of the noise band.
    bins : int
        Bins of the running median (bins with fewer than 3 runs are skipped).

    Returns
    -------
    matplotlib.axes.Axes
        Log x axis; the title counts the runs inside the band.

    Examples
    --------
    See the module example, which runs it.
    """
    if against not in SIZES:
        raise ValueError(f"against must be one of 'N', 'D', 'C', got {against!r}")
    (prob,) = check_probs(prob)
    residuals = fit_residuals(post)
    xs = post.runs_table[against].to_numpy()
    lower, upper = noise_interval(post, prob)
    inside = (lower <= residuals) & (residuals <= upper)
    ax = new_axes(ax)
    ax.axhspan(lower, upper, color=DATA_SHADE, alpha=0.45, linewidth=0,
               label=f"{prob:.0%} interval of the fitted noise")
    ax.axhline(0, color=OKABE_ITO["black"], linewidth=0.8, zorder=1)
    ax.scatter(xs[inside], residuals[inside], s=12, color=OKABE_ITO["black"], zorder=3,
               label="run, inside")
    ax.scatter(xs[~inside], residuals[~inside], s=26, marker="x", color=OKABE_ITO["vermillion"],
               zorder=4, label="run, outside")
    edges = np.linspace(np.log(xs.min()), np.log(xs.max()), int(bins) + 1)
    which = np.clip(np.searchsorted(edges, np.log(xs), side="right") - 1, 0, int(bins) - 1)
    centres, medians = [], []
    for b in range(int(bins)):
        if np.sum(which == b) >= 3:
            centres.append(np.exp(np.log(xs[which == b]).mean()))
            medians.append(np.median(residuals[which == b]))
    ax.plot(centres, medians, "-o", color=OKABE_ITO["blue"], markersize=4, zorder=5,
            label="median residual per bin")
    ax.set(xscale="log", xlabel=AXIS_LABELS[against],
           ylabel="residual log-loss (observed − fitted median)")
    ax.set_title(f"residuals: {inside.sum()}/{inside.size} runs ({inside.mean():.0%}) inside "
                 f"the {prob:.0%} noise interval", fontsize="small")
    ax.legend(loc="best", fontsize="x-small")
    return ax


# -- the posterior of the parameters -------------------------------------------------------------
GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "sigma": "σ", "nu": "ν"}


def plot_pairs(post, var_names=None, axes=None, *, max_draws=2000, bins=30):
    """Corner plot of the law's parameters: marginal histograms and pairwise scatter.

    The diagonal holds each parameter's posterior histogram with its median (solid) and central
    90 % interval (dashed); below it, every pair's draws as a scatter; the upper triangle is
    switched off. Parameters are in the published parameterization (A, B, α, β, E for
    Chinchilla), the draws thinned evenly to at most ``max_draws``. Strong correlations (A
    with α, B with β) are expected there: the sampler works in a decorrelated
    parameterization (see DESIGN.md). Plain matplotlib (ArviZ's ``plot_pair`` was tried and
    raises matplotlib deprecation warnings).

    Parameters
    ----------
    post : Posterior
    var_names : sequence of str, optional
        Parameters to show (at least two); default the law's sampled parameters.
    axes : array of matplotlib.axes.Axes, optional
        ``k x k`` Axes for k parameters; a new figure when None.
    max_draws : int
        At most this many draws are drawn.
    bins : int
        Histogram bins on the diagonal.

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        Shape (k, k).

    Examples
    --------
    See the module example, which runs it.
    """
    sampled = set(post.param_names)
    if var_names is None:
        var_names = [name for name in post.law.param_names if name in sampled]
    var_names = list(var_names)
    unknown = [name for name in var_names if name not in post.idata.posterior]
    if unknown or len(var_names) < 2:
        raise ValueError(f"var_names must name at least two of the posterior's variables "
                         f"{list(post.idata.posterior.data_vars)}; got {var_names}")
    draws = {name: _thinned(values, int(max_draws))
             for name, values in post.draws(var_names).items()}
    k = len(var_names)
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(k, k, figsize=(1.9 * k, 1.9 * k), layout="constrained")
    axes = np.asarray(axes, dtype=object)
    if axes.shape != (k, k):
        raise ValueError(f"axes must have shape ({k}, {k}), got {axes.shape}")
    labels = [GREEK.get(name, name) for name in var_names]
    for i, row_name in enumerate(var_names):
        for j, col_name in enumerate(var_names):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                values = draws[row_name]
                ax.hist(values, bins=int(bins), color=PALETTE[0], alpha=0.7)
                lo, mid, hi = np.quantile(values, [0.05, 0.5, 0.95])
                ax.axvline(mid, color=OKABE_ITO["black"], linewidth=1)
                for bound in (lo, hi):
                    ax.axvline(bound, color=OKABE_ITO["black"], linewidth=0.8, linestyle="--")
                ax.set_yticks([])
                ax.set_title(f"{labels[i]} = {mid:.3g}", fontsize="small")
            else:
                ax.scatter(draws[col_name], draws[row_name], s=2, alpha=0.25,
                           color=PALETTE[0], linewidths=0, rasterized=True)
            if i == k - 1:
                ax.set_xlabel(labels[j])
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i])
            elif j > 0:
                ax.set_yticklabels([])
            ax.tick_params(labelsize="x-small")
    for j in range(k):  # each column shares the diagonal's x range
        for i in range(j + 1, k):
            axes[i, j].set_xlim(axes[j, j].get_xlim())
    for i in range(1, k):  # each row shares its x-range-derived y range
        for j in range(i):
            axes[i, j].set_ylim(axes[i, i].get_xlim())
    return axes
