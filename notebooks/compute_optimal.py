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
# # Planning a compute-optimal run with Chinchilla's data
#
# Fit the Chinchilla law to Hoffmann et al.'s runs, then answer the planning questions with
# credible intervals: how to split a budget between parameters and tokens, how much compute a
# target loss needs, how far Chinchilla itself was from optimal, and, for a concrete budget,
# which of a few candidate runs to train and what loss to expect from it.
#
# The runs are read from the folder named by ``BAYES_SCALING_DATA``: set it to
# ``../shared/datasets`` (beside a checkout). The test suite runs this notebook with fewer draws
# (``BAYES_SCALING_QUICK=1``: 4 chains x (500 + 500)); the real run uses the defaults (4 x (1000
# + 1000)). Set ``BAYES_SCALING_FIGURES`` to a folder to save the figures.

# %%
import os

import jax
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.allocation import (compute_for_target, log_spaced_budgets, optimal,
                                      optimal_allocation, plan)
from bayes_scaling.plots import plot_frontier, plot_isoflop

quick = os.environ.get("BAYES_SCALING_QUICK") == "1"
config = bs.SamplerConfig(num_warmup=500, num_samples=500) if quick else bs.SamplerConfig()
figures = os.environ.get("BAYES_SCALING_FIGURES")  # a folder, or None: draw only
CHINCHILLA_FLOPS = 5.76e23  # Chinchilla's training budget (Hoffmann et al. 2022)

# %% [markdown]
# Epoch AI's 240-run transcription of Hoffmann et al.'s data, fitted with the default priors and
# a Student-t likelihood (robust to the few odd runs).

# %%
runs = bs.load_dataset("chinchilla-epoch240")
post = bs.fit(runs, key=jax.random.key(0), config=config)
print(post.check().message())
post.summary().loc[["a", "b"]]

# %% [markdown]
# N* grows as C^a and D* as C^b (a + b = 1): a ≈ b ≈ 0.5 means parameters and tokens should
# be scaled up together.
#
# ## Allocating Chinchilla's budget

# %%
table = optimal(post, CHINCHILLA_FLOPS).set_index("quantity")
table[["median", "lo_90", "hi_90"]]

# %% [markdown]
# D*/N*, the tokens per parameter, against the ~20 rule of thumb and the point estimates of
# Hoffmann et al. (their fit, ≈ 59) and of Epoch AI's refit of the same data (≈ 18).

# %%
published = {
    "Hoffmann et al. (2022)": dict(E=1.6934, A=406.40, alpha=0.33917084, B=410.72,
                                   beta=0.2849083),
    "Epoch AI (2024)": dict(E=1.817, A=482.01, alpha=0.3478, B=2085.43, beta=0.3659),
}
ratios = {name: float(optimal_allocation(p, CHINCHILLA_FLOPS)["tokens_per_param"])
          for name, p in published.items()}
ratios["rule of thumb"] = 20.0
ours = table.loc["tokens_per_param"]
pd.DataFrame({"tokens per parameter": ratios,
              "inside our 90% interval": {k: ours.lo_90 <= v <= ours.hi_90
                                          for k, v in ratios.items()}})

# %% [markdown]
# ## Compute for a target loss
#
# The compute the optimal allocation needs to reach a loss of 1.9. Beyond the data the law's own
# error is carried (the extrapolation discrepancy of `forecast`); ``discrepancy=None`` takes the
# law as exact. A target at or below a draw's irreducible loss E, or one the law's error keeps
# out of reach, is counted: ``p_reachable`` is the share of draws that reach it.

# %%
target = compute_for_target(post, 1.9, key=jax.random.key(2))
exact = compute_for_target(post, 1.9, discrepancy=None)
pd.concat({"with the law's error": target, "law taken as exact": exact})[
    ["quantity", "p_reachable", "median", "lo_90", "hi_90"]]

