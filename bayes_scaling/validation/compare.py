"""Compare laws on the same runs: PSIS-LOO for interpolation, a backtest for extrapolation.

The two answer different questions. LOO (ArviZ's Pareto-smoothed importance sampling) estimates
how well each law predicts a run left out from *inside* the data: its expected log predictive
density (ELPD), with a Pareto k per run saying whether the estimate can be trusted (k > 0.7: it
cannot, for that run). The backtest fits each law below a compute cutoff and forecasts the
larger runs: the question a scaling law is for. A law can win one and lose the other, so both
are reported side by side, with each fit's diagnostics verdict.

Example
-------
Four fits (each law on all runs, and below the cutoff); tests/test_compare.py runs this one:

>>> import jax, bayes_scaling as bs
>>> from bayes_scaling.validation.compare import compare_laws
>>> runs = bs.simulate(jax.random.key(0), num_runs=120)
>>> table = compare_laws(runs, ["chinchilla", "power_N"], key=jax.random.key(1))  # doctest: +SKIP
>>> table[["law", "elpd_diff", "backtest_rel_error"]]  # doctest: +SKIP
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pandas as pd

from ..api import fit
from ..laws.registry import get_law
from .backtest import backtest

__all__ = ["compare_laws", "STATEMENT", "PARETO_K_BAD"]

PARETO_K_BAD = 0.7  # above it, PSIS-LOO's estimate for that run is unreliable (Vehtari et al.)
STATEMENT = ("LOO (elpd_loo) measures interpolation: how well each law predicts a run left out "
             "from inside the data. The backtest measures extrapolation: forecasts of the "
             "largest-compute runs from a fit to the rest, which is what planning needs. "
             "Prefer the backtest when they disagree.")


def _loo(post):
    """ELPD by PSIS-LOO with its standard error and the Pareto k of each run."""
    import arviz as az

    with warnings.catch_warnings():
        # ArviZ warns when some k > 0.7; the table reports how many instead.
        warnings.simplefilter("ignore", UserWarning)
        loo = az.loo(post.idata, pointwise=True)
    k = np.asarray(loo.pareto_k)
    return {"elpd_loo": float(loo.elpd_loo), "elpd_se": float(loo.se),
            "elpd_pointwise": np.asarray(loo.loo_i, np.float64),
            "p_loo": float(loo.p_loo), "max_pareto_k": float(k.max()),
            "runs_bad_k": int((k > PARETO_K_BAD).sum())}


def compare_laws(runs, laws, *, key, holdout_top=0.2, likelihood="student_t", config=None):
    """Fit every law to ``runs``; score it by PSIS-LOO and by a leave-largest-out backtest.

    Parameters
    ----------
    runs : Runs
    laws : sequence of str or Law
    key : jax.random key
    holdout_top : float
        The backtest holds out this fraction of the runs with the largest compute.
    likelihood, config
        As for `api.fit`.

    Returns
    -------
    pandas.DataFrame
        One row per law, best ELPD first: ``elpd_loo``, ``elpd_se``, ``elpd_diff`` (to the
        best) and ``elpd_diff_se`` (its standard error, from the paired per-run differences:
        a difference beyond about 2 of them is clear), ``p_loo``, ``max_pareto_k``, ``runs_bad_k`` (runs with k > 0.7), ``fit_ok`` (the
        full fit's diagnostics gate), and the backtest's ``backtest_rel_error`` (median absolute
        relative error of the held-out forecasts' medians), ``backtest_coverage_90``,
        ``backtest_lpd`` and ``backtest_ok``. See `STATEMENT` for how to read them.
    """
    laws = [get_law(law) for law in laws]
    if len({law.name for law in laws}) != len(laws):
        raise ValueError(f"each law once, please: got {[law.name for law in laws]}")
    rows = []
    for i, law in enumerate(laws):
        k_fit, k_backtest = jax.random.split(jax.random.fold_in(key, i))
        post = fit(runs, key=k_fit, law=law, likelihood=likelihood, config=config,
                   sweep_evidence=False)
        held = backtest(runs, key=k_backtest, holdout_top=holdout_top, law=law,
                        likelihood=likelihood, config=config, compare=())
        ours = held.summary.set_index("method").loc["bayes"]
        rows.append({"law": law.name, **_loo(post), "fit_ok": bool(post.check().ok),
                     "backtest_rel_error": float(ours["median_abs_rel_error"]),
                     "backtest_coverage_90": float(ours["coverage_90"]),
                     "backtest_lpd": float(ours["mean_lpd"]),
                     "backtest_ok": bool(held.diagnostics.ok)})
    table = pd.DataFrame(rows).sort_values("elpd_loo", ascending=False, ignore_index=True)
    table.insert(3, "elpd_diff", table["elpd_loo"] - table["elpd_loo"].iloc[0])
    # The difference's standard error from the paired per-run differences (Vehtari et al. 2017,
    # eq. 24): much smaller than either law's own se when both miss the same runs.
    pointwise = table.pop("elpd_pointwise")
    best = pointwise.iloc[0]
    table.insert(4, "elpd_diff_se", [float(np.sqrt(len(best) * np.var(p - best)))
                                     for p in pointwise])
    return table
