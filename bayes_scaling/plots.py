"""Plots of compute-optimal plans (the frontier N*(C), D*(C), L*(C), IsoFLOP profiles) and of
model checks (posterior predictive intervals, LOO-PIT, simulation-based calibration).

Matplotlib only. Every function takes ``ax=None`` (a new figure when None) and returns the Axes,
so plots compose into the caller's own figures. Colours are Okabe & Ito's colour-blind-safe
palette; posterior medians are lines, credible intervals shaded bands.

Example
-------
>>> import jax, matplotlib.pyplot as plt, bayes_scaling as bs
>>> post = bs.fit(bs.simulate(jax.random.key(0)), key=jax.random.key(1),
...               config=bs.SamplerConfig(num_warmup=500, num_samples=1000))
>>> fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
>>> plot_frontier(post, [1e19, 1e22, 1e25], "N", ax=left) is left
True
>>> right = plot_isoflop(post, [1e20, 1e22], ax=right)
>>> [text.get_text() for text in right.get_legend().get_texts()]
['1e+20 FLOP', '1e+22 FLOP']
>>> plt.close(fig)

The checks of the same fit (see `bayes_scaling.checks`):

>>> fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 8))
>>> plot_ppc(post, key=jax.random.key(2), ax=top) is top
True
>>> bottom = plot_loo_pit(post, key=jax.random.key(2), ax=bottom)
>>> plt.close(fig)
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .allocation import optimal
from .checks import (ks_uniform_pvalue, loo_pit, pit_ecdf, rank_ecdf, rank_hist_band,
                     replicated_losses)
from .emergence_model import score_distribution

__all__ = ["plot_frontier", "plot_isoflop", "plot_ppc", "plot_loo_pit", "plot_sbc", "plot_emergence", "OKABE_ITO",
           "PALETTE"]

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision
# deficiencies and in greyscale print.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
# Order for successive series (yellow last: it is faint on white).
PALETTE = tuple(OKABE_ITO[name] for name in ("blue", "vermillion", "bluish_green", "orange",
                                             "reddish_purple", "sky_blue", "black", "yellow"))
DATA_SHADE = "#BBBBBB"  # the fitted runs' compute range
# Widest band first; nested bands stack darker inwards (0.22 then 0.38 over it: about 0.52).
# Opaque enough that a band only a few line widths wide still shows beside its median line.
BAND_ALPHAS = (0.22, 0.38, 0.5)
MEDIAN_WIDTH = 1.3  # median lines: thin enough not to hide a narrow band

# quantity -> (y label, y scale) of the frontier
FRONTIER = {
    "N": ("compute-optimal parameters N*", "log"),
    "D": ("compute-optimal tokens D*", "log"),
    "tokens_per_param": ("compute-optimal tokens per parameter D*/N*", "log"),
    "loss": ("compute-optimal expected loss L*", "linear"),
}
COMPUTE_LABEL = "training compute C (FLOP)"


def new_axes(ax):
    """``ax``, or the Axes of a new figure when None."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def check_probs(probs):
    probs = tuple(float(p) for p in np.atleast_1d(probs))
    if not all(0 < p < 1 for p in probs):
        raise ValueError(f"interval probabilities must lie in (0, 1), got {probs}")
    return probs


def _bound_columns(prob):
    """Names of the lower and upper bound columns of `optimal`'s table for ``prob``."""
    return f"lo_{100 * prob:g}", f"hi_{100 * prob:g}"


def draw_band(ax, x, median, bands, color, label=None, label_bands=False):
    """A median line over shaded central intervals; returns the line.

    ``bands`` maps an interval probability to its (lower, upper) arrays; the widest is drawn
    first. With ``label_bands`` the bands get legend entries ("90% credible interval").

    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> line = draw_band(ax, [1, 2], [1, 2], {0.9: ([0, 1], [2, 3])}, PALETTE[0], "median")
    >>> len(ax.collections), line.get_label()
    (1, 'median')
    >>> plt.close(fig)
    """
    for i, prob in enumerate(sorted(bands, reverse=True)):
        lower, upper = bands[prob]
        alpha = BAND_ALPHAS[min(i, len(BAND_ALPHAS) - 1)]
        ax.fill_between(x, lower, upper, color=color, alpha=alpha, linewidth=0,
                        label=f"{prob:.0%} credible interval" if label_bands else None)
    (line,) = ax.plot(x, median, color=color, label=label, linewidth=MEDIAN_WIDTH)
    return line


