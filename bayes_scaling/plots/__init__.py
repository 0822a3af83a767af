"""Figures, one module per kind; every plotting function is also importable from here.

- `style`: the palette, band shading and small helpers every figure shares.
- `fit`: the fitted law over the runs, residuals, pair plots.
- `planning`: the compute-optimal frontier and IsoFLOP profiles.
- `checks`: posterior predictive intervals, LOO-PIT, simulation-based calibration.
- `backtest`: backtests against extrapolation distance.
- `emergence`: one task's scores against scale, with its threshold.
- `design`: runs, candidates and proposed runs over (N, D) (`bayes_scaling.design`).

Matplotlib only. Every function takes ``ax=None`` (a new figure when None) and returns the Axes.
"""

from .backtest import plot_backtest, plot_rolling_backtest
from .checks import plot_loo_pit, plot_ppc, plot_sbc
from .design import plot_design
from .emergence import plot_emergence
from .fit import plot_fit, plot_pairs, plot_residuals
from .planning import plot_frontier, plot_isoflop
from .style import OKABE_ITO, PALETTE

__all__ = ["plot_fit", "plot_residuals", "plot_pairs", "plot_frontier", "plot_isoflop",
           "plot_ppc", "plot_loo_pit", "plot_sbc", "plot_backtest", "plot_rolling_backtest",
           "plot_emergence", "plot_design", "OKABE_ITO", "PALETTE"]
