"""Other models of the extrapolation discrepancy, scored on the cuts of docs/validation.md.

`benchmarks/validation.py --kappa-grid --save-cuts CUTS` pickles every cut's predictive
ingredients; this script re-scores them under models of the law's error beyond the data that
the library does not use, beside the one it does, without refitting anything:

- ``field``: the library's default. Spread of log-loss κ·d (d e-folds beyond the data), κ per
  sweep learned by the meta-analysis over runs scored as independent errors.
- ``relative``: κ in units of the fit's own noise σ (spread σ·λ·d): scale-free across sweeps
  whose noise differs tenfold, if the error beyond the data follows the error inside it.
- ``random-walk``: spread κ·√d, a law error that wanders rather than drifts.
- ``shared-drift``: the meta-analysis scores each cut's held-out runs as sharing one drift
  δ ~ Normal(0, κ) per e-fold (jointly, by a grid integral over δ), not as independent errors.
- ``field+sweep (sum)``: the field's κ updated by the internal backtest with its runs summed as
  independent evidence (the library's `--discrepancy sweep` before this comparison).
- ``field+sweep``: the same evidence counted as one observation (the mean over its runs: what
  `validation.backtest.kappa_evidence` returns).
- ``huber-bootstrap``: the baseline.

Every prior is learned leaving out the dataset scored, as in docs/validation.md. Run from the
repository root (2-3 min on 2 cores)::

    python benchmarks/validation.py --data-dir ../shared/datasets --kappa-grid --save-cuts /tmp/cuts.pkl
    python benchmarks/discrepancy_models.py /tmp/cuts.pkl

It prints the tables and writes benchmarks/results/discrepancy_models.{md,json}.
"""

import os
import sys

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_"
                               f"device_count={os.cpu_count() or 1}").strip()

import argparse  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import special, stats  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import validation  # noqa: E402

from bayes_scaling.discrepancy import (LOG_KAPPA_GRID, learn_kappa_distribution,  # noqa: E402
                                       update_kappa_distribution)
from bayes_scaling.likelihood import observation  # noqa: E402

RESULTS = os.path.join(validation.REPO, "benchmarks", "results")
# λ = κ/σ per e-fold: the fits' σ run from 0.3% to 10%, so 1e-3 .. 1e2 spans κ's grid
LOG_LAMBDA_GRID = np.linspace(np.log(1e-3), np.log(1e2), 121)
DRIFT_GRID_SIZE = 801   # grid of the shared drift δ per cut
DRIFT_DRAWS = 250       # posterior draws the shared-drift integral uses


def independent_log_likelihood(cut, log_grid, relative, power):
    """Σ over held-out runs of log mean over draws of the predictive density, spread
    sqrt(σ² + (κ d^power)²), or σ·sqrt(1 + (λ d^power)²) when ``relative``."""
    noise = {k: jnp.asarray(v)[:, None] for k, v in cut["noise"].items()}
    grows = jnp.asarray(cut["distance"])[None, :] ** power
    y = jnp.asarray(cut["y"])[None, :]
    out = []
    for value in np.exp(log_grid):
        scale = (noise["sigma"] * jnp.sqrt(1 + (value * grows) ** 2) if relative
                 else jnp.sqrt(noise["sigma"] ** 2 + (value * grows) ** 2))
        density = np.asarray(observation(cut["likelihood"], jnp.asarray(cut["log_mean"]), noise,
                                         scale).log_prob(y), np.float64)
        out.append((special.logsumexp(density, axis=0) - np.log(density.shape[0])).sum())
    return np.asarray(out)


def shared_drift_log_likelihood(cut, log_grid=LOG_KAPPA_GRID):
    """log p(held-out runs | κ) when they share one drift δ ~ Normal(0, κ) per e-fold: the
    integral over δ on an even grid (cell masses of the Normal, exact however narrow κ is),
    averaged over posterior draws."""
    pick = np.unique(np.linspace(0, len(cut["log_mean"]) - 1, DRIFT_DRAWS).round().astype(int))
    log_mean, distance, y = cut["log_mean"][pick], cut["distance"], cut["y"]
    sigma = float(np.median(cut["noise"]["sigma"]))
    error = y - np.median(log_mean, axis=0)
    beyond = distance > 0.1
    half = (2 * abs(np.sum(distance * error)) / max(np.sum(distance ** 2), 1e-6)
            + 2 * (np.median(np.abs(error[beyond] / distance[beyond])) if beyond.any() else 0)
            + 10 * sigma / max(np.sqrt(np.sum(distance ** 2)), 1e-3))
    drifts = np.linspace(-half, half, DRIFT_GRID_SIZE)
    step = drifts[1] - drifts[0]
    params = {k: jnp.asarray(np.asarray(v)[pick])[:, None, None]
              for k, v in cut["noise"].items()}
    mean = jnp.asarray(log_mean)[:, None, :] + jnp.asarray(drifts)[None, :, None] * distance
    log_fit = np.asarray(observation(cut["likelihood"], mean, params, params["sigma"]).log_prob(
        jnp.asarray(y)).sum(axis=-1), np.float64)                     # (draws, drifts)
    scaled = np.concatenate([drifts - step / 2, [drifts[-1] + step / 2]])[:, None] / np.exp(
        log_grid)[None, :]
    mass = np.where(drifts[:, None] > 0, -np.diff(stats.norm.sf(scaled), axis=0),
                    np.diff(stats.norm.cdf(scaled), axis=0))
    top = log_fit.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        per_draw = np.log(np.exp(log_fit - top) @ mass) + top
    return special.logsumexp(per_draw, axis=0) - np.log(len(pick))


