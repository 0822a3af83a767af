"""Plots of compute-optimal plans: the frontier N*(C), D*(C), L*(C) and IsoFLOP profiles.

Matplotlib only. Every function takes ``ax=None`` (a new figure when None) and returns the Axes,
so plots compose into the caller's own figures; the look is `bayes_scaling.plots.style`'s.

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
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..allocation import optimal
from .style import DATA_SHADE, PALETTE, check_probs, draw_band, new_axes

__all__ = ["plot_frontier", "plot_isoflop"]

# quantity -> (y label, y scale) of the frontier
FRONTIER = {
    "N": ("compute-optimal parameters N*", "log"),
    "D": ("compute-optimal tokens D*", "log"),
    "tokens_per_param": ("compute-optimal tokens per parameter D*/N*", "log"),
    "loss": ("compute-optimal expected loss L*", "linear"),
}
COMPUTE_LABEL = "training compute C (FLOP)"


def _bound_columns(prob):
    """Names of the lower and upper bound columns of `optimal`'s table for ``prob``."""
    return f"lo_{100 * prob:g}", f"hi_{100 * prob:g}"


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
