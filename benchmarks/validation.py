"""Calibration of forecasts beyond the data, on real sweeps: writes docs/validation.md.

Protocol (leave-future-out). Every loss set of ../shared/datasets (see validation_sets.py: Epoch's
Chinchilla points, datablations' single-epoch runs, each of Porian et al.'s 15 configurations,
ColPret's GPT-3 and OPT ladders) is cut at compute budgets so that the held-out runs' median
compute is about 1.5x, 3x, 10x and 30x the largest fitted run's, where the data allow (a compute
budget is never split, so isoFLOP sweeps lose whole budgets). Each cut is fitted with the
engine's defaults on the runs below it, and every held-out run is forecast by:

- ``default``: the default forecast, the posterior predictive widened by the extrapolation
  discrepancy κ: the distribution learned across the *other* datasets (refitted here leaving
  out the dataset being scored: its own sweeps never inform it), updated by the evidence of the
  internal backtest `bs.fit` runs on the cut's training runs (`bayes_scaling.sweep_evidence`:
  fit the runs below their top 20% by compute, score those; counted as one observation), or
  not updated when the fit has none (the internal fit failed the gate, or too few runs);
  ``field+sweep`` in tables before 2026-12-05;
- ``field``: the same without the update (the default before 2026-12-05);
- ``plain``: the posterior predictive without discrepancy;
- ``kappa-grid``: κ from the training runs alone: the κ of highest likelihood on the grid of
  that internal backtest (κ = 0 when the fit has none);
- ``huber-bootstrap``: Huber regression on log-loss plus a bootstrap (Hoffmann et al., Epoch AI).

The κ distribution learned from *every* set is written to bayes_scaling/discrepancy_prior.json
(the library's default), with its provenance.

Run from the repository root:
``python benchmarks/validation.py --data-dir ../shared/datasets`` (12 min on 2 CPU cores;
``--replicates 200`` adds simulation-based calibration, about 20 min more).
"""

import os
import sys

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_"
                               f"device_count={os.cpu_count() or 1}").strip()

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import optimize, special  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import validation_sets  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.discrepancy import (FIELD_PRIOR_PATH, LOG_KAPPA_GRID,  # noqa: E402
                                       extrapolation_distance, fit_evidence,
                                       kappa_log_likelihood, learn_kappa_distribution,
                                       update_kappa_distribution)
from bayes_scaling.errors import ConvergenceWarning  # noqa: E402
from bayes_scaling.likelihood import observation  # noqa: E402
from bayes_scaling.prediction import posterior_params  # noqa: E402
from bayes_scaling.laws.registry import get_law  # noqa: E402
from bayes_scaling.sweep_evidence import BUDGET_RTOL, internal_forecast  # noqa: E402
from bayes_scaling.validation.sbc import sbc  # noqa: E402
from bayes_scaling.validation.baseline import bootstrap_predictive, huber_bootstrap  # noqa: E402
from bayes_scaling.validation.scoring import crps, log_mean_density  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = "python benchmarks/validation.py --data-dir ../shared/datasets"
DISTANCES = (1.5, 3.0, 10.0, 30.0)   # held-out median compute / largest fitted compute
MIN_TRAIN = 20                      # runs a cut must leave to fit (7 parameters)
MIN_HELD = 3
DRAWS = 1000                        # posterior draws kept per cut (thinned evenly)
PROBS = (0.5, 0.9)
LEVELS = np.round(np.arange(0.1, 1.0, 0.1), 2)   # reliability diagram: central interval levels


def markdown_table(frame, digits=3):
    def cell(value):
        if isinstance(value, (float, np.floating)):
            return f"{value:.{digits}g}"
        return str(value).replace("|", "\\|")   # Porian's set names hold '|'
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def budgets(C):
    """Group compute values into budgets (within BUDGET_RTOL of the group's smallest)."""
    order = np.sort(np.unique(C))
    starts = [order[0]]
    for value in order[1:]:
        if value > starts[-1] * (1 + BUDGET_RTOL):
            starts.append(value)
    return np.asarray(starts)


