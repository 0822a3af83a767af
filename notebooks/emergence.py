# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # When does an ability emerge? Emergence thresholds with a posterior
#
# Pythia's zero-shot accuracies at the final checkpoint (16 models, 70M to 12B parameters).
# For each task we fit a sigmoid in log N between chance and a ceiling, with a spread that
# shrinks with scale and the evaluation's binomial noise (item counts from lm-eval's standard
# errors), and ask: from which N does a fresh model's 95% predictive score interval clear
# chance + 5% of the way to a perfect score? The data are read from the public datasets folder
# (`BAYES_SCALING_DATA`, e.g. a checkout's `../shared/datasets`); nothing is copied.

# %%
import os
import warnings

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import bayes_scaling as bs
from bayes_scaling.emergence.fit import DEFAULT_CONFIG, fit_emergence
from bayes_scaling.emergence.data import pythia_final_frame
from bayes_scaling.plots import plot_emergence

QUICK = os.environ.get("BAYES_SCALING_QUICK") == "1"  # the test suite runs this notebook quickly
# The default sampler (emergence.DEFAULT_CONFIG) is 4 chains x (1000 + 1000); QUICK is a smoke run.
config = (bs.SamplerConfig(num_chains=2, num_warmup=200, num_samples=200, target_accept=0.95,
                           max_tree_depth=8) if QUICK else DEFAULT_CONFIG)

# %%
frame = pythia_final_frame(tasks=("lambada_openai", "arc_easy", "arc_challenge", "mmlu_avg57"))
frame.head()

# %% [markdown]
# All tasks are fitted at once: one compiled program, the tasks spread over the CPU cores (or
# vectorised on an accelerator).

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", bs.ConvergenceWarning)  # the table below says it per task
    fit = fit_emergence(frame, key=jax.random.key(0), items="items", config=config)
report = fit.thresholds(at=[70e9, 400e9])
report.table[["task", "chance", "N_star_median", "N_star_lo", "N_star_hi",
              "p_emerged_at_largest", "p_beyond_range", "diagnostics_ok"]]

# %% [markdown]
# P(emerged by N) at scales beyond the data (70B, 400B): forecasts that assume the sigmoid
# keeps its shape.

# %%
report.at

# %%
fig, axes = plt.subplots(2, 2, figsize=(11, 8))
for ax, task in zip(axes.flat, fit.tasks):
    plot_emergence(fit, task, key=jax.random.key(1), report=report, ax=ax)
fig.tight_layout()
