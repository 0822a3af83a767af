# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Comparing scaling laws: interpolation is not extrapolation
#
# Two laws can describe the runs you have equally well and disagree completely about the run
# you want to plan. So every comparison here asks two questions:
#
# * **Interpolation**, by PSIS-LOO (ArviZ's Pareto-smoothed importance-sampling leave-one-out):
#   how well does each law predict a run left out from *inside* the data? Higher ELPD is
#   better; a Pareto k above 0.7 marks a run whose estimate cannot be trusted.
# * **Extrapolation**, by a backtest: fit on the smaller runs, forecast the larger ones. This is
#   the question a scaling law is for; prefer it when the two disagree.
#
# Here on real data with a sharp break: Caballero et al.'s (2023) 4-digit addition, where a
# plain power law fits the early points and cannot see the break coming.
#
# `bayes_scaling.validation.compare.compare_laws` (CLI: `bayes-scaling compare RUNS.csv --laws
# chinchilla,power_N`) does both for runs with a training compute: it fits each law on all runs
# for LOO and on all but the largest-compute 20% for the backtest (`tests/validation/test_compare.py`
# runs it on simulated runs, where the true law wins both). These data give only the size of
# the training set, no model size or compute, so below the same two scores are computed from
# the same pieces, with the paper's own split.
#
# The data are read from the folder named by ``BAYES_SCALING_DATA`` (e.g.
# ``../shared/datasets`` beside a checkout; the file has no licence and is never copied). The
# test suite runs this notebook with quick settings (``BAYES_SCALING_QUICK=1``: 2 chains ×
# (300 + 300) iterations, which fail the diagnostics gate here: the table says so); the real
# run uses the defaults, 4 chains × (1000 + 1000).

# %%
import os
import warnings

import arviz as az
import jax
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.validation.compare import PARETO_K_BAD, STATEMENT
from bayes_scaling.datasets import DATA_ENV
from bayes_scaling.plots.fit import plot_fit

quick = os.environ.get("BAYES_SCALING_QUICK") == "1"
config = (bs.SamplerConfig(num_chains=2, num_warmup=300, num_samples=300) if quick
          else bs.SamplerConfig())
figures = os.environ.get("BAYES_SCALING_FIGURES")  # a folder, or None: draw only

# %% [markdown]
# ## Caballero et al.'s 4-digit addition
#
# 17 points of test cross-entropy against training set size (160 to 928 examples). The curve is
# flat up to about 550 examples and then drops: one "break". Their protocol fits the first 14
# points and extrapolates to the last 3. We fit a smoothly broken power law with one break
# (`broken_D`, their BNSL) and a plain power law (`power_D`) to the 14 points, then score
# each fit both ways: LOO on the 14 fitted points, and the forecasts of the 3 held-out ones.

# %%
path = os.path.join(os.environ.get(DATA_ENV, "../shared/datasets"), "bnsl_4digit_addition",
                    "DERIVED_4digit_addition_points.csv")
points = pd.read_csv(path)
held = points[points["split"] == "extrapolate"]
options = dict(tokens="train_dataset_size", loss="test_cross_entropy", where="split == fit")
fits = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", bs.ConvergenceWarning)  # reported in the table below
    for i, law in enumerate(("broken_D", "power_D")):
        fits[law] = bs.fit(path, key=jax.random.key(10 + i), law=law, config=config, **options)


def loo_row(post):
    """ELPD by PSIS-LOO, its standard error and the runs with Pareto k > 0.7 (ArviZ's warning
    about them is replaced by the count in the table)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        loo = az.loo(post.idata, pointwise=True)
    k = np.asarray(loo.pareto_k)
    return {"elpd_loo": float(loo.elpd_loo), "elpd_se": float(loo.se),
            "points_k_above_0.7": int((k > PARETO_K_BAD).sum())}


truth = held["test_cross_entropy"].to_numpy()
rows, forecasts = [], {}
for law, post in fits.items():
    with warnings.catch_warnings(), np.errstate(over="ignore"):
        # A power law's posterior can have ν < 1 in its tail: some observed draws overflow.
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        table = bs.forecast(post, D=held["train_dataset_size"], key=jax.random.key(20))
    observed = table[table["quantity"] == "observed"]
    forecasts[law] = observed
    inside = (observed["lo_90"].to_numpy() <= truth) & (truth <= observed["hi_90"].to_numpy())
    rows.append({"law": law, **loo_row(post), "fit_ok": post.check().ok,
                 "held-out rel. error (median)": float(np.median(
                     np.abs(observed["median"].to_numpy() / truth - 1))),
                 "held-out in 90% interval": f"{inside.sum()} of {len(truth)}"})
bnsl = pd.DataFrame(rows).set_index("law")
bnsl["elpd_diff"] = bnsl["elpd_loo"] - bnsl["elpd_loo"].max()
bnsl

# %%
pd.DataFrame({"train_dataset_size": held["train_dataset_size"].to_numpy(), "truth": truth,
              **{f"{law} median": f["median"].to_numpy() for law, f in forecasts.items()},
              **{f"{law} 90%": [f"{lo:.3g} – {hi:.3g}" for lo, hi in zip(f["lo_90"], f["hi_90"])]
                 for law, f in forecasts.items()}})

# %% [markdown]
# Read the table in two halves. Inside the 14 fitted points (LOO) the broken law predicts far
# better: the power law misses the fall after the break. Where some points have Pareto k above
# 0.7 (the sharp break makes single points influential), their LOO estimates are rough; the
# difference in ELPD is still many standard errors. LOO alone would not say how the laws do
# beyond the data; the forecasts do: the broken law's medians land within a few percent of the
# three held-out losses and its 90% intervals cover them, while the power law, which cannot
# bend down, forecasts losses far above them.
#
# Here both questions pick the same law. They need not: a law with more freedom can win LOO
# by fitting wiggles inside the data and lose the backtest.
#
# The picture: both fits with their 50%/90% bands, the three held-out points as crosses.

# %%
comparison, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True, layout="constrained")
for ax, (law, post) in zip(axes, fits.items()):
    ax.scatter(held["train_dataset_size"], truth, marker="X", s=60, color="black", zorder=5,
               label="held-out points")  # before plot_fit, which builds the legend
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)
        plot_fit(post, ax=ax, x="D", extend=1.4)
    ax.set_xlabel("training examples")
    ax.set_title(f"{law}: fitted to 14 points, 3 held out", fontsize="small")

# %%
if figures:
    os.makedirs(figures, exist_ok=True)
    comparison.savefig(os.path.join(figures, "compare_bnsl.png"), dpi=110)

# %% [markdown]
# What was checked: on 4-digit addition the broken law wins both comparisons, and only its
# intervals reach the held-out losses.
#
# The statement `compare_laws` prints with its table:

# %%
print(STATEMENT)
