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
# # Which runs to train next: planning a sweep end to end
#
# A lab has trained a sweep of small models and plans one large run. Before spending on it, it
# can afford a few more small runs. Which ones tell it most about the large run's loss?
#
# This notebook replays that decision on real data. It uses Epoch AI's transcription of
# Hoffmann et al.'s (Chinchilla) runs:
#
# - **The runs so far** are those up to 1e19 FLOPs.
# - **The large run** is the data's largest, at 1.3e22 FLOPs. Its real loss is known, so the
#   forecast can be checked at the end.
# - **The candidates** are the runs Hoffmann et al. actually trained between 1e19 and 3e20
#   FLOPs. Choosing among runs that were really trained means each choice can be "trained" by
#   revealing its real loss. With the CLI this is `next FIT.nc --candidates FILE.csv`.
# - **The budget** for the extra runs is 5e20 FLOPs.
#
# The method is preposterior analysis (`bayes_scaling.design`). For each candidate, the
# notebook simulates its outcome from the posterior predictive. It then reweights the posterior
# draws by that outcome's likelihood, and measures the large run's 90% interval after it. The
# candidates are ranked by the expected narrowing per FLOP.
#
# The runs are read from the folder named by ``BAYES_SCALING_DATA``: set it to
# ``../shared/datasets`` (beside a checkout). The fits use the default settings (a fit of 50 runs
# takes seconds), so the test suite runs this notebook as it is. Set ``BAYES_SCALING_FIGURES``
# to a folder to save the figures.

# %%
import os

import jax
import matplotlib.pyplot as plt
import numpy as np

import bayes_scaling as bs
from bayes_scaling.design import candidate_grid, propose_batch, target_point
from bayes_scaling.plots import plot_design

figures = os.environ.get("BAYES_SCALING_FIGURES")  # a folder, or None: draw only
SO_FAR, POOL_TOP, BUDGET = 1e19, 3e20, 5e20  # FLOPs

# %% [markdown]
# ## The sweep so far, and the large run's forecast from it

# %%
every = bs.load_dataset("chinchilla-epoch240")
big = int(np.argmax(every.C))
so_far = every.subset(every.C <= SO_FAR)
pool = np.flatnonzero((every.C > SO_FAR) & (every.C <= POOL_TOP))
post = bs.fit(so_far, key=jax.random.key(0))
target = target_point(post, N=every.N[big], D=every.D[big])


def large_run_forecast(fit, key):
    """The large run's observed loss: median and 90% interval (a one-row table)."""
    table = bs.forecast(fit, N=target["N"], D=target["D"], key=key, probs=(0.9,))
    return table[table["quantity"] == "observed"].iloc[0]


before = large_run_forecast(post, jax.random.key(1))
print(f"{len(so_far)} runs up to {SO_FAR:.0e} FLOPs; the large run ({target['N']:.3g} "
      f"parameters, {target['D']:.3g} tokens) is {before['distance']:.1f} e-folds beyond them")
print(f"forecast: {before['median']:.3f} (90%: {before['lo_90']:.3f} - {before['hi_90']:.3f}); "
      f"the real loss: {every.loss[big]:.3f}")

# %% [markdown]
# Most of that interval is not parameter uncertainty. The forecast reports its parts separately,
# as spreads of the log-loss: the law's parameters, run-to-run noise, and the extrapolation
# discrepancy (the law's own error, growing with the distance beyond the data).

# %%
print({name: round(float(before[f"spread_{name}"]), 4)
       for name in ("params", "noise", "discrepancy")})

# %% [markdown]
# ## Which of the candidates, within the budget?
#
# `propose_batch` chooses greedily: at each step the affordable candidate with the largest
# expected narrowing per FLOP. The next step is conditioned on the simulated outcomes of the
# runs chosen before it. A run is proposed only when its gain is clear of twice its
# Monte-Carlo error.

# %%
candidates = {"N": every.N[pool], "D": every.D[pool]}
design = propose_batch(post, candidates, target=target, budget=BUDGET, key=jax.random.key(2),
                       count=4)
print(design.proposals[["step", "N", "D", "C", "cumulative_C", "width_before", "width_after",
                        "gain_per_flop", "ess_median"]].to_string(index=False))
for note in design.notes:
    print("note:", note)

# %% [markdown]
# The picture shows the runs so far, the candidates, the proposals (numbered in the order
# chosen), the large run, and the isoFLOP lines. The CLI draws the same picture with
# `next FIT.nc --target-params ... --target-tokens ... --plot next.png`.

# %%
fig, ax = plt.subplots(figsize=(7, 5.5), layout="constrained")
plot_design(post, design, candidates=candidates, ax=ax)
if figures:
    fig.savefig(os.path.join(figures, "next.png"), dpi=110)

# %% [markdown]
# ## Train the proposals, refit, forecast again
#
# The proposals are runs that really exist, so "training" them means reading their losses. After
# that, the refit forecasts the large run again. The interval narrows, mostly because the data
# now reach closer to the large run, so less of the law's error beyond the data is left. The
# real loss stays inside the 90% interval, before and after.

# %%
chosen = [int(pool[np.argmin(np.abs(np.log(every.N[pool] / row.N))
                             + np.abs(np.log(every.D[pool] / row.D)))])
          for row in design.proposals.itertuples()]
keep = every.C <= SO_FAR
keep[chosen] = True
refit = bs.fit(every.subset(keep), key=jax.random.key(3))
after = large_run_forecast(refit, jax.random.key(4))
width_before, width_after = (row["hi_90"] - row["lo_90"] for row in (before, after))
print(f"after {len(chosen)} runs ({every.C[chosen].sum():.3g} FLOPs): {after['median']:.3f} "
      f"(90%: {after['lo_90']:.3f} - {after['hi_90']:.3f}), {after['distance']:.1f} e-folds "
      f"beyond the data; the real loss: {every.loss[big]:.3f}")
print(f"90% width {width_before:.3f} -> {width_after:.3f} (the design expected "
      f"{design.proposals['width_after'].iloc[-1]:.3f})")

# %% [markdown]
# ## Other ways to ask
#
# - Without a list of candidates, `candidate_grid` proposes isoFLOP lines at the budget and at
#   1/4, 1/16 and 1/64 of it. Each line holds model sizes from 1/4 to 4 times the
#   compute-optimal one.
# - `band="expected"` ranks by the law's own band, which is parameter uncertainty alone. It
#   ignores the noise and the law's error beyond the data.
# - `objective="decision"` ranks by how much a run lowers the expected regret of the
#   compute-optimal allocation at the target's compute. That regret is the loss given up by
#   choosing N* while the parameters are uncertain.

# %%
grid = candidate_grid(post, BUDGET)
for band, objective in (("observed", "width"), ("expected", "width"), ("expected", "decision")):
    alternative = propose_batch(post, grid, target=target, budget=BUDGET,
                                key=jax.random.key(5), count=4, band=band, objective=objective)
    print(f"band {band}, objective {objective}: {len(alternative.proposals)} runs, "
          f"{alternative.proposals['C'].sum():.3g} FLOPs")

# %% [markdown]
# How well does this choosing work against simpler rules? Two benchmarks measure it:
#
# - `benchmarks/design_retrospective.py` replays the choice on four real sweeps against random,
#   cheapest-first and largest-first choice. Its results are in
#   `benchmarks/results/design_retrospective_cpu.md`.
# - `benchmarks/bench_design.py` runs a simulation study.
#
# The honest summary from both: the observed band beyond the data is mostly the law's own
# error, and only runs nearer the target shrink it.
