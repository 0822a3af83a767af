"""Averaging over the law's form, scored on the cuts of docs/validation.md.

Issue 17 asks whether structural uncertainty over the law itself makes forecasts beyond the data
more honest. This script fits every cut of `validation.py` a second time with Kaplan et al.'s
form L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D (the other two-input law of the registry; the
one-input laws cannot tell runs of one isoFLOP budget apart, the data-constrained ones need
unique tokens) and compares, on the same held-out runs:

- ``chinchilla``: the library's default (Chinchilla's form; κ of the field, learned leaving the
  scored dataset out, updated by the fit's own internal backtest), as in docs/validation.md;
- ``kaplan``: the same for Kaplan's form (the field's κ, learned from Chinchilla fits, serves
  both forms);
- ``averaged``: both forecasts mixed, each form weighted by the marginal likelihood of its own
  internal backtest: log w_k = log ∫ p(κ) exp(ℓ_k(κ)) dκ, ℓ_k the backtest's κ log-likelihood
  (counted as one observation, as the default counts it), p the field's κ; equal weights when
  either form's fit has no backtest. This is pseudo-Bayesian model averaging by leave-future-out
  performance inside the training runs: no held-out run informs it;
- ``averaged (runs)``: the same with each internally held-out run counted (ℓ_k times their
  number): the forms' weights as the backtest's runs would set them if their errors were
  independent, so far more decisive;
- ``huber-bootstrap``: the baseline.

Run from the repository root after `validation.py --save-cuts CUTS` (about 10 min on 2 cores)::

    python benchmarks/law_averaging.py CUTS

It prints the tables and writes benchmarks/results/law_averaging.{md,json}.
"""

import os
import sys

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_"
                               f"device_count={os.cpu_count() or 1}").strip()

import argparse  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import special  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import validation  # noqa: E402
import validation_sets  # noqa: E402

from bayes_scaling.discrepancy import (kappa_log_evidence,  # noqa: E402
                                       update_kappa_distribution)

OTHER_LAW = "kaplan"


def mixture_scores(cuts, weights, kappas, key, method):
    """Scores of the mixture: each form contributes its share of the draws."""
    draws, densities = [], []
    total = len(cuts[0]["log_mean"])
    counts = np.round(np.asarray(weights) * total).astype(int)
    for cut, kappa, count, k in zip(cuts, kappas, counts, jax.random.split(key, len(cuts))):
        if count == 0:
            continue
        sample, density = validation.predictive_draws(cut, kappa, k)
        draws.append(sample[:count])
        densities.append(density[:count])
    return validation.score(method, np.concatenate(draws), np.concatenate(densities),
                            cuts[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cuts", help="the pickle written by validation.py --save-cuts")
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(validation.REPO),
                                                           "shared", "datasets"))
    parser.add_argument("--include", help="comma list of sets (default: every set of CUTS)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with open(args.cuts, "rb") as f:
        saved = pickle.load(f)
    rows, chinchilla = saved["rows"], saved["cuts"]
    table = pd.DataFrame(rows)
    fields = {d: validation.learn(table, d) for d in table["dataset"].unique()}
    sets = {s.name: s for s in validation_sets.validation_sets(args.data_dir)}
    frames, weights_used, key = [], [], jax.random.key(3)
    include = args.include.split(",") if args.include else list(sets)
    for row, cut in zip(rows, chinchilla):
        if row["set"] not in include:
            continue
        key, k_fit, k_kappa, k_draw, k_mix, k_huber = jax.random.split(key, 6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            other = validation.fit_cut(sets[row["set"]], row["cutoff"], k_fit, resamples=10,
                                       law=OTHER_LAW)
        np.testing.assert_allclose(other["y"], cut["y"])   # the same held-out runs
        field = fields[row["dataset"]]
        forms = {"chinchilla": (cut, row["kappa_evidence"]),
                 OTHER_LAW: (other, other["kappa_evidence"])}
        kappas, log_w, log_w_runs = {}, {}, {}
        for name, (c, evidence) in forms.items():
            kappa = field if evidence is None else update_kappa_distribution(field, evidence)
            kappas[name] = np.asarray(kappa.sample(k_kappa, len(c["log_mean"])))
            missing = evidence is None
            log_w[name] = None if missing else kappa_log_evidence(field, evidence)
            held = row["kappa_held_out"] if name == "chinchilla" else c["kappa_held_out"]
            log_w_runs[name] = None if missing else kappa_log_evidence(field,
                                                                 np.asarray(evidence) * held)
            frames.append(validation.bayes_method(name, c, kappas[name], k_draw).assign(
                set=row["set"], dataset=row["dataset"], target=row["target"]))
        weights = {}
        for method, logs in (("averaged", log_w), ("averaged (runs)", log_w_runs)):
            values = np.array([0.0, 0.0] if None in logs.values() else list(logs.values()))
            weights[method] = np.exp(values - special.logsumexp(values))
            frames.append(mixture_scores([cut, other], weights[method], list(kappas.values()),
                                         k_mix, method).assign(
                set=row["set"], dataset=row["dataset"], target=row["target"]))
        frames.append(validation.huber_method(cut, k_huber).assign(
            set=row["set"], dataset=row["dataset"], target=row["target"]))
        weights_used.append({"set": row["set"], "cutoff": row["cutoff"],
                             "weight_chinchilla": float(weights["averaged"][0]),
                             "weight_chinchilla_runs": float(weights["averaged (runs)"][0]),
                             "other_gate_ok": bool(other["gate"].ok)})
        print(f"{row['set']:50s} cut {row['cutoff']:9.3g} weight of chinchilla "
              f"{weights['averaged'][0]:.2f}, counting runs {weights['averaged (runs)'][0]:.2f};"
              f" kaplan gate {'ok' if other['gate'].ok else 'FAIL'}", flush=True)
    per_run = pd.concat(frames, ignore_index=True)
    weights = pd.DataFrame(weights_used)
    minutes = (time.perf_counter() - started) / 60
    share = weights["weight_chinchilla"]
    share_runs = weights["weight_chinchilla_runs"]
    validation.write_comparison(
        per_run, "law_averaging", "Averaging over the law's form, compared",
        f"from the cuts of docs/validation.md in {minutes:.0f} min (see the script's docstring "
        f"for the methods).",
        record={"cuts": args.cuts, "minutes": minutes,
                "weights": json.loads(weights.to_json(orient="records"))},
        sections=[("Weights", f"Kaplan's fits passed the diagnostics gate in "
                   f"{weights['other_gate_ok'].sum()} of {len(weights)} cuts. Weight of "
                   f"Chinchilla's form in the average: median {share.median():.2f}, from "
                   f"{share.min():.2f} to {share.max():.2f}; counting every run: median "
                   f"{share_runs.median():.2f}, from {share_runs.min():.2f} to "
                   f"{share_runs.max():.2f}.\n\n" + validation.markdown_table(weights))])


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # exp of -inf draws in CRPS
        main()
