"""Other models of the extrapolation discrepancy, scored on the cuts of docs/validation.md.

`benchmarks/validation.py --save-cuts CUTS` pickles every cut's predictive
ingredients; this script re-scores them under models of the law's error beyond the data that
the library does not use, beside the one it does, without refitting anything:

- ``field``: the library's κ of the public sweeps. Spread of log-loss κ·d (d e-folds beyond the
  data), κ per sweep learned by the meta-analysis over runs scored as independent errors.
- ``relative``: κ in units of the fit's own noise σ (spread σ·λ·d): scale-free across sweeps
  whose noise differs tenfold, if the error beyond the data follows the error inside it.
- ``random-walk``: spread κ·√d, a law error that wanders rather than drifts.
- ``shared-drift``: the meta-analysis scores each cut's held-out runs as sharing one drift
  δ ~ Normal(0, κ) per e-fold (jointly, by a grid integral over δ), not as independent errors.
- ``default (sum)``: the field's κ updated by the fit's internal backtest with its runs summed as
  independent evidence (the library's `--discrepancy sweep` before this comparison).
- ``default``: the library's default: the same evidence counted as one observation (the mean
  over its runs: what `sweep_evidence.kappa_evidence` returns; the field's κ alone when the
  fit has none).
- ``default (weight w)``: between the two, the evidence counted as w observations (at most the
  runs held out), w chosen for each scored dataset among `EVIDENCE_WEIGHTS` by the mean over
  the *other* datasets of their mean log predictive density: is there a better count than one,
  learned across sweeps as the field's κ is? The choices are printed and kept in the JSON.
- ``plain + budget effect`` and ``default + budget effect``: structured residuals, an effect
  shared by the runs of one compute budget (isoFLOP budgets share a schedule): its standard
  deviation τ estimated from the training residuals by the method of moments
  (`validation.budget_effect_sd`), and a held-out run, of a budget not fitted, gets a new
  effect: τ² added to its predictive variance (without and with the default's κ).
- ``plain + GP residuals`` and ``default + GP residuals``: correlated residuals over
  (log N, log D), a Gaussian process fitted to the training residuals by maximum marginal
  likelihood (`validation.residual_gp`; a plug-in, like the budget effect, not sampled with
  the law): each held-out run's predictive is shifted by the process's mean there and
  widened by its spread (without and with the default's κ). Beyond the training runs the
  process reverts to no shift and to its amplitude: a stationary process has no trend to
  extrapolate, so any growth of the error with distance must come from κ.
- ``GP residuals + field``: the same with its own κ, learned across the other datasets by the
  meta-analysis from the corrected forecasts' errors (the default's κ was learned from the
  uncorrected ones, so adding the process to it counts the same error twice); no sweep update
  (the library's internal backtest scores uncorrected forecasts).
- ``GP residuals + field + sweep``: that κ updated, as the default updates its own, by the
  fit's internal backtest with its forecasts corrected too (`validation.gp_sweep_evidence`:
  the process fitted to the internal training runs; one observation).
- ``normal drift`` and ``default, normal drift``: the library's model with the law's error
  beyond the data as a Normal drift *added* to the run-to-run noise (observed = law + σ·t_ν +
  κ·d·z, z ~ Normal(0, 1)), not the noise's own Student-t widened to scale √(σ² + (κd)²): a
  smooth error of the law has no reason to share the outlier tails of single runs. Its density
  is the Student-t's scale mixture of Normals (precision λ ~ Gamma(ν/2, ν/2)) with the drift's
  variance added to each component, on `MIXTURE_NODES` equally likely λ per draw. κ learned by
  the same meta-analysis (field), then updated by the fit's internal backtest as the default
  is (its evidence scored with the library's model: the cuts keep no internal forecasts).
- ``huber-bootstrap``: the baseline.

Every prior is learned leaving out the dataset scored, as in docs/validation.md. Run from the
repository root (2-3 min on 2 cores)::

    python benchmarks/validation.py --data-dir ../shared/datasets --save-cuts /tmp/cuts.pkl
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

from bayes_scaling.discrepancy import (LOG_KAPPA_GRID, kappa_log_likelihood,  # noqa: E402
                                       update_kappa_distribution)
from bayes_scaling.likelihood import observation  # noqa: E402

# λ = κ/σ per e-fold: the fits' σ run from 0.3% to 10%, so 1e-3 .. 1e2 spans κ's grid
LOG_LAMBDA_GRID = np.linspace(np.log(1e-3), np.log(1e2), 121)
DRIFT_GRID_SIZE = 801   # grid of the shared drift δ per cut
DRIFT_DRAWS = 250       # posterior draws the shared-drift integral uses
EVIDENCE_WEIGHTS = (1, 2, 3, 4, 6, 8, 12, 16)   # observations the internal backtest counts as
MIXTURE_NODES = 48      # equally likely precisions λ of the Student-t's scale mixture, per draw
MIXTURE_DRAWS = 400     # posterior draws the normal-drift grid likelihood uses


def relative_log_likelihood(cut, log_lambda=LOG_LAMBDA_GRID):
    """`discrepancy.kappa_log_likelihood` with κ = λ·σ of each draw (spread σ·sqrt(1 + (λd)²)),
    on a grid of λ: the library's function takes one κ for every draw, so it cannot."""
    return validation.log_likelihood_on_grid(
        cut, np.exp(log_lambda),
        lambda value, noise, distance: noise["sigma"] * jnp.sqrt(1 + (value * distance) ** 2))


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