def residual_gp(train_x, residual, noise_var, held_x):
    """Correlated residuals over (log N, log D): a Gaussian process with a squared-exponential
    kernel fitted to the training runs' residuals (observed minus the posterior mean law,
    log-loss), its amplitude and two length scales (in units of the training inputs' spread)
    by maximum marginal likelihood with the fit's noise variance; returns the process's
    predictive mean and standard deviation at the held-out inputs (noise excluded). Far from
    the training runs the mean returns to 0 and the spread to the amplitude. The length scales
    are bounded to 0.05-20 times the inputs' spread (a choice, not tuned): a long one lets the
    mean carry a trend of the residuals some way beyond the runs."""
    centre, spread = train_x.mean(axis=0), train_x.std(axis=0) + 1e-12
    a, b = (train_x - centre) / spread, (held_x - centre) / spread

    def kernel(x1, x2, amplitude, lengths):
        gap = (x1[:, None, :] - x2[None, :, :]) / lengths
        return amplitude ** 2 * np.exp(-0.5 * np.sum(gap ** 2, axis=-1))

    def solve(theta):
        amplitude, lengths = np.exp(theta[0]), np.exp(theta[1:])
        cov = kernel(a, a, amplitude, lengths) + (noise_var + 1e-10) * np.eye(len(a))
        chol = np.linalg.cholesky(cov)
        alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, residual))
        return amplitude, lengths, chol, alpha

    def negative_log_marginal(theta):
        _, _, chol, alpha = solve(theta)
        return 0.5 * residual @ alpha + np.sum(np.log(np.diag(chol)))

    start = np.log([max(residual.std(), 1e-4), 1.0, 1.0])
    bounds = [(np.log(1e-5), np.log(1.0)), (np.log(0.05), np.log(20.0)),
              (np.log(0.05), np.log(20.0))]
    theta = optimize.minimize(negative_log_marginal, start, method="L-BFGS-B",
                              bounds=bounds).x
    amplitude, lengths, chol, alpha = solve(theta)
    cross = kernel(a, b, amplitude, lengths)
    mean = cross.T @ alpha
    v = np.linalg.solve(chol, cross)
    return mean, np.sqrt(np.maximum(amplitude ** 2 - np.sum(v ** 2, axis=0), 0.0))


def log_likelihood_on_grid(cut, values, scale_at, mean=None):
    """Per value of a grid, Σ over held-out runs of log mean over draws of the predictive
    density, with the spread ``scale_at(value, noise, distance)`` (noise parameters of shape
    (draws, 1), distances (1, runs)) and the law's ``mean`` (default: the cut's log_mean).
    For spreads `discrepancy.kappa_log_likelihood` (one κ for every draw and run) cannot take."""
    noise = {k: jnp.asarray(v)[:, None] for k, v in cut["noise"].items()}
    distance = jnp.asarray(cut["distance"])[None, :]
    mean = jnp.asarray(cut["log_mean"] if mean is None else mean)
    out = []
    for value in values:
        density = np.asarray(observation(cut["likelihood"], mean, noise,
                                         scale_at(value, noise, distance)).log_prob(
            jnp.asarray(cut["y"])), np.float64)
        out.append((special.logsumexp(density, axis=0) - np.log(density.shape[0])).sum())
    return np.asarray(out)


def gp_kappa_log_likelihood(cut, log_kappa=LOG_KAPPA_GRID):
    """κ's log-likelihood on its grid for forecasts corrected by the residual process
    (``cut["gp"]``, `residual_gp`'s mean and spread s at each held-out run): mean shifted by its
    mean, spread sqrt(σ² + s² + (κd)²). ``cut`` has fit_cut's keys."""
    gp_mean, gp_sd = cut["gp"]
    extra = jnp.asarray(gp_sd)[None, :] ** 2
    return log_likelihood_on_grid(
        cut, np.exp(log_kappa),
        lambda kappa, noise, distance: jnp.sqrt(noise["sigma"] ** 2 + extra
                                                + (kappa * distance) ** 2),
        mean=cut["log_mean"] + gp_mean[None, :])


def corrected_ingredients(post, train, held):
    """Draws of the law at the ``held`` runs, their noise and distance beyond ``train``, the
    observed log-loss, and the residual process fitted to ``train``: what `fit_cut` keeps, and
    what `gp_kappa_log_likelihood` scores."""
    params = thin({k: np.asarray(v) for k, v in posterior_params(post).items()}, DRAWS)
    law = post.law
    expand = {k: jnp.asarray(v)[:, None] for k, v in params.items()}

    def law_at(runs):
        return np.asarray(law.log_loss(expand, {name: jnp.asarray(np.log(getattr(runs, name)))[
            None, :] for name in law.inputs}), np.float64)

    noise = {k: params[k] for k in ("sigma", "nu") if k in params}
    sigma, nu = np.median(noise["sigma"]), np.median(noise.get("nu", np.inf))
    noise_var = sigma ** 2 * (nu / (nu - 2) if np.isfinite(nu) else 1.0)
    residual = np.log(train.loss) - law_at(train).mean(axis=0)
    return {"log_mean": law_at(held), "noise": noise, "y": np.log(held.loss),
            "distance": extrapolation_distance({"N": held.N, "D": held.D, "C": held.C},
                                               {"N": train.N, "D": train.D, "C": train.C}),
            "likelihood": post.likelihood, "residual": residual, "noise_var": noise_var,
            "gp": residual_gp(np.log(np.stack([train.N, train.D], axis=1)), residual, noise_var,
                              np.log(np.stack([held.N, held.D], axis=1)))}


