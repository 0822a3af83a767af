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
# # Quickstart: a Bayesian Chinchilla fit in five cells
#
# Simulate a sweep with known truth, fit it with NUTS, check the diagnostics, and forecast a run
# far beyond the data. Open with Jupyter (jupytext) or run as a script. The test suite runs it
# with fewer draws (``BAYES_SCALING_QUICK=1``).

# %%
import os

import jax

import bayes_scaling as bs

quick = os.environ.get("BAYES_SCALING_QUICK") == "1"
config = bs.SamplerConfig(num_warmup=500 if quick else 1000, num_samples=500 if quick else 1000)

# %% [markdown]
# 245 runs from Epoch AI's refit of Hoffmann et al. (E = 1.817, A = 482, α = 0.348,
# B = 2085, β = 0.366), with Student-t noise of scale 0.01 on log-loss.

# %%
runs = bs.simulate(jax.random.key(0))
runs.to_frame().describe().loc[["min", "max"]]

# %% [markdown]
# Fit with the default priors (scaled to the runs; see `laws.priors`).

# %%
post = bs.fit(runs, key=jax.random.key(1), config=config)
print(post.check().message())
post.summary()

# %% [markdown]
# Forecast a 70B-parameter model trained on 1.4T tokens: the expected loss (the law) and the
# loss a single run would report (with noise), with 50/90/95% intervals.

# %%
table = bs.forecast(post, N=70e9, D=1.4e12, key=jax.random.key(2))
table[["quantity", "median", "lo_90", "hi_90", "C_vs_max"]]

# %% [markdown]
# The true expected loss at that point is E + A·N^-α + B·D^-β ≈ 1.973; it should sit inside the
# 90% interval of the expected loss.

# %%
truth = 1.817 + 482.01 * 70e9 ** -0.3478 + 2085.43 * 1.4e12 ** -0.3659
expected = table[table.quantity == "expected"].iloc[0]
print(f"truth {truth:.4f}; 90% interval [{expected.lo_90:.4f}, {expected.hi_90:.4f}]")