def mixture_precisions(noise, likelihood):
    """Per draw, `MIXTURE_NODES` equally likely precision multipliers λ of the noise as a scale
    mixture of Normals: quantile midpoints of Gamma(ν/2, rate ν/2) (Student-t), or 1 (Normal)."""
    sigma = np.asarray(noise["sigma"], np.float64)
    if likelihood != "student_t":
        return np.ones((len(sigma), 1))
    levels = (np.arange(MIXTURE_NODES) + 0.5) / MIXTURE_NODES
    half = np.asarray(noise["nu"], np.float64)[:, None] / 2
    return special.gammaincinv(half, levels[None, :]) / half


@jax.jit
def _drift_log_density(log_mean, sigma, precision, drift_sd, y):
    """log p(y) per draw and run: Normal(law, σ²/λ + drift_sd²) averaged over the λ nodes."""
    var = (sigma[:, None, None] ** 2 / precision[:, None, :]) + drift_sd[..., None] ** 2
    density = -0.5 * (y[None, :, None] - log_mean[..., None]) ** 2 / var - 0.5 * jnp.log(
        2 * jnp.pi * var)
    return jax.scipy.special.logsumexp(density, axis=-1) - jnp.log(precision.shape[1])


def normal_drift_log_likelihood(cut, log_grid=LOG_KAPPA_GRID):
    """The cut's log-likelihood of κ (summed over its runs, each a mean over draws) when the
    drift κ·d·z is added to the noise (see the module docstring)."""
    pick = np.unique(np.linspace(0, len(cut["log_mean"]) - 1, MIXTURE_DRAWS).round().astype(int))
    noise = {k: np.asarray(v)[pick] for k, v in cut["noise"].items()}
    log_mean, y = jnp.asarray(cut["log_mean"][pick]), jnp.asarray(cut["y"])
    precision = jnp.asarray(mixture_precisions(noise, cut["likelihood"]))
    sigma, distance = jnp.asarray(noise["sigma"]), jnp.asarray(cut["distance"])
    out = []
    for kappa in np.exp(log_grid):
        per_draw = _drift_log_density(log_mean, sigma, precision,
                                      jnp.broadcast_to(kappa * distance, log_mean.shape), y)
        out.append(float(jnp.sum(jax.scipy.special.logsumexp(per_draw, axis=0)
                                 - jnp.log(len(pick)))))
    return np.asarray(out)


