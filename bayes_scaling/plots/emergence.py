"""The plot of one downstream task's scores against scale, with the threshold's posterior."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..emergence.model import score_distribution
from .style import BAND_ALPHAS, OKABE_ITO, new_axes

__all__ = ["plot_emergence"]

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
