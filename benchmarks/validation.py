"""Validation on real data and by simulation: writes docs/validation.md.

1. Backtests on every loss dataset in ../shared/datasets with (N, D, loss) (see
   validation_sets.py): fit on the runs below a compute cutoff (the top 20% of runs by compute are
   held out), forecast the held-out runs, score this engine against Huber + bootstrap.
2. A rolling backtest on Epoch's Chinchilla points: error and coverage against the
   extrapolation distance.
3. Simulation-based calibration of the default Chinchilla model and priors.

Run from the repository root (about an hour on 2 CPU cores, most of it SBC):
``python benchmarks/validation.py --data-dir ../shared/datasets``
"""

import os
import sys

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_"
                               f"device_count={os.cpu_count() or 1}").strip()

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import validation_sets  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling.posterior import ConvergenceWarning  # noqa: E402
from bayes_scaling.validation.sbc import sbc  # noqa: E402
from bayes_scaling.validation.backtest import backtest, rolling_backtest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = "python benchmarks/validation.py --data-dir ../shared/datasets"


def _markdown(frame, digits=3):
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return f"{v:.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
        return str(v)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def pooled(runs, by):
    """Per-run scores pooled into one row per ``by`` group and method."""
    rows = []
    for keys, part in runs.groupby(by + ["method"], sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        rows.append({**dict(zip(by + ["method"], keys)), "held_out": len(part),
                     "median_abs_rel_error": float(np.median(np.abs(part["rel_error"]))),
                     "coverage_50": float(part["in_50"].mean()),
                     "coverage_90": float(part["in_90"].mean()),
                     "curve_coverage_90": float(part["curve_in_90"].mean()),
                     "mean_lpd": float(part["lpd"].mean()),
                     "median_crps": float(part["crps"].median())})
    return pd.DataFrame(rows)


def run_backtests(sets, likelihoods, key, resamples):
    per_run, per_set = [], []
    for vset, k in zip(sets, jax.random.split(key, len(sets))):
        for likelihood in likelihoods:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # recorded in the table
                result = backtest(vset.runs, key=k, holdout_top=0.2, likelihood=likelihood,
                                  num_resamples=resamples, discrepancy=True)
            seconds = time.perf_counter() - start
            tag = {"set": vset.name, "dataset": vset.dataset, "likelihood": likelihood}
            per_run.append(result.runs.assign(**tag))
            per_set.append(result.summary.assign(**tag, num_train=result.num_train,
                                                 cutoff_flops=result.cutoff_flops,
                                                 gate=result.diagnostics.message(),
                                                 kappa=result.kappa,
                                                 seconds=seconds))
            row = result.summary.set_index("method")
            print(f"{vset.name:55s} {likelihood:9s} train {result.num_train:4d} held "
                  f"{int(row['held_out'].iloc[0]):3d}  cov90 "
                  + "  ".join(f"{m} {row.loc[m, 'coverage_90']:.2f}" for m in row.index)
                  + f"  gate {'ok' if result.diagnostics.ok else 'FAIL'}  {seconds:.0f}s",
                  flush=True)
    return pd.concat(per_run, ignore_index=True), pd.concat(per_set, ignore_index=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(REPO), "shared",
                                                           "datasets"))
    parser.add_argument("--include", help="comma list of sets (see validation_sets.py)")
    parser.add_argument("--likelihoods", default="student_t")
    parser.add_argument("--resamples", type=int, default=4000)
    parser.add_argument("--replicates", type=int, default=200, help="SBC replicates (0: skip)")
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "validation.md"))
    parser.add_argument("--json", default=os.path.join(REPO, "benchmarks", "results",
                                                       "validation.json"))
    args = parser.parse_args(argv)
    include = args.include.split(",") if args.include else None
    sets = validation_sets.validation_sets(args.data_dir, include=include)
    likelihoods = args.likelihoods.split(",")
    started = time.perf_counter()

    per_run, per_set = run_backtests(sets, likelihoods, jax.random.key(0), args.resamples)
    by_dataset = pooled(per_run, ["likelihood", "dataset"])
    overall = pooled(per_run, ["likelihood"])

    rolling = None
    chinchilla = [s for s in sets if s.dataset == "chinchilla"]
    if chinchilla:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            rolling, _ = rolling_backtest(chinchilla[0].runs, key=jax.random.key(1),
                                          num_resamples=args.resamples, discrepancy=True)

    sbc_result, sbc_seconds = None, None
    if args.replicates:
        start = time.perf_counter()
        sbc_result = sbc(key=jax.random.key(2), num_replicates=args.replicates)
        sbc_seconds = time.perf_counter() - start
        import matplotlib

        matplotlib.use("Agg")
        from bayes_scaling.plots import plot_sbc

        axes = plot_sbc(sbc_result.ranks, sbc_result.max_rank, sbc_result.names)
        axes.flat[0].figure.savefig(os.path.join(os.path.dirname(args.out), "validation_sbc.png"),
                                    dpi=110, bbox_inches="tight")

    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": COMMAND, "backend": jax.default_backend(),
            "devices": len(jax.devices()), "machine": platform.processor() or platform.machine(),
            "jax": jax.__version__, "bayes_scaling": bs.__version__ if hasattr(bs, "__version__")
            else "dev", "minutes": (time.perf_counter() - started) / 60}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"meta": meta, "per_set": json.loads(per_set.to_json(orient="records")),
                   "by_dataset": json.loads(by_dataset.to_json(orient="records")),
                   "overall": json.loads(overall.to_json(orient="records")),
                   "rolling": None if rolling is None else json.loads(
                       rolling.to_json(orient="records")),
                   "sbc": None if sbc_result is None else {
                       "table": json.loads(sbc_result.table.to_json(orient="records")),
                       "replicates": args.replicates, "bins": sbc_result.bins,
                       "max_rank": sbc_result.max_rank,
                       "replicates_with_divergences": int((sbc_result.divergences > 0).sum()),
                       "seconds": sbc_seconds}}, f, indent=1)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(render(meta, per_set, by_dataset, overall, rolling, sbc_result, args))
    print(f"wrote {args.out} and {args.json} in {meta['minutes']:.1f} min")