# %% [markdown]
# ## Judging a plan: Chinchilla itself (70B parameters, 1.4T tokens)
#
# The wasted share is the part of the compute that the optimal allocation would not have needed
# to reach the same loss.

# %%
judged, facts = plan(post, N=70e9, D=1.4e12, key=jax.random.key(3))
wasted = judged.set_index("quantity").loc["wasted_share"]
print(f"wasted share: median {wasted['median']:.1%}, "
      f"90% interval [{wasted.lo_90:.1%}, {wasted.hi_90:.1%}]; "
      f"P(within {facts['within']:.0%} of optimal) = {facts['p_within']:.2f}")
judged[["quantity", "median", "lo_90", "hi_90"]]

# %% [markdown]
# ## The decision: which run to train with a budget of 10²³ FLOP?
#
# A concrete plan: 10²³ FLOP, about eight times the largest fitted run. The candidates are the
# posterior median of N* and sizes two and four times smaller or larger (D = C / (6·N) each),
# plus the "20 tokens per parameter" rule of thumb. For every posterior draw we compute each
# candidate's expected loss and that draw's own optimum L*, so each candidate gets a predicted
# loss with an interval, its excess over the optimum (the regret, which the draws do not agree
# on), the probability that it is the best of the candidates, and from `plan` the share of the
# compute it wastes against the optimal allocation.

# %%
BUDGET = 1e23
k = post.flops_per_param_token
n_star = float(optimal(post, BUDGET).set_index("quantity").loc["N", "median"])
candidates = {f"N* x {f:g}": n_star * f for f in (0.25, 0.5, 1.0, 2.0, 4.0)}
candidates["20 tokens/param"] = (BUDGET / (k * 20.0)) ** 0.5
names = list(candidates)
sizes = np.array([candidates[name] for name in names])
tokens = BUDGET / (k * sizes)
p = post.draws(["E", "A", "alpha", "B", "beta"])
p = {name: values[:, None] for name, values in p.items()}  # draws x candidates
losses = p["E"] + p["A"] * sizes ** -p["alpha"] + p["B"] * tokens ** -p["beta"]
# each draw's own optimum at this budget, the closed form of `optimal_allocation` in float64
total = p["alpha"] + p["beta"]
n_best = ((p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / total)
          * (BUDGET / k) ** (p["beta"] / total))
best_loss = p["E"] + p["A"] * n_best ** -p["alpha"] + p["B"] * (BUDGET / (k * n_best)) ** -p["beta"]
regret = losses - best_loss
plans = [plan(post, N=n, D=d, key=jax.random.key(3)) for n, d in zip(sizes, tokens)]
decision = pd.DataFrame({
    "N": sizes, "D": tokens, "tokens/param": tokens / sizes,
    "expected loss (median)": np.median(losses, axis=0),
    "90% interval": [f"{lo:.4f} – {hi:.4f}" for lo, hi in
                     zip(*np.quantile(losses, [0.05, 0.95], axis=0))],
    "regret (median)": np.median(regret, axis=0),
    "regret (95th pct)": np.quantile(regret, 0.95, axis=0),
    "P(best of these)": np.bincount(losses.argmin(axis=1), minlength=len(names)) / len(losses),
    "wasted compute (median)": [float(j.set_index("quantity").loc["wasted_share", "median"])
                                for j, _ in plans],
    "P(within 10% of optimal)": [facts["p_within"] for _, facts in plans],
}, index=names)
decision

# %% [markdown]
# The candidates' loss intervals overlap, yet their regrets do not: the uncertainty about the
# loss at this budget (mostly about E and the law's level so far out) is shared by every
# candidate, so it cancels when they are compared draw by draw. The choice between them is far
# surer than the loss of any one of them.
#
# The Bayes decision under the expected loss is the candidate whose posterior mean loss is
# lowest. Being off by a factor of two in N costs little (the IsoFLOP profile is flat at its
# bottom); a factor of four costs several times more. On these runs the rule of thumb of 20
# tokens per parameter lands next to the posterior median of N*.