def gp_sweep_evidence(train, key, law):
    """The internal backtest of `sweep_evidence.kappa_evidence`, its forecasts corrected by the
    residual process fitted to its own training runs: the mean over its held-out runs of their
    log-likelihood on κ's grid (one observation, as the library counts it), or None when it
    cannot be run or its fit fails the gate."""
    try:
        inner_train, inner_held, inner = internal_forecast(train, key=key, law=get_law(law))
    except ValueError:
        return None
    if not inner.check().ok:
        return None
    ingredients = corrected_ingredients(inner, inner_train, inner_held)
    return gp_kappa_log_likelihood(ingredients) / len(inner_held)


def budget_effect_sd(C, residual, noise_var):
    """The standard deviation of an effect shared by the runs of one compute budget, from the
    training runs' residuals (observed minus the posterior mean law, log-loss): by the method of
    moments, E[mean of budget b's residuals²] = τ² + noise variance / n_b. Zero when the
    budgets' means vary no more than their noise (e.g. one run per budget)."""
    starts = budgets(C)
    group = np.searchsorted(starts, C * (1 + 1e-12), side="right") - 1
    labels = np.unique(group)
    means = np.array([residual[group == g].mean() for g in labels])
    counts = np.array([np.sum(group == g) for g in labels])
    return float(np.sqrt(max(0.0, np.mean(means ** 2 - noise_var / counts))))


def cuts(runs):
    """The compute cutoffs of one set: for each target distance the budget boundary whose
    held-out median compute is closest to it (within a factor 1.5), without duplicates."""
    chosen = {}
    for cutoff in budgets(runs.C)[1:]:
        train, held = runs.C < cutoff, runs.C >= cutoff
        if train.sum() < MIN_TRAIN or held.sum() < MIN_HELD:
            continue
        ratio = float(np.median(runs.C[held]) / runs.C[train].max())
        for target in DISTANCES:
            gap = abs(np.log(ratio / target))
            if gap < np.log(1.5) and gap < chosen.get(target, (np.inf,))[0]:
                chosen[target] = (gap, float(cutoff), ratio)
    unique = {}
    for target, (_, cutoff, ratio) in sorted(chosen.items()):
        unique.setdefault(cutoff, (target, ratio))
    return [(cutoff, target, ratio) for cutoff, (target, ratio) in unique.items()]


def subset(runs, keep):
    return bs.Runs(N=runs.N[keep], D=runs.D[keep], C=runs.C[keep], loss=runs.loss[keep],
                   source=runs.source, flops_per_param_token=runs.flops_per_param_token)


def thin(params, count):
    total = len(next(iter(params.values())))
    pick = np.linspace(0, total - 1, min(total, count)).round().astype(int)
    return {k: np.asarray(v)[pick] for k, v in params.items()}


def fit_cut(vset, cutoff, key, resamples, law="chinchilla"):
    """Fit one cut (with ``law``); return the held-out runs' predictive ingredients for every
    method."""
    runs = vset.runs
    train, held = subset(runs, runs.C < cutoff), subset(runs, runs.C >= cutoff)
    k_fit, k_boot, k_pred = jax.random.split(key, 3)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded in the table
        post = bs.fit(train, key=k_fit, law=law)
    out = corrected_ingredients(post, train, held)
    out.update(budget_sd=budget_effect_sd(train.C, out.pop("residual"), out.pop("noise_var")),
               gate=post.check(), num_train=len(train),
               fit_seconds=time.perf_counter() - start,
               kappa_loglik=kappa_log_likelihood(out["log_mean"], out["noise"],
                                                 out["distance"], out["y"],
                                                 likelihood=post.likelihood),
               gp_sweep_evidence=gp_sweep_evidence(train, jax.random.fold_in(k_fit, 1), law))
    boot = huber_bootstrap(train, key=k_boot, num_resamples=resamples)
    expected, _ = bootstrap_predictive(boot, held.N, held.D, key=k_pred)
    out["huber"] = {"expected": np.asarray(expected, np.float64),
                    "sigma": np.asarray(boot.draws["sigma"], np.float64)}
    evidence = fit_evidence(post)  # the fit's own internal backtest, as `forecast` uses it
    out["kappa_evidence"], out["kappa_held_out"] = evidence.log_likelihood, evidence.held_out
    out["kappa_evidence_missing"] = evidence.reason
    return out


