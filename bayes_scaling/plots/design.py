"""The picture of a design (`bayes_scaling.design`): runs, candidates and proposals over (N, D).

Matplotlib only; takes ``ax=None`` (a new figure when None) and returns the Axes, with the look
of `bayes_scaling.plots.style`.

Example
-------
With ``post``, ``grid`` and ``design`` as in `bayes_scaling.design`'s example (the CLI's
``next --plot`` runs it in the tests)::

    fig, ax = plt.subplots()
    plot_design(post, design, candidates=grid, ax=ax)   # log-log axes: N across, D up
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .style import DATA_SHADE, PALETTE, new_axes

__all__ = ["plot_design"]

MAX_ISOFLOP_LINES = 6  # more distinct budgets (to a tenth of a decade) are drawn per half decade


def plot_design(post, design, *, candidates=None, ax=None):
    """Existing runs, candidate runs, the proposed batch and the target over (N, D), with the
    isoFLOP lines N·D = C/k of the candidates' budgets, the target's and the budget's.

    Parameters
    ----------
    post : Posterior
        The fit the design started from.
    design : Design
        From `bayes_scaling.design.propose_batch`.
    candidates : pandas.DataFrame or dict, optional
        The candidates (N and D) it chose among; default: those of ``design.ranking``.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Log-log axes: parameters N across, tokens D up.
    """
    ax = new_axes(ax)
    k = post.flops_per_param_token
    runs = post.runs_table
    candidates = pd.DataFrame(design.ranking if candidates is None else candidates)
    proposals, target = design.proposals, design.target
    ax.scatter(runs["N"], runs["D"], s=12, color=DATA_SHADE, edgecolor="none",
               label=f"fitted runs ({len(runs)})", zorder=2)
    ax.scatter(candidates["N"], candidates["D"], s=30, facecolor="none", edgecolor=PALETTE[0],
               label=f"candidates ({len(candidates)})", zorder=3)
    if len(proposals):
        ax.scatter(proposals["N"], proposals["D"], s=120, marker="*", color=PALETTE[1],
                   label=f"proposed, {design.method} ({len(proposals)})", zorder=4)
        for _, row in proposals.iterrows():
            ax.annotate(str(int(row["step"])), (row["N"], row["D"]), textcoords="offset points",
                        xytext=(6, 4), fontsize="small", color=PALETTE[1])
    ax.scatter([target["N"]], [target["D"]], s=90, marker="X", color=PALETTE[2],
               label="target", zorder=4)
    every_n = np.concatenate([runs["N"], candidates["N"], [target["N"]]])
    n = np.geomspace(every_n.min() / 2, every_n.max() * 2, 50)
    # A pool of real runs has almost as many budgets as runs, and a line each would hide them:
    # then one line per half decade of the candidates' compute.
    flops = k * candidates["N"].to_numpy(float) * candidates["D"].to_numpy(float)
    tenths = np.round(np.log10(flops), 1)
    if len(np.unique(tenths)) <= MAX_ISOFLOP_LINES:  # a line at each candidates' budget
        budgets = {float(f"{flops[tenths == t][0]:.3g}") for t in np.unique(tenths)}
    else:
        budgets = {float(f"{c:.2g}") for c in 10 ** (np.round(np.log10(flops) * 2) / 2)}
    budgets = sorted(budgets | {target["C"]})
    every_d = np.concatenate([runs["D"], candidates["D"], [target["D"]]])
    lowest_d = every_d.min() / 3
    for j, c in enumerate(budgets):
        ax.plot(n, c / (k * n), color="0.6", linewidth=0.8, linestyle=":", zorder=1,
                label="isoFLOP lines N·D = C/k" if j == 0 else None)
        # Labelled where the line leaves the axes: at its largest N, or lower edge if sooner.
        end = min(n[-1], c / (k * lowest_d))
        ax.annotate(f"{c:.3g}", (end, c / (k * end)), fontsize="x-small", color="0.4",
                    ha="right", va="bottom")
    ax.set(xscale="log", yscale="log", xlabel="parameters N", ylabel="tokens D",
           ylim=(lowest_d, every_d.max() * 3))
    if design.objective == "decision":
        title = (f"next runs to lower the expected regret of the allocation at "
                 f"{target['C']:.3g} FLOP (now {design.ranking['regret_before'].iloc[0]:.3g})")
    else:
        title = f"next runs to narrow the target's forecast (width now {design.width_now:.3g})"
    ax.set_title(title, fontsize="small")
    ax.legend(loc="best", fontsize="small")
    return ax