def normal_drift_method(name, cut, kappa, key):
    """Scores of the predictive law + σ·t_ν + κ·d·z, κ one value per draw."""
    noise = {k: np.asarray(v) for k, v in cut["noise"].items()}
    drift_sd = np.asarray(kappa)[:, None] * cut["distance"][None, :]
    k_noise, k_drift = jax.random.split(key)
    base = observation(cut["likelihood"], jnp.asarray(cut["log_mean"]),
                       {k: jnp.asarray(v)[:, None] for k, v in noise.items()})
    draws = np.asarray(base.sample(k_noise), np.float64) + drift_sd * np.asarray(
        jax.random.normal(k_drift, drift_sd.shape), np.float64)
    density = np.asarray(_drift_log_density(
        jnp.asarray(cut["log_mean"]), jnp.asarray(noise["sigma"]),
        jnp.asarray(mixture_precisions(noise, cut["likelihood"])), jnp.asarray(drift_sd),
        jnp.asarray(cut["y"])), np.float64)
    return validation.score(name, draws, density, cut)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cuts", help="the pickle written by validation.py --save-cuts")
    args = parser.parse_args(argv)
    with open(args.cuts, "rb") as f:
        saved = pickle.load(f)
    rows, cuts = saved["rows"], saved["cuts"]
    if any(name not in cut for cut in cuts for name in ("budget_sd", "gp", "gp_sweep_evidence")):
        sys.exit("the cuts are from an older validation.py: rerun it with --save-cuts")
    table = pd.DataFrame(rows)
    table["relative"] = [relative_log_likelihood(c) for c in cuts]
    # a spread κ·√d is the library's κ·d at the distance √d
    walks = [{**c, "distance": np.sqrt(c["distance"])} for c in cuts]
    table["random_walk"] = [kappa_log_likelihood(w["log_mean"], w["noise"], w["distance"], w["y"],
                                                 likelihood=w["likelihood"]) for w in walks]
    table["shared"] = [shared_drift_log_likelihood(c) for c in cuts]
    table["gp_kappa"] = [validation.gp_kappa_log_likelihood(c) for c in cuts]
    table["normal_drift"] = [normal_drift_log_likelihood(c) for c in cuts]
    priors = {dataset: {
        "field": validation.learn(table, dataset),
        "relative": validation.learn(table, dataset, column="relative",
                                     log_kappa=LOG_LAMBDA_GRID),
        "random-walk": validation.learn(table, dataset, column="random_walk"),
        "shared-drift": validation.learn(table, dataset, column="shared"),
        "GP residuals + field": validation.learn(table, dataset, column="gp_kappa"),
        "normal drift": validation.learn(table, dataset, column="normal_drift")}
        for dataset in table["dataset"].unique()}

    frames, weighted, key = [], [], jax.random.key(1)
    for row, cut, walk in zip(rows, cuts, walks):
        key, k_kappa, k_draw, k_huber = jax.random.split(key, 4)
        count = len(cut["log_mean"])
        prior = priors[row["dataset"]]
        evidence = row["kappa_evidence"]
        updated = ({"default (sum)": prior["field"], "default": prior["field"]}
                   if evidence is None else {
            "default (sum)": update_kappa_distribution(
                prior["field"], np.asarray(evidence) * row["kappa_held_out"]),
            "default": update_kappa_distribution(prior["field"], np.asarray(evidence))})
        for weight in EVIDENCE_WEIGHTS:
            kappa = prior["field"] if evidence is None else update_kappa_distribution(
                prior["field"], np.asarray(evidence) * min(weight, row["kappa_held_out"]))
            weighted.append(validation.bayes_method(
                "default (weight w)", cut, np.asarray(kappa.sample(k_kappa, count)),
                k_draw).assign(set=row["set"], dataset=row["dataset"], target=row["target"],
                              cut=row["cutoff"], weight=weight))
        gp_evidence = cut["gp_sweep_evidence"]
        updated["default, normal drift"] = (
            prior["normal drift"] if evidence is None else
            update_kappa_distribution(prior["normal drift"], np.asarray(evidence)))
        updated["GP residuals + field + sweep"] = (
            prior["GP residuals + field"] if gp_evidence is None else
            update_kappa_distribution(prior["GP residuals + field"], np.asarray(gp_evidence)))
        kappas = {name: np.asarray(distribution.sample(k_kappa, count))
                  for name, distribution in {**prior, **updated}.items()}
        kappas["relative"] = kappas["relative"] * np.asarray(cut["noise"]["sigma"])
        gp_mean, gp_sd = cut["gp"]
        shifted = {**cut, "log_mean": cut["log_mean"] + gp_mean[None, :]}
        parts = [validation.bayes_method(name, walk if name == "random-walk" else cut, kappa,
                                         k_draw).assign(distance=cut["distance"])
                 for name, kappa in kappas.items()
                 if not name.startswith("GP") and "normal drift" not in name]
        parts += [normal_drift_method(name, cut, kappas[name], k_draw)
                  for name in ("normal drift", "default, normal drift")]
        parts += [validation.bayes_method(name, cut, kappa, k_draw, extra_sd=cut["budget_sd"])
                  for name, kappa in (("plain + budget effect", 0.0),
                                      ("default + budget effect", kappas["default"]))]
        parts += [validation.bayes_method(name, shifted, kappa, k_draw, extra_sd=gp_sd[None, :])
                  for name, kappa in (("plain + GP residuals", 0.0),
                                      ("default + GP residuals", kappas["default"]),
                                      ("GP residuals + field",
                                       kappas["GP residuals + field"]),
                                      ("GP residuals + field + sweep",
                                       kappas["GP residuals + field + sweep"]))]
        parts.append(validation.huber_method(cut, k_huber))
        frames += [p.assign(set=row["set"], dataset=row["dataset"], target=row["target"],
                            cut=row["cutoff"]) for p in parts]
    weighted = pd.concat(weighted, ignore_index=True)
    # w for each dataset: the best mean over the other datasets of their mean lpd
    lpd = weighted.groupby(["dataset", "weight"])["lpd"].mean().unstack()
    chosen = {d: int(lpd.drop(index=d).mean(axis=0).idxmax()) for d in lpd.index}
    print("evidence weight chosen leaving each dataset out:", chosen)
    frames += [weighted[(weighted["dataset"] == d) & (weighted["weight"] == w)].drop(
        columns="weight") for d, w in chosen.items()]
    per_run = pd.concat(frames, ignore_index=True)
    validation.write_comparison(
        per_run, "discrepancy_models", "Models of the extrapolation discrepancy, compared",
        "from the cuts of docs/validation.md (see the script's docstring for the models).",
        record={"cuts": args.cuts, "evidence_weight_chosen": chosen,
                "evidence_weight_lpd": json.loads(lpd.to_json(orient="index"))},
        sections=[("The evidence's weight",
                   "Mean log predictive density of each dataset's held-out runs when the "
                   "internal backtest counts as w observations (``default (weight w)``), and "
                   f"the w chosen for each dataset leaving it out: {chosen}.\n\n"
                   + validation.markdown_table(lpd.reset_index().rename(columns=str)))],
        paired=True)


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # exp of -inf draws in CRPS
        main()