def score(method, draws, log_density, cut):
    """Per held-out run: coverage of central intervals (log scale), error, width, lpd, CRPS."""
    y = cut["y"]
    loss = np.exp(y)
    losses = np.exp(draws)
    median = np.median(losses, axis=0)
    row = {"method": method, "distance": cut["distance"], "loss": loss, "median": median,
           "rel_error": (median - loss) / loss, "lpd": log_mean_density(log_density),
           "crps": crps(losses, loss)}
    for level in sorted(set(LEVELS) | set(PROBS)):
        lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        row[f"in_{100 * level:g}"] = (lo <= y) & (y <= hi)
        if level in PROBS:
            row[f"rel_width_{100 * level:g}"] = (np.exp(hi) - np.exp(lo)) / loss
    return pd.DataFrame(row)


def predictive_draws(cut, kappa, key, extra_sd=0.0):
    """The posterior predictive widened by κ (one value per draw, or a number), and by
    ``extra_sd`` (e.g. a new budget's own effect): draws of the held-out runs' observed
    log-loss and each draw's log density of the observed values, arrays of shape (draws, runs)."""
    count = cut["log_mean"].shape[0]
    kappa = np.broadcast_to(np.asarray(kappa, float), (count,))
    noise = {k: jnp.asarray(v)[:, None] for k, v in cut["noise"].items()}
    scale = jnp.sqrt(noise["sigma"] ** 2 + (kappa[:, None] * cut["distance"][None, :]) ** 2
                     + extra_sd ** 2)
    dist = observation(cut["likelihood"], jnp.asarray(cut["log_mean"]), noise, scale)
    draws = np.asarray(dist.sample(key), np.float64)
    density = np.asarray(dist.log_prob(jnp.asarray(cut["y"])[None, :]), np.float64)
    return draws, density


def bayes_method(method, cut, kappa, key, extra_sd=0.0):
    """Scores of the posterior predictive widened by κ (one value per draw, or a number)."""
    return score(method, *predictive_draws(cut, kappa, key, extra_sd), cut)


def huber_method(cut, key):
    h = cut["huber"]
    sigma = h["sigma"][:, None]
    draws = h["expected"] + sigma * np.asarray(jax.random.normal(key, h["expected"].shape))
    density = (-0.5 * ((cut["y"][None, :] - h["expected"]) / sigma) ** 2
               - np.log(sigma * np.sqrt(2 * np.pi)))
    return score("huber-bootstrap", draws, density, cut)


def summarise(frame, by):
    rows = []
    for keys, part in frame.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        row = dict(zip(by, keys))
        row.update(held_out=len(part),
                   coverage_50=part["in_50"].mean(), coverage_90=part["in_90"].mean(),
                   median_abs_rel_error=np.median(np.abs(part["rel_error"])),
                   median_rel_width_90=np.median(part["rel_width_90"]),
                   width_over_error=np.median(part["rel_width_90"])
                   / np.median(np.abs(part["rel_error"])),
                   mean_lpd=part["lpd"].mean(), median_crps=part["crps"].median())
        rows.append(row)
    return pd.DataFrame(rows)


BASELINE = "huber-bootstrap"


def paired_by_cut(per_run, baseline=BASELINE):
    """Each method against ``baseline`` on the same held-out runs, cut by cut, per dataset.

    Per cut: the mean over its runs of the log density's difference (method minus baseline:
    above 0, the method is better) and the difference of the median CRPS (below 0, better).
    Per dataset: their mean over its cuts, the standard error of that mean (rough: a dataset's
    cuts hold out nested sets of runs, so they are not independent) and how many cuts the
    method wins. A dataset's score is decided by a few cuts, each one fit's shared error: this
    says whether a difference in the by-dataset table holds cut after cut.
    """
    keys = ["dataset", "set", "cut"]
    per_cut = per_run.groupby(keys + ["method"], sort=False).agg(
        lpd=("lpd", "mean"), crps=("crps", "median")).reset_index()
    base = per_cut[per_cut["method"] == baseline].drop(columns="method")
    paired = per_cut[per_cut["method"] != baseline].merge(base, on=keys, suffixes=("", "_base"))
    paired["lpd_diff"] = paired["lpd"] - paired["lpd_base"]
    paired["crps_diff"] = paired["crps"] - paired["crps_base"]
    rows = []
    for (dataset, method), part in paired.groupby(["dataset", "method"], sort=False):
        rows.append({"dataset": dataset, "method": method, "cuts": len(part),
                     "lpd_diff": part["lpd_diff"].mean(), "lpd_diff_se": part["lpd_diff"].sem(),
                     "lpd_better_cuts": int((part["lpd_diff"] > 0).sum()),
                     "crps_diff": part["crps_diff"].mean(),
                     "crps_diff_se": part["crps_diff"].sem(),
                     "crps_better_cuts": int((part["crps_diff"] < 0).sum())})
    return pd.DataFrame(rows)