def _shade_fitted_compute(ax, post, flops):
    """Shade the fitted runs' compute range, clipped to the plotted budgets (no autoscaling)."""
    fitted = post.runs_table["C"]
    lo, hi = max(fitted.min(), flops.min()), min(fitted.max(), flops.max())
    if lo < hi:
        ax.axvspan(lo, hi, color=DATA_SHADE, alpha=0.3, linewidth=0,
                   label="fitted runs' compute range")


def plot_frontier(post, flops, quantity="N", ax=None, probs=(0.5, 0.9)):
    """The compute-optimal frontier: N*, D*, D*/N* or L* against the budget C, with bands.

    The posterior median is a line, each central credible interval in ``probs`` a shaded band
    (from `bayes_scaling.allocation.optimal`), and the compute range of the fitted runs is
    shaded grey, so what lies beyond it is visibly an extrapolation.

    Parameters
    ----------
    post : Posterior
        A fit of a law with a closed-form allocation (Chinchilla).
    flops : array-like
        Budgets C in FLOPs (e.g. from `log_spaced_budgets`).
    quantity : {"N", "D", "tokens_per_param", "loss"}
        What to plot: parameters N*, tokens D*, their ratio, or the expected loss L*.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    probs : sequence of float
        Central interval probabilities of the bands.

    Returns
    -------
    matplotlib.axes.Axes
        Log-log axes (log-linear for ``"loss"``).

    Examples
    --------
    With ``post`` a fit as in the module example (which runs this):
    ``plot_frontier(post, log_spaced_budgets("1e19:1e26:30"), "D")``.
    """
    if quantity not in FRONTIER:
        raise ValueError(f"unknown quantity {quantity!r}; choose one of "
                         f"{', '.join(map(repr, FRONTIER))}")
    probs = check_probs(probs)
    flops = np.sort(np.atleast_1d(np.asarray(flops, dtype=np.float64)))
    table = optimal(post, flops, probs=probs)
    rows = table[table["quantity"] == quantity]  # one per budget, in budget order
    bands = {p: tuple(rows[c].to_numpy() for c in _bound_columns(p)) for p in probs}
    ax = new_axes(ax)
    _shade_fitted_compute(ax, post, flops)
    draw_band(ax, flops, rows["median"].to_numpy(), bands, PALETTE[0], label="posterior median",
               label_bands=True)
    ylabel, yscale = FRONTIER[quantity]
    ax.set(xscale="log", yscale=yscale, xlabel=COMPUTE_LABEL, ylabel=ylabel)
    ax.legend(loc="best", fontsize="small")
    return ax


def _isoflop_losses(post, log_n, log_c):
    """Expected loss per draw (rows) along N·D = C/k at log N (columns), for one budget."""
    law = post.law
    params = {n: jnp.asarray(v)[:, None] for n, v in post.draws(list(law.param_names)).items()}
    log_d = log_c - np.log(post.flops_per_param_token) - log_n
    inputs = {"N": log_n, "D": log_d, "C": np.full_like(log_n, log_c)}
    log_x = {name: jnp.asarray(inputs[name])[None, :] for name in law.inputs}
    return np.exp(np.asarray(law.log_loss(params, log_x), dtype=np.float64))