def learn_leaving_out(table, column, grid, dataset):
    """The meta-analysis of `validation.learn` on another likelihood column and grid."""
    keep = table[table["dataset"] != dataset]
    per_set = keep.groupby("set", sort=False)[column].apply(
        lambda c: np.mean(np.stack(c.to_list()), axis=0))
    return learn_kappa_distribution(np.stack(per_set.to_list()), log_kappa=grid)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cuts", help="the pickle written by validation.py --save-cuts")
    args = parser.parse_args(argv)
    with open(args.cuts, "rb") as f:
        saved = pickle.load(f)
    rows, cuts = saved["rows"], saved["cuts"]
    if any(row.get("kappa_held_out") is None for row in rows):
        sys.exit("the cuts carry no internal backtest: rerun validation.py with --kappa-grid")
    table = pd.DataFrame(rows)
    table["relative"] = [independent_log_likelihood(c, LOG_LAMBDA_GRID, True, 1.0) for c in cuts]
    table["random_walk"] = [independent_log_likelihood(c, LOG_KAPPA_GRID, False, 0.5)
                            for c in cuts]
    table["shared"] = [shared_drift_log_likelihood(c) for c in cuts]
    priors = {}
    for dataset in table["dataset"].unique():
        priors[dataset] = {
            "field": learn_leaving_out(table, "kappa_loglik", LOG_KAPPA_GRID, dataset),
            "relative": learn_leaving_out(table, "relative", LOG_LAMBDA_GRID, dataset),
            "random-walk": learn_leaving_out(table, "random_walk", LOG_KAPPA_GRID, dataset),
            "shared-drift": learn_leaving_out(table, "shared", LOG_KAPPA_GRID, dataset)}

    frames, key = [], jax.random.key(1)
    for row, cut in zip(rows, cuts):
        key, k_kappa, k_draw, k_huber = jax.random.split(key, 4)
        count = len(cut["log_mean"])
        prior = priors[row["dataset"]]
        sigma = np.asarray(cut["noise"]["sigma"])

        def method(name, kappa, scored=cut):
            return validation.bayes_method(name, scored, np.asarray(kappa.sample(k_kappa, count))
                                           if hasattr(kappa, "sample") else kappa, k_draw)

        evidence = np.asarray(row["kappa_evidence"])
        walk = {**cut, "distance": np.sqrt(cut["distance"])}
        parts = [method("field", prior["field"]),
                 method("relative", np.asarray(prior["relative"].sample(k_kappa, count)) * sigma),
                 method("random-walk", prior["random-walk"], walk).assign(
                     distance=cut["distance"]),
                 method("shared-drift", prior["shared-drift"]),
                 method("field+sweep (sum)", update_kappa_distribution(
                     prior["field"], evidence * row["kappa_held_out"])),
                 method("field+sweep", update_kappa_distribution(prior["field"], evidence)),
                 validation.huber_method(cut, k_huber)]
        frames += [p.assign(set=row["set"], dataset=row["dataset"], target=row["target"])
                   for p in parts]
    per_run = pd.concat(frames, ignore_index=True)
    overall = validation.summarise(per_run, ["method"])
    by_dataset = validation.summarise(per_run, ["dataset", "method"])
    by_target = validation.summarise(per_run, ["target", "method"])
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "discrepancy_models.json"), "w") as f:
        json.dump({"cuts": args.cuts, "commit": validation.git_commit(),
                   **{name: json.loads(frame.to_json(orient="records")) for name, frame in (
                       ("overall", overall), ("by_dataset", by_dataset),
                       ("by_target", by_target))}}, f, indent=1)
    text = "\n\n".join([
        "# Models of the extrapolation discrepancy, compared",
        f"Generated by `python benchmarks/discrepancy_models.py CUTS` at commit "
        f"{validation.git_commit()} from the cuts of docs/validation.md (see the script's "
        f"docstring for the models). Do not edit by hand.",
        "## Overall", validation.markdown_table(overall),
        "## By dataset", validation.markdown_table(by_dataset),
        "## By extrapolation distance", validation.markdown_table(by_target)]) + "\n"
    with open(os.path.join(RESULTS, "discrepancy_models.md"), "w") as f:
        f.write(text)
    pd.set_option("display.width", 200)
    print(overall.to_string())
    print(by_dataset.to_string())


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # exp of -inf draws in CRPS
        main()
