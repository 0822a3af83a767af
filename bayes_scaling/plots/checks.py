"""Plots of model checks: posterior predictive intervals, LOO-PIT and simulation-based
calibration (the numbers behind them are `bayes_scaling.validation.checks`').

Example
-------
>>> import jax, matplotlib.pyplot as plt, bayes_scaling as bs
>>> post = bs.fit(bs.simulate(jax.random.key(0)), key=jax.random.key(1),
...               config=bs.SamplerConfig(num_warmup=500, num_samples=1000))
>>> fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 8))
>>> plot_ppc(post, key=jax.random.key(2), ax=top) is top
True
>>> bottom = plot_loo_pit(post, key=jax.random.key(2), ax=bottom)
>>> plt.close(fig)
"""

from __future__ import annotations

import numpy as np

from ..validation.checks import (ks_uniform_pvalue, loo_pit, pit_ecdf, rank_ecdf,
                                 rank_hist_band, replicated_losses)
from .style import DATA_SHADE, OKABE_ITO, PALETTE, check_probs, new_axes

__all__ = ["plot_ppc", "plot_loo_pit", "plot_sbc"]

def plot_ppc(post, *, key, ax=None, prob=0.9):
    """Posterior predictive check: each run's observed loss against its replicated interval.

    Runs are placed side by side in order of training compute (then parameters), so runs of
    the same budget, as in IsoFLOP sweeps, do not overlap. Each gets a vertical bar, the central
    ``prob`` interval of its replicated losses (`bayes_scaling.validation.checks.replicated_losses`: the law
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

    With a simultaneous ``prob`` band (`bayes_scaling.validation.checks.pit_ecdf`, Säilynoja et al. 2022,
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
    a simultaneous ``prob`` band (Säilynoja, Bürkner & Vehtari 2022; `bayes_scaling.validation.checks.
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