# %%
choice = names[int(np.argmin(losses.mean(axis=0)))]
print(f"lowest posterior mean loss: {choice} (N = {candidates[choice]:.3g}, "
      f"D = {BUDGET / (k * candidates[choice]):.3g})")
far = [name for name in names if name in ("N* x 0.25", "N* x 4")]
print("mean regret: " + ", ".join(f"{name} {regret[:, names.index(name)].mean():.4f}"
                                  for name in [choice] + far))

# %% [markdown]
# The loss the chosen run will *report*, with run-to-run noise, next to the law's expected
# loss. This is an extrapolation (see ``C_vs_max``): in the backtests of `docs/validation.md`,
# Chinchilla's 90% intervals held only about 60% of the held-out larger runs, so read these
# intervals as a lower bound on the uncertainty (`forecast(..., discrepancy=...)` widens them).

# %%
chosen = bs.forecast(post, N=candidates[choice], D=BUDGET / (k * candidates[choice]),
                     key=jax.random.key(3))
chosen[["quantity", "median", "lo_90", "hi_90", "C_vs_max"]]

# %%
decision_ax = plot_isoflop(post, [BUDGET])
for j, name in enumerate(names):
    lo, hi = np.quantile(losses[:, j], [0.05, 0.95])
    mid = np.median(losses[:, j])
    decision_ax.errorbar(sizes[j], mid, yerr=[[mid - lo], [hi - mid]], fmt="s", color="black",
                         markerfacecolor="white", capsize=3, zorder=4,
                         label="candidates, 90% interval" if j == 0 else None)
    above = name.startswith("N*")  # the rule of thumb sits next to N*: label it below
    decision_ax.annotate(name, (sizes[j], hi if above else lo), textcoords="offset points",
                         xytext=(0, 4 if above else -10), ha="center", fontsize="x-small")
decision_ax.legend(loc="upper center", fontsize="small")

# %% [markdown]
# ## The frontier
#
# N*(C) and D*(C) with 50% and 90% bands. The grey span is the compute range of the fitted runs:
# everything right of it is extrapolation, and the bands widen accordingly.

# %%
budgets = log_spaced_budgets("1e19:1e26:30")
frontier, (ax_n, ax_d) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
plot_frontier(post, budgets, "N", ax=ax_n)
plot_frontier(post, budgets, "D", ax=ax_d)
for ax, value in ((ax_n, 70e9), (ax_d, 1.4e12)):
    ax.plot(facts["C"], value, "k*", markersize=10, label="Chinchilla (70B, 1.4T)")
    ax.legend(loc="upper left", fontsize="small")

# %% [markdown]
# IsoFLOP profiles (Hoffmann et al.'s approach 2, read off the fitted law): at a fixed budget the
# expected loss is U-shaped in N; the dot marks the median N* with its 90% interval. Inside the
# data the bands are thin; at Chinchilla's budget and beyond they widen.

# %%
isoflop = plot_isoflop(post, [1e19, 1e21, CHINCHILLA_FLOPS, 1e26]).figure

# %%
if figures:
    os.makedirs(figures, exist_ok=True)
    frontier.savefig(os.path.join(figures, "frontier.png"), dpi=120)
    isoflop.savefig(os.path.join(figures, "isoflop.png"), dpi=120)
    decision_ax.figure.savefig(os.path.join(figures, "decision.png"), dpi=120)

# %% [markdown]
# Sanity check: Epoch AI's point estimate (≈ 18.3 tokens per parameter) should lie inside the
# 90% interval of D*/N*.

# %%
epoch = ratios["Epoch AI (2024)"]
print(f"Epoch AI's {epoch:.1f} tokens/parameter inside our 90% interval "
      f"[{ours.lo_90:.1f}, {ours.hi_90:.1f}]: {ours.lo_90 <= epoch <= ours.hi_90}")
