"""Plots of backtests: how far off the forecasts of held-out larger runs were, and how often
their intervals held the truth, against the extrapolation distance.

A backtest (`bayes_scaling.validation.backtest`) fits the runs below a compute cutoff and forecasts the
larger ones; the extrapolation distance of a held-out run is its compute as a multiple of the
largest training run's (``C_vs_train``). `plot_backtest` draws one backtest run by run;
`plot_rolling_backtest` draws the summaries of backtests at several cutoffs
(`validation.backtest.rolling_backtest`), the error or the coverage against the median distance, beside the
range a calibrated method's coverage would fall in with that many held-out runs.

Same conventions as `bayes_scaling.plots`: matplotlib only, ``ax=None`` draws a new figure, the
Axes come back, colours from Okabe & Ito's colour-blind-safe palette.

Example
-------
Tables as `backtest` and `rolling_backtest` return them (here written by hand):

>>> import pandas as pd, matplotlib.pyplot as plt
>>> runs = pd.DataFrame({"method": "bayes", "C_vs_train": [1.5, 2.0, 3.0],
...                      "loss": [2.0, 1.9, 1.8], "median": [2.02, 1.9, 1.7],
...                      "lo_90": [1.98, 1.85, 1.65], "hi_90": [2.06, 1.95, 1.75]})
>>> runs["rel_error"] = runs["median"] / runs["loss"] - 1
>>> runs["in_90"] = (runs["lo_90"] <= runs["loss"]) & (runs["loss"] <= runs["hi_90"])
>>> ax = plot_backtest(runs)
>>> [text.get_text() for text in ax.get_legend().get_texts()]
['bayes: 2 of 3 inside the 90% interval']
>>> table = pd.DataFrame({"method": "bayes", "held_out": [24, 48],
...                       "median_C_vs_train": [1.6, 3.1], "coverage_90": [0.83, 0.65],
...                       "median_abs_rel_error": [0.004, 0.009]})
>>> fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
>>> plot_rolling_backtest(table, quantity="error", ax=left) is left
True
>>> right = plot_rolling_backtest(table, quantity="coverage", ax=right)
>>> right.get_ylabel()
'share of held-out runs inside the 90% interval'
>>> plt.close("all")
"""

from __future__ import annotations

import numpy as np

from .style import DATA_SHADE, OKABE_ITO, PALETTE, check_probs, new_axes

__all__ = ["plot_backtest", "plot_rolling_backtest", "DISTANCE_LABEL"]

DISTANCE_LABEL = "extrapolation distance: held-out compute / largest training compute"
OFFSET = 1.025  # methods sit side by side: each one's runs shifted by this factor in x
ROLLING = {"coverage": None, "error": "median_abs_rel_error"}


def _columns(frame, needed, what):
    missing = [c for c in needed if c not in frame]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; pass a table from "
                         f"bayes_scaling.validation.backtest with these columns")


def _plain_ticks(axis):
    """Plain "2", "5", "20" labels on a log distance axis (not "2×10⁰"), minor ticks included
    where the axis spans little."""
    from matplotlib.ticker import LogFormatter

    axis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _methods(frame):
    """The methods in order of first appearance."""
    return list(dict.fromkeys(frame["method"]))


def plot_backtest(result, ax=None, *, prob=0.9):
    """One backtest, run by run: each held-out run's forecast error against its distance.

    For every method and held-out run, the relative error of the median forecast,
    (median − observed) / observed, is a marker at the run's extrapolation distance
    (``C_vs_train``), with the central ``prob`` interval of the forecast, relative to the
    observed loss in the same way, as an error bar. The observed loss is the line at 0: a run
    whose bar crosses it was inside the interval (filled marker), one whose bar misses it was
    not (open marker). Methods sit side by side, shifted slightly in x.

    Parameters
    ----------
    result : validate.Backtest or pandas.DataFrame
        A backtest, or its ``runs`` table (columns method, C_vs_train, loss, median, rel_error,
        ``lo_<p>``, ``hi_<p>``, ``in_<p>``).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    prob : float
        Which of the table's intervals the bars show.

    Returns
    -------
    matplotlib.axes.Axes
        Log x axis (the distance); the legend gives each method's share of runs inside.

    Examples
    --------
    See the module example, which runs it.
    """
    (prob,) = check_probs(prob)
    runs = getattr(result, "runs", result)
    label = f"{100 * prob:g}"
    lo, hi, inside_col = f"lo_{label}", f"hi_{label}", f"in_{label}"
    _columns(runs, ["method", "C_vs_train", "loss", "median", "rel_error", lo, hi, inside_col],
             "the backtest table")
    ax = new_axes(ax)
    ax.axhline(0, color=OKABE_ITO["black"], linewidth=0.8, zorder=1)
    for j, method in enumerate(_methods(runs)):
        part = runs[runs["method"] == method]
        color = PALETTE[j % len(PALETTE)]
        x = part["C_vs_train"].to_numpy(float) * OFFSET ** j
        loss = part["loss"].to_numpy(float)
        y = part["rel_error"].to_numpy(float)
        lower = part[lo].to_numpy(float) / loss - 1
        upper = part[hi].to_numpy(float) / loss - 1
        inside = part[inside_col].to_numpy(bool)
        ax.errorbar(x, y, yerr=[y - lower, upper - y], fmt="none", ecolor=color,
                    elinewidth=1.2, alpha=0.7, zorder=2)
        ax.scatter(x[inside], y[inside], s=22, color=color, zorder=3,
                   label=f"{method}: {inside.sum()} of {inside.size} inside the "
                         f"{prob:.0%} interval")
        ax.scatter(x[~inside], y[~inside], s=22, facecolors="white", edgecolors=color,
                   linewidths=1.2, zorder=3)
    ax.set(xscale="log", xlabel=DISTANCE_LABEL,
           ylabel="relative error of the forecast, (median − observed) / observed")
    _plain_ticks(ax.xaxis)
    title = f"{len(runs) // max(len(_methods(runs)), 1)} held-out runs"
    if hasattr(result, "cutoff_flops"):
        title += (f" with C ≥ {result.cutoff_flops:.3g} FLOP, forecast from "
                  f"{result.num_train} smaller runs")
    ax.set_title(title + f"; bars: {prob:.0%} intervals, open markers miss", fontsize="small")
    ax.legend(loc="best", fontsize="x-small")
    return ax