def render(meta, per_set, by_dataset, overall, rolling, sbc_result, args):
    """The markdown report (results only; the interpretation is in the section after it)."""
    shown = ["likelihood", "method", "held_out", "median_abs_rel_error", "coverage_50",
             "coverage_90", "curve_coverage_90", "mean_lpd", "median_crps"]
    parts = [
        "# Validation: backtests and simulation-based calibration",
        f"Generated by `{meta['command']}` on {meta['date']} ({meta['backend']}, "
        f"{meta['devices']} device(s), jax {meta['jax']}; {meta['minutes']:.0f} min). "
        "Do not edit the tables by hand; rerun the command.",
        "Each set: the top 20% of runs by compute (never splitting a compute budget) are held "
        "out, the rest are fitted, and every held-out run is forecast. `bayes` is this engine "
        "(NUTS, default priors scaled to the training runs); `bayes+discrepancy` widens its "
        "forecasts beyond the data by the extrapolation discrepancy κ (nats of log-loss per "
        "e-fold of compute) learned from the training runs alone by an internal backtest "
        "(`bayes_scaling/discrepancy.py`); `huber-bootstrap` is the reference "
        f"method (Huber δ=1e-3 on log-loss from Hoffmann's grid, {args.resamples} bootstrap "
        "resamples, observation noise from each resample's residual scale). Coverage is the "
        "share of held-out runs inside the central interval of the *observed* loss; "
        "`curve_coverage_90` uses the interval of the fitted curve alone (what is usually "
        "published). `mean_lpd` is the log density of the observed log-loss (higher is better), "
        "`median_crps` the median over runs of the CRPS of the loss in nats (lower is better; a median because a Student-t predictive with ν ≤ 1 has no mean and its CRPS is unbounded).",
        "## Overall (all held-out runs pooled)", _markdown(overall[shown]),
        "## By dataset", _markdown(by_dataset[["dataset"] + shown]),
        "## Every set",
        _markdown(per_set[["set", "likelihood", "method", "num_train", "held_out",
                           "median_abs_rel_error", "coverage_50", "coverage_90", "mean_lpd",
                           "median_crps", "kappa", "converged"]]),
        "Fits that failed the diagnostics gate: " + (
            "; ".join(f"{r.set} ({r.likelihood}): {r.gate}" for r in per_set.itertuples()
                      if r.method == "bayes" and not r.converged) or "none") + ".",
    ]
    if rolling is not None:
        parts += ["## Rolling backtest on Chinchilla (Epoch's 240 points)",
                  "Held-out share from 10% to 50%; `median_C_vs_train` is the held-out runs' "
                  "median compute as a multiple of the largest training run's.",
                  _markdown(rolling[["cutoff_flops", "num_train", "median_C_vs_train", "method",
                                     "held_out", "median_abs_rel_error", "coverage_50",
                                     "coverage_90", "mean_lpd", "median_crps"]])]
    if sbc_result is not None:
        parts += ["## Simulation-based calibration (default Chinchilla model and priors)",
                  f"{args.replicates} data sets of 245 runs on the Chinchilla-like design of "
                  f"`simulate`, parameters drawn from the default priors; ranks among "
                  f"{sbc_result.max_rank} thinned posterior draws; Pearson χ² test of uniformity "
                  f"over {sbc_result.bins} bins. "
                  f"{int((sbc_result.divergences > 0).sum())} of {args.replicates} replicates had "
                  "divergent transitions. Verdict at the 1% level: "
                  f"**{'uniform for every parameter' if sbc_result.passed(0.01) else 'NOT uniform'}"
                  "**.", _markdown(sbc_result.table),
                  "![SBC rank ECDF differences](validation_sbc.png)"]
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "validation_notes.md")
    if os.path.exists(notes):  # the hand-written reading of these numbers
        with open(notes) as f:
            parts.append(f.read().strip())
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    main()