def plot_isoflop(post, flops, ax=None, num=60, prob=0.9, *, span=30.0):
    """IsoFLOP profiles: expected loss against N at fixed compute C = k·N·D, one per budget.

    For each budget, N runs over ``N*/span .. N*·span`` around the posterior median of the
    compute-optimal N* (with D = C/(k·N)); the posterior median of the expected loss is a line
    with a central ``prob`` band. A marker sits on each curve at the median N*, its horizontal
    bar the ``prob`` interval of N*.

    Parameters
    ----------
    post : Posterior
        A fit of a law with a closed-form allocation (Chinchilla).
    flops : array-like
        A few budgets C in FLOPs; one colour each.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    num : int
        Points per profile.
    prob : float
        Central interval probability of the bands and of N*'s bar.
    span : float
        How far each profile reaches either side of N*, as a factor (> 1).

    Returns
    -------
    matplotlib.axes.Axes
        Log-N axes with a legend of the budgets ("1e+21 FLOP").

    Examples
    --------
    With ``post`` a fit as in the module example (which runs this):
    ``plot_isoflop(post, [1e20, 1e21, 1e22])``.
    """
    (prob,) = check_probs(prob)
    if int(num) != num or num < 3:
        raise ValueError(f"num must be a whole number of points >= 3, got {num}")
    if not span > 1:
        raise ValueError(f"span must be a factor > 1, got {span}")
    flops = np.atleast_1d(np.asarray(flops, dtype=np.float64))
    table = optimal(post, flops, probs=(prob,))
    best_n = table[table["quantity"] == "N"]
    lo, hi = _bound_columns(prob)
    offsets = np.linspace(-np.log(span), np.log(span), int(num))
    ax = new_axes(ax)
    for j, c in enumerate(flops):
        star = best_n.iloc[j]
        log_n = np.append(np.log(star["median"]) + offsets, np.log(star["median"]))
        losses = _isoflop_losses(post, log_n, np.log(c))
        median = np.median(losses, axis=0)
        lower, upper = np.quantile(losses, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        color = PALETTE[j % len(PALETTE)]
        n = np.exp(log_n[:-1])  # the last point is N* itself, for the marker
        draw_band(ax, n, median[:-1], {prob: (lower[:-1], upper[:-1])}, color,
                   label=f"{c:.3g} FLOP")
        xerr = [[star["median"] - star[lo]], [star[hi] - star["median"]]]
        ax.errorbar(star["median"], median[-1], xerr=xerr, fmt="o", color=color,
                    markeredgecolor="white", elinewidth=2.5, capsize=5, capthick=2, zorder=3)
    ax.set(xscale="log", xlabel=f"parameters N (tokens D = C / ({post.flops_per_param_token:g}·N))",
           ylabel="expected loss")
    ax.set_title(f"lines: posterior median, bands: {prob:.0%} credible interval; "
                 f"dots: N* with its {prob:.0%} interval", fontsize="small")
    ax.legend(loc="best", fontsize="small")
    return ax


# -- model checks ------------------------------------------------------------------------------
def plot_ppc(post, *, key, ax=None, prob=0.9):
    """Posterior predictive check: each run's observed loss against its replicated interval.

    Runs are placed side by side in order of training compute (then parameters), so runs of
    the same budget, as in IsoFLOP sweeps, do not overlap. Each gets a vertical bar, the central
    ``prob`` interval of its replicated losses (`bayes_scaling.checks.replicated_losses`: the law
    plus the fitted noise, per posterior draw); its observed loss is a black dot inside the bar,
    a vermillion cross outside it. About ``1 - prob`` of the runs should fall outside, spread
    evenly; clusters of crosses show where the law or the noise model misfits.

    Parameters
    ----------
    post : Posterior
    key : jax.random key
        For the replicated noise.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    prob : float
        Central interval probability of the bars.

    Returns
    -------
    matplotlib.axes.Axes
        Log-scaled loss axis; x ticks labelled with the compute of the run there; the title
        counts the runs inside.

    Examples
    --------
    See the module example, which runs it.
    """
    (prob,) = check_probs(prob)
    replicated = replicated_losses(post, key=key)
    table = post.runs_table
    order = np.lexsort((table["N"].to_numpy(), table["C"].to_numpy()))
    flops, observed = table["C"].to_numpy()[order], table["loss"].to_numpy()[order]
    lower, upper = np.quantile(replicated, [(1 - prob) / 2, (1 + prob) / 2], axis=(0, 1))
    lower, upper = lower[order], upper[order]
    inside = (lower <= observed) & (observed <= upper)
    position = np.arange(len(order))
    ax = new_axes(ax)
    ax.vlines(position, lower, upper, color=OKABE_ITO["sky_blue"], linewidth=2, alpha=0.8,
              label=f"{prob:.0%} interval of replicated losses")
    ax.scatter(position[inside], observed[inside], s=9, color=OKABE_ITO["black"], zorder=3,
               label="observed loss, inside")
    ax.scatter(position[~inside], observed[~inside], s=22, marker="x",
               color=OKABE_ITO["vermillion"], zorder=4, label="observed loss, outside")
    ticks = np.unique(np.linspace(0, len(order) - 1, min(len(order), 6)).round().astype(int))
    ax.set_xticks(ticks, [f"{c:.2g}" for c in flops[ticks]])
    ax.set(yscale="log", xlabel="runs in order of training compute (ticks: C in FLOP)",
           ylabel="loss")
    from matplotlib.ticker import LogFormatter

    # plain "2.4", not "2.4×10⁰": losses rarely span a decade, so the labels are minor ticks
    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.set_title(f"observed loss inside the {prob:.0%} posterior predictive interval: "
                 f"{inside.sum()}/{inside.size} runs ({inside.mean():.0%})", fontsize="small")
    ax.legend(loc="best", fontsize="small")
    return ax


def _draw_ecdf_check(ax, z, difference, lower, upper, inside, label_band=None,
                     label_line=None):
    """ECDF(z) - z over its simultaneous band, pinned to 0 at z = 0 and 1; returns the line."""
    z = np.concatenate([[0.0], z, [1.0]])
    lower, upper, difference = (np.concatenate([[0.0], v, [0.0]])
                                for v in (lower, upper, difference))
    ax.fill_between(z, lower, upper, color=DATA_SHADE, alpha=0.5, linewidth=0, label=label_band)
    ax.axhline(0, color=OKABE_ITO["black"], linewidth=0.6, zorder=1)
    color = PALETTE[0] if inside else OKABE_ITO["vermillion"]
    (line,) = ax.plot(z, difference, color=color, label=label_line, zorder=2)
    ax.set_xlim(0, 1)
    return line


def plot_loo_pit(post, *, key, ax=None, prob=0.99):
    """LOO-PIT calibration: the ECDF of the runs' LOO-PIT values minus the uniform CDF.

    With a simultaneous ``prob`` band (`bayes_scaling.checks.pit_ecdf`, Säilynoja et al. 2022,
    calibrated by simulation with a fixed seed): for a calibrated model the whole curve stays
    inside with probability ``prob``. Reading it: above zero on the left and below on the right
    (values piled near 0 and 1) means predictive intervals too narrow; the reverse, too wide; a
    hump above zero (a dip below), observed losses mostly lower (higher) than predicted.

    Parameters
    ----------
    post : Posterior
        With its pointwise log-likelihood.
    key : jax.random key
        For the replicated draws.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    prob : float
        Simultaneous coverage of the band.

    Returns
    -------
    matplotlib.axes.Axes
        The curve is blue when inside the band, vermillion when it leaves it; the title gives
        the number of runs and the Kolmogorov-Smirnov p-value.

    Examples
    --------
    See the module example, which runs it.
    """
    (prob,) = check_probs(prob)
    values = loo_pit(post, key=key)
    check = pit_ecdf(values, prob)
    ax = new_axes(ax)
    _draw_ecdf_check(ax, check.z, check.difference, check.lower, check.upper, check.inside,
                     label_band=f"{prob:.0%} simultaneous band (uniform)",
                     label_line="ECDF of LOO-PIT minus uniform")
    _, pvalue = ks_uniform_pvalue(values)
    verdict = "inside" if check.inside else "leaves"
    ax.set(xlabel="LOO-PIT value u", ylabel="ECDF(u) − u")
    ax.set_title(f"LOO-PIT of {values.size} runs: {verdict} the band; KS p = {pvalue:.2g}",
                 fontsize="small")
    ax.legend(loc="best", fontsize="small")
    return ax


def _default_bins(max_rank, num):
    """The largest divisor of max_rank + 1 up to min(20, replicates / 5), at least 1."""
    limit = max(1, min(20, num // 5))
    return max(b for b in range(1, limit + 1) if (max_rank + 1) % b == 0)


def plot_sbc(ranks, max_rank, names, *, axes=None, prob=0.99, hist=False, bins=None):
    """Simulation-based calibration (Talts et al. 2018): are the ranks of the truths uniform?

    One panel per parameter shows the ECDF of the normalised ranks minus the uniform CDF with
    a simultaneous ``prob`` band (Säilynoja, Bürkner & Vehtari 2022; `bayes_scaling.checks.
    rank_ecdf`: the band is calibrated by simulating uniform ranks with a fixed seed, 5000
    times). For calibrated inference every curve stays inside with probability ``prob``; a
    curve that leaves it is drawn in vermillion and its title says so. With ``hist``, a second
    row shows rank histograms with the pointwise ``prob`` interval of a bin's count shaded.

    Parameters
    ----------
    ranks : array-like of int, shape (replicates, parameters)
        Rank of each parameter's true value among ``max_rank`` posterior draws, per simulated
        data set; each in 0..max_rank.
    max_rank : int
        The number of posterior draws the ranks were taken among.
    names : sequence of str
        One per parameter (column of ``ranks``).
    axes : array-like of matplotlib.axes.Axes, optional
        ``parameters`` Axes (``2 x parameters`` with ``hist``); a new figure when None.
    prob : float
        Coverage of the bands.
    hist : bool
        Also draw rank histograms.
    bins : int, optional
        Histogram bins; must divide ``max_rank + 1`` (so each covers as many ranks). By default
        the largest such divisor up to min(20, replicates / 5).

    Returns
    -------
    numpy.ndarray of matplotlib.axes.Axes
        Shape (parameters,), or (2, parameters) with ``hist`` (ECDF row first).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> rng = np.random.default_rng(0)
    >>> ranks = np.column_stack([rng.integers(0, 100, 300),   # calibrated
    ...                          rng.binomial(99, 0.5, 300)])  # posterior too wide
    >>> axes = plot_sbc(ranks, 99, ["alpha", "beta"])
    >>> [ax.get_title() for ax in axes]
    ['alpha', 'beta: leaves the 99% band']
    >>> plt.close("all")
    """
    ranks = np.asarray(ranks)
    names = [str(name) for name in names]
    if ranks.ndim != 2 or ranks.shape[1] != len(names):
        raise ValueError(f"ranks must have shape (replicates, parameters) with one name per "
                         f"parameter; got shape {ranks.shape} and {len(names)} names")
    (prob,) = check_probs(prob)
    check = rank_ecdf(ranks, max_rank, prob)
    num, count = ranks.shape
    if hist:
        bins = _default_bins(int(max_rank), num) if bins is None else bins
        if int(bins) != bins or bins < 1 or (int(max_rank) + 1) % int(bins):
            raise ValueError(f"bins must be a whole number dividing max_rank + 1 = "
                             f"{int(max_rank) + 1}, got {bins!r}")
        bins = int(bins)
    shape = (2, count) if hist else (count,)
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(2 if hist else 1, count, squeeze=False,
                               figsize=(2.8 * count, 5.2 if hist else 2.8),
                               layout="constrained")
    axes = np.asarray(axes, dtype=object)
    if axes.size != int(np.prod(shape)):
        raise ValueError(f"axes must hold {int(np.prod(shape))} Axes "
                         f"({'2 x ' if hist else ''}{count} parameters), got {axes.size}")
    axes = axes.reshape(shape)
    row = axes[0] if hist else axes
    for j, (ax, name) in enumerate(zip(row, names)):
        inside = bool(check.inside[j])
        first = j == 0
        _draw_ecdf_check(ax, check.z, check.difference[:, j], check.lower, check.upper, inside,
                         label_band=f"{prob:.0%} simultaneous band" if first else None,
                         label_line="ECDF − uniform" if first else None)
        ax.set_title(name if inside else f"{name}: leaves the {prob:.0%} band",
                     fontsize="medium")
        ax.set_xlabel("normalised rank")
        if first:
            ax.set_ylabel("ECDF − uniform CDF")
            ax.legend(loc="best", fontsize="x-small")
    if hist:
        low, high = rank_hist_band(num, bins, prob)
        edges = np.arange(bins + 1) * ((int(max_rank) + 1) / bins) - 0.5
        for j, ax in enumerate(axes[1]):
            ax.axhspan(low, high, color=DATA_SHADE, alpha=0.5, linewidth=0,
                       label=f"{prob:.0%} interval per bin" if j == 0 else None)
            ax.hist(ranks[:, j], bins=edges, color=PALETTE[0], alpha=0.8)
            ax.axhline(num / bins, color=OKABE_ITO["black"], linewidth=0.8)
            ax.set_xlabel("rank")
            if j == 0:
                ax.set_ylabel("replicates")
                ax.legend(loc="lower center", fontsize="x-small")
    return axes


def plot_emergence(fit, task, *, key, report=None, ax=None, prob=0.9, num=80):
    """Scores of one task against scale (log axis) with the posterior predictive band of a
    fresh model's score, the chance line, chance + margin, and the posterior density of the
    threshold N* (a histogram on the lower part of the axes; mass beyond the range noted).

    Parameters
    ----------
    fit : emergence.EmergenceFit
    task : str
    key : jax.random key
        For the predictive draws of the band.
    report : emergence.EmergenceReport, optional
        Default: ``fit.thresholds()``.
    ax : matplotlib Axes, optional
    prob : float
        Central probability of the band.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = new_axes(ax)
    report = report or fit.thresholds()
    row = report.table.set_index("task").loc[task]
    grid = np.geomspace(row["range_lo"], row["range_hi"], num)
    params = fit.task_params(task, max_draws=500)
    count = len(params["height"])
    if fit.mean == "loss-linked":
        t = fit.t_of(task, np.log(grid), draws=np.arange(count))
    else:
        t = np.broadcast_to(fit.t_of(task, np.log(grid)), (count, num))
    params.setdefault("steps", np.ones(count))
    p = {k: jnp.asarray(v)[:, None] for k, v in params.items()}
    draws = score_distribution(fit.mean, p, jnp.asarray(t), fit.scores.chance_of(task),
                               fit.scores.ceiling, fit.items_of(task)).sample(key)
    lo, mid, hi = np.quantile(np.asarray(draws), [(1 - prob) / 2, 0.5, (1 + prob) / 2], axis=0)
    blue, red = OKABE_ITO["blue"], OKABE_ITO["vermillion"]
    ax.fill_between(grid, lo, hi, color=blue, alpha=BAND_ALPHAS[0],
                    label=f"{prob:.0%} predictive band (fresh model)")
    ax.plot(grid, mid, color=blue, lw=1.5, label="predictive median")
    rows = fit.scores.rows(task)
    ax.scatter(getattr(fit.scores, fit.scale)[rows], fit.scores.score[rows], s=14,
               color="black", zorder=3, label="observed scores")
    chance = fit.scores.chance_of(task)
    ax.axhline(chance, color="grey", ls="--", lw=1, label=f"chance {chance:g}")
    ax.axhline(chance + row["margin"], color="grey", ls=":", lw=1,
               label=f"chance + margin {chance + row['margin']:.3g}")
    n_star = report.draws[task]
    finite = n_star[np.isfinite(n_star)]
    if len(finite):
        density = ax.twinx()
        density.hist(finite, bins=np.geomspace(row["range_lo"], row["range_hi"], 40),
                     color=red, alpha=0.35, weights=np.full(len(finite), 1 / len(n_star)))
        density.set_ylim(0, max(density.get_ylim()[1] * 4, 1e-3))  # keep it low on the axes
        density.set_yticks([])
    beyond = row["p_beyond_range"]
    ax.plot([], [], color=red, alpha=0.35, lw=6,
            label=f"posterior of {fit.scale}*" + (f" ({beyond:.0%} beyond range)" if beyond
                                                   else ""))
    ax.set_xscale("log")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("parameters N" if fit.scale == "N" else "training compute C (FLOP)")
    ax.set_ylabel("score")
    ax.set_title(task)
    ax.legend(fontsize="small", loc="upper left")
    return ax