def _calibrated_range(held_out, prob, level=0.9):
    """Central ``level`` range of the coverage a calibrated ``prob`` interval shows over
    ``held_out`` independent runs: Binomial(held_out, prob) quantiles over held_out."""
    from scipy import stats

    held_out = np.asarray(held_out)
    low = stats.binom.ppf((1 - level) / 2, held_out, prob) / held_out
    high = stats.binom.ppf((1 + level) / 2, held_out, prob) / held_out
    return low, high


def plot_rolling_backtest(table, ax=None, *, quantity="coverage", prob=0.9):
    """Backtests at several cutoffs: error or coverage against the extrapolation distance.

    Each cutoff of `validation.backtest.rolling_backtest` is one point per method at its median
    extrapolation distance (``median_C_vs_train``), joined in order of distance. With
    ``quantity="coverage"`` the points are the share of held-out runs inside the central
    ``prob`` interval; the dashed line is ``prob`` itself, and the grey band the central 90%
    range of the share a calibrated method would show with that many held-out runs (binomial;
    the runs of one backtest are not independent, so read it as a guide). With
    ``quantity="error"`` the points are the median absolute relative error of the forecasts'
    medians.

    Parameters
    ----------
    table : pandas.DataFrame
        The stacked summaries from `validation.backtest.rolling_backtest` (columns method, held_out,
        median_C_vs_train, ``coverage_<p>``, median_abs_rel_error).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    quantity : {"coverage", "error"}
    prob : float
        The interval whose coverage is drawn.

    Returns
    -------
    matplotlib.axes.Axes
        Log x axis (the distance).

    Examples
    --------
    See the module example, which runs it.
    """
    if quantity not in ROLLING:
        raise ValueError(f"quantity must be one of {', '.join(map(repr, ROLLING))}, "
                         f"got {quantity!r}")
    (prob,) = check_probs(prob)
    column = ROLLING[quantity] or f"coverage_{100 * prob:g}"
    _columns(table, ["method", "held_out", "median_C_vs_train", column],
             "the rolling backtest table")
    ax = new_axes(ax)
    if quantity == "coverage":
        first = table[table["method"] == _methods(table)[0]].sort_values("median_C_vs_train")
        low, high = _calibrated_range(first["held_out"].to_numpy(int), prob)
        ax.fill_between(first["median_C_vs_train"].to_numpy(float), low, high, color=DATA_SHADE,
                        alpha=0.45, linewidth=0, label="90% range of a calibrated method's share")
        ax.axhline(prob, color=OKABE_ITO["black"], linestyle="--", linewidth=1,
                   label=f"nominal {prob:.0%}")
    for j, method in enumerate(_methods(table)):
        part = table[table["method"] == method].sort_values("median_C_vs_train")
        ax.plot(part["median_C_vs_train"].to_numpy(float), part[column].to_numpy(float), "-o",
                color=PALETTE[j % len(PALETTE)], markersize=5, label=method, zorder=3)
    if quantity == "coverage":
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.02)
        ylabel = f"share of held-out runs inside the {prob:.0%} interval"
    else:
        ax.set_ylim(0, None)
        ylabel = "median |relative error| of the forecasts"
    ax.set(xscale="log", xlabel=DISTANCE_LABEL, ylabel=ylabel)
    _plain_ticks(ax.xaxis)
    ax.legend(loc="best", fontsize="x-small")
    return ax
