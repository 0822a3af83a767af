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
# # Replicating Epoch AI's Chinchilla refit, with a posterior
#
# Besiroglu, Erdil, Barnett and You (2024, "Chinchilla Scaling: A replication attempt") digitised
# the runs behind Hoffmann et al.'s (2022) Figure 4, dropped the 5 highest losses and refitted
# L(N, D) = E + A/N^α + B/D^β by a Huber loss on log-loss, with 4,000 bootstrap resamples for
# intervals. Here the same 240 runs get a Bayesian fit (NUTS, Student-t likelihood on log-loss,
# the default priors), and its credible intervals are set beside Epoch's published bootstrap
# intervals and beside our own run of their Huber + bootstrap procedure.
#
# The data are Epoch AI's `svg_extracted_data.csv` (no licence: it is read from the folder named
# by ``BAYES_SCALING_DATA``, e.g. ``../shared/datasets`` beside a checkout, and never copied).
# From the command line the same fit is
#
# ```bash
# bayes-scaling fit ../shared/datasets/chinchilla/svg_extracted_data.csv -o chinchilla.nc --where "loss < 3.4469"
# ```
#
# The test suite runs this notebook with quick settings (``BAYES_SCALING_QUICK=1``: 500 + 500
# NUTS iterations per chain, a coarse start grid and 400 bootstrap resamples); the real run uses
# the defaults (4 chains × (1000 + 1000), Hoffmann's 4,500 starts, 4,000 resamples). Set
# ``BAYES_SCALING_FIGURES`` to a folder to save the figures.

# %%
import os

import jax
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.validation.baseline import HOFFMANN_GRID, huber_bootstrap, huber_fit
from bayes_scaling.plots.fit import plot_fit, plot_pairs, plot_residuals

quick = os.environ.get("BAYES_SCALING_QUICK") == "1"
config = bs.SamplerConfig(num_warmup=500, num_samples=500) if quick else bs.SamplerConfig()
grid = HOFFMANN_GRID[::45] if quick else HOFFMANN_GRID  # 100 or 4,500 starting points
num_resamples = 400 if quick else 4000
figures = os.environ.get("BAYES_SCALING_FIGURES")  # a folder, or None: draw only
PARAMS = ["A", "B", "E", "alpha", "beta"]

# %% [markdown]
# ## The fit
#
# ``chinchilla-epoch240`` is the file with Epoch's outlier rule applied (``loss < 3.4469``);
# tokens are derived as D = C / (6·N), as Epoch did.

# %%
runs = bs.load_dataset("chinchilla-epoch240")
post = bs.fit(runs, key=jax.random.key(0), config=config)
print(f"{len(runs)} runs; " + post.check().message())
post.summary(prob=0.95).loc[PARAMS + ["a"]]

# %% [markdown]
# ## Against Epoch's published numbers
#
# Epoch's point estimates and 95% bootstrap percentile intervals (from the outputs saved in
# their `data_analysis.ipynb`; see `../shared/datasets/chinchilla/PROVENANCE.md`), beside our
# posterior medians and central 95% credible intervals.

# %%
EPOCH = pd.DataFrame({  # estimate, 95% bootstrap percentile interval
    "A": (482.01, 285.21, 743.63), "B": (2085.43, 1042.36, 5810.34),
    "E": (1.817, 1.769, 1.871), "alpha": (0.3478, 0.317, 0.373),
    "beta": (0.3659, 0.331, 0.415)}, index=["estimate", "lo_95", "hi_95"]).T
ours = post.summary(prob=0.95).loc[PARAMS]
side_by_side = pd.DataFrame({
    "Epoch estimate": EPOCH["estimate"],
    "Epoch 95% bootstrap": [f"{lo:.4g} – {hi:.4g}" for lo, hi in zip(EPOCH.lo_95, EPOCH.hi_95)],
    "posterior median": ours["median"],
    "posterior 95%": [f"{lo:.4g} – {hi:.4g}" for lo, hi in zip(ours["q0.025"], ours["q0.975"])],
    "width ratio (ours / Epoch's)": (ours["q0.975"] - ours["q0.025"])
    / (EPOCH.hi_95 - EPOCH.lo_95),
})
epoch_inside = {name: bool(ours.loc[name, "q0.025"] <= EPOCH.loc[name, "estimate"]
                           <= ours.loc[name, "q0.975"]) for name in PARAMS}
side_by_side["Epoch estimate in our 95%"] = pd.Series(epoch_inside)
side_by_side