def target_check(overall, by_dataset, method="default", baseline=BASELINE):
    """The targets of issue 17 for ``method``: each with its measured value and whether it is
    met, so that the document states them from the numbers it prints."""
    pooled = overall.set_index("method").loc[method]
    mine = by_dataset[by_dataset["method"] == method].set_index("dataset")
    theirs = by_dataset[by_dataset["method"] == baseline].set_index("dataset")
    worst = mine["coverage_90"].idxmin()
    rows = [("pooled 90% coverage in [0.85, 0.95]", f"{pooled['coverage_90']:.3f}",
             0.85 <= pooled["coverage_90"] <= 0.95),
            ("pooled 50% coverage in [0.40, 0.60]", f"{pooled['coverage_50']:.3f}",
             0.40 <= pooled["coverage_50"] <= 0.60),
            ("no dataset below 0.70 at 90%", f"{mine.loc[worst, 'coverage_90']:.3f} ({worst})",
             mine["coverage_90"].min() >= 0.70),
            ("median 90% width at most 6x the median |error| (pooled)",
             f"{pooled['width_over_error']:.2f}", pooled["width_over_error"] <= 6.0)]
    for dataset in mine.index:
        ours, base = mine.loc[dataset], theirs.loc[dataset]
        rows += [(f"{dataset}: mean log density above {baseline}'s",
                  f"{ours['mean_lpd']:.3g} vs {base['mean_lpd']:.3g}",
                  ours["mean_lpd"] > base["mean_lpd"]),
                 (f"{dataset}: median CRPS below {baseline}'s",
                  f"{ours['median_crps']:.3g} vs {base['median_crps']:.3g}",
                  ours["median_crps"] < base["median_crps"])]
    return pd.DataFrame(rows, columns=["target", "measured", "met"])


PAIRED_TEXT = (
    "Per cut: the mean over its held-out runs of the log density's difference against "
    "Huber + bootstrap (`lpd_diff`, above 0: better) and the difference of the median CRPS "
    "(`crps_diff`, below 0: better); per dataset their mean over its cuts, its standard error "
    "(rough: a dataset's cuts hold out nested sets of runs), and the cuts won. A dataset's "
    "score rests on a few cuts, each carrying one fit's shared error.")


def learn(cut_table, leave_out=None, source=None, column="kappa_loglik",
          log_kappa=LOG_KAPPA_GRID):
    """κ distribution from every set (one κ log-likelihood per set: the mean over its cuts, so
    that a set with more cuts does not count more), leaving out the dataset ``leave_out``.
    ``column`` holds each cut's log-likelihood on the grid ``log_kappa``."""
    keep = cut_table if leave_out is None else cut_table[cut_table["dataset"] != leave_out]
    per_set = keep.groupby("set", sort=False)[column].apply(
        lambda values: np.mean(np.stack(values.to_list()), axis=0))
    return learn_kappa_distribution(np.stack(per_set.to_list()), source=source,
                                    log_kappa=log_kappa)