# %% [markdown]
# Epoch's point estimates lie inside our 95% credible intervals, and the posterior medians sit
# close to them. Our intervals are narrower than their bootstrap's (the last column but one):
# the two methods answer different questions. The bootstrap asks how far the Huber estimate
# moves when the runs are resampled, and a Huber loss with δ = 10⁻³ treats most residuals
# (typically about 0.005 on log-loss) on its linear, absolute-value part, which uses the data
# less efficiently than a likelihood with a fitted noise scale. The posterior says which
# parameter values are plausible *if* the model holds: the law is exact and the runs' noise is
# independent Student-t. Neither interval checks that: on these runs, holding out the 53
# largest by compute, the 90% intervals of both methods held only 59% of the held-out runs
# (`docs/validation.md`), so beyond the data both are too confident.
#
# ## The Huber + bootstrap baseline, run here
#
# `bayes_scaling.validation.baseline` re-implements the procedure: Huber loss (δ = 10⁻³) on log-loss, BFGS
# from Hoffmann's grid of starts, and a non-parametric bootstrap, each resample refitted from
# the full-data optimum.

# %%
point = huber_fit(runs, grid=grid)
boot = huber_bootstrap(runs, key=jax.random.key(42), num_resamples=num_resamples, fit=point)
baseline = boot.summary(0.95).loc[PARAMS]
print(f"{num_resamples} resamples, {boot.converged.mean():.0%} converged")
pd.DataFrame({
    "Huber estimate (ours)": baseline["estimate"],
    "bootstrap 95% (ours)": [f"{lo:.4g} – {hi:.4g}"
                             for lo, hi in zip(baseline["lo"], baseline["hi"])],
    "Epoch estimate": EPOCH["estimate"],
    "Epoch 95%": side_by_side["Epoch 95% bootstrap"],
    "posterior 95%": side_by_side["posterior 95%"],
})

# %% [markdown]
# ## The compute-optimal exponent a = β/(α+β)
#
# N* grows as C^a. Epoch report a = 0.513 (bootstrap SE 0.020); Hoffmann et al.'s Table 2
# gives a = 0.46 with a 10th–90th percentile interval of (0.454, 0.455) for the same approach,
# an interval Epoch argue would need some 600,000 runs. Our 80% credible interval (the same
# 10th–90th percentiles):

# %%
a_draws = post.draws(["a"])["a"]
a_lo, a_median, a_hi = np.quantile(a_draws, [0.1, 0.5, 0.9])
boot_a = boot.draws["beta"] / (boot.draws["alpha"] + boot.draws["beta"])
print(f"posterior a: median {a_median:.3f}, 80% interval [{a_lo:.3f}, {a_hi:.3f}] "
      f"(width {a_hi - a_lo:.3f})")
print(f"bootstrap a (ours): 80% interval [{np.quantile(boot_a, 0.1):.3f}, "
      f"{np.quantile(boot_a, 0.9):.3f}]")
hoffmann_a_inside = bool(a_lo <= 0.46 <= a_hi)
print(f"Hoffmann's a = 0.46 inside our 80% interval: {hoffmann_a_inside}; "
      f"Epoch's 0.513: {bool(a_lo <= 0.513 <= a_hi)}")

# %% [markdown]
# ## The picture
#
# Left: loss against N, runs grouped by D, with the law's posterior median and 50%/90% bands
# reaching ten times past the largest model (grey). Right: loss against compute, with the
# compute-optimal loss L*(C) and its bands.

# %%
fit_figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5), layout="constrained")
plot_fit(post, ax=left, x="N")
plot_fit(post, ax=right, x="C")

# %% [markdown]
# Residuals against D: the law's misfit, if any, shows as a trend in the binned medians (blue)
# rather than scatter inside the grey noise band. On these runs the smallest-D runs sit above
# the law; the report (`bayes-scaling report`) flags such trends.

# %%
residual_axes = plot_residuals(post, against="D")

# %% [markdown]
# The posterior of A, B, α, β, E: A moves with α and B with β (a larger exponent needs a larger
# coefficient to fit the same losses), which is why the sampler works in decorrelated
# coordinates (see DESIGN.md) and why a single parameter's interval says less than the joint.

# %%
pair_axes = plot_pairs(post)

# %%
if figures:
    os.makedirs(figures, exist_ok=True)
    fit_figure.savefig(os.path.join(figures, "epoch_fit.png"), dpi=110)
    residual_axes.figure.savefig(os.path.join(figures, "epoch_residuals_D.png"), dpi=110)
    pair_axes[0, 0].figure.savefig(os.path.join(figures, "epoch_pairs.png"), dpi=90)

# %% [markdown]
# Summary: Epoch's point estimate of every parameter lies inside our 95% credible interval
# (`epoch_inside`), with narrower intervals than their bootstrap's; Hoffmann's a = 0.46 lies
# outside our 80% interval of a, Epoch's 0.513 inside it.

# %%
print(f"Epoch's estimates inside our 95% intervals: {epoch_inside}")