def write_comparison(per_run, stem, title, intro, *, record=None, sections=(), paired=False):
    """Score tables of a comparison on the validation's cuts (overall, by dataset, by
    extrapolation distance), written to benchmarks/results/``stem``.{md,json} and printed.
    ``record`` adds entries to the JSON; ``sections`` are (heading, text) after the overall
    table; ``paired`` adds every method against Huber + bootstrap cut by cut
    (`paired_by_cut`: ``per_run`` then needs a ``cut`` column)."""
    tables = {"overall": summarise(per_run, ["method"]),
              "by_dataset": summarise(per_run, ["dataset", "method"]),
              "by_target": summarise(per_run, ["target", "method"])}
    if paired:
        tables["paired_with_huber"] = paired_by_cut(per_run)
    results = os.path.join(REPO, "benchmarks", "results")
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, f"{stem}.json"), "w") as f:
        json.dump({"commit": git_commit(), **(record or {}),
                   **{name: json.loads(frame.to_json(orient="records"))
                      for name, frame in tables.items()}}, f, indent=1)
    parts = [f"# {title}", f"Generated by `python benchmarks/{stem}.py CUTS` at commit "
             f"{git_commit()} {intro} Do not edit by hand.",
             "## Overall", markdown_table(tables["overall"])]
    for heading, text in sections:
        parts += [f"## {heading}", text]
    parts += ["## By dataset", markdown_table(tables["by_dataset"])]
    if paired:
        parts += ["## Against Huber + bootstrap, cut by cut", PAIRED_TEXT,
                  markdown_table(tables["paired_with_huber"])]
    parts += ["## By extrapolation distance", markdown_table(tables["by_target"])]
    with open(os.path.join(results, f"{stem}.md"), "w") as f:
        f.write("\n\n".join(parts) + "\n")
    pd.set_option("display.width", 200)
    print(tables["overall"].to_string())
    print(tables["by_dataset"].to_string())


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(REPO), "shared",
                                                           "datasets"))
    parser.add_argument("--include", help="comma list of sets (see validation_sets.py)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "validation.md"))
    parser.add_argument("--json", default=os.path.join(REPO, "benchmarks", "results",
                                                       "validation.json"))
    parser.add_argument("--replicates", type=int, default=0,
                        help="also run simulation-based calibration of the fitted model with "
                             "this many replicates (200: about 20 min on 2 cores)")
    parser.add_argument("--save-cuts", help="also pickle every cut's predictive ingredients "
                        "here (to study other discrepancy models without refitting)")
    parser.add_argument("--prior-out", default=FIELD_PRIOR_PATH,
                        help="where the κ distribution learned from every set is written")
    args = parser.parse_args(argv)
    command = COMMAND
    include = args.include.split(",") if args.include else None
    sets = validation_sets.validation_sets(args.data_dir, include=include)
    started = time.perf_counter()

    cut_rows, cut_data = [], []
    key = jax.random.key(0)
    for vset in sets:
        for cutoff, target, ratio in cuts(vset.runs):
            key, k_cut = jax.random.split(key)
            cut = fit_cut(vset, cutoff, k_cut, args.resamples)
            cut_rows.append({"set": vset.name, "dataset": vset.dataset, "cutoff": cutoff,
                             "target": target, "C_ratio": ratio, "num_train": cut["num_train"],
                             "held_out": len(cut["y"]), "gate_ok": cut["gate"].ok,
                             "gate": cut["gate"].message(), "fit_seconds": cut["fit_seconds"],
                             "kappa_evidence": cut["kappa_evidence"],
                             "kappa_held_out": cut["kappa_held_out"],
                             "kappa_evidence_missing": cut["kappa_evidence_missing"],
                             "kappa_grid": (0.0 if cut["kappa_evidence"] is None else float(
                                 np.exp(LOG_KAPPA_GRID[np.argmax(cut["kappa_evidence"])]))),
                             "kappa_loglik": cut["kappa_loglik"]})
            cut_data.append(cut)
            print(f"{vset.name:50s} cut {cutoff:9.3g} ({ratio:5.1f}x) train {cut['num_train']:4d}"
                  f" held {len(cut['y']):3d} gate {'ok' if cut['gate'].ok else 'FAIL'} "
                  f"{cut['fit_seconds']:.0f}s  rss {peak_rss_gb():.2f} GB", flush=True)
    cut_table = pd.DataFrame(cut_rows)
    if args.save_cuts:
        with open(args.save_cuts, "wb") as f:
            pickle.dump({"rows": cut_rows, "cuts": [{k: v for k, v in c.items() if k != "gate"}
                                                    for c in cut_data]}, f)

    # Score every method; the field's κ is learned without the scored dataset.
    leave_out = {d: learn(cut_table, leave_out=d) for d in cut_table["dataset"].unique()}
    frames = []
    key = jax.random.key(1)
    for row, cut in zip(cut_rows, cut_data):
        key, *ks = jax.random.split(key, 5)
        draws = cut["log_mean"].shape[0]
        field = leave_out[row["dataset"]]
        default = (field if row["kappa_evidence"] is None else
                   update_kappa_distribution(field, row["kappa_evidence"]))
        parts = [bayes_method("default", cut, np.asarray(default.sample(ks[0], draws)), ks[1]),
                 bayes_method("field", cut, np.asarray(field.sample(ks[0], draws)), ks[1]),
                 bayes_method("plain", cut, 0.0, ks[2]), huber_method(cut, ks[3]),
                 bayes_method("kappa-grid", cut, row["kappa_grid"], ks[2])]
        frames += [p.assign(set=row["set"], dataset=row["dataset"], target=row["target"],
                            cut=row["cutoff"]) for p in parts]
    per_run = pd.concat(frames, ignore_index=True)

    commit = git_commit()
    field = learn(cut_table, source={
        "method": "hierarchical meta-analysis of leave-future-out errors "
                  "(bayes_scaling.discrepancy.learn_kappa_distribution)",
        "command": command, "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "sets": sorted(cut_table["set"].unique()),
        "cuts": int(len(cut_table)), "held_out_runs": int(cut_table["held_out"].sum())})
    with open(args.prior_out, "w") as f:
        json.dump({"kappa_quantiles": [float(v) for v in field.values], "source": field.source},
                  f, indent=1)

    overall = summarise(per_run, ["method"])
    by_dataset = summarise(per_run, ["dataset", "method"])
    by_target = summarise(per_run, ["target", "method"])
    per_set = summarise(per_run, ["set", "method"])
    targets = target_check(overall, by_dataset)
    paired = paired_by_cut(per_run)
    reliability = pd.DataFrame([{"method": m, "level": level,
                                 "coverage": part[f"in_{100 * level:g}"].mean()}
                                for m, part in per_run.groupby("method", sort=False)
                                for level in LEVELS])
    sbc_result = None
    if args.replicates:
        sbc_result = sbc(key=jax.random.key(2), num_replicates=args.replicates)
        import matplotlib

        matplotlib.use("Agg")
        from bayes_scaling.plots import plot_sbc

        axes = plot_sbc(sbc_result.ranks, sbc_result.max_rank, sbc_result.names)
        axes.flat[0].figure.savefig(os.path.join(os.path.dirname(args.out), "validation_sbc.png"),
                                    dpi=110, bbox_inches="tight")
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": command, "commit": commit, "backend": jax.default_backend(),
            "devices": len(jax.devices()), "machine": platform.processor() or platform.machine(),
            "jax": jax.__version__, "minutes": (time.perf_counter() - started) / 60,
            "peak_rss_gb": peak_rss_gb(), "resamples": args.resamples,
            "field_prior": field.describe(),
            "leave_one_dataset_out": {d: k.describe() for d, k in leave_out.items()}}
    figure(per_run, reliability, os.path.join(os.path.dirname(args.out), "validation_calibration.png"))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    records = {name: json.loads(frame.to_json(orient="records")) for name, frame in (
        ("overall", overall), ("by_dataset", by_dataset), ("by_target", by_target),
        ("per_set", per_set), ("reliability", reliability), ("targets", targets),
        ("paired_with_huber", paired),
        ("cuts", cut_table.drop(columns=["kappa_loglik", "kappa_evidence"])))}
    if sbc_result is not None:
        records["sbc"] = {"table": json.loads(sbc_result.table.to_json(orient="records")),
                          "replicates": args.replicates, "passed_at_1pct": sbc_result.passed(0.01)}
    with open(args.json, "w") as f:
        json.dump({"meta": meta, **records}, f, indent=1)
    with open(args.out, "w") as f:
        f.write(render(meta, overall, by_dataset, by_target, per_set, reliability, cut_table,
                       sbc_result, args.replicates, targets, paired))
    print(overall.to_string())
    print(f"wrote {args.out}, {args.json} and {args.prior_out} in {meta['minutes']:.1f} min; "
          f"peak RSS {meta['peak_rss_gb']:.2f} GB")


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def figure(per_run, reliability, path):
    """Coverage of the 90% interval against the extrapolation distance, and the reliability
    diagram (empirical against nominal coverage of central intervals)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    edges = np.array([0, 0.5, 1, 2, 3, 5])
    for method, part in per_run.groupby("method", sort=False):
        bins = np.digitize(part["distance"], edges[1:-1])
        centres, coverage = [], []
        for b in range(len(edges) - 1):
            inside = part[bins == b]
            if len(inside) >= 5:
                centres.append(inside["distance"].median())
                coverage.append(inside["in_90"].mean())
        left.plot(centres, coverage, marker="o", label=method)
        rel = reliability[reliability["method"] == method]
        right.plot(rel["level"], rel["coverage"], marker="o", label=method)
    left.axhline(0.9, color="grey", lw=0.8, ls="--")
    left.set(xlabel="e-folds beyond the largest fitted N, D or C", ylabel="coverage of 90% interval",
             ylim=(0, 1.02), title="Coverage against extrapolation distance")
    right.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    right.set(xlabel="nominal coverage (central interval)", ylabel="empirical coverage",
              xlim=(0, 1), ylim=(0, 1), title="Reliability")
    left.legend(frameon=False)
    fig.savefig(path, dpi=110)


def render(meta, overall, by_dataset, by_target, per_set, reliability, cut_table, sbc_result,
           replicates, targets, paired):
    shown = ["held_out", "coverage_50", "coverage_90", "median_abs_rel_error",
             "median_rel_width_90", "width_over_error", "mean_lpd", "median_crps"]
    failed = cut_table[~cut_table["gate_ok"]]
    parts = [
        "# Validation: calibrated forecasts beyond the data",
        f"Generated by `{meta['command']}` at commit {meta['commit']} on {meta['date']} "
        f"({meta['backend']}, {meta['devices']} device(s), jax {meta['jax']}; "
        f"{meta['minutes']:.0f} min, peak resident memory {meta['peak_rss_gb']:.2f} GB). "
        "Do not edit the tables by hand; rerun the command.",
        __doc__.split("\n\n", 1)[1].rsplit("\n\nRun from", 1)[0],
        f"Coverage is the share of held-out runs inside the central interval of the *observed* "
        f"loss; `median_rel_width_90` the median width of the 90% interval relative to the loss; "
        f"`width_over_error` that width over the median |relative error| (a calibrated Normal "
        f"predictive gives 4.9); `mean_lpd` the mean log density of the observed log-loss "
        f"(higher is better); `median_crps` the median CRPS of the loss (lower is better). "
        f"Huber + bootstrap uses {meta['resamples']} resamples.",
        f"The learned default (every set): {meta['field_prior']}. Leaving one dataset out: "
        + "; ".join(f"without {d}: {text}" for d, text in meta["leave_one_dataset_out"].items())
        + ".",
        "## Overall (all held-out runs of every cut pooled)", markdown_table(overall[["method"] + shown]),
        "## The targets of issue 17, checked (`default`)",
        f"{int(targets['met'].sum())} of {len(targets)} met.", markdown_table(targets),
        "## By dataset", markdown_table(by_dataset[["dataset", "method"] + shown]),
        "## Against Huber + bootstrap, cut by cut", PAIRED_TEXT, markdown_table(paired),
        "## By extrapolation distance (target held-out median compute / largest fitted)",
        markdown_table(by_target[["target", "method"] + shown]),
        "![coverage against distance and reliability](validation_calibration.png)",
        "## Reliability (empirical coverage of central intervals)",
        markdown_table(reliability.pivot(index="level", columns="method", values="coverage")
                  .reset_index()),
        "## Every set", markdown_table(per_set[["set", "method"] + shown]),
        "## Cuts", markdown_table(cut_table[["set", "cutoff", "C_ratio", "num_train", "held_out",
                                        "gate_ok", "fit_seconds", "kappa_held_out",
                                        "kappa_grid"]]),
        "Fits that failed the diagnostics gate: " + ("; ".join(
            f"{r.set} at {r.cutoff:.3g}: {r.gate}" for r in failed.itertuples()) or "none") + ".",
        "Fits without evidence of their own (`default` is then `field`): " + ("; ".join(
            f"{r.set} at {r.cutoff:.3g}: {r.kappa_evidence_missing}"
            for r in cut_table[cut_table["kappa_evidence"].isna()].itertuples()) or "none") + ".",
    ]
    parts.append("## Simulation-based calibration of the fitted model")
    if sbc_result is None:
        parts.append("Not run in this generation (`--replicates 200` adds it, about 20 min). "
                     "The discrepancy acts on forecasts beyond the data only, so the fitted "
                     "model is the one `tests/validation/test_sbc.py` checks on every CI run "
                     "(30 replicates of 100 runs: every parameter's ranks uniform at the 1% "
                     "level).")
    else:
        parts += [f"{replicates} data sets of 245 runs simulated from the default priors on the "
                  f"`simulate` design; ranks among {sbc_result.max_rank} thinned posterior draws; "
                  f"Pearson χ² over {sbc_result.bins} bins. Verdict at the 1% level: **"
                  f"{'uniform for every parameter' if sbc_result.passed(0.01) else 'NOT uniform'}"
                  "**.", markdown_table(sbc_result.table),
                  "![SBC rank ECDF differences](validation_sbc.png)"]
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "validation_notes.md")
    if os.path.exists(notes):  # the hand-written reading of these numbers
        with open(notes) as f:
            parts.append(f.read().strip())
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    main()
